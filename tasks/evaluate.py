"""Evaluation tasks: a bank (regions + adapters over the frozen base) on a window file."""

from __future__ import annotations

from dataclasses import dataclass

from prefect import task

from raie_core.adapters import AdapterConfig
from raie_core.evaluation import evaluate_bank
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
    backbone = load_base(store)
    data = load_windows(windows.path)
    if spec.regions_path is None or not spec.adapters:
        result = evaluate_bank(backbone, data)
    else:
        result = evaluate_bank(
            backbone,
            data,
            load_regions(spec.regions_path),
            load_bank_adapters(store, adapter_config, spec.adapters),
            region_config,
        )
    return {**result.metrics, "routed_share": result.routed_share, "windows": float(len(data))}
