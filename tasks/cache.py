"""A content-keyed cache of pure, costly results: a period's (and setup's) windows and the
routing keys (embeddings) of a window file, so a re-run of a period (after a crash, a
rejected candidate, `raie update --force`) reuses them, and so does a setup that starts
over after a kill, for its windows (and its keys when the retrained base is byte-identical).

Measured on ml-100k (seqrec, default config, one loaded 2-core machine): a week's windows
take 0.02-0.07 s and the routing keys of its 1484 training windows 0.7-1.0 s, against a few
milliseconds from the cache; a forced `raie update` of the week took 57.6 s with the cache and
64.7 s with `--no-cache` (one run each; beyond the second the keys save, the gap is the
machine's load). The routing keys are what an llm backbone pays for most.

An entry is a folder ``<home>/cache/<dataset>/<kind>/<key>/`` (`Store.cache_dir`) holding
the result's files and ``entry.json`` (the sha256 of each file, the work key of the period
that wrote it, and a small JSON description of the result). The key is the digest of
everything that decides the output (`content_key`): for windows, the sha256 of every
snapshot file they read, the protocol config, the item vocabulary and the hold-out rule;
for embeddings, the window file's digest, the base's digest and the sample rule; always
`raie_core.__version__` and `FORMAT`. An entry is written as a draft folder and renamed
into place, so a reader sees a whole entry or none; a file that no longer matches its
recorded sha256 (truncated, edited, missing) makes the entry a miss: it is logged, removed
and the result computed again. `raie gc` (and the nightly gc) removes the entries of periods
that only retired bank versions hold (`tasks.retention`), as it removes their work folders; a
period not yet published and the setup keep theirs.

Our own cache, not Prefect's task cache (``cache_policy=INPUTS`` + ``persist_result``):
Prefect keys on the task's arguments, here the store's absolute path (a copied home would
miss) and the item vocabulary's arrays, not on the snapshot bytes that decide the output;
it persists the return value by pickling it (the home reads back only JSON and
safetensors), and that value is a path to files it does not check, so a removed or
corrupted window file would be served as a hit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import ConfigDict

import raie_core
from raie_core.errors import RaieConfigError
from tasks.durable import file_sha256, fsync_tree, utc_now, write_json_atomic
from tasks.store import Store

log = logging.getLogger(__name__)

FORMAT = 1
"""The entries' layout version, part of every key: a new layout never reads an old entry."""
ENTRY_FILE = "entry.json"
"""An entry's record: the sha256 of each of its files, its work key, description, creation."""
DRAFT_PREFIX = ".draft-"
"""Name prefix of an entry being written (renamed into place when whole; gc removes leftovers)."""


class CacheKind(StrEnum):
    """The kinds of cached results, one folder each under `Store.cache_dir`."""

    WINDOWS = "windows"
    EMBEDDINGS = "embeddings"


class Outcome(StrEnum):
    """How a stage got its result (said in the flow's stage log lines)."""

    HIT = "cache hit"
    COMPUTED = "computed"
    OFF = "computed, cache off"


@dataclass(frozen=True)
class CacheConfig:
    """The content-keyed cache of windows and embeddings (a parameter of the setup and
    nightly flows; `raie update|backfill|setup --no-cache`).

    enabled: look results up and store them (default). False: every stage computes and
    nothing is read from or written to the cache (entries already there stay until gc).
    """

    __pydantic_config__ = ConfigDict(extra="forbid")  # a misspelt flow parameter key fails

    enabled: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise RaieConfigError(f"cache.enabled={self.enabled!r} should be true or false")


def content_key(*parts: Any) -> str:
    """24 hex digits of sha256 over ``parts`` (JSON values) with `FORMAT` and the core's
    version: the same inputs give the same key in any home."""
    payload = json.dumps([FORMAT, raie_core.__version__, *parts], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Entry:
    """A verified cache entry: its folder and the result description it was stored with."""

    folder: Path
    names: tuple[str, ...]
    meta: dict[str, Any]

    def restore(self, name: str, dest: Path) -> Path:
        """Copy the entry's file ``name`` to ``dest`` (a temp file renamed into place)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}")
        shutil.copyfile(self.folder / name, tmp)
        os.replace(tmp, dest)
        return dest


def fetch(store: Store, kind: CacheKind, key: str) -> Entry | None:
    """The entry ``key`` of ``kind`` when it exists and every file matches its recorded
    sha256; a damaged entry is logged, removed and None returned (a miss)."""
    folder = store.cache_dir / kind / key
    if not folder.is_dir():
        return None
    record, problem = _verified(folder)
    if problem is None:
        return Entry(folder, tuple(record["files"]), record["meta"])
    log.warning(
        "cache entry %s is damaged (%s): removed, the result is computed again", folder, problem
    )
    shutil.rmtree(folder, ignore_errors=True)
    return None


RECORD_ERRORS = (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError)
"""What reading an entry's record can raise when the record is missing or damaged."""


def _record(folder: Path) -> dict[str, Any]:
    """The parsed `ENTRY_FILE` of the entry in ``folder`` (raises one of `RECORD_ERRORS`)."""
    return json.loads((folder / ENTRY_FILE).read_text(encoding="utf-8"))


def _verified(folder: Path) -> tuple[dict[str, Any], str | None]:
    """The entry's record and why it cannot be used (None when every file matches)."""
    try:
        record = _record(folder)
        files, _meta = record["files"], record["meta"]
    except RECORD_ERRORS as error:
        return {}, f"{ENTRY_FILE} unreadable: {error!r}"
    for name, digest in files.items():
        path = folder / name
        if not path.is_file():
            return record, f"{name} is missing"
        if file_sha256(path) != digest:
            return record, f"{name} does not match its recorded sha256"
    return record, None


def put(
    store: Store,
    kind: CacheKind,
    key: str,
    work_key: str,
    files: Mapping[str, Path],
    meta: Mapping[str, Any],
) -> None:
    """Store ``files`` (name in the entry -> a file just written) and ``meta`` (JSON) as
    entry ``key`` of ``kind``, for the period ``work_key``: copied into a draft folder,
    fsynced and renamed into place. An entry another run stored first is kept."""
    parent = store.cache_dir / kind
    parent.mkdir(parents=True, exist_ok=True)
    draft = parent / f"{DRAFT_PREFIX}{key}-{uuid.uuid4().hex[:8]}"
    draft.mkdir()
    for name, source in files.items():
        shutil.copyfile(source, draft / name)
    record = {
        "files": {name: file_sha256(draft / name) for name in files},
        "work_key": work_key,
        "created": utc_now(),
        "meta": dict(meta),
    }
    write_json_atomic(draft / ENTRY_FILE, record)
    fsync_tree(draft)
    try:
        os.replace(draft, parent / key)
    except OSError:
        shutil.rmtree(draft, ignore_errors=True)
        if not (parent / key).is_dir():  # only "it exists" (a concurrent store) is benign
            raise


def entries(store: Store) -> list[tuple[Path, str | None]]:
    """(folder, work key of the period that wrote it; None when unreadable) of every entry
    and left-over draft of the dataset's cache (`raie gc`)."""
    found = []
    for kind in CacheKind:
        parent = store.cache_dir / kind
        for folder in sorted(parent.iterdir()) if parent.is_dir() else ():
            found.append(
                (folder, None if folder.name.startswith(DRAFT_PREFIX) else _work_key(folder))
            )
    return found


def _work_key(folder: Path) -> str | None:
    try:
        return _record(folder)["work_key"]
    except RECORD_ERRORS:
        return None
