"""What a bank version is on disk: its manifest record and its version directory names."""

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raie_core.errors import RaieCorruptError, RaieStateError

SCHEMA_VERSION = 1
SEAL = "seal"
"""The manifest field holding the sha256 of the rest of it (canonical JSON), so a manifest is
checked like every other stored file; manifests written before it have none."""
_VERSION_RE = re.compile(r"^v(\d{4,})$")


def version_name(version: int) -> str:
    """`3 -> "v0003"` (the directory name of a version)."""
    return f"v{version:04d}"


def parse_version(name: str) -> int | None:
    """`"v0003" -> 3`; None for anything that is not a version directory name."""
    match = _VERSION_RE.match(name)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class BankManifest:
    """What one immutable bank version is: where it came from and what it scored.

    `adapters` maps a region id to the adapter folder, relative to the dataset's state dir
    (`adapters/region-3/v0002`); unchanged regions point at their parent's folder.
    """

    version: int
    parent_version: int | None
    period: str
    created_utc: str
    config_hash: str
    data_digest: str
    decisions: dict[str, int]
    metrics: dict[str, float]
    quality_gate: dict[str, Any]
    adapters: dict[int, str]
    files: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (region ids become strings)."""
        payload = {name: getattr(self, name) for name in self.__dataclass_fields__}
        payload["adapters"] = {str(k): v for k, v in sorted(self.adapters.items())}
        return payload | {SEAL: _seal(payload)}

    @classmethod
    def from_json(cls, payload: Any, source: Path) -> "BankManifest":
        """Validate a parsed manifest; a missing or mistyped field raises RaieStateError."""
        if not isinstance(payload, dict):
            raise RaieStateError(f"manifest {source} is corrupted: not a JSON object")
        missing = sorted(set(cls.__dataclass_fields__) - {"extra", "schema_version"} - set(payload))
        if missing:
            raise RaieStateError(f"manifest {source} is corrupted: missing {', '.join(missing)}")
        unknown = sorted(set(payload) - set(cls.__dataclass_fields__) - {SEAL})
        if unknown:
            raise RaieStateError(f"manifest {source} has unknown fields {', '.join(unknown)}")
        payload = dict(payload)
        seal = payload.pop(SEAL, None)
        if seal is not None and seal != _seal(payload):
            raise RaieCorruptError(
                f"manifest {source} is corrupted: its content does not match its seal "
                f"(sha256 {_seal(payload)[:12]} != {str(seal)[:12]})"
            )
        try:
            adapters = {int(k): str(v) for k, v in payload["adapters"].items()}
            return cls(**{**payload, "adapters": adapters})
        except (AttributeError, TypeError, ValueError) as error:
            raise RaieStateError(f"manifest {source} is corrupted: {error}") from error


def _seal(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(canonical.encode()).hexdigest()
