"""The `raie` command line: `raie data|setup|update|backfill|recommend|lineage|promote|rollback|
status|verify|gc|bench|ui|demo`.

Exit codes: 0 ok, 1 failed (one sentence on stderr, no traceback unless --debug), 2 bad usage,
3 the gate rejected a candidate and `--fail-on-reject` was given (`raie update|backfill`).
With --json a command prints one JSON object (flows/commands/output.py).
Each command group lives in flows/commands/<group>.py and registers itself with `register`.
"""

import argparse
import importlib
import logging
import os
import sys
import warnings

from flows import env, reaper
from flows.commands.helptext import state_all_defaults
from raie_core.errors import RaieError

COMMAND_MODULES = ("data", "pipeline", "admin", "champion", "state", "bench")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a sub-command's copy of an option must not overwrite the top-level value.
    common.add_argument(
        "--home", default=argparse.SUPPRESS, help="RAIE home (default $RAIE_HOME or ./.raie)"
    )
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON object"
    )
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks and debug logs",
    )
    parser = argparse.ArgumentParser(
        prog="raie",
        description="Region-aware incremental editing for recommenders.",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"flows.commands.{name}")
        module.register(sub, common)
    state_all_defaults(parser)  # bench parsers state theirs when they load (LazyParser)
    return parser


class _FailuresOnce(logging.Filter):
    """Drops what `main` reports itself: a record carrying a RaieError, and Prefect's failure
    lines of a flow or task run (its exception reaches `main`, which prints it once)."""

    RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], RaieError):
            return False
        return not (record.name in self.RUN_LOGGERS and record.levelno >= logging.ERROR)


QUIET_LOGGERS = ("EventsWorker",)
"""Loggers kept below WARNING outside --debug: Prefect's "Still processing items" at exit."""


def _console(debug: bool) -> None:
    """Terminal logging: WARNING and up, no RaieError tracebacks; everything with --debug."""
    if not debug:
        env.quiet_console()
        warnings.filterwarnings("ignore", category=FutureWarning)  # library deprecation chatter
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
    level = logging.DEBUG if debug else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)  # records that propagate from INFO loggers stop here too
        if not debug and not any(isinstance(f, _FailuresOnce) for f in handler.filters):
            handler.addFilter(_FailuresOnce())


def main(argv: list[str] | None = None) -> int:
    """Run one command; ``argv`` None = the process's command line. A command that starts a
    server (a Prefect flow's API server, `mlflow server`) marks itself ``watched``; from the
    command line it then starts the watchdog that ends whatever this process starts once it
    is gone (flows/reaper.py). Read-only commands start no watchdog."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("home", "json", "debug"):
        if not hasattr(args, name):
            setattr(args, name, None if name == "home" else False)
    args.home = args.home or getattr(args, "default_home", None)
    if argv is None and getattr(args, "watched", False):
        reaper.start_reaper()
    try:
        env.configure(args.home)
        _console(args.debug)
        return int(args.handler(args) or 0)
    except RaieError as error:
        if args.debug:
            raise
        print(f"raie: error: {error}", file=sys.stderr)
        return 1
    except RuntimeError as error:
        if args.debug or not str(error).startswith(EPHEMERAL_TIMEOUT):
            raise
        print(f"raie: error: {_server_timeout()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("raie: interrupted", file=sys.stderr)
        return 130


EPHEMERAL_TIMEOUT = "Timed out while attempting to connect to ephemeral Prefect API server"
"""How Prefect's RuntimeError begins when the local server a flow starts never answers."""


def _server_timeout() -> str:
    """The one sentence for a local Prefect server that did not start (the run did not begin,
    so nothing changed)."""
    wait = os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "?")
    return (
        f"the local Prefect server (PREFECT_HOME={os.environ.get('PREFECT_HOME')}) did not "
        f"answer within PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS={wait} s, so no flow "
        "ran and nothing changed; retry when the machine is less busy, raise that timeout, or "
        "point PREFECT_API_URL at a running server"
    )


if __name__ == "__main__":
    sys.exit(main())
