"""The benchmark flow (deployment `benchmark`): RAIE against the usual update strategies.

A thin flow over `raie bench quality` (flows/benches/quality/): the same options, the same
code path — the report is written, logged to MLflow and left as a Prefect artifact.
"""

from __future__ import annotations

import argparse

from prefect import flow

from flows import env
from flows.params import DEFAULT_DATASET


@flow(name="raie-benchmark")
def benchmark(
    preset: str = "paper",
    backbone: str = "seqrec",
    seeds: int = 3,
    methods: str | None = None,
    dataset: str = DEFAULT_DATASET,
    home: str | None = None,
    options: list[str] | None = None,
) -> dict:
    """Run the quality benchmark; ``options`` are further `raie bench quality` options (e.g.
    ``["--validate", "--max-users", "80"]``). Returns {"rows", "paired", "bars",
    "regions", "cohort", "windows", "report", "mlflow_run_id"}, as `raie --json bench quality`
    prints them."""
    from flows.benches import quality

    env.configure_stores(home)
    parser = argparse.ArgumentParser()
    quality.add_arguments(parser)
    argv = ["--preset", preset, "--backbone", backbone, "--seeds", str(seeds)]
    argv += ["--dataset", dataset, *(["--methods", methods] if methods else []), *(options or [])]
    args = parser.parse_args(argv)
    args.home, args.json = home, True
    result, path, run_id = quality.bench(args)
    return quality.payload(result, path, run_id)
