"""Verified reads of a bank version: every file is checked against the digest recorded when
it was written before anything is served, edited or published from it (issue 19, finding 3).

What holds which digest: the manifest its own (`manifest.SEAL`), the bank files theirs (the
manifest's ``files``), an adapter folder its tree digest (`ADAPTER_META`), the base the setup
record's ``base_digest`` (`tasks.models.verify_base`), a window file the digest in its
safetensors metadata (`tasks.windows.load_windows`). Hashes are cached per process while a
file's mtime and size hold (`tasks.durable`), so repeated loads hash once.

A version `raie gc` retired keeps its manifest (the lineage and the periods done) and a
`RETIRED.json` marker; its payload is gone and it can no longer be served.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from raie_core.errors import RaieCorruptError, RaieStateError
from tasks.adapter_files import ADAPTER_META, adapter_meta, tree_digest
from tasks.durable import file_sha256, write_json_atomic
from tasks.manifest import BankManifest, parse_version, version_name
from tasks.store import MANIFEST, Store

RETIRED = "RETIRED.json"


def verify_bank(store: Store, version: int) -> BankManifest:
    """The manifest of ``version`` once its seal, bank files and adapters match their digests;
    else the first problem (`bank_problems`) is raised."""
    problems = bank_problems(store, version)
    if problems:
        raise problems[0]
    return store.read_manifest(version)


def bank_problems(store: Store, version: int) -> list[RaieStateError]:
    """Every problem of a version: an unreadable or unsealed manifest, a retired version, a
    bank file or an adapter that is missing or does not match its recorded digest."""
    try:
        manifest = store.read_manifest(version)
    except RaieStateError as error:
        return [error]
    marker = retired(store, version)
    if marker is not None:
        return [
            RaieStateError(
                f"bank {version_name(version)} of {store.dataset} was retired by `raie gc` "
                f"on {marker.get('utc', '?')}; only its manifest is left"
            )
        ]
    bank = store.bank_dir(version)
    problems: list[RaieStateError] = []
    for rel, expected in sorted(manifest.files.items()):
        path = bank / rel
        actual = file_sha256(path) if path.is_file() else "missing"
        if actual != expected:
            problems.append(
                RaieCorruptError(
                    f"{path} does not match its manifest "
                    f"(sha256 {actual[:12]} != {expected[:12]}): the file is corrupted"
                )
            )
    for rel in sorted(set(manifest.adapters.values())):
        try:
            verified_adapter(store, rel, version)
        except RaieStateError as error:
            problems.append(error)
    return problems


def verified_adapter(store: Store, rel: str, version: int | None = None) -> Path:
    """The folder of a stored adapter (a manifest's relative path) once its bytes match the
    digest in its metadata; RaieStateError when it is missing, RaieCorruptError when it does
    not match (``version``: the bank version naming it, for the message)."""
    path = store.adapter_path(rel)
    named = "" if version is None else f" named by {version_name(version)}"
    if not path.is_dir():
        raise RaieStateError(f"adapter {path}{named} does not exist")
    expected = adapter_meta(path).get("digest")
    actual = tree_digest(path)
    if actual != expected:
        raise RaieCorruptError(
            f"adapter {path}{named} is corrupted: its files do not match the digest in "
            f"{ADAPTER_META} (sha256 {actual[:12]} != {str(expected)[:12]})"
        )
    return path


def adapter_dirs(store: Store) -> list[str]:
    """Every stored adapter folder (relative, like a manifest names it), named or not."""
    root = store.root / "adapters"
    found = root.glob("*/v*") if root.is_dir() else ()
    return sorted(store.relative(p) for p in found if parse_version(p.name) is not None)


def retired(store: Store, version: int) -> dict[str, Any] | None:
    """The `raie gc` marker of a retired version (when, what was removed), or None."""
    path = store.bank_dir(version) / RETIRED
    if not path.is_file():
        return None
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RaieCorruptError(f"{path} is corrupted: {error}") from None
    return marker if isinstance(marker, dict) else {}


def retire(store: Store, version: int, utc: str) -> int:
    """Write the marker, then remove a version's payload (its manifest stays); bytes freed.
    The marker goes first: after a crash the version is retired (never served) and the next
    gc removes what is left (`payload`)."""
    files = payload(store, version)
    freed = sum(path.stat().st_size for path in files)
    if retired(store, version) is None:
        write_json_atomic(store.bank_dir(version) / RETIRED, {"utc": utc, "bytes": freed})
    for path in files:
        path.unlink()
    for folder in sorted(
        (p for p in store.bank_dir(version).rglob("*") if p.is_dir()), reverse=True
    ):
        folder.rmdir()
    return freed


def payload(store: Store, version: int) -> list[Path]:
    """The files of a version but its manifest and retirement marker."""
    bank = store.bank_dir(version)
    keep = {bank / MANIFEST, bank / RETIRED}
    return sorted(p for p in bank.rglob("*") if p.is_file() and p not in keep)
