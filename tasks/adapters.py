"""Tasks that train the shared adapter and one region's adapter and store each as a new
immutable version (the region's only when it is kept: promoted, or no promotion test)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from prefect import task

from raie_core.adapters import (
    GLOBAL,
    AdapterConfig,
    RegionAdapters,
    WarmStart,
    adapter_name,
)
from raie_core.errors import RaieStateError
from raie_core.rebase import is_base_folder, load_period_base, save_period_base, train_base
from raie_core.recent import RECENT, recent_step
from raie_core.regions import RegionConfig, load_regions, route
from raie_core.serving import load_region_bank
from raie_core.sharing import SHARED_KEY
from raie_core.training import TrainResult
from raie_core.update import shared_ratio, shared_training_set, train_shared, update_region
from tasks.integrity import verified_adapter
from tasks.models import load_base, load_embeddings
from tasks.regions import EditSummary, region_plan
from tasks.store import AdapterRef, Store
from tasks.windows import WindowsRef, load_windows, windows_before, windows_for_keys


@dataclass(frozen=True)
class AdapterInfo:
    """A trained adapter and how it was trained (lineage tags, metrics).

    region_id: `SHARED_KEY` for the shared adapter. kept: the adapter serves (stored as
    ``path`` / ``version`` / ``digest``); False: its region failed the promotion test, nothing
    was stored, and the shared adapter serves the region. promotion: the test's mean and
    interval of (region - shared) validation cross-entropy and its rows, or {} without a test.
    """

    region_id: int
    path: str | None
    version: int | None
    digest: str | None
    warm_start: str
    source_region: int | None
    epochs: int
    best_epoch: int
    train_loss: float
    val_loss: float
    n_new: int
    n_replay: int
    kept: bool = True
    promotion: dict[str, float] | None = None


def kept_regions(trained: list[AdapterInfo]) -> int:
    """How many of a period's trained region adapters serve (the shared one not counted)."""
    return sum(1 for info in trained if info.kept and info.region_id != SHARED_KEY)


@task(name="train-shared-adapter")
def train_shared_adapter(
    store: Store, config: AdapterConfig, windows: WindowsRef, previous: str | None, seed: int
) -> AdapterInfo:
    """`train_shared` (or `train_base` under `sharing.step: full`) on the period's windows
    plus windows replayed from the setup's and the earlier periods' (`windows_before`) at the
    config's ratio (`shared_training_set`, `shared_ratio`), continuing the previous shared
    adapter or base (folder ``previous``) or starting from zero (the setup base); stages the
    result as a new shared version."""
    bank = RegionAdapters(load_base(store), config)
    if previous is not None:
        _load_shared(store, bank, previous)
    seen = windows_before(store, windows.code)
    data = shared_training_set(load_windows(windows.path), seen, shared_ratio(config), seed)
    step = train_base if config.sharing.full else train_shared
    result = step(bank, data, seed)
    start = "zero" if previous is None else "previous"
    n_replay = int(data.replay.sum())
    ref = _stage_base(store, bank) if config.sharing.full else _stage(store, bank, SHARED_KEY)
    return _info(
        SHARED_KEY,
        ref,
        start,
        None,
        result,
        len(data) - n_replay,
        n_replay,
    )


@task(name="train-region-adapter")
def train_region_adapter(
    store: Store,
    config: AdapterConfig,
    summary: EditSummary,
    region_id: int,
    previous: dict[int, str],
    seed: int,
) -> AdapterInfo:
    """`update_region` on the region's saved plan (its source adapter loaded from
    ``previous``, the adapter map holding the source: the period's shared adapter under
    `SHARED_KEY`, or the previous bank version's), its rows fetched by sample key; stages
    the result as a new version when it is kept."""
    plan = region_plan(summary, region_id)
    bank = RegionAdapters(load_base(store), config)
    if config.sharing.full:  # the region's residual sits on the period's base
        _load_shared(store, bank, previous[SHARED_KEY])
    source = SHARED_KEY if plan.warm_start is WarmStart.SHARED else plan.source_region
    if source is not None:
        if source not in previous:
            raise RaieStateError(f"region {region_id} starts from adapter {source}, not stored")
        bank.load_adapter(adapter_name(source), verified_adapter(store, previous[source]))
    update = update_region(bank, plan, windows_for_keys(store, plan.keys), seed)
    ref = _stage(store, bank, region_id) if update.kept else None
    info = _info(
        region_id,
        ref,
        plan.warm_start.value,
        plan.source_region,
        update.result,
        plan.n_new,
        plan.n_replay,
    )
    if update.promotion is None:
        return info
    judged = update.promotion
    promotion = {"mean": judged.mean, "low": judged.low, "high": judged.high, "rows": judged.rows}
    return dataclasses.replace(info, kept=update.kept, promotion=promotion)


@task(name="train-recent-adapter")
def train_recent_adapter(
    store: Store,
    config: AdapterConfig,
    region_config: RegionConfig,
    windows: WindowsRef,
    embeddings: str,
    summary: EditSummary,
    adapters: dict[int, str],
    seed: int,
) -> list[AdapterInfo]:
    """`recent_step` on the period's windows over the candidate's adapter map ``adapters``
    (`period_adapters`), each window routed by its routing key (``embeddings``) in the
    edited regions; stages each adopting region's copy as its new version."""
    bank = load_bank_adapters(store, config, adapters)
    new = load_windows(windows.path)
    X, _ = load_embeddings(embeddings)
    if len(X) != len(new):
        raise RaieStateError(f"{embeddings} holds {len(X)} routing keys for {len(new)} windows")
    routes = route(load_regions(summary.regions_path), X, region_config).region
    step = recent_step(bank, new, routes, seed)
    infos = []
    for rid in step.adopted:
        info = _info(rid, _stage(store, bank, rid), RECENT, None, step.result, len(new), 0)
        test = step.tests[rid]
        promotion = {"mean": test.mean, "low": test.low, "high": test.high, "rows": test.rows}
        infos.append(dataclasses.replace(info, promotion=promotion))
    return infos


def period_adapters(
    previous: dict[int, str], summary: EditSummary, trained: list[AdapterInfo]
) -> dict[int, str]:
    """The new version's adapter map: live regions that were not retrained keep their adapter,
    retrained ones their new one when it was kept (else the shared adapter serves them), and
    the shared adapter (`SHARED_KEY`) its new version."""
    retrained = {info.region_id for info in trained}
    adapters = {
        rid: path
        for rid, path in previous.items()
        if rid in summary.live_ids and rid not in retrained
    }
    return adapters | {info.region_id: info.path for info in trained if info.path is not None}


def adopted(trained: list[AdapterInfo], recent: list[AdapterInfo]) -> list[AdapterInfo]:
    """The period's adapters after the recent step: a region that adopted the recent adapter
    is recorded by that copy instead of its retrained adapter."""
    taken = {info.region_id for info in recent}
    return [info for info in trained if info.region_id not in taken] + recent


def _load_shared(store: Store, bank: RegionAdapters, rel: str) -> None:
    """Load the stored shared version ``rel`` into ``bank``: a per-period base becomes its
    base (`sharing.step: full`), a shared adapter its `GLOBAL` adapter."""
    folder = verified_adapter(store, rel)
    if is_base_folder(folder):
        load_period_base(bank, folder)
    else:
        bank.load_adapter(GLOBAL, folder)


def _stage_base(store: Store, bank: RegionAdapters) -> AdapterRef:
    """Stage the bank's per-period base as the shared key's next version (digest, lineage)."""
    with store.stage_adapter(SHARED_KEY) as draft:
        save_period_base(bank, draft.dir)
    assert draft.ref is not None
    return draft.ref


def _stage(store: Store, bank: RegionAdapters, key: int) -> AdapterRef:
    name = adapter_name(key)
    assert bank.model is not None
    with store.stage_adapter(key) as draft:
        bank.model.save_pretrained(
            str(draft.dir), selected_adapters=[name], save_embedding_layers=False
        )
        for file in (draft.dir / name).iterdir():
            file.rename(draft.dir / file.name)
        shutil.rmtree(draft.dir / name)
        canonical_adapter_files(draft.dir)
    assert draft.ref is not None
    return draft.ref


def canonical_adapter_files(folder: Path) -> None:
    """Make a saved peft folder's bytes a function of its weights alone, so identical adapters
    are stored once (`Store.stage_adapter` de-duplicates by digest): `adapter_config.json`
    rewritten key-sorted with its `target_modules` sorted (peft lists a set, in an order that
    changes per process), the generated model card (README.md) dropped."""
    (folder / "README.md").unlink(missing_ok=True)
    path = folder / "adapter_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _info(
    key: int,
    ref: AdapterRef | None,
    warm_start: str,
    source_region: int | None,
    result: TrainResult,
    n_new: int,
    n_replay: int,
) -> AdapterInfo:
    return AdapterInfo(
        region_id=key,
        path=None if ref is None else ref.path,
        version=None if ref is None else ref.version,
        digest=None if ref is None else ref.digest,
        warm_start=warm_start,
        source_region=source_region,
        epochs=result.epochs,
        best_epoch=result.best_epoch,
        train_loss=float(result.train_losses[-1]),
        val_loss=min(result.val_losses, default=float("nan")),
        n_new=n_new,
        n_replay=n_replay,
    )


def load_bank_adapters(
    store: Store, config: AdapterConfig, adapters: dict[int, str]
) -> RegionAdapters:
    """A RegionAdapters holding the given region (or `SHARED_KEY`) -> stored adapter map."""
    folders = {region_id: verified_adapter(store, rel) for region_id, rel in adapters.items()}
    return load_region_bank(load_base(store), config, folders)
