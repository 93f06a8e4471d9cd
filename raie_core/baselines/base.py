"""The uniform update-method interface, its budget config and the no-update `base` method.

DESIGN §5: every method starts from the same frozen setup-trained backbone, trains through
`raie_core.training.fit` with the same epochs / batch / early-stopping budget and seed, and
is scored by full ranking over the whole vocabulary.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from raie_core.adapters import AdapterConfig, AdapterTrainingSet
from raie_core.backbones.base import Backbone
from raie_core.errors import RaieConfigError
from raie_core.metrics import DEFAULT_KS, popularity_scores, ranking_metrics, target_ranks
from raie_core.protocol import Windows
from raie_core.regions import RegionConfig
from raie_core.training import TrainConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EbprConfig:
    """`ebpr` edit settings: the reference `E-BPR.py`'s (research/reference-code.md §6) except lr.

    top / per_window / max_pairs: mine up to ``per_window`` non-target items from each new
    window's ``top`` best unseen items, at most ``max_pairs`` pairs (seeded subset). steps /
    lr / batch_size / negatives / grad_clip: Adam edit steps on the item embedding, each on
    ``batch_size`` seeded pairs with ``negatives`` uniformly drawn items per pair, gradient
    norm clipped at ``grad_clip``. Its budget is these steps, not `TrainConfig.max_epochs`.
    lr 3e-5 was chosen on F's validation block (ML-100K, seqrec, 5 seeds): the reference's
    3e-4 loses 0.004 V NDCG@10 to never updating, 3e-5 ties it.
    """

    top: int = 10
    per_window: int = 2
    max_pairs: int = 10_000
    steps: int = 20
    lr: float = 3e-5
    batch_size: int = 512
    negatives: int = 20
    grad_clip: float = 1.0

    def __post_init__(self) -> None:
        for name in ("top", "per_window", "max_pairs", "steps", "batch_size", "negatives"):
            if getattr(self, name) < 1:
                _fail(f"ebpr.{name}", getattr(self, name), ">= 1")
        if not (math.isfinite(self.lr) and self.lr > 0):
            _fail("ebpr.lr", self.lr, "> 0")
        if not self.grad_clip > 0:
            _fail("ebpr.grad_clip", self.grad_clip, "> 0")


@dataclass(frozen=True)
class MethodConfig:
    """What the benchmark's methods share, and each baseline's own knobs (tuned on F only).

    adapters: LoRA shape, training budget (`TrainConfig`: early stopping on a seeded split of
    the *new* rows; replayed rows always train) and replay ratio of every adapter-based
    method: RAIE's region adapters and the `lora` / `replay` / `lwf` / `lsat` / `mole`
    baselines; `full_ft` uses the same budget with its own lr. regions: the region-editing
    config of `raie`. Both are the pipeline's own (`PipelineConfig.regions` / `.adapters`).
    full_ft_lr: learning rate of `full_ft`, which moves every backbone weight (a LoRA-sized
    lr wrecks a 2-layer model).
    lwf_alpha / lwf_temperature: weight and temperature T of the distillation term
    alpha T^2 KL(p_base^T || p^T) of `lwf`.
    lsat_alpha: `lsat` scores alpha * long-term logits + (1 - alpha) * short-term logits.
    mole_experts / mole_temperature / mole_balance: experts K, gate softmax temperature and
    weight of the load-balancing term K sum_k mean(g_k)^2 - 1 of `mole`.
    ebpr: the edit settings of `ebpr`.
    score_batch: rows per scoring and encoding forward pass.
    """

    adapters: AdapterConfig = field(default_factory=AdapterConfig)
    regions: RegionConfig = field(default_factory=RegionConfig)
    full_ft_lr: float = 1e-4
    lwf_alpha: float = 1.0
    lwf_temperature: float = 2.0
    lsat_alpha: float = 0.5
    mole_experts: int = 3
    mole_temperature: float = 1.0
    mole_balance: float = 0.01
    ebpr: EbprConfig = field(default_factory=EbprConfig)
    score_batch: int = 512

    def __post_init__(self) -> None:
        for name in ("mole_experts", "score_batch"):
            if getattr(self, name) < 1:
                _fail(name, getattr(self, name), ">= 1")
        for name in ("full_ft_lr", "lwf_temperature", "mole_temperature"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                _fail(name, value, "> 0")
        for name in ("lwf_alpha", "mole_balance"):
            if not getattr(self, name) >= 0:
                _fail(name, getattr(self, name), ">= 0")
        if not 0.0 <= self.lsat_alpha <= 1.0:
            _fail("lsat_alpha", self.lsat_alpha, "in [0, 1]")

    @property
    def train(self) -> TrainConfig:
        """The shared training budget (``adapters.train``)."""
        return self.adapters.train


def _fail(name: str, value: object, rule: str) -> None:
    raise RaieConfigError(f"{name}={value!r} should be {rule}")


class UpdateMethod(Protocol):
    """A way to keep a recommender current: update on new windows, then score contexts."""

    name: str

    def setup(self, old: Windows, seed: int) -> None:
        """Called once, before any update or score, with the setup windows (e.g. S)."""
        ...

    def update(self, new: Windows, old: Windows, seed: int) -> None:
        """Train on this period's windows; ``old`` = everything seen before (replay source)."""
        ...

    def scores(self, context: np.ndarray) -> torch.Tensor:
        """(n, L) int64 contexts -> (n, n_tokens) float32 scores (column 0 = PAD)."""
        ...


def as_tensor(context: np.ndarray) -> torch.Tensor:
    """(n, L) int64 numpy -> contiguous torch int64 tensor (no copy when already so)."""
    return torch.from_numpy(np.ascontiguousarray(context, dtype=np.int64))


def batched_logits(
    backbone: Backbone,
    model: torch.nn.Module,
    context: np.ndarray,
    batch: int,
    adapter: str | None = None,
) -> torch.Tensor:
    """(n, L) contexts -> (n, n_tokens) float32 logits of ``model`` in eval mode, no grad.

    adapter: run every row through this peft adapter (``model`` a PeftModel), None = as is.
    """
    was_training = model.training
    model.eval()
    parts = []
    with torch.no_grad():
        for start in range(0, len(context), batch):
            ctx = as_tensor(context[start : start + batch])
            names = None if adapter is None else [adapter] * len(ctx)
            parts.append(backbone.logits(model, ctx, adapter_names=names))
    model.train(was_training)
    if not parts:
        return torch.zeros((0, backbone.vocab.n_tokens), dtype=torch.float32)
    return torch.cat(parts)


def training_set(new: Windows, replay: Windows | None = None) -> AdapterTrainingSet:
    """New windows (weight 1, validation candidates) plus replayed windows (always train)."""
    if replay is not None and len(replay) == 0:
        replay = None
    return AdapterTrainingSet.from_windows(new, replay=replay)


def evaluate(
    method: UpdateMethod, windows: Windows, ks: tuple[int, ...] = DEFAULT_KS
) -> dict[str, float]:
    """Recall@K / NDCG@K of ``method`` on ``windows`` (full ranking, context masked)."""
    return ranking_metrics(window_ranks(method, windows), ks)


def window_ranks(method: UpdateMethod, windows: Windows) -> np.ndarray:
    """(n,) int64 0-based target ranks of every window under ``method``'s scores."""
    if len(windows) == 0:
        raise RaieConfigError("windows=0 should be >= 1 to evaluate")
    scores = method.scores(windows.context)
    return target_ranks(scores, windows.target, windows.context).numpy()


class BaseMethod:
    """`base`: never update; score with the frozen setup backbone."""

    name = "base"

    def __init__(self, backbone: Backbone, config: MethodConfig) -> None:
        self.backbone = backbone
        self.config = config

    def setup(self, old: Windows, seed: int) -> None:
        """Nothing to prepare: the backbone is already trained."""

    def update(self, new: Windows, old: Windows, seed: int) -> None:
        """No update: the frozen backbone stays as trained at setup."""
        logger.debug("base: ignoring %d new windows", len(new))

    def scores(self, context: np.ndarray) -> torch.Tensor:
        return batched_logits(self.backbone, self.backbone.model, context, self.config.score_batch)


class PopularityMethod:
    """`popularity`: counts of every target seen so far (the floor every model must clear)."""

    name = "popularity"

    def __init__(self, backbone: Backbone, config: MethodConfig) -> None:
        self.n_tokens = backbone.vocab.n_tokens
        self.counts = torch.zeros(self.n_tokens, dtype=torch.float32)

    def setup(self, old: Windows, seed: int) -> None:
        """Count the setup targets."""
        self._count(old)

    def update(self, new: Windows, old: Windows, seed: int) -> None:
        """Add the new targets to the counts."""
        self._count(new)

    def _count(self, windows: Windows) -> None:
        self.counts += popularity_scores(windows.target.astype(np.int64), self.n_tokens)

    def scores(self, context: np.ndarray) -> torch.Tensor:
        return self.counts.expand(len(context), self.n_tokens)
