"""Send: the HTTP client, the send of each planned row, and ``rg-import run``.

``run.run_file`` plans chunks (``importer.plan``) and hands rows to a pool of
``sender.Sender`` threads, which write ahead to the ledger and make the
requests through ``client.Client``; ``run_outputs`` tallies how rows end
and lists the rejected and in-doubt ones. The client owns all network policy: its
settings (``client_settings``), what an answer means and when to retry
(``retry_policy``, ``http_errors``), a total deadline per try
(``http_deadline``) and the shared rate limiter (``throttle``). The
``breaker`` stops the whole run when going on cannot help.
"""
