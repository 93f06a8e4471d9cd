"""Issue 19, finding 7 (retention): `raie gc --keep N [--dry-run]` and the nightly flow's gc
after a publish remove what no kept or champion version needs, never the champion, the setup
version or a period's windows (the shared step replays them all); orphan adapters of failed
runs go; identical adapters are stored once."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from raie_core.errors import RaieConfigError, RaieStateError
from tests.flows.conftest import ml100k_slice, prefect_backend  # noqa: F401 - fixtures
from tests.reliability.state_home import DATASET, PERIODS, cli, home, tree  # noqa: F401

pytestmark = pytest.mark.reliability


def _stored(root: Path) -> dict[str, bytes]:
    """The files gc may touch: the state and the MLflow artifacts (not mlflow.db, where it
    tags registered versions)."""
    files = tree(root / "state")
    return files | {f"mlartifacts/{k}": v for k, v in tree(root / "mlartifacts").items()}


def _work_key(entry: Path) -> str:
    return json.loads((entry / "entry.json").read_text(encoding="utf-8"))["work_key"]


def _update(root: Path, capsys, index: int) -> None:  # noqa: ANN001
    period = PERIODS[index].isoformat()
    code, out, err = cli(root, capsys, "update", "--dataset", DATASET, "--period", period)
    assert code == 0, err


def test_gc_keeps_the_champion_setup_and_every_periods_windows(home: Path, capsys) -> None:  # noqa: ANN001, F811
    from tasks.integrity import RETIRED
    from tasks.lineage import tracker
    from tasks.retention import disk_bytes
    from tasks.store import Store

    store = Store(home, DATASET)
    _update(home, capsys, 1)  # v3; v2 (PERIODS[0]) is neither newest nor setup
    assert store.versions() == [1, 2, 3] and store.current_version() == 3
    named = {rel for v in store.versions() for rel in store.read_manifest(v).adapters.values()}
    orphan = store.root / "adapters" / "region-9" / "v0001"  # a failed run's leftover
    shutil.copytree(store.adapter_path(sorted(named)[0]), orphan)
    bank_runs = {
        row["tags"]["bank_version"]: row["run_id"] for row in tracker(store).bank_lineage(DATASET)
    }

    before = _stored(home)
    used = disk_bytes([home / "state", home / "mlartifacts", home / "cache"])
    cached = {p: _work_key(p) for p in (home / "cache").glob("*/*/*")}
    assert {"period=" + PERIODS[0].isoformat(), "period=" + PERIODS[1].isoformat()} <= set(
        cached.values()
    )
    code, out, err = cli(home, capsys, "gc", "--dataset", DATASET, "--keep", "1", "--dry-run")
    assert (
        code == 0 and "would retire v0002 (its manifest stays)" in out and "region-9/v0001" in out
    )
    assert _stored(home) == before  # a dry run changes nothing

    code, out, err = cli(home, capsys, "gc", "--dataset", DATASET, "--keep", "1", "--json")
    plan = json.loads(out)
    assert code == 0 and plan["kept"] == ["v0001", "v0003"]  # setup + newest = champion
    assert plan["retired"] == ["v0002"]
    assert "adapters/region-9/v0001" in plan["adapters"] and not orphan.exists()
    assert (orphan.parent / "v0001.removed").is_file()  # the number is never reused
    kept = set(store.read_manifest(3).adapters.values())
    assert all(store.adapter_path(rel).is_dir() for rel in kept)
    assert not kept & set(plan["adapters"])
    markers = sum(len(v) for k, v in _stored(home).items() if k.endswith((RETIRED, ".removed")))
    freed = used - disk_bytes([home / "state", home / "mlartifacts", home / "cache"]) + markers
    assert plan["bytes_freed"] == freed > 0  # hard-linked MLflow artifacts counted once
    # cache entries (windows, embeddings) of the retired v2's week go; v3's and setup's stay
    gone = {p for p, key in cached.items() if key == f"period={PERIODS[0].isoformat()}"}
    assert gone and {home / rel for rel in plan["cache"]} == gone
    assert all(p.is_dir() == (p not in gone) for p in cached)
    for version in (2,):  # manifests (periods, lineage) stay, the payload is gone
        assert store.read_manifest(version).period == PERIODS[version - 2].isoformat()
        assert sorted(p.name for p in store.bank_dir(version).iterdir()) == [
            RETIRED,
            "manifest.json",
        ]
        artifacts = home / "mlartifacts" / f"raie-{DATASET}" / bank_runs[str(version)]
        assert not (artifacts / "artifacts").exists()
    assert (home / "mlartifacts" / f"raie-{DATASET}" / bank_runs["3"] / "artifacts").is_dir()

    code, out, err = cli(home, capsys, "verify")
    assert code == 0 and "1 retired versions" in out, out + err
    code, out, err = cli(home, capsys, "rollback", "--dataset", DATASET, "--to", "2")
    assert code == 1 and "was retired by `raie gc`" in err and store.current_version() == 3
    code, out, err = cli(home, capsys, "recommend", "--dataset", DATASET, "--user", "5")
    assert code == 0 and "bank v3" in out

    # the retired v2's windows stay: the next update's shared step still replays them
    from raie_core.evaluation import SETUP_CODE
    from tasks.windows import load_windows, window_path, windows_before

    codes = [SETUP_CODE, PERIODS[0].toordinal(), PERIODS[1].toordinal()]
    assert all(window_path(store, c).is_file() for c in codes) and "windows" not in plan
    pool = windows_before(store, PERIODS[2].toordinal())
    assert len(pool.user) == sum(len(load_windows(window_path(store, c)).user) for c in codes)
    _update(home, capsys, 2)
    assert store.versions() == [1, 2, 3, 4] and store.current_version() == 4
    assert (orphan.parent / "v0001.removed").is_file() and not orphan.exists()


def test_the_nightly_flow_collects_after_publishing(home: Path) -> None:  # noqa: F811
    from flows.nightly_update import nightly_update
    from tasks.integrity import retired
    from tasks.lineage import tracker
    from tasks.retention import RetentionConfig
    from tasks.store import Store

    store = Store(home, DATASET)
    report = nightly_update(
        period=PERIODS[1], dataset=DATASET, home=str(home), retention=RetentionConfig(keep=1)
    )
    assert report["version"] == 3 and report["gc_bytes_freed"] > 0
    assert [v for v in store.versions() if retired(store, v)] == [2]

    # what MLflow keeps of v3 (its adapters; its bank and base inside the bank's pyfunc
    # model, `tasks.bank_model`) is the state's bytes, not a copy
    t = tracker(store)
    rows = [r for r in t.lineage(DATASET) + t.bank_lineage(DATASET)]
    rows = [r for r in rows if r["tags"].get("bank_version") == "3"]
    linked = 0
    for row in rows:
        (artifacts,) = (home / "mlartifacts").glob(f"*/{row['run_id']}/artifacts")
        rel = row["tags"].get("adapter_path")
        pairs = (
            [(store.adapter_path(rel), artifacts / "adapter")]
            if rel
            else [
                (store.bank_dir(3), artifacts / "bank" / "artifacts" / "v0003"),
                (store.base_dir, artifacts / "bank" / "artifacts" / "base"),
            ]
        )
        for state, logged in pairs:
            for path in (p for p in state.rglob("*") if p.is_file()):
                assert os.stat(path).st_ino == os.stat(logged / path.relative_to(state)).st_ino
                linked += 1
    assert linked >= 4  # the bank's and the base's files, those of every adapter v3 registered
    with pytest.raises(RaieConfigError, match="retention.keep=0 should be an integer >= 1"):
        RetentionConfig(keep=0)


def test_stored_adapters_are_canonical_and_stored_once(home: Path) -> None:  # noqa: F811
    from raie_core.rebase import is_base_folder
    from tasks.adapters import canonical_adapter_files
    from tasks.store import Store

    store = Store(home, DATASET)
    for rel in store.read_manifest(2).adapters.values():
        folder = store.adapter_path(rel)
        if is_base_folder(folder):  # the shared step's per-period base: no peft files
            continue
        config = json.loads((folder / "adapter_config.json").read_text())
        assert config["target_modules"] == sorted(config["target_modules"])
        assert not (folder / "README.md").exists()
    # the same weights written with target_modules in another order are the same bytes
    adapters = store.read_manifest(2).adapters
    region = min(k for k in adapters if k >= 0)
    rel, source = adapters[region], store.adapter_path(adapters[region])
    with store.stage_adapter(region) as draft:
        for name in ("adapter_model.safetensors", "adapter_config.json"):
            shutil.copyfile(source / name, draft.dir / name)
        config = json.loads((draft.dir / "adapter_config.json").read_text())
        config["target_modules"] = sorted(config["target_modules"], reverse=True)
        (draft.dir / "adapter_config.json").write_text(json.dumps(config))
        (draft.dir / "README.md").write_text("model card")
        canonical_adapter_files(draft.dir)
    assert draft.ref is not None and draft.ref.path == rel


def test_a_retirement_a_crash_interrupted_is_finished_by_the_next_gc(home: Path) -> None:  # noqa: F811
    from tasks.integrity import RETIRED, payload, verify_bank
    from tasks.retention import collect, plan_gc
    from tasks.store import Store

    store = Store(home, DATASET)
    store.set_current(1)  # gc never retires the champion: v2 must not be it here
    (store.bank_dir(2) / RETIRED).write_text('{"utc": "crash", "bytes": 0}')  # marker, payload
    assert payload(store, 2) and plan_gc(store, keep=8).retire == [2]
    with pytest.raises(RaieStateError, match="was retired by `raie gc`"):
        verify_bank(store, 2)  # a half-retired version is never served
    with store.lock():
        plan = collect(store, keep=8)
    assert plan.retire == [2] and payload(store, 2) == [] and plan.bytes > 0
    assert store.read_manifest(2).period == PERIODS[0].isoformat()
