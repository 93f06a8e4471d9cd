"""A published bank version as an MLflow pyfunc model (its code: tasks/bank_pyfunc.py).

Every registered bank version (`raie-<dataset>-bank`) is such a model, so
`mlflow.pyfunc.load_model("models:/raie-<dataset>-bank@champion").predict(frame)` serves the
champion with the same scoring function as `raie recommend`. The model carries its inputs as
artifacts: the frozen base (with pipeline.json, the resolved config), the bank version
(manifest + regions), each adapter of its map, and serving.json. The base is copied into
every version: a few MB for seqrec, the whole LM for the llm backbone.
"""

from __future__ import annotations

import json
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd

import raie_core
from raie_core.adapters import adapter_name
from raie_core.serving import DEFAULT_K, ITEMS_COLUMN
from tasks.models import load_base
from tasks.store import Store
from tasks.tracking import Tracker, pyfunc_signature

BANK_ARTIFACT = "bank"
"""Where the model lies in a setup or update run (`runs:/<run>/bank`), registered as is."""
SERVING_FILE = "serving.json"
SERVING_CONFIGS = ("protocol", "regions", "adapters")
"""The parts of the resolved pipeline config the model needs to serve."""
MODEL_CODE = Path(__file__).with_name("bank_pyfunc.py")
EXAMPLE_ITEMS = 5
"""Items in the input example's one context (the first ids of the catalog)."""
REQUIREMENTS = ("mlflow", "torch", "transformers", "peft", "numpy", "pandas", "polars")
"""Packages the model's environment needs (raie_core itself travels as a code path)."""


def log_bank_model(t: Tracker, store: Store, run_id: str, bank_version: int, config: dict) -> str:
    """Log bank ``bank_version`` of ``store`` as a pyfunc model under ``run_id`` at
    `BANK_ARTIFACT`; config: the run's resolved pipeline config (`model_dump(mode="json")`).
    Returns the artifact path to register."""
    manifest = store.read_manifest(bank_version)
    with tempfile.TemporaryDirectory(prefix="raie-bank-model-") as tmp:
        serving = Path(tmp) / SERVING_FILE
        serving.write_text(json.dumps({k: config[k] for k in SERVING_CONFIGS}), encoding="utf-8")
        artifacts = {
            "base": store.base_dir,
            "bank": store.bank_dir(bank_version),
            "serving": serving,
            **{
                adapter_name(rid): store.adapter_path(rel) for rid, rel in manifest.adapters.items()
            },
        }
        items = load_base(store).vocab.item_ids[:EXAMPLE_ITEMS].tolist()
        t.log_pyfunc(
            run_id,
            BANK_ARTIFACT,
            python_model=str(MODEL_CODE),  # models from code: no pickle
            artifacts={name: str(path) for name, path in artifacts.items()},
            signature=signature(),
            input_example=(pd.DataFrame({ITEMS_COLUMN: [items]}), {"k": DEFAULT_K}),
            code_paths=[str(Path(raie_core.__file__).parent)],
            pip_requirements=requirements(),
        )
    return BANK_ARTIFACT


def signature():  # noqa: ANN201 - an mlflow ModelSignature
    """The model's declared signature: one column of item-id lists in (most recent last),
    top-k item ids, their scores and the routed region out, ``k`` as a parameter. Declared,
    not inferred from the input example: inference ran the model at every logged version
    and warned about integer columns each time."""
    return pyfunc_signature(
        inputs={ITEMS_COLUMN: "long[]"},
        outputs={"item_ids": "long[]", "scores": "double[]", "region": "long"},
        params={"k": ("long", DEFAULT_K)},
    )


def requirements() -> list[str]:
    """`REQUIREMENTS` pinned to the installed versions."""
    pinned = []
    for name in REQUIREMENTS:
        try:
            pinned.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            pinned.append(name)
    return pinned
