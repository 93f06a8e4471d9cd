"""`raie bench data|regions|speed|quality|pipeline`: benchmarks that print measured numbers;
`raie bench docs`: quality reports as one markdown page (docs/benchmarks.md).

Each benchmark lives in flows/benches/<name>.py with `add_arguments(parser)` and `run(args)`.
"""

import argparse
import importlib

BENCHES = {
    "data": "window building on ML-100K and a synthetic 10M-interaction table",
    "regions": "drift scoring + gating throughput (1M samples x 64 regions)",
    "speed": "encode / region training / mixed-adapter batch throughput",
    "quality": "RAIE against the usual update strategies (table + report)",
    "pipeline": "Prefect + MLflow overhead and incremental cost of a nightly update",
    "docs": "bench quality report.json files as one markdown page (docs/benchmarks.md)",
}


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add `raie bench <name>` sub-commands; a bench module missing here is simply absent."""
    bench = sub.add_parser("bench", parents=[common], help="benchmarks")
    bench_sub = bench.add_subparsers(dest="bench", required=True, metavar="BENCH")
    for name, help_text in BENCHES.items():
        try:
            module = importlib.import_module(f"flows.benches.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"flows.benches.{name}":
                raise
            continue
        parser = bench_sub.add_parser(name, parents=[common], help=help_text)
        module.add_arguments(parser)
        parser.set_defaults(handler=module.run)
