"""The whole `raie bench quality` run as the CLI and the `benchmark` deployment share it:
run, judge, write the report, log it to MLflow and leave it as a Prefect artifact."""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path
from typing import Any

from flows.benches.quality.bars import quality_bars
from flows.benches.quality.report_json import PAYLOAD_FIELDS, report_record, write_report_json
from flows.benches.quality.report_md import write_report
from flows.benches.quality.runner import run_bench
from raie_core.errors import RaieConfigError


def track_report(path: Path, rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    """Log the report folder and the means to MLflow; leave the markdown as a Prefect artifact."""
    from prefect import flow
    from prefect.artifacts import create_markdown_artifact

    from flows.env import raie_home
    from tasks.provenance import code_version
    from tasks.tracking import Tracker

    tracker = Tracker(artifact_root=raie_home(args.home) / "mlartifacts")
    params = {
        "preset": args.preset,
        "backbone": args.backbone,
        "seeds": args.seeds,
        "dataset": args.dataset,
        "methods": args.methods,
        "epochs": args.epochs,
    }
    run_id = tracker.start_run(
        "raie-bench-quality", f"quality-{args.preset}", params=params, tags=code_version()
    )
    metrics = {f"{r['method']}.{k}": v["mean"] for r in rows for k, v in r.items() if k != "method"}
    tracker.log_metrics(run_id, metrics)
    tracker.log_artifacts(run_id, path.parent, "report")
    tracker.end_run(run_id)

    @flow(name="bench-quality-report")
    def publish(markdown: str) -> None:
        create_markdown_artifact(key="bench-quality", markdown=markdown)

    publish(path.read_text(encoding="utf-8"))
    return run_id


def bench(args: argparse.Namespace) -> tuple[dict[str, Any], Path | None, str | None]:
    """The whole benchmark, for the CLI and the `benchmark` deployment alike: run every
    method x seed, write the report (report.md, its plots, and report.json: the tables and
    the command as `report_json.report_record`), and (unless ``--no-track``) log it to MLflow
    and leave it as a Prefect artifact. Returns (result, report.md path, MLflow run id or None);
    with ``--part`` only that part's runs are computed and stored: (counts, None, None)."""
    if args.seeds < 1:
        raise RaieConfigError(f"--seeds {args.seeds} should be >= 1")
    from flows.env import raie_home

    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else raie_home(args.home) / "bench" / f"quality-{stamp}"
    result = run_bench(args)
    if "part" in result:
        return result, None, None
    result["bars"] = quality_bars(result, args)
    record = report_record(result, args)
    path = write_report(record, result, out)
    write_report_json(record, out)
    run_id = None if args.no_track else track_report(path, result["rows"], args)
    return result, path, run_id


def payload(result: dict[str, Any], path: Path | None, run_id: str | None) -> dict[str, Any]:
    """What `raie --json bench quality` prints and the `benchmark` flow returns (with
    ``--part``: the part and its counts of computed and reused runs)."""
    if path is None:
        return result
    keep = {key: result[key] for key in PAYLOAD_FIELDS}
    return {**keep, "report": str(path), "mlflow_run_id": run_id}
