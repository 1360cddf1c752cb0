"""US states, territories and military "states", and Canadian provinces, as data.

Used by the state and ZIP normalisers (``importer.normalize.addresses``). Everything here
is plain data plus two tiny lookups:

* ``state_code(text)`` turns a name, a postal code or a common abbreviation
  ("Massachusetts", "mass.", "ma", "US-MA", "N.H.", "Québec") into the
  two-letter postal code, or None.
* ``zip_fits_state(zip5, code)`` says whether a five-digit ZIP code that starts
  with 0 belongs to a state; it is what allows a ZIP that lost its leading
  zeros ("2134") to be padded back ("02134") only when the row's state agrees.
* ``country_region(text)`` turns a country cell ("Norway", "UK", "JP") into
  the region its phone numbers are read in.
"""

from __future__ import annotations

import functools
import unicodedata

import phonenumbers

# USPS codes: the 50 states and DC.
US_STATES: dict[str, str] = {
    "AL": "Alabama",
    "AK": "Alaska",
    "AZ": "Arizona",
    "AR": "Arkansas",
    "CA": "California",
    "CO": "Colorado",
    "CT": "Connecticut",
    "DE": "Delaware",
    "DC": "District of Columbia",
    "FL": "Florida",
    "GA": "Georgia",
    "HI": "Hawaii",
    "ID": "Idaho",
    "IL": "Illinois",
    "IN": "Indiana",
    "IA": "Iowa",
    "KS": "Kansas",
    "KY": "Kentucky",
    "LA": "Louisiana",
    "ME": "Maine",
    "MD": "Maryland",
    "MA": "Massachusetts",
    "MI": "Michigan",
    "MN": "Minnesota",
    "MS": "Mississippi",
    "MO": "Missouri",
    "MT": "Montana",
    "NE": "Nebraska",
    "NV": "Nevada",
    "NH": "New Hampshire",
    "NJ": "New Jersey",
    "NM": "New Mexico",
    "NY": "New York",
    "NC": "North Carolina",
    "ND": "North Dakota",
    "OH": "Ohio",
    "OK": "Oklahoma",
    "OR": "Oregon",
    "PA": "Pennsylvania",
    "RI": "Rhode Island",
    "SC": "South Carolina",
    "SD": "South Dakota",
    "TN": "Tennessee",
    "TX": "Texas",
    "UT": "Utah",
    "VT": "Vermont",
    "VA": "Virginia",
    "WA": "Washington",
    "WV": "West Virginia",
    "WI": "Wisconsin",
    "WY": "Wyoming",
}

# Territories and freely associated states that have USPS codes and US ZIPs.
US_TERRITORIES: dict[str, str] = {
    "AS": "American Samoa",
    "GU": "Guam",
    "MP": "Northern Mariana Islands",
    "PR": "Puerto Rico",
    "VI": "Virgin Islands",
    "FM": "Federated States of Micronesia",
    "MH": "Marshall Islands",
    "PW": "Palau",
}

# Military mail "states" (APO/FPO/DPO addresses).
US_MILITARY: dict[str, str] = {
    "AA": "Armed Forces Americas",
    "AE": "Armed Forces Europe",
    "AP": "Armed Forces Pacific",
}

CA_PROVINCES: dict[str, str] = {
    "AB": "Alberta",
    "BC": "British Columbia",
    "MB": "Manitoba",
    "NB": "New Brunswick",
    "NL": "Newfoundland and Labrador",
    "NS": "Nova Scotia",
    "NT": "Northwest Territories",
    "NU": "Nunavut",
    "ON": "Ontario",
    "PE": "Prince Edward Island",
    "QC": "Quebec",
    "SK": "Saskatchewan",
    "YT": "Yukon",
}

US_CODES: frozenset[str] = frozenset(US_STATES) | frozenset(US_TERRITORIES) | frozenset(US_MILITARY)
CA_CODES: frozenset[str] = frozenset(CA_PROVINCES)

# Other spellings people type: AP-style and older GPO abbreviations, and variants.
_ALIASES: dict[str, tuple[str, ...]] = {
    "AL": ("Ala",),
    "AZ": ("Ariz",),
    "AR": ("Ark",),
    "CA": ("Calif", "Cal", "Cali"),
    "CO": ("Colo", "Col"),
    "CT": ("Conn",),
    "DE": ("Del",),
    "DC": ("D C", "Washington DC", "Washington D C", "Wash DC", "District of Columbia DC"),
    "FL": ("Fla",),
    "GA": ("Ga",),
    "HI": ("Hawai'i", "Hawaiʻi"),
    "ID": ("Ida",),
    "IL": ("Ill",),
    "IN": ("Ind",),
    "IA": ("Ia",),
    "KS": ("Kan", "Kans"),
    "LA": ("La",),
    "ME": ("Me",),
    "MD": ("Md",),
    "MA": ("Mass",),
    "MI": ("Mich",),
    "MN": ("Minn",),
    "MS": ("Miss",),
    "MO": ("Mo",),
    "MT": ("Mont",),
    "NE": ("Neb", "Nebr"),
    "NV": ("Nev",),
    "NH": ("N H",),
    "NJ": ("N J",),
    "NM": ("N M", "N Mex", "New Mex"),
    "NY": ("N Y", "N York"),
    "NC": ("N C", "N Carolina", "No Carolina"),
    "ND": ("N D", "N Dak", "N Dakota", "No Dakota"),
    "OK": ("Okla",),
    "OR": ("Ore", "Oreg"),
    "PA": ("Pa", "Penn", "Penna"),
    "RI": ("R I",),
    "SC": ("S C", "S Carolina", "So Carolina"),
    "SD": ("S D", "S Dak", "S Dakota", "So Dakota"),
    "TN": ("Tenn",),
    "TX": ("Tex",),
    "UT": ("Ut",),
    "VT": ("Vt",),
    "VA": ("Va",),
    "WA": ("Wash",),
    "WV": ("W Va", "W Virginia"),
    "WI": ("Wis", "Wisc"),
    "WY": ("Wyo",),
    "PR": ("P R",),
    "VI": (
        "U S Virgin Islands",
        "US Virgin Islands",
        "USVI",
        "Virgin Islands of the United States",
    ),
    "MP": ("CNMI", "Northern Marianas"),
    "FM": ("Micronesia",),
    "AB": ("Alta",),
    "BC": ("B C",),
    "MB": ("Man",),
    "NL": ("Newfoundland", "Nfld", "NF", "Labrador"),
    "NT": ("NWT", "N W T"),
    "PE": ("PEI", "P E I"),
    "QC": ("Que", "PQ", "Québec"),
    "SK": ("Sask",),
    "YT": ("Yukon Territory", "YK"),
}

# Names for the United States (and its territories) in a "country" column.
US_COUNTRY_NAMES: frozenset[str] = frozenset(
    {
        "us",
        "usa",
        "u s",
        "u s a",
        "united states",
        "united states of america",
        "the united states",
        "america",
        "us of a",
        "puerto rico",
        "guam",
        "american samoa",
        "virgin islands",
        "us virgin islands",
        "northern mariana islands",
    }
)

# Three-digit ZIP prefixes that start with 0, by postal code (USPS ZIP prefix
# table). Only these can be padded back: a 4-digit "2134" with state MA becomes
# 02134 (prefix 021 belongs to MA), with CT it stays invalid (CT is 060-069).
ZERO_ZIP_PREFIXES: dict[str, frozenset[str]] = {
    "NY": frozenset({"005", "063"}),  # Holtsville IRS; Fishers Island 06390
    "PR": frozenset({"006", "007", "009"}),
    "VI": frozenset({"008"}),
    "MA": frozenset({f"{p:03d}" for p in range(10, 28)} | {"055"}),  # 010-027; Andover IRS
    "RI": frozenset({"028", "029"}),
    "NH": frozenset({f"{p:03d}" for p in range(30, 39)}),  # 030-038
    "ME": frozenset({f"{p:03d}" for p in range(39, 50)}),  # 039-049
    "VT": frozenset({f"{p:03d}" for p in range(50, 60)} - {"055"}),  # 050-059
    "CT": frozenset({f"{p:03d}" for p in range(60, 70)}),  # 060-069
    "NJ": frozenset({f"{p:03d}" for p in range(70, 90)}),  # 070-089
    "AE": frozenset({f"{p:03d}" for p in range(90, 99)}),  # 090-098
}


def region_key(text: str) -> str:
    """The lookup form of a state or country name: casefolded, without accents,
    dots or apostrophes, with hyphens and commas as spaces, spaces collapsed."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    kept = "".join(c for c in folded if not unicodedata.combining(c))
    for gone in (".", "'", "’", "ʻ", "`"):
        kept = kept.replace(gone, "")
    for space in ("-", ",", "_", "/"):
        kept = kept.replace(space, " ")
    return " ".join(kept.replace("&", " and ").split())


def _build_lookup() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for table in (US_STATES, US_TERRITORIES, US_MILITARY, CA_PROVINCES):
        for code, name in table.items():
            lookup[region_key(code)] = code
            lookup[region_key(name)] = code
            lookup[region_key("State of " + name)] = code
    for code, aliases in _ALIASES.items():
        for alias in aliases:
            lookup[region_key(alias)] = code
    for code in US_CODES:
        lookup["us " + code.lower()] = code  # ISO 3166-2 "US-MA"
    for code in CA_CODES:
        lookup["ca " + code.lower()] = code  # ISO 3166-2 "CA-ON"
    return lookup


_LOOKUP: dict[str, str] = _build_lookup()


def state_code(text: str) -> str | None:
    """The two-letter postal code for a state, territory or province, or None."""
    return _LOOKUP.get(region_key(text))


def is_us_country(text: str) -> bool:
    """True when a country cell names the United States (or is empty)."""
    key = region_key(text)
    return not key or key in US_COUNTRY_NAMES


def zip_fits_state(zip5: str, code: str | None) -> bool:
    """True when a ZIP code starting with 0 belongs to the state ``code``."""
    return code is not None and zip5[:3] in ZERO_ZIP_PREFIXES.get(code, frozenset())


# Country cells that name a phone region without being its ISO code or one of
# the names phonenumbers knows (``_country_names``): everyday and older names.
_COUNTRY_ALIASES: dict[str, str] = {
    "uk": "GB",
    "u k": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "united kingdom of great britain and northern ireland": "GB",
    "holland": "NL",
    "the netherlands": "NL",
    "korea": "KR",
    "republic of korea": "KR",
    "korea republic of": "KR",
    "korea south": "KR",
    "russian federation": "RU",
    "czech republic": "CZ",
    "ivory coast": "CI",
    "uae": "AE",
    "usa": "US",
    "deutschland": "DE",
    "espana": "ES",
    "nippon": "JP",
    "nihon": "JP",
    "bharat": "IN",
    "norge": "NO",
    "sverige": "SE",
    "suomi": "FI",
    "danmark": "DK",
    "schweiz": "CH",
    "suisse": "CH",
    "osterreich": "AT",
    "italia": "IT",
    "brasil": "BR",
    "mexico": "MX",
    "prc": "CN",
    "hong kong sar": "HK",
    "taiwan roc": "TW",
}


@functools.cache
def _country_names() -> dict[str, str]:
    """Country names in the languages phonenumbers ships (English, German,
    Spanish, French, Japanese, ...), by their lookup form. Loaded on first
    need only: the data takes a few tenths of a second to import."""
    from phonenumbers.geodata.locale import LOCALE_DATA

    names: dict[str, str] = {}
    for code, by_language in LOCALE_DATA.items():
        english = by_language.get("en", "")
        for name in (english, *by_language.values()):
            for _ in range(3):  # "*aa": the same as language aa (the data has one loop)
                if name.startswith("*"):
                    name = by_language.get(name[1:], "")
            if name and not name.startswith("*"):
                names.setdefault(region_key(name), code)
    return names


def country_region(text: str) -> str | None:
    """The phonenumbers region code ("GB") that a country cell names, or None
    when it names none: a two-letter ISO code ("no", "GB"), a name in one of
    the languages phonenumbers knows ("Norway", "Japan", "Deutschland"), or
    an everyday name ("UK", "USA", "Holland"). Empty gives None."""
    key = region_key(text)
    if not key:
        return None
    if key in US_COUNTRY_NAMES:
        return _US_NAMED.get(key, "US")
    if key in _COUNTRY_ALIASES:
        return _COUNTRY_ALIASES[key]
    if len(key) == 2 and key.isalpha() and key.isascii():
        code = key.upper()
        return code if code in phonenumbers.SUPPORTED_REGIONS else None
    return _country_names().get(key)


# US territories named in a country column: each is its own phone region.
_US_NAMED = {
    "puerto rico": "PR",
    "guam": "GU",
    "american samoa": "AS",
    "virgin islands": "VI",
    "us virgin islands": "VI",
    "northern mariana islands": "MP",
}
