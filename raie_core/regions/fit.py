"""Setup fit: spherical k-means++ with restarts, vMF BIC for K, region statistics (DESIGN §4.1)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from raie_core.errors import RaieConfigError
from raie_core.regions.config import RegionConfig, RegionStatus
from raie_core.regions.state import (
    Regions,
    bottom_k,
    group_sum,
    live_weights,
    normalize_rows,
    validate_keys,
    validate_unit_rows,
)
from raie_core.regions.vmf import estimate_kappa, log_normalizer

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class KMeansResult:
    """centers (k, d) float64 unit rows; labels (n,) int64; objective = sum of member cosines."""

    centers: np.ndarray
    labels: np.ndarray
    objective: float


def spherical_kmeans(X: np.ndarray, k: int, n_init: int, max_iter: int, seed: int) -> KMeansResult:
    """Spherical k-means (cosine assignment, normalised means), k-means++ seeding, best of n_init.

    X: (n, d) float32 unit rows, n >= k. Deterministic for a given seed and row order.
    """
    X = validate_unit_rows(X)
    if k < 1 or X.shape[0] < k:
        raise RaieConfigError(f"n_samples={X.shape[0]} should be >= n_regions={k} >= 1")
    rng = np.random.default_rng(seed)
    best: KMeansResult | None = None
    for _ in range(n_init):
        result = _lloyd(X, _kmeanspp(X, k, rng), max_iter)
        if best is None or result.objective > best.objective + 1e-9:
            best = result
    assert best is not None
    return best


def _kmeanspp(X: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy k-means++ on the sphere (as scikit-learn's): each step draws 2 + ln k candidates
    with probability ~ 1 - max cos (chordal^2 / 2) and keeps the one that lowers the potential most.
    """
    trials = 2 + int(np.log(k))
    chosen = [int(rng.integers(X.shape[0]))]
    gap = np.clip(1.0 - X @ X[chosen[0]], 0.0, None).astype(np.float64)
    for _ in range(1, k):
        total = gap.sum()
        weights = gap / total if total > 0 else np.full(X.shape[0], 1.0 / X.shape[0])
        candidates = rng.choice(X.shape[0], size=trials, p=weights)
        gaps = np.minimum(gap[None, :], np.clip(1.0 - X[candidates] @ X.T, 0.0, None))
        best = int(np.argmin(gaps.sum(axis=1)))
        chosen.append(int(candidates[best]))
        gap = gaps[best]
    return X[chosen].astype(np.float64)


def _lloyd(X: np.ndarray, centers: np.ndarray, max_iter: int) -> KMeansResult:
    labels = np.full(X.shape[0], -1, dtype=np.int64)
    k = centers.shape[0]
    for _ in range(max_iter):
        cos = X @ centers.astype(np.float32).T
        new = np.argmax(cos, axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
        sums = group_sum(labels, X, k)
        empty = np.flatnonzero(np.bincount(labels, minlength=k) == 0)
        own = cos[np.arange(X.shape[0]), labels]
        for j, far in zip(empty, np.argsort(own)[: empty.size], strict=True):
            sums[j] = X[far]
        centers = normalize_rows(sums)
    cos = X @ centers.astype(np.float32).T
    labels = np.argmax(cos, axis=1)
    return KMeansResult(centers, labels, float(cos[np.arange(X.shape[0]), labels].sum()))


def mixture_loglik(
    X: np.ndarray, centers: np.ndarray, kappa: np.ndarray, weight: np.ndarray
) -> float:
    """sum_i log sum_k pi_k C_d(kappa_k) exp(kappa_k x_i.c_k); X (n, d), centers (K, d)."""
    logits = (np.log(weight) + log_normalizer(kappa, X.shape[1]))[None, :] + (
        X.astype(np.float64) @ centers.T
    ) * kappa[None, :]
    return float(logsumexp(logits, axis=1).sum())


def vmf_bic(X: np.ndarray, centers: np.ndarray, kappa: np.ndarray, weight: np.ndarray) -> float:
    """BIC = -2 LL + p ln n, p = K(d - 1) centers + K kappas + (K - 1) weights."""
    k, d = centers.shape
    n_params = k * (d - 1) + k + (k - 1)
    return -2.0 * mixture_loglik(X, centers, kappa, weight) + n_params * np.log(X.shape[0])


def cluster_rows(
    X: np.ndarray, labels: np.ndarray, centers: np.ndarray, config: RegionConfig
) -> dict[str, np.ndarray]:
    """Statistics of k clusters as region rows: resultant, count, prior, center, kappa, radius, spread.

    X (n, d) float32 unit; labels (n,) in [0, k); centers (k, d) the k-means centers (priors C0).
    R_k = q-quantile of member angles clipped to [radius_min, radius_max]; sigma_k = RMS angle.
    """
    k, d = centers.shape
    resultant = group_sum(labels, X, k)
    count = np.bincount(labels, minlength=k).astype(np.float64)
    center, kappa = estimate_kappa(
        resultant, count, centers, config.n0, config.kappa_min, config.kappa_max
    )
    angle = np.arccos(np.clip(np.einsum("ij,ij->i", X.astype(np.float64), center[labels]), -1, 1))
    radius = np.full(k, config.radius_min)
    spread = np.zeros(k)
    for j in np.flatnonzero(count > 0):
        member = angle[labels == j]
        radius[j] = np.quantile(member, config.radius_quantile)
        spread[j] = np.sqrt(np.mean(member**2))
    radius = np.clip(radius, config.radius_min, config.radius_max)
    return {
        "resultant": resultant,
        "count": count,
        "prior": centers.copy(),
        "center": center,
        "kappa": kappa,
        "radius": radius,
        "spread": spread,
    }


def fit_regions(
    X: np.ndarray, config: RegionConfig, seed: int, keys: np.ndarray | None = None, period: int = 0
) -> Regions:
    """Fit the setup regions on X (n, d) float32 unit rows (DESIGN §4.1).

    K = config.n_regions, or when None the K in [k_min, k_max] with the lowest vMF BIC.
    keys: (n,) int64 caller sample keys filling the replay reservoirs (None: arange(n)).
    Returns Regions with ids 0..K-1, all LIVE, created = touched = period, empty pool.
    """
    X = validate_unit_rows(X)
    keys = validate_keys(keys, X.shape[0])
    smallest = config.n_regions if config.n_regions is not None else config.k_min
    if X.shape[0] < smallest:
        raise RaieConfigError(f"n_samples={X.shape[0]} should be >= n_regions={smallest}")
    if config.n_regions is not None:
        km = spherical_kmeans(X, config.n_regions, config.n_init, config.max_iter, seed)
    else:
        km = _select_k(X, config, seed)
    rows = cluster_rows(X, km.labels, km.centers, config)
    k = km.centers.shape[0]
    live = np.ones(k, dtype=bool)
    res_region, res_keys = bottom_k(km.labels.astype(np.int64), keys, config.reservoir_size, seed)
    return Regions(
        ids=np.arange(k, dtype=np.int64),
        weight=live_weights(rows["count"], live, config.n0),
        created=np.full(k, period, dtype=np.int64),
        touched=np.full(k, period, dtype=np.int64),
        status=np.full(k, RegionStatus.LIVE, dtype=np.int8),
        merged_into=np.full(k, -1, dtype=np.int64),
        pool_vectors=np.zeros((0, X.shape[1]), dtype=np.float32),
        pool_keys=np.zeros(0, dtype=np.int64),
        pool_period=np.zeros(0, dtype=np.int64),
        reservoir_region=res_region,
        reservoir_keys=res_keys,
        next_id=k,
        period=period,
        seed=seed,
        **rows,
    )


def _select_k(X: np.ndarray, config: RegionConfig, seed: int) -> KMeansResult:
    """Fit every K in [k_min, min(k_max, n)] and keep the lowest vMF BIC."""
    best: tuple[float, KMeansResult] | None = None
    for k in range(config.k_min, min(config.k_max, X.shape[0]) + 1):
        km = spherical_kmeans(X, k, config.n_init, config.max_iter, seed)
        rows = cluster_rows(X, km.labels, km.centers, config)
        weight = live_weights(rows["count"], np.ones(k, dtype=bool), config.n0)
        bic = vmf_bic(X, rows["center"], rows["kappa"], weight)
        logger.debug("K=%d vMF BIC %.1f", k, bic)
        if best is None or bic < best[0]:
            best = (bic, km)
    assert best is not None
    return best[1]
