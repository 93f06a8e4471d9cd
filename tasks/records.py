"""Typed records that setup and each period leave in their bank manifest (its ``extra``).

Each record has one writer (`to_extra`, the JSON under the manifest's "extra") and one reader
(`read`), which checks every field: a missing or mistyped one raises RaieStateError naming the
manifest file and the field. Nothing else reads a manifest's ``extra``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

from raie_core.errors import RaieStateError
from tasks.store import MANIFEST, BankManifest, Store
from tasks.windows import WindowsRef


@dataclass(frozen=True)
class SetupRecord:
    """What setup leaves for the updates.

    until: the setup cut (start of the first update period); retention_reference: NDCG@10 of
    the base on the held-out setup windows (the quality gate's reference); heldout: those
    windows; setup_windows: number of training windows; base_digest / base_epochs: content
    digest and training epochs of the frozen base.
    """

    until: date
    retention_reference: float
    heldout: WindowsRef
    setup_windows: int
    base_digest: str
    base_epochs: int

    def to_extra(self, root: Path | None = None) -> dict[str, Any]:
        """The manifest's "extra" (JSON-ready); the held-out path relative to ``root`` (the
        dataset's state dir) when it lies under it, so the home can move."""
        heldout = asdict(self.heldout)
        if root is not None and Path(heldout["path"]).is_relative_to(root):
            heldout["path"] = Path(heldout["path"]).relative_to(root).as_posix()
        return {
            "until": self.until.isoformat(),
            "retention_reference": float(self.retention_reference),
            "heldout": heldout,
            "setup_windows": int(self.setup_windows),
            "base_digest": self.base_digest,
            "base_epochs": int(self.base_epochs),
        }

    @classmethod
    def read(cls, store: Store, manifest: BankManifest) -> SetupRecord:
        """The setup record of ``manifest`` (the first version of ``store``'s history); the
        held-out path resolved under ``store`` (`Store.resolve`)."""
        extra = _Extra(store, manifest)
        return cls(
            until=extra.day("until"),
            retention_reference=extra.number("retention_reference"),
            heldout=WindowsRef(
                path=str(store.resolve(extra.text("heldout.path"))),
                rows=extra.integer("heldout.rows"),
                digest=extra.text("heldout.digest"),
                code=extra.integer("heldout.code"),
            ),
            setup_windows=extra.integer("setup_windows"),
            base_digest=extra.text("base_digest"),
            base_epochs=extra.integer("base_epochs"),
        )


@dataclass(frozen=True)
class PeriodRecord:
    """What one period's update did.

    windows: the period's windows; affected: regions whose adapters were retrained; added:
    new regions; merged: (absorbed id, survivor id) pairs; retired: regions retired as
    starved; live: live regions after the edit; champion_evaluated: the bank version whose
    prequential scores the manifest holds. A period without windows edits nothing: its id
    tuples are empty and live / champion_evaluated are None.
    """

    windows: int
    affected: tuple[int, ...] = ()
    added: tuple[int, ...] = ()
    merged: tuple[tuple[int, int], ...] = ()
    retired: tuple[int, ...] = ()
    live: int | None = None
    champion_evaluated: int | None = None

    def to_extra(self, root: Path | None = None) -> dict[str, Any]:
        """The manifest's "extra" (JSON-ready; it names no path, ``root`` is not used)."""
        return {
            "windows": int(self.windows),
            "affected": [int(r) for r in self.affected],
            "added": [int(r) for r in self.added],
            "merged": [[int(a), int(b)] for a, b in self.merged],
            "retired": [int(r) for r in self.retired],
            "live": None if self.live is None else int(self.live),
            "champion_evaluated": (
                None if self.champion_evaluated is None else int(self.champion_evaluated)
            ),
        }

    @classmethod
    def read(cls, store: Store, manifest: BankManifest) -> PeriodRecord:
        """The period record of ``manifest`` (any version after setup)."""
        extra = _Extra(store, manifest)
        return cls(
            windows=extra.integer("windows"),
            affected=extra.ids("affected"),
            added=extra.ids("added"),
            merged=extra.pairs("merged"),
            retired=extra.ids("retired"),
            live=extra.integer_or_none("live"),
            champion_evaluated=extra.integer_or_none("champion_evaluated"),
        )


class _Extra:
    """Checked reads of one manifest's ``extra``; dotted names reach into nested objects."""

    def __init__(self, store: Store, manifest: BankManifest) -> None:
        self.values = manifest.extra
        self.source = store.bank_dir(manifest.version) / MANIFEST

    def _get(self, name: str) -> Any:
        node: Any = self.values
        parts = name.split(".")
        for depth, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                missing = ".".join(parts[: depth + 1])
                raise RaieStateError(f"manifest {self.source} has no field extra.{missing}")
            node = node[part]
        return node

    def _wrong(self, name: str, rule: str, value: Any) -> RaieStateError:
        return RaieStateError(
            f"manifest {self.source} field extra.{name} should be {rule}, not {value!r}"
        )

    def integer(self, name: str) -> int:
        value = self._get(name)
        if not _is_int(value):
            raise self._wrong(name, "an integer", value)
        return value

    def integer_or_none(self, name: str) -> int | None:
        value = self._get(name)
        if value is not None and not _is_int(value):
            raise self._wrong(name, "an integer or null", value)
        return value

    def number(self, name: str) -> float:
        value = self._get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._wrong(name, "a number", value)
        return float(value)

    def text(self, name: str) -> str:
        value = self._get(name)
        if not isinstance(value, str):
            raise self._wrong(name, "a string", value)
        return value

    def day(self, name: str) -> date:
        value = self._get(name)
        try:
            return date.fromisoformat(value)
        except (TypeError, ValueError):
            raise self._wrong(name, "a date like 2024-01-01", value) from None

    def ids(self, name: str) -> tuple[int, ...]:
        value = self._get(name)
        if not isinstance(value, list) or not all(_is_int(v) for v in value):
            raise self._wrong(name, "a list of region ids", value)
        return tuple(value)

    def pairs(self, name: str) -> tuple[tuple[int, int], ...]:
        value = self._get(name)
        pairs = isinstance(value, list) and all(
            isinstance(p, list) and len(p) == 2 and all(_is_int(v) for v in p) for p in value
        )
        if not pairs:
            raise self._wrong(name, "a list of [region id, region id] pairs", value)
        return tuple((a, b) for a, b in value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
