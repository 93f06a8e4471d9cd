"""Tasks around the frozen backbone: setup training, loading, embedding windows."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from prefect import task
from safetensors.numpy import load_file, save_file

from raie_core.backbones import Backbone, BackboneKind, encode_array, load_backbone
from raie_core.backbones.llm import LLMConfig, setup_llm
from raie_core.backbones.seqrec import SeqRecConfig, fit_seqrec
from raie_core.errors import RaieConfigError, RaieCorruptError, RaieStateError
from raie_core.evaluation import sample_keys
from raie_core.protocol import ItemVocab, build_vocab
from raie_core.regions import RegionConfig
from raie_core.training import TrainResult
from raie_core.update import setup_sample
from tasks import ingest
from tasks.adapter_files import tree_digest
from tasks.cache import CacheConfig, CacheKind, Outcome, content_key, fetch, put
from tasks.llm_cache import build_cached_llm
from tasks.records import SetupRecord
from tasks.store import Store
from tasks.windows import WindowsRef, load_windows

PIPELINE_CONFIG = "pipeline.json"
EMBEDDINGS_FILE = "embeddings.safetensors"


@dataclass(frozen=True)
class BaseInfo:
    """The published frozen base: where it is, its content digest and its setup training."""

    path: str
    digest: str
    epochs: int
    best_epoch: int
    best_val_loss: float


def catalog_vocab(store: Store) -> ItemVocab:
    """The item vocabulary of the dataset's whole catalog (new items indexable from the start)."""
    catalog = ingest.read_catalog(store.snapshots_dir)
    return build_vocab(catalog)


@task(name="train-backbone")
def train_backbone(
    store: Store,
    backbone: str,
    vocab: ItemVocab,
    train: WindowsRef,
    seqrec_config: SeqRecConfig,
    llm_config: LLMConfig,
    seed: int,
    config_json: dict,
) -> BaseInfo:
    """Train the backbone on the setup windows and publish it as the frozen base.

    seqrec: from scratch until the validation loss stops improving. llm: the pretrained LM
    (cached as safetensors under the home) gets item tokens, a LoRA and item rows trained on a
    seeded budget of the setup windows, merged into the base.
    """
    windows = load_windows(train.path)
    if backbone == BackboneKind.SEQREC.value:
        model, result = fit_seqrec(vocab, windows, seqrec_config)
    elif backbone == BackboneKind.LLM.value:
        catalog = ingest.read_catalog(store.snapshots_dir)
        lm = build_cached_llm(vocab, llm_config, catalog, store.home)
        model, result = setup_llm(lm, windows, llm_config, seed)
    else:
        raise RaieConfigError(f"backbone={backbone!r} should be seqrec or llm")
    with store.stage_base() as staged:
        model.save(staged)
        (staged / PIPELINE_CONFIG).write_text(json.dumps(config_json, indent=2, sort_keys=True))
    return _base_info(store, result)


def _base_info(store: Store, result: TrainResult) -> BaseInfo:
    return BaseInfo(
        str(store.base_dir),
        tree_digest(store.base_dir)[:16],
        result.epochs,
        result.best_epoch,
        min(result.val_losses, default=float("nan")),
    )


def read_pipeline_config(store: Store) -> dict:
    """The pipeline config saved with the base at setup (a mapping: flows validate it), read
    after the base is checked against its digest (`verify_base`)."""
    path = store.base_dir / PIPELINE_CONFIG
    if not path.is_file():
        raise RaieStateError(
            f"no setup found for dataset {store.dataset} in {store.home}; run `raie setup` first"
        )
    verify_base(store)
    return json.loads(path.read_text())


def verify_base(store: Store) -> None:
    """Check the frozen base against the digest setup recorded (`SetupRecord.base_digest`);
    RaieCorruptError naming the folder on a mismatch. Before setup has published (the base
    was written by this run) there is no record yet and nothing to check."""
    if store.current_version() is None:
        return
    expected = SetupRecord.read(store, store.history()[0]).base_digest
    actual = tree_digest(store.base_dir)[: len(expected)]
    if actual != expected:
        raise RaieCorruptError(
            f"base model {store.base_dir} is corrupted: its files do not match the base_digest "
            f"of the setup manifest ({actual} != {expected})"
        )


@lru_cache(maxsize=4)
def _cached_base(path: str, digest_hint: float) -> Backbone:
    return load_backbone(path)


def load_base(store: Store) -> Backbone:
    """The frozen base, checked against its digest (`verify_base`; cached per process, keyed
    by the base folder's mtime), named by `base_reference`: peft writes a model's
    ``name_or_path`` as the ``base_model_name_or_path`` of every adapter config it saves."""
    verify_base(store)
    backbone = _cached_base(str(store.base_dir), store.base_dir.stat().st_mtime)
    backbone.model.__dict__["name_or_path"] = base_reference(store)
    return backbone


def base_reference(store: Store) -> str:
    """How adapters name their base: its folder relative to the home (`state/<dataset>/base`),
    so the name stays true in a copied home; its digest is the `base_model_digest` tag."""
    return store.base_dir.relative_to(store.home).as_posix()


@dataclass(frozen=True)
class Embeddings:
    """A window file's routing keys saved by `embed_windows`: the file, its rows and how
    they were got (`tasks.cache.Outcome`)."""

    path: str
    rows: int
    cache: Outcome


@task(name="embed-windows")
def embed_windows(
    store: Store,
    windows: WindowsRef,
    fit: RegionConfig | None = None,
    seed: int = 0,
    cache: CacheConfig = CacheConfig(),  # noqa: B008 - frozen, immutable
) -> Embeddings:
    """Routing keys of a window file: (n, d) float32 unit rows + their sample keys, saved
    in the work area of the windows' period. fit: the setup's region config; only
    `setup_sample`'s rows (those that fit the regions) are encoded. Content-keyed cache
    (`tasks.cache`): the window file's digest, the base's digest and the sample rule."""
    source = Path(windows.path)  # windows/<key>/<name>: the keys are scratch, in work/<key>/
    path = store.work_dir(source.parent.name) / f"{source.stem}.{EMBEDDINGS_FILE}"
    sample = None if fit is None else [asdict(fit), seed]
    key = content_key("embeddings", windows.digest, windows.code, sample, base_digest(store))
    entry = fetch(store, CacheKind.EMBEDDINGS, key) if cache.enabled else None
    if entry is not None:
        entry.restore(EMBEDDINGS_FILE, path)
        return Embeddings(str(path), entry.meta["rows"], Outcome.HIT)
    data = load_windows(windows.path)
    index = np.arange(len(data)) if fit is None else setup_sample(len(data), fit, seed)
    X = encode_array(load_base(store), data.context[index])
    keys = sample_keys(windows.code, len(data))[index]
    save_file({"X": np.ascontiguousarray(X), "keys": keys}, str(path))
    if not cache.enabled:
        return Embeddings(str(path), len(index), Outcome.OFF)
    files = {EMBEDDINGS_FILE: path}
    put(store, CacheKind.EMBEDDINGS, key, source.parent.name, files, {"rows": len(index)})
    return Embeddings(str(path), len(index), Outcome.COMPUTED)


def base_digest(store: Store) -> str:
    """The frozen base's content digest: the one setup recorded (`load_base` checks the
    files against it), else, while setup runs, its files' own."""
    if store.current_version() is None:
        return tree_digest(store.base_dir)[:16]
    return SetupRecord.read(store, store.history()[0]).base_digest


def load_embeddings(path: str) -> tuple[np.ndarray, np.ndarray]:
    arrays = load_file(path)
    return arrays["X"], arrays["keys"]
