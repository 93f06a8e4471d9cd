"""Every flow resolves its MLflow store from its own home (flows/env.configure_stores): the
home's `mlflow.db`, unless the user pointed MLFLOW_TRACKING_URI elsewhere."""

from pathlib import Path

import pytest

from flows import env


def test_each_home_gets_its_own_store_unless_the_user_chose_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first = env.configure_stores(tmp_path / "a")
    assert first == (tmp_path / "a").resolve()
    assert env.os.environ["MLFLOW_TRACKING_URI"] == f"sqlite:///{first / 'mlflow.db'}"
    second = env.configure_stores(tmp_path / "b")  # a later flow of the same process
    assert env.os.environ["MLFLOW_TRACKING_URI"] == f"sqlite:///{second / 'mlflow.db'}"

    chosen = f"sqlite:///{tmp_path / 'team.db'}"  # the user's own store (a server is probed)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", chosen)
    env.configure_stores(tmp_path / "c")
    assert env.os.environ["MLFLOW_TRACKING_URI"] == chosen


def test_every_flow_configures_its_stores() -> None:
    root = Path(env.__file__).parent
    for name in ("setup.py", "nightly_update.py", "backfill.py", "benchmark.py"):
        assert "env.configure_stores(home)" in (root / name).read_text(encoding="utf-8"), name
