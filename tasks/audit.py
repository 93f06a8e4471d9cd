"""`raie verify`: check a whole RAIE home against the digests recorded when it was written.

Per dataset: the CURRENT pointer, every bank version (manifest seal, bank files, the adapters
it names; `tasks.integrity`), every stored adapter folder (also those no version names), the
frozen base (`verify_base`), every window file under ``windows/`` and the setup's held-out
windows, the snapshots and catalog (`tasks.snapshot_seal`), the champion log and intent, and MLflow's @champion alias against CURRENT. Nothing
is written; no lock is taken.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from raie_core.errors import RaieStateError
from tasks import snapshot_seal
from tasks.champion import champion_moves, pending_move
from tasks.ingest import CATALOG_FILE, snapshot_files
from tasks.integrity import adapter_dirs, bank_problems, retired, verified_adapter
from tasks.lineage import tracker
from tasks.manifest import parse_version, version_name
from tasks.models import verify_base
from tasks.records import SetupRecord
from tasks.store import Store
from tasks.windows import WINDOW_FILES, load_windows


@dataclass
class DatasetAudit:
    """What was checked in one dataset (counts by kind) and every problem found."""

    dataset: str
    checked: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    unreferenced: list[str] = field(default_factory=list)

    def check(self, kind: str, probe: Callable[[], object]) -> None:
        """Run one check; a RaieStateError (any state problem) becomes a problem line."""
        self.checked[kind] = self.checked.get(kind, 0) + 1
        try:
            probe()
        except RaieStateError as error:
            self.problems.append(str(error))

    def to_json(self) -> dict:
        return {
            "dataset": self.dataset,
            "checked": dict(self.checked),
            "problems": list(self.problems),
            "unreferenced_adapters": list(self.unreferenced),
        }


def datasets(home: Path) -> list[str]:
    """The dataset names with a state folder under ``home``."""
    root = home / "state"
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def audit_dataset(store: Store) -> DatasetAudit:
    """Every check of one dataset's state (see the module docstring)."""
    audit = DatasetAudit(store.dataset)
    versions = _version_dirs(store)
    audit.check("pointer", lambda: _pointer(store, versions))
    named: set[str] = set()
    for version in versions:
        if _retired(store, version):  # `raie gc` left its manifest only: check that
            audit.check("retired versions", lambda version=version: store.read_manifest(version))
            continue
        audit.checked["versions"] = audit.checked.get("versions", 0) + 1
        audit.problems += [str(error) for error in bank_problems(store, version)]
        named |= _adapters_named(store, version)
    for rel in adapter_dirs(store):  # those versions name were checked with them
        audit.check("adapters", lambda rel=rel: rel in named or verified_adapter(store, rel))
        if rel not in named:
            audit.unreferenced.append(rel)
    if versions:
        audit.check("base", lambda: verify_base(store))
        audit.check("windows", lambda: _heldout(store))
    for path in _window_files(store):
        audit.check("windows", lambda path=path: load_windows(path))
    folder = store.snapshots_dir
    present = [p for p in (*snapshot_files(folder), folder / CATALOG_FILE) if p.is_file()]
    audit.checked["snapshot files"] = len(present)
    audit.problems += [str(error) for error in snapshot_seal.problems(folder, present)]
    audit.check("champion log", lambda: (champion_moves(store), pending_move(store)))
    if versions:
        audit.check("champion alias", lambda: _alias(store))
    return audit


def _alias(store: Store) -> None:
    """MLflow's @champion names the bank version CURRENT serves (unless a move is pending:
    the next command that takes the lock finishes it)."""
    served = store.current_version()
    named = tracker(store).champion_bank_version(store.dataset)
    if named != served and pending_move(store) is None:
        raise RaieStateError(
            f"MLflow's @champion of {store.dataset} names bank "
            f"{'no version' if named is None else version_name(named)} but CURRENT serves "
            f"{'no version' if served is None else version_name(served)}"
        )


def _pointer(store: Store, versions: list[int]) -> None:
    current = store.current_version()
    if current is not None:
        store.bank_dir(current)
    elif versions:
        raise RaieStateError(f"{store.root / 'CURRENT'} is missing; bank versions exist")


def _retired(store: Store, version: int) -> bool:
    try:
        return retired(store, version) is not None
    except RaieStateError:
        return False  # bank_problems reports the unreadable marker


def _version_dirs(store: Store) -> list[int]:
    bank = store.root / "bank"
    names = (parse_version(p.name) for p in bank.iterdir()) if bank.is_dir() else ()
    return sorted(v for v in names if v is not None)


def _adapters_named(store: Store, version: int) -> set[str]:
    try:
        return set(store.read_manifest(version).adapters.values())
    except RaieStateError:
        return set()


def _window_files(store: Store) -> list[Path]:
    root = store.root / "windows"
    return sorted(p for p in root.rglob("*.safetensors") if p.name in WINDOW_FILES)


def _heldout(store: Store) -> None:
    setup = store.history()[0]
    if retired(store, setup.version) is None:
        load_windows(SetupRecord.read(store, setup).heldout.path)


def audit_home(home: Path) -> list[DatasetAudit]:
    """`audit_dataset` of every dataset under ``home``; RaieStateError when there is none."""
    names = datasets(home)
    if not names:
        raise RaieStateError(f"no RAIE state in {home}; run `raie setup` first")
    return [audit_dataset(Store(home, name)) for name in names]


def audit_text(home: Path, audits: list[DatasetAudit]) -> str:
    """The human report: what was checked per dataset, then every problem."""
    lines = [f"verified {home}"]
    for audit in audits:
        counts = ", ".join(f"{n} {kind}" for kind, n in audit.checked.items())
        lines.append(f"  {audit.dataset}: {counts}; {len(audit.problems)} problem(s)")
        lines += [f"    problem: {problem}" for problem in audit.problems]
        if audit.unreferenced:
            lines.append(
                f"    {len(audit.unreferenced)} adapter folder(s) no version names "
                "(`raie gc` removes them): " + ", ".join(audit.unreferenced)
            )
    return "\n".join(lines)


def audit_json(home: Path, audits: list[DatasetAudit]) -> dict:
    """`raie verify --json`'s object."""
    ok = not any(audit.problems for audit in audits)
    return {"home": str(home), "ok": ok, "datasets": [a.to_json() for a in audits]}
