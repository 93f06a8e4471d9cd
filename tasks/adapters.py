"""Tasks that train one region's LoRA adapter and store it as a new immutable version."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from prefect import task

from raie_core.adapters import (
    AdapterConfig,
    AdapterTrainingSet,
    RegionAdapters,
    adapter_name,
    train_adapter,
    warm_start_for,
)
from raie_core.regions import SampleSource
from tasks.models import load_base
from tasks.regions import EditSummary, training_set
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
    """Train region ``region_id`` on its new samples + replay; stage it as a new version."""
    bank = RegionAdapters(load_base(store), config)
    warm, source = warm_start_for(region_id, set(previous), summary.parents.get(region_id))
    if source is not None:
        bank.load_adapter(adapter_name(source), store.adapter_path(previous[source]))
    keys, weights, origin = training_set(summary, region_id)
    windows = windows_for_keys(store, keys)
    replay = origin == SampleSource.REPLAY
    data = AdapterTrainingSet(windows.context, windows.target, weights, replay, windows.timestamp)
    name = adapter_name(region_id)
    result = train_adapter(
        bank,
        name,
        data,
        seed + region_id,
        warm_start=warm,
        source=None if source is None else adapter_name(source),
    )
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
        warm_start=warm.value,
        source_region=source,
        epochs=result.epochs,
        best_epoch=result.best_epoch,
        train_loss=float(result.train_losses[-1]),
        val_loss=min(result.val_losses, default=float("nan")),
        n_new=int((~replay).sum()),
        n_replay=int(replay.sum()),
    )


def load_bank_adapters(
    store: Store, config: AdapterConfig, adapters: dict[int, str]
) -> RegionAdapters:
    """A RegionAdapters holding the given region -> stored adapter folder map."""
    bank = RegionAdapters(load_base(store), config)
    for region_id, rel in sorted(adapters.items()):
        bank.load_adapter(adapter_name(region_id), store.adapter_path(rel))
    return bank
