"""Top-k recommendations for user contexts from a region bank (DESIGN §4.8: route each context
to its region, score it through that region's adapter, rank the unseen items).

One function for one idea: `raie recommend` (tasks/serving.py) and the bank's MLflow pyfunc
model (tasks/bank_pyfunc.py) both call `recommend_contexts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from raie_core.adapters import AdapterConfig, RegionAdapters, adapter_name
from raie_core.backbones import encode_array
from raie_core.backbones.base import Backbone
from raie_core.errors import RaieConfigError
from raie_core.evaluation import top_k
from raie_core.rebase import is_base_folder, load_period_base
from raie_core.regions import RegionConfig, Regions, route
from raie_core.scoring import routed_scores
from raie_core.sharing import SHARED_KEY

ITEMS_COLUMN = "items"
"""The column of user contexts (item-id lists, most recent last) of the bank's pyfunc model."""
DEFAULT_K = 10
"""How many items a recommendation holds when the caller names no k."""


@dataclass(frozen=True, eq=False)
class Recommendations:
    """items: (n, k) raw item ids, best first; scores: (n, k) float32 logits;
    region: (n,) int64 region whose adapter scored each row, -1 = the fallback (the shared
    adapter when the bank has one, else the base)."""

    items: np.ndarray
    scores: np.ndarray
    region: np.ndarray


def load_region_bank(
    backbone: Backbone, config: AdapterConfig, adapters: Mapping[int, str | Path]
) -> RegionAdapters:
    """A `RegionAdapters` on ``backbone`` holding each region's (or `SHARED_KEY`'s) adapter
    folder of ``adapters`` (region id -> folder). A `SHARED_KEY` folder holding a per-period
    base (`sharing.step: full`, `raie_core.rebase`) becomes the bank's base, loaded first."""
    bank = RegionAdapters(backbone, config)
    shared = adapters.get(SHARED_KEY)
    base = shared is not None and is_base_folder(shared)
    if base:
        load_period_base(bank, shared)
    for region_id, folder in sorted(adapters.items()):
        if not (base and region_id == SHARED_KEY):
            bank.load_adapter(adapter_name(region_id), folder)
    return bank


def recommend_contexts(
    bank: RegionAdapters, regions: Regions, config: RegionConfig, context: np.ndarray, k: int
) -> Recommendations:
    """The k best unseen items of each context row.

    context: (n, L) int64 left-padded item indices (`raie_core.protocol.encode_contexts`). Each row is routed
    by its base embedding (`route`), then ranked by `recommend_routed`."""
    if len(context) == 0:
        raise RaieConfigError("context has no rows to recommend for")
    region = route(regions, encode_array(bank.backbone, context), config).region
    return recommend_routed(bank, context, region, k)


def recommend_routed(
    bank: RegionAdapters, context: np.ndarray, region: np.ndarray, k: int
) -> Recommendations:
    """The k best unseen items of each context row (n, L) int64, scored through the adapter
    of its region (``region`` (n,) int64; -1, or a region without an adapter in the bank:
    the fallback; `routed_scores`) and ranked without PAD and the row's own items (`top_k`).
    A region's MLflow model (tasks/bank_pyfunc.py) passes its one region for every row."""
    if len(context) == 0:
        raise RaieConfigError("context has no rows to recommend for")
    scored = routed_scores(bank, context, region)
    items, scores = top_k(scored.scores, context, k)
    return Recommendations(
        items=bank.backbone.vocab.decode(items.reshape(-1)).reshape(items.shape),
        scores=scores,
        region=scored.route,
    )
