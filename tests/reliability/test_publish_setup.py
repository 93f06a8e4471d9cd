"""Issue 19 finding 6: a setup SIGKILLed at any point is finished or redone by running it
again, without a manual ``rm``; ``update`` on a half-set-up home is one sentence.

On the first 60 users of ML-100K (one training epoch), a real ``raie setup`` runs in a child process with ``RAIE_FAULT=<point>`` (`tasks.faults`):
after the base is trained and published (``setup-base``), after bank v1 is renamed into
place but before CURRENT (``bank-renamed``), after CURRENT but before MLflow
(``setup-published``).
"""

from __future__ import annotations

import signal
from datetime import date
from pathlib import Path

import pytest

from flows.cli import main
from raie_core.errors import RaieStateError
from tests.flows.conftest import prefect_backend  # noqa: F401 - a fixture
from tests.reliability.publish_homes import (
    DATASET,
    UNTIL,
    assert_complete,
    child,
    config,
    config_file,
    write_slice,
)

# flows in this process and in the CLI children run on the session's Prefect server
pytestmark = pytest.mark.usefixtures("prefect_backend")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("publish-setup")


@pytest.fixture(scope="module")
def cfg(workdir: Path):  # noqa: ANN201 - PipelineConfig
    return config(write_slice(workdir, 60), max_epochs=1)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
    monkeypatch.setenv("RAIE_HOME", str(home))  # the CLI sets it; restored after the test
    return home


def _killed_setup(home: Path, workdir: Path, cfg, fault: str) -> None:  # noqa: ANN001
    argv = ["setup", "--config", config_file(workdir, cfg), "--until", UNTIL]
    done = child(home, workdir / "prefect", *argv, fault=fault)
    assert done.returncode == -signal.SIGKILL, done.stdout[-3000:]


def _setup(home: Path, cfg) -> dict:  # noqa: ANN001
    from flows.setup import setup

    return setup(config=cfg, until=date.fromisoformat(UNTIL), home=str(home))


@pytest.mark.reliability
@pytest.mark.slow  # two trainings of the base (the killed one, the re-run): 24-86 s by load
def test_a_setup_killed_after_training_starts_over_when_run_again(
    home: Path,
    workdir: Path,
    cfg,
    capsys,  # noqa: ANN001
) -> None:
    from tasks.store import Store

    _killed_setup(home, workdir, cfg, "setup-base")
    store = Store(home, DATASET)
    assert store.base_dir.is_dir() and store.current_version() is None
    for command in ("update", "backfill"):
        capsys.readouterr()
        code = main([command, "--home", str(home), "--dataset", DATASET])
        err = capsys.readouterr().err
        assert code == 1 and err.count("\n") == 1, err
        assert err.startswith(f"raie: error: setup of dataset {DATASET} in {home} did not finish")
    report = _setup(home, cfg)  # no manual rm: the leftovers are cleared, setup starts over
    assert report["version"] == 1 and "repaired" not in report
    assert_complete(home, [1])


@pytest.mark.reliability
@pytest.mark.parametrize("fault", ["bank-renamed", "setup-published"])
def test_a_setup_killed_after_publishing_is_completed_when_run_again(
    fault: str,
    home: Path,
    workdir: Path,
    cfg,  # noqa: ANN001
) -> None:
    from tasks.publish import pending_versions
    from tasks.store import Store

    _killed_setup(home, workdir, cfg, fault)
    store = Store(home, DATASET)
    assert store.versions() == [1] and pending_versions(store) == [1]
    assert store.current_version() == (None if fault == "bank-renamed" else 1)
    report = _setup(home, cfg)
    assert report["version"] == 1 and report["repaired"] == [1]
    assert_complete(home, [1])
    assert store.current_version() == 1
    with pytest.raises(RaieStateError, match=f"dataset {DATASET} in .* is already set up"):
        _setup(home, cfg)
