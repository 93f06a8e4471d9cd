"""Benchmark summaries: mean ± std tables and matplotlib figures (returned, never saved here).

Figures use matplotlib's object API (`matplotlib.figure.Figure`), so no pyplot state or GUI
backend is touched; the caller saves them with an explicit path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from raie_core.errors import RaieConfigError

EDIT_ACTIONS = ("update", "expand", "add")


def mean_std(values: Sequence[float]) -> dict[str, float]:
    """{"mean", "std"} of values; std is the sample std (ddof 1), 0 for a single value."""
    if len(values) == 0:
        raise RaieConfigError("values should not be empty")
    arr = np.asarray(values, dtype=np.float64)
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return {"mean": float(arr.mean()), "std": std}


def summarize(runs: Mapping[str, Sequence[Mapping[str, float]]]) -> list[dict[str, object]]:
    """One row per method: {"method": name, field: {"mean", "std"}} over its seeds' records.

    runs: method -> one {field: value} record per seed (every record of a method has the
    same fields, e.g. "T_NDCG@10", "wall_s").
    """
    rows: list[dict[str, object]] = []
    for method, records in runs.items():
        row: dict[str, object] = {"method": method}
        for name in records[0]:
            row[name] = mean_std([r[name] for r in records])
        rows.append(row)
    return rows


def paired_difference(
    a: Sequence[Mapping[str, float]], b: Sequence[Mapping[str, float]], field: str
) -> dict[str, float]:
    """Per-seed difference a - b of ``field`` (records of the same seeds, in the same order).

    Returns {"mean", "se" (standard error of the mean difference, 0 for one seed), "ahead"
    (seeds where a > b), "seeds"}. Seeds share a backbone, so the paired difference is far
    less noisy than comparing two means ± std.
    """
    if len(a) != len(b) or not a:
        raise RaieConfigError(
            f"paired records should cover the same seeds, got {len(a)} and {len(b)}"
        )
    diff = np.array([x[field] - y[field] for x, y in zip(a, b, strict=True)], dtype=np.float64)
    se = float(diff.std(ddof=1) / np.sqrt(diff.size)) if diff.size > 1 else 0.0
    return {
        "mean": float(diff.mean()),
        "se": se,
        "ahead": int(np.count_nonzero(diff > 0)),
        "seeds": int(diff.size),
    }


def paired_rows(
    runs: Mapping[str, Sequence[Mapping[str, float]]], field: str, reference: str, subject: str
) -> list[dict[str, object]]:
    """One row per method m: {"method": m, "<field> - <reference>": m - reference,
    "<subject> - method": subject - m}, each a `paired_difference` of ``field``; a column is
    left out where it would compare a method with itself or with a method absent from runs."""
    rows: list[dict[str, object]] = []
    for method, records in runs.items():
        row: dict[str, object] = {"method": method}
        if reference in runs and method != reference:
            row[f"{field} - {reference}"] = paired_difference(records, runs[reference], field)
        if subject in runs and method != subject:
            row[f"{subject} - method"] = paired_difference(runs[subject], records, field)
        rows.append(row)
    return rows


def format_table(
    rows: Sequence[Mapping[str, object]], fields: Sequence[str], markdown: bool = False
) -> str:
    """A fixed-width (or markdown) table: method, then each field's cell (see `_cell`)."""
    head = ["method", *fields]
    body = [[str(r["method"]), *(_cell(r.get(f)) for f in fields)] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(b) + " |" for b in body])
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(x, widths, strict=True)) for x in [head, *body]
    )


def _cell(value: object) -> str:
    """Cell text: "mean ± std", a paired difference "+mean ± se (ahead/seeds)", "-" if absent."""
    if not isinstance(value, Mapping):
        return "-"
    if "se" in value:
        mean = round(float(value["mean"]), 4) + 0.0  # + 0.0: no "-0.0000" for a tiny negative
        return f"{mean:+.4f} ± {value['se']:.4f} ({value['ahead']}/{value['seeds']})"
    mean, std = float(value["mean"]), float(value["std"])
    digits = 1 if abs(mean) >= 10 else 4
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def period_curves(
    curves: Mapping[str, Sequence[float]], labels: Sequence[str], metric: str
) -> Figure:
    """One line per method over periods: curves method -> (P,) metric per period."""
    fig = Figure(figsize=(8, 4))
    ax = fig.add_subplot()
    x = np.arange(len(labels))
    for method, values in curves.items():
        ax.plot(x, np.asarray(values, dtype=np.float64), marker="o", label=method)
    ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per period")
    ax.legend(fontsize=7, ncols=2)
    fig.tight_layout()
    return fig


def live_regions(periods: Sequence[int], live: Sequence[int]) -> Figure:
    """Live region count after setup (period 0) and after each update."""
    fig = Figure(figsize=(6, 3))
    ax = fig.add_subplot()
    ax.step(periods, live, where="post", marker="o")
    ax.set_xlabel("update period")
    ax.set_ylabel("live regions")
    ax.set_title("Live regions over time")
    fig.tight_layout()
    return fig


def edit_counts(periods: Sequence[int], counts: Sequence[Mapping[str, int]]) -> Figure:
    """Stacked bars of Update / Expand / Add decisions per update period."""
    fig = Figure(figsize=(7, 3.5))
    ax = fig.add_subplot()
    bottom = np.zeros(len(periods))
    for action in EDIT_ACTIONS:
        values = np.asarray([c.get(action, 0) for c in counts], dtype=np.float64)
        ax.bar(periods, values, bottom=bottom, label=action)
        bottom += values
    ax.set_xlabel("update period")
    ax.set_ylabel("samples")
    ax.set_title("Edit decisions per period")
    ax.legend()
    fig.tight_layout()
    return fig


def region_projection(
    X: np.ndarray, members: np.ndarray, centers: np.ndarray, ids: np.ndarray
) -> Figure:
    """2-D PCA of routing keys X (n, d) coloured by region (members (n,), -1 = base) with the
    region centers (K, d) as stars labelled by id (K,)."""
    both = np.concatenate([X, centers]).astype(np.float64)
    mean = both[: len(X)].mean(axis=0)
    _, _, vt = np.linalg.svd(both[: len(X)] - mean, full_matrices=False)
    proj = (both - mean) @ vt[:2].T
    fig = Figure(figsize=(6, 5))
    ax = fig.add_subplot()
    for region in np.unique(members):
        pts = proj[: len(X)][members == region]
        ax.scatter(
            pts[:, 0], pts[:, 1], s=4, alpha=0.4, label="base" if region < 0 else f"region {region}"
        )
    ax.scatter(proj[len(X) :, 0], proj[len(X) :, 1], marker="*", s=200, c="black")
    for rid, (px, py) in zip(ids, proj[len(X) :], strict=True):
        ax.annotate(str(int(rid)), (px, py), fontsize=9, xytext=(4, 4), textcoords="offset points")
    ax.set_title("Region centers and members (PCA)")
    ax.legend(fontsize=7, markerscale=3)
    fig.tight_layout()
    return fig
