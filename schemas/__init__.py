"""pandera models of the Real Geeks Incoming Leads contract.

They check the canonical frames that ``importer.mapping.apply`` builds, with the same
rules the API (and our sandbox) applies, so that a row which passes here is a
request the server accepts. Each check is named with the stable problem code it
reports (``invalid_email``, ``missing_contact``, ...); ``importer.validate``
turns failures into one readable message per source row.
"""

from schemas.activity import ActivityFrame, PropertyFrame
from schemas.lead import LeadFrame, PotentialSellerFrame

__all__ = ["ActivityFrame", "LeadFrame", "PotentialSellerFrame", "PropertyFrame"]
