"""Runs beyond one process: a file's pieces, or many sites, as tasks of a Dask cluster.

``spread.run_spread`` cuts the input into byte ranges of whole records
(``importer.read.spans``), sends each as a task (``pieces.run_piece``: a plain
``send.run.run_file`` over its span, with its own ledger connection and API
client) and merges their results into one report (``merge``). ``sites`` runs
one task per site of a sites file. ``dask_cluster`` is the one module that
imports Dask, and only when ``--executor dask`` or ``dask-local`` is given.
"""
