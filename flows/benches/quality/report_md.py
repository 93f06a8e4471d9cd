"""report.md of `raie bench quality`: the command that reproduces the run, the tables (means,
paired differences, per region, cohort / others, bars, RAIE edits), their notes and the PNG
plots. The text comes from the JSON report alone (`report_markdown`, `result_tables`, which
`raie bench docs` reuses); only the edits table and the figures need the run's live objects."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from flows.benches.quality.bars import format_bars, paired_fields
from flows.benches.quality.cohort import cohort_report
from raie_core import report
from raie_core.report import format_table

RECORDED_OPTIONS = (
    "config",
    "preset",
    "backbone",
    "seeds",
    "methods",
    "dataset",
    "path",
    "cohort",
    "every",
    "cut",
    "max_users",
    "max_periods",
    "backbone_epochs",
    "backbone_batch",
    "epochs",
    "threads",
    "max_windows",
    "max_update_windows",
    "max_eval_windows",
)
STREAMING_OPTIONS = ("every", "cut", "max_periods")
"""Options the paper preset ignores (left out of its recorded command)."""
SEQREC_OPTIONS = ("backbone_epochs", "backbone_batch")
"""Options the llm backbone ignores (it trains on the --max-windows budget)."""

PAIRED_NOTE = (
    "Paired per-seed differences of {field} (mean ± standard error over seeds; in parentheses "
    "the seeds where the first term is higher): every method of a seed shares its backbone, so "
    "these separate methods far better than the ± std of the table above. In square brackets "
    "a 95 % interval of the same difference over the evaluated users (user bootstrap of the "
    "seed-mean per-window difference): seeds only average out training noise, so a difference "
    "whose interval holds 0 is not resolved by these users, however many seeds ran."
)
REGIONS_NOTE = (
    "## Per region ({field}, seed 0)\n\nThe windows each RAIE region served (base = outside "
    "every band or no adapter yet; in the streaming preset, the region at the time each "
    "window was scored), and every method's NDCG@10 on those same windows: where region-aware "
    "editing gains or loses against one global update."
)
BARS_NOTE = (
    "## Quality bars (DESIGN §10)\n\nJudged on the seed means above; a bar met by a difference "
    "whose user interval holds 0 is met by these data, not resolved by them."
)


def command(args: argparse.Namespace) -> str:
    """The command line that reproduces this run (every option that changes the numbers)."""
    ignored = (() if args.preset == "streaming" else STREAMING_OPTIONS) + (
        SEQREC_OPTIONS if args.backbone == "llm" else ()
    )
    opts = [
        f"--{k.replace('_', '-')} {getattr(args, k)}"
        for k in RECORDED_OPTIONS
        if getattr(args, k) is not None and k not in ignored
    ]
    flags = [f"--{f}" for f in ("ablations", "validate") if getattr(args, f)]
    return " ".join(["raie bench quality", *opts, *flags])


def table_fields(preset: str, validate: bool = False) -> list[str]:
    """Columns of the main table: the preset's blocks x Recall/NDCG@5/10/20, then wall_s and
    peak_rss_mib."""
    blocks = ("P", "S") if preset == "streaming" else ("S", "V") if validate else ("S", "T")
    metrics = [f"{m}@{k}" for k in (5, 10, 20) for m in ("Recall", "NDCG")]
    return [f"{b}_{m}" for b in blocks for m in metrics] + ["wall_s", "peak_rss_mib"]


def backbone_line(result: dict[str, Any]) -> str:
    """'backbone setup 782.6 ± 173.0 s per trained seed (1 reused from the cache)', or
    'backbones reused from the cache (3)', then '; 4 runs reused' when stored runs were."""
    cached = result["backbones_cached"]
    reused = result.get("runs_reused") or 0
    runs = f"; {reused} run(s) reused from <home>/bench/runs" if reused else ""
    if result["backbone_s"] is None:
        return f"backbones reused from the cache ({cached}){runs}"
    timing = result["backbone_s"]
    line = f"backbone setup {timing['mean']:.1f} ± {timing['std']:.1f} s per trained seed"
    return line + (f" ({cached} reused from the cache)" if cached else "") + runs


def region_table(result: dict[str, Any]) -> str:
    """Markdown table of ``result["regions"]`` (`report.region_rows`)."""
    rows = result["regions"]
    field = next(k for k in rows[0] if k.startswith("NDCG@"))
    methods = list(rows[0][field])
    lines = [
        "| region | windows | " + " | ".join(methods) + " |",
        "|" + "---|" * (len(methods) + 2),
    ]
    for r in rows:
        name = "base" if r["region"] < 0 else str(r["region"])
        cells = [f"{r[field][m]:.4f}" for m in methods]
        lines.append(f"| {name} | {r['windows']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _figures(result: dict[str, Any]) -> dict[str, Any]:
    """{file name: matplotlib figure}: NDCG@10 per period, and RAIE's regions (seed 0)."""
    figures = {
        "ndcg_per_period.png": report.period_curves(result["curves"], result["labels"], "NDCG@10")
    }
    raie = result["raie"]
    if raie is not None:
        periods = [r.period for r in raie["history"]]
        figures["live_regions.png"] = report.live_regions(
            periods, [r.live_regions for r in raie["history"]]
        )
        figures["edit_counts.png"] = report.edit_counts(
            periods[1:], [r.counts for r in raie["history"][1:]]
        )
        figures["regions_pca.png"] = report.region_projection(
            raie["X"], raie["members"], raie["centers"], raie["ids"]
        )
    return figures


def _edits_table(history: list[Any]) -> list[str]:
    """Lines of the RAIE edits table: one row per period after setup."""
    lines = [
        "## RAIE edits (seed 0)",
        "",
        "| period | update | expand | add | added | merged | retired | live | retrained | kept |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in history[1:]:
        c = r.counts
        lines.append(
            f"| {r.period} | {c['update']} | {c['expand']} | {c['add']} | {c['added']} | "
            f"{c['merged']} | {c['retired']} | {r.live_regions} | {len(r.affected)} | "
            f"{len(r.kept)} |"
        )
    return [*lines, ""]


def report_markdown(report: dict[str, Any]) -> list[str]:
    """The text of report.md, from the JSON report (`report_json.report_record`): title,
    command, run summary, then `result_tables`; lines, "\n"-joined by the caller."""
    return [
        f"# raie bench quality — {report['preset']} preset, {report['backbone']}, "
        f"{report['dataset']}",
        "",
        f"Command: `{report['command']}`",
        "",
        run_line(report),
        "",
        f"Pipeline config hash {report['config_hash']} (seed 0; `raie setup` records the same "
        "hash for a bank built with these settings); the resolved config is in report.json.",
        "",
        *result_tables(report),
    ]


def run_line(report: dict[str, Any]) -> str:
    """'Seeds: 3; windows: {...}; backbone setup ... s per trained seed.'"""
    return f"Seeds: {report['seeds']}; windows: {report['windows']}; {backbone_line(report)}."


def result_tables(report: dict[str, Any]) -> list[str]:
    """The tables of a JSON report and their notes: means, paired differences, per region,
    cohort / others and the quality bars (those the run has)."""
    fields = [
        f
        for f in table_fields(report["preset"], report["validate"])
        if any(f in row for row in report["rows"])  # older reports lack peak_rss_mib
    ]
    lines = [
        "Mean ± sample std over seeds; full ranking over every item, context masked.",
        "",
        format_table(report["rows"], fields, markdown=True),
        "",
    ]
    paired = paired_fields(report)
    if paired:
        lines += [
            PAIRED_NOTE.format(field=report["headline"]),
            "",
            format_table(report["paired"], paired, markdown=True),
            "",
        ]
    if report["regions"]:
        lines += [REGIONS_NOTE.format(field=report["headline"]), "", region_table(report), ""]
    if report["cohort"] is not None:
        lines += cohort_report(report["cohort"])
    if report["bars"]:
        lines += [BARS_NOTE, "", *(f"* {line}" for line in format_bars(report["bars"])), ""]
    return lines


def write_report(report: dict[str, Any], result: dict[str, Any], out: Path) -> Path:
    """report.md plus PNG plots in ``out``: the text of the JSON ``report``
    (`report_markdown`), then what needs the run's live objects in ``result``
    (`runner.run_bench`): RAIE's edits table and the figures. Returns the markdown path."""
    out.mkdir(parents=True, exist_ok=True)
    figures = _figures(result)
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=110)
    lines = report_markdown(report)
    if result["raie"] is not None:
        lines += _edits_table(result["raie"]["history"])
    lines += [f"![{n}]({n})" for n in figures]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
