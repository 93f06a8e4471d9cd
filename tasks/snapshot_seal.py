"""Sealed snapshots: the ingested per-period data the flows read back is checked against the
digest recorded when it was written, like the rest of the state (`tasks.integrity`).

`save_snapshots` records the sha256 of every file it writes (the period snapshots and the
catalog) in ``<folder>/DIGESTS_FILE`` once they are all in place; `verified` checks a file
before it is read. A folder without that file (cut before snapshots were sealed) is read
unchecked; in a sealed folder a file without a recorded digest is refused, so a file copied
in by hand is never trained on. Hashes are cached per process (`tasks.durable.file_sha256`).
"""

from __future__ import annotations

import json
from pathlib import Path

from raie_core.errors import RaieCorruptError, RaieStateError
from tasks.durable import file_sha256, write_json_atomic

DIGESTS_FILE = "digests.json"
"""The digest record of a snapshot folder: {"files": {relative path: sha256 hex}}; while a
file is being replaced (`expect`), its entry is the list [old, new] and either is accepted."""


def recorded(folder: Path) -> dict[str, str | list[str]] | None:
    """The recorded digests of ``folder`` by relative path; None when it was never sealed."""
    path = folder / DIGESTS_FILE
    if not path.is_file():
        return None
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        files = payload["files"]
        if not isinstance(files, dict):
            raise TypeError(f"'files' is a {type(files).__name__}, not an object")
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as error:
        raise RaieCorruptError(f"snapshot digests {path} are corrupted: {error!r}") from None
    return files


def seal(folder: Path, written: list[Path]) -> Path:
    """Record the digests of ``written`` (files under ``folder``) with those already recorded;
    entries of files no longer there are dropped. Returns the record's path."""
    files = {
        rel: digest for rel, digest in (recorded(folder) or {}).items() if (folder / rel).is_file()
    }
    for path in written:
        files[path.relative_to(folder).as_posix()] = file_sha256(path)
    target = folder / DIGESTS_FILE
    write_json_atomic(target, {"files": dict(sorted(files.items()))})
    return target


def expect(folder: Path, path: Path, staged: Path) -> None:
    """Before ``staged`` (a complete temp file) is renamed onto ``path``: accept either file's
    digest for ``path``, so a crash between the rename and the `seal` that follows it leaves
    a readable folder (the next `seal` of ``path`` records the new digest alone)."""
    files = dict(recorded(folder) or {})
    rel = path.relative_to(folder).as_posix()
    old = files.get(rel)
    accepted = [] if old is None else [old] if isinstance(old, str) else list(old)
    files[rel] = [*accepted, file_sha256(staged)]
    write_json_atomic(folder / DIGESTS_FILE, {"files": dict(sorted(files.items()))})


def verified(folder: Path, path: Path) -> Path:
    """``path`` (a file under the snapshot ``folder``) once its bytes match the digest recorded
    when it was written; RaieCorruptError names the file when they do not, or when a sealed
    folder has no digest for it."""
    files = recorded(folder)
    if files is None:
        return path
    rel = path.relative_to(folder).as_posix()
    expected = files.get(rel)
    if expected is None:
        raise RaieCorruptError(
            f"snapshot file {path} has no digest in {folder / DIGESTS_FILE}: it was not "
            "written by the ingest; remove it or ingest the data again"
        )
    accepted = [expected] if isinstance(expected, str) else expected
    actual = file_sha256(path)
    if actual not in accepted:
        raise RaieCorruptError(
            f"snapshot file {path} does not match the digest recorded when it was written "
            f"(sha256 {actual[:12]} != {accepted[-1][:12]}): the file is corrupted"
        )
    return path


def problems(folder: Path, present: list[Path]) -> list[RaieStateError]:
    """Every problem of a snapshot folder (`raie verify`): a file of ``present`` (those on
    disk) that does not match or has no digest, a recorded file that is missing, an
    unreadable record."""
    try:
        files = recorded(folder)
    except RaieStateError as error:
        return [error]
    if files is None:
        return []
    found: list[RaieStateError] = []
    for path in present:
        try:
            verified(folder, path)
        except RaieStateError as error:
            found.append(error)
    found += [
        RaieStateError(f"snapshot file {folder / rel} is recorded in {DIGESTS_FILE} but missing")
        for rel in sorted(files)
        if not (folder / rel).is_file()
    ]
    return found
