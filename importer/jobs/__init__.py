"""Jobs: named runs declared in ``rg-import.toml``, their inputs and drop folders.

``project`` reads the file (one ``Job`` per ``[jobs.NAME]`` table), ``inbox``
finds the files of a drop folder that are ready and files them away after
their run, ``checks`` looks at a job's files, mapping, site and ledger without
writing anything. Which run flags a job may set is the command line's
business: ``importer.cli.job_settings`` checks the settings against the
options of ``rg-import run``.
"""
