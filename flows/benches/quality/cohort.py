"""`raie bench quality --cohort FILE`: every scored block's NDCG@10 and paired differences split
into the cohort's windows and the others' (`raie_core.report.cohort_rows`), and how RAIE
(seed 0) routed the cohort's windows of the headline block (`report.cohort_routes`); their
printout and report.md lines."""

from __future__ import annotations

from typing import Any

import numpy as np

from raie_core import report

BLOCK_ORDER = "PSTV"
"""Blocks in the order the tables show them (prequential, held-out S, T, validation)."""
REFERENCE, SUBJECT = "base", "raie"
"""The paired columns, as in the main paired table: method - base, raie - method."""
COHORT_NOTE = (
    "## Cohort / others ({file})\n\nEvery scored block's NDCG@10 and its paired "
    "differences on the windows of the cohort's users and on the others' (the cohort is the "
    "file's {ids} user ids, {found} of them evaluated here). Each cell carries its 95 % interval "
    "over the users of that part: a drifted cohort should gain where the others do not lose."
)
ROUTING_NOTE = (
    "### RAIE routing of the cohort ({block} windows, seed 0)\n\nThe share of each region's "
    "windows that are the cohort's (base = outside every band or no adapter yet)."
)


def cohort_section(
    file: str,
    ids: frozenset[str],
    windows: dict[str, dict[str, np.ndarray]],
    users: dict[str, np.ndarray],
    raie_routes: tuple[str, np.ndarray | None],
    cutoff: int,
) -> dict[str, Any]:
    """The "cohort" part of the result: {"file", "ids", "found" (ids with an evaluated window),
    "blocks": {block: {"field", "cohort", "others"}}, "routing": None without RAIE, else
    {"block", **`report.cohort_routes`}}.

    windows: block -> method -> (seeds, n) per-window NDCG@cutoff; users: block -> (n,);
    raie_routes: (headline block, its (n,) RAIE seed-0 routes or None).
    """
    blocks = {}
    seen: set[str] = set()
    for block in sorted(windows, key=BLOCK_ORDER.index):
        mask = report.cohort_mask(users[block], ids)
        seen.update(np.asarray(users[block])[mask].astype(str).tolist())
        field = f"{block}_NDCG@{cutoff}"
        parts = report.cohort_rows(windows[block], users[block], mask, field, REFERENCE, SUBJECT)
        blocks[block] = {"field": field, **parts}
    block, routes = raie_routes
    routing = None
    if routes is not None:
        mask = report.cohort_mask(users[block], ids)
        routing = {"block": block, **report.cohort_routes(routes, mask)}
    return {"file": file, "ids": len(ids), "found": len(seen), "blocks": blocks, "routing": routing}


def cohort_tables(section: dict[str, Any], markdown: bool = False) -> list[str]:
    """Per block and part: a heading line and the table of ``field``, method - base and
    raie - method (`report.format_table`)."""
    lines: list[str] = []
    for block in section["blocks"].values():
        field = block["field"]
        for part in ("cohort", "others"):
            cells = block[part]
            lines += ["", f"{field}, {part}: {cells['windows']} windows, {cells['users']} users"]
            if cells["rows"]:
                columns = [field, f"{field} - {REFERENCE}", f"{SUBJECT} - method"]
                lines += ["", report.format_table(cells["rows"], columns, markdown=markdown)]
    return lines


def routing_lines(routing: dict[str, Any], markdown: bool = False) -> list[str]:
    """The routing summary sentence and a region table (windows, cohort windows, share)."""
    summary = (
        f"cohort windows {routing['cohort_windows']} of {routing['windows']} "
        f"({_percent(routing['cohort_share'])}); served by the base: {routing['to_base']} "
        f"({_percent(routing['base_share'])} of the cohort's, "
        f"{_percent(routing['others_base_share'])} of the others')"
    )
    head = ["region", "windows", "cohort", "cohort share"]
    body = [
        [
            "base" if r["region"] < 0 else str(r["region"]),
            str(r["windows"]),
            str(r["cohort"]),
            _percent(r["share"]),
        ]
        for r in routing["regions"]
    ]
    if markdown:
        table = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        table += ["| " + " | ".join(row) + " |" for row in body]
    else:
        widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
        table = [
            "  ".join(c.ljust(w) for c, w in zip(x, widths, strict=True)) for x in [head, *body]
        ]
    return [summary, "", *table]


def cohort_report(section: dict[str, Any]) -> list[str]:
    """The report.md lines of the cohort section."""
    lines = [COHORT_NOTE.format(file=section["file"], ids=section["ids"], found=section["found"])]
    lines += cohort_tables(section, markdown=True)
    if section["routing"] is not None:
        lines += ["", ROUTING_NOTE.format(block=section["routing"]["block"]), ""]
        lines += routing_lines(section["routing"], markdown=True)
    return [*lines, ""]


def cohort_printout(section: dict[str, Any]) -> list[str]:
    """The printout lines of the cohort section."""
    lines = [
        f"\ncohort / others ({section['file']}: {section['ids']} ids, {section['found']} "
        "evaluated), NDCG@10 (mean ± std) and paired differences [95 % interval over users]"
    ]
    lines += cohort_tables(section)
    if section["routing"] is not None:
        lines += ["", f"RAIE routing of the cohort ({section['routing']['block']}, seed 0):"]
        lines += routing_lines(section["routing"])
    return lines


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.1f} %"
