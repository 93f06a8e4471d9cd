"""Names and tag values of raie's MLflow registry: registered-model names per region and
bank, MLflow-safe keys and flattened tag values (no mlflow import)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from raie_core.sharing import SHARED_KEY

SHARED_TOKEN = "shared"
"""The registered-model suffix of the shared adapter (`region_model_name`)."""
_BAD_KEY_CHARS = re.compile(r"[^A-Za-z0-9_\-. /:]")


def region_model_name(dataset: str, region_id: int) -> str:
    """`("ml-100k", 3) -> "raie-ml-100k-region-3"`; the shared adapter (`SHARED_KEY`) is
    `"raie-ml-100k-region-shared"`."""
    return f"raie-{dataset}-region-{_region_token(region_id)}"


def _region_token(region_id: int) -> str:
    return SHARED_TOKEN if region_id == SHARED_KEY else str(int(region_id))


def bank_model_name(dataset: str) -> str:
    """`"ml-100k" -> "raie-ml-100k-bank"`."""
    return f"raie-{dataset}-bank"


def metric_key(name: str) -> str:
    """An MLflow-safe key: `"NDCG@10" -> "NDCG_at_10"` (MLflow refuses '@')."""
    return _BAD_KEY_CHARS.sub("_", name.replace("@", "_at_"))


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mappings -> dotted string keys: `{"decisions": {"add": 2}} -> {"decisions.add": "2"}`.

    None becomes "none"; lists and other values are JSON-encoded when they are not str.
    """
    flat: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}{metric_key(str(key))}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, prefix=f"{name}."))
        elif value is None:
            flat[name] = "none"
        elif isinstance(value, str):
            flat[name] = value
        elif isinstance(value, bool | int | float):
            flat[name] = str(value)
        else:
            flat[name] = json.dumps(value, sort_keys=True, default=str)
    return flat
