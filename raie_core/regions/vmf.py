"""von Mises-Fisher pieces: stable log-normaliser, kappa estimate, thresholds (DESIGN §4.1-4.2).

The vMF density on S^(d-1) is f(x; c, kappa) = C_d(kappa) exp(kappa c.x) with
log C_d(kappa) = (d/2 - 1) log kappa - (d/2) log 2 pi - log I_(d/2-1)(kappa).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ive

_TINY = 1e-300


def log_bessel_iv(order: float, kappa: np.ndarray) -> np.ndarray:
    """log I_order(kappa) for kappa > 0, finite for any order and kappa (float64, kappa's shape).

    Uses log ive(v, k) + k where ive is representable; where it under- or overflows (large
    order with small kappa, e.g. d = 4096 and kappa = 1) the uniform asymptotic (Debye)
    expansion with its first correction term, accurate to O(order^-2), takes over.
    """
    k = np.asarray(kappa, dtype=np.float64)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        scaled = ive(order, k)
        direct = np.log(scaled) + k
    ok = np.isfinite(direct) & (scaled > _TINY)
    if np.all(ok):
        return direct
    return np.where(ok, direct, _log_iv_debye(order, k))


def _log_iv_debye(order: float, kappa: np.ndarray) -> np.ndarray:
    """Debye expansion of log I_v(v z): v eta - log(2 pi v)/2 - log(1 + z^2)/4 + log(1 + u1(t)/v)."""
    v = float(order)
    z = kappa / v
    root = np.sqrt(1.0 + z * z)
    eta = root + np.log(z / (1.0 + root))
    t = 1.0 / root
    u1 = (3.0 * t - 5.0 * t**3) / 24.0
    return v * eta - 0.5 * np.log(2.0 * np.pi * v) - 0.5 * np.log(root) + np.log1p(u1 / v)


def log_normalizer(kappa: np.ndarray, dim: int) -> np.ndarray:
    """log C_d(kappa) (float64, kappa's shape) for the unit sphere in R^dim; kappa > 0."""
    k = np.asarray(kappa, dtype=np.float64)
    half = dim / 2.0
    return (half - 1.0) * np.log(k) - half * np.log(2.0 * np.pi) - log_bessel_iv(half - 1.0, k)


def estimate_kappa(
    resultant: np.ndarray,
    count: np.ndarray,
    prior: np.ndarray,
    n0: float,
    kappa_min: float,
    kappa_max: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Centers and Banerjee kappa from sufficient statistics (DESIGN §4.1).

    resultant S: (K, d), count n: (K,), prior C0: (K, d) unit rows. With T = S + n0 C0:
    c = T / |T|, rbar = |T| / (n + n0), kappa = rbar (d - rbar^2) / (1 - rbar^2), clipped.
    Returns (centers (K, d) float64 unit rows, kappa (K,) float64).
    """
    total = resultant + n0 * prior
    norm = np.linalg.norm(total, axis=1)
    centers = total / np.maximum(norm, _TINY)[:, None]
    rbar = np.clip(norm / (count + n0), 0.0, 1.0 - 1e-12)
    dim = resultant.shape[1]
    kappa = rbar * (dim - rbar**2) / (1.0 - rbar**2)
    return centers, np.clip(kappa, kappa_min, kappa_max)


def thresholds(kappa: np.ndarray, a0: float, a1: float) -> np.ndarray:
    """tau_k = sigmoid(a0 + a1 ln kappa_k) (reference threshold), float64 of kappa's shape."""
    return 1.0 / (1.0 + np.exp(-(a0 + a1 * np.log(np.asarray(kappa, dtype=np.float64)))))
