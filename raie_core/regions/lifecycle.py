"""Merge near-duplicate regions and retire starved ones (DESIGN §4.5).

Merging repeats on the closest qualifying pair until none is left (the reference stops after
checking a pair limit *after* merging, so max_pairs = 0 still merged one pair). The larger
region (by count; ties: smaller id) survives; the other is RETIRED with merged_into = survivor.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from raie_core.regions.config import RegionConfig, RegionStatus
from raie_core.regions.state import Regions, bottom_k, live_weights, normalize_rows
from raie_core.regions.vmf import estimate_kappa

logger = logging.getLogger(__name__)


def merge_close(
    regions: Regions, config: RegionConfig, period: int
) -> tuple[Regions, tuple[tuple[int, int], ...]]:
    """Merge live pairs with center angle < merge_angle and overlapping balls (angle < R_a + R_b)."""
    merged: list[tuple[int, int]] = []
    while True:
        pair = _closest_pair(regions, config)
        if pair is None:
            return regions, tuple(merged)
        keep, drop = pair
        regions = _merge(regions, keep, drop, config, period)
        merged.append((int(regions.ids[drop]), int(regions.ids[keep])))
        logger.info("merged region %d into %d", regions.ids[drop], regions.ids[keep])


def _closest_pair(regions: Regions, config: RegionConfig) -> tuple[int, int] | None:
    """Rows (survivor, absorbed) of the closest qualifying live pair, or None."""
    live = np.flatnonzero(regions.live)
    if live.size < 2:
        return None
    c = regions.center[live]
    angle = np.arccos(np.clip(c @ c.T, -1.0, 1.0))
    reach = regions.radius[live][:, None] + regions.radius[live][None, :]
    ok = (angle < config.merge_angle) & (angle < reach)
    ok &= np.triu(np.ones_like(ok), k=1).astype(bool)
    if not ok.any():
        return None
    i, j = np.unravel_index(np.argmin(np.where(ok, angle, np.inf)), angle.shape)
    a, b = live[i], live[j]
    keep_a = regions.count[a] > regions.count[b] or (
        regions.count[a] == regions.count[b] and regions.ids[a] < regions.ids[b]
    )
    return (int(a), int(b)) if keep_a else (int(b), int(a))


def _merge(regions: Regions, keep: int, drop: int, config: RegionConfig, period: int) -> Regions:
    """Sum statistics into row keep, retire row drop with a pointer; radius covers both balls."""
    stats = _merged_statistics(regions, keep, drop, config)
    status, pointer, touched = (
        regions.status.copy(),
        regions.merged_into.copy(),
        regions.touched.copy(),
    )
    status[drop], pointer[drop], touched[keep] = RegionStatus.RETIRED, regions.ids[keep], period
    relabel = np.where(
        regions.reservoir_region == regions.ids[drop], regions.ids[keep], regions.reservoir_region
    )
    kept = bottom_k(relabel, regions.reservoir_keys, config.reservoir_size, regions.seed)
    return replace(
        regions,
        **stats,
        status=status,
        merged_into=pointer,
        touched=touched,
        weight=live_weights(stats["count"], status == RegionStatus.LIVE, config.n0),
        reservoir_region=kept[0],
        reservoir_keys=kept[1],
    )


def _merged_statistics(
    regions: Regions, keep: int, drop: int, config: RegionConfig
) -> dict[str, np.ndarray]:
    """Copies of the per-region arrays with row keep = the union of rows keep and drop.

    S and n add up; C0 is the (n + n0)-weighted mean of both priors; kappa is re-estimated
    (no EMA: a merge is a new region); R covers both balls around the new center.
    """
    pair = [keep, drop]
    out = {name: getattr(regions, name).copy() for name in ("resultant", "count", "prior")}
    out["resultant"][keep] += regions.resultant[drop]
    out["count"][keep] += regions.count[drop]
    mass = regions.count[pair] + config.n0
    out["prior"][keep] = normalize_rows((mass[:, None] * regions.prior[pair]).sum(axis=0)[None])[0]
    center, kappa = estimate_kappa(
        out["resultant"], out["count"], out["prior"], config.n0, config.kappa_min, config.kappa_max
    )
    out["center"], out["kappa"] = regions.center.copy(), regions.kappa.copy()
    out["center"][keep], out["kappa"][keep] = center[keep], kappa[keep]
    shift = np.arccos(np.clip(regions.center[pair] @ center[keep], -1.0, 1.0))
    out["radius"], out["spread"] = regions.radius.copy(), regions.spread.copy()
    out["radius"][keep] = min(config.radius_max, float(np.max(regions.radius[pair] + shift)))
    spread_sq = (regions.count[pair] * regions.spread[pair] ** 2).sum() / out["count"][keep]
    out["spread"][keep] = np.sqrt(spread_sq)
    return out


def retire_starved(
    regions: Regions, config: RegionConfig, period: int
) -> tuple[Regions, tuple[int, ...]]:
    """Retire live regions untouched for >= retire_after periods with weight < retire_max_weight.

    The last live region is never retired. Retired regions keep their rows, statistics and
    reservoir (lineage) with merged_into = -1, and leave scoring and routing.
    """
    live = regions.live
    starved = (
        live
        & (period - regions.touched >= config.retire_after)
        & (regions.weight < config.retire_max_weight)
    )
    if not starved.any():
        return regions, ()
    if starved.sum() == live.sum():
        starved[np.argmax(np.where(live, regions.weight, -np.inf))] = False
    status = np.where(starved, RegionStatus.RETIRED, regions.status).astype(np.int8)
    retired = tuple(int(i) for i in regions.ids[starved])
    logger.info("retired starved regions %s", list(retired))
    return replace(
        regions,
        status=status,
        weight=live_weights(regions.count, status == RegionStatus.LIVE, config.n0),
    ), retired
