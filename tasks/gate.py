"""Tasks of the nightly quality gate and of its per-week report (DESIGN §7, issue 17).

`judge_candidate` pairs the per-window ranks saved by `tasks.evaluate.rank_windows` and calls
`raie_core.gate`; `weekly_rows` / `backfill_summary` read every published version back for
the demo's summary, `raie status` and the per-week plot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from prefect import task

from raie_core.gate import GateConfig, compare, decide, paired_summary
from raie_core.report import nightly_figure
from tasks.evaluate import Ranked, load_ranks
from tasks.store import Store
from tasks.windows import Recency, load_rows, load_windows

PREQUENTIAL_FILE = "prequential.parquet"
"""Per-window ranks of the champion and the base on a period's windows, in its bank version."""
PLOT_FILE = "nightly.png"


@dataclass(frozen=True)
class GateInputs:
    """Ranks the gate pairs: the candidate, champion and base on the held-out setup windows,
    the champion on the whole period (prequential) and the candidate on its recency slice."""

    candidate_retention: Ranked
    champion_retention: Ranked
    base_retention: Ranked
    champion_prequential: Ranked
    candidate_recency: Ranked | None = None
    recency: Recency | None = None


@task(name="judge-candidate")
def judge_candidate(config: GateConfig, inputs: GateInputs) -> dict:
    """The gate's decision record (`GateDecision.to_record`): passed, reason, intervals."""
    heldout_users = load_windows(inputs.candidate_retention.windows.path).user
    candidate = load_ranks(inputs.candidate_retention)
    checks = [
        compare(
            "retention", candidate, load_ranks(inputs.champion_retention), heldout_users, config
        ),
        compare("anchor", candidate, load_ranks(inputs.base_retention), heldout_users, config),
    ]
    if inputs.recency is not None and inputs.candidate_recency is not None:
        champion = load_ranks(inputs.champion_prequential)[load_rows(inputs.recency.rows_path)]
        users = load_windows(inputs.recency.windows.path).user
        checks.append(
            compare("recency", load_ranks(inputs.candidate_recency), champion, users, config)
        )
    return decide(checks).to_record()


@task(name="prequential-table")
def prequential_table(store: Store, champion: Ranked, base: Ranked, work_key: str) -> str:
    """Write the champion's and the base's per-window ranks with the window's user (a
    parquet the bank version keeps, so a backfill's paired interval can be computed later)."""
    out = str(store.work_dir(work_key) / PREQUENTIAL_FILE)
    users = load_windows(champion.windows.path).user
    pl.DataFrame(
        {
            "user": [str(u) for u in users],
            "champion_rank": load_ranks(champion),
            "base_rank": load_ranks(base),
        }
    ).write_parquet(out)
    return out


def weekly_rows(store: Store) -> list[dict]:
    """One row per published period version: period, version, windows, prequential NDCG@10
    of the serving champion and the base, candidate retention, gate decision and edits."""
    rows = []
    for version in store.versions():
        manifest = store.read_manifest(version)
        if manifest.period.startswith("setup") or not manifest.decisions:
            continue
        m, gate = manifest.metrics, manifest.quality_gate
        rows.append(
            {
                "period": manifest.period,
                "version": version,
                "windows": int(m.get("prequential.windows", 0)),
                "champion": m.get("prequential.NDCG@10"),
                "base": m.get("base.NDCG@10"),
                "retention": m.get("retention.NDCG@10"),
                "passed": bool(gate.get("passed")),
                "reason": gate.get("reason", ""),
                "anchor": gate.get("anchor", {}),
                "edits": dict(manifest.decisions),
            }
        )
    return rows


def backfill_summary(store: Store, config: GateConfig) -> dict:
    """Champion vs base prequential NDCG@k over every published period, paired per window
    with a user interval (`paired_summary`: a = champion, b = base); {} before any period."""
    parts = [
        pl.read_parquet(store.bank_dir(v) / PREQUENTIAL_FILE)
        for v in store.versions()
        if (store.bank_dir(v) / PREQUENTIAL_FILE).is_file()
    ]
    if not parts:
        return {}
    table = pl.concat(parts)
    return paired_summary(
        table["champion_rank"].to_numpy(),
        table["base_rank"].to_numpy(),
        table["user"].to_numpy(),
        config,
    )


@task(name="weekly-plot")
def weekly_plot(store: Store, reference: float, work_key: str) -> str | None:
    """`write_weekly_plot` into the period's work area (`plots/`); returns that folder."""
    path = write_weekly_plot(store, reference, str(store.work_dir(work_key) / "plots"))
    return None if path is None else str(Path(path).parent)


def write_weekly_plot(store: Store, reference: float, out_dir: str) -> str | None:
    """Write `nightly.png` (champion vs base, retention, edits per period) into ``out_dir``;
    reference: the base's held-out NDCG@10 (setup). None before any period."""
    rows = weekly_rows(store)
    if not rows:
        return None
    fig = nightly_figure(
        [r["period"] for r in rows],
        np.array([r["champion"] for r in rows], dtype=np.float64),
        np.array([r["base"] for r in rows], dtype=np.float64),
        np.array([r["retention"] for r in rows], dtype=np.float64),
        reference,
        [r["edits"] for r in rows],
        [r["passed"] for r in rows],
    )
    path = Path(out_dir) / PLOT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return str(path)
