"""Moving the champion: the state store's CURRENT pointer and MLflow's `@champion` alias of
the bank move together (DESIGN §7), by the nightly gate, `raie promote` and `raie rollback`.

Protocol, under the dataset lock:

1. write the intent `<state>/CHAMPION.intent` (target version, previous, action, who, when,
   why) atomically;
2. move the MLflow alias to the target's registered bank version and tag that version with
   who / when / why;
3. move CURRENT (atomic replace);
4. append the move to `<state>/champion.jsonl`;
5. remove the intent.

Steps 2–5 are idempotent. A crash before 1 moves nothing; a crash after 1 leaves the intent,
and `recover_champion` (run first by every command that moves the champion or edits the bank)
finishes the move, so the alias and CURRENT never stay apart.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from raie_core.errors import RaieCorruptError, RaieStateError
from tasks.durable import fsync_path, utc_now, write_json_atomic
from tasks.integrity import verify_bank
from tasks.lineage import tracker
from tasks.manifest import version_name
from tasks.registry_names import bank_model_name
from tasks.store import Store

INTENT = "CHAMPION.intent"
LOG = "champion.jsonl"
ACTIONS = ("setup", "gate", "promote", "rollback")


@dataclass(frozen=True)
class ChampionMove:
    """One move of the champion: to ``version`` (state-store bank version) from ``previous``."""

    version: int
    previous: int | None
    action: str
    who: str
    when: str
    why: str

    def tags(self) -> dict[str, str]:
        """The registered bank version's tags that record the move."""
        return {
            "champion.action": self.action,
            "champion.by": self.who,
            "champion.utc": self.when,
            "champion.reason": self.why[:5000],
            "champion.previous": "none" if self.previous is None else str(self.previous),
        }

    @classmethod
    def from_json(cls, payload: object, source: Path) -> ChampionMove:
        try:
            return cls(**payload)  # type: ignore[arg-type]
        except TypeError as error:
            raise RaieCorruptError(f"{source} is corrupted: {error}") from None


def operator() -> str:
    """``user@host`` of this process (the `who` of a manual move)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def _intent(store: Store) -> Path:
    return store.root / INTENT


def _log(store: Store) -> Path:
    return store.root / LOG


def move_champion(
    store: Store, version: int, action: str, why: str, who: str | None = None
) -> ChampionMove:
    """Make bank ``version`` the champion in the state store and MLflow (caller holds the lock)."""
    if action not in ACTIONS:
        raise RaieStateError(f"action={action!r} should be one of {', '.join(ACTIONS)}")
    verify_bank(store, version)  # a corrupted or retired version never becomes champion
    if tracker(store).bank_model_version(store.dataset, version) is None:
        raise RaieStateError(
            f"bank {version_name(version)} of {store.dataset} has no registered MLflow version "
            f"({bank_model_name(store.dataset)}); only tracked versions can be champion"
        )
    move = ChampionMove(version, store.current_version(), action, who or operator(), utc_now(), why)
    write_json_atomic(_intent(store), asdict(move))
    _finish(store, move)
    return move


def pending_move(store: Store) -> ChampionMove | None:
    """The move an interrupted command left unfinished, if any."""
    path = _intent(store)
    if not path.is_file():
        return None
    return ChampionMove.from_json(_json(path.read_bytes(), path), path)


def recover_champion(store: Store) -> ChampionMove | None:
    """Finish a move a crash interrupted (caller holds the lock); the move, or None."""
    move = pending_move(store)
    if move is not None:
        _finish(store, move)
    return move


def champion_moves(store: Store) -> list[ChampionMove]:
    """Every finished move, oldest first."""
    path = _log(store)
    if not path.is_file():
        return []
    lines = path.read_bytes().splitlines()
    return [ChampionMove.from_json(_json(line, path), path) for line in lines if line.strip()]


def _json(data: bytes, source: Path) -> object:
    try:
        return json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RaieCorruptError(f"{source} is corrupted: {error}") from None


def _finish(store: Store, move: ChampionMove) -> None:
    t = tracker(store)
    registered = t.bank_model_version(store.dataset, move.version)
    if registered is None:
        raise RaieStateError(f"bank {version_name(move.version)} has no registered MLflow version")
    t.tag_model_version(bank_model_name(store.dataset), registered, move.tags())
    t.set_champion(store.dataset, registered)
    store.set_current(move.version)
    _append_once(store, move)
    _intent(store).unlink(missing_ok=True)
    fsync_path(store.root)


def _append_once(store: Store, move: ChampionMove) -> None:
    moves = champion_moves(store)
    if moves and moves[-1] == move:
        return
    with open(_log(store), "a", encoding="utf-8") as handle:
        handle.write(json.dumps(asdict(move), sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def champion_status(store: Store) -> dict:
    """What `raie status` prints: the champion (state store and MLflow alias), the newest
    candidate, the last gate decision with its intervals, the candidates the gate rejected
    since the champion's version (a champion stuck for weeks shows here), the last period
    processed, the last champion move and any move a crash left pending."""
    current = store.read_manifest(store.require_current())
    versions = [store.read_manifest(v) for v in store.versions()]
    gated = [m for m in versions if "reason" in m.quality_gate and m.decisions]
    t = tracker(store)
    alias, alias_bank = t.champion_version(store.dataset), t.champion_bank_version(store.dataset)
    moves = champion_moves(store)
    pending = pending_move(store)
    return {
        "dataset": store.dataset,
        "champion": {"version": current.version, "period": current.period},
        "mlflow_champion": {"model_version": alias, "bank_version": alias_bank},
        "newest": {
            "version": versions[-1].version,
            "period": versions[-1].period,
            "passed": bool(versions[-1].quality_gate.get("passed")),
        },
        "last_gate": {"version": gated[-1].version, **gated[-1].quality_gate} if gated else None,
        "rejected_since_champion": [
            {"version": m.version, "period": m.period, "reason": m.quality_gate["reason"]}
            for m in gated
            if m.version > current.version and not m.quality_gate.get("passed")
        ],
        "last_period": versions[-1].period,
        "last_move": asdict(moves[-1]) if moves else None,
        "pending_move": asdict(pending) if pending else None,
    }
