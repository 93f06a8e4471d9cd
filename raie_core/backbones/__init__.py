"""Recommender backbones (DESIGN §3): the `Backbone` protocol, a factory and batched helpers.

`seqrec` (default on CPU) lives in `seqrec.py`; `llm` in the `llm/` package (imported lazily,
it expects `build_llm(vocab, config)` and `load_llm(path)` there).
"""

from __future__ import annotations

import importlib
import json
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import torch

from raie_core.backbones.base import Backbone
from raie_core.errors import RaieConfigError, RaieStateError
from raie_core.protocol import ItemVocab

__all__ = ["Backbone", "BackboneKind", "build_backbone", "encode_array", "load_backbone"]


class BackboneKind(Enum):
    """The backbones raie knows, by the name stored in their saved metadata."""

    SEQREC = "seqrec"
    LLM = "llm"


_MODULES = {BackboneKind.SEQREC: "seqrec", BackboneKind.LLM: "llm"}


def _kind(name: BackboneKind | str) -> BackboneKind:
    try:
        return BackboneKind(name)
    except ValueError:
        known = ", ".join(k.value for k in BackboneKind)
        raise RaieConfigError(f"backbone={name!r} should be one of {known}") from None


def _module(kind: BackboneKind) -> Any:
    return importlib.import_module(f"raie_core.backbones.{_MODULES[kind]}")


def build_backbone(name: BackboneKind | str, vocab: ItemVocab, config: Any) -> Backbone:
    """An untrained (seqrec) or freshly loaded (llm) backbone of kind ``name``.

    config: `SeqRecConfig` for seqrec, the llm module's config for llm.
    """
    kind = _kind(name)
    return getattr(_module(kind), f"build_{_MODULES[kind]}")(vocab, config)


def load_backbone(path: str | Path) -> Backbone:
    """Load a saved backbone; its kind comes from ``backbone.json`` in ``path``."""
    meta_file = Path(path) / "backbone.json"
    if not meta_file.is_file():
        raise RaieStateError(f"{meta_file} is missing: not a saved backbone")
    name = json.loads(meta_file.read_text(encoding="utf-8")).get("name")
    kind = _kind(name)
    return getattr(_module(kind), f"load_{_MODULES[kind]}")(path)


def encode_array(
    backbone: Backbone, context: np.ndarray, batch_size: int = 512, model: Any = None
) -> np.ndarray:
    """Routing keys for many windows: (n, L) int64 -> (n, d) float32 unit rows.

    model: the model to run (default ``backbone.model``; a PeftModel is run with adapters off).
    """
    if batch_size < 1:
        raise RaieConfigError(f"batch_size={batch_size} should be >= 1")
    model = backbone.model if model is None else model
    parts = [
        backbone.encode(model, torch.from_numpy(np.ascontiguousarray(context[s : s + batch_size])))
        for s in range(0, len(context), batch_size)
    ]
    if not parts:
        raise RaieConfigError("context has no rows to encode")
    return torch.cat(parts).numpy().astype(np.float32, copy=False)
