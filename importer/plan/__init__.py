"""Plan: decide what a run does with every row, and the ``rg-import plan`` command's library side.

``planner.Planner`` maps, validates and compares each chunk with the ledger
(create, update, unchanged or reject), with ``duplicates`` (over ``dedupe``)
for duplicates inside the file, ``history`` for what the ledger knows of a
row, and ``payloads`` for lead bodies, digests and what changed; its
decisions are the data types of ``rows``. ``plan_file.plan_file`` is the dry
run: it checks big files on several cores (``parallel``) and writes plan.csv
and rejects.csv (lines made by ``plan_csv``, carried as ``formatted``) and
report.json.
"""
