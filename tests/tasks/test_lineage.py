"""tasks.lineage.track_period on a real store and a real sqlite MLflow: a region whose
training kept earlier weights registers no new version (its run says action=kept), and every
registered version carries the digest of the adapter bytes it holds."""

import uuid
from pathlib import Path

import pytest

from tasks.adapters import AdapterInfo
from tasks.lineage import track_period, tracker
from tasks.regions import EditSummary
from tasks.store import Store

GATE = {"passed": True, "reason": "test", "retention": {"diff": 0.0, "low": -0.1, "high": 0.1}}


def _adapter(store: Store, weights: bytes) -> AdapterInfo:
    with store.stage_adapter(0) as draft:
        (draft.dir / "adapter_config.json").write_text('{"r": 4}')
        (draft.dir / "adapter_model.safetensors").write_bytes(weights)
    ref = draft.ref
    return AdapterInfo(0, ref.path, ref.version, ref.digest, "own", 0, 2, 1, 0.5, 0.6, 10, 5)


def _summary(added: list[int]) -> EditSummary:
    return EditSummary("r", "d", "s", {"UPDATE": 3}, [0], added, [], [], [0])


def _track(store: Store, period: str, info: AdapterInfo, previous: dict[int, str]) -> str:
    with store.stage_bank_version(period=period, config_hash="c", data_digest="d") as draft:
        (draft.dir / "regions.json").write_text(period)
    return track_period.fn(
        store,
        {},
        period,
        _summary([0] if not previous else []),
        [info],
        draft.version,
        {},
        GATE,
        "base",
        "data",
        previous=previous,
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path, f"lineage-{uuid.uuid4().hex[:8]}")


def _action(store: Store, run_id: str) -> str:
    t = tracker(store)
    children = t.client.search_runs(
        [t.experiment_id(f"raie-{store.dataset}")],
        f"tags.`mlflow.parentRunId` = '{run_id}'",
    )
    return children[0].data.tags["raie.action"]


def test_a_kept_adapter_creates_no_misleading_version(store: Store) -> None:
    first = _adapter(store, b"weights-a")
    run1 = _track(store, "p1", first, {})
    again = _adapter(store, b"weights-a")  # training kept the weights: same bytes, same folder
    assert again.path == first.path
    run2 = _track(store, "p2", again, {0: first.path})
    changed = _adapter(store, b"weights-b")
    run3 = _track(store, "p3", changed, {0: first.path})
    back = _adapter(store, b"weights-a")  # bytes an older version already holds
    run4 = _track(store, "p4", back, {0: changed.path})

    rows = tracker(store).lineage(store.dataset, 0)
    assert [(r["version"], r["tags"]["action"], r["tags"]["period"]) for r in rows] == [
        (1, "add", "p1"),
        (2, "retrain", "p3"),
    ]
    assert [r["tags"]["adapter_digest"] for r in rows] == [first.digest, changed.digest]
    assert [r["tags"]["adapter_path"] for r in rows] == [first.path, changed.path]
    actions = [_action(store, run) for run in (run1, run2, run3, run4)]
    assert actions == ["add", "kept", "retrain", "kept"]
