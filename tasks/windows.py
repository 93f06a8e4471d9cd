"""Tasks that cut snapshots into windows and persist them (safetensors) for later periods.

Window files live in the store's work area: `work/setup/{train,heldout}.safetensors` and
`work/period=YYYY-MM-DD/windows.safetensors`. Replay resolves sample keys through them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
from prefect import task
from safetensors.numpy import load_file, save_file

from raie_core.data.periods import Every, period_start
from raie_core.errors import RaieStateError
from raie_core.evaluation import SETUP_CODE, windows_by_key
from raie_core.protocol import (
    ItemVocab,
    ProtocolConfig,
    Windows,
    cut_points,
    period_windows,
    streaming_setup,
)
from tasks import ingest
from tasks.store import Store

SETUP_TRAIN = "train.safetensors"
SETUP_HELDOUT = "heldout.safetensors"


@dataclass(frozen=True)
class WindowsRef:
    """A persisted window file: path, row count, content digest and its key code."""

    path: str
    rows: int
    digest: str
    code: int


def save_windows(windows: Windows, path: Path) -> str:
    """Write windows as safetensors (users as int64 or a JSON sidecar); return a digest."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {
        "context": np.ascontiguousarray(windows.context, dtype=np.int64),
        "target": np.ascontiguousarray(windows.target, dtype=np.int64),
        "timestamp": np.ascontiguousarray(windows.timestamp, dtype=np.int64),
    }
    users = windows.user
    if users.dtype.kind in "iu":
        arrays["user"] = np.ascontiguousarray(users, dtype=np.int64)
    else:
        path.with_suffix(".users.json").write_text(json.dumps([str(u) for u in users]))
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(arrays, str(tmp))
    tmp.replace(path)
    digest = hashlib.sha256()
    for name in sorted(arrays):
        digest.update(arrays[name].tobytes())
    return digest.hexdigest()[:16]


def load_windows(path: str | Path) -> Windows:
    """Read windows written by `save_windows`."""
    path = Path(path)
    if not path.is_file():
        raise RaieStateError(f"window file {path} is missing; re-run the period's update")
    arrays = load_file(str(path))
    sidecar = path.with_suffix(".users.json")
    users = (
        arrays["user"]
        if "user" in arrays
        else np.array(json.loads(sidecar.read_text()), dtype=object)
    )
    return Windows(arrays["context"], arrays["target"], users, arrays["timestamp"])


def period_end(start: date, every: str) -> date:
    """The first day after the period that starts on ``start``."""
    step = Every.parse(every)
    if step is Every.MONTH:
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return date.fromordinal(start.toordinal() + (1 if step is Every.DAY else 7))


def period_code(period: date) -> int:
    """Key code of a period's windows (its proleptic ordinal; setup is 0)."""
    return period.toordinal()


def window_path(store: Store, code: int) -> Path:
    if code == SETUP_CODE:
        return store.work_dir("setup") / SETUP_TRAIN
    return store.work_dir(f"period={date.fromordinal(code).isoformat()}") / "windows.safetensors"


def history_before(store: Store, end: date) -> pl.DataFrame:
    """All ingested interactions of periods that start before ``end``."""
    parts = [
        ingest.read_snapshot(p)
        for day, p in ingest.list_snapshots(store.snapshots_dir)
        if day < end
    ]
    if not parts:
        raise RaieStateError(f"no snapshots before {end} in {store.snapshots_dir}")
    return pl.concat(parts, how="vertical_relaxed")


@task(name="ingest-snapshots", retries=1)
def ingest_snapshots(store: Store, dataset: str, every: str, path: str | None) -> dict:
    """Cut the dataset into period snapshots under the store (idempotent); a small summary."""
    written = ingest.write_snapshots(dataset, store.snapshots_dir, every, path=path)
    periods = [day for day, _ in ingest.list_snapshots(store.snapshots_dir)]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in written)).hexdigest()[:16]
    return {
        "snapshots": len(written),
        "first": periods[0].isoformat(),
        "last": periods[-1].isoformat(),
        "digest": digest,
    }


@task(name="setup-cut")
def default_setup_cut(store: Store, protocol: ProtocolConfig, every: str) -> date:
    """The start of the period holding t^S (setup_quantile of positive timestamps)."""
    history = pl.concat(
        [ingest.read_snapshot(p) for _, p in ingest.list_snapshots(store.snapshots_dir)]
    )
    seconds = cut_points(history, protocol)[0]
    return pl.select(period_start(pl.lit(seconds, dtype=pl.Int64), every)).item()


@task(name="build-setup-windows")
def build_setup_windows(
    store: Store, until: date, protocol: ProtocolConfig, vocab: ItemVocab
) -> tuple[WindowsRef, WindowsRef]:
    """Setup training windows and the held-out retention windows, before ``until``."""
    train, heldout = streaming_setup(history_before(store, until), until, protocol, vocab)
    refs = []
    for windows, rel in ((train, SETUP_TRAIN), (heldout, SETUP_HELDOUT)):
        path = store.work_dir("setup") / rel
        refs.append(WindowsRef(str(path), len(windows), save_windows(windows, path), SETUP_CODE))
    return refs[0], refs[1]


@task(name="build-period-windows")
def build_period_windows(
    store: Store, period: date, every: str, protocol: ProtocolConfig, vocab: ItemVocab
) -> WindowsRef:
    """Windows whose targets fall in ``period``; context reaches back into earlier snapshots."""
    end = period_end(period, every)
    windows = period_windows(history_before(store, end), (period, end), protocol, vocab)
    path = window_path(store, period_code(period))
    return WindowsRef(str(path), len(windows), save_windows(windows, path), period_code(period))


def windows_for_keys(store: Store, keys: np.ndarray) -> Windows:
    """The windows named by sample keys, in key order (replay and new samples alike)."""
    return windows_by_key(keys, lambda code: load_windows(window_path(store, code)))


def last_complete_period(today: date, every: str) -> date:
    """The newest period that has ended by ``today`` ("yesterday's period" for 1d)."""
    day = date.fromordinal(today.toordinal() - 1)
    start = pl.select(period_start(pl.lit(_seconds(day), dtype=pl.Int64), every)).item()
    while period_end(start, every) > today:
        start = pl.select(
            period_start(
                pl.lit(_seconds(date.fromordinal(start.toordinal() - 1)), dtype=pl.Int64), every
            )
        ).item()
    return start


def _seconds(day: date) -> int:
    return (day.toordinal() - date(1970, 1, 1).toordinal()) * 86400


@task(name="list-periods")
def list_periods(store: Store, start: date | None, end: date | None, after: date) -> list[date]:
    """Snapshot periods in [start, end] that begin on or after ``after`` (the setup cut)."""
    days = [day for day, _ in ingest.list_snapshots(store.snapshots_dir)]
    return [
        d
        for d in days
        if d >= after and (start is None or d >= start) and (end is None or d <= end)
    ]
