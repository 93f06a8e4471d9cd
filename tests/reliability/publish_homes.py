"""Helpers of the publishing reliability tests: a small real home, the CLI in a child process
(optionally SIGKILLed at a `tasks.faults` point) and the MLflow state of a home.

Each home keeps its MLflow store in ``<home>/mlflow.db``; children drop the test session's
stores so the CLI's defaults point there, and run their flows on the session's Prefect server
when there is one (`session_api`), else on their own, with one Prefect home per test module.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from flows.commands.replay import replay_home
from flows.params import PipelineConfig
from raie_core.adapters import AdapterConfig
from raie_core.backbones.seqrec import SeqRecConfig
from raie_core.gate import GateConfig
from raie_core.regions import RegionConfig
from raie_core.training import TrainConfig

ROOT = Path(__file__).resolve().parents[2]
DATASET = "table"
UNTIL = "1997-12-15"
PERIOD = "1997-12-15"
DATA_END = date(1998, 5, 4)
"""After the last week of ML-100K: `raie data replay` lands every week after the setup cut."""
SESSION_STORES = ("RAIE_HOME", "PREFECT_API_URL", "MLFLOW_TRACKING_URI", "RAIE_FAULT")
CLI = "import sys; from flows.cli import main; sys.exit(main())"


def config(path: str, max_epochs: int = 4) -> PipelineConfig:
    """The flow tests' small config; every candidate passes the gate (the mechanics here)."""
    return PipelineConfig(
        dataset=DATASET,
        path=path,
        seqrec=SeqRecConfig(train=TrainConfig(max_epochs=max_epochs, patience=2)),
        regions=RegionConfig(n_regions=3, min_train_samples=4, max_fit_windows=3000),
        adapters=AdapterConfig(train=TrainConfig(max_epochs=2, patience=1)),
        gate=GateConfig(tolerance=0.99),
    )


def write_slice(folder: Path, n_users: int) -> str:
    """The first ``n_users`` users of the real ML-100K as a table file."""
    from raie_core.data import load_dataset

    path = folder / f"ml100k-{n_users}.parquet"
    load_dataset("ml-100k").interactions.filter(pl.col("user_id") <= n_users).write_parquet(path)
    return str(path)


_TEMPLATES: dict[str, Path] = {}
"""Set-up homes by pytest base temp dir: one setup per test process, shared by the modules
(each test works on a copy, `copy_home`)."""


def set_up(workdir: Path) -> Path:
    """A set-up home on the first 100 users of ML-100K (read-only: tests copy it), setup run
    in this process with the home's own MLflow store; built once per test process, in the
    first ``workdir`` asked."""
    import pytest

    from flows.setup import setup

    key = str(workdir.parent)
    if key not in _TEMPLATES:
        home = workdir / "template"
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
            cfg = config(write_slice(workdir, 100))
            setup(config=cfg, until=date.fromisoformat(UNTIL), home=str(home))
        replay_home(home, DATASET, DATA_END)  # the later weeks land, as in production
        _TEMPLATES[key] = home
    return _TEMPLATES[key]


def session_api() -> dict[str, str]:
    """PREFECT_API_URL of the test session's Prefect server (`prefect_backend`), for a child
    CLI: it then runs its flows there instead of starting its own server (20-30 s of each
    child's run on a loaded machine). Empty outside the fixture: the child starts its own."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    return {"PREFECT_API_URL": url} if url else {}


def config_file(folder: Path, cfg: PipelineConfig) -> str:
    import json

    path = folder / "config.json"
    path.write_text(json.dumps(cfg.model_dump(mode="json")))
    return str(path)


def child(
    home: Path, prefect_home: Path, *args: str, fault: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`raie --home HOME ARGS` of this worktree in a child process; ``fault``: RAIE_FAULT.
    The result's stdout holds stdout and stderr together."""
    env = {k: v for k, v in os.environ.items() if k not in SESSION_STORES}
    env.update(
        PYTHONPATH=str(ROOT),
        OMP_NUM_THREADS="1",
        RAIE_TORCH_THREADS="1",
        PREFECT_HOME=str(prefect_home),
        **session_api(),
    )
    if fault is not None:
        env["RAIE_FAULT"] = fault
    command = [sys.executable, "-c", CLI, "--home", str(home), *args]
    # its own process group: a SIGKILLed CLI orphans its ephemeral Prefect server (issue 19
    # finding 5), which would hold captured pipes open; the group is ended here, output
    # goes to a file
    with open(home.parent / f"{home.name}-{args[0]}.log", "w+", encoding="utf-8") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True
        )
        try:
            code = process.wait(timeout=600)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        out.seek(0)
        return subprocess.CompletedProcess(command, code, out.read(), "")


def copy_home(template: Path, target: Path) -> Path:
    """A copy of a home (its MLflow records included; artifacts stay in the template's)."""
    shutil.copytree(template, target, ignore=shutil.ignore_patterns("prefect"))
    return target


@dataclass(frozen=True)
class MlflowState:
    """What the tests check in a home's MLflow store."""

    runs: list[tuple[str, str, str | None]]
    """(run name, status, raie.bank_version tag) of every run, oldest first."""
    bank: list[tuple[int, str]]
    """(registered version, bank_version tag) of the bank model."""
    champion_bank: int | None
    """The bank version the @champion alias names."""
    unregistered: list[str]
    """Region runs that should have registered a version and did not."""


def mlflow_state(home: Path) -> MlflowState:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(f"raie-{DATASET}")
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    bank_name = f"raie-{DATASET}-bank"
    versions = client.search_model_versions(f"name = '{bank_name}'")
    bank = sorted((int(v.version), v.tags.get("bank_version")) for v in versions)
    aliases = client.get_registered_model(bank_name).aliases
    champion = aliases.get("champion")
    by_run = {
        v.run_id
        for m in client.search_registered_models(f"name LIKE 'raie-{DATASET}-region-%'")
        for v in client.search_model_versions(f"name = '{m.name}'")
    }
    unregistered = [
        r.info.run_name
        for r in runs
        if r.data.tags.get("raie.register") == "True" and r.info.run_id not in by_run
    ]
    return MlflowState(
        runs=[(r.info.run_name, r.info.status, r.data.tags.get("raie.bank_version")) for r in runs],
        bank=bank,
        champion_bank=None if champion is None else int(dict(bank)[int(champion)]),
        unregistered=unregistered,
    )


def assert_complete(home: Path, versions: list[int]) -> MlflowState:
    """No RUNNING run, every bank version registered once under its own number, the alias on
    the served version, every region run that should register did, every version marked."""
    from tasks.publish import pending_versions
    from tasks.store import Store

    store = Store(home, DATASET)
    state = mlflow_state(home)
    assert store.versions() == versions
    assert [status for _, status, _ in state.runs if status != "FINISHED"] == []
    assert state.bank == [(v, str(v)) for v in versions]
    assert state.champion_bank == store.current_version()
    assert state.unregistered == []
    assert pending_versions(store) == []
    return state
