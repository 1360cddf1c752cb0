"""The ``rg-import`` command line: a thin click layer over the library.

Each command parses its options, calls one library function, prints its
result and returns an exit code. Errors that stop a command are mapped to exit
codes in one place (``main``); tracebacks are shown only with ``--debug``.
The commands live beside this module, one module per command or group; this
one builds the group. The click-free parts live in ``importer.cli.arguments``
(flags to read options, mapping, site and destination),
``importer.cli.summaries`` (the texts printed) and the library. The library
modules are imported inside the commands, so ``rg-import --help`` stays quick.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import threading
import traceback
import types

import click

from importer import __version__
from importer.cli.job_commands import jobs_group
from importer.cli.ledger_commands import ledger
from importer.cli.mapping_commands import mappings_group
from importer.cli.plan_and_run import plan, run
from importer.cli.review_command import review
from importer.cli.sandbox_command import sandbox
from importer.cli.sites_command import sites
from importer.cli.users_commands import doctor, users
from importer.collector import collect_less_often
from importer.errors import ExitCode, ImporterError, interrupted_code, terminate_stops


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rg-import")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Bulk-import CRM spreadsheet exports into Real Geeks Lead Manager."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


for command in (
    doctor, jobs_group, ledger, mappings_group, plan, review, run, sandbox, sites, users,
):  # fmt: skip
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``rg-import`` script: run, map errors, exit."""
    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args
    if argv is None:
        _without_test_strategies()
        _without_dask_annotations()
        _one_blas_thread()
        collect_less_often()
    try:
        # SIGTERM (systemd, containers) stops any command as Ctrl-C does, with its own code
        with terminate_stops():
            code = cli.main(
                args=args, prog_name="rg-import", standalone_mode=False, obj={"argv": args}
            )
    except click.exceptions.Abort as exc:
        # click turns KeyboardInterrupt (and so Terminated) into Abort
        code = _interrupted(exc.__cause__ or exc.__context__)
    except click.ClickException as exc:
        # One line, like every other error; the hint replaces click's usage block.
        message = " ".join(exc.format_message().split())
        context = getattr(exc, "ctx", None)
        hint = f" Run '{context.command_path} --help' for usage." if context is not None else ""
        click.echo(f"Error: {message}{hint}", err=True)
        code = ExitCode.USAGE
    except ImporterError as exc:
        if debug:
            click.echo(traceback.format_exc().rstrip(), err=True)
        click.echo(f"Error: {exc}", err=True)
        code = exc.exit_code
    except KeyboardInterrupt as exc:
        code = _interrupted(exc)
    except Exception as exc:
        if debug:
            raise
        click.echo(
            f"Error: internal error ({type(exc).__name__}: {exc}); this is a bug in rg-import, "
            "please report it with the output of the same command run with --debug",
            err=True,
        )
        code = ExitCode.INTERNAL
    if argv is None:  # the installed script: shut down in order, then skip the teardown
        _exit_after_shutdown(int(code or 0))
    sys.exit(int(code or 0))


def _without_test_strategies() -> None:
    """Keep pandera from importing hypothesis in the installed script's process.

    pandera imports hypothesis, for data-generating strategies this tool never
    uses, whenever it is installed: in a development environment (it is one of
    our test tools) that costs a quarter of a second of every plan and run.
    A user's install has no hypothesis, and with it marked missing here pandera
    behaves just as there. Only the script's own process is changed: a caller
    of ``main`` (the tests) keeps its imports as they are.
    """
    sys.modules.setdefault("hypothesis", None)  # type: ignore[arg-type]


def _one_blas_thread() -> None:
    """Keep numpy's OpenBLAS to the calling thread in the installed script's process.

    numpy's wheels bring OpenBLAS, which starts a thread per CPU at import, and
    those threads spin for a while after every call that reaches it: in a run
    at 0 ms latency on 2 CPUs they took about a tenth of the run's CPU from the
    sending threads (and the sandbox), for tables this tool never multiplies.
    Set before numpy is imported (none of the commands has imported it yet);
    a value of the user's own is kept, and child processes (the sending
    processes, Dask workers) inherit it.
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _without_dask_annotations() -> None:
    """Keep pandera from importing Dask in the installed script's process.

    The first validation builds pandera's schemas, which look up the index
    types of every dataframe library pandera annotates (``get_index_types``):
    where Dask is installed (the ``dask`` extra, a development environment)
    that imports ``dask.dataframe`` and ``dask.array``, about 0.3 s of CPU of
    every plan and run, for annotations of Dask frames this tool never
    validates. pandera's own Dask module, marked as finding no Dask, makes it
    behave as it does where Dask is missing. Dask itself is untouched:
    ``--executor dask`` imports it as before (``importer.scale.dask_cluster``).
    Only the script's own process is changed, as for hypothesis above.
    """
    unused = types.ModuleType("pandera.typing.dask", "pandera's Dask annotations, unused here")
    unused.DASK_INSTALLED = False  # type: ignore[attr-defined]
    sys.modules.setdefault("pandera.typing.dask", unused)


def _interrupted(cause: BaseException | None) -> ExitCode:
    """Say why the command stopped (Ctrl-C or SIGTERM); its exit code."""
    code = interrupted_code(cause)
    click.echo("Stopped by SIGTERM." if code is ExitCode.TERMINATED else "Interrupted.", err=True)
    return code


def _exit_after_shutdown(code: int) -> None:
    """Exit with ``code`` once everything that can still act has finished.

    Threads still running are joined, atexit handlers run (temporary copies of
    piped input are removed, thread pools are joined), logging is shut down and
    the standard streams are flushed: what ``sys.exit`` does. Only the
    interpreter's last step is skipped: freeing the heap of pandas and pandera
    objects one by one, which costs about 0.2 s (a tenth of a 100,000-row plan)
    and which the operating system does at once. Callers in the same process
    (the tests) get a plain ``SystemExit``.
    """
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        # a closed pipe (| head): nothing left to tell
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
