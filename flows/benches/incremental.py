"""The incremental cost of a nightly update: train the affected regions vs every live region.

On a copy of a prepared home the period's windows are edited once to learn their
routing; the windows gated Update into the ``round(K/3)`` regions with the most of them are
kept and edited again, so that those regions alone are affected. ``affected_wall_s`` trains
the affected regions' adapters (the task `train_region_adapter`), ``all_wall_s`` trains every
live region's adapter: affected regions on their identical sets, the others on a draw from
their own reservoir of the affected regions' mean set size (treated as new samples, so they
get the same validation split and early stopping).
``incremental_ratio = affected_wall_s / all_wall_s``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from raie_core.data import Period


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    """(wall seconds, value) of ``call()``."""
    started = time.perf_counter()
    value = call()
    return time.perf_counter() - started, value


def focus_batch(
    store: Any, embeddings: str, decisions_path: str, n_focus: int
) -> tuple[str, list[int]]:
    """Embeddings of the windows gated Update into the ``n_focus`` regions with most of them.

    Returns the saved (X, keys) file and the chosen region ids (ascending).
    """
    from safetensors.numpy import save_file

    from tasks.models import load_embeddings

    updates = pl.read_parquet(decisions_path).filter(pl.col("action") == "UPDATE")
    top = updates.group_by("k1").len().sort(["len", "k1"], descending=[True, False])
    chosen = sorted(int(k) for k in top["k1"].head(n_focus))
    kept = updates.filter(pl.col("k1").is_in(chosen))["key"].to_numpy()
    X, keys = load_embeddings(embeddings)
    mask = np.isin(keys, kept)
    path = store.work_dir("bench-focus") / "embeddings.safetensors"
    save_file({"X": np.ascontiguousarray(X[mask]), "keys": keys[mask]}, str(path))
    return str(path), chosen


def all_region_sets(summary: Any, trained: list[int], seed: int) -> Any:
    """``summary`` with a training set for every live region (all of them affected).

    Affected regions keep their sets; each other region is retrained on its own data: a
    seeded draw from its reservoir of the affected regions' mean set size (all of it when
    smaller), marked NEW so that it gets a validation split and early stopping like the
    affected regions (all-replay sets would always run every epoch), warm-started by the
    one rule (`raie_core.update.warm_start`; ``trained``: regions with an adapter).
    """
    from safetensors.numpy import load_file, save_file

    from raie_core.regions import SampleSource, load_regions
    from raie_core.update import warm_start

    arrays = load_file(summary.sets_path)
    sizes = [arrays[f"keys_{rid}"].size for rid in summary.affected]
    want = int(round(float(np.mean(sizes)))) if sizes else 0
    regions = load_regions(summary.regions_path)
    starts = dict(summary.warm_starts)
    for rid in summary.live_ids:
        if rid in summary.affected:
            continue
        pool = regions.reservoir(rid)
        rng = np.random.default_rng([seed, rid])
        keys = np.sort(rng.choice(pool, size=min(want, pool.size), replace=False)).astype(np.int64)
        arrays |= {
            f"keys_{rid}": keys,
            f"weights_{rid}": np.ones(keys.size, dtype=np.float32),
            f"source_{rid}": np.full(keys.size, SampleSource.NEW, dtype=np.int8),
        }
        start, source = warm_start(regions, rid, trained)
        starts[rid] = (start.value, source)
    path = Path(summary.sets_path).with_name("all_training_sets.safetensors")
    save_file(arrays, str(path))
    return dataclasses.replace(
        summary, sets_path=str(path), affected=sorted(summary.live_ids), warm_starts=starts
    )


def measure_incremental(home: str, dataset: str, period: Period, seed: int) -> dict[str, Any]:
    """Train the affected regions' adapters vs every live region's (one prepared copy)."""
    from flows.params import stored_config
    from raie_core.regions import load_regions
    from raie_core.sharing import SHARED_KEY
    from tasks.adapters import train_region_adapter, train_shared_adapter
    from tasks.bank import bank_spec
    from tasks.models import embed_windows, load_base
    from tasks.regions import edit_period_regions
    from tasks.store import Store
    from tasks.windows import build_period_windows

    store = Store(Path(home), dataset)
    config = stored_config(store)
    with store.lock():
        history = store.history()
        current = history[-1]
        regions_path = bank_spec(store, current).regions_path
        windows = build_period_windows.fn(store, period, config.protocol, load_base(store).vocab)
        keys = embed_windows.fn(store, windows).path
        trained = sorted(current.adapters)
        edit = (config.regions, config.adapters, len(history), trained, seed)
        probe = edit_period_regions.fn(store, regions_path, keys, *edit, "bench-probe")
        n_focus = max(1, round(len(load_regions(regions_path).live_ids) / 3))
        focus, chosen = focus_batch(store, keys, probe.decisions_path, n_focus)
        summary = edit_period_regions.fn(store, regions_path, focus, *edit, "bench-edit")

        sources = dict(current.adapters)  # the shared step is common to both measures
        if config.adapters.sharing.shared:
            previous = current.adapters.get(SHARED_KEY)
            shared = train_shared_adapter.fn(store, config.adapters, windows, previous, seed)
            sources[SHARED_KEY] = str(shared.path)

        def train(target: Any) -> list[Any]:
            return [
                train_region_adapter.fn(store, config.adapters, target, rid, sources, seed)
                for rid in target.affected
            ]

        affected_s, trained = timed(lambda: train(summary))
        everything = all_region_sets(summary, sorted(current.adapters), seed)
        all_s, _ = timed(lambda: train(everything))
    return {
        "period_windows": windows.rows,
        "focus_windows": int(sum(summary.counts.values())),
        "chosen": chosen,
        "affected_ids": list(summary.affected),
        "affected": len(summary.affected),
        "live": len(summary.live_ids),
        "affected_samples": int(sum(i.n_new + i.n_replay for i in trained)),
        "affected_wall_s": affected_s,
        "all_wall_s": all_s,
        "incremental_ratio": affected_s / all_s if all_s > 0 else float("nan"),
    }
