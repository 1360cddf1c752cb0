"""pandera models of the Real Geeks Incoming Leads contract.

``lead`` and ``activity`` hold the models, ``checks`` the checks they share.

They check the canonical frames that ``importer.mapping.apply`` builds, with the same
rules the API (and our sandbox) applies, so that a row which passes here is a
request the server accepts. Each check is named with the stable problem code it
reports (``invalid_email``, ``missing_contact``, ...); ``importer.validate.chunk``
turns failures into one readable message per source row.
"""
