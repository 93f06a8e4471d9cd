"""The backbone interface shared by `seqrec` and `llm` (DESIGN §3).

A backbone wraps a transformers model and knows how to turn item-index windows into its
inputs. Every method takes the `model` to run explicitly: the frozen base, or a `PeftModel`
wrapping it with region adapters, so one backbone object serves all adapters.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
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
    known_items: np.ndarray
    """(vocab.n_tokens,) bool: rows known at setup (PAD included); updates train only the others."""

    def item_rows(self, new_only: bool = True) -> list[int]:
        """Input-embedding row indices of the items unknown at setup (``new_only``) or of every
        item (PAD excluded): the rows an adapter may train (`AdapterConfig.item_rows`)."""
        ...

    def encode(self, model: torch.nn.Module, context: torch.Tensor) -> torch.Tensor:
        """Routing keys: (n, L) int64 context -> (n, d) float32 unit rows.

        Mean-pooled last hidden state over the context positions only (never the target),
        computed with every adapter disabled, under no_grad.
        """
        ...

    def logits(
        self,
        model: torch.nn.Module,
        context: torch.Tensor,
        adapter_names: list[str] | None = None,
    ) -> torch.Tensor:
        """(n, L) int64 context -> (n, vocab.n_tokens) float32 next-item scores (column 0 = PAD).

        adapter_names: one peft adapter name per row ("__base__" = no adapter), forwarded as
        ``model(..., adapter_names=...)`` for mixed-adapter batches (PeftModel in eval mode).
        """
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
