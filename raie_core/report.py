"""Benchmark summaries: mean ± std tables and matplotlib figures (returned, never saved here).

Figures use matplotlib's object API (`matplotlib.figure.Figure`), so no pyplot state or GUI
backend is touched; the caller saves them with an explicit path.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from raie_core.bootstrap import user_interval
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
    runs: Mapping[str, Sequence[Mapping[str, float]]],
    field: str,
    reference: str,
    subject: str,
    windows: Mapping[str, np.ndarray] | None = None,
    users: np.ndarray | None = None,
) -> list[dict[str, object]]:
    """One row per method m: {"method": m, "<field> - <reference>": m - reference,
    "<subject> - method": subject - m}, each a `paired_difference` of ``field``; a column is
    left out where it would compare a method with itself or with a method absent from runs.

    windows: method -> (seeds, n) per-window values whose mean over windows is ``field``, and
    users: (n,) their users; given both, every cell also gets the `user_interval` of the
    seed-mean per-window difference.
    """

    def pair(a: str, b: str) -> dict[str, float]:
        cell = paired_difference(runs[a], runs[b], field)
        if windows is not None and users is not None:
            diff = np.mean(windows[a], axis=0) - np.mean(windows[b], axis=0)
            cell.update(user_interval(diff, users))
        return cell

    rows: list[dict[str, object]] = []
    for method in runs:
        row: dict[str, object] = {"method": method}
        if reference in runs and method != reference:
            row[f"{field} - {reference}"] = pair(method, reference)
        if subject in runs and method != subject:
            row[f"{subject} - method"] = pair(subject, method)
        rows.append(row)
    return rows


def region_rows(
    route: np.ndarray, values: Mapping[str, np.ndarray], field: str
) -> list[dict[str, object]]:
    """Each method's mean per-window ``field`` on the windows each region served.

    route: (n,) int64 region that served each window (-1 = the base); values: method -> (n,)
    per-window values of the same windows (e.g. `metrics.ndcg_gains`). Returns one row per
    region, by id (-1 first): {"region": id, "windows": count, field: {method: mean}}.
    """
    route = np.asarray(route, dtype=np.int64)
    rows: list[dict[str, object]] = []
    for region in np.unique(route):
        rows_of = route == region
        means = {m: float(np.mean(np.asarray(v)[rows_of])) for m, v in values.items()}
        rows.append({"region": int(region), "windows": int(rows_of.sum()), field: means})
    return rows


def cohort_mask(users: np.ndarray, cohort: Collection[str]) -> np.ndarray:
    """(n,) bool: whether the user of each window, compared as text, is in ``cohort``.

    users: (n,) raw user ids (int or str); cohort: user ids as text (e.g. a cohort file's
    lines). Ids of the cohort that no window has are simply never matched.
    """
    text = np.asarray(users).astype(str)
    return np.isin(text, np.asarray(sorted(cohort), dtype=str))


def cohort_rows(
    windows: Mapping[str, np.ndarray],
    users: np.ndarray,
    cohort: np.ndarray,
    field: str,
    reference: str,
    subject: str,
) -> dict[str, dict[str, object]]:
    """Split ``field`` and its paired differences into the cohort's windows and the others'.

    windows: method -> (seeds, n) per-window values whose mean over windows is ``field`` (e.g.
    `metrics.ndcg_gains`); users: (n,) their users; cohort: (n,) bool (`cohort_mask`).
    Returns {"cohort": part, "others": part}, part = {"windows", "users", "rows"}: one row
    per method with ``field`` ({"mean", "std"} over seeds of the part's mean, and the
    `user_interval` of the seed-mean per-window value: "low", "high") and the part's
    `paired_rows` cells ("<field> - <reference>", "<subject> - method"); no rows for a part
    without windows.
    """
    users = np.asarray(users)
    cohort = np.asarray(cohort, dtype=bool)
    if cohort.shape != users.shape:
        raise RaieConfigError(f"cohort {cohort.shape} and users {users.shape} should be equal")
    return {
        "cohort": _cohort_part(windows, users, cohort, field, reference, subject),
        "others": _cohort_part(windows, users, ~cohort, field, reference, subject),
    }


def _cohort_part(
    windows: Mapping[str, np.ndarray],
    users: np.ndarray,
    keep: np.ndarray,
    field: str,
    reference: str,
    subject: str,
) -> dict[str, object]:
    kept = {m: np.asarray(v, dtype=np.float64)[:, keep] for m, v in windows.items()}
    rows: list[dict[str, object]] = []
    part: dict[str, object] = {
        "windows": int(keep.sum()),
        "users": int(np.unique(users[keep]).size),
        "rows": rows,
    }
    if not keep.any():
        return part
    runs = {m: [{field: float(seed.mean())} for seed in v] for m, v in kept.items()}
    paired = paired_rows(runs, field, reference, subject, windows=kept, users=users[keep])
    for summary, pair in zip(summarize(runs), paired, strict=True):
        cell = dict(summary[field])  # type: ignore[call-overload]
        cell.update(user_interval(kept[str(summary["method"])].mean(axis=0), users[keep]))
        rows.append({**pair, field: cell})
    return part


def cohort_routes(route: np.ndarray, cohort: np.ndarray) -> dict[str, object]:
    """How the cohort's windows were routed.

    route: (n,) int64 region that served each window (-1 = the base); cohort: (n,) bool.
    Returns {"windows", "cohort_windows", "cohort_share" (of all windows), "to_base" (cohort
    windows served by the base), "base_share" (of the cohort's windows; None without any),
    "others_base_share" (the same for the other windows), "regions": one row per region by
    id (-1 first): {"region", "windows", "cohort" (its cohort windows), "share" (of its
    windows)}}.
    """
    route = np.asarray(route, dtype=np.int64)
    cohort = np.asarray(cohort, dtype=bool)
    if route.shape != cohort.shape:
        raise RaieConfigError(f"route {route.shape} and cohort {cohort.shape} should be equal")
    base = route < 0
    n_cohort, n_others = int(cohort.sum()), int((~cohort).sum())
    regions = []
    for region in np.unique(route):
        served = route == region
        inside = int((served & cohort).sum())
        regions.append(
            {
                "region": int(region),
                "windows": int(served.sum()),
                "cohort": inside,
                "share": inside / int(served.sum()),
            }
        )
    return {
        "windows": int(route.size),
        "cohort_windows": n_cohort,
        "cohort_share": n_cohort / route.size if route.size else None,
        "to_base": int((base & cohort).sum()),
        "base_share": int((base & cohort).sum()) / n_cohort if n_cohort else None,
        "others_base_share": int((base & ~cohort).sum()) / n_others if n_others else None,
        "regions": regions,
    }


def format_table(
    rows: Sequence[Mapping[str, object]], fields: Sequence[str], markdown: bool = False
) -> str:
    """A fixed-width (or markdown) table: method, then each field's cell (see `cell_text`)."""
    head = ["method", *fields]
    body = [[str(r["method"]), *(cell_text(r.get(f)) for f in fields)] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(b) + " |" for b in body])
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(x, widths, strict=True)) for x in [head, *body]
    )


def cell_text(value: object) -> str:
    """Cell text: "mean ± std", a paired difference "+mean ± se (ahead/seeds)", either with
    its user interval "[low, high]" when it has one; "-" if absent."""
    if not isinstance(value, Mapping):
        return "-"
    if "se" in value:
        mean = _signed(float(value["mean"]))
        text = f"{mean} ± {value['se']:.4f} ({value['ahead']}/{value['seeds']})"
        if "low" in value:
            text += f" [{_signed(float(value['low']))}, {_signed(float(value['high']))}]"
        return text
    mean, std = float(value["mean"]), float(value["std"])
    digits = 1 if abs(mean) >= 10 else 4
    text = f"{mean:.{digits}f} ± {std:.{digits}f}"
    if "low" in value:
        text += f" [{float(value['low']):.{digits}f}, {float(value['high']):.{digits}f}]"
    return text


def _signed(value: float) -> str:
    """ "+0.0012" / "-0.0012"; + 0.0 so a tiny negative prints "+0.0000", not "-0.0000"."""
    return f"{round(value, 4) + 0.0:+.4f}"


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


def nightly_figure(
    labels: Sequence[str],
    champion: np.ndarray,
    base: np.ndarray,
    retention: np.ndarray,
    reference: float,
    edits: Sequence[Mapping[str, int]],
    promoted: Sequence[bool],
) -> Figure:
    """Three panels over P periods: prequential NDCG@10 of the serving champion and the base
    (P,), the candidate's held-out retention NDCG@10 (P,) against the setup ``reference``
    (rejected candidates marked x), and the Update / Expand / Add decisions per period."""
    fig = Figure(figsize=(9, 8))
    top, mid, low = fig.subplots(3, 1, sharex=True)
    x = np.arange(len(labels))
    top.plot(x, champion, marker="o", label="champion")
    top.plot(x, base, marker="s", label="unchanged base")
    top.set_ylabel("prequential NDCG@10")
    top.legend(fontsize=8)
    kept = np.asarray(promoted, dtype=bool)
    mid.plot(x, retention, color="grey", lw=1)
    mid.scatter(x[kept], retention[kept], marker="o", label="promoted")
    mid.scatter(x[~kept], retention[~kept], marker="x", c="red", label="rejected")
    mid.axhline(reference, ls="--", c="black", lw=1, label="setup base")
    mid.set_ylabel("held-out retention NDCG@10")
    mid.legend(fontsize=8)
    bottom = np.zeros(len(labels))
    for action in EDIT_ACTIONS:
        values = np.asarray([e.get(action.upper(), 0) for e in edits], dtype=np.float64)
        low.bar(x, values, bottom=bottom, label=action)
        bottom += values
    low.set_ylabel("edits (windows)")
    low.legend(fontsize=8)
    low.set_xticks(x, labels, rotation=45, ha="right", fontsize=7)
    fig.suptitle("Nightly updates per period")
    fig.tight_layout()
    return fig
