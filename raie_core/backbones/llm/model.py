"""`LLMBackbone`: a causal LM with item tokens as a `Backbone` (scores, loss, keys, save).

A window becomes a short prompt of its last items' titles (prompt.py); the logits at the last
prompt position, restricted to the item tokens, rank every item. The routing key is the
mean-pooled last hidden state of the prompt (context only), computed with every adapter
disabled.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from peft import PeftModel
from transformers import PreTrainedModel

from raie_core.backbones.llm.config import DType, LLMConfig
from raie_core.backbones.llm.prompt import PromptBatch, PromptCodec, encode_prompts
from raie_core.protocol import ItemVocab
from raie_core.training import weighted_cross_entropy

NAME = "llm"
CONFIG_FILE = "backbone.json"


class LLMBackbone:
    """The `llm` backbone (implements `raie_core.backbones.base.Backbone`).

    model: a transformers causal LM with the item tokens added (frozen after setup).
    item_token_ids: (n_items,) int64, the token id of item index i + 1 at position i.
    known_items: (n_tokens,) bool, True for PAD and the items whose rows setup trained.
    item_prior: (n_items,) float32 added to the item logits (`LLMConfig.prior_weight`);
    None = zeros.
    """

    name = NAME
    fan_in_fan_out = False

    def __init__(
        self,
        vocab: ItemVocab,
        config: LLMConfig,
        model: PreTrainedModel,
        tokenizer: Any,
        codec: PromptCodec,
        item_token_ids: np.ndarray,
        known: np.ndarray,
        item_prior: np.ndarray | None = None,
    ) -> None:
        self.vocab = vocab
        self.config = config
        self.model = model
        self.tokenizer = tokenizer
        self.codec = codec
        self.item_token_ids = np.asarray(item_token_ids, dtype=np.int64)
        self.known_items = np.asarray(known, dtype=bool)
        self.device = resolve_device(config)
        self.lora_targets = tuple(config.lora.targets)
        self._columns = torch.from_numpy(self.item_token_ids).to(self.device)
        prior = np.zeros(len(self.item_token_ids), np.float32) if item_prior is None else item_prior
        self.item_prior = np.asarray(prior, dtype=np.float32)
        self._prior = torch.from_numpy(self.item_prior).to(self.device)

    def replace(self, **changes: Any) -> LLMBackbone:
        """A copy with some constructor arguments changed (vocab, config, model, tokenizer,
        codec, item_token_ids, known, item_prior); the rest are shared, not copied."""
        fields = {
            "vocab": self.vocab,
            "config": self.config,
            "model": self.model,
            "tokenizer": self.tokenizer,
            "codec": self.codec,
            "item_token_ids": self.item_token_ids,
            "known": self.known_items,
            "item_prior": self.item_prior,
        }
        return LLMBackbone(**{**fields, **changes})

    def item_rows(self, new_only: bool = True) -> list[int]:
        """Token-embedding rows of the items unknown at setup, or of every item."""
        if new_only:
            return self.item_token_ids[~self.known_items[1:]].tolist()
        return self.item_token_ids.tolist()

    def prompts(self, context: torch.Tensor | np.ndarray) -> PromptBatch:
        """(n, L) int64 item-index windows -> left-padded prompts on the model's device."""
        array = context.cpu().numpy() if isinstance(context, torch.Tensor) else context
        return encode_prompts(self.codec, np.asarray(array)).to(self.device)

    def _autocast(self) -> Any:
        if compute_dtype(self.config, self.device) == torch.bfloat16:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def logits(
        self,
        model: torch.nn.Module,
        context: torch.Tensor,
        adapter_names: list[str] | None = None,
    ) -> torch.Tensor:
        """(n, L) int64 context -> (n, n_tokens) float32 item scores on the CPU (column 0 =
        PAD = -inf).

        The LM's logits at the last prompt position, restricted to the item tokens; run in
        chunks of ``config.eval_batch_size`` windows (gradients flow when enabled).
        adapter_names: per-row peft adapter ("__base__" = none), only for a PeftModel in eval mode.
        """
        return self._scores(model, context, adapter_names).cpu()

    def _scores(
        self, model: torch.nn.Module, context: torch.Tensor, adapter_names: list[str] | None
    ) -> torch.Tensor:
        """`logits` on the model's device."""
        size = self.config.eval_batch_size
        parts = [
            self._item_logits(
                model,
                context[s : s + size],
                None if adapter_names is None else adapter_names[s : s + size],
            )
            for s in range(0, len(context), size)
        ]
        items = torch.cat(parts)
        pad = torch.full((len(items), 1), -torch.inf, device=items.device)
        return torch.cat([pad, items], dim=1)

    def _item_logits(
        self, model: torch.nn.Module, context: torch.Tensor, adapter_names: list[str] | None
    ) -> torch.Tensor:
        batch = self.prompts(context)
        extra = {} if adapter_names is None else {"adapter_names": adapter_names}
        with self._autocast():
            out = model(
                input_ids=batch.input_ids,
                attention_mask=batch.attention_mask,
                position_ids=batch.position_ids,
                logits_to_keep=1,
                **extra,
            )
        return out.logits[:, -1, :].index_select(1, self._columns).float() + self._prior

    def loss(
        self,
        model: torch.nn.Module,
        context: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Cross-entropy of (n,) int64 targets over all item tokens; weighted mean -> scalar."""
        return weighted_cross_entropy(
            self._scores(model, context, None), target.to(self.device), weight
        )

    def encode(self, model: torch.nn.Module, context: torch.Tensor) -> torch.Tensor:
        """(n, L) int64 context -> (n, hidden) float32 unit rows (adapters off, no grad, CPU).

        Mean of the decoder's final (normed) hidden state over the real prompt tokens, in
        chunks of ``config.eval_batch_size`` windows.
        """
        base = model.get_base_model() if isinstance(model, PeftModel) else model
        off = model.disable_adapter() if isinstance(model, PeftModel) else nullcontext()
        was_training = model.training
        model.eval()
        size = self.config.eval_batch_size
        with off, torch.no_grad(), self._autocast():
            keys = [self._pooled(base, context[s : s + size]) for s in range(0, len(context), size)]
        model.train(was_training)
        return F.normalize(torch.cat(keys).float(), dim=1).cpu()

    def _pooled(self, base: torch.nn.Module, context: torch.Tensor) -> torch.Tensor:
        batch = self.prompts(context)
        hidden = base.get_decoder()(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            position_ids=batch.position_ids,
        ).last_hidden_state
        mask = batch.attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1)

    def save(self, path: str | Path) -> None:
        """Write ``backbone.json`` (config, vocab, item tokens, known rows, prompt codec), the
        model as safetensors and the tokenizer (with the item tokens)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        ids = self.vocab.item_ids
        meta = {
            "name": NAME,
            "config": self.config.to_json(),
            "item_ids": ids.tolist(),
            "item_id_kind": "int" if np.issubdtype(ids.dtype, np.integer) else "str",
            "item_token_ids": self.item_token_ids.tolist(),
            "known_items": np.flatnonzero(self.known_items).tolist(),
            "item_prior": self.item_prior.tolist(),
            "codec": asdict(self.codec),
        }
        self.model.save_pretrained(path / "model")
        self.tokenizer.save_pretrained(path / "model")
        (path / CONFIG_FILE).write_text(json.dumps(meta), encoding="utf-8")


def resolve_device(config: LLMConfig) -> torch.device:
    """The config's device; None = CUDA when available, else the CPU."""
    if config.device is not None:
        return torch.device(config.device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def compute_dtype(config: LLMConfig, device: torch.device) -> torch.dtype:
    """bfloat16 for DType.BFLOAT16, or DType.AUTO on CUDA; float32 otherwise."""
    if config.dtype == DType.BFLOAT16 or (config.dtype == DType.AUTO and device.type == "cuda"):
        return torch.bfloat16
    return torch.float32
