"""Tasks that fit, score and edit the preference regions of a dataset (DESIGN §4)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
from prefect import task
from safetensors.numpy import load_file, save_file

from raie_core.adapters import AdapterConfig, WarmStart
from raie_core.evaluation import drift_summary, parent_region
from raie_core.regions import Action, Decisions, RegionConfig, load_regions, save_regions
from raie_core.update import RegionPlan, fit_setup, plan_period
from tasks.models import load_embeddings
from tasks.store import Store

REGIONS_DIR = "regions"


@dataclass(frozen=True)
class EditSummary:
    """What one period's edit did, with the paths of its persisted outputs.

    warm_starts: affected region -> (WarmStart value, source region or None), the plan's.
    """

    regions_path: str
    decisions_path: str
    sets_path: str
    counts: dict[str, int]
    affected: list[int]
    added: list[int]
    merged: list[tuple[int, int]]
    retired: list[int]
    live_ids: list[int]
    parents: dict[int, int | None] = field(default_factory=dict)
    sample_counts: dict[int, dict[str, int]] = field(default_factory=dict)
    drift: dict[str, float] = field(default_factory=dict)
    warm_starts: dict[int, tuple[str, int | None]] = field(default_factory=dict)


@task(name="fit-regions")
def fit_setup_regions(store: Store, embeddings: str, config: RegionConfig, seed: int) -> str:
    """Spherical k-means of the setup keys; returns the saved regions folder (work area)."""
    X, keys = load_embeddings(embeddings)
    return str(
        save_regions(fit_setup(X, keys, config, seed), store.work_dir("setup") / REGIONS_DIR)
    )


@task(name="edit-regions")
def edit_period_regions(
    store: Store,
    regions_path: str,
    embeddings: str,
    region_config: RegionConfig,
    adapter_config: AdapterConfig,
    period_index: int,
    trained: list[int],
    seed: int,
    work_key: str,
) -> EditSummary:
    """`plan_period` (drift scoring, gating, growth / merge / retire, training sets, warm
    starts) on the period's keys; persists the regions, decisions and plans."""
    X, keys = load_embeddings(embeddings)
    previous = load_regions(regions_path)
    plan = plan_period(
        previous, X, keys, region_config, adapter_config, period_index, trained, seed
    )
    result = plan.edit
    out = store.work_dir(work_key)
    new_path = save_regions(result.regions, out / REGIONS_DIR)
    decisions_path = out / "decisions.parquet"
    decision_table(result.decisions).write_parquet(decisions_path)
    sets_path = out / "training_sets.safetensors"
    save_plans(plan.plans, sets_path)
    return EditSummary(
        regions_path=str(new_path),
        decisions_path=str(decisions_path),
        sets_path=str(sets_path),
        counts={a.name: n for a, n in result.decisions.counts().items()},
        affected=list(plan.affected),
        added=list(result.added),
        merged=[tuple(p) for p in result.merged],
        retired=list(result.retired),
        live_ids=[int(i) for i in result.regions.live_ids],
        parents={
            rid: parent_region(previous, result.regions.center[result.regions.row(rid)])
            for rid in result.added
        },
        sample_counts={p.region_id: {"new": p.n_new, "total": len(p.keys)} for p in plan.plans},
        drift=drift_summary(result.decisions),
        warm_starts={p.region_id: (p.warm_start.value, p.source_region) for p in plan.plans},
    )


def decision_table(dec: Decisions) -> pl.DataFrame:
    """One row per sample: key, action, k1, k2, angle (degrees), p1, p2, weight."""
    return pl.DataFrame(
        {
            "key": dec.keys,
            "action": [Action(a).name for a in dec.action],
            "k1": dec.k1,
            "k2": dec.k2,
            "angle_deg": np.degrees(dec.angle),
            "p1": dec.p1,
            "p2": dec.p2,
            "weight": dec.weight,
        }
    )


def save_plans(plans: tuple[RegionPlan, ...], path: Path) -> None:
    """The affected regions' training rows (keys, weights, source) as one safetensors file."""
    arrays = {}
    for one in plans:
        rid = one.region_id
        arrays |= {
            f"keys_{rid}": one.keys,
            f"weights_{rid}": one.weights.astype(np.float32),
            f"source_{rid}": one.source.astype(np.int8),
        }
    save_file(arrays, str(path))


def region_plan(summary: EditSummary, region_id: int) -> RegionPlan:
    """One affected region's training plan, as `edit_period_regions` saved it."""
    arrays = load_file(summary.sets_path)
    start, source = summary.warm_starts[region_id]
    return RegionPlan(
        region_id=region_id,
        keys=arrays[f"keys_{region_id}"],
        weights=arrays[f"weights_{region_id}"],
        source=arrays[f"source_{region_id}"],
        warm_start=WarmStart(start),
        source_region=source,
    )


def region_table(regions_path: str) -> list[dict]:
    """The region table (id, status, count, kappa, radius, ...) for reports."""
    return load_regions(regions_path).table()


def copy_regions(regions_path: str, target: Path) -> None:
    """Copy a saved regions folder into a bank draft (JSON + safetensors)."""
    save_regions(load_regions(regions_path), target)


def regions_json(regions_path: str) -> str:
    return json.dumps(region_table(regions_path))
