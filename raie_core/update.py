"""The RAIE period step (DESIGN §4): one implementation for the nightly flow and the benchmark.

`plan_period`: edit the regions with the period's routing keys (drift scoring, Update /
Expand / Add, growth, merge, retire), build each live region's training set (new samples plus
replay from its reservoir) and give every affected region its warm start by **one** rule
(`warm_start`). `train_region`: initialise and train one region's adapter from its plan.
`train_period`: every affected region in one bank, in an order that keeps every copied
source at its pre-period version, so the result equals training each region in a bank of its
own (what the flow's mapped tasks do).

Pure functions of (regions, keys, sample keys, replay windows fetched by key, adapter bank,
configs, seed): the flow's tasks only load, save and log around them, and the benchmark's
`raie` method calls them in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np

from raie_core.adapters import (
    GLOBAL,
    AdapterConfig,
    AdapterTrainingSet,
    RegionAdapters,
    WarmStart,
    adapter_name,
    continue_or_zero,
    train_adapter,
)
from raie_core.errors import RaieConfigError, RaieStateError
from raie_core.protocol import Windows
from raie_core.rebase import train_base
from raie_core.regions import (
    EditResult,
    RegionConfig,
    Regions,
    SampleSource,
    edit_regions,
    fit_regions,
    region_training_sets,
)
from raie_core.scoring import fallback_name, window_gains, window_losses
from raie_core.sharing import Criterion, Promotion, SharingConfig, promotion
from raie_core.training import TrainResult, replay_count

logger = logging.getLogger(__name__)

FetchWindows = Callable[[np.ndarray], Windows]
"""Maps (m,) int64 sample keys to their windows, in key order (new samples and replay)."""


@dataclass(frozen=True, eq=False)
class RegionPlan:
    """How one affected region trains this period.

    keys: (m,) int64 sample keys, NEW/SHARE rows first; weights: (m,) float32 > 0;
    source: (m,) int8 `SampleSource`. warm_start: SHARED (copy the period's shared adapter),
    PREVIOUS (its own adapter), PARENT (copy ``source_region``'s adapter) or ZERO;
    source_region: the region whose pre-period adapter it starts from (itself for PREVIOUS),
    None for SHARED and ZERO.
    """

    region_id: int
    keys: np.ndarray
    weights: np.ndarray
    source: np.ndarray
    warm_start: WarmStart
    source_region: int | None

    @property
    def replay(self) -> np.ndarray:
        """(m,) bool: rows replayed from earlier periods (never used for validation)."""
        return self.source == SampleSource.REPLAY

    @property
    def n_new(self) -> int:
        return int(np.count_nonzero(~self.replay))

    @property
    def n_replay(self) -> int:
        return int(np.count_nonzero(self.replay))


@dataclass(frozen=True, eq=False)
class PeriodPlan:
    """edit: the edited regions and per-sample decisions; plans: affected regions, ascending."""

    edit: EditResult
    plans: tuple[RegionPlan, ...]

    @property
    def affected(self) -> tuple[int, ...]:
        return tuple(p.region_id for p in self.plans)


def warm_start(
    regions: Regions,
    region_id: int,
    trained: Collection[int],
    sharing: SharingConfig | None = None,
) -> tuple[WarmStart, int | None]:
    """The one warm-start rule. `SharingConfig.shared`: every region starts from the
    period's shared step: a copy of the shared adapter (SHARED), or, when the step
    fine-tuned the base (`SharingConfig.full`), a zero residual on it (ZERO). Else DESIGN
    §4.7: a region with an adapter continues it; one without copies the adapter of the
    nearest live region (largest center cosine in ``regions``) that has one; zero when no
    live region has an adapter (also when ``sharing`` is None).

    trained: region ids with an adapter before this period. Returns (warm start, source).
    """
    if sharing is not None and sharing.full:
        return WarmStart.ZERO, None
    if sharing is not None and sharing.shared:
        return WarmStart.SHARED, None
    if region_id in trained:
        return WarmStart.PREVIOUS, region_id
    candidates = [int(r) for r in regions.live_ids if int(r) != region_id and int(r) in trained]
    if not candidates:
        return WarmStart.ZERO, None
    own = regions.center[regions.row(region_id)]
    cosines = [float(regions.center[regions.row(r)] @ own) for r in candidates]
    return WarmStart.PARENT, candidates[int(np.argmax(cosines))]


def setup_sample(n: int, config: RegionConfig, seed: int) -> np.ndarray:
    """(m,) int64 sorted rows of ``n`` setup windows that fit the regions: all of them, or a
    seeded sample of ``config.max_fit_windows`` when there are more."""
    if n <= config.max_fit_windows:
        return np.arange(n, dtype=np.int64)
    rows = np.random.default_rng(seed).choice(n, config.max_fit_windows, replace=False)
    return np.sort(rows).astype(np.int64)


def fit_setup(X: np.ndarray, keys: np.ndarray, config: RegionConfig, seed: int) -> Regions:
    """The setup regions (period 0) of the sampled setup windows' keys X (m, d) float32 unit
    rows and their (m,) int64 sample keys (`setup_sample` picks the rows)."""
    return fit_regions(X, config, seed, keys=keys, period=0)


def plan_period(
    regions: Regions,
    X: np.ndarray,
    keys: np.ndarray,
    region_config: RegionConfig,
    adapter_config: AdapterConfig,
    period: int,
    trained: Collection[int],
    seed: int,
) -> PeriodPlan:
    """Edit ``regions`` with a period's routing keys and plan the affected regions' training.

    X: (n, d) float32 unit routing keys of the period's windows; keys: (n,) int64 their
    sample keys. period: the edit counter (> the regions' last edited period). trained:
    region ids that have an adapter before this period. Deterministic in ``seed``.
    """
    edit = edit_regions(regions, X, region_config, period, keys=keys)
    sets = region_training_sets(edit, region_config, region_ratio(adapter_config), seed)
    plans = []
    for rid in sets.affected:
        one = sets.sets[rid]
        start, source = warm_start(edit.regions, rid, trained, adapter_config.sharing)
        plans.append(RegionPlan(rid, one.keys, one.weights, one.source, start, source))
    return PeriodPlan(edit=edit, plans=tuple(plans))


def region_seed(seed: int, region_id: int) -> int:
    """The training seed of one region's adapter in a period seeded ``seed``."""
    return seed + region_id


def replay_sample(old: Windows, n_new: int, ratio: float, seed: int) -> Windows:
    """Old windows drawn seeded without replacement so they make up ``ratio`` of the set.

    n_replay = `replay_count(n_new, ratio)`, capped by len(old).
    """
    if ratio == 0.0 or len(old) == 0:
        return old.subset(np.zeros(0, dtype=np.int64))
    want = min(len(old), replay_count(n_new, ratio))
    pick = np.random.default_rng(seed).choice(len(old), size=want, replace=False)
    return old.subset(np.sort(pick))


def shared_training_set(new: Windows, old: Windows, ratio: float, seed: int) -> AdapterTrainingSet:
    """The shared step's rows: the period's new windows plus `replay_sample` of ``old`` (all
    windows before the period: setup, then earlier periods) at ``ratio`` (the `replay` and
    `full_replay` baselines' training set; ratio 0 or `SharingConfig.replay` false: the new
    windows only, `full_ft`'s)."""
    replay = replay_sample(old, len(new), ratio, seed)
    return AdapterTrainingSet.from_windows(new, replay=replay if len(replay) else None)


def shared_ratio(config: AdapterConfig) -> float:
    """The replay ratio of the shared step's rows (`SharingConfig.replay`)."""
    return config.replay_ratio if config.sharing.replay else 0.0


def region_ratio(config: AdapterConfig) -> float:
    """The replay ratio of the affected regions' rows (`SharingConfig.region_replay`)."""
    return config.replay_ratio if config.sharing.region_replay else 0.0


def train_shared(bank: RegionAdapters, data: AdapterTrainingSet, seed: int) -> TrainResult:
    """Continue (or create) the shared adapter `GLOBAL` on ``data``: RAIE's shared step and
    the `lora` / `replay` baselines' whole update, so they are the same code."""
    return train_adapter(bank, GLOBAL, data, seed, warm_start=continue_or_zero(bank, GLOBAL))


def region_data(plan: RegionPlan, windows: Windows) -> AdapterTrainingSet:
    """The plan's training rows (``windows``: its keys fetched in key order)."""
    if len(windows) != len(plan.keys):
        raise RaieConfigError(f"windows={len(windows)} should equal plan keys={len(plan.keys)}")
    return AdapterTrainingSet(
        context=windows.context.astype(np.int64),
        target=windows.target.astype(np.int64),
        weight=plan.weights,
        replay=plan.replay,
        timestamp=windows.timestamp.astype(np.int64),
    )


def train_region(
    bank: RegionAdapters, plan: RegionPlan, windows: Windows, seed: int
) -> TrainResult:
    """Initialise adapter ``adapter_name(plan.region_id)`` by its warm start and train it.

    bank: holds the shared adapter (SHARED) or the pre-period adapter of
    ``plan.source_region`` (PREVIOUS / PARENT). windows: the plan's keys fetched in key order.
    """
    if plan.warm_start is WarmStart.SHARED:
        source: str | None = GLOBAL
    else:
        source = None if plan.source_region is None else adapter_name(plan.source_region)
    return train_adapter(
        bank,
        adapter_name(plan.region_id),
        region_data(plan, windows),
        region_seed(seed, plan.region_id),
        warm_start=plan.warm_start,
        source=source,
    )


def judge_region(bank: RegionAdapters, plan: RegionPlan, windows: Windows, seed: int) -> Promotion:
    """`promotion` of the region's trained adapter against the fallback that would serve
    the region otherwise (`fallback_name`: the shared adapter, or the period's base) on the
    region's validation rows (the split `train_adapter` held out, same seed), by
    `SharingConfig.criterion`."""
    data = region_data(plan, windows)
    rid_seed = region_seed(seed, plan.region_id)
    _, val = data.split(bank.config.train.val_fraction, rid_seed)
    context, target = data.context[val], data.target[val]
    sharing = bank.config.sharing
    local = window_costs(bank, adapter_name(plan.region_id), context, target)
    shared = window_costs(bank, fallback_name(bank), context, target)
    return promotion(local, shared, windows.user[val], sharing, rid_seed)


def window_costs(
    bank: RegionAdapters, name: str, context: np.ndarray, target: np.ndarray
) -> np.ndarray:
    """(n,) per-window cost under ``name`` by `SharingConfig.criterion` (lower is better)."""
    sharing = bank.config.sharing
    if sharing.criterion is Criterion.NDCG:
        return -window_gains(bank, name, context, target, sharing.k)
    return window_losses(bank, name, context, target)


@dataclass(frozen=True)
class RegionUpdate:
    """One retrained region: its training record and, under promotion, the test's outcome.
    kept: whether its adapter serves (no test, or promoted); else the shared adapter does."""

    result: TrainResult
    promotion: Promotion | None = None

    @property
    def kept(self) -> bool:
        return self.promotion is None or self.promotion.promoted


def update_region(
    bank: RegionAdapters, plan: RegionPlan, windows: Windows, seed: int
) -> RegionUpdate:
    """`train_region`, then (`SharingConfig.promote`) `judge_region`; a region adapter that is
    not promoted is deleted from ``bank``, so the shared adapter serves the region."""
    result = train_region(bank, plan, windows, seed)
    if not bank.config.sharing.promote:
        return RegionUpdate(result)
    judged = judge_region(bank, plan, windows, seed)
    if not judged.promoted:
        bank.delete(adapter_name(plan.region_id))
    return RegionUpdate(result, judged)


def training_order(plans: Collection[RegionPlan]) -> list[RegionPlan]:
    """Regions that copy or start fresh first, then those that continue their own adapter:
    a PARENT source is a region with an adapter, which only a PREVIOUS plan changes, so in one
    shared bank every copy still reads the source's pre-period version."""
    return sorted(plans, key=lambda p: (p.warm_start is WarmStart.PREVIOUS, p.region_id))


@dataclass(frozen=True)
class PeriodUpdate:
    """shared: the shared adapter's training record (None without sharing); regions: region
    id -> `RegionUpdate`, ascending."""

    shared: TrainResult | None
    regions: dict[int, RegionUpdate]

    @property
    def kept(self) -> tuple[int, ...]:
        return tuple(rid for rid, one in self.regions.items() if one.kept)


def train_period(
    bank: RegionAdapters,
    plan: PeriodPlan,
    shared_data: AdapterTrainingSet | None,
    fetch: FetchWindows,
    seed: int,
) -> PeriodUpdate:
    """One period's adapter update in ``bank`` (which holds every pre-period adapter): the
    shared step on ``shared_data`` (`shared_training_set`; needed when
    `SharingConfig.shared`): the shared adapter, or the base itself (`train_base`) under
    `SharingConfig.full`; then `update_region` for every affected region. Equal, adapter
    for adapter, to the nightly flow's tasks, which run `train_shared` and then
    `update_region` on a bank holding only the region's source.
    """
    shared = None
    if bank.config.sharing.shared:
        if shared_data is None:
            raise RaieConfigError("sharing.shared=true needs the shared adapter's training set")
        step = train_base if bank.config.sharing.full else train_shared
        shared = step(bank, shared_data, seed)
    regions: dict[int, RegionUpdate] = {}
    for one in training_order(plan.plans):
        if one.source_region is not None and adapter_name(one.source_region) not in bank:
            raise RaieStateError(
                f"region {one.region_id} starts from region "
                f"{one.source_region}, which has no adapter in the bank"
            )
        regions[one.region_id] = update_region(bank, one, fetch(one.keys), seed)
    update = PeriodUpdate(shared, dict(sorted(regions.items())))
    logger.info(
        "raie period %d: retrained %s, kept %s",
        plan.edit.regions.period,
        plan.affected,
        update.kept,
    )
    return update
