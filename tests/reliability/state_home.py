"""A small real home for the state reliability tests (findings 3 and 7 of issue 19): setup on
the first 150 users of ML-100K and one nightly update, built once per test process and
copied per test (each copy its own MLflow store, inside the copy)."""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

import pytest

from flows.params import PipelineConfig
from raie_core.adapters import AdapterConfig
from raie_core.backbones.seqrec import SeqRecConfig
from raie_core.gate import GateConfig
from raie_core.regions import RegionConfig
from raie_core.training import TrainConfig

DATASET = "table"
UNTIL = date(1997, 12, 15)
PERIODS = (date(1997, 12, 15), date(1997, 12, 22), date(1997, 12, 29), date(1998, 1, 5))


def config(path: str) -> PipelineConfig:
    """tests/flows/test_champion_cli.py's config: every candidate passes the gate here (the
    state mechanics are under test, not the gate's judgement)."""
    return PipelineConfig(
        dataset=DATASET,
        path=path,
        seqrec=SeqRecConfig(train=TrainConfig(max_epochs=4, patience=2)),
        regions=RegionConfig(n_regions=3, min_train_samples=4, max_fit_windows=3000),
        adapters=AdapterConfig(train=TrainConfig(max_epochs=2, patience=1)),
        gate=GateConfig(tolerance=0.99),
    )


def tracking_uri(home: Path) -> str:
    return f"sqlite:///{home / 'mlflow.db'}"


_BUILT: dict[str, Path] = {}
"""Built homes by pytest base temp dir: one per process (each test module has its own copy of
the slice fixture, so the slice path is not part of the key)."""


def _built(root: str, slice_path: str) -> Path:
    """Setup + the first period, once per process (the MLflow store inside the home)."""
    if root in _BUILT:
        return _BUILT[root]
    from flows.commands.replay import replay_home
    from flows.nightly_update import nightly_update
    from flows.setup import setup
    from tests.reliability.publish_homes import DATA_END

    home = Path(root) / "built"
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri(home)
    try:
        setup(config=config(slice_path), until=UNTIL, home=str(home))
        replay_home(home, DATASET, DATA_END)
        nightly_update(period=PERIODS[0], dataset=DATASET, home=str(home))
    finally:
        if previous is not None:
            os.environ["MLFLOW_TRACKING_URI"] = previous
    _BUILT[root] = home
    return home


@pytest.fixture
def home(prefect_backend, ml100k_slice, tmp_path_factory, tmp_path, monkeypatch) -> Path:  # noqa: ANN001
    """A fresh copy of the built home (v1 setup, v2 = PERIODS[0], champion v2)."""
    built = _built(str(tmp_path_factory.getbasetemp()), ml100k_slice(150))
    copy = tmp_path / "home"
    shutil.copytree(built, copy)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri(copy))
    return copy


def cli(home: Path, capsys, *argv: str) -> tuple[int, str, str]:  # noqa: ANN001
    """`raie <argv> --home <home>` in-process: (exit code, stdout, stderr)."""
    from flows.cli import main

    capsys.readouterr()
    code = main([*argv, "--home", str(home)])
    out = capsys.readouterr()
    return code, out.out, out.err


def flip_byte(path: Path, offset: int) -> None:
    """XOR one byte of a file with 0x01 (negative offsets count from the end)."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> bytes), to assert nothing changed."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
