"""Routed inference over a bank of adapters (DESIGN §4.8): each window scored through its
region's adapter, many regions per forward pass, with the fallback for the rest; and the
per-window loss of one adapter (the promotion test's input)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from raie_core.adapters import BASE, GLOBAL, RegionAdapters, adapter_name
from raie_core.errors import RaieConfigError, RaieStateError
from raie_core.metrics import ndcg_gains, target_ranks


@dataclass(frozen=True, eq=False)
class RoutedScores:
    """scores: (n, n_tokens) float32 logits; route: (n,) int64 region used per row (-1 = base)."""

    scores: torch.Tensor
    route: np.ndarray


def routed_scores(
    bank: RegionAdapters, context: np.ndarray, route: np.ndarray, batch_size: int = 256
) -> RoutedScores:
    """Score windows, each through its region's adapter, many regions per forward pass.

    context: (n, L) int64; route: (n,) int64 region ids, -1 = none. A row of no region, or
    of a region without an adapter in the bank, is scored by the fallback (`fallback_name`:
    the shared adapter when the bank has one, else the base). Rows are grouped by route, then
    scored in chunks with peft's ``adapter_names`` (eval mode). Returns scores in input
    order and the route actually used (-1 = the fallback).
    """
    route = np.asarray(route, dtype=np.int64)
    if len(route) != len(context):
        raise RaieConfigError(f"route rows={len(route)} should equal context rows={len(context)}")
    if batch_size < 1:
        raise RaieConfigError(f"batch_size={batch_size} should be >= 1")
    used = route.copy()
    for region in np.unique(route):
        if region < 0 or adapter_name(int(region)) not in bank:
            used[route == region] = -1
    order = np.argsort(used, kind="stable")
    scores = torch.empty((len(route), bank.backbone.vocab.n_tokens), dtype=torch.float32)
    if bank.model is not None:
        bank.model.eval()
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            scores[torch.from_numpy(rows)] = _score_chunk(bank, context[rows], used[rows])
    return RoutedScores(scores=scores, route=used)


def fallback_name(bank: RegionAdapters) -> str:
    """The adapter that scores windows no region adapter claims: the shared one if present."""
    return GLOBAL if GLOBAL in bank else BASE


def _score_chunk(bank: RegionAdapters, context: np.ndarray, used: np.ndarray) -> torch.Tensor:
    ctx = torch.from_numpy(np.ascontiguousarray(context, dtype=np.int64))
    fallback = fallback_name(bank)
    if bank.model is None:
        return bank.backbone.logits(bank.base_model, ctx)
    names = [fallback if r < 0 else adapter_name(int(r)) for r in used]
    return bank.backbone.logits(bank.model, ctx, adapter_names=names)


def window_gains(
    bank: RegionAdapters,
    name: str,
    context: np.ndarray,
    target: np.ndarray,
    k: int,
    batch_size: int = 256,
) -> np.ndarray:
    """(n,) float64 NDCG@k of each target under adapter ``name`` (`BASE`: the bank's base),
    ranked among all items with the context's own items masked (`target_ranks`)."""
    logits = _window_logits(bank, name, context, batch_size)
    ranks = target_ranks(logits, target, context)
    return ndcg_gains(ranks, k).numpy()


def window_losses(
    bank: RegionAdapters,
    name: str,
    context: np.ndarray,
    target: np.ndarray,
    batch_size: int = 256,
) -> np.ndarray:
    """(n,) float32 full-softmax cross-entropy of each target under adapter ``name`` (eval;
    `BASE`: the bank's base), ``batch_size`` rows per forward pass."""
    logits = _window_logits(bank, name, context, batch_size)
    tgt = torch.from_numpy(np.ascontiguousarray(target, dtype=np.int64))
    return F.cross_entropy(logits, tgt, reduction="none").numpy()


def _window_logits(
    bank: RegionAdapters, name: str, context: np.ndarray, batch_size: int
) -> torch.Tensor:
    """(n, n_tokens) float32 logits of every row under adapter ``name`` (eval, no grad)."""
    if name != BASE and name not in bank:
        raise RaieStateError(f"adapter {name!r} does not exist")
    model = bank.base_model if bank.model is None else bank.model
    model.eval()
    ctx = torch.from_numpy(np.ascontiguousarray(context, dtype=np.int64))
    out = [torch.zeros((0, bank.backbone.vocab.n_tokens), dtype=torch.float32)]
    with torch.no_grad():
        for start in range(0, len(ctx), batch_size):
            rows = ctx[start : start + batch_size]
            names = None if bank.model is None else [name] * len(rows)
            out.append(bank.backbone.logits(model, rows, adapter_names=names))
    return torch.cat(out)
