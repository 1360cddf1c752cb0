"""Read: CSV/TSV/TXT and XLSX exports in, text-only DataFrame chunks out.

``table.open_table`` is the door: it sniffs the file (``sniff``), reads it with
``delimited`` (over ``csv_streams``) or ``xlsx`` (after ``xlsx_guard`` checked the workbook), and
yields chunks whose cells are all ``str``, indexed by spreadsheet row, after
``cleaning`` named their columns and dropped blank and footer rows.
``options`` holds ``ReadOptions``; ``headers`` the header and cell artefacts;
``records`` the raw byte records of a CSV (for digests and parallel checking);
``ragged`` and ``fed_back`` the verdicts that travel with rows; ``spool`` copies
piped input once, and ``files`` refuses it (and says why any file cannot be
opened); ``regex_guard`` refuses patterns that could backtrack for ever.
"""
