"""Routing of windows to region adapters or the frozen base (DESIGN §4.8).

A row goes to the highest-posterior live region whose band R_k (1 + eps_band) holds it; outside
every band (or with no live region) it goes to the base, region -1, unless
`RegionConfig.fallback` is off (then to its top-1 region). No row is ever dropped.
The adapter layer treats region ids without a trained adapter as the base too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from raie_core.regions.config import RegionConfig, RouteReason
from raie_core.regions.drift import DriftScores, score_drift
from raie_core.regions.state import Regions, validate_unit_rows


@dataclass(frozen=True, eq=False)
class Route:
    """region (n,) int64 region id or -1 (base); reason (n,) int8 RouteReason; scores or None."""

    region: np.ndarray
    reason: np.ndarray
    scores: DriftScores | None

    def __len__(self) -> int:
        return int(self.region.size)


def route(regions: Regions, X: np.ndarray, config: RegionConfig) -> Route:
    """Route X (n, d) float32 unit rows; scores are None when no region is live."""
    X = validate_unit_rows(X)
    n = X.shape[0]
    if not regions.live.any():
        return Route(
            region=np.full(n, -1, dtype=np.int64),
            reason=np.full(n, RouteReason.NO_LIVE_REGION, dtype=np.int8),
            scores=None,
        )
    scores = score_drift(regions, X, config)
    inside = scores.band >= 0
    reason = np.where(inside, RouteReason.INSIDE_BAND, RouteReason.OUTSIDE_EVERY_BAND)
    region = scores.band if config.fallback else np.where(inside, scores.band, scores.k1)
    return Route(region=region.astype(np.int64), reason=reason.astype(np.int8), scores=scores)
