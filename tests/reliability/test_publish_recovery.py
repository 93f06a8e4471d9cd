"""Issue 19 finding 1: a nightly update SIGKILLed while publishing is completed by the next
run, and a transient MLflow failure is retried to completion.

A real ``raie update`` runs in a child process with ``RAIE_FAULT=<point>`` (`tasks.faults`):
it kills itself with SIGKILL after the bank rename (``published``), in the middle of the
MLflow records (``tracking``) or before the gate's champion move (``tracked``). The next
update of the same period must finish what is missing without publishing the period again:
no RUNNING run, every bank version registered under its own number, the alias on the served
version, one champion move. Until then `raie status` lists the pending publication with the
command that completes it.
"""

from __future__ import annotations

import json
import signal
from datetime import date
from pathlib import Path

import pytest

from tests.flows.conftest import prefect_backend  # noqa: F401 - a fixture
from tests.reliability.publish_homes import (
    DATASET,
    PERIOD,
    UNTIL,
    assert_complete,
    child,
    copy_home,
    mlflow_state,
    set_up,
)

# flows in this process and in the CLI children run on the session's Prefect server
pytestmark = pytest.mark.usefixtures("prefect_backend")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("publish-recovery")


@pytest.fixture(scope="module")
def template(workdir: Path) -> Path:
    return set_up(workdir)


def _killed_update(template: Path, home: Path, prefect_home: Path, fault: str) -> Path:
    copy_home(template, home)
    done = child(
        home, prefect_home, "update", "--dataset", DATASET, "--period", PERIOD, fault=fault
    )
    assert done.returncode == -signal.SIGKILL, done.stdout[-3000:]
    return home


@pytest.fixture(scope="module")
def published(template: Path, workdir: Path) -> Path:
    """A home whose update was killed right after its bank version was renamed into place."""
    return _killed_update(template, workdir / "published", workdir / "prefect", "published")


def _use(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
    monkeypatch.setenv("RAIE_HOME", str(home))  # the CLI sets it; restored after the test


def _pending_in_status(home: Path, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    """`raie status --json`'s pending publications; the text form names the same repair."""
    from flows.cli import main

    argv = ["status", "--home", str(home), "--dataset", DATASET]
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0
    pending = json.loads(capsys.readouterr().out)["pending_publications"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    for item in pending:
        assert (
            f"PENDING       v{item['version']} ({item['period']}) is published but its MLflow "
            f"records are incomplete; `{item['repair']}` completes them"
        ) in text
    return pending


def _status_names_the_repair(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repair = f"raie update --home {home} --dataset {DATASET} --period {PERIOD}"
    assert _pending_in_status(home, capsys) == [
        {"version": 2, "period": PERIOD, "kind": "update", "repair": repair}
    ]


def _repaired_by_the_next_update(home: Path) -> None:
    from flows.nightly_update import nightly_update
    from tasks.champion import champion_moves
    from tasks.store import Store

    store = Store(home, DATASET)
    period = date.fromisoformat(PERIOD)
    report = nightly_update(period=period, dataset=DATASET, home=str(home))
    assert report == {"period": PERIOD, "skipped": True, "repaired": [2]}
    state = assert_complete(home, [1, 2])
    assert store.current_version() == 2  # every candidate passes the gate here
    assert [name for name, _, _ in state.runs if name.startswith("update-")] == [f"update-{PERIOD}"]
    assert [(m.version, m.action) for m in champion_moves(store)] == [(2, "gate")]
    again = nightly_update(period=period, dataset=DATASET, home=str(home))
    assert again == {"period": PERIOD, "skipped": True}
    assert mlflow_state(home) == state and store.versions() == [1, 2]


@pytest.mark.reliability
def test_a_kill_after_the_bank_rename_is_adopted_and_tracked(
    published: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tasks.publish import pending_versions
    from tasks.store import Store

    home = copy_home(published, tmp_path / "home")
    _use(home, monkeypatch)
    store = Store(home, DATASET)
    assert store.versions() == [1, 2] and store.current_version() == 1
    assert pending_versions(store) == [2]
    before = mlflow_state(home)
    assert before.bank == [(1, "1")] and [n for n, _, _ in before.runs] == [f"setup-{UNTIL}"]
    _status_names_the_repair(home, capsys)
    _repaired_by_the_next_update(home)
    assert _pending_in_status(home, capsys) == []


@pytest.mark.reliability
@pytest.mark.parametrize("fault", ["tracking", "tracked"])
def test_a_kill_during_tracking_is_completed_by_the_next_update(
    fault: str, template: Path, workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks.publish import pending_versions
    from tasks.store import Store

    home = _killed_update(template, tmp_path / "home", workdir / "prefect", fault)
    _use(home, monkeypatch)
    store = Store(home, DATASET)
    assert store.versions() == [1, 2] and store.current_version() == 1
    assert pending_versions(store) == [2]
    before = mlflow_state(home)
    if fault == "tracking":  # the period's run is left RUNNING, its bank version unregistered
        assert ("update-" + PERIOD, "RUNNING", "2") in before.runs
        assert before.bank == [(1, "1")]
    else:  # tracked, but the gate's champion move never happened
        assert before.bank == [(1, "1"), (2, "2")] and before.champion_bank == 1
    _repaired_by_the_next_update(home)


@pytest.mark.reliability
def test_a_transient_artifact_store_failure_is_retried_without_a_gap(
    published: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The experiment's artifact folder is replaced by a file (a real I/O failure of MLflow's
    artifact store) for the first attempt; Prefect retries the task, which resumes the run
    the failed attempt made instead of starting a second one."""
    from prefect import flow

    from tasks.publish import finish_pending, finish_publication_task
    from tasks.store import Store

    home = copy_home(published, tmp_path / "home")
    _use(home, monkeypatch)
    store = Store(home, DATASET)
    # the copied home's own experiment folder (the original home's experiment is renamed
    # aside on first use, `Tracker.experiment_id`)
    location = home / "mlartifacts" / f"raie-{DATASET}"
    aside = location.with_name(location.name + ".aside")
    failures: list[str] = []

    def heal(task, task_run, state) -> bool:  # noqa: ANN001 - Prefect's retry condition
        failures.append(str(state.message))
        location.unlink()
        aside.rename(location)
        return True

    @flow
    def repair() -> list[int]:
        finish = finish_publication_task.with_options(
            retry_condition_fn=heal, retry_delay_seconds=0
        )
        with store.lock():
            return finish_pending(store, finish)

    location.rename(aside) if location.is_dir() else aside.mkdir(parents=True)
    location.write_text("not a folder")
    try:
        assert repair() == [2]
    finally:
        if aside.exists():
            location.unlink(missing_ok=True)
            aside.rename(location)
    assert len(failures) == 1
    state = assert_complete(home, [1, 2])
    assert [name for name, _, _ in state.runs if name.startswith("update-")] == [f"update-{PERIOD}"]
    assert store.current_version() == 2


@pytest.mark.reliability
def test_a_rollback_first_completes_the_interrupted_publication(
    published: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:  # noqa: ANN001
    """The champion commands finish an interrupted publication (and its gate move) before
    their own move, so the order of moves is the order of the commands."""
    from flows.cli import main
    from tasks.champion import champion_moves
    from tasks.store import Store

    home = copy_home(published, tmp_path / "home")
    _use(home, monkeypatch)
    monkeypatch.setenv("RAIE_HOME", str(home))  # the CLI sets it; restored after the test
    code = main(["rollback", "--home", str(home), "--dataset", DATASET, "--reason", "audit"])
    assert code == 0, capsys.readouterr().err
    store = Store(home, DATASET)
    assert [(m.version, m.action) for m in champion_moves(store)] == [(2, "gate"), (1, "rollback")]
    assert_complete(home, [1, 2])
    assert store.current_version() == 1
