"""Sample exports of address books and mailing lists: Google Contacts, Outlook, Mailchimp."""

from __future__ import annotations

import random

from catalog_kit import (
    ACCENTED,
    MULTILINE,
    NOTES,
    People,
    Person,
    Sheet,
    cases,
    email_key,
    person_for,
    phone_key,
    phone_text,
)

# --------------------------------------------------------------------------- Google Contacts

GOOGLE = (
    "First Name", "Middle Name", "Last Name", "Phonetic First Name", "Phonetic Middle Name",
    "Phonetic Last Name", "Name Prefix", "Name Suffix", "Nickname", "File As",
    "Organization Name", "Organization Title", "Organization Department", "Birthday", "Notes",
    "Photo", "Labels", "E-mail 1 - Label", "E-mail 1 - Value", "E-mail 2 - Label",
    "E-mail 2 - Value", "Phone 1 - Label", "Phone 1 - Value", "Phone 2 - Label", "Phone 2 - Value",
    "Address 1 - Label", "Address 1 - Formatted", "Address 1 - Street", "Address 1 - City",
    "Address 1 - PO Box", "Address 1 - Region", "Address 1 - Postal Code", "Address 1 - Country",
    "Address 1 - Extended Address", "Website 1 - Label", "Website 1 - Value",
)  # fmt: skip
GOOGLE_LEGACY = (
    "Name", "Given Name", "Additional Name", "Family Name", "Yomi Name", "Given Name Yomi",
    "Additional Name Yomi", "Family Name Yomi", "Name Prefix", "Name Suffix", "Initials",
    "Nickname", "Short Name", "Maiden Name", "Birthday", "Gender", "Location",
    "Billing Information", "Directory Server", "Mileage", "Occupation", "Hobby", "Sensitivity",
    "Priority", "Subject", "Notes", "Language", "Photo", "Group Membership", "E-mail 1 - Type",
    "E-mail 1 - Value", "E-mail 2 - Type", "E-mail 2 - Value", "Phone 1 - Type", "Phone 1 - Value",
    "Phone 2 - Type", "Phone 2 - Value", "Address 1 - Type", "Address 1 - Formatted",
    "Address 1 - Street", "Address 1 - City", "Address 1 - PO Box", "Address 1 - Region",
    "Address 1 - Postal Code", "Address 1 - Country", "Address 1 - Extended Address",
    "Organization 1 - Type", "Organization 1 - Name", "Organization 1 - Yomi Name",
    "Organization 1 - Title", "Organization 1 - Department", "Organization 1 - Symbol",
    "Organization 1 - Location", "Organization 1 - Job Description", "Website 1 - Type",
    "Website 1 - Value",
)  # fmt: skip
ADDRESS_PARTS = ("Address 1 - Street", "Address 1 - City", "Address 1 - Region",
                 "Address 1 - Postal Code", "Address 1 - Country")  # fmt: skip


def google_contacts(rng: random.Random, *, legacy: bool = False) -> Sheet:
    """Google Contacts CSV: " ::: " inside cells, "* " labels, --MM-DD birthdays, line breaks.

    ``legacy`` writes the older layout (Given Name, Family Name, Group Membership).
    """
    header = GOOGLE_LEGACY if legacy else GOOGLE
    name = "google_contacts_legacy.csv" if legacy else "google_contacts.csv"
    sheet = Sheet(name, header, encoding="utf-8-sig" if legacy else "utf-8")
    people, first_email = People(rng), ""
    first, last, groups, kind = (
        ("Given Name", "Family Name", "Group Membership", "Type") if legacy
        else ("First Name", "Last Name", "Labels", "Label")
    )  # fmt: skip
    dirty = ["two_emails_in_one_cell", "two_phones_in_one_cell", "birthday_without_year",
             "notes_two_lines", "formatted_address_only", "email_upper_case"]  # fmt: skip
    if legacy:
        dirty = ["two_emails_in_one_cell", "name_column_only", "birthday_without_year"]
    rejects = ("invalid_email_double_at", "phone_without_name", "duplicate_email")
    for case in cases(rng, 10 if legacy else 9, dirty, rejects[:2] if legacy else rejects):
        p = person_for(people, case)
        row = {
            first: p.first, last: p.last,
            groups: rng.choice(("* myContacts", "* myContacts ::: Friends")),
            f"E-mail 1 - {kind}": "* Home", "E-mail 1 - Value": p.email,
            f"Phone 1 - {kind}": "Mobile", "Phone 1 - Value": phone_text(p.phone, "plus1"),
            f"Address 1 - {kind}": "Home",
            "Address 1 - Formatted": f"{p.street}\n{p.city}, {p.state} {p.zip}\nUS",
            **dict(zip(ADDRESS_PARTS, (p.street, p.city, p.state, p.zip, "US"), strict=True)),
            "Notes": rng.choice(NOTES),
        }  # fmt: skip
        if legacy:
            row["Name"] = f"{p.first} {p.last}"
        key, codes = email_key(p.email), ""
        if case == "two_emails_in_one_cell":
            other = f"{p.first[0]}{p.last}@example.net".lower()
            row["E-mail 1 - Value"] = f"{p.email} ::: {other}"
        elif case == "two_phones_in_one_cell":
            row["Phone 1 - Value"] += " ::: " + phone_text(p.phone2, "plus1")
        elif case == "birthday_without_year":
            row["Birthday"] = f"--{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        elif case == "notes_two_lines":
            row["Notes"] = MULTILINE
        elif case == "formatted_address_only":
            row.update(dict.fromkeys(ADDRESS_PARTS, ""))
        elif case == "email_upper_case":
            row["E-mail 1 - Value"] = p.email.upper()
        elif case == "name_column_only":
            row[first], row[last] = "", ""
        elif case == "invalid_email_double_at":
            row["E-mail 1 - Value"] = p.email.replace("@", "@@")
            key, codes = phone_key(p), "invalid_email"
        elif case == "phone_without_name":
            for column in ("Name", first, last, "E-mail 1 - Value"):
                row[column] = ""
            key, codes = "", "missing_key"
        elif case == "duplicate_email":
            row["E-mail 1 - Value"], key, codes = (
                first_email,
                email_key(first_email),
                "duplicate_key",
            )
        first_email = first_email or row["E-mail 1 - Value"]
        sheet.add({k: v for k, v in row.items() if k in header}, case, key, codes)
    return sheet


# --------------------------------------------------------------------------- Outlook

OUTLOOK = (
    "Title", "First Name", "Middle Name", "Last Name", "Suffix", "Company", "Department",
    "Job Title", "Business Street", "Business Street 2", "Business Street 3", "Business City",
    "Business State", "Business Postal Code", "Business Country/Region", "Home Street",
    "Home Street 2", "Home Street 3", "Home City", "Home State", "Home Postal Code",
    "Home Country/Region", "Other Street", "Other Street 2", "Other Street 3", "Other City",
    "Other State", "Other Postal Code", "Other Country/Region", "Assistant's Phone",
    "Business Fax", "Business Phone", "Business Phone 2", "Callback", "Car Phone",
    "Company Main Phone", "Home Fax", "Home Phone", "Home Phone 2", "ISDN", "Mobile Phone",
    "Other Fax", "Other Phone", "Pager", "Primary Phone", "Radio Phone", "TTY/TDD Phone", "Telex",
    "Account", "Anniversary", "Assistant's Name", "Billing Information", "Birthday",
    "Business Address PO Box", "Categories", "Children", "Directory Server", "E-mail Address",
    "E-mail Type", "E-mail Display Name", "E-mail 2 Address", "E-mail 2 Type",
    "E-mail 2 Display Name", "E-mail 3 Address", "E-mail 3 Type", "E-mail 3 Display Name",
    "Gender", "Government ID Number", "Hobby", "Home Address PO Box", "Initials",
    "Internet Free Busy", "Keywords", "Language", "Location", "Manager's Name", "Mileage",
    "Notes", "Office Location", "Organizational ID Number", "Other Address PO Box", "Priority",
    "Private", "Profession", "Referred By", "Sensitivity", "Spouse", "User 1", "User 2",
    "User 3", "User 4", "Web Page",
)  # fmt: skip
HOME = ("Home Street", "Home City", "Home State", "Home Postal Code", "Home Country/Region")
BUSINESS = ("Business Street", "Business City", "Business State", "Business Postal Code",
            "Business Country/Region")  # fmt: skip


def x500(rng: random.Random, person: Person) -> str:
    """An Exchange directory path, which Outlook writes where an address belongs."""
    digest = "".join(rng.choice("0123456789abcdef") for _ in range(32))
    return ("/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/"
            f"cn={digest}-{person.first.lower()}")  # fmt: skip


def outlook(rng: random.Random) -> Sheet:
    """Desktop Outlook contacts: cp1252, every cell quoted, 0/0/00 birthdays, X.500 paths."""
    sheet = Sheet("outlook_contacts.csv", OUTLOOK, encoding="cp1252", quote_all=True)
    people, accented = People(rng), iter(ACCENTED)
    dirty = ("x500_email_then_smtp", "x500_email_only", "accented_name", "business_address_only",
             "birthday_known", "honorific_title", "notes_two_lines")  # fmt: skip
    rejects = ("invalid_email_double_at", "company_only", "phone_too_short")
    for case in cases(rng, 9, dirty, rejects):
        p = person_for(people, case)
        display = f"{p.first} {p.last} ({p.email})"
        row = {
            "First Name": p.first, "Last Name": p.last, "Mobile Phone": phone_text(p.phone),
            **dict(zip(HOME, (p.street, p.city, p.state, p.zip, "United States"), strict=True)),
            "Anniversary": "0/0/00", "Birthday": "0/0/00",
            "Categories": rng.choice(("", "Buyers", "Buyers;Open House")),
            "E-mail Address": p.email, "E-mail Type": "SMTP", "E-mail Display Name": display,
            "Gender": "Unspecified", "Notes": rng.choice(NOTES), "Priority": "Normal",
            "Private": "False", "Sensitivity": "Normal",
        }  # fmt: skip
        key, codes, warnings = email_key(p.email), "", ""
        if case == "x500_email_then_smtp":
            row.update({"E-mail Address": x500(rng, p), "E-mail Type": "EX",
                        "E-mail 2 Address": p.email, "E-mail 2 Type": "SMTP",
                        "E-mail 2 Display Name": display})  # fmt: skip
        elif case == "x500_email_only":
            row.update({"E-mail Address": x500(rng, p), "E-mail Type": "EX",
                        "E-mail Display Name": f"{p.first} {p.last}"})  # fmt: skip
            key = phone_key(p)
        elif case == "accented_name":
            first, last, local = next(accented)
            email = f"{local}@example.net"
            row.update({"First Name": first, "Last Name": last, "E-mail Address": email,
                        "E-mail Display Name": f"{first} {last} ({email})"})  # fmt: skip
            key = email_key(email)
        elif case == "business_address_only":
            row.update(dict.fromkeys(HOME, ""))
            row.update(
                dict(
                    zip(BUSINESS, (p.street, p.city, p.state, p.zip, "United States"), strict=True)
                )
            )
            row.update({"Company": "Harbor Dental", "Business Phone": phone_text(p.phone2)})
        elif case == "birthday_known":
            row["Birthday"] = f"{rng.randint(1, 12)}/{rng.randint(1, 28)}/{rng.randint(1950, 1999)}"
        elif case == "honorific_title":
            row["Title"], row["Job Title"] = "Dr.", "Dentist"
        elif case == "notes_two_lines":
            row["Notes"] = MULTILINE
        elif case == "invalid_email_double_at":
            row["E-mail Address"] = p.email.replace("@", "@@")
            key, codes = phone_key(p), "invalid_email"
        elif case == "company_only":
            for column in ("First Name", "Last Name", "Mobile Phone", "E-mail Address",
                           "E-mail Type", "E-mail Display Name", *HOME):  # fmt: skip
                row[column] = ""
            row["Company"], key, codes = "Acme Corp", "", "missing_key;missing_contact"
        elif case == "phone_too_short":
            row["Mobile Phone"], warnings = "555-01", "invalid_phone"  # the email stays
        sheet.add(row, case, key, codes, warnings)
    return sheet


# --------------------------------------------------------------------------- Mailchimp

MAILCHIMP = (
    "Email Address", "First Name", "Last Name", "Address", "Phone Number", "Birthday",
    "MEMBER_RATING", "OPTIN_TIME", "OPTIN_IP", "CONFIRM_TIME", "CONFIRM_IP", "LATITUDE",
    "LONGITUDE", "GMTOFF", "DSTOFF", "TIMEZONE", "CC", "REGION", "LAST_CHANGED", "LEID", "EUID",
    "NOTES", "TAGS",
)  # fmt: skip


def mailchimp(rng: random.Random) -> Sheet:
    """A Mailchimp audience export (subscribed file): system columns, quoted TAGS lists."""
    sheet = Sheet("mailchimp_subscribed_members_export.csv", MAILCHIMP, newline="\n")
    people, leid, first_email = People(rng), 90_000_000, ""
    dirty = ("tags_quoted_list", "tags_commas", "email_upper_case", "phone_not_a_number",
             "confirm_time_only")  # fmt: skip
    rejects = ("invalid_email_no_tld", "duplicate_email", "name_only")
    for case in cases(rng, 9, dirty, rejects):
        p = person_for(people, case)
        leid += rng.randint(1, 999)
        optin = p.created.strftime("%Y-%m-%d %H:%M:%S")
        row = dict(zip(MAILCHIMP, (
            p.email, p.first, p.last, f"{p.street}  {p.city}  {p.state}  {p.zip}  US",
            phone_text(p.phone, "dashes"),
            rng.choice(("", f"{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}")),
            str(rng.randint(1, 5)), optin, f"203.0.113.{rng.randint(1, 254)}", optin,
            f"203.0.113.{rng.randint(1, 254)}", "", "", "-5", "-4", "America/New_York", "US",
            p.state, optin, str(leid), "".join(rng.choice("0123456789abcdef") for _ in range(10)),
            rng.choice(NOTES), rng.choice(("", "vip")),
        ), strict=True))  # fmt: skip
        key, codes, warnings = email_key(p.email), "", ""
        if case == "tags_quoted_list":
            row["TAGS"] = '"VIP","Blog"'
        elif case == "tags_commas":
            row["TAGS"] = "vip, denver"
        elif case == "email_upper_case":
            row["Email Address"] = p.email.upper()
        elif case == "phone_not_a_number":
            row["Phone Number"], warnings = "call me", "dropped_phone"
        elif case == "confirm_time_only":
            row["OPTIN_TIME"] = ""
        elif case == "invalid_email_no_tld":
            row["Email Address"] = f"{p.first}.{p.last}@example".lower()
            key, codes = phone_key(p), "invalid_email"
        elif case == "duplicate_email":
            row["Email Address"], key, codes = first_email, email_key(first_email), "duplicate_key"
        elif case == "name_only":
            row["Email Address"] = row["Phone Number"] = row["Address"] = ""
            key, codes = "", "missing_key"
        first_email = first_email or row["Email Address"]
        sheet.add(row, case, key, codes, warnings)
    return sheet
