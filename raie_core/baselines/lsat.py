"""`lsat`: long-term + short-term LoRA adapters fused at the logits (LSAT, DESIGN §5).

The long-term adapter learns from everything seen so far (old + new windows, old ones as
always-training rows), the short-term adapter from the new windows only; scores are
alpha * long-term logits + (1 - alpha) * short-term logits.
"""

from __future__ import annotations

import numpy as np
import torch

from raie_core.adapters import RegionAdapters, continue_or_zero, train_adapter
from raie_core.backbones.base import Backbone
from raie_core.baselines.base import MethodConfig, batched_logits, training_set
from raie_core.protocol import Windows

LONG = "long-term"
SHORT = "short-term"


def fuse_logits(long: torch.Tensor, short: torch.Tensor, alpha: float) -> torch.Tensor:
    """alpha * long + (1 - alpha) * short, both (n, V) float32."""
    return alpha * long + (1.0 - alpha) * short


class LongShortAdapters:
    """`lsat`: two adapters on one frozen base, logit fusion with weight ``lsat_alpha``."""

    name = "lsat"

    def __init__(self, backbone: Backbone, config: MethodConfig) -> None:
        self.backbone = backbone
        self.config = config
        self.bank = RegionAdapters(backbone, config.adapters)

    def setup(self, old: Windows, seed: int) -> None:
        """Nothing to prepare: both adapters are created by the first update."""

    def update(self, new: Windows, old: Windows, seed: int) -> None:
        """Long-term adapter on old + new, then short-term adapter on new (same budget)."""
        long_data = training_set(new, old)
        train_adapter(
            self.bank, LONG, long_data, seed, warm_start=continue_or_zero(self.bank, LONG)
        )
        short_data = training_set(new)
        train_adapter(
            self.bank, SHORT, short_data, seed, warm_start=continue_or_zero(self.bank, SHORT)
        )

    def adapter_scores(self, context: np.ndarray, name: str) -> torch.Tensor:
        """(n, n_tokens) logits of one of the two adapters."""
        assert self.bank.model is not None
        return batched_logits(
            self.backbone, self.bank.model, context, self.config.score_batch, name
        )

    def scores(self, context: np.ndarray) -> torch.Tensor:
        if self.bank.model is None:
            return batched_logits(
                self.backbone, self.backbone.model, context, self.config.score_batch
            )
        long, short = self.adapter_scores(context, LONG), self.adapter_scores(context, SHORT)
        return fuse_logits(long, short, self.config.lsat_alpha)
