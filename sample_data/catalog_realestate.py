"""Sample exports of real-estate CRMs: kvCORE, Sierra Interactive, Realtor.com."""

from __future__ import annotations

import random

from catalog_kit import (
    AGENTS,
    NOTES,
    STATE_NAMES,
    People,
    Sheet,
    cases,
    email_key,
    person_for,
    phone_key,
    phone_text,
)

# --------------------------------------------------------------------------- kvCORE

KVCORE = (
    "ID", "First Name", "Last Name", "Email", "Cell Phone 1", "Cell Phone 2", "Lead Type",
    "Lead Status", "Source", "Secondary Source", "Form or Capture Method", "Agent", "Hashtags",
    "Date Registered", "Primary Address - Street", "Primary Address - City",
    "Primary Address - State/Province", "Primary Address - Zip/Postal", "Interested in City",
    "Interested in Price", "Notes",
)  # fmt: skip
ADDRESS = ("Primary Address - Street", "Primary Address - City",
           "Primary Address - State/Province", "Primary Address - Zip/Postal")  # fmt: skip


def kvcore(rng: random.Random) -> Sheet:
    """kvCORE contacts: phone-only leads with @kvleads.com emails and digits as names."""
    sheet, people = Sheet("kvcore_contacts.csv", KVCORE), People(rng)
    next_id, first_id = 3_104_500, ""
    dirty = ("kvleads_phone_only", "lead_type_unknown", "lead_type_lower_case",
             "zip_lost_leading_zero", "state_full_name", "phone_dots", "interested_in",
             "second_cell_phone")  # fmt: skip
    rejects = ("invalid_email", "phone_scientific_notation", "duplicate_id")
    for case in cases(rng, 10, dirty, rejects):
        p = person_for(people, case)
        next_id += rng.randint(3, 90)
        row = dict(zip(KVCORE, (
            str(next_id), p.first, p.last, p.email, phone_text(p.phone, "digits"), "",
            rng.choice(("Buyer", "Seller", "Buyer/Seller")),
            rng.choice(("New", "Active", "Nurture")),
            rng.choice(("Zillow", "Website", "Facebook Ads")), rng.choice(("", "", "Open House")),
            rng.choice(("Registration", "Home Valuation", "Property Inquiry")), rng.choice(AGENTS),
            rng.choice(("", "#buyer", "#firsttime, #relocation")),
            p.created.strftime("%m/%d/%Y %I:%M %p"), p.street, p.city, p.state, p.zip, "", "",
            rng.choice(NOTES),
        ), strict=True))  # fmt: skip
        key, codes, warnings = row["ID"], "", ""
        if case == "kvleads_phone_only":
            row.update(dict.fromkeys(ADDRESS, ""))
            row.update({"Email": f"{p.phone}@kvleads.com", "First Name": p.phone, "Last Name": "",
                        "Form or Capture Method": "Tracked Call", "Lead Type": ""})  # fmt: skip
        elif case == "lead_type_unknown":
            row["Lead Type"], warnings = "Investor", "dropped_map"
        elif case == "lead_type_lower_case":
            row["Lead Type"] = "buyer"
        elif case == "zip_lost_leading_zero":
            row["Primary Address - Zip/Postal"] = p.zip.lstrip("0")
        elif case == "state_full_name":
            row["Primary Address - State/Province"] = STATE_NAMES[p.state]
        elif case == "phone_dots":
            row["Cell Phone 1"] = phone_text(p.phone, "dots")
        elif case == "interested_in":
            row["Interested in City"], row["Interested in Price"] = p.city, "$650,000"
        elif case == "second_cell_phone":
            row["Cell Phone 2"] = phone_text(p.phone2, "dashes")
        elif case == "invalid_email":
            row["Email"], codes = f"{p.first.lower()} at example.org", "invalid_email"
        elif case == "phone_scientific_notation":
            row["Cell Phone 1"], warnings = "4.15555E+09", "invalid_phone"  # the email stays
        elif case == "duplicate_id":
            row["ID"], key, codes = first_id, first_id, "duplicate_key"
        first_id = first_id or row["ID"]
        sheet.add(row, case, key, codes, warnings)
    return sheet


# --------------------------------------------------------------------------- Sierra

SIERRA = (
    "First Name", "Last Name", "Full Name", "Email", "Secondary Email", "Phone", "Secondary Phone",
    "Lead Source", "Assigned Agent", "Lead Type", "Status", "Partner", "Registered",
    "Street Address", "City", "State", "Zip Code", "Tags", "Short Summary", "Add to Import Note",
)  # fmt: skip


def sierra(rng: random.Random) -> Sheet:
    """Sierra leads: no record id, so rows are keyed by email, or phone and name."""
    sheet, people = Sheet("sierra_leads.csv", SIERRA, newline="\n"), People(rng)
    dirty = ("full_name_last_first", "secondary_email_only", "phone_and_name_only",
             "phone_plus1_parens", "zip_plus4_bare", "tags_semicolons")  # fmt: skip
    rejects = ("invalid_email_no_tld", "duplicate_email", "phone_without_name")
    first_email = ""
    for case in cases(rng, 9, dirty, rejects):
        p = person_for(people, case)
        row = dict(zip(SIERRA, (
            p.first, p.last, f"{p.first} {p.last}", p.email, "", phone_text(p.phone), "",
            rng.choice(("Zillow", "Google PPC", "Sign Call")), rng.choice(AGENTS),
            rng.choice(("Buyer", "Seller", "Both")), "New", rng.choice(("", "", "Acme Lending")),
            p.created.strftime("%m/%d/%Y %I:%M %p"), p.street, p.city, p.state, p.zip,
            rng.choice(("", "buyer", "buyer; pre-approved")), rng.choice(NOTES),
            rng.choice(("", "Imported from Follow Up Boss")),
        ), strict=True))  # fmt: skip
        key, codes = email_key(p.email), ""
        if case == "full_name_last_first":
            row.update({"First Name": "", "Last Name": "", "Full Name": f"{p.last}, {p.first}"})
        elif case == "secondary_email_only":
            row["Email"], row["Secondary Email"] = "", f"{p.first[0]}{p.last}@example.net".lower()
            key = email_key(row["Secondary Email"])
        elif case == "phone_and_name_only":
            row["Email"], key = "", phone_key(p)
        elif case == "phone_plus1_parens":
            row["Phone"] = "+1 " + phone_text(p.phone)
        elif case == "zip_plus4_bare":
            row["Zip Code"] = p.zip + "1234"
        elif case == "tags_semicolons":
            row["Tags"] = "seller; downsizing; past client"
        elif case == "invalid_email_no_tld":
            row["Email"] = f"{p.first}.{p.last}@example".lower()
            key, codes = phone_key(p), "invalid_email"
        elif case == "duplicate_email":
            row["Email"], key, codes = first_email.upper(), email_key(first_email), "duplicate_key"
        elif case == "phone_without_name":
            row.update(dict.fromkeys(("First Name", "Last Name", "Full Name", "Email"), ""))
            key, codes = "", "missing_key"
        first_email = first_email or row["Email"]
        sheet.add(row, case, key, codes)
    return sheet


# --------------------------------------------------------------------------- Realtor.com

REALTOR = (
    "lead_consumer_info.first_name", "lead_consumer_info.last_name", "lead_consumer_info.email",
    "lead_consumer_info.phone", "lead_property_info.property_street_address",
    "lead_property_info.property_city", "lead_property_info.property_state_code",
    "lead_property_info.property_zip", "lead_property_info.property_price",
)  # fmt: skip
PROPERTY = REALTOR[4:]


def realtor_com(rng: random.Random) -> Sheet:
    """Realtor.com leads flattened from its delivery: consumer plus the property asked about."""
    sheet, people = Sheet("realtor_com_leads.csv", REALTOR, newline="\n"), People(rng)
    dirty = ("no_property", "price_with_symbols", "price_not_a_number", "property_zip_lost_zero",
             "phone_and_name_only")  # fmt: skip
    rejects = ("phone_too_short", "invalid_email_double_at", "property_only")
    for case in cases(rng, 9, dirty, rejects):
        p, home = person_for(people, case), people.next()
        row = dict(zip(REALTOR, (
            p.first, p.last, p.email, phone_text(p.phone, "dashes"), home.street, home.city,
            home.state, home.zip, str(rng.randrange(350, 1500) * 1000),
        ), strict=True))  # fmt: skip
        key, codes, warnings = email_key(p.email), "", ""
        if case == "no_property":
            row.update(dict.fromkeys(PROPERTY, ""))
        elif case == "price_with_symbols":
            row["lead_property_info.property_price"] = "$1,250,000"
        elif case == "price_not_a_number":
            row["lead_property_info.property_price"], warnings = "call for price", "dropped_integer"
        elif case == "property_zip_lost_zero":
            row.update(dict(zip(PROPERTY[1:4], ("Boston", "MA", "2134"), strict=True)))
        elif case == "phone_and_name_only":
            row["lead_consumer_info.email"], key = "", phone_key(p)
        elif case == "phone_too_short":
            row["lead_consumer_info.phone"], warnings = "555-01", "invalid_phone"  # the email stays
        elif case == "invalid_email_double_at":
            row["lead_consumer_info.email"] = p.email.replace("@", "@@")
            key, codes = phone_key(p), "invalid_email"
        elif case == "property_only":
            row.update(dict.fromkeys(REALTOR[:4], ""))
            key, codes = "", "missing_key;missing_contact"
        sheet.add(row, case, key, codes, warnings)
    return sheet
