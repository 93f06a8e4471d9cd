"""Growing new regions from the Add pool (DESIGN §4.4).

When the pool holds at least pool_min samples it is clustered by spherical k-means with k in
[1, min(pool_k_max, P // min_cluster_size)] chosen by BIC gain over the current mixture:
BIC_k = -2 LL(pool | live regions + k new components) + k (d + 1) ln P, against
BIC_0 = -2 LL(pool | live regions). The best k is kept if BIC_k < BIC_0; each of its clusters
with >= min_cluster_size members and radius <= cohesion_factor x median live radius becomes a
region. Members leave the pool; the rest carries over.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from raie_core.regions.config import RegionConfig, RegionStatus
from raie_core.regions.fit import KMeansResult, cluster_rows, mixture_loglik, spherical_kmeans
from raie_core.regions.state import Regions, bottom_k, live_weights

logger = logging.getLogger(__name__)


def grow_from_pool(
    regions: Regions, config: RegionConfig, period: int
) -> tuple[Regions, tuple[int, ...], np.ndarray, np.ndarray]:
    """Returns (regions, added ids, member region ids (m,) int64, member keys (m,) int64)."""
    empty = np.zeros(0, dtype=np.int64)
    pool = regions.pool_vectors
    if pool.shape[0] < config.pool_min or not regions.live.any():
        return regions, (), empty, empty
    km = _best_split(regions, config, period)
    if km is None:
        return regions, (), empty, empty
    rows = cluster_rows(pool, km.labels, km.centers, config)
    limit = config.cohesion_factor * float(np.median(regions.radius[regions.live]))
    accept = np.flatnonzero((rows["count"] >= config.min_cluster_size) & (rows["radius"] <= limit))
    logger.info(
        "pool %d: k=%d, accepted %s (radius limit %.3f)",
        pool.shape[0],
        km.centers.shape[0],
        accept.tolist(),
        limit,
    )
    if accept.size == 0:
        return regions, (), empty, empty
    new_ids = regions.next_id + np.arange(accept.size, dtype=np.int64)
    label_to_id = np.full(km.centers.shape[0], -1, dtype=np.int64)
    label_to_id[accept] = new_ids
    member_id = label_to_id[km.labels]
    grown = _append_rows(
        regions, {name: v[accept] for name, v in rows.items()}, new_ids, period, config
    )
    return (
        _take_members(grown, member_id, config),
        tuple(int(i) for i in new_ids),
        (member_id[member_id >= 0]),
        regions.pool_keys[member_id >= 0],
    )


def _take_members(grown: Regions, member_id: np.ndarray, config: RegionConfig) -> Regions:
    """Move pool rows with member_id >= 0 into their new regions' reservoirs; keep the rest."""
    taken = member_id >= 0
    res_region, res_keys = bottom_k(
        np.concatenate([grown.reservoir_region, member_id[taken]]),
        np.concatenate([grown.reservoir_keys, grown.pool_keys[taken]]),
        config.reservoir_size,
        grown.seed,
    )
    return replace(
        grown,
        pool_vectors=grown.pool_vectors[~taken],
        pool_keys=grown.pool_keys[~taken],
        pool_period=grown.pool_period[~taken],
        reservoir_region=res_region,
        reservoir_keys=res_keys,
    )


def _best_split(regions: Regions, config: RegionConfig, period: int) -> KMeansResult | None:
    """The k-means of the pool with the lowest BIC, or None when no k beats the current mixture."""
    pool = regions.pool_vectors
    live = regions.live
    mass = regions.count[live] + config.n0
    centers, kappa = regions.center[live], regions.kappa[live]
    best_bic = -2.0 * mixture_loglik(pool, centers, kappa, mass / mass.sum())
    best: KMeansResult | None = None
    seed = int(np.random.SeedSequence([regions.seed, int(period)]).generate_state(1)[0])
    k_top = min(config.pool_k_max, pool.shape[0] // config.min_cluster_size)
    for k in range(1, k_top + 1):
        km = spherical_kmeans(pool, k, config.n_init, config.max_iter, seed)
        rows = cluster_rows(pool, km.labels, km.centers, config)
        all_mass = np.concatenate([mass, rows["count"] + config.n0])
        loglik = mixture_loglik(
            pool,
            np.vstack([centers, rows["center"]]),
            np.concatenate([kappa, rows["kappa"]]),
            all_mass / all_mass.sum(),
        )
        bic = -2.0 * loglik + k * (pool.shape[1] + 1) * np.log(pool.shape[0])
        logger.debug("pool split k=%d BIC %.1f (best so far %.1f)", k, bic, best_bic)
        if bic < best_bic:
            best_bic, best = bic, km
    return best


def _append_rows(
    regions: Regions,
    rows: dict[str, np.ndarray],
    new_ids: np.ndarray,
    period: int,
    config: RegionConfig,
) -> Regions:
    """Regions with the given cluster rows appended as LIVE regions new_ids created at period."""
    m = new_ids.size
    stacked = {
        name: np.concatenate([getattr(regions, name), value]) for name, value in rows.items()
    }
    status = np.concatenate([regions.status, np.full(m, RegionStatus.LIVE, dtype=np.int8)])
    live = status == RegionStatus.LIVE
    return replace(
        regions,
        **stacked,
        ids=np.concatenate([regions.ids, new_ids]),
        created=np.concatenate([regions.created, np.full(m, period, dtype=np.int64)]),
        touched=np.concatenate([regions.touched, np.full(m, period, dtype=np.int64)]),
        status=status,
        merged_into=np.concatenate([regions.merged_into, np.full(m, -1, dtype=np.int64)]),
        weight=live_weights(stacked["count"], live, config.n0),
        next_id=regions.next_id + m,
    )
