"""Per-region training data of one period (DESIGN §4.6), as caller sample keys.

For each live region after an edit: its new samples (Update weight 1, Expand w_exp, members
of a region grown this period weight 1), soft shares of Expand samples with their runner-up
region (weight w_exp p2 / (p1 + p2) when p2 >= share_min_p2), and replay keys drawn seeded
and without replacement from the region's reservoir *before* the edit (earlier periods only),
n_replay = `replay_count(n_batch, rho)` capped by the reservoir. Ids retired by a merge this
period resolve to their survivor. A region is affected when it has >= min_train_samples NEW
samples; only affected regions retrain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from raie_core.regions.config import Action, RegionConfig, SampleSource
from raie_core.regions.edit import EditResult
from raie_core.regions.state import Regions
from raie_core.training import replay_count


@dataclass(frozen=True, eq=False)
class RegionTrainingSet:
    """keys (m,) int64, weights (m,) float32, source (m,) int8 SampleSource, NEW rows first."""

    region_id: int
    keys: np.ndarray
    weights: np.ndarray
    source: np.ndarray
    affected: bool

    @property
    def n_new(self) -> int:
        return int(np.count_nonzero(self.source == SampleSource.NEW))


@dataclass(frozen=True, eq=False)
class TrainingSets:
    """sets: live region id -> RegionTrainingSet; affected: ids that retrain, ascending."""

    sets: dict[int, RegionTrainingSet]
    affected: tuple[int, ...]


def _live_owner(regions: Regions, ids: np.ndarray) -> np.ndarray:
    """(m,) int64: the live id each id resolves to through merged_into pointers."""
    owner = np.array([regions.resolve(int(i)) for i in regions.ids], dtype=np.int64)
    return owner[np.searchsorted(regions.ids, ids)]


def _assignments(result: EditResult, config: RegionConfig) -> tuple[np.ndarray, ...]:
    """NEW and SHARE rows of this period: (region, keys, weights, source), each (m,)."""
    regions, dec = result.regions, result.decisions
    joins = dec.action != Action.ADD
    share = (dec.action == Action.EXPAND) & (dec.k2 >= 0) & (dec.p2 >= config.share_min_p2)
    k2 = _live_owner(regions, dec.k2[share])
    share_ok = k2 != _live_owner(regions, dec.k1[share])
    share_w = config.w_exp * dec.p2[share] / (dec.p1[share] + dec.p2[share])
    new, shared = SampleSource.NEW, SampleSource.SHARE
    return (
        np.concatenate(
            [
                _live_owner(regions, dec.k1[joins]),
                _live_owner(regions, result.grown_region),
                k2[share_ok],
            ]
        ),
        np.concatenate([dec.keys[joins], result.grown_keys, dec.keys[share][share_ok]]),
        np.concatenate([dec.weight[joins], np.ones(result.grown_keys.size), share_w[share_ok]]),
        np.concatenate(
            [
                np.full(int(joins.sum()) + result.grown_keys.size, new),
                np.full(int(share_ok.sum()), shared),
            ]
        ),
    )


def region_training_sets(
    result: EditResult, config: RegionConfig, replay_ratio: float, seed: int
) -> TrainingSets:
    """Training sets of every live region of result.regions; see the module docstring.

    replay_ratio: rho (`AdapterConfig.replay_ratio`), in [0, 1).
    Deterministic in seed; replay for region k uses the generator seeded with (seed, k).
    """
    region, keys, weights, source = _assignments(result, config)
    previous = result.previous
    old_owner = _live_owner(result.regions, previous.ids)
    sets: dict[int, RegionTrainingSet] = {}
    for rid in map(int, result.regions.live_ids):
        mine = region == rid
        is_new = mine & (source == SampleSource.NEW)
        sources = previous.ids[old_owner == rid].tolist()
        rng = np.random.default_rng([seed, rid])
        replay = _replay(previous, sources, int(mine.sum()), keys[is_new], replay_ratio, rng)
        sets[rid] = RegionTrainingSet(
            region_id=rid,
            keys=np.concatenate([keys[mine], replay]).astype(np.int64),
            weights=np.concatenate([weights[mine], np.ones(replay.size)]).astype(np.float32),
            source=np.concatenate([source[mine], np.full(replay.size, SampleSource.REPLAY)]).astype(
                np.int8
            ),
            affected=int(is_new.sum()) >= config.min_train_samples,
        )
    affected = tuple(sorted(r for r, s in sets.items() if s.affected))
    return TrainingSets(sets=sets, affected=affected)


def _replay(
    previous: Regions,
    sources: list[int],
    n_batch: int,
    exclude: np.ndarray,
    replay_ratio: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """(m,) int64 keys drawn without replacement from the union of the sources' old reservoirs."""
    if not sources or n_batch == 0 or replay_ratio == 0:
        return np.zeros(0, dtype=np.int64)
    pool = np.unique(np.concatenate([previous.reservoir(i) for i in sources]))
    pool = pool[~np.isin(pool, exclude)]
    want = min(pool.size, replay_count(n_batch, replay_ratio))
    return np.sort(rng.choice(pool, size=want, replace=False)).astype(np.int64)
