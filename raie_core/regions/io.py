"""save_regions / load_regions: a folder with regions.json (scalars) + regions.safetensors (arrays).

The round trip is exact: every array keeps its dtype, shape and bits.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from raie_core.errors import RaieCorruptError, RaieStateError
from raie_core.regions.state import Regions

FORMAT_VERSION = 1
_SCALARS = ("next_id", "period", "seed")


def save_regions(regions: Regions, path: str | Path) -> Path:
    """Write regions into the folder `path` (created if needed); returns the folder."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        f.name: np.ascontiguousarray(getattr(regions, f.name))
        for f in fields(regions)
        if f.name not in _SCALARS
    }
    save_file(arrays, str(folder / "regions.safetensors"))
    meta = {
        "format_version": FORMAT_VERSION,
        "dim": regions.dim,
        **{name: int(getattr(regions, name)) for name in _SCALARS},
        "live_ids": regions.live_ids.tolist(),
        "table": regions.table(),
    }
    (folder / "regions.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return folder


def load_regions(path: str | Path) -> Regions:
    """Read a folder written by save_regions; RaieStateError when missing or of another format."""
    folder = Path(path)
    meta_path, array_path = folder / "regions.json", folder / "regions.safetensors"
    for needed in (meta_path, array_path):
        if not needed.is_file():
            raise RaieStateError(f"regions file {needed} is missing")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        arrays = load_file(str(array_path))
    except (json.JSONDecodeError, UnicodeDecodeError, SafetensorError) as error:
        bad = array_path if isinstance(error, SafetensorError) else meta_path
        raise RaieCorruptError(f"regions file {bad} is corrupted: {error}") from None
    if not isinstance(meta, dict):
        raise RaieCorruptError(f"regions file {meta_path} is corrupted: not a JSON object")
    if meta.get("format_version") != FORMAT_VERSION:
        raise RaieStateError(
            f"{meta_path} has format_version={meta.get('format_version')!r}, expected {FORMAT_VERSION}"
        )
    names = {f.name for f in fields(Regions)} - set(_SCALARS)
    if set(arrays) != names:
        raise RaieStateError(
            f"{array_path} holds arrays {sorted(arrays)}, expected {sorted(names)}"
        )
    return Regions(**arrays, **{name: int(meta[name]) for name in _SCALARS})
