"""Drift-confidence scoring of incoming windows against the live regions (DESIGN §4.2).

log p_k(x) = log pi_k + log C_d(kappa_k) + kappa_k x.c_k - logsumexp_j(...), the exact
vMF-mixture posterior (not the reference's beta = 8 temperature, which saturates p1 at 1).
Chunked: memory is O(chunk_size x K) beyond the (n,) outputs; the matmul runs in float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from raie_core.errors import RaieStateError
from raie_core.regions.config import RegionConfig
from raie_core.regions.state import Regions, validate_unit_rows
from raie_core.regions.vmf import log_normalizer, thresholds


@dataclass(frozen=True, eq=False)
class DriftScores:
    """Per-sample scores against the live regions (all (n,) arrays unless stated).

    columns (K,) int64 live region ids; tau (K,) float64 thresholds tau_k.
    k1, k2 int64 ids of the top-2 posterior regions (k2 = -1 when one region is live);
    p1, p2, margin = p1 - p2 float32; angle1, angle2 float32 radians to c_k1, c_k2.
    band int64: the highest-posterior region whose band R_k (1 + eps_band) holds x, -1 if none;
    band_angle, band_p float32 (angle, posterior of that region; nan when band = -1);
    band_margin float32: band_p minus the best other posterior.
    """

    columns: np.ndarray
    tau: np.ndarray
    k1: np.ndarray
    k2: np.ndarray
    p1: np.ndarray
    p2: np.ndarray
    margin: np.ndarray
    angle1: np.ndarray
    angle2: np.ndarray
    band: np.ndarray
    band_angle: np.ndarray
    band_p: np.ndarray
    band_margin: np.ndarray

    def __len__(self) -> int:
        return int(self.k1.size)


def _live_terms(regions: Regions, config: RegionConfig) -> tuple[np.ndarray, ...]:
    """float32 (centers (K, d), kappa (K,), bias = log pi + log C_d(kappa) (K,), cos of band (K,))."""
    live = regions.live
    if not live.any():
        raise RaieStateError("there is no live region to score against")
    kappa = regions.kappa[live]
    bias = np.log(regions.weight[live]) + log_normalizer(kappa, regions.dim)
    band = np.minimum(regions.radius[live] * (1.0 + config.eps_band), np.pi)
    f32 = np.float32
    return (
        regions.center[live].astype(f32),
        kappa.astype(f32),
        bias.astype(f32),
        np.cos(band).astype(f32),
    )


def log_posterior(regions: Regions, X: np.ndarray) -> np.ndarray:
    """(n, K_live) float64 log posterior over live regions; X (n, d) float32 unit rows."""
    X = validate_unit_rows(X)
    live = regions.live
    if not live.any():
        raise RaieStateError("there is no live region to score against")
    kappa = regions.kappa[live]
    logits = (np.log(regions.weight[live]) + log_normalizer(kappa, regions.dim))[None, :] + (
        X @ regions.center[live].astype(np.float32).T
    ).astype(np.float64) * kappa[None, :]
    top = logits.max(axis=1, keepdims=True)
    return logits - (top + np.log(np.exp(logits - top).sum(axis=1, keepdims=True)))


def score_drift(regions: Regions, X: np.ndarray, config: RegionConfig) -> DriftScores:
    """Score X (n, d) float32 unit rows against the live regions (DESIGN §4.2), chunked."""
    X = validate_unit_rows(X)
    if X.shape[1] != regions.dim:
        raise RaieStateError(f"X has d={X.shape[1]} but the regions have d={regions.dim}")
    terms = _live_terms(regions, config)
    columns = regions.live_ids
    starts = range(0, max(X.shape[0], 1), config.chunk_size)
    parts = [_score_chunk(X[start : start + config.chunk_size], terms) for start in starts]
    out = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    for name in ("k1", "k2", "band"):
        idx = out[name]
        out[name] = np.where(idx >= 0, columns[np.maximum(idx, 0)], -1).astype(np.int64)
    tau = thresholds(regions.kappa[regions.live], config.tau_a0, config.tau_a1)
    return DriftScores(columns=columns, tau=tau, **out)


def _score_chunk(X: np.ndarray, terms: tuple[np.ndarray, ...]) -> dict[str, np.ndarray]:
    """Scores of one chunk in float32; k1/k2/band returned as column positions (-1 = none)."""
    centers, kappa, bias, cos_band = terms
    n, k = X.shape[0], centers.shape[0]
    rows = np.arange(n)
    cos = X @ centers.T
    logits = np.multiply(cos, kappa[None, :])
    logits += bias[None, :]
    k1 = np.argmax(logits, axis=1)
    top = logits[rows, k1]
    shifted = logits - top[:, None]
    lse = top + np.log(np.exp(shifted, out=shifted).sum(axis=1))
    band, band_logit = _band(cos, logits, cos_band, k1, top)
    has_band = band >= 0
    logits[rows, k1] = -np.inf
    k2 = np.argmax(logits, axis=1) if k > 1 else np.full(n, -1)
    second = logits[rows, k2] if k > 1 else np.full(n, -np.inf, dtype=np.float32)
    p1, p2 = np.exp(top - lse), np.exp(second - lse)
    band_p = np.where(has_band, np.exp(band_logit - lse), np.nan).astype(np.float32)
    safe = np.maximum(band, 0)
    angle = np.arccos(np.clip(cos[rows, safe], -1.0, 1.0))
    return {
        "k1": k1,
        "k2": k2,
        "p1": p1,
        "p2": p2,
        "margin": p1 - p2,
        "angle1": np.arccos(np.clip(cos[rows, k1], -1.0, 1.0)),
        "angle2": np.arccos(np.clip(cos[rows, k2], -1.0, 1.0))
        if k > 1
        else np.full(n, np.nan, np.float32),
        "band": band,
        "band_angle": np.where(has_band, angle, np.nan).astype(np.float32),
        "band_p": band_p,
        "band_margin": band_p - np.where(band == k1, p2, p1),
    }


def _band(
    cos: np.ndarray, logits: np.ndarray, cos_band: np.ndarray, k1: np.ndarray, top: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Highest-logit column whose band holds each row (-1 if none) and its logit.

    Most rows lie in k1's own band; only the others are searched over all columns.
    """
    rows = np.arange(cos.shape[0])
    band, band_logit = k1.copy(), top.copy()
    other = np.flatnonzero(cos[rows, k1] < cos_band[k1])
    if other.size:
        inside = cos[other] >= cos_band[None, :]
        masked = np.where(inside, logits[other], -np.inf)
        best = np.argmax(masked, axis=1)
        band[other] = np.where(inside.any(axis=1), best, -1)
        band_logit[other] = masked[np.arange(other.size), best]
    return band, band_logit
