"""Durable files under the RAIE home: fsync, atomic replace and content digests.

A file is replaced by writing a temp file beside it, fsyncing it, renaming it over the target
and fsyncing the directory, so a crash leaves either the old or the new content, never a mix.
"""

import hashlib
import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """fsync every file and directory under `root` (children before parents)."""
    for dirpath, _dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            fsync_path(Path(dirpath) / name)
        fsync_path(Path(dirpath))


def write_text_atomic(path: Path, text: str) -> None:
    """Replace `path` atomically: write a temp file, fsync, rename, fsync the directory."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)


def write_json_atomic(path: Path, payload: Any) -> None:
    """`write_text_atomic` of indented, key-sorted JSON."""
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")


_DIGESTS: dict[tuple, str] = {}
"""Digests computed by this process, keyed by what they covered: (path, mtime_ns, size) of
every file. Verified loads repeat (one per evaluation), so each file is hashed once."""


def _signature(paths: list[Path]) -> tuple:
    stats = [(str(p), p.stat()) for p in paths]
    return tuple((name, st.st_mtime_ns, st.st_size) for name, st in stats)


def _hash_into(digest: Any, path: Path) -> None:  # a hashlib object
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)


def file_sha256(path: Path) -> str:
    """The sha256 hex digest of a file (cached per process while its mtime and size hold)."""
    key = ("file", *_signature([path]))
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        _hash_into(digest, path)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


def tree_digest(root: Path, skip: tuple[str, ...] = ()) -> str:
    """sha256 over the relative paths and bytes of every file under `root` (sorted), but the
    files whose relative path is in ``skip`` (metadata written after the digest); cached per
    process like `file_sha256`."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    files = [p for p in files if p.relative_to(root).as_posix() not in skip]
    key = ("tree", str(root), *_signature(files))
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        for path in files:
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            _hash_into(digest, path)
            digest.update(b"\0")
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]
