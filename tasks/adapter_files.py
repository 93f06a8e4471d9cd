"""A stored adapter folder's metadata file and content digest (`raie-adapter.json`: region
id, digest, creation time; the digest covers every other file of the folder)."""

import json
from pathlib import Path
from typing import Any

from raie_core.errors import RaieCorruptError, RaieStateError
from tasks import durable
from tasks.manifest import parse_version

ADAPTER_META = "raie-adapter.json"


def tree_digest(root: Path) -> str:
    """The content digest of a stored folder (`durable.tree_digest`), the adapter metadata
    file excluded (it is written after the digest and holds it)."""
    return durable.tree_digest(root, skip=(ADAPTER_META,))


def adapter_meta(folder: Path) -> dict[str, Any]:
    """An adapter's metadata (region id, digest, creation time); RaieCorruptError if unreadable."""
    path = folder / ADAPTER_META
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RaieStateError(f"adapter {folder} has no {ADAPTER_META}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RaieCorruptError(f"{path} is corrupted: {error}") from None
    if not isinstance(meta, dict):
        raise RaieCorruptError(f"{path} is corrupted: not a JSON object")
    return meta


def version_with_digest(region_root: Path, digest: str) -> int | None:
    """The version under ``region_root`` (a region's adapter folder) whose stored bytes have
    ``digest``, if any: an identical adapter is stored once."""
    if not region_root.is_dir():
        return None
    for path in sorted(region_root.iterdir()):
        version = parse_version(path.name)
        if version is not None and (path / ADAPTER_META).is_file():
            if adapter_meta(path).get("digest") == digest:
                return version
    return None
