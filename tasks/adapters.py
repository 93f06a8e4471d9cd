"""Tasks that train one region's LoRA adapter and store it as a new immutable version."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from prefect import task

from raie_core.adapters import AdapterConfig, RegionAdapters, adapter_name
from raie_core.update import train_region
from tasks.models import load_base
from tasks.regions import EditSummary, region_plan
from tasks.store import Store
from tasks.windows import windows_for_keys


@dataclass(frozen=True)
class AdapterInfo:
    """A trained adapter version and how it was trained (lineage tags, metrics)."""

    region_id: int
    path: str
    version: int
    digest: str
    warm_start: str
    source_region: int | None
    epochs: int
    best_epoch: int
    train_loss: float
    val_loss: float
    n_new: int
    n_replay: int


@task(name="train-region-adapter")
def train_region_adapter(
    store: Store,
    config: AdapterConfig,
    summary: EditSummary,
    region_id: int,
    previous: dict[int, str],
    seed: int,
) -> AdapterInfo:
    """`train_region` on the region's saved plan (its source adapter loaded from the previous
    bank version, its rows fetched by sample key); stages the result as a new version."""
    plan = region_plan(summary, region_id)
    bank = RegionAdapters(load_base(store), config)
    if plan.source_region is not None:
        bank.load_adapter(
            adapter_name(plan.source_region), store.adapter_path(previous[plan.source_region])
        )
    result = train_region(bank, plan, windows_for_keys(store, plan.keys), seed)
    name = adapter_name(region_id)
    with store.stage_adapter(region_id) as draft:
        bank.model.save_pretrained(
            str(draft.dir), selected_adapters=[name], save_embedding_layers=False
        )
        for file in (draft.dir / name).iterdir():
            file.rename(draft.dir / file.name)
        shutil.rmtree(draft.dir / name)
    ref = draft.ref
    return AdapterInfo(
        region_id=region_id,
        path=ref.path,
        version=ref.version,
        digest=ref.digest,
        warm_start=plan.warm_start.value,
        source_region=plan.source_region,
        epochs=result.epochs,
        best_epoch=result.best_epoch,
        train_loss=float(result.train_losses[-1]),
        val_loss=min(result.val_losses, default=float("nan")),
        n_new=plan.n_new,
        n_replay=plan.n_replay,
    )


def load_bank_adapters(
    store: Store, config: AdapterConfig, adapters: dict[int, str]
) -> RegionAdapters:
    """A RegionAdapters holding the given region -> stored adapter folder map."""
    bank = RegionAdapters(load_base(store), config)
    for region_id, rel in sorted(adapters.items()):
        bank.load_adapter(adapter_name(region_id), store.adapter_path(rel))
    return bank
