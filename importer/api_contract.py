"""What the Real Geeks Incoming Leads API accepts, as data.

One statement of the contract, read by the local pandera schemas (``importer.validate.schemas``),
the mapping loader and the sandbox, so that all three agree. Where the public
documentation leaves a point open, the choice made here is our best reading and
is marked "reading:"; see docs/api-notes.md.
"""

from __future__ import annotations

DEFAULT_BASE_URL = "https://receivers.leadrouter.realgeeks.com/rest"

# reading: the blog printed the v2 path two ways; the first is our default and
# both are configurable (client ``v2_path_template``); the sandbox serves both.
V2_PATH_TEMPLATES = (
    "/v2/rest/sites/{site}/leads/{lead}",  # relative to the server root
    "/rest/sites/{site}/v2/leads/{lead}",
)

# Lead fields the Incoming API documents (developers.realgeeks.com/leads), plus
# ``created``, which the official client sends. Nothing else is ever sent.
LEAD_FIELDS: tuple[str, ...] = (
    "id",
    "source",
    "source_details",
    "email",
    "second_email",
    "first_name",
    "last_name",
    "phone",
    "phone2",
    "address",
    "street_address",
    "city",
    "state",
    "zip",
    "role",
    "region",
    "created",
    "activities",
)

# Lead fields that hold plain text (everything but ``id`` and ``activities``).
LEAD_TEXT_FIELDS: tuple[str, ...] = tuple(f for f in LEAD_FIELDS if f not in ("id", "activities"))

# The starred fields: at least one of them must be present on a lead.
CONTACT_FIELDS: tuple[str, ...] = (
    "email",
    "second_email",
    "first_name",
    "last_name",
    "phone",
    "phone2",
    "address",
    "street_address",
    "city",
    "state",
)

EMAIL_FIELDS: tuple[str, ...] = ("email", "second_email")
PHONE_FIELDS: tuple[str, ...] = ("phone", "phone2")

ROLES: tuple[str, ...] = ("Buyer", "Seller", "Buyer and Seller", "Renter")

# The documentation says a potential seller carries only these fields.
POTENTIAL_SELLER_FIELDS: tuple[str, ...] = ("id", "activities", "created")

ACTIVITY_FIELDS: tuple[str, ...] = (
    "type",
    "source",
    "description",
    "property",
    "user",
    "created",
    "notify_users",
)
ACTIVITY_REQUIRED: tuple[str, ...] = ("type", "source", "description")

# reading: the types that senders are shown to use on the Incoming API. The
# outgoing-only types (was_unassigned, waiting_for_manual_assignment) are refused.
ACTIVITY_TYPES: tuple[str, ...] = (
    "visited",
    "search_performed",
    "saved_search_added",
    "saved_search_removed",
    "property_viewed",
    "contact_emailed",
    "note",
    "was_assigned",
)

# reading: only ``full_baths`` (integer) is confirmed; the rest are the usual
# Real Geeks IDX names. Integer fields must be JSON integers (2.5 is refused).
PROPERTY_INT_FIELDS: tuple[str, ...] = (
    "full_baths",
    "half_baths",
    "beds",
    "price",
    "list_price",
    "sqft",
    "year_built",
)
PROPERTY_TEXT_FIELDS: tuple[str, ...] = (
    "mls",
    "url",
    "street_address",
    "city",
    "state",
    "zip",
    "type",
    "listing_id",
    "photo_url",
    "lot_size",
)
PROPERTY_FIELDS: tuple[str, ...] = PROPERTY_TEXT_FIELDS + PROPERTY_INT_FIELDS

USER_FIELDS: tuple[str, ...] = ("id",)

# The User object that GET /sites/{site}/users lists (developers.realgeeks.com/users):
# every field is a string but ``admin`` (a boolean); ``id`` is what a
# ``was_assigned`` activity's ``user`` names.
SITE_USER_FIELDS: tuple[str, ...] = (
    "id",
    "role",
    "admin",
    "name",
    "email",
    "signature",
    "phone_company",
    "phone_office",
    "phone_cell",
    "phone_home",
)
USER_ROLES: tuple[str, ...] = ("Agent", "Lender")

# Status codes the client never retries, and those it retries with backoff.
NEVER_RETRY_STATUSES = frozenset({400, 401, 403, 422})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
