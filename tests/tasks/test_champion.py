"""tasks.champion: CURRENT and the MLflow @champion alias move together, with who/when/why,
and a move a crash interrupted (a killed subprocess) is finished by `recover_champion`."""

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from raie_core.errors import RaieStateError
from tasks.champion import champion_moves, move_champion, pending_move, recover_champion
from tasks.lineage import tracker
from tasks.registry_names import bank_model_name
from tasks.store import Store

ROOT = Path(__file__).resolve().parents[2]


def _bank(store: Store, period: str, register: bool = True) -> int:
    """Publish a bank version (not current after the first) and register it in MLflow."""
    first = store.current_version() is None
    with store.stage_bank_version(
        period=period, config_hash="c", data_digest="d", make_current=first
    ) as draft:
        (draft.dir / "regions.json").write_text(period)
    if register:
        t = tracker(store)
        run = t.start_run(f"raie-{store.dataset}", period)
        t.log_artifacts(run, store.bank_dir(draft.version), "bank")
        t.register_bank(store.dataset, run, "bank", {"bank_version": draft.version})
        t.end_run(run)
    return draft.version


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path, f"champ-{uuid.uuid4().hex[:8]}")
    for period in ("setup", "p1", "p2"):
        _bank(store, period)
    return store


def _alias(store: Store) -> int | None:
    return tracker(store).champion_bank_version(store.dataset)


def test_a_move_sets_current_alias_and_who_when_why(store: Store) -> None:
    assert store.current_version() == 1 and _alias(store) is None
    with store.lock():
        move = move_champion(store, 3, "promote", "looks good", who="ana@box")
    assert store.current_version() == 3 and _alias(store) == 3
    assert (move.version, move.previous, move.action, move.who) == (3, 1, "promote", "ana@box")
    tags = tracker(store).client.get_model_version(bank_model_name(store.dataset), "3").tags
    assert tags["champion.action"] == "promote" and tags["champion.by"] == "ana@box"
    assert tags["champion.reason"] == "looks good" and tags["champion.utc"] == move.when
    with store.lock():
        move_champion(store, 2, "rollback", "bad week")
    assert store.current_version() == 2 and _alias(store) == 2
    assert [m.version for m in champion_moves(store)] == [3, 2]
    assert pending_move(store) is None


def test_unregistered_or_missing_versions_are_refused(store: Store) -> None:
    unregistered = _bank(store, "p3", register=False)
    with store.lock(), pytest.raises(RaieStateError, match="no registered MLflow version"):
        move_champion(store, unregistered, "promote", "x")
    with store.lock(), pytest.raises(RaieStateError, match="v0009 .* not found"):
        move_champion(store, 9, "promote", "x")
    assert store.current_version() == 1 and pending_move(store) is None


CRASH = """
import os, sys
from tasks.champion import move_champion
from tasks.store import Store
from tasks.tracking import Tracker
home, dataset, where = sys.argv[1], sys.argv[2], sys.argv[3]
if where == "before_current":
    Store.set_current = lambda self, version: os._exit(3)
else:
    Tracker.set_champion = lambda self, dataset, version: os._exit(3)
store = Store(home, dataset)
with store.lock():
    move_champion(store, 3, "promote", "crash test", who="ops@box")
"""


@pytest.mark.parametrize("where", ["before_current", "before_alias"])
def test_a_crash_mid_move_is_finished_by_recovery(store: Store, where: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CRASH), str(store.home), store.dataset, where],
        env=env,
        cwd=ROOT,
        timeout=120,
    ).returncode
    assert code == 3
    assert store.current_version() == 1  # CURRENT did not move
    assert _alias(store) == (3 if where == "before_current" else None)
    pending = pending_move(store)
    assert pending is not None and (pending.version, pending.who) == (3, "ops@box")
    with store.lock():
        assert recover_champion(store) == pending
    assert store.current_version() == 3 and _alias(store) == 3
    assert pending_move(store) is None and champion_moves(store) == [pending]
    with store.lock():
        assert recover_champion(store) is None
