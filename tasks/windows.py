"""Tasks that cut snapshots into windows and persist them (safetensors) for later periods.

Window files are stored state (not scratch): `windows/setup/{train,heldout}.safetensors` and
`windows/period=YYYY-MM-DD/windows.safetensors`. Replay resolves sample keys through them.
Each file carries the digest of its arrays in its safetensors metadata, checked on load.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
from prefect import task
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file, save_file

from raie_core.data.periods import Every, Period
from raie_core.errors import RaieCorruptError, RaieStateError
from raie_core.evaluation import SETUP_CODE, windows_by_key
from raie_core.gate import GateConfig, recency_mask
from raie_core.protocol import (
    ItemVocab,
    ProtocolConfig,
    Windows,
    cut_points,
    period_windows,
    streaming_setup,
)
from tasks import ingest
from tasks.cache import CacheConfig, CacheKind, Outcome, content_key, fetch, put
from tasks.durable import file_sha256
from tasks.landing import landed_periods, landing_zone
from tasks.retry import retry_io_only
from tasks.store import Store

SETUP_TRAIN = "train.safetensors"
SETUP_HELDOUT = "heldout.safetensors"
PERIOD_WINDOWS = "windows.safetensors"
ALL_WINDOWS = "all.safetensors"
RECENCY_WINDOWS = "recency.safetensors"
RECENCY_ROWS = "recency.rows.safetensors"
WINDOW_FILES = (SETUP_TRAIN, SETUP_HELDOUT, PERIOD_WINDOWS, ALL_WINDOWS, RECENCY_WINDOWS)
DIGEST_KEY = "raie.digest"
"""The safetensors metadata key of a window file's digest (`windows_digest`)."""


@dataclass(frozen=True)
class WindowsRef:
    """A persisted window file: path, row count, content digest and its key code."""

    path: str
    rows: int
    digest: str
    code: int


def save_windows(windows: Windows, path: Path) -> str:
    """Write windows as safetensors (users as int64 or a JSON sidecar), their digest in the
    file's metadata; return the digest."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {
        "context": np.ascontiguousarray(windows.context, dtype=np.int64),
        "target": np.ascontiguousarray(windows.target, dtype=np.int64),
        "timestamp": np.ascontiguousarray(windows.timestamp, dtype=np.int64),
    }
    users = windows.user
    sidecar = None
    if users.dtype.kind in "iu":
        arrays["user"] = np.ascontiguousarray(users, dtype=np.int64)
    else:
        sidecar = json.dumps([str(u) for u in users])
        path.with_suffix(".users.json").write_text(sidecar)
    digest = windows_digest(arrays, sidecar)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(arrays, str(tmp), metadata={DIGEST_KEY: digest})
    tmp.replace(path)
    return digest


def windows_digest(arrays: dict[str, np.ndarray], sidecar: str | None) -> str:
    """16 hex digits of sha256 over the arrays (by name) and the users sidecar, if any."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        digest.update(arrays[name].tobytes())
    if sidecar is not None:
        digest.update(sidecar.encode())
    return digest.hexdigest()[:16]


def load_windows(path: str | Path) -> Windows:
    """Read windows written by `save_windows`, checked against the digest in their metadata
    (files written before it have none); RaieCorruptError naming the file on a mismatch."""
    path = Path(path)
    if not path.is_file():
        raise RaieStateError(f"window file {path} is missing; re-run the period's update")
    sidecar_path = path.with_suffix(".users.json")
    try:
        with safe_open(str(path), framework="np") as handle:
            expected = (handle.metadata() or {}).get(DIGEST_KEY)
            arrays = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
        sidecar = None if "user" in arrays else sidecar_path.read_text(encoding="utf-8")
        users = arrays["user"] if sidecar is None else np.array(json.loads(sidecar), dtype=object)
        windows = Windows(arrays["context"], arrays["target"], users, arrays["timestamp"])
    except (SafetensorError, UnicodeDecodeError, json.JSONDecodeError, KeyError) as error:
        raise RaieCorruptError(f"window file {path} is corrupted: {error!r}") from None
    actual = windows_digest(arrays, sidecar)
    if expected is not None and actual != expected:
        raise RaieCorruptError(
            f"window file {path} is corrupted: it does not match the digest recorded when it "
            f"was written ({actual} != {expected})"
        )
    return windows


def window_path(store: Store, code: int) -> Path:
    """The window file behind sample-key code ``code`` (SETUP_CODE: the setup's training
    windows). A period's folder is named by its start day alone, so the day period with
    that code names it whatever the pipeline's period length."""
    if code == SETUP_CODE:
        return store.windows_file("setup", SETUP_TRAIN)
    return store.windows_file(Period.from_code(code, Every.DAY).key, PERIOD_WINDOWS)


def windows_before(store: Store, code: int) -> Windows:
    """The setup's training windows, then the windows of every period whose code is below
    ``code``, oldest first: all that a period's update has seen before it (the shared step's
    replay pool, drawn as `raie.update_period` and the `full_replay` baseline draw it)."""
    folders = [store.root / "windows", store.root / "work"]  # work/: homes before windows/
    names = {p.name for folder in folders if folder.is_dir() for p in folder.iterdir()}
    codes = sorted(
        c
        for c in (Period.from_key(n, Every.DAY).code for n in names if Period.is_key(n))
        if c < code and window_path(store, c).is_file()
    )
    return Windows.concat([load_windows(window_path(store, c)) for c in (SETUP_CODE, *codes)])


def history_before(store: Store, end: date, every: Every | str) -> pl.DataFrame:
    """All ingested interactions of the ``every`` periods that start before ``end``."""
    snapshots = ingest.list_snapshots(store.snapshots_dir, every)
    parts = [ingest.read_snapshot(p) for period, p in snapshots if period.start < end]
    if not parts:
        raise RaieStateError(f"no snapshots before {end} in {store.snapshots_dir}")
    return pl.concat(parts, how="vertical_relaxed")


@task(name="ingest-snapshots", retries=1, retry_condition_fn=retry_io_only)
def ingest_snapshots(
    store: Store,
    dataset: str,
    every: str,
    path: str | None,
    mode: str = "strict",
    mapping: dict[str, str] | None = None,
    until: date | None = None,
    protocol: ProtocolConfig | None = None,
) -> dict:
    """Cut the dataset's history into period snapshots under the store (idempotent): the
    periods before ``until``, else (``protocol`` given) before the period holding t^S (the
    setup_quantile of positive timestamps), else every period. A small summary: the cut
    ("until", None when every period was written) and the rows from it on ("after_cut"):
    setup never ingests them, updates ingest what lands (`raie data replay` plays them).

    mode: "strict" (a bad row fails the setup) or "quarantine" (bad rows are set aside in
    snapshots/quarantine.parquet and counted in the summary); mapping: table columns by
    schema name (None: the schema's names)."""
    loaded = ingest.load_dataset(dataset, path, mode=mode, mapping=mapping)
    cut = None if until is None else Period(until, every)
    if cut is None and protocol is not None:
        cut = Period.containing(cut_points(loaded.interactions, protocol)[0], every)
    before = None if cut is None else cut.start
    written = ingest.save_snapshots(loaded, store.snapshots_dir, every, before)
    if not written:
        raise RaieStateError(f"no data of {dataset} before the setup cut {before}")
    periods = [period for period, _ in ingest.list_snapshots(store.snapshots_dir, every)]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in written)).hexdigest()[:16]
    quarantine = store.snapshots_dir / ingest.QUARANTINE_FILE
    after = 0 if cut is None else loaded.interactions["timestamp"].ge(cut.start_seconds).sum()
    return {
        "snapshots": len(written),
        "first": periods[0].label,
        "last": periods[-1].label,
        "until": None if cut is None else cut.label,
        "after_cut": int(after),
        "digest": digest,
        "quarantined": pl.read_parquet(quarantine).height if quarantine.is_file() else 0,
    }


@dataclass(frozen=True)
class SetupWindows:
    """Setup's training and held-out retention windows, and how they were got."""

    train: WindowsRef
    heldout: WindowsRef
    cache: Outcome


@task(name="build-setup-windows")
def build_setup_windows(
    store: Store,
    until: Period,
    protocol: ProtocolConfig,
    vocab: ItemVocab,
    cache: CacheConfig = CacheConfig(),  # noqa: B008 - frozen, immutable
) -> SetupWindows:
    """Setup training windows and the held-out retention windows: targets before the start
    of ``until``, the first update period (content-keyed cache: `cached_windows`)."""

    def build() -> dict[str, WindowsRef]:
        history = history_before(store, until.start, until.every)
        train, heldout = streaming_setup(history, until.start, protocol, vocab)
        refs = {}
        for role, windows, rel in (
            ("train", train, SETUP_TRAIN),
            ("heldout", heldout, SETUP_HELDOUT),
        ):
            path = store.windows_file("setup", rel)
            refs[role] = WindowsRef(
                str(path), len(windows), save_windows(windows, path), SETUP_CODE
            )
        return refs

    key = windows_key(store, "setup", until, protocol, vocab)
    folder = store.windows_file("setup", SETUP_TRAIN).parent
    refs, outcome = cached_windows(store, key, "setup", folder, SETUP_CODE, cache, build)
    return SetupWindows(refs["train"], refs["heldout"], outcome)


@task(name="build-period-windows")
def build_period_windows(
    store: Store, period: Period, protocol: ProtocolConfig, vocab: ItemVocab
) -> WindowsRef:
    """Windows whose targets fall in ``period``; context reaches back into earlier snapshots."""
    history = history_before(store, period.end, period.every)
    windows = period_windows(history, (period.start, period.end), protocol, vocab)
    path = window_path(store, period.code)
    return WindowsRef(str(path), len(windows), save_windows(windows, path), period.code)


@dataclass(frozen=True)
class Recency:
    """The held-out recency slice of a period: its windows (a file of their own) and their row
    numbers in the period's full window file (``rows_path``, safetensors "rows" (m,) int64)."""

    windows: WindowsRef
    rows_path: str


@dataclass(frozen=True)
class PeriodWindows:
    """A period's windows for a gated update: ``all`` (prequential scoring), ``train`` (the
    rows editing and training see; sample keys index this file, `window_path`), the
    held-out ``recency`` slice (None when the share holds no user; then train is all) and
    how they were got (``cache``: `tasks.cache.Outcome`)."""

    all: WindowsRef
    train: WindowsRef
    recency: Recency | None
    cache: Outcome = Outcome.COMPUTED


@task(name="build-gated-period-windows")
def build_gated_period_windows(
    store: Store,
    period: Period,
    protocol: ProtocolConfig,
    vocab: ItemVocab,
    gate: GateConfig,
    cache: CacheConfig = CacheConfig(),  # noqa: B008 - frozen, immutable
) -> PeriodWindows:
    """`build_period_windows`, with the windows of a seeded share of the period's users
    (`recency_mask`) held out: they are never edited or trained on and score the gate's
    recency check (content-keyed cache: `cached_windows`)."""
    train_path = window_path(store, period.code)
    folder = train_path.parent

    def build() -> dict[str, WindowsRef]:
        history = history_before(store, period.end, period.every)
        windows = period_windows(history, (period.start, period.end), protocol, vocab)
        rows = np.flatnonzero(recency_mask(windows.user, gate.recency_share, gate.seed))
        if rows.size == 0:
            digest = save_windows(windows, train_path)
            return {"all": WindowsRef(str(train_path), len(windows), digest, period.code)}
        refs = {}
        for role, subset, path in (
            ("all", windows, folder / ALL_WINDOWS),
            ("train", windows.subset(np.setdiff1d(np.arange(len(windows)), rows)), train_path),
            ("recency", windows.subset(rows), folder / RECENCY_WINDOWS),
        ):
            digest = save_windows(subset, path)
            refs[role] = WindowsRef(str(path), len(subset), digest, period.code)
        save_file({"rows": rows.astype(np.int64)}, str(folder / RECENCY_ROWS))
        return refs

    hold_out = (gate.recency_share, gate.seed)
    key = windows_key(store, "gated", period, protocol, vocab, hold_out)
    refs, outcome = cached_windows(store, key, period.key, folder, period.code, cache, build)
    if "recency" not in refs:
        return PeriodWindows(refs["all"], refs["all"], None, outcome)
    recency = Recency(refs["recency"], str(folder / RECENCY_ROWS))
    return PeriodWindows(refs["all"], refs["train"], recency, outcome)


def windows_key(
    store: Store,
    kind: str,
    until: Period,
    protocol: ProtocolConfig,
    vocab: ItemVocab,
    *rest: object,
) -> str:
    """The cache key of windows built from the snapshots of the periods that start before
    ``until`` ends (their sha256: a new landed file changes it), the protocol, the item
    vocabulary and ``rest``."""
    snapshots = ingest.list_snapshots(store.snapshots_dir, until.every)
    read = [(p.key, file_sha256(path)) for p, path in snapshots if p.start < until.end]
    items = hashlib.sha256("\n".join(map(str, vocab.item_ids)).encode()).hexdigest()
    return content_key(kind, until.key, str(until.every), asdict(protocol), items, read, *rest)


def cached_windows(
    store: Store,
    key: str,
    work_key: str,
    folder: Path,
    code: int,
    cache: CacheConfig,
    build: Callable[[], dict[str, WindowsRef]],
) -> tuple[dict[str, WindowsRef], Outcome]:
    """The window refs by role that ``build`` writes into ``folder``: restored there from
    cache entry ``key`` when it holds them (`tasks.cache`), else built and stored."""
    entry = fetch(store, CacheKind.WINDOWS, key) if cache.enabled else None
    if entry is not None:
        for name in entry.names:
            entry.restore(name, folder / name)
        refs = {
            role: WindowsRef(str(folder / ref["file"]), ref["rows"], ref["digest"], code)
            for role, ref in entry.meta.items()
        }
        return refs, Outcome.HIT
    refs = build()
    if not cache.enabled:
        return refs, Outcome.OFF
    meta = {
        role: {"file": Path(ref.path).name, "rows": ref.rows, "digest": ref.digest}
        for role, ref in refs.items()
    }
    written = [folder / m["file"] for m in meta.values()]
    written += [p.with_suffix(".users.json") for p in written]  # string user ids
    written += [folder / RECENCY_ROWS] if "recency" in refs else []
    files = {p.name: p for p in written if p.is_file()}
    put(store, CacheKind.WINDOWS, key, work_key, files, meta)
    return refs, Outcome.COMPUTED


def load_rows(path: str) -> np.ndarray:
    """(m,) int64 row numbers saved with a `Recency` slice."""
    return load_file(path)["rows"]


def windows_for_keys(store: Store, keys: np.ndarray) -> Windows:
    """The windows named by sample keys, in key order (replay and new samples alike)."""
    return windows_by_key(keys, lambda code: load_windows(window_path(store, code)))


@task(name="list-periods")
def list_periods(
    store: Store,
    every: str,
    start: date | None,
    end: date | None,
    after: date,
    landing: str | None = None,
    today: date | None = None,
) -> list[Period]:
    """The periods with data, oldest first: a snapshot, or rows waiting in the landing zone
    (``landing``, `tasks.landing.landed_periods`; only those ended by ``today``), starting in
    [start, end] and on or after ``after`` (the setup cut)."""
    zone = landing_zone(store, landing)
    landed = [p for p in landed_periods(store, zone, every) if today is None or p.end <= today]
    stored = [period for period, _ in ingest.list_snapshots(store.snapshots_dir, every)]
    return sorted(
        {
            period
            for period in stored + landed
            if period.start >= after
            and (start is None or period.start >= start)
            and (end is None or period.start <= end)
        },
        key=lambda period: period.start,
    )
