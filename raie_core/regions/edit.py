"""One period of region editing: gate every sample, move statistics, pool, grow, merge, retire.

DESIGN §4.3-4.5. Order invariance within a batch: every decision is computed against the
regions as they were at the start of the batch, and the statistics of all Update / Expand
samples are applied once, as sums; the pool and the reservoirs are kept in an order given by a
seeded hash of the sample keys. Permuting the rows of a batch (with their keys) therefore gives
the same decisions per key and the same regions up to float summation order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

from raie_core.errors import RaieConfigError
from raie_core.regions.config import Action, RegionConfig
from raie_core.regions.drift import DriftScores, score_drift
from raie_core.regions.grow import grow_from_pool
from raie_core.regions.lifecycle import merge_close, retire_starved
from raie_core.regions.state import (
    Regions,
    bottom_k,
    group_sum,
    key_priority,
    live_weights,
    validate_keys,
    validate_unit_rows,
)
from raie_core.regions.vmf import estimate_kappa, thresholds

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Decisions:
    """Per-sample edit table, all (n,) arrays in batch row order.

    action int8 Action; k1 int64 the acting region (its band holds x; for Add the posterior
    top-1); k2 int64 the best other region (-1 if none); angle float32 radians to c_k1;
    p1, p2 float32 posteriors of k1, k2; weight float32 (1 Update, w_exp Expand, 0 Add);
    keys int64 the caller's sample keys.
    """

    action: np.ndarray
    k1: np.ndarray
    k2: np.ndarray
    angle: np.ndarray
    p1: np.ndarray
    p2: np.ndarray
    weight: np.ndarray
    keys: np.ndarray

    def counts(self) -> dict[Action, int]:
        """Number of samples per action."""
        return {a: int(np.count_nonzero(self.action == a)) for a in Action}


@dataclass(frozen=True, eq=False)
class EditResult:
    """Outcome of edit_regions: the new regions, the decision table and what changed.

    previous: the regions before the edit (replay comes from their reservoirs).
    added: ids grown from the pool; grown_region / grown_keys (m,) int64: their member keys.
    merged: (absorbed id, survivor id) pairs; retired: ids retired as starved.
    """

    regions: Regions
    decisions: Decisions
    previous: Regions
    added: tuple[int, ...]
    grown_region: np.ndarray
    grown_keys: np.ndarray
    merged: tuple[tuple[int, int], ...]
    retired: tuple[int, ...]

    def counts(self) -> dict[str, int]:
        """Decision counts plus regions added / merged / retired (for the period's log)."""
        out = {a.name.lower(): n for a, n in self.decisions.counts().items()}
        out.update(added=len(self.added), merged=len(self.merged), retired=len(self.retired))
        return out


def gate_samples(
    regions: Regions, scores: DriftScores, config: RegionConfig, keys: np.ndarray
) -> Decisions:
    """Radius-aware gating of DESIGN §4.3 against the regions scores were computed on.

    With b the band region of x (scores.band) and theta its angle:
    Update if theta <= R_b (1 - eps_core) and p_b >= tau_b and p_b - max_other p >= delta_min;
    Expand if not Update and b exists (theta <= R_b (1 + eps_band)); Add if x is in no band.
    """
    has = scores.band >= 0
    rows = np.searchsorted(regions.ids, np.where(has, scores.band, regions.ids[0]))
    tau = thresholds(regions.kappa[rows], config.tau_a0, config.tau_a1)
    core = scores.band_angle <= regions.radius[rows] * (1.0 - config.eps_core)
    update = has & core & (scores.band_p >= tau) & (scores.band_margin >= config.delta_min)
    action = np.where(update, Action.UPDATE, np.where(has, Action.EXPAND, Action.ADD)).astype(
        np.int8
    )
    own = has & (scores.band == scores.k1)
    k1 = np.where(has, scores.band, scores.k1)
    k2 = np.where(own | ~has, scores.k2, scores.k1)
    weight = np.select([action == Action.UPDATE, action == Action.EXPAND], [1.0, config.w_exp], 0.0)
    return Decisions(
        action=action,
        k1=k1.astype(np.int64),
        k2=k2.astype(np.int64),
        angle=np.where(has, scores.band_angle, scores.angle1).astype(np.float32),
        p1=np.where(has, scores.band_p, scores.p1).astype(np.float32),
        p2=np.where(own | ~has, scores.p2, scores.p1).astype(np.float32),
        weight=weight.astype(np.float32),
        keys=keys,
    )


def edit_regions(
    regions: Regions,
    X: np.ndarray,
    config: RegionConfig,
    period: int,
    keys: np.ndarray | None = None,
) -> EditResult:
    """Edit the regions with one period's samples X (n, d) float32 unit rows (DESIGN §4.3-4.5).

    period: int period index, >= regions.period. keys: (n,) int64 unique sample keys for the
    pool and the replay reservoirs (None: arange(n), for single-batch use). Growth clustering
    is seeded by (regions.seed, period). Returns a new Regions; the input is not modified.
    """
    X = validate_unit_rows(X)
    keys = validate_keys(keys, X.shape[0])
    if isinstance(period, bool) or not isinstance(period, (int, np.integer)):
        raise RaieConfigError(f"period={period!r} should be an integer period index")
    if period < regions.period:
        raise RaieConfigError(
            f"period={period} should be >= the last edited period {regions.period}"
        )
    scores = score_drift(regions, X, config)
    decisions = gate_samples(regions, scores, config, keys)
    edited = _apply_statistics(regions, X, decisions, config, period)
    edited = _add_to_pool(edited, X, decisions, config, period)
    edited, added, grown_region, grown_keys = grow_from_pool(edited, config, period)
    edited, merged = merge_close(edited, config, period)
    edited, retired = retire_starved(edited, config, period)
    edited = replace(edited, period=int(period))
    result = EditResult(
        edited, decisions, regions, added, grown_region, grown_keys, merged, retired
    )
    logger.info("period %d: %s", period, result.counts())
    return result


def _apply_statistics(
    regions: Regions, X: np.ndarray, decisions: Decisions, config: RegionConfig, period: int
) -> Regions:
    """Add the weighted Update / Expand samples to S, n, spread; grow radii; EMA kappa.

    Radius: R_k <- min(R_max, max(R_k, q-quantile of the angles of this period's Update and
    Expand samples of k)), so a region widens to cover samples beyond its radius (one lone
    Expand sample is covered exactly) but stays a q-quantile; covering *every* Expand sample,
    as the literal rule says, ratchets R to the extreme tail period after period.
    """
    joins = decisions.action != Action.ADD
    rows = np.searchsorted(regions.ids, decisions.k1[joins])
    delta = _joined_sum(regions, X, decisions, config.chunk_size)
    k = regions.ids.size
    w = decisions.weight[joins].astype(np.float64)
    theta = decisions.angle[joins].astype(np.float64)
    mass = np.bincount(rows, weights=w, minlength=k)
    touched = mass > 0
    count = regions.count + mass
    resultant = regions.resultant + delta
    center, kappa_new = estimate_kappa(
        resultant, count, regions.prior, config.n0, config.kappa_min, config.kappa_max
    )
    ema = (1 - config.kappa_ema) * regions.kappa + config.kappa_ema * kappa_new
    sq = np.bincount(rows, weights=w * theta**2, minlength=k)
    spread = np.sqrt((regions.count * regions.spread**2 + sq) / np.maximum(count, 1e-12))
    reach = np.minimum(group_quantile(rows, theta, k, config.radius_quantile), config.radius_max)
    res_region, res_keys = bottom_k(
        np.concatenate([regions.reservoir_region, regions.ids[rows]]),
        np.concatenate([regions.reservoir_keys, decisions.keys[joins]]),
        config.reservoir_size,
        regions.seed,
    )
    return replace(
        regions,
        resultant=resultant,
        count=count,
        kappa=np.where(touched, ema, regions.kappa),
        center=np.where(touched[:, None], center, regions.center),
        spread=np.where(touched, spread, regions.spread),
        radius=np.fmax(regions.radius, reach),
        weight=live_weights(count, regions.live, config.n0),
        touched=np.where(touched, period, regions.touched),
        reservoir_region=res_region,
        reservoir_keys=res_keys,
    )


def _joined_sum(regions: Regions, X: np.ndarray, decisions: Decisions, chunk: int) -> np.ndarray:
    """(K, d) float64 weighted sums of the Update / Expand rows per region, chunk by chunk."""
    joins = decisions.action != Action.ADD
    rows = np.searchsorted(regions.ids, decisions.k1)
    delta = np.zeros_like(regions.resultant)
    for start in range(0, X.shape[0], chunk):
        part = slice(start, start + chunk)
        take = joins[part]
        delta += group_sum(
            rows[part][take], X[part][take], delta.shape[0], decisions.weight[part][take]
        )
    return delta


def group_quantile(labels: np.ndarray, values: np.ndarray, k: int, q: float) -> np.ndarray:
    """(k,) q-quantile (linear interpolation, as np.quantile) of values per label; nan if empty."""
    order = np.lexsort((values, labels))
    labels, values = labels[order], values[order]
    size = np.bincount(labels, minlength=k)
    first = np.concatenate([[0], np.cumsum(size)[:-1]])
    out = np.full(k, np.nan)
    has = size > 0
    pos = q * (size[has] - 1)
    low = np.floor(pos).astype(np.int64)
    high = np.minimum(low + 1, size[has] - 1)
    frac = pos - low
    lo_v, hi_v = values[first[has] + low], values[first[has] + high]
    out[has] = lo_v + frac * (hi_v - lo_v)
    return out


def _add_to_pool(
    regions: Regions, X: np.ndarray, decisions: Decisions, config: RegionConfig, period: int
) -> Regions:
    """Append the Add samples to the pool; keep pool_max, dropping the oldest periods first.

    A key already pooled is replaced by its newer vector. The pool is ordered by (period,
    seeded key priority), so ties within a period are dropped in a seeded, order-free way.
    """
    add = decisions.action == Action.ADD
    new_keys = decisions.keys[add]
    keep_old = ~np.isin(regions.pool_keys, new_keys)
    vectors = np.concatenate([regions.pool_vectors[keep_old], X[add]])
    keys = np.concatenate([regions.pool_keys[keep_old], new_keys])
    periods = np.concatenate([regions.pool_period[keep_old], np.full(new_keys.size, period)])
    order = np.lexsort((keys, key_priority(keys, regions.seed), -periods))[: config.pool_max]
    order = order[
        np.lexsort((keys[order], key_priority(keys[order], regions.seed), periods[order]))
    ]
    return replace(
        regions,
        pool_vectors=np.ascontiguousarray(vectors[order], dtype=np.float32),
        pool_keys=keys[order].astype(np.int64),
        pool_period=periods[order].astype(np.int64),
    )
