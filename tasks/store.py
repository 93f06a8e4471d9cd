"""The RAIE home on disk: immutable bank versions, versioned adapters, a per-dataset lock.

This module is the only place that knows paths under the home. Layout, per dataset::

    <home>/state/<dataset>/
        CURRENT                       "v0003\\n", replaced atomically
        bank/vNNNN/manifest.json      immutable once renamed into place (+ caller's files)
        adapters/region-<id>/vNNNN/   one peft folder per trained adapter version
        adapters/shared/vNNNN/        the shared step's versions (key SHARED_KEY): a base or an adapter
        base/                         the frozen backbone, written once by setup
        snapshots/                    ingested period snapshots
        windows/<key>/                window files of setup and each period (replay reads them)
        work/<key>/                   scratch space of a run (not published state; may be deleted)
        .staging/                     temp dirs; anything here when the lock is taken is stale
        .lock                         who holds the writer lock (an flock on this folder)

Publishing writes into `.staging/`, fsyncs, renames into `bank/`, then replaces CURRENT
(write temp, fsync, rename, fsync dir). A crash before the CURRENT rename leaves the previous
version current and intact; a crash after it leaves the new version complete. Only JSON and
safetensors are read back, never pickle.
"""

import errno
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raie_core.errors import RaieCorruptError, RaieStateError
from raie_core.sharing import SHARED_KEY
from tasks.adapter_files import ADAPTER_META, tree_digest, version_with_digest
from tasks.durable import (
    file_sha256,
    fsync_path,
    fsync_tree,
    utc_now,
    write_json_atomic,
    write_text_atomic,
)
from tasks.faults import fault_point
from tasks.lock import DatasetLock
from tasks.manifest import BankManifest, parse_version, version_name

MANIFEST = "manifest.json"
_DRAFT_MAPPINGS = ("decisions", "metrics", "quality_gate", "adapters", "extra")


def adapter_folder(region_id: int) -> str:
    """The folder under adapters/ of a region's versions (`SHARED_KEY`: the shared adapter)."""
    return "shared" if region_id == SHARED_KEY else f"region-{region_id}"


REMOVED_SUFFIX = ".removed"  # `vNNNN.removed`: a folder `raie gc` removed, never renumbered


def _next_version(parent: Path) -> int:
    found = parent.iterdir() if parent.is_dir() else ()
    taken = [parse_version(p.name.removesuffix(REMOVED_SUFFIX)) for p in found]
    return max([v for v in taken if v is not None], default=0) + 1


@dataclass
class BankDraft:
    """A bank version being written: fill `dir` and the fields, then leave the `with` block.

    After a clean exit `version` holds the published version number.
    """

    dir: Path
    parent_version: int | None
    period: str
    config_hash: str
    data_digest: str
    decisions: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    quality_gate: dict[str, Any] = field(default_factory=dict)
    adapters: dict[int, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    version: int | None = None


@dataclass(frozen=True)
class AdapterRef:
    """A stored adapter version: `path` is relative to the dataset's state dir."""

    region_id: int
    version: int
    path: str
    digest: str


@dataclass
class AdapterDraft:
    """An adapter being written into `dir`; `ref` is set after a clean exit."""

    region_id: int
    dir: Path
    ref: AdapterRef | None = None


@dataclass(frozen=True)
class Store:
    """The state of one dataset under a RAIE home (picklable: a home path and a name)."""

    home: Path
    dataset: str

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", self.dataset):
            raise RaieStateError(
                f"dataset={self.dataset!r} should be letters, digits, '.', '_' or '-'"
            )
        object.__setattr__(self, "home", Path(self.home).resolve())

    # ---- paths ---------------------------------------------------------------------------
    @property
    def root(self) -> Path:
        return self.home / "state" / self.dataset

    @property
    def base_dir(self) -> Path:
        return self.root / "base"

    @property
    def snapshots_dir(self) -> Path:
        return self._mkdir(self.root / "snapshots")

    @property
    def landing_dir(self) -> Path:
        """The dataset's default landing zone, `<home>/landing/<dataset>/` (tasks/landing.py)."""
        return self.home / "landing" / self.dataset

    @property
    def cache_dir(self) -> Path:
        """`<home>/cache/<dataset>/`: content-keyed windows and embeddings (tasks/cache.py)."""
        return self.home / "cache" / self.dataset

    @property
    def mlflow_artifacts_dir(self) -> Path:
        """Artifact root for MLflow experiments of this home (shared by datasets)."""
        return self.home / "mlartifacts"

    def work_dir(self, key: str) -> Path:
        """A scratch dir for one run's intermediate files (never read as published state)."""
        return self._mkdir(self.root / "work" / key)

    def windows_file(self, key: str, name: str) -> Path:
        """A window file of setup (key "setup") or a period; homes written before windows/
        kept them in work/<key>/, read there while no windows/ copy exists."""
        path = self.root / "windows" / key / name
        legacy = self.root / "work" / key / name
        return legacy if legacy.is_file() and not path.is_file() else path

    def relative(self, path: str | Path) -> str:
        """A path under the state dir as manifests record it: relative, so the home can move."""
        return Path(path).relative_to(self.root).as_posix()

    def resolve(self, stored: str) -> Path:
        """A path a manifest recorded: relative to the state dir; an absolute one (manifests
        written before paths were relative) is re-rooted here when it names a file of this
        dataset's state dir under any home (a moved, copied or restored home)."""
        path = Path(stored)
        if not path.is_absolute():
            return self.root / path
        marker = f"/state/{self.dataset}/"
        text = path.as_posix()
        return self.root / text.rsplit(marker, 1)[1] if marker in text else path

    def bank_dir(self, version: int) -> Path:
        path = self.root / "bank" / version_name(version)
        if not (path / MANIFEST).is_file():
            raise RaieStateError(
                f"bank version {version_name(version)} of {self.dataset} not found at {path}"
            )
        return path

    def adapter_path(self, rel: str) -> Path:
        """Resolve a manifest's adapter path (relative to the dataset state dir)."""
        return self.root / rel

    @staticmethod
    def _mkdir(path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        return path

    # ---- reading -------------------------------------------------------------------------
    def current_version(self) -> int | None:
        """The version CURRENT points at; None before the first publish."""
        pointer = self.root / "CURRENT"
        if not pointer.exists():
            return None
        text = pointer.read_bytes().decode("utf-8", errors="replace").strip()
        version = parse_version(text)
        if version is None:
            raise RaieStateError(
                f"{pointer} is corrupted: {text[:40]!r} is not a version like v0003"
            )
        return version

    def require_current(self) -> int:
        """The current version, or a RaieStateError telling the user to run setup (again,
        when a setup left its base or snapshots but published no bank version)."""
        version = self.current_version()
        if version is not None:
            return version
        if self.base_dir.exists() or (self.root / "snapshots").exists():
            raise RaieStateError(
                f"setup of dataset {self.dataset} in {self.home} did not finish (no bank "
                "version is published); run `raie setup` again (unless one is running now): "
                "it starts over"
            )
        raise RaieStateError(
            f"no bank for dataset {self.dataset} in {self.home}; run `raie setup` first"
        )

    def read_manifest(self, version: int) -> BankManifest:
        path = self.bank_dir(version) / MANIFEST
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise RaieCorruptError(f"manifest {path} is corrupted: {error}") from None
        manifest = BankManifest.from_json(payload, path)
        if manifest.version != version:
            raise RaieStateError(
                f"manifest {path} says version {manifest.version}, expected {version}"
            )
        return manifest

    def history(self) -> list[BankManifest]:
        """The published chain, oldest first: CURRENT and its parents."""
        chain: list[BankManifest] = []
        version = self.current_version()
        while version is not None:
            manifest = self.read_manifest(version)
            chain.append(manifest)
            version = manifest.parent_version
        return chain[::-1]

    def versions(self) -> list[int]:
        """Every published bank version, ascending: the CURRENT chain and candidates that
        were published without becoming current (a failed quality gate)."""
        bank_root = self.root / "bank"
        if not bank_root.is_dir():
            return []
        names = (parse_version(p.name) for p in bank_root.iterdir())
        return sorted(
            v for v in names if v is not None and (bank_root / version_name(v) / MANIFEST).is_file()
        )

    def published_periods(self) -> list[str]:
        """Periods in the published chain, oldest first (backfill skips these)."""
        return [manifest.period for manifest in self.history()]

    # ---- writing -------------------------------------------------------------------------
    def lock(self) -> DatasetLock:
        """Take the dataset lock (fails fast) and clear staging dirs left by dead writers."""
        lock = DatasetLock(self.root, self.dataset)
        lock.acquire()
        staging = self.root / ".staging"
        for stale in staging.iterdir() if staging.is_dir() else ():
            shutil.rmtree(stale, ignore_errors=True)
        return lock

    @contextmanager
    def _staging(self, prefix: str) -> Iterator[Path]:
        """A fresh temp dir under `.staging/`, removed on exit unless renamed away."""
        path = (
            self._mkdir(self.root / ".staging") / f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        )
        path.mkdir()
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def _rename_as_next_version(self, staged: Path, parent: Path) -> int:
        """Rename `staged` to `parent/vNNNN` with the next free number; fsync `parent`."""
        self._mkdir(parent)
        version = _next_version(parent)
        while True:
            try:
                os.rename(staged, parent / version_name(version))
                break
            except OSError as error:
                if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                version += 1
        fsync_path(parent)
        return version

    @contextmanager
    def stage_adapter(self, region_id: int) -> Iterator[AdapterDraft]:
        """Write an adapter into `draft.dir`; on clean exit it becomes `region-<id>/vNNNN`.

        An adapter whose bytes equal an existing version of the region is not stored twice:
        `draft.ref` then points at that version. On an exception the temp dir is removed.
        """
        with self._staging(f"adapter-{region_id}") as staged:
            draft = AdapterDraft(region_id=int(region_id), dir=staged)
            yield draft
            draft.ref = self._commit_adapter(draft)

    def _commit_adapter(self, draft: AdapterDraft) -> AdapterRef:
        region_root = self.root / "adapters" / adapter_folder(draft.region_id)
        digest = tree_digest(draft.dir)
        version = version_with_digest(region_root, digest)
        if version is None:
            meta = {"region_id": draft.region_id, "digest": digest, "created_utc": utc_now()}
            write_json_atomic(draft.dir / ADAPTER_META, meta)
            fsync_tree(draft.dir)
            version = self._rename_as_next_version(draft.dir, region_root)
        rel = (region_root / version_name(version)).relative_to(self.root).as_posix()
        return AdapterRef(draft.region_id, version, rel, digest)

    @contextmanager
    def stage_bank_version(
        self,
        *,
        period: str,
        config_hash: str,
        data_digest: str,
        parent_version: int | None = None,
        make_current: bool = True,
    ) -> Iterator[BankDraft]:
        """Write a bank version into `draft.dir`, fill the draft, leave the block to publish.

        `parent_version` defaults to the current version. On clean exit: the manifest is
        written, the dir fsynced and renamed to `bank/vNNNN`, and CURRENT moved to it unless
        not ``make_current`` (a candidate that failed its gate). On an exception the temp dir
        is removed and CURRENT is untouched. Call under `lock()`.
        """
        parent = self.current_version() if parent_version is None else parent_version
        with self._staging("bank") as staged:
            draft = BankDraft(staged, parent, period, config_hash, data_digest)
            yield draft
            draft.version = self._publish(draft, make_current)

    def _publish(self, draft: BankDraft, make_current: bool = True) -> int:
        for rel in draft.adapters.values():
            if not self.adapter_path(rel).is_dir():
                raise RaieStateError(
                    f"adapter {self.adapter_path(rel)} does not exist; stage it first"
                )
        files = {
            p.relative_to(draft.dir).as_posix(): file_sha256(p)
            for p in sorted(draft.dir.rglob("*"))
            if p.is_file()
        }
        bank_root = self._mkdir(self.root / "bank")
        version = _next_version(bank_root)
        copied = ("parent_version", "period", "config_hash", "data_digest")
        manifest = BankManifest(
            version=version,
            created_utc=utc_now(),
            files=files,
            **{name: getattr(draft, name) for name in copied},
            **{name: dict(getattr(draft, name)) for name in _DRAFT_MAPPINGS},
        )
        write_json_atomic(draft.dir / MANIFEST, manifest.to_json())
        fsync_tree(draft.dir)
        os.rename(draft.dir, bank_root / version_name(version))
        fsync_path(bank_root)
        if make_current:
            fault_point("bank-renamed")
            self.set_current(version)
        return version

    def set_current(self, version: int) -> None:
        """Point CURRENT at an existing version atomically (also the rollback command)."""
        self.bank_dir(version)
        write_text_atomic(self.root / "CURRENT", version_name(version) + "\n")

    def discard_unpublished(self) -> None:
        """Remove what a setup that never published left (base, snapshots, work), so it can
        start over; call under `lock()` with no bank version published."""
        assert not self.versions(), "discard_unpublished with published versions"
        for name in ("base", "snapshots", "work"):
            shutil.rmtree(self.root / name, ignore_errors=True)

    @contextmanager
    def stage_base(self) -> Iterator[Path]:
        """Write the frozen base into the yielded dir; on clean exit it becomes `base/`."""
        if self.base_dir.exists():
            raise RaieStateError(
                f"{self.base_dir} already holds a base model; use a new --home or remove {self.root}"
            )
        with self._staging("base") as staged:
            yield staged
            fsync_tree(staged)
            os.rename(staged, self.base_dir)
            fsync_path(self.root)
