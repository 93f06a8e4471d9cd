"""`raie bench docs REPORT... [--out docs/benchmarks.md]`: the tables of `raie bench quality`
runs as one markdown page a user reads without running anything, generated from their
report.json files (`quality.report_json`), each under the command that produced it.

The tables are report.md's own text (`quality.report_md.result_tables`), one heading level
down; a report that cannot be read or lacks a field is one sentence naming the file and the
field (exit 1).
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Any

from flows.benches.quality.report_json import read_report, report_json_path
from flows.benches.quality.report_md import result_tables, run_line
from flows.commands.output import print_json
from raie_core.errors import RaieDataError
from tasks.drift import SUMMARY_FILE

DEFAULT_OUT = "docs/benchmarks.md"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "reports",
        nargs="+",
        metavar="REPORT",
        help="a `raie bench quality` report folder or its report.json, in page order",
    )
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"the page (default {DEFAULT_OUT})")


def docs_command(reports: list[str], out: str) -> str:
    """The command line that regenerates the page."""
    return shlex.join(["raie", "bench", "docs", *reports, "--out", out])


def report_title(report: dict[str, Any]) -> str:
    """'ml-1m, paper preset, seqrec, 3 seeds' (+ ', validation (V)', ', cohort / others')."""
    seeds = f"{report['seeds']} seed{'s' if report['seeds'] != 1 else ''}"
    parts = [report["dataset"], f"{report['preset']} preset", report["backbone"], seeds]
    if report["validate"]:
        parts.append("validation (V)")
    if report["cohort"] is not None:
        parts.append("cohort / others")
    return ", ".join(parts)


def drift_command(summary: dict[str, Any]) -> str:
    """The `raie data drift` line that wrote a drift.json ``summary`` (its table and cohort)."""
    source = ["--path", summary["source_path"]] if summary.get("source_path") else []
    return shlex.join(
        [
            *("raie", "data", "drift", "--dataset", summary["dataset"], *source),
            *("--out", str(Path(summary["table"]).parent), "--genre", summary["genre"]),
            *("--share", str(summary["share"]), "--onset", summary["onset"]),
            *("--seed", str(summary["seed"])),
        ]
    )


def report_section(report: dict[str, Any], drift: dict[str, Any] | None = None) -> list[str]:
    """One report's part of the page: heading, command block (after the `raie data drift`
    line when the report folder holds the drift.json of its table), run summary, tables."""
    return [
        f"## {report_title(report)}",
        "",
        "```bash",
        *([drift_command(drift)] if drift is not None else []),
        report["command"],
        "```",
        "",
        run_line(report),
        "",
        f"Pipeline config hash {report['config_hash']}.",
        "",
        *_demoted(result_tables(report)),
    ]


def _demoted(lines: list[str]) -> list[str]:
    """``lines`` (each may hold several) with every markdown heading one level down."""
    out = []
    for line in "\n".join(lines).split("\n"):
        out.append(f"#{line}" if line.startswith("#") else line)
    return out


def docs_page(
    reports: list[dict[str, Any]], command: str, drifts: list[dict[str, Any] | None]
) -> str:
    """The whole page: a header naming the generating ``command``, then each report's
    section in the given order (with its drift.json summary, or None)."""
    lines = [
        "# Benchmarks",
        "",
        "This page is generated from the report.json files of `raie bench quality` runs by",
        "",
        "```bash",
        command,
        "```",
        "",
        "Do not edit it by hand: the command under each heading reproduces its tables, then "
        "the command above rebuilds this page.",
        "",
    ]
    for report, drift in zip(reports, drifts, strict=True):
        lines += report_section(report, drift)
    return "\n".join(lines).rstrip("\n") + "\n"


def _drift(path: Path) -> dict[str, Any] | None:
    """The drift.json beside a report (copied there with it), or None when there is none."""
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RaieDataError(f"drift summary {path} cannot be read ({error})") from None
    missing = [
        k for k in ("dataset", "table", "genre", "share", "onset", "seed") if k not in summary
    ]
    if missing:
        raise RaieDataError(f"drift summary {path} has no field {missing[0]!r}")
    return summary


def run(args: argparse.Namespace) -> int:
    """Read every report, write the page; print where it went (--json: one object)."""
    reports = [read_report(path) for path in args.reports]
    drifts = [_drift(report_json_path(path).parent / SUMMARY_FILE) for path in args.reports]
    out = Path(args.out)
    text = docs_page(reports, docs_command(args.reports, args.out), drifts)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as error:
        raise RaieDataError(f"page {out} cannot be written ({error.strerror})") from None
    sources = [str(report_json_path(path)) for path in args.reports]
    if args.json:
        print_json({"out": str(out), "reports": sources, "sections": len(reports)})
    else:
        print(f"wrote {out}: {len(reports)} report(s) from {', '.join(sources)}")
    return 0
