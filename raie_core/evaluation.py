"""Routed evaluation and sample keys of one bank (DESIGN §2, §4.8); the quality gate is
raie_core.gate.

A bank = frozen backbone + regions + region adapters. Every evaluation window is scored,
whatever its route: rows outside every band, or in a region without a trained adapter, go
through the unchanged base.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from raie_core.adapters import RegionAdapters
from raie_core.backbones import Backbone, encode_array
from raie_core.errors import RaieConfigError
from raie_core.metrics import ranking_metrics, target_ranks
from raie_core.protocol import Windows
from raie_core.regions import Decisions, RegionConfig, Regions, route
from raie_core.scoring import routed_scores

KEY_SHIFT = 32
"""Sample key = (period code << 32) | row: rows of one period's windows stay below 2**32."""
SETUP_CODE = 0
"""Period code of the setup windows (periods use their date's proleptic ordinal)."""


def sample_keys(code: int, n: int) -> np.ndarray:
    """Keys (n,) int64 of the rows 0..n-1 of the windows of period ``code``."""
    if code < 0 or n < 0 or n >= 1 << KEY_SHIFT:
        raise RaieConfigError(f"code={code}, n={n} should be >= 0 and n < 2**{KEY_SHIFT}")
    return (np.int64(code) << KEY_SHIFT) | np.arange(n, dtype=np.int64)


def split_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of `sample_keys`: (codes, rows), both (n,) int64."""
    keys = np.asarray(keys, dtype=np.int64)
    return keys >> KEY_SHIFT, keys & ((1 << KEY_SHIFT) - 1)


def windows_by_key(keys: np.ndarray, windows_of: Callable[[int], Windows]) -> Windows:
    """The windows named by (m,) int64 sample keys, in key order.

    windows_of: period code -> that period's windows (called once per code present).
    """
    codes, rows = split_keys(keys)
    if len(codes) == 0:
        raise RaieConfigError("no sample keys to resolve")
    parts, order = [], []
    for code in np.unique(codes):
        chosen = np.flatnonzero(codes == code)
        parts.append(windows_of(int(code)).subset(rows[chosen]))
        order.append(chosen)
    return Windows.concat(parts).subset(np.argsort(np.concatenate(order), kind="stable"))


@dataclass(frozen=True, eq=False)
class Evaluation:
    """metrics: Recall@K / NDCG@K; ranks (n,) int64 0-based; route (n,) int64 (-1 = base)."""

    metrics: dict[str, float]
    ranks: np.ndarray
    route: np.ndarray

    @property
    def routed_share(self) -> float:
        """Fraction of rows served by a region adapter (not the base)."""
        return float(np.mean(self.route >= 0)) if len(self.route) else 0.0


def evaluate_bank(
    backbone: Backbone,
    windows: Windows,
    regions: Regions | None = None,
    adapters: RegionAdapters | None = None,
    region_config: RegionConfig | None = None,
    ks: tuple[int, ...] = (5, 10, 20),
    chunk: int = 2048,
) -> Evaluation:
    """Full-ranking metrics of the routed bank on ``windows`` (context items masked).

    Without regions/adapters every row goes through the base. Scoring runs in chunks of
    ``chunk`` rows so memory stays (chunk, n_tokens).
    """
    if len(windows) == 0:
        raise RaieConfigError("windows has no rows to evaluate")
    n = len(windows)
    used = np.full(n, -1, dtype=np.int64)
    if regions is not None and adapters is not None:
        if region_config is None:
            raise RaieConfigError("region_config is required to route through regions")
        X = encode_array(backbone, windows.context)
        used = route(regions, X, region_config).region
    ranks = np.empty(n, dtype=np.int64)
    for start in range(0, n, chunk):
        rows = slice(start, start + chunk)
        context = torch.from_numpy(np.ascontiguousarray(windows.context[rows], dtype=np.int64))
        target = torch.from_numpy(np.ascontiguousarray(windows.target[rows], dtype=np.int64))
        if adapters is None:
            with torch.no_grad():
                scores = backbone.logits(backbone.model, context)
        else:
            result = routed_scores(adapters, windows.context[rows], used[rows])
            scores, used[rows] = result.scores, result.route
        ranks[rows] = target_ranks(scores, target, context).numpy()
    return Evaluation(ranking_metrics(ranks, ks), ranks, used)


def parent_region(previous: Regions, center: np.ndarray) -> int | None:
    """The live region of ``previous`` nearest to ``center`` (d,) — a new region's parent."""
    live = previous.live
    if not live.any():
        return None
    sims = previous.center[live] @ np.asarray(center, dtype=np.float32)
    return int(previous.ids[live][int(np.argmax(sims))])


def top_k(scores: torch.Tensor, context: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best unseen items per row: (n, k) int64 item indices and (n, k) float32 scores.

    scores (n, n_tokens); PAD and the row's context items are excluded.
    """
    if k < 1 or k >= scores.shape[1]:
        raise RaieConfigError(f"k={k} should be in [1, {scores.shape[1] - 1}]")
    masked = scores.clone()
    masked[:, 0] = float("-inf")
    ctx = torch.from_numpy(np.ascontiguousarray(context, dtype=np.int64))
    masked.scatter_(1, ctx, float("-inf"))
    masked[:, 0] = float("-inf")
    values, index = torch.topk(masked, k, dim=1)
    return index.numpy().astype(np.int64), values.numpy().astype(np.float32)


def drift_summary(decisions: Decisions) -> dict[str, float]:
    """Confidence statistics of a period's decisions (logged every period; empty if no rows)."""
    if len(decisions.p1) == 0:
        return {}
    return {
        "p1_mean": float(np.mean(decisions.p1)),
        "p1_median": float(np.median(decisions.p1)),
        "margin_mean": float(np.mean(decisions.p1 - decisions.p2)),
        "angle_mean_deg": float(np.degrees(np.mean(decisions.angle))),
    }
