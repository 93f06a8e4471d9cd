"""Published bank versions and region adapters as MLflow pyfunc models (their code:
tasks/bank_pyfunc.py).

Every registered bank version (`raie-<dataset>-bank`) is such a model, so
`mlflow.pyfunc.load_model("models:/raie-<dataset>-bank@champion").predict(frame)` serves the
champion with the same scoring function as `raie recommend`; so is every registered region
version (`raie-<dataset>-region-<id>`), which serves every row through that region's adapter
(`log_region_model`). The model carries its inputs as artifacts: the frozen base (with
pipeline.json, the resolved config), its adapters, serving.json and, for a bank, the bank
version (manifest + regions). In a local artifact store they are hard links to the home's
files (`Tracker.log_pyfunc`), so a version adds little more than its MLmodel and the bundled
`raie_core` code; a tracking server's store gets copies (the base: a few MB for seqrec, the
whole LM for the llm backbone).
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
from raie_core.sharing import SHARED_KEY
from tasks.adapters import AdapterInfo
from tasks.models import load_base
from tasks.store import Store
from tasks.tracking import Tracker, pyfunc_signature

BANK_ARTIFACT = "bank"
"""Where the model lies in a setup or update run (`runs:/<run>/bank`), registered as is."""
REGION_ARTIFACT = "model"
"""Where a region's model lies in its region run (`runs:/<run>/model`), registered as is
(the run's ``adapter`` artifact holds the adapter folder alone)."""
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
    bank = {BANK_ARTIFACT: store.bank_dir(bank_version)}
    log_serving_model(t, store, run_id, BANK_ARTIFACT, config, manifest.adapters, None, bank)
    return BANK_ARTIFACT


def log_region_model(
    t: Tracker, store: Store, run_id: str, bank_version: int, adapter: AdapterInfo, config: dict
) -> str:
    """Log ``adapter`` (a region's trained adapter, kept in bank ``bank_version``) as a pyfunc
    model under ``run_id`` at `REGION_ARTIFACT`: every row is scored through it, on the base
    of that version (with its shared adapter or per-period base, `SHARED_KEY`, when it has
    one). Returns the artifact path to register."""
    shared = store.read_manifest(bank_version).adapters.get(SHARED_KEY)
    held = {adapter.region_id: adapter.path}
    if shared is not None and adapter.region_id != SHARED_KEY:
        held[SHARED_KEY] = shared
    log_serving_model(t, store, run_id, REGION_ARTIFACT, config, held, adapter.region_id, {})
    return REGION_ARTIFACT


def log_serving_model(
    t: Tracker,
    store: Store,
    run_id: str,
    artifact_path: str,
    config: dict,
    adapters: dict[int, str],
    region: int | None,
    extra: dict[str, Path],
) -> None:
    """Log the pyfunc model of tasks/bank_pyfunc.py under ``run_id`` at ``artifact_path``:
    the base, serving.json (the `SERVING_CONFIGS` of ``config``, the adapter ids and
    ``region``: None = route through the bank's regions), the ``adapters`` (region id ->
    path in the state dir) and the ``extra`` artifacts (name -> path), linked, not copied."""
    with tempfile.TemporaryDirectory(prefix="raie-serving-model-") as tmp:
        serving = Path(tmp) / SERVING_FILE
        spec = {k: config[k] for k in SERVING_CONFIGS}
        spec |= {"adapter_ids": sorted(adapters), "region": region}
        serving.write_text(json.dumps(spec), encoding="utf-8")
        artifacts = {
            "base": store.base_dir,
            "serving": serving,
            **extra,
            **{adapter_name(rid): store.adapter_path(rel) for rid, rel in adapters.items()},
        }
        items = load_base(store).vocab.item_ids[:EXAMPLE_ITEMS].tolist()
        t.log_pyfunc(
            run_id,
            artifact_path,
            python_model=str(MODEL_CODE),  # models from code: no pickle
            artifacts={name: str(path) for name, path in artifacts.items()},
            signature=signature(),
            input_example=(pd.DataFrame({ITEMS_COLUMN: [items]}), {"k": DEFAULT_K}),
            code_paths=[str(Path(raie_core.__file__).parent)],
            pip_requirements=requirements(),
        )


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
