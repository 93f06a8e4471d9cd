"""Item tokens: catalog text per item, one ``<item_ID>`` token per item, the popularity prior."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import torch
from transformers import PreTrainedModel

from raie_core.backbones.llm.prompt import ITEM_TOKEN, ItemText
from raie_core.errors import RaieConfigError
from raie_core.metrics import popularity_scores
from raie_core.protocol import ItemVocab


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


def item_prior(target: np.ndarray, n_tokens: int, weight: float) -> np.ndarray:
    """(n_tokens - 1,) float32 ``weight * log((count + 1) / (n + n_items))`` per item (index
    i + 1 at position i) from (n,) int64 target item indices."""
    counts = popularity_scores(np.asarray(target, dtype=np.int64), n_tokens).double().numpy()[1:]
    log_p = np.log((counts + 1.0) / (counts.sum() + len(counts)))
    return (weight * log_p).astype(np.float32)
