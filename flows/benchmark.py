"""The benchmark flow (deployment `benchmark`): RAIE against the usual update strategies.

A thin flow over `raie bench quality` (flows/benches/quality.py): same options, the table
and report left as Prefect artifacts and logged to MLflow.
"""

from __future__ import annotations

import argparse

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.params import DEFAULT_DATASET


@flow(name="raie-benchmark")
def benchmark(
    preset: str = "paper",
    backbone: str = "seqrec",
    seeds: int = 3,
    methods: str | None = None,
    dataset: str = DEFAULT_DATASET,
    home: str | None = None,
) -> list[dict]:
    """Run the quality benchmark; returns one row per method (mean ± std per metric)."""
    from flows.benches import quality

    parser = argparse.ArgumentParser()
    quality.add_arguments(parser)
    argv = [
        "--preset",
        preset,
        "--backbone",
        backbone,
        "--seeds",
        str(seeds),
        "--dataset",
        dataset,
        "--no-track",
    ]
    argv += ["--methods", methods] if methods else []
    args = parser.parse_args(argv)
    args.home, args.json = home, True
    result = quality.run_bench(args)
    fields = quality.table_fields(preset)
    rows = [
        {
            "method": r["method"],
            **{f: f"{r[f]['mean']:.4f} ± {r[f]['std']:.4f}" for f in fields if f in r},
        }
        for r in result["rows"]
    ]
    create_table_artifact(
        key="raie-benchmark", table=rows, description=f"{preset} preset, {seeds} seeds"
    )
    create_markdown_artifact(
        key="raie-benchmark-summary",
        markdown=f"# RAIE benchmark ({preset}, {backbone}, {seeds} seeds)\n\n"
        + "\n".join(
            f"* {r['method']}: " + ", ".join(f"{k} {v}" for k, v in r.items() if k != "method")
            for r in rows
        ),
    )
    return result["rows"]
