"""Sample exports of sales CRMs: Salesforce (Data Loader and report), HubSpot, Zoho, Pipedrive."""

from __future__ import annotations

import random
from datetime import timedelta

from catalog_kit import (
    ACCENTED,
    AGENTS,
    MULTILINE,
    NOTES,
    STATE_NAMES,
    People,
    Sheet,
    cases,
    email_key,
    person_for,
    phone_text,
    us_datetime,
)

# --------------------------------------------------------------------------- Salesforce

SF_API = (
    "Id", "FirstName", "LastName", "Email", "Phone", "MobilePhone", "Street", "City", "State",
    "PostalCode", "Country", "LeadSource", "Status", "Company", "Description", "CreatedDate",
    "OwnerId", "HasOptedOutOfEmail",
)  # fmt: skip
_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _sf_id(rng: random.Random, prefix: str, length: int = 18) -> str:
    return prefix + "".join(rng.choice(_ID_CHARS) for _ in range(length - len(prefix)))


def salesforce_dataloader(rng: random.Random, *, upper: bool = False) -> Sheet:
    """Salesforce leads by API name, every cell quoted; ``upper`` writes the names in capitals."""
    header = tuple(h.upper() for h in SF_API) if upper else SF_API
    name = "salesforce_dataloader_upper.csv" if upper else "salesforce_dataloader.csv"
    sheet, people, first_id = Sheet(name, header, quote_all=True), People(rng), ""
    owners = [_sf_id(rng, "0055f00000") for _ in range(3)]
    if upper:
        dirty: tuple[str, ...] = ("email_upper_case",)
        rejects: tuple[str, ...] = ("duplicate_id",)
    else:
        dirty = ("street_two_lines", "email_upper_case", "id_15_characters",
                 "description_two_lines", "opted_out_of_email", "state_full_name")  # fmt: skip
        rejects = ("duplicate_id", "invalid_date", "invalid_email_no_domain")
    for case in cases(rng, 9, dirty, rejects):
        p = person_for(people, case)
        values = dict(zip(SF_API, (
            _sf_id(rng, "00Q5f00000"), p.first, p.last, p.email, phone_text(p.phone2),
            phone_text(p.phone), p.street, p.city, p.state, p.zip, "United States",
            rng.choice(("Web", "Phone Inquiry", "Partner Referral")),
            rng.choice(("Open - Not Contacted", "Working - Contacted")),
            rng.choice(("", "Acme Corp")),
            rng.choice(NOTES), p.created.strftime("%Y-%m-%dT%H:%M:%S.000Z"), rng.choice(owners),
            rng.choice(("false", "false", "true")),
        ), strict=True))  # fmt: skip
        codes = ""
        if case == "street_two_lines":
            values["Street"] = f"{p.street}\nUnit {rng.randint(2, 40)}"
        elif case == "email_upper_case":
            values["Email"] = p.email.upper()
        elif case == "id_15_characters":
            values["Id"] = values["Id"][:15]
        elif case == "description_two_lines":
            values["Description"] = MULTILINE
        elif case == "opted_out_of_email":
            values["HasOptedOutOfEmail"] = "true"
        elif case == "state_full_name":
            values["State"] = STATE_NAMES[p.state]
        elif case == "duplicate_id":
            values["Id"], codes = first_id, "duplicate_key"
        elif case == "invalid_date":
            values["CreatedDate"], codes = "2024-13-45T10:30:00.000Z", "invalid_date"
        elif case == "invalid_email_no_domain":
            values["Email"], codes = f"{p.first}.{p.last}@".lower(), "invalid_email"
        first_id = first_id or values["Id"]
        row = dict(zip(header, values.values(), strict=True))
        sheet.add(row, case, values["Id"], codes)
    return sheet


SF_REPORT = (
    "Lead Owner", "First Name", "Last Name", "Title", "Company / Account", "Email", "Phone",
    "Mobile", "Street", "City", "State/Province", "Zip/Postal Code", "Country", "Lead Source",
    "Lead Status", "Create Date", "Email Opt Out", "Description",
)  # fmt: skip


def salesforce_report(rng: random.Random) -> Sheet:
    """A Salesforce leads report: labels, US dates, ISO-8859-1, and the report footer."""
    sheet = Sheet("salesforce_report.csv", SF_REPORT, encoding="iso-8859-1", quote_all=True)
    people, first_email = People(rng), ""
    dirty = ("accented_name", "mobile_only", "mobile_and_phone", "opted_out_of_email",
             "street_two_lines")  # fmt: skip
    rejects = ("invalid_date", "duplicate_email", "company_only")
    accented = iter(ACCENTED)
    for case in cases(rng, 9, dirty, rejects):
        p = person_for(people, case)
        row = dict(zip(SF_REPORT, (
            rng.choice(AGENTS), p.first, p.last, rng.choice(("", "", "Owner", "Director")),
            rng.choice(("", "Acme Corp", "Harbor Dental")), p.email, phone_text(p.phone), "",
            p.street, p.city, p.state, p.zip, "USA", rng.choice(("Web", "Advertisement", "Other")),
            rng.choice(("Open - Not Contacted", "Working - Contacted")),
            f"{p.created.month}/{p.created.day}/{p.created.year}", "0", rng.choice(NOTES),
        ), strict=True))  # fmt: skip
        key, codes = email_key(p.email), ""
        if case == "accented_name":
            first, last, local = next(accented)
            row.update({"First Name": first, "Last Name": last, "Email": f"{local}@example.org"})
            key = email_key(row["Email"])
        elif case == "mobile_only":
            row["Phone"], row["Mobile"] = "", phone_text(p.phone, "dashes")
        elif case == "mobile_and_phone":
            row["Mobile"] = phone_text(p.phone2, "dashes")
        elif case == "opted_out_of_email":
            row["Email Opt Out"] = "1"
        elif case == "street_two_lines":
            row["Street"] = f"{p.street}\nSuite {rng.randint(100, 400)}"
        elif case == "invalid_date":
            row["Create Date"], codes = "13/45/2024", "invalid_date"
        elif case == "duplicate_email":
            row["Email"], key, codes = first_email, email_key(first_email), "duplicate_key"
        elif case == "company_only":
            for column in SF_REPORT[1:4] + SF_REPORT[5:12]:
                row[column] = ""
            key, codes = "", "missing_key;missing_contact"
        first_email = first_email or row["Email"]
        sheet.add(row, case, key, codes)
    sheet.footer = (
        "", f"Grand Totals ({len(sheet.rows)} records)", "",
        "Confidential Information - Do Not Distribute",
        "Copyright (c) 2000-2024 salesforce.com, inc. All rights reserved.",
    )  # fmt: skip
    return sheet


# --------------------------------------------------------------------------- HubSpot

HUBSPOT = (
    "Record ID", "First Name", "Last Name", "Email", "Phone Number", "Mobile Phone Number",
    "Job Title", "Associated Company", "Contact owner", "Lifecycle Stage", "Lead Status",
    "Original Source", "Create Date", "Street Address", "City", "State/Region", "Postal Code",
    "Country/Region", "Additional email addresses", "Unsubscribed",
)  # fmt: skip


def hubspot(rng: random.Random) -> Sheet:
    """HubSpot contacts: internal enum values, mixed-case emails, two date formats."""
    sheet, people, record = Sheet("hubspot_contacts.csv", HUBSPOT), People(rng), 51_200
    dirty = ("email_mixed_case", "additional_emails", "date_us_format", "same_email_other_record",
             "phone_only", "phone_e164", "state_full_name")  # fmt: skip
    rejects = ("no_identity", "invalid_email_double_at", "duplicate_record_id")
    first = ("", "")  # record id and email of the first row
    for case in cases(rng, 10, dirty, rejects):
        p = person_for(people, case)
        record += rng.randint(1, 400)
        row = dict(zip(HUBSPOT, (
            str(record), p.first, p.last, p.email, phone_text(p.phone2, "spaces"),
            phone_text(p.phone, "spaces"), rng.choice(("", "", "Nurse", "Engineer")),
            rng.choice(("", "Harbor Dental")), rng.choice(AGENTS),
            rng.choice(("lead", "subscriber", "opportunity", "Lead")),
            rng.choice(("NEW", "OPEN_DEAL", "IN_PROGRESS", "")),
            rng.choice(("Organic Search", "Paid Social", "Direct Traffic")),
            p.created.strftime("%Y-%m-%d %H:%M"), p.street, p.city, p.state, p.zip,
            "United States", "", rng.choice(("", "false")),
        ), strict=True))  # fmt: skip
        key, codes, warnings = row["Record ID"], "", ""
        if case == "email_mixed_case":
            row["Email"] = p.email.split("@")[0].upper() + "@Example.com"
        elif case == "additional_emails":
            local = f"{p.first[0]}{p.last}".lower()
            row["Additional email addresses"] = f"{local}@example.org;{local}@example.net"
        elif case == "date_us_format":
            row["Create Date"] = us_datetime(p.created)
        elif case == "same_email_other_record":
            row["Email"], warnings = first[1], "shared_email"
        elif case == "phone_only":
            for column in ("First Name", "Last Name", "Email", "Street Address", "City",
                           "State/Region", "Postal Code", "Phone Number"):  # fmt: skip
                row[column] = ""
        elif case == "phone_e164":
            row["Mobile Phone Number"] = phone_text(p.phone, "e164")
        elif case == "state_full_name":
            row["State/Region"] = STATE_NAMES[p.state]
        elif case == "no_identity":
            for column in HUBSPOT[1:7] + HUBSPOT[13:17]:
                row[column] = ""
            codes = "missing_contact"
        elif case == "invalid_email_double_at":
            row["Email"], codes = p.email.replace("@", "@@"), "invalid_email"
        elif case == "duplicate_record_id":
            row["Record ID"], key, codes = first[0], first[0], "duplicate_key"
        first = first if first[0] else (row["Record ID"], row["Email"])
        sheet.add(row, case, key, codes, warnings)
    return sheet


# --------------------------------------------------------------------------- Zoho

ZOHO = (
    "Record Id", "Lead Owner", "Company", "First Name", "Last Name", "Title", "Email",
    "Secondary Email", "Phone", "Mobile", "Website", "Lead Source", "Lead Status", "Industry",
    "Street", "City", "State", "Zip Code", "Country", "Description", "Created Time",
    "Modified Time", "Tag",
)  # fmt: skip


def zoho_leads(rng: random.Random) -> Sheet:
    """Zoho CRM leads: zcrm_ ids, UTF-8 with BOM, multi-line descriptions."""
    sheet = Sheet("zoho_leads.csv", ZOHO, encoding="utf-8-sig")
    people, record, first_id = People(rng), 5_725_767_000_000_412_001, ""
    dirty = ("description_two_lines", "tags_commas", "secondary_email", "mobile_and_phone",
             "zip_lost_leading_zero", "unknown_state")  # fmt: skip
    rejects = ("phone_too_short", "company_only", "duplicate_record_id")
    for case in cases(rng, 9, dirty, rejects):
        p = person_for(people, case)
        record += rng.randint(1, 5000)
        modified = p.created + timedelta(days=rng.randint(0, 90))
        row = dict(zip(ZOHO, (
            f"zcrm_{record}", rng.choice(AGENTS), rng.choice(("", "Harbor Dental")), p.first,
            p.last, "", p.email, "", "", phone_text(p.phone), "",
            rng.choice(("Web Download", "Cold Call", "Seminar Partner")),
            rng.choice(("Not Contacted", "Contacted", "Pre-Qualified")),
            rng.choice(("", "Real Estate")),
            p.street, p.city, p.state, p.zip, "United States", rng.choice(NOTES),
            p.created.strftime("%Y-%m-%d %H:%M:%S"), modified.strftime("%Y-%m-%d %H:%M:%S"), "",
        ), strict=True))  # fmt: skip
        key, codes, warnings = row["Record Id"], "", ""
        if case == "description_two_lines":
            row["Description"] = MULTILINE
        elif case == "tags_commas":
            row["Tag"] = "buyer,relocation,pre-approved"
        elif case == "secondary_email":
            row["Secondary Email"] = f"{p.first[0]}{p.last}@example.net".lower()
        elif case == "mobile_and_phone":
            row["Phone"] = phone_text(p.phone2, "dashes")
        elif case == "zip_lost_leading_zero":
            row["Zip Code"] = p.zip.lstrip("0")
        elif case == "unknown_state":
            row["State"], warnings = "Atlantis", "dropped_state"
        elif case == "phone_too_short":
            row["Mobile"], warnings = "555-01", "invalid_phone"  # the email stays
        elif case == "company_only":
            for column in ("First Name", "Last Name", "Email", "Mobile", "Street", "City", "State",
                           "Zip Code"):  # fmt: skip
                row[column] = ""
            row["Company"], codes = "Harbor Dental", "missing_contact"
        elif case == "duplicate_record_id":
            row["Record Id"], key, codes = first_id, first_id, "duplicate_key"
        first_id = first_id or row["Record Id"]
        sheet.add(row, case, key, codes, warnings)
    return sheet


# --------------------------------------------------------------------------- Pipedrive

PIPEDRIVE = (
    "Person - ID", "Person - Name", "Person - First name", "Person - Last name",
    "Person - Organization", "Person - Email - Work", "Person - Email - Home",
    "Person - Email - Other", "Person - Phone - Work", "Person - Phone - Home",
    "Person - Phone - Mobile", "Person - Phone - Other", "Person - Labels", "Person - Owner",
    "Person - Marketing status", "Person - City", "Person - State",
)  # fmt: skip


def pipedrive_persons(rng: random.Random) -> Sheet:
    """Pipedrive persons: typed email/phone columns, comma-joined cells, invalid work emails."""
    sheet, people, person_id, first_id = (
        Sheet("pipedrive_persons.csv", PIPEDRIVE, newline="\n"),
        People(rng),
        880,
        "",
    )
    dirty = ("name_column_only", "invalid_work_email", "two_emails_in_one_cell", "work_and_mobile",
             "marketing_bounced")  # fmt: skip
    rejects = ("phone_scientific_notation", "organization_only", "duplicate_id")
    for case in cases(rng, 9, dirty, rejects):
        p = person_for(people, case)
        person_id += rng.randint(1, 30)
        row = dict(zip(PIPEDRIVE, (
            str(person_id), f"{p.first} {p.last}", p.first, p.last,
            rng.choice(("", "Harbor Dental", "Acme Corp")), p.email, "", "", "", "",
            phone_text(p.phone, "dashes"), "", rng.choice(("", "Hot lead", "Buyer, Warm lead")),
            rng.choice(AGENTS), rng.choice(("Subscribed", "No consent")), p.city, p.state,
        ), strict=True))  # fmt: skip
        key, codes, warnings = row["Person - ID"], "", ""
        if case == "name_column_only":
            row.update({"Person - Name": f"Mary Ann {p.last}", "Person - First name": "",
                        "Person - Last name": ""})  # fmt: skip
        elif case == "invalid_work_email":
            row["Person - Email - Work"] = f"{p.first}.{p.last}@example".lower()
            row["Person - Email - Home"], warnings = p.email, "dropped_email"
        elif case == "two_emails_in_one_cell":
            local = f"{p.first[0]}{p.last}".lower()
            row["Person - Email - Other"] = f"{local}@example.org, {local}@example.net"
        elif case == "work_and_mobile":
            row["Person - Phone - Work"] = phone_text(p.phone2, "parens")
        elif case == "marketing_bounced":
            row["Person - Marketing status"] = "Bounced"
        elif case == "phone_scientific_notation":
            row["Person - Phone - Mobile"], warnings = "1.4E+10", "invalid_phone"  # the email stays
        elif case == "organization_only":
            for column in PIPEDRIVE[1:4] + PIPEDRIVE[5:12] + PIPEDRIVE[15:]:
                row[column] = ""
            row["Person - Organization"], codes = "Acme Corp", "missing_contact"
        elif case == "duplicate_id":
            row["Person - ID"], key, codes = first_id, first_id, "duplicate_key"
        first_id = first_id or row["Person - ID"]
        sheet.add(row, case, key, codes, warnings)
    return sheet
