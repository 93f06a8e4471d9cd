"""The user bootstrap behind every paired interval of raie (DESIGN §2: a gap is *resolved*
when its 95 % user interval excludes 0)."""

from __future__ import annotations

import numpy as np

from raie_core.errors import RaieConfigError

BOOTSTRAP_DRAWS = 2000
"""Resamples of the evaluation users behind each `user_interval`."""
BOOTSTRAP_SEED = 0
"""Seed of those resamples (the interval is reproducible)."""
BOOTSTRAP_LEVEL = 0.95
"""Coverage of the central interval."""


def user_interval(
    diff: np.ndarray,
    users: np.ndarray,
    draws: int = BOOTSTRAP_DRAWS,
    seed: int = BOOTSTRAP_SEED,
    level: float = BOOTSTRAP_LEVEL,
) -> dict[str, float]:
    """Central ``level`` interval of mean(diff) when the evaluation users are resampled.

    diff: (n,) per-window difference of two methods; users: (n,) the user of each window.
    Each of ``draws`` seeded draws takes as many users as there are, with replacement, each
    with all of their windows, and averages diff over the windows drawn. Windows of one user
    are correlated, so this is the uncertainty that comes from *which users* were evaluated,
    which no number of training seeds reduces. Returns {"low", "high"}.
    """
    diff = np.asarray(diff, dtype=np.float64)
    if diff.shape != np.shape(users) or diff.size == 0:
        raise RaieConfigError(
            f"diff {diff.shape} and users {np.shape(users)} should be equal, non-empty shapes"
        )
    if draws < 1 or not 0.0 < level < 1.0:
        raise RaieConfigError(f"draws={draws} should be >= 1 and level={level} in (0, 1)")
    ids, index = np.unique(users, return_inverse=True)
    total = np.bincount(index, weights=diff, minlength=ids.size)
    count = np.bincount(index, minlength=ids.size).astype(np.float64)
    pick = np.random.default_rng(seed).integers(0, ids.size, size=(draws, ids.size))
    means = total[pick].sum(axis=1) / count[pick].sum(axis=1)
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return {"low": float(low), "high": float(high)}
