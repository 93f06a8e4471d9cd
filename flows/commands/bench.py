"""`raie bench data|regions|speed|quality|pipeline`: benchmarks that print measured numbers;
`raie bench docs`: quality reports as one markdown page (docs/benchmarks.md).

Each benchmark lives in flows/benches/<name>.py with `add_arguments(parser)` and `run(args)`
(and optionally `check_arguments(args)`, called before the home's Prefect folder is made).
A bench module is imported only when its sub-command is parsed (or its help shown), so
`raie --help` and every other command build the parser without torch, polars or prefect.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.util
from collections.abc import Callable
from typing import Any

from flows import env
from flows.commands.helptext import state_defaults

BENCHES = {
    "data": "window building on ML-100K and a synthetic 10M-interaction table",
    "regions": "drift scoring + gating throughput (1M samples x 64 regions)",
    "speed": "encode / region training / mixed-adapter batch throughput",
    "quality": "RAIE against the usual update strategies (table + report)",
    "pipeline": "Prefect + MLflow overhead and incremental cost of a nightly update",
    "docs": "bench quality report.json files as one markdown page (docs/benchmarks.md)",
}


class LazyParser(argparse.ArgumentParser):
    """A sub-command parser whose arguments are added by ``loader(parser)`` the first time it
    parses or formats help (argparse hands a sub-command's arguments to `parse_known_args`)."""

    def __init__(
        self,
        *args: Any,
        loader: Callable[[argparse.ArgumentParser], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._loader = loader

    def _load(self) -> None:
        loader, self._loader = self._loader, None
        if loader is not None:
            loader(self)

    def parse_known_args(self, args=None, namespace=None):  # noqa: ANN001, ANN201 - argparse's
        self._load()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self._load()
        return super().format_help()


def _bench_loader(name: str) -> Callable[[argparse.ArgumentParser], None]:
    def load(parser: argparse.ArgumentParser) -> None:
        module = importlib.import_module(f"flows.benches.{name}")
        module.add_arguments(parser)
        state_defaults(parser)

        @functools.wraps(module.run)
        def handler(args: argparse.Namespace) -> int:
            check = getattr(module, "check_arguments", None)
            if check is not None:  # a refused flag leaves the home as it was
                check(args)
            env.prefect_home(args.home)  # a bench may run flows against the home's Prefect
            return module.run(args)

        parser.set_defaults(handler=handler)

    return load


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add `raie bench <name>` sub-commands; a bench module missing here is simply absent."""
    bench = sub.add_parser("bench", parents=[common], help="benchmarks")
    bench.set_defaults(watched=True)  # benches run flows (a Prefect server) and Dask clusters
    bench_sub = bench.add_subparsers(
        dest="bench", required=True, metavar="BENCH", parser_class=LazyParser
    )
    for name, help_text in BENCHES.items():
        if importlib.util.find_spec(f"flows.benches.{name}") is None:
            continue
        bench_sub.add_parser(name, parents=[common], help=help_text, loader=_bench_loader(name))
