"""The pretrained LM of the `llm` backbone, converted once and kept under the RAIE home.

Dequantising the wheel's GGUF file takes a while, so the plain fp32 copy is saved as
safetensors in ``<home>/models`` (written to ``<home>/models.partial``, then renamed, so a
half-written copy is never reloaded) and later runs load that folder instead. A config with
``model_source`` set loads that folder and caches nothing.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import polars as pl
from transformers import PreTrainedModel

from raie_core.backbones.llm import (
    LLMBackbone,
    LLMConfig,
    build_llm,
    load_base_lm,
    load_lm_folder,
)
from raie_core.protocol import ItemVocab

logger = logging.getLogger(__name__)

MODELS_DIR = "models"


def cache_dir(home: str | Path) -> Path:
    """Where the converted base LM lives under the RAIE home."""
    return Path(home) / MODELS_DIR


def cached_base_lm(config: LLMConfig, home: str | Path) -> tuple[PreTrainedModel, Any]:
    """`load_base_lm(config)` through the cache: (fp32 model in eval mode, tokenizer).

    Loads ``<home>/models`` when it is complete (it holds config.json: it is renamed into
    place only once written); else loads the GGUF and writes the cache.
    """
    if config.model_source is not None:
        return load_base_lm(config)
    folder = cache_dir(home)
    if (folder / "config.json").is_file():
        return load_lm_folder(folder)
    model, tokenizer = load_base_lm(config)
    _write_cache(model, tokenizer, folder)
    return model, tokenizer


def build_cached_llm(
    vocab: ItemVocab, config: LLMConfig, catalog: pl.DataFrame | None, home: str | Path
) -> LLMBackbone:
    """`build_llm` on the base LM from `cached_base_lm` (a fresh backbone with item tokens)."""
    return build_llm(vocab, config, catalog, base=cached_base_lm(config, home))


def _write_cache(model: PreTrainedModel, tokenizer: Any, folder: Path) -> None:
    """Save to a sibling folder, then rename, so a half-written cache is never reloaded."""
    partial = folder.with_name(folder.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    partial.rename(folder)
    logger.info("cached the converted model in %s", folder)
