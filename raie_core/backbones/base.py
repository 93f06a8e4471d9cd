"""The backbone interface shared by `seqrec` and `llm` (DESIGN §3).

A backbone wraps a transformers model and knows how to turn item-index windows into its
inputs. Every method takes the `model` to run explicitly: the frozen base, or a `PeftModel`
wrapping it with region adapters, so one backbone object serves all adapters.
"""

from __future__ import annotations

from typing import Protocol

import torch

from raie_core.protocol import ItemVocab


class Backbone(Protocol):
    """What RAIE needs from a recommender backbone."""

    name: str
    vocab: ItemVocab
    model: torch.nn.Module
    """The frozen base model (a transformers PreTrainedModel)."""
    lora_targets: tuple[str, ...]
    """Module names for LoRA (attention and MLP projections)."""
    fan_in_fan_out: bool
    """True for GPT-2 style Conv1D layers."""

    def encode(self, model: torch.nn.Module, context: torch.Tensor) -> torch.Tensor:
        """Routing keys: (n, L) int64 context -> (n, d) float32 unit rows.

        Mean-pooled last hidden state over the context positions only (never the target),
        computed with every adapter disabled, under no_grad.
        """
        ...

    def logits(self, model: torch.nn.Module, context: torch.Tensor) -> torch.Tensor:
        """(n, L) int64 context -> (n, vocab.n_tokens) float32 next-item scores (column 0 = PAD)."""
        ...

    def loss(
        self,
        model: torch.nn.Module,
        context: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Full-softmax cross-entropy of the target, weighted mean over rows: scalar tensor."""
        ...
