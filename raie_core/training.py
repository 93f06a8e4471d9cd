"""A generic seeded trainer (minGPT style: it has nothing to do with the model).

The caller gives the parameters to optimise and a ``loss_fn(index) -> scalar`` over sample
indices; the trainer owns batching, AdamW, gradient clipping, validation and early stopping.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from raie_core.errors import RaieConfigError

logger = logging.getLogger(__name__)

LossFn = Callable[[torch.Tensor], torch.Tensor]
"""Maps a (b,) int64 tensor of sample indices to a scalar loss (mean over the batch)."""


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings: the one definition of every training knob (DESIGN §4.7).

    lr: AdamW learning rate. weight_decay: AdamW decoupled weight decay.
    batch_size: samples per step. max_epochs: hard cap on passes over the training rows.
    patience: epochs without a validation improvement (by more than ``min_delta``) before
    stopping; the parameters of the best epoch are restored. Without validation rows every
    epoch runs. grad_clip: max global gradient L2 norm (0 disables clipping).
    val_fraction: share of the validation candidates (the new rows; the latest ones when
    timestamps are known) held out for early stopping (`validation_split`).
    keep_start: the starting parameters compete with every epoch on validation, so training
    that never beats the start (an update that does not help the new data) changes nothing.
    Defaults are the update budget of every adapter and baseline (10 epochs, patience 2,
    chosen on F's validation block of ML-100K); the backbones nest their own instance.
    """

    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 128
    max_epochs: int = 10
    patience: int = 2
    min_delta: float = 0.0
    grad_clip: float = 1.0
    val_fraction: float = 0.1
    keep_start: bool = True

    def __post_init__(self) -> None:
        _check(math.isfinite(self.lr) and self.lr > 0, "lr", self.lr, "> 0")
        _check(self.weight_decay >= 0, "weight_decay", self.weight_decay, ">= 0")
        _check(self.batch_size >= 1, "batch_size", self.batch_size, ">= 1")
        _check(self.max_epochs >= 1, "max_epochs", self.max_epochs, ">= 1")
        _check(self.patience >= 1, "patience", self.patience, ">= 1")
        _check(self.min_delta >= 0, "min_delta", self.min_delta, ">= 0")
        _check(self.grad_clip >= 0, "grad_clip", self.grad_clip, ">= 0")
        _check(0.0 <= self.val_fraction < 1.0, "val_fraction", self.val_fraction, "in [0, 1)")


def replay_count(n_new: int, ratio: float) -> int:
    """Replayed rows that make up ``ratio`` of a training set with ``n_new`` new rows:
    round(n_new * ratio / (1 - ratio)) (the reference formula); ratio in [0, 1)."""
    _check(0.0 <= ratio < 1.0, "replay_ratio", ratio, "in [0, 1)")
    return int(round(n_new * ratio / (1.0 - ratio)))


@dataclass(frozen=True)
class TrainResult:
    """What one ``fit`` did.

    train_losses / val_losses: per epoch (val empty without validation rows).
    epochs: epochs run; best_epoch: 1-based epoch whose parameters were kept, 0 when no
    epoch beat the starting parameters on validation (they were kept: see ``keep_start``).
    stopped_early: patience ran out before max_epochs. n_train / n_val: rows used.
    """

    train_losses: tuple[float, ...]
    val_losses: tuple[float, ...]
    epochs: int
    best_epoch: int
    stopped_early: bool
    n_train: int
    n_val: int


def _check(ok: bool, field: str, value: object, rule: str) -> None:
    if not ok:
        raise RaieConfigError(f"{field}={value!r} should be {rule}")


def validation_split(
    candidates: np.ndarray,
    fraction: float,
    seed: int,
    others: np.ndarray | None = None,
    times: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded validation split: random, or the latest rows when ``times`` is given.

    candidates: (m,) int64 row indices the validation rows may come from.
    others: (k,) int64 rows that always go to training (e.g. replay), or None.
    times: (m,) int64 time of each candidate (e.g. its target's timestamp), or None. Given,
    the ``round(fraction * m)`` latest candidates validate (ties in seeded random order), so
    early stopping picks the epoch that generalises forward in time; overlapping windows of
    one user cannot sit on both sides of a random cut.
    Returns (train_index, val_index), both int64 and sorted; ``round(fraction * m)`` rows
    are held out, none when that is 0 or fewer than 2 candidates exist.
    """
    _check(0.0 <= fraction < 1.0, "val_fraction", fraction, "in [0, 1)")
    candidates = np.asarray(candidates, dtype=np.int64)
    n_val = int(round(fraction * len(candidates))) if len(candidates) >= 2 else 0
    perm = np.random.default_rng(seed).permutation(len(candidates))
    if times is not None:
        times = np.asarray(times, dtype=np.int64)
        if len(times) != len(candidates):
            raise RaieConfigError(
                f"times rows={len(times)} should equal candidates={len(candidates)}"
            )
        perm = perm[np.argsort(-times[perm], kind="stable")]
    val = np.sort(candidates[perm[:n_val]])
    train = candidates[perm[n_val:]]
    if others is not None:
        train = np.concatenate([train, np.asarray(others, dtype=np.int64)])
    return np.sort(train), val


def fit(
    module: torch.nn.Module,
    params: Sequence[torch.nn.Parameter],
    loss_fn: LossFn,
    train_index: np.ndarray,
    val_index: np.ndarray,
    config: TrainConfig,
    seed: int,
) -> TrainResult:
    """Train ``params`` by minimising ``loss_fn`` over batches of ``train_index``.

    module: set to train mode for steps and eval mode for validation (restored at the end).
    params: the parameters AdamW updates (must require grad); nothing else is touched.
    train_index / val_index: (n,) / (m,) int64 sample indices handed to ``loss_fn``.
    seed: seeds the batch order and torch's RNG (dropout, init) inside ``fit``. The torch RNG is forked, so the caller's global RNG state is left unchanged.
    """
    params = list(params)
    if not params or not all(p.requires_grad for p in params):
        raise RaieConfigError("fit needs a non-empty list of parameters that require grad")
    if len(train_index) == 0:
        raise RaieConfigError("train_index is empty: nothing to train on")
    was_training = module.training
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        result = _fit(module, params, loss_fn, train_index, val_index, config, seed)
    module.train(was_training)
    return result


def _fit(
    module: torch.nn.Module,
    params: list[torch.nn.Parameter],
    loss_fn: LossFn,
    train_index: np.ndarray,
    val_index: np.ndarray,
    config: TrainConfig,
    seed: int,
) -> TrainResult:
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    rng = np.random.default_rng(seed)
    train_losses: list[float] = []
    val_losses: list[float] = []
    best, best_epoch, best_state = float("inf"), 0, None
    if len(val_index) and config.keep_start:
        best = evaluate(module, loss_fn, val_index, config.batch_size)
        best_state = [p.detach().clone() for p in params]
    for epoch in range(1, config.max_epochs + 1):
        order = np.asarray(train_index, dtype=np.int64)[rng.permutation(len(train_index))]
        train_losses.append(_epoch(module, params, loss_fn, order, optimizer, config))
        if len(val_index) == 0:
            best_epoch = epoch
            continue
        val_losses.append(evaluate(module, loss_fn, val_index, config.batch_size))
        if val_losses[-1] < best - config.min_delta:
            best, best_epoch = val_losses[-1], epoch
            best_state = [p.detach().clone() for p in params]
        logger.debug("epoch %d train %.4f val %.4f", epoch, train_losses[-1], val_losses[-1])
        if epoch - best_epoch >= config.patience:
            break
    if best_state is not None:
        with torch.no_grad():
            for p, saved in zip(params, best_state, strict=True):
                p.copy_(saved)
    epochs = len(train_losses)
    return TrainResult(
        train_losses=tuple(train_losses),
        val_losses=tuple(val_losses),
        epochs=epochs,
        best_epoch=best_epoch,
        stopped_early=epochs < config.max_epochs,
        n_train=len(train_index),
        n_val=len(val_index),
    )


def _epoch(
    module: torch.nn.Module,
    params: list[torch.nn.Parameter],
    loss_fn: LossFn,
    order: np.ndarray,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
) -> float:
    module.train()
    total = 0.0
    for start in range(0, len(order), config.batch_size):
        batch = torch.from_numpy(order[start : start + config.batch_size])
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(batch)
        loss.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        total += float(loss.detach()) * len(batch)
    return total / len(order)


def evaluate(module: torch.nn.Module, loss_fn: LossFn, index: np.ndarray, batch_size: int) -> float:
    """Mean of ``loss_fn`` over ``index`` (batch-size weighted), eval mode, no grad."""
    module.eval()
    index = np.asarray(index, dtype=np.int64)
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(index), batch_size):
            batch = torch.from_numpy(index[start : start + batch_size])
            total += float(loss_fn(batch)) * len(batch)
    return total / len(index)


def weighted_cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Full-softmax cross-entropy: (n, V) logits, (n,) int64 targets, optional (n,) weights
    -> scalar weighted mean (plain mean without weights)."""
    per_row = torch.nn.functional.cross_entropy(logits, target, reduction="none")
    if weight is None:
        return per_row.mean()
    weight = weight.to(per_row.device, per_row.dtype)
    return (per_row * weight).sum() / weight.sum()
