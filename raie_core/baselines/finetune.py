"""Fine-tuning baselines: `full_ft`, `full_replay`, `lora`, `replay` and `lwf` (DESIGN §5).

All of them start from the same frozen setup backbone and train through
`raie_core.training.fit` with the `MethodConfig` budget; the adapter-based ones also train the
embedding rows of items unseen at setup, like every region adapter of RAIE.
"""

from __future__ import annotations

import copy
import dataclasses
import logging

import numpy as np
import torch
import torch.nn.functional as F

from raie_core.adapters import (
    GLOBAL,
    AdapterTrainingSet,
    RegionAdapters,
    continue_or_zero,
    fit_rows,
)
from raie_core.backbones.base import Backbone
from raie_core.baselines.base import (
    MethodConfig,
    as_tensor,
    batched_logits,
    training_set,
)
from raie_core.errors import RaieStateError
from raie_core.protocol import Windows
from raie_core.training import fit
from raie_core.update import shared_training_set, train_shared

logger = logging.getLogger(__name__)


class FullFineTune:
    """`full_ft`: every weight of a copy of the backbone fine-tuned on the new windows."""

    name = "full_ft"

    def __init__(self, backbone: Backbone, config: MethodConfig) -> None:
        self.backbone = backbone
        self.config = config
        self.model = copy.deepcopy(backbone.model).eval()

    def setup(self, old: Windows, seed: int) -> None:
        """Nothing to prepare: the copy starts as the setup backbone."""

    def training_data(self, new: Windows, old: Windows, seed: int) -> AdapterTrainingSet:
        """The new windows (their own split validates)."""
        return training_set(new)

    def update(self, new: Windows, old: Windows, seed: int) -> None:
        """Fine-tune all weights on `training_data` (early-stopped on a split of ``new``)."""
        model = self.model.requires_grad_(True)
        cfg = dataclasses.replace(self.config.train, lr=self.config.full_ft_lr)
        params = list(model.parameters())
        data = self.training_data(new, old, seed)
        result = fit_rows(self.backbone, model, params, data, cfg, seed)
        model.requires_grad_(False).eval()
        logger.info("%s: %d epochs (best %d)", self.name, result.epochs, result.best_epoch)

    def scores(self, context: np.ndarray) -> torch.Tensor:
        return batched_logits(self.backbone, self.model, context, self.config.score_batch)


class FullReplay(FullFineTune):
    """`full_replay`: `full_ft` on the new windows plus old windows replayed at
    ``replay_ratio``: RAIE's shared full step (same rows, same lr) with no region on top, so
    the gap between the two is what the regions add."""

    name = "full_replay"

    def training_data(self, new: Windows, old: Windows, seed: int) -> AdapterTrainingSet:
        """New windows plus a seeded sample of old ones (replay rows never validate)."""
        return shared_training_set(new, old, self.config.adapters.replay_ratio, seed)


class GlobalLoRA:
    """`lora`: one global LoRA adapter (plus new-item rows) fine-tuned on the new windows."""

    name = "lora"

    def __init__(self, backbone: Backbone, config: MethodConfig) -> None:
        self.backbone = backbone
        self.config = config
        self.bank = RegionAdapters(backbone, config.adapters)

    def setup(self, old: Windows, seed: int) -> None:
        """Nothing to prepare: the adapter is created by the first update."""

    def training_data(self, new: Windows, old: Windows, seed: int) -> AdapterTrainingSet:
        """The new windows only."""
        return training_set(new)

    def update(self, new: Windows, old: Windows, seed: int) -> None:
        """Continue (or create) the global adapter on this period's training data."""
        train_shared(self.bank, self.training_data(new, old, seed), seed)

    def scores(self, context: np.ndarray) -> torch.Tensor:
        if self.bank.model is None:
            return batched_logits(
                self.backbone, self.backbone.model, context, self.config.score_batch
            )
        return batched_logits(
            self.backbone, self.bank.model, context, self.config.score_batch, GLOBAL
        )


class ReplayLoRA(GlobalLoRA):
    """`replay`: `lora` on the new windows plus old windows replayed at ``replay_ratio``."""

    name = "replay"

    def training_data(self, new: Windows, old: Windows, seed: int) -> AdapterTrainingSet:
        """New windows plus a seeded sample of old ones (replay rows never validate)."""
        return shared_training_set(new, old, self.config.adapters.replay_ratio, seed)


def lwf_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    target: torch.Tensor,
    alpha: float,
    temperature: float,
) -> torch.Tensor:
    """Learning without Forgetting: CE(student, target) + alpha T^2 KL(p_teacher^T || p_student^T).

    student, teacher: (b, V) float32 logits; target: (b,) int64; p^T = softmax(logits / T).
    Returns a scalar (batch means).
    """
    ce = F.cross_entropy(student, target)
    log_p = F.log_softmax(student / temperature, dim=-1)
    log_q = F.log_softmax(teacher / temperature, dim=-1)
    kd = F.kl_div(log_p, log_q, log_target=True, reduction="batchmean")
    return ce + alpha * temperature**2 * kd


class LwFLoRA(GlobalLoRA):
    """`lwf`: `lora` whose loss adds distillation to the frozen base's predictions."""

    name = "lwf"

    def update(self, new: Windows, old: Windows, seed: int) -> None:
        """Continue (or create) the global adapter with the LwF loss on the new windows."""
        data = self.training_data(new, old, seed)
        bank = self.bank
        bank.add(GLOBAL, continue_or_zero(bank, GLOBAL), seed=seed)
        teacher = batched_logits(
            self.backbone, self.backbone.model, data.context, self.config.score_batch
        )
        model = bank.model
        if model is None:
            raise RaieStateError("the lwf adapter was not created")
        model.set_adapter(GLOBAL)
        params = list(bank.adapter_params(GLOBAL).values())
        context, target = as_tensor(data.context), as_tensor(data.target)
        cfg = self.config

        def loss_fn(index: torch.Tensor) -> torch.Tensor:
            student = self.backbone.logits(model, context[index])
            return lwf_loss(
                student, teacher[index], target[index], cfg.lwf_alpha, cfg.lwf_temperature
            )

        train_idx, val_idx = data.split(cfg.train.val_fraction, seed)
        result = fit(model, params, loss_fn, train_idx, val_idx, cfg.train, seed)
        model.eval()
        logger.info("lwf: %d epochs (best %d)", result.epochs, result.best_epoch)
