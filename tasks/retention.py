"""Retention (`raie gc`, and the nightly flow after each publish): remove what no kept
version needs, never the champion or what it stands on.

Kept whole: the newest ``keep`` bank versions, the champion (CURRENT), the target of a
pending champion move and the setup version (its record: the base digest, the held-out
windows). Every other version is retired: its payload goes, its manifest stays with a
`RETIRED.json` marker (`tasks.integrity.retire`), so the chain of versions, the periods
done and the MLflow registry (lineage) are untouched. Then removed:

* adapter folders no kept version names (also orphans of failed runs); each leaves a
  ``vNNNN.removed`` file so the number is never given to other bytes;
* the scratch ``work/`` folder of a retired version's period (a legacy home's folder that
  holds the period's window file stays);
* the cache entries (`tasks.cache`: windows, embeddings) of periods that only retired
  versions hold (entries of a period not yet published stay), and damaged ones;
* the MLflow artifacts of the runs behind retired versions and removed adapters (their
  registered versions stay, tagged ``raie.gc``).

Window folders are never removed: every period's windows are the shared step's replay pool
(`tasks.windows.windows_before`, drawn as the benchmark's `raie` and `full_replay` draw it),
so removing one would make later updates learn from less than the benchmark measured. They
grow with the data, like the ingested snapshots.

Kept versions are verified first: gc refuses to run on a corrupted home.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from prefect import task

from raie_core.errors import RaieConfigError, RaieStateError
from tasks.cache import entries
from tasks.champion import pending_move
from tasks.durable import utc_now
from tasks.integrity import adapter_dirs, payload, retire, retired, verify_bank
from tasks.lineage import tracker
from tasks.manifest import version_name
from tasks.store import REMOVED_SUFFIX, Store
from tasks.windows import PERIOD_WINDOWS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionConfig:
    """How much history a home keeps (`raie gc --keep`, and the nightly flow after each
    publish).

    keep: the newest bank versions kept whole (>= 1; the champion and the setup version are
    kept as well). 8 = two months of weekly periods to roll back to; one retired weekly
    version of the 150-user test slice frees ≈ 0.5 MB.
    after_publish: run gc at the end of every nightly update that published a version.
    """

    keep: int = 8
    after_publish: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.keep, bool) or not isinstance(self.keep, int) or self.keep < 1:
            raise RaieConfigError(f"retention.keep={self.keep!r} should be an integer >= 1")


@dataclass
class GcPlan:
    """What gc removes (paths relative to the dataset's state dir, MLflow ones to the home)."""

    kept: list[int]
    retire: list[int] = field(default_factory=list)
    adapters: list[str] = field(default_factory=list)
    work: list[str] = field(default_factory=list)
    cache: list[str] = field(default_factory=list)
    mlflow: list[str] = field(default_factory=list)
    bytes: int = 0

    def to_json(self) -> dict:
        return {
            "kept": [version_name(v) for v in self.kept],
            "retired": [version_name(v) for v in self.retire],
            "adapters": self.adapters,
            "work": self.work,
            "cache": self.cache,
            "mlflow_artifacts": self.mlflow,
            "bytes_freed": self.bytes,
        }


def plan_gc(store: Store, keep: int) -> GcPlan:
    """What `collect` would remove (nothing is changed); RaieStateError when a kept version
    does not verify (fix or roll back first: gc never decides on a corrupted home)."""
    RetentionConfig(keep=keep)
    versions = store.versions()
    live = [v for v in versions if retired(store, v) is None]
    kept = sorted(set(live[-keep:]) | _pinned(store))
    manifests = [verify_bank(store, v) for v in kept]
    unfinished = [v for v in versions if v not in live and payload(store, v)]  # a crashed gc
    plan = GcPlan(kept=kept, retire=sorted([v for v in live if v not in kept] + unfinished))
    needed = {rel for m in manifests for rel in m.adapters.values()}
    plan.adapters = [rel for rel in adapter_dirs(store) if rel not in needed]
    kept_periods = {m.period for m in manifests}
    gone = {store.read_manifest(v).period for v in plan.retire} - kept_periods
    plan.work = [  # a legacy home's work/ folder holding the period's windows stays
        store.relative(p)
        for p in _children(store.root / "work")
        if p.name.removeprefix("period=") in gone and not (p / PERIOD_WINDOWS).is_file()
    ]
    plan.cache = _stale_cache(store, kept_periods)
    plan.mlflow = _mlflow_artifacts(store, plan)
    paths = [store.root / rel for rel in plan.adapters + plan.work]
    paths += [store.home / rel for rel in plan.mlflow + plan.cache]
    paths += [p for v in plan.retire for p in payload(store, v)]
    plan.bytes = disk_bytes(paths)
    return plan


def collect(store: Store, keep: int, dry_run: bool = False) -> GcPlan:
    """Plan and (unless ``dry_run``) remove; the caller holds the dataset lock."""
    plan = plan_gc(store, keep)
    if dry_run:
        return plan
    when = utc_now()
    _tag_registered(store, plan, when)
    for version in plan.retire:
        retire(store, version, when)
    for rel in plan.adapters:  # the number is reserved first: a crash never frees it
        (store.root / f"{rel}{REMOVED_SUFFIX}").write_text(when + "\n", encoding="utf-8")
        shutil.rmtree(store.root / rel)
    for rel in plan.work:
        shutil.rmtree(store.root / rel)
    for rel in plan.mlflow + plan.cache:
        shutil.rmtree(store.home / rel)
    return plan


@task(name="gc")
def gc_after_publish(store: Store, config: RetentionConfig) -> int:
    """`collect` at the end of a nightly update (the caller holds the lock); bytes freed. The
    period is published whatever happens here: a refusal is logged as a warning, and the
    next update or `raie gc` tries again."""
    try:
        plan = collect(store, config.keep)
    except RaieStateError as error:
        log.warning("gc after publish skipped: %s", error)
        return 0
    log.info("gc retired %s, freed %d bytes", [version_name(v) for v in plan.retire], plan.bytes)
    return plan.bytes


def _stale_cache(store: Store, kept_periods: set[str]) -> list[str]:
    """Cache entries (relative to the home) of periods some version holds but no kept one,
    and damaged entries or drafts (no readable period)."""
    published = {m.period for m in store.history()}
    stale = []
    for folder, work_key in entries(store):
        period = None if work_key is None else work_key.removeprefix("period=")
        if period is None or (period in published and period not in kept_periods):
            stale.append(folder.relative_to(store.home).as_posix())
    return stale


def _pinned(store: Store) -> set[int]:
    """Versions gc never retires: the champion, a pending move's target, the setup version."""
    pinned = {store.require_current(), store.history()[0].version}
    move = pending_move(store)
    return pinned | ({move.version} if move is not None else set())


def _children(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def disk_bytes(paths: list[Path]) -> int:
    """Bytes removing the files at or under ``paths`` frees: each inode once, and only when
    all its links are among them (MLflow artifacts are hard links to the state's files, and
    a retired version's manifest stays)."""
    files = [q for p in paths for q in ([p] if p.is_file() else p.rglob("*")) if q.is_file()]
    links: dict[tuple[int, int], list[os.stat_result]] = {}
    for stat in (f.stat() for f in files):
        links.setdefault((stat.st_dev, stat.st_ino), []).append(stat)
    return sum(s[0].st_size for s in links.values() if len(s) >= s[0].st_nlink)


def _registered(store: Store, plan: GcPlan) -> list[dict]:
    """Registered versions (lineage rows) behind retired bank versions and removed adapters."""
    t = tracker(store)
    retired_tags = {str(v) for v in plan.retire}
    removed = set(plan.adapters)
    try:
        bank = [
            r
            for r in t.bank_lineage(store.dataset)
            if r["tags"].get("bank_version") in retired_tags
        ]
    except RaieStateError:
        bank = []
    regions = [r for r in t.lineage(store.dataset) if r["tags"].get("adapter_path") in removed]
    return bank + regions


def _mlflow_artifacts(store: Store, plan: GcPlan) -> list[str]:
    """The artifact folders (under the home's mlartifacts/) of those registered versions."""
    root = store.mlflow_artifacts_dir
    found = {
        path
        for row in _registered(store, plan)
        for path in root.glob(f"*/{row['run_id']}/artifacts")
        if path.is_dir()
    }
    return sorted(path.relative_to(store.home).as_posix() for path in found)


def _tag_registered(store: Store, plan: GcPlan, when: str) -> None:
    t = tracker(store)
    # a tracking server's artifact store is the server's to clean; only the home's files go
    removed = "home files removed" if t.server else "artifacts removed"
    for row in _registered(store, plan):
        t.tag_model_version(row["model"], row["version"], {"raie.gc": f"{removed} {when}"})
