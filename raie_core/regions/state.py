"""The immutable region state (DESIGN §4) and the helpers every step shares.

:class:`Regions` holds one row per region id ever created (live and retired), the Add pool and
the per-region replay reservoirs of caller-supplied int64 sample keys. Editing builds a new
value with :func:`dataclasses.replace`; arrays are read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy import sparse

from raie_core.errors import RaieConfigError
from raie_core.regions.config import RegionStatus

NORM_TOLERANCE = 1e-3
"""Rows of X must have norms within this of 1 (unit sphere inputs)."""

REGION_ARRAYS = (
    "ids",
    "center",
    "resultant",
    "count",
    "prior",
    "kappa",
    "weight",
    "radius",
    "spread",
    "created",
    "touched",
    "status",
    "merged_into",
)
POOL_ARRAYS = ("pool_vectors", "pool_keys", "pool_period")
RESERVOIR_ARRAYS = ("reservoir_region", "reservoir_keys")


@dataclass(frozen=True, eq=False)
class Regions:
    """All regions, the Add pool and the reservoirs. K rows = every id ever created.

    Per region (row i): ids (K,) int64 never reused; center c (K, d) float64 unit;
    resultant S (K, d) float64; count n (K,) float64 (weighted); prior C0 (K, d) float64 unit;
    kappa (K,) float64; weight pi (K,) float64 (0 when retired, live weights sum to 1);
    radius R (K,) float64 radians; spread sigma (K,) float64 RMS member angle; created /
    touched (K,) int64 periods; status (K,) int8 RegionStatus; merged_into (K,) int64 (-1 none).
    Pool: pool_vectors (P, d) float32, pool_keys (P,) int64, pool_period (P,) int64.
    Reservoirs: reservoir_region (M,) int64 region ids, reservoir_keys (M,) int64 sample keys,
    sorted by (region, priority). seed: the hash seed of reservoir and pool priorities.
    """

    ids: np.ndarray
    center: np.ndarray
    resultant: np.ndarray
    count: np.ndarray
    prior: np.ndarray
    kappa: np.ndarray
    weight: np.ndarray
    radius: np.ndarray
    spread: np.ndarray
    created: np.ndarray
    touched: np.ndarray
    status: np.ndarray
    merged_into: np.ndarray
    pool_vectors: np.ndarray
    pool_keys: np.ndarray
    pool_period: np.ndarray
    reservoir_region: np.ndarray
    reservoir_keys: np.ndarray
    next_id: int
    period: int
    seed: int

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                value.flags.writeable = False

    @property
    def dim(self) -> int:
        return int(self.center.shape[1])

    @property
    def live(self) -> np.ndarray:
        """(K,) bool mask of live rows."""
        return self.status == RegionStatus.LIVE

    @property
    def live_ids(self) -> np.ndarray:
        """(K_live,) int64 ids of live regions, in row order."""
        return self.ids[self.live]

    def row(self, region_id: int) -> int:
        """Row index of a region id; RaieConfigError when unknown."""
        hit = np.flatnonzero(self.ids == region_id)
        if hit.size == 0:
            raise RaieConfigError(
                f"region_id={region_id} is not a region (ids {self.ids.tolist()})"
            )
        return int(hit[0])

    def reservoir(self, region_id: int) -> np.ndarray:
        """(m,) int64 sample keys held for replay by this region (m <= reservoir_size)."""
        return self.reservoir_keys[self.reservoir_region == region_id]

    def resolve(self, region_id: int) -> int:
        """Follow merged_into pointers to the live region that absorbed region_id."""
        row = self.row(region_id)
        while self.merged_into[row] >= 0:
            row = self.row(int(self.merged_into[row]))
        return int(self.ids[row])

    def table(self) -> list[dict[str, float | int | str]]:
        """One small dict per region (for logs and lineage tags)."""
        return [
            {
                "id": int(self.ids[i]),
                "status": RegionStatus(int(self.status[i])).name.lower(),
                "count": float(self.count[i]),
                "kappa": float(self.kappa[i]),
                "weight": float(self.weight[i]),
                "radius_deg": float(np.degrees(self.radius[i])),
                "created": int(self.created[i]),
                "touched": int(self.touched[i]),
                "merged_into": int(self.merged_into[i]),
            }
            for i in range(len(self.ids))
        ]


def validate_unit_rows(X: np.ndarray, name: str = "X") -> np.ndarray:
    """Check X is (n, d) float, finite, rows unit-norm within 1e-3; return it as float32."""
    if not isinstance(X, np.ndarray):
        raise RaieConfigError(f"{name} should be a numpy array, got {type(X).__name__}")
    if X.ndim != 2:
        raise RaieConfigError(f"{name} should be 2-D (n, d), got shape {X.shape}")
    if X.shape[1] < 2:
        raise RaieConfigError(f"{name} should have d >= 2 columns, got shape {X.shape}")
    if not np.issubdtype(X.dtype, np.floating):
        raise RaieConfigError(f"{name} should be float32, got dtype {X.dtype}")
    X = np.ascontiguousarray(X, dtype=np.float32)
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        raise RaieConfigError(
            f"{name} has non-finite values in rows {np.flatnonzero(bad)[:5].tolist()}"
        )
    norms = np.sqrt(np.einsum("ij,ij->i", X, X, dtype=np.float64))
    off = np.abs(norms - 1.0) > NORM_TOLERANCE
    if off.any():
        first = int(np.flatnonzero(off)[0])
        raise RaieConfigError(
            f"{name} rows should be unit-norm within {NORM_TOLERANCE}; {int(off.sum())} are not "
            f"(row {first} has norm {norms[first]:.6g})"
        )
    return X


def validate_keys(keys: np.ndarray | None, n: int) -> np.ndarray:
    """Caller sample keys (n,) int64, unique; None means arange(n) (single-batch use only)."""
    if keys is None:
        return np.arange(n, dtype=np.int64)
    keys = np.asarray(keys)
    if keys.shape != (n,) or not np.issubdtype(keys.dtype, np.integer):
        raise RaieConfigError(
            f"keys should be ({n},) integers, got shape {keys.shape} dtype {keys.dtype}"
        )
    keys = keys.astype(np.int64)
    if np.unique(keys).size != n:
        raise RaieConfigError("keys should be unique within a batch")
    return keys


def key_priority(keys: np.ndarray, seed: int) -> np.ndarray:
    """Seeded splitmix64 hash of int64 keys -> (n,) uint64 priority (order-free sampling)."""
    z = keys.astype(np.uint64) ^ np.uint64((seed * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def bottom_k(
    region: np.ndarray, keys: np.ndarray, size: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per region, keep the `size` keys of smallest seeded priority (a uniform random subset).

    region, keys: (m,) int64. Returns (region, keys) sorted by (region, priority); the result
    does not depend on input order and merging two reservoirs = bottom_k of their union.
    """
    order = np.lexsort((keys, key_priority(keys, seed), region))
    region, keys = region[order], keys[order]
    fresh = np.ones(region.size, dtype=bool)
    fresh[1:] = (region[1:] != region[:-1]) | (keys[1:] != keys[:-1])
    region, keys = region[fresh], keys[fresh]
    starts = np.searchsorted(region, region, side="left")
    keep = (np.arange(region.size) - starts) < size
    return region[keep], keys[keep]


def normalize_rows(M: np.ndarray) -> np.ndarray:
    """Rows scaled to unit norm (zero rows stay zero); float64."""
    M = np.asarray(M, dtype=np.float64)
    norm = np.linalg.norm(M, axis=1, keepdims=True)
    return M / np.where(norm > 0, norm, 1.0)


def live_weights(count: np.ndarray, live: np.ndarray, n0: float) -> np.ndarray:
    """pi_k = (n_k + n0) / sum over live (n_j + n0); 0 for retired rows."""
    mass = np.where(live, count + n0, 0.0)
    total = mass.sum()
    return mass / total if total > 0 else mass


def group_sum(
    labels: np.ndarray, X: np.ndarray, k: int, weights: np.ndarray | None = None
) -> np.ndarray:
    """(k, d) float64 sums of weighted rows of X (n, d) by label (n,) in [0, k) (sparse matmul)."""
    w = np.ones(labels.size) if weights is None else np.asarray(weights, dtype=np.float64)
    onehot = sparse.csr_matrix((w, (labels, np.arange(labels.size))), shape=(k, labels.size))
    return np.asarray(onehot @ X.astype(np.float64, copy=False))
