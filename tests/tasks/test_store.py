"""tasks.store: atomic publish, crash safety (killed subprocesses), lock, immutability."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from raie_core.errors import RaieStateError
from tasks.adapter_files import tree_digest
from tasks.integrity import verify_bank
from tasks.store import BankManifest, Store, parse_version, version_name

ROOT = Path(__file__).resolve().parents[2]


def _publish(store: Store, period: str, payload: bytes = b"regions", **fields) -> int:
    with (
        store.lock(),
        store.stage_bank_version(
            period=period, config_hash="cfg1", data_digest=f"digest-{period}"
        ) as draft,
    ):
        (draft.dir / "regions.json").write_bytes(payload)
        for name, value in fields.items():
            setattr(draft, name, value)
    assert draft.version is not None
    return draft.version


def _adapter(store: Store, region_id: int, weights: bytes):
    with store.stage_adapter(region_id) as draft:
        (draft.dir / "adapter_config.json").write_text('{"r": 4}')
        (draft.dir / "adapter_model.safetensors").write_bytes(weights)
    return draft.ref


def test_version_names_round_trip() -> None:
    assert version_name(3) == "v0003"
    assert parse_version("v0003") == 3
    assert parse_version("v12345") == 12345
    assert parse_version(".staging") is None
    assert parse_version("v03") is None


def test_empty_store_has_no_current(tmp_path: Path) -> None:
    store = Store(tmp_path, "ml-100k")
    assert store.current_version() is None
    assert store.history() == []
    assert store.published_periods() == []
    with pytest.raises(RaieStateError, match="run `raie setup` first"):
        store.require_current()


def test_bad_dataset_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RaieStateError, match=r"dataset='\.\./x'"):
        Store(tmp_path, "../x")


def test_publish_chain_with_manifest_fields(tmp_path: Path) -> None:
    store = Store(tmp_path, "ml-100k")
    a0 = _adapter(store, 0, b"w0")
    a1 = _adapter(store, 1, b"w1")
    v1 = _publish(store, "setup", adapters={0: a0.path, 1: a1.path}, decisions={"add": 2})
    a1b = _adapter(store, 1, b"w1-updated")
    v2 = _publish(
        store,
        "2024-01-01",
        adapters={0: a0.path, 1: a1b.path},
        decisions={"update": 3, "expand": 1, "add": 0},
        metrics={"NDCG@10": 0.04},
        quality_gate={"passed": True, "retention_drop": 0.01},
    )
    assert (v1, v2) == (1, 2)
    assert store.current_version() == 2
    assert (a0.path, a1.path, a1b.path) == (
        "adapters/region-0/v0001",
        "adapters/region-1/v0001",
        "adapters/region-1/v0002",
    )
    m2 = store.read_manifest(2)
    assert m2.parent_version == 1 and m2.period == "2024-01-01"
    assert m2.adapters == {0: "adapters/region-0/v0001", 1: "adapters/region-1/v0002"}
    assert m2.decisions == {"update": 3, "expand": 1, "add": 0}
    assert m2.metrics == {"NDCG@10": 0.04}
    assert m2.quality_gate == {"passed": True, "retention_drop": 0.01}
    assert m2.config_hash == "cfg1" and m2.data_digest == "digest-2024-01-01"
    assert set(m2.files) == {"regions.json"}
    assert m2.created_utc.endswith("Z")
    assert store.published_periods() == ["setup", "2024-01-01"]
    assert [m.version for m in store.history()] == [1, 2]
    # the unchanged adapter of region 0 is referenced by both versions, stored once
    assert store.read_manifest(1).adapters[0] == m2.adapters[0]
    assert len(list((store.root / "adapters" / "region-0").iterdir())) == 1
    verify_bank(store, 1)
    verify_bank(store, 2)


def test_identical_adapter_bytes_are_stored_once(tmp_path: Path) -> None:
    store = Store(tmp_path, "ml-100k")
    first = _adapter(store, 5, b"same")
    again = _adapter(store, 5, b"same")
    other = _adapter(store, 5, b"different")
    assert again == first and first.version == 1
    assert other.version == 2 and other.digest != first.digest
    assert first.digest == tree_digest(store.adapter_path(first.path))
    assert list((store.root / ".staging").iterdir()) == []


def test_lookups_are_idempotent_and_versions_immutable(tmp_path: Path) -> None:
    store = Store(tmp_path, "ml-100k")
    _publish(store, "setup", payload=b"one")
    before = (store.bank_dir(1) / "regions.json").read_bytes()
    _publish(store, "p2", payload=b"two")
    assert store.read_manifest(1) == store.read_manifest(1)
    assert store.current_version() == store.current_version() == 2
    assert (store.bank_dir(1) / "regions.json").read_bytes() == before == b"one"
    # a second Store object over the same home sees the same state
    assert Store(tmp_path, "ml-100k").history() == store.history()


def test_exception_in_block_leaves_current_untouched(tmp_path: Path) -> None:
    store = Store(tmp_path, "ml-100k")
    _publish(store, "setup")
    with pytest.raises(ValueError, match="boom"), store.lock():
        with store.stage_bank_version(period="p2", config_hash="c", data_digest="d") as draft:
            (draft.dir / "regions.json").write_text("half")
            raise ValueError("boom")
    assert store.current_version() == 1
    assert not draft.dir.exists()
    assert sorted(p.name for p in (store.root / "bank").iterdir()) == ["v0001"]


def test_missing_adapter_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path, "ml-100k")
    with pytest.raises(RaieStateError, match="adapters/region-9/v0001 does not exist"):
        _publish(store, "setup", adapters={9: "adapters/region-9/v0001"})
    assert store.current_version() is None


def test_lock_is_reentrant_in_a_process_and_per_dataset(tmp_path: Path) -> None:
    store = Store(tmp_path, "ml-100k")
    record = store.root / ".lock"
    with store.lock():
        Store(tmp_path, "ml-100k").lock().release()  # the flow inside the CLI's hold
        holder = json.loads(record.read_text())
        assert holder["pid"] == os.getpid() and holder["since"].startswith("20")
        # another dataset is independent
        Store(tmp_path, "yelp").lock().release()
    assert not record.exists()
    store.lock().release()


def test_lock_held_by_another_process(tmp_path: Path) -> None:
    code = textwrap.dedent(f"""
        import sys, time
        from tasks.store import Store
        lock = Store({str(tmp_path)!r}, "ml-100k").lock()
        print("locked", flush=True)
        sys.stdin.readline()
    """)
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(RaieStateError, match=f"being written by pid {child.pid} on"):
            Store(tmp_path, "ml-100k").lock()
    finally:
        child.kill()
        child.wait()
    # the kernel released the lock of the killed process
    Store(tmp_path, "ml-100k").lock().release()


CRASH_SCRIPT = """
import os, sys, time
from tasks.store import Store
home, mode = sys.argv[1], sys.argv[2]
store = Store(home, "ml-100k")
if mode == "before_current":
    Store.set_current = lambda self, version: os._exit(3)
with store.lock():
    with store.stage_bank_version(period="p2", config_hash="c", data_digest="d") as draft:
        (draft.dir / "regions.json").write_text("new regions")
        if mode == "exit_in_block":
            os._exit(3)
        if mode == "sigkill":
            print("ready", flush=True)
            time.sleep(60)
"""


@pytest.mark.parametrize("mode", ["exit_in_block", "before_current", "sigkill"])
def test_crash_while_publishing_keeps_previous_version(tmp_path: Path, mode: str) -> None:
    store = Store(tmp_path, "ml-100k")
    _publish(store, "setup", payload=b"v1 regions")
    child = subprocess.Popen(
        [sys.executable, "-c", CRASH_SCRIPT, str(tmp_path), mode],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    if mode == "sigkill":
        assert child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=60) in (3, -signal.SIGKILL)
    child.stdout.close()

    assert store.current_version() == 1
    assert (store.bank_dir(1) / "regions.json").read_bytes() == b"v1 regions"
    verify_bank(store, 1)
    assert store.published_periods() == ["setup"]
    left_in_staging = list((store.root / ".staging").iterdir())
    assert len(left_in_staging) == (0 if mode == "before_current" else 1)

    v_next = _publish(store, "p2", payload=b"retry")
    # the orphan of a crash after the rename keeps its number; the chain skips it
    assert v_next == (3 if mode == "before_current" else 2)
    assert store.read_manifest(v_next).parent_version == 1
    assert store.published_periods() == ["setup", "p2"]
    assert not (store.root / ".staging").exists() or not any((store.root / ".staging").iterdir())


def test_stale_temp_files_are_ignored_and_cleaned(tmp_path: Path) -> None:
    store = Store(tmp_path, "ml-100k")
    _publish(store, "setup")
    stale = store.root / ".staging" / "bank-99999-deadbeef"
    stale.mkdir(parents=True)
    (stale / "regions.json").write_text("garbage")
    (store.root / ".CURRENT.tmp-99999-deadbeef").write_text("v0042\n")
    assert store.current_version() == 1
    assert store.published_periods() == ["setup"]
    with store.lock():
        assert not stale.exists()
    assert _publish(store, "p2") == 2


def test_corrupted_manifest_and_pointer_raise_state_errors(tmp_path: Path) -> None:
    store = Store(tmp_path, "ml-100k")
    _publish(store, "setup")
    manifest = store.bank_dir(1) / "manifest.json"
    good = manifest.read_text()

    manifest.write_text(good[: len(good) // 2])
    with pytest.raises(RaieStateError, match=r"manifest .*v0001/manifest.json is corrupted"):
        store.read_manifest(1)

    payload = json.loads(good)
    del payload["period"]
    manifest.write_text(json.dumps(payload))
    with pytest.raises(RaieStateError, match="is corrupted: missing period"):
        store.history()

    manifest.write_text(json.dumps({**json.loads(good), "adapters": ["x"]}))
    with pytest.raises(RaieStateError, match="is corrupted"):
        store.read_manifest(1)

    manifest.write_text(good)
    (store.bank_dir(1) / "regions.json").write_text("tampered")
    with pytest.raises(RaieStateError, match="regions.json does not match its manifest"):
        verify_bank(store, 1)

    (store.root / "CURRENT").write_text("latest\n")
    with pytest.raises(RaieStateError, match="CURRENT is corrupted: 'latest'"):
        store.current_version()
    with pytest.raises(RaieStateError, match="bank version v0007 of ml-100k not found"):
        store.read_manifest(7)


def test_manifest_json_round_trip(tmp_path: Path) -> None:
    store = Store(tmp_path, "ml-100k")
    _publish(store, "setup", adapters={}, extra={"raie_core_version": "0.1.0"})
    manifest = store.read_manifest(1)
    payload = json.loads((store.bank_dir(1) / "manifest.json").read_text())
    assert BankManifest.from_json(payload, Path("m.json")) == manifest
    assert payload["version"] == 1 and payload["parent_version"] is None
    assert payload["extra"] == {"raie_core_version": "0.1.0"}


def test_base_is_written_once(tmp_path: Path) -> None:
    store = Store(tmp_path, "ml-100k")
    with store.stage_base() as staged:
        (staged / "config.json").write_text("{}")
    assert (store.base_dir / "config.json").read_text() == "{}"
    with pytest.raises(RaieStateError, match="already holds a base model"):
        with store.stage_base():
            pass


def test_set_current_rolls_back(tmp_path: Path) -> None:
    store = Store(tmp_path, "ml-100k")
    _publish(store, "setup")
    _publish(store, "p2")
    store.set_current(1)
    assert store.published_periods() == ["setup"]
    with pytest.raises(RaieStateError, match="v0009"):
        store.set_current(9)
