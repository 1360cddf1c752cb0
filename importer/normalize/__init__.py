"""Normalize: cell text in, clean values out, a whole column at a time.

``transforms`` is the door the mapping stage uses; behind it one module per
subject: ``text`` (cleaning every value starts with), ``dates``, ``numbers``,
``addresses`` (states and ZIP codes, with the region data in ``regions``),
``names``, ``emails`` and ``phones``. ``column_text`` holds the whole-column
string helpers they share; ``_instant_text`` is the fast formatting of
timestamps behind ``dates``. Nothing here knows about mappings or files.
"""
