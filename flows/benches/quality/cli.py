"""`raie bench quality` on the command line: its options and its printout."""

from __future__ import annotations

import argparse

from flows.benches.quality.bars import format_bars, paired_fields
from flows.benches.quality.cohort import cohort_printout
from flows.benches.quality.config import DEFAULT_METHODS
from flows.benches.quality.report_md import backbone_line, table_fields
from flows.benches.quality.runs import parse_part, runs_folder
from flows.benches.quality.track import bench, payload
from flows.choices import BACKBONES, EVERY
from flows.commands.output import print_json
from flows.progress import progress_bar, progress_enabled
from raie_core import report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset",
        choices=("paper", "streaming"),
        default="paper",
        help="paper: S/F/T blocks; streaming: periods after the setup cut",
    )
    parser.add_argument("--backbone", choices=BACKBONES, default=None, help="default seqrec")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1")
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS), help="comma-separated")
    parser.add_argument("--ablations", action="store_true", help="add every RAIE ablation")
    parser.add_argument("--dataset", default=None, help="default: the config's (ml-100k)")
    parser.add_argument("--path", default=None, help="dataset folder (non-embedded sources)")
    parser.add_argument(
        "--every",
        choices=EVERY,
        default=None,
        help="streaming period (default: the config's; 1w, 1mo for ml-1m)",
    )
    parser.add_argument("--cut", default=None, help="streaming setup cut date (default t^S)")
    parser.add_argument("--max-users", type=int, default=None, help="keep the first N users")
    parser.add_argument("--max-periods", type=int, default=None, help="streaming: first N periods")
    parser.add_argument(
        "--backbone-epochs", type=int, default=None, help="setup cap (default: the config's)"
    )
    parser.add_argument(
        "--config",
        default=None,
        help="YAML/JSON pipeline settings, as `raie setup --config` takes (flags win)",
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="update cap (default: the pipeline's, 10)"
    )
    parser.add_argument("--out", default=None, help="report folder (default <home>/bench/...)")
    parser.add_argument("--no-track", action="store_true", help="skip MLflow and Prefect")
    parser.add_argument(
        "--validate",
        action="store_true",
        help="tune on F only, never on T: the paper preset updates on early F and scores late F "
        "(block V); the streaming preset stops at t^F",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--backbone-batch", type=int, default=None, help="setup batch (default: the config's)"
    )
    parser.add_argument(
        "--max-windows", type=int, default=None, help="llm: setup training budget (windows)"
    )
    parser.add_argument(
        "--max-update-windows",
        type=int,
        default=None,
        help="a seeded subset of at most N windows of the setup (region fitting, replay) set "
        "and of each update period (CPU budget for llm)",
    )
    parser.add_argument(
        "--max-eval-windows",
        type=int,
        default=None,
        help="a seeded subset of at most N windows per scored block (same rows for every backbone)",
    )
    parser.add_argument(
        "--cohort",
        default=None,
        help="file of user ids, one a line (`raie data drift` writes one): every NDCG@10 and "
        "paired difference split into cohort / others, and RAIE's routing of the cohort",
    )
    parser.add_argument(
        "--part",
        type=parse_part,
        default=None,
        help="I/N: compute only every N-th run (from the I-th) and store it under "
        "<home>/bench/runs, without a report; run N parts side by side, then the same command "
        "without --part writes the report from the stored runs",
    )
    parser.add_argument(
        "--no-backbone-cache",
        action="store_true",
        help="retrain every seed's backbone instead of reusing <home>/bench/backbones "
        "(and recompute every run instead of reusing <home>/bench/runs)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the bench; print the --json payload, or the tables, the bars and where things are."""
    with progress_bar(progress_enabled(args.json), "bench quality"):
        result, path, run_id = bench(args)
    if args.json:
        print_json(payload(result, path, run_id))
        return 0
    if path is None:
        print(
            f"bench quality part {result['part']}: {result['computed']} run(s) computed, "
            f"{result['reused']} reused, stored under {runs_folder(args)}; the same command "
            "without --part writes the report"
        )
        return 0
    print(
        f"bench quality: {args.preset} preset, {args.backbone}, {args.seeds} seed(s), "
        f"{backbone_line(result)}, pipeline config hash {result['config_hash']}"
    )
    print(report.format_table(result["rows"], table_fields(args.preset, args.validate)))
    paired = paired_fields(result)
    if paired:
        print(
            f"\npaired per-seed differences of {result['headline']} "
            "(mean ± s.e., seeds ahead) [95 % interval over users]"
        )
        print(report.format_table(result["paired"], paired))
    if result["cohort"] is not None:
        print("\n".join(cohort_printout(result["cohort"])))
    if result["bars"]:
        print("\nquality bars (DESIGN §10, seed means):")
        print("\n".join(format_bars(result["bars"])))
    print(f"report: {path}")
    if run_id:
        print(f"MLflow run {run_id} (experiment raie-bench-quality)")
    return 0
