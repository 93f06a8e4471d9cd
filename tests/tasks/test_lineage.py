"""tasks.lineage.track_period on a real store and a real sqlite MLflow: a region whose
training kept earlier weights registers no new version (its run says action=kept), and every
registered version carries the digest of the adapter bytes it holds."""

import uuid
from pathlib import Path

import pytest

from tasks.adapters import AdapterInfo
from tasks.lineage import track_period, tracker
from tasks.plan import PlanKind, TrackingPlan
from tasks.store import Store

GATE = {"passed": True, "reason": "test", "retention": {"diff": 0.0, "low": -0.1, "high": 0.1}}


def _adapter(store: Store, weights: bytes, region: int = 0, best_epoch: int = 1) -> AdapterInfo:
    with store.stage_adapter(region) as draft:
        (draft.dir / "adapter_config.json").write_text('{"r": 4}')
        (draft.dir / "adapter_model.safetensors").write_bytes(weights)
    ref = draft.ref
    return AdapterInfo(
        region, ref.path, ref.version, ref.digest, "own", region, 2, best_epoch, 0.5, 0.6, 10, 5
    )


def _track(
    store: Store,
    period: str,
    infos: list[AdapterInfo],
    previous: dict[int, str],
    added: tuple[int, ...] = (),
) -> str:
    with store.stage_bank_version(period=period, config_hash="c", data_digest="d") as draft:
        (draft.dir / "regions.json").write_text(period)
    return track_period(store, draft.version, _plan(period, infos, previous, added))


def _plan(
    period: str, infos: list[AdapterInfo], previous: dict[int, str], added: tuple[int, ...]
) -> TrackingPlan:
    return TrackingPlan(
        kind=PlanKind.UPDATE,
        period=period,
        params={},
        metrics={"m": 1.0},
        base_digest="base",
        data_digest="data",
        promote=False,
        why="test",
        gate=GATE,
        counts={"UPDATE": 3},
        added=added,
        trained=tuple(infos),
        previous=previous,
    )


@pytest.fixture(autouse=True)
def _bank_folder_as_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """These cases fake adapter bytes (no base, no loadable weights), so the bank and each
    region version are logged as their plain folders where a flow logs pyfunc models
    (tests/flows/test_conv_pyfunc.py)."""

    def log_folder(t, store: Store, run_id: str, version: int, config: dict) -> str:  # noqa: ANN001
        t.log_artifacts(run_id, store.bank_dir(version), "bank")
        return "bank"

    def log_adapter(t, store: Store, run_id: str, version: int, info, config: dict) -> str:  # noqa: ANN001
        t.link_artifacts(run_id, store.adapter_path(info.path), "model")
        return "model"

    monkeypatch.setattr("tasks.lineage.log_bank_model", log_folder)
    monkeypatch.setattr("tasks.lineage.log_region_model", log_adapter)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path, f"lineage-{uuid.uuid4().hex[:8]}")


def _actions(store: Store, run_id: str) -> dict[str, str]:
    t = tracker(store)
    children = t.client.search_runs(
        [t.experiment_id(f"raie-{store.dataset}")],
        f"tags.`mlflow.parentRunId` = '{run_id}'",
    )
    return {run.info.run_name.split("-")[1]: run.data.tags["raie.action"] for run in children}


def _versions(store: Store, region: int) -> list[tuple[int, str, str]]:
    rows = tracker(store).lineage(store.dataset, region)
    return [(r["version"], r["tags"]["action"], r["tags"]["period"]) for r in rows]


def test_a_kept_adapter_creates_no_misleading_version(store: Store) -> None:
    first = _adapter(store, b"weights-a")
    untrained = _adapter(store, b"zero-init", region=1, best_epoch=0)
    fresh = _adapter(store, b"weights-c", region=2)
    run1 = _track(store, "p1", [first, untrained, fresh], {}, added=(0,))
    again = _adapter(store, b"weights-a")  # training kept the weights: same bytes, same folder
    assert again.path == first.path
    trained = _adapter(store, b"weights-d", region=1, best_epoch=2)
    run2 = _track(store, "p2", [again, trained], {0: first.path, 1: untrained.path})
    changed = _adapter(store, b"weights-b")
    run3 = _track(store, "p3", [changed], {0: first.path})
    back = _adapter(store, b"weights-a")  # bytes an older version already holds
    run4 = _track(store, "p4", [back], {0: changed.path})

    assert _versions(store, 0) == [(1, "add", "p1"), (2, "retrain", "p3")]
    # a region's first adapter that kept its start is registered, saying so
    assert _versions(store, 1) == [(1, "kept", "p1"), (2, "retrain", "p2")]
    assert _versions(store, 2) == [(1, "train", "p1")]
    rows = tracker(store).lineage(store.dataset, 0)
    assert [r["tags"]["adapter_digest"] for r in rows] == [first.digest, changed.digest]
    assert [r["tags"]["adapter_path"] for r in rows] == [first.path, changed.path]
    assert _actions(store, run1) == {"0": "add", "1": "kept", "2": "train"}
    assert _actions(store, run2) == {"0": "kept", "1": "retrain"}
    assert _actions(store, run3) == {"0": "retrain"}
    assert _actions(store, run4) == {"0": "kept"}


def test_tracking_a_version_again_adds_no_run_and_no_version(store: Store) -> None:
    """What a re-run after a crash relies on: the run and versions are found, not remade."""
    infos = [_adapter(store, b"weights-a"), _adapter(store, b"weights-b", region=1)]
    run = _track(store, "p1", infos, {}, added=(0, 1))
    version = store.versions()[-1]
    again = track_period(store, version, _plan("p1", infos, {}, (0, 1)))
    assert again == run
    assert _versions(store, 0) == [(1, "add", "p1")] and _versions(store, 1) == [(1, "add", "p1")]
    assert _actions(store, run) == {"0": "add", "1": "add"}
    assert [row["version"] for row in tracker(store).bank_lineage(store.dataset)] == [1]
    assert tracker(store).run_status(run) == "FINISHED"
