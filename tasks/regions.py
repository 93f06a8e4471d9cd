"""Tasks that fit, score and edit the preference regions of a dataset (DESIGN §4)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
from prefect import task
from safetensors.numpy import load_file, save_file

from raie_core.evaluation import drift_summary, parent_region
from raie_core.regions import (
    Action,
    RegionConfig,
    edit_regions,
    fit_regions,
    load_regions,
    region_training_sets,
    save_regions,
)
from tasks.models import load_embeddings
from tasks.store import Store

REGIONS_DIR = "regions"


@dataclass(frozen=True)
class EditSummary:
    """What one period's edit did, with the paths of its persisted outputs."""

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


@task(name="fit-regions")
def fit_setup_regions(store: Store, embeddings: str, config: RegionConfig, seed: int) -> str:
    """Spherical k-means of the setup keys; returns the saved regions folder (work area)."""
    X, keys = load_embeddings(embeddings)
    regions = fit_regions(X, config, seed, keys=keys, period=0)
    return str(save_regions(regions, store.work_dir("setup") / REGIONS_DIR))


@task(name="edit-regions")
def edit_period_regions(
    store: Store,
    regions_path: str,
    embeddings: str,
    config: RegionConfig,
    period_index: int,
    seed: int,
    work_key: str,
) -> EditSummary:
    """Drift scoring + Update/Expand/Add gating + growth/merge/retire + training sets."""
    X, keys = load_embeddings(embeddings)
    previous = load_regions(regions_path)
    result = edit_regions(previous, X, config, period_index, keys=keys)
    sets = region_training_sets(result, config, seed)
    out = store.work_dir(work_key)
    new_path = save_regions(result.regions, out / REGIONS_DIR)
    dec = result.decisions
    decisions_path = out / "decisions.parquet"
    pl.DataFrame(
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
    ).write_parquet(decisions_path)
    arrays = {}
    for rid in sets.affected:
        one = sets.sets[rid]
        arrays |= {
            f"keys_{rid}": one.keys,
            f"weights_{rid}": one.weights.astype(np.float32),
            f"source_{rid}": one.source.astype(np.int8),
        }
    sets_path = out / "training_sets.safetensors"
    save_file(arrays, str(sets_path))
    return EditSummary(
        regions_path=str(new_path),
        decisions_path=str(decisions_path),
        sets_path=str(sets_path),
        counts={a.name: n for a, n in dec.counts().items()},
        affected=list(sets.affected),
        added=list(result.added),
        merged=[tuple(p) for p in result.merged],
        retired=list(result.retired),
        live_ids=[int(i) for i in result.regions.live_ids],
        parents={
            rid: parent_region(previous, result.regions.center[result.regions.row(rid)])
            for rid in result.added
        },
        sample_counts={
            rid: {"new": sets.sets[rid].n_new, "total": len(sets.sets[rid].keys)}
            for rid in sets.affected
        },
        drift=drift_summary(dec),
    )


def training_set(summary: EditSummary, region_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keys, weights, source) of one affected region's training set."""
    arrays = load_file(summary.sets_path)
    return (
        arrays[f"keys_{region_id}"],
        arrays[f"weights_{region_id}"],
        arrays[f"source_{region_id}"],
    )


def region_table(regions_path: str) -> list[dict]:
    """The region table (id, status, count, kappa, radius, ...) for reports."""
    return load_regions(regions_path).table()


def copy_regions(regions_path: str, target: Path) -> None:
    """Copy a saved regions folder into a bank draft (JSON + safetensors)."""
    save_regions(load_regions(regions_path), target)


def regions_json(regions_path: str) -> str:
    return json.dumps(region_table(regions_path))
