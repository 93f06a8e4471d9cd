"""Setup training of the `llm` backbone: a LoRA plus the seen items' rows, merged and frozen."""

from __future__ import annotations

import logging

import numpy as np
import torch
from peft import LoraConfig, get_peft_model

from raie_core.backbones.llm.config import LLMConfig
from raie_core.backbones.llm.items import item_prior
from raie_core.backbones.llm.model import LLMBackbone
from raie_core.errors import RaieConfigError
from raie_core.protocol import ItemVocab, Windows
from raie_core.training import TrainResult, fit, validation_split

logger = logging.getLogger(__name__)


def _check_windows(windows: Windows, vocab: ItemVocab) -> None:
    if len(windows) < 1:
        raise RaieConfigError("setup windows=0 should be >= 1")
    top = int(max(windows.context.max(), windows.target.max()))
    if top >= vocab.n_tokens or int(windows.target.min()) < 1:
        raise RaieConfigError(f"window item index {top} is outside [1, {vocab.n_tokens - 1}]")


def lora_config(config: LLMConfig, token_rows: list[int] | None) -> LoraConfig:
    """The config's LoRA, plus trainable embedding rows ``token_rows`` when given."""
    return LoraConfig(
        r=config.lora.r,
        lora_alpha=config.lora.alpha,
        lora_dropout=config.lora.dropout,
        target_modules=list(config.lora.targets),
        trainable_token_indices=token_rows,
    )


def setup_llm(
    backbone: LLMBackbone, windows: Windows, config: LLMConfig, seed: int
) -> tuple[LLMBackbone, TrainResult]:
    """Setup training: a LoRA adapter plus the rows of the items seen in ``windows``.

    windows: setup windows, cut to ``config.max_windows`` (seeded); the latest
    ``config.train.val_fraction`` of those validate. The item prior counts every window's target.
    The adapter and rows are trained with item-token cross-entropy (the untrained start is
    kept when no epoch beats it on validation), merged into the base (``merge_and_unload``)
    and frozen. Returns the trained backbone (known_items = PAD + items in the used windows) and
    the training record. ``backbone.model`` is consumed: use the returned backbone.
    """
    _check_windows(windows, backbone.vocab)
    prior = item_prior(windows.target, backbone.vocab.n_tokens, config.prior_weight)
    backbone = backbone.replace(config=config, item_prior=prior)
    used = windows.sample(config.max_windows, seed)
    known = backbone.known_items.copy()
    known[np.unique(used.context)] = True
    known[np.unique(used.target)] = True
    known[0] = True
    lora = lora_config(config, backbone.item_token_ids[known[1:]].tolist())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        peft_model = get_peft_model(backbone.model, lora)
    context = torch.from_numpy(np.ascontiguousarray(used.context, dtype=np.int64))
    target = torch.from_numpy(np.ascontiguousarray(used.target, dtype=np.int64))

    def loss_fn(index: torch.Tensor) -> torch.Tensor:
        return backbone.loss(peft_model, context[index], target[index])

    params = [p for p in peft_model.parameters() if p.requires_grad]
    rows = np.arange(len(used), dtype=np.int64)
    train_index, val_index = validation_split(
        rows, config.train.val_fraction, seed, times=used.timestamp
    )
    result = fit(peft_model, params, loss_fn, train_index, val_index, config.train, seed)
    logger.info("llm setup: %d windows, epoch losses %s", len(used), result.train_losses)
    merged = peft_model.merge_and_unload()
    merged.requires_grad_(False)
    trained = backbone.replace(model=merged.eval(), known=known)
    return trained, result
