"""The tracking plan: what MLflow must hold for one published bank version.

Publishing writes the plan into the bank version itself (`PLAN_FILE`, renamed into bank/
with the rest of the version and listed in its manifest), so a version on disk always says
what tracking it still needs. `tasks.publish` carries it out idempotently and marks the
version complete; a crash anywhere in between leaves a plan that the next run finishes.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from raie_core.errors import RaieStateError
from tasks.adapters import AdapterInfo

PLAN_FILE = "tracking-plan.json"


class PlanKind(StrEnum):
    """Which flow published the version: setup (bank v1, champion alias) or a period update."""

    SETUP = "setup"
    UPDATE = "update"


@dataclass(frozen=True)
class TrackingPlan:
    """The MLflow records of one bank version.

    kind: setup or update; period: the period label (setup: its cut); params: the pipeline
    config (JSON); metrics: the version's metrics; base_digest / data_digest: lineage digests;
    gate: the gate's record ({} for setup); promote: move the champion to this version when
    tracked (setup: the alias only, CURRENT already moved); why: the move's reason;
    counts / drift / live / retrained / added: the edit's summary; trained: the period's
    trained adapters; previous: the adapter map the edit started from; work_key: the period's
    work area (plots); replaces: the version of the same period that ``--force`` replaced.
    """

    kind: PlanKind
    period: str
    params: dict[str, Any]
    metrics: dict[str, float]
    base_digest: str
    data_digest: str
    promote: bool
    why: str
    gate: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    drift: dict[str, float] = field(default_factory=dict)
    live: int = 0
    retrained: int = 0
    added: tuple[int, ...] = ()
    trained: tuple[AdapterInfo, ...] = ()
    previous: dict[int, str] = field(default_factory=dict)
    work_key: str | None = None
    replaces: int | None = None

    def to_json(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["previous"] = {str(k): v for k, v in self.previous.items()}
        return payload

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True), encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: Path) -> TrackingPlan:
        """The plan in ``path``; a corrupted or incomplete one raises RaieStateError naming it."""
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            required = (f.name for f in fields(cls) if MISSING is f.default is f.default_factory)
            missing = sorted(name for name in required if name not in payload)
            if missing:
                raise RaieStateError(f"tracking plan {path} has no field {missing[0]}")
            return cls(
                **{
                    **payload,
                    "kind": PlanKind(payload["kind"]),
                    "added": tuple(payload.get("added", ())),
                    "trained": tuple(AdapterInfo(**info) for info in payload.get("trained", ())),
                    "previous": {int(k): v for k, v in payload.get("previous", {}).items()},
                }
            )
        except (OSError, json.JSONDecodeError, TypeError, ValueError, AttributeError) as error:
            raise RaieStateError(f"tracking plan {path} is unreadable: {error}") from None
