"""Evaluation tasks: a bank (regions + adapters over the frozen base) on a window file."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from prefect import task
from safetensors.numpy import load_file, save_file

from raie_core.adapters import AdapterConfig
from raie_core.evaluation import Evaluation, evaluate_bank
from raie_core.regions import RegionConfig, load_regions
from tasks.adapters import load_bank_adapters
from tasks.models import load_base
from tasks.store import Store
from tasks.windows import WindowsRef, load_windows


@dataclass(frozen=True)
class BankSpec:
    """What to evaluate: a regions folder (None = base only) and region -> adapter folders."""

    regions_path: str | None
    adapters: dict[int, str]


@task(name="evaluate")
def evaluate(
    store: Store,
    spec: BankSpec,
    windows: WindowsRef,
    adapter_config: AdapterConfig,
    region_config: RegionConfig,
) -> dict[str, float]:
    """Recall/NDCG@{5,10,20} of the routed bank on the windows, plus its routed share."""
    return _metrics(_evaluate(store, spec, windows, adapter_config, region_config))


@dataclass(frozen=True)
class Ranked:
    """A bank's per-window target ranks on a window file (saved at ``path``, safetensors
    "ranks" (n,) int64 0-based and "route" (n,) int64), and the `evaluate` metrics."""

    path: str
    windows: WindowsRef
    metrics: dict[str, float]


@task(name="rank-windows")
def rank_windows(
    store: Store,
    spec: BankSpec,
    windows: WindowsRef,
    adapter_config: AdapterConfig,
    region_config: RegionConfig,
    work_key: str,
    name: str,
) -> Ranked:
    """`evaluate`, keeping the per-window ranks in ``work/<work_key>/<name>.ranks.safetensors``
    (the gate pairs them window by window)."""
    result = _evaluate(store, spec, windows, adapter_config, region_config)
    out = str(store.work_dir(work_key) / f"{name}.ranks.safetensors")
    save_file({"ranks": result.ranks, "route": result.route}, out)
    return Ranked(out, windows, _metrics(result))


def load_ranks(ranked: Ranked) -> np.ndarray:
    """(n,) int64 ranks saved by `rank_windows`."""
    return load_file(ranked.path)["ranks"]


def _evaluate(
    store: Store,
    spec: BankSpec,
    windows: WindowsRef,
    adapter_config: AdapterConfig,
    region_config: RegionConfig,
) -> Evaluation:
    backbone = load_base(store)
    data = load_windows(windows.path)
    if spec.regions_path is None or not spec.adapters:
        return evaluate_bank(backbone, data)
    return evaluate_bank(
        backbone,
        data,
        load_regions(spec.regions_path),
        load_bank_adapters(store, adapter_config, spec.adapters),
        region_config,
    )


def _metrics(result: Evaluation) -> dict[str, float]:
    return {
        **result.metrics,
        "routed_share": result.routed_share,
        "windows": float(len(result.ranks)),
    }
