"""The ``rg-import`` command line: the only click code.

``main`` builds the command group and maps errors to exit codes; each command
(or group of commands) has its own module and calls one library function.
``arguments`` turns flags and environment into library values, ``summaries``
the library's results into the texts printed.
"""
