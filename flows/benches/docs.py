"""`raie bench docs REPORT... [--out docs/benchmarks.md]`: the tables of `raie bench quality`
runs as one markdown page a user reads without running anything, generated from their
report.json files (`quality.report_json`), each under the command that produced it.

The tables are report.md's own text (`quality.report_md.result_tables`), one heading level
down; a report that cannot be read or lacks a field is one sentence naming the file and the
field (exit 1).
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from flows.benches.quality.report_json import read_report, report_json_path
from flows.benches.quality.report_md import result_tables, run_line
from flows.commands.output import print_json
from raie_core.errors import RaieDataError

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


def report_section(report: dict[str, Any]) -> list[str]:
    """One report's part of the page: heading, command block, run summary, tables."""
    return [
        f"## {report_title(report)}",
        "",
        "```bash",
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


def docs_page(reports: list[dict[str, Any]], command: str) -> str:
    """The whole page: a header naming the generating ``command``, then each report's
    section in the given order."""
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
    for report in reports:
        lines += report_section(report)
    return "\n".join(lines).rstrip("\n") + "\n"


def run(args: argparse.Namespace) -> int:
    """Read every report, write the page; print where it went (--json: one object)."""
    reports = [read_report(path) for path in args.reports]
    out = Path(args.out)
    text = docs_page(reports, docs_command(args.reports, args.out))
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
