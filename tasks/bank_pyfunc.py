"""The MLflow pyfunc model of a bank version and of a region's adapter version, logged
"from code": MLflow copies this file into every registered bank version
(`raie-<dataset>-bank`) and region version (`raie-<dataset>-region-<id>`) and runs it when
the version is loaded, so no pickle is involved. It imports only mlflow, pandas and
`raie_core` (bundled with the model as a code path), so
`mlflow.pyfunc.load_model("models:/raie-<dataset>-bank@champion")` works wherever those are
installed.

Artifacts (`tasks.bank_model.log_serving_model`): ``base`` (the frozen backbone folder),
``serving`` (serving.json: the protocol, regions and adapters configs, the ids of the
adapters the model holds and ``region``), one adapter folder per id, named
`raie_core.adapters.adapter_name(region_id)`, and for a bank ``bank`` (the bank version:
manifest.json, regions/). A bank routes each row to its region (``region`` null); a region
model (``region``: its id) scores every row through that region's adapter, on the base of
its bank version (the shared step's per-period base or adapter, when it has one).

predict: a DataFrame with a column ``items`` (each row a list of item ids, most recent last;
only the last ``protocol.max_len`` count) -> a DataFrame with one row per input row:
``item_ids`` (the k best unseen items, best first), ``scores`` (their logits) and ``region``
(the region whose adapter scored the row; -1 = the fallback: the shared adapter, else the
base). params: ``k`` (default 10). The scoring is `raie_core.serving.recommend_contexts`,
the same function as `raie recommend` (a region model: `recommend_routed`, the same
scoring without the routing).
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from raie_core.adapters import AdapterConfig, adapter_name
from raie_core.backbones import load_backbone
from raie_core.configs import config_from_dict
from raie_core.errors import RaieConfigError
from raie_core.protocol import ProtocolConfig, encode_contexts
from raie_core.regions import RegionConfig, load_regions
from raie_core.serving import (
    DEFAULT_K,
    ITEMS_COLUMN,
    load_region_bank,
    recommend_contexts,
    recommend_routed,
)


class BankModel(mlflow.pyfunc.PythonModel):
    """A published bank version (frozen base + regions + region adapters), or one region's
    adapter on its bank version's base."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        artifacts = context.artifacts
        serving = json.loads(Path(artifacts["serving"]).read_text(encoding="utf-8"))
        self.protocol = config_from_dict(ProtocolConfig, serving["protocol"], "protocol.")
        self.regions_config = config_from_dict(RegionConfig, serving["regions"], "regions.")
        adapters_config = config_from_dict(AdapterConfig, serving["adapters"], "adapters.")
        folders = {int(rid): artifacts[adapter_name(int(rid))] for rid in serving["adapter_ids"]}
        backbone = load_backbone(artifacts["base"])
        self.bank = load_region_bank(backbone, adapters_config, folders)
        self.region = serving["region"]
        if self.region is None:
            self.regions = load_regions(Path(artifacts["bank"]) / "regions")

    def predict(
        self,
        context: mlflow.pyfunc.PythonModelContext,
        model_input: pd.DataFrame,
        params: dict | None = None,
    ) -> pd.DataFrame:
        if ITEMS_COLUMN not in model_input:
            raise RaieConfigError(
                f"model input should have a column {ITEMS_COLUMN!r}, got {list(model_input)}"
            )
        k = int((params or {}).get("k", DEFAULT_K))
        histories = [list(items) for items in model_input[ITEMS_COLUMN]]
        rows = encode_contexts(histories, self.bank.backbone.vocab, self.protocol.max_len)
        if self.region is None:
            top = recommend_contexts(self.bank, self.regions, self.regions_config, rows, k)
        else:
            route = np.full(len(rows), self.region, dtype=np.int64)
            top = recommend_routed(self.bank, rows, route, k)
        return pd.DataFrame(
            {
                "item_ids": [row.tolist() for row in top.items],
                "scores": [row.astype(float).tolist() for row in top.scores],
                "region": top.region.astype("int64"),
            }
        )


mlflow.models.set_model(BankModel())
