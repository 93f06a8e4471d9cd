"""The finished runs of `raie bench quality`, one file per (method, seed), so a bench can be
split over processes (``--part I/N``), resumed after a crash, and re-assembled into a report
without recomputing.

A run is stored under ``<home>/bench/runs/<key>.pkl``. Its key is a content digest of
everything that decides its outcome: the code (``raie_core.__version__`` and every ``.py`` file
of ``raie_core`` and of this package), the pipeline config, the method, the seed, the backbone (its own content key), the
plan's windows and its preset. Change any of them and the run is computed again; nothing is
reused on a name or a date. Files are this process's own pickles, written to a draft and
renamed into place, so a killed run leaves no half-written file.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from flows.benches.quality.plans import Plan

_CODE = (Path(__file__).resolve().parents[3] / "raie_core", Path(__file__).resolve().parent)


def parse_part(text: str) -> tuple[int, int]:
    """``--part``'s ``"I/N"`` as (I, N) with 1 <= I <= N (argparse's type: a bad value is a
    usage error naming it)."""
    index, _, total = text.partition("/")
    if not (index.isdigit() and total.isdigit() and 1 <= int(index) <= int(total)):
        raise argparse.ArgumentTypeError(f"{text!r} should be I/N with 1 <= I <= N, like 1/2")
    return int(index), int(total)


def in_part(unit: int, part: tuple[int, int] | None) -> bool:
    """Whether run number ``unit`` (seed-major, method-minor) belongs to ``part``: parts take
    every N-th run, so each holds a share of every method's cost."""
    return part is None or unit % part[1] == part[0] - 1


def code_digest() -> str:
    """Digest of the source that computes a run: ``raie_core`` and the bench package."""
    digest = hashlib.sha256()
    for root in _CODE:
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root.parent)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def plan_digest(plan: Plan) -> str:
    """Digest of every window a method sees and is scored on, with the period labels."""
    digest = hashlib.sha256(str(plan.prequential).encode())
    parts = [("setup", plan.setup), *plan.periods, *sorted(plan.blocks.items())]
    for label, windows in parts:
        digest.update(label.encode())
        for array in (windows.context, windows.target, windows.user, windows.timestamp):
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def runs_folder(args: argparse.Namespace) -> Path | None:
    """``<home>/bench/runs``, or None where runs are not stored (see `RunStore.open`)."""
    from flows.benches.quality.backbones import backbone_cache

    cache = backbone_cache(args)
    return None if cache is None else cache.parent / "runs"


class RunStore:
    """Finished runs of one bench invocation's plan and config, keyed by content."""

    def __init__(self, folder: Path, base_key: str) -> None:
        self.folder = folder
        self.base_key = base_key

    @classmethod
    def open(cls, args: argparse.Namespace, plan: Plan, config_hash: str) -> RunStore | None:
        """The store under ``<home>/bench/runs``, or None with ``--no-backbone-cache`` or the
        llm backbone (whose backbone is not cached, so its runs cannot be keyed)."""
        folder = runs_folder(args)
        if folder is None:
            return None
        from raie_core import __version__

        parts = [__version__, code_digest(), config_hash, plan_digest(plan)]
        return cls(folder, "\n".join(parts))

    def key(self, name: str, seed: int, backbone_key: str) -> str:
        text = "\n".join([self.base_key, name, str(seed), backbone_key])
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def get(self, key: str) -> dict[str, Any] | None:
        path = self.folder / f"{key}.pkl"
        if not path.is_file():
            return None
        with path.open("rb") as f:
            return pickle.load(f)

    def put(self, key: str, run: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        draft = self.folder / f"{key}.pkl.tmp-{os.getpid()}"
        with draft.open("wb") as f:
            pickle.dump(run, f, protocol=pickle.HIGHEST_PROTOCOL)
            f.flush()
            os.fsync(f.fileno())
        os.replace(draft, self.folder / f"{key}.pkl")
