"""Full-ranking evaluation: target ranks, Recall@K / NDCG@K, and a popularity scorer.

DESIGN §2. Every item of the vocabulary is ranked (no sampled negatives); PAD (index 0) and
the items of the window's context are masked, except the target itself. Ties count in the
target's favour: its rank is the number of items with a *strictly* higher score, so a model
that scores every item the same ranks every target 0 (document this when comparing with code
that breaks ties randomly or pessimistically).
"""

from __future__ import annotations

import numpy as np
import torch

from raie_core.errors import RaieConfigError, RaieDataError

DEFAULT_KS = (5, 10, 20)
CHUNK_ELEMENTS = 1 << 22
"""Score elements (rows x vocabulary) masked per chunk: 4M floats = 16 MiB of scratch."""


def _as_long(values: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    tensor = torch.as_tensor(values)
    if tensor.dtype.is_floating_point or tensor.dtype == torch.bool:
        raise RaieConfigError(f"{name} should hold integer item indices, got {tensor.dtype}")
    return tensor.to(torch.int64)


def _check_inputs(scores: torch.Tensor, target: torch.Tensor, context: torch.Tensor | None) -> None:
    if scores.dim() != 2:
        raise RaieConfigError(f"scores should be (n, V), got shape {tuple(scores.shape)}")
    n, n_tokens = scores.shape
    if target.shape != (n,):
        raise RaieConfigError(f"target shape {tuple(target.shape)} should be ({n},)")
    if n and (int(target.min()) < 1 or int(target.max()) >= n_tokens):
        raise RaieConfigError(f"target indices should be in [1, {n_tokens - 1}] (0 is PAD)")
    if context is not None:
        if context.dim() != 2 or context.shape[0] != n:
            raise RaieConfigError(f"context shape {tuple(context.shape)} should be ({n}, L)")
        if context.numel() and (int(context.min()) < 0 or int(context.max()) >= n_tokens):
            raise RaieConfigError(f"context indices should be in [0, {n_tokens - 1}]")


def target_ranks(
    scores: torch.Tensor,
    target: torch.Tensor | np.ndarray,
    context: torch.Tensor | np.ndarray | None = None,
    chunk_elements: int = CHUNK_ELEMENTS,
) -> torch.Tensor:
    """0-based rank of each target among all items: the count of strictly higher scores.

    scores: (n, V) float, V = n_tokens (column 0 = PAD); target: (n,) int64 in [1, V);
    context: (n, L) int64 or None, 0 = padding. PAD and the context items are set to -inf
    before counting, except the target itself (its own score is read unmasked). Work is done
    in row chunks of about chunk_elements scores, so scratch memory stays small.
    Returns (n,) int64. Raises RaieDataError when a target's score is NaN.
    """
    scores = torch.as_tensor(scores)
    target = _as_long(target, "target").to(scores.device)
    ctx = None if context is None else _as_long(context, "context").to(scores.device)
    _check_inputs(scores, target, ctx)
    n, n_tokens = scores.shape
    rows = max(1, chunk_elements // max(n_tokens, 1))
    ranks = torch.empty(n, dtype=torch.int64, device=scores.device)
    for lo in range(0, n, rows):
        hi = min(lo + rows, n)
        ranks[lo:hi] = _chunk_ranks(
            scores[lo:hi], target[lo:hi], None if ctx is None else ctx[lo:hi]
        )
    return ranks


def _chunk_ranks(
    scores: torch.Tensor, target: torch.Tensor, context: torch.Tensor | None
) -> torch.Tensor:
    """Ranks of one chunk: scores (c, V), target (c,), context (c, L) | None -> (c,) int64."""
    own = scores.gather(1, target[:, None]).to(torch.float32)
    if torch.isnan(own).any():
        bad = torch.nonzero(torch.isnan(own[:, 0]))[:5, 0].tolist()
        raise RaieDataError(f"scores of the target are NaN in chunk rows {bad}")
    masked = scores.to(torch.float32, copy=True)
    masked[:, 0] = -torch.inf
    if context is not None and context.numel():
        masked.scatter_(1, context, -torch.inf)
    return (masked > own).sum(dim=1)


def ranking_metrics(
    ranks: torch.Tensor | np.ndarray, ks: tuple[int, ...] = DEFAULT_KS
) -> dict[str, float]:
    """Mean Recall@K (= HR@K, one target) and NDCG@K over every sample.

    ranks: (n,) 0-based ranks, n >= 1. Recall@K = mean(rank < K);
    NDCG@K = mean(1 / log2(rank + 2) if rank < K else 0) (ideal DCG is 1 for one target).
    Returns {"Recall@5": ..., "NDCG@5": ..., ...} in the order of ks.
    """
    rank = torch.as_tensor(ranks).to(torch.float64).reshape(-1)
    if rank.numel() == 0:
        raise RaieDataError("no ranks to average: an evaluation set is empty")
    if bool((rank < 0).any()):
        raise RaieConfigError("ranks should be >= 0 (0-based)")
    metrics: dict[str, float] = {}
    for k in ks:
        metrics[f"Recall@{k}"] = float((rank < k).to(torch.float64).mean())
        metrics[f"NDCG@{k}"] = float(ndcg_gains(rank, k).mean())
    return metrics


def ndcg_gains(ranks: torch.Tensor | np.ndarray, k: int) -> torch.Tensor:
    """(n,) float64 NDCG@k of each sample: 1 / log2(rank + 2) when rank < k, else 0.

    ranks: (n,) 0-based ranks (one target per sample, so the ideal DCG is 1).
    """
    if int(k) != k or k < 1:
        raise RaieConfigError(f"k={k} should be an integer >= 1")
    rank = torch.as_tensor(ranks).to(torch.float64).reshape(-1)
    return torch.where(rank < k, 1.0 / torch.log2(rank + 2.0), 0.0)


def popularity_scores(train_targets: torch.Tensor | np.ndarray, n_tokens: int) -> torch.Tensor:
    """(n_tokens,) float32 counts of each item among training targets (PAD = 0).

    The popularity floor: score every window with these counts, e.g.
    target_ranks(popularity_scores(t, V).expand(n, V), target, context) (expand copies nothing).
    """
    targets = _as_long(train_targets, "train_targets").reshape(-1)
    if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= n_tokens):
        raise RaieConfigError(f"train_targets should be in [0, {n_tokens - 1}]")
    counts = torch.bincount(targets, minlength=n_tokens).to(torch.float32)
    counts[0] = 0.0
    return counts
