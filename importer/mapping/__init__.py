"""Mapping: how one export's columns become Real Geeks leads and activities.

``spec`` is what a mapping file says, as frozen data (``Mapping`` and its
parts); ``files`` finds and loads mapping files, ``parse`` checks their data
section by section with ``reader``. Applying a mapping to rows: ``binding``
resolves its column names against a file's header, ``apply.map_chunk`` maps a
chunk, ``values`` evaluates value specs (aliases, templates, transforms),
``parts`` builds repeated groups and activities, ``empty_values`` blanks the
stand-ins an export writes for "nothing".
"""
