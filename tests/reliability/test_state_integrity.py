"""Issue 19, finding 3: corrupted state is refused, never served or published.

One real byte is flipped in a region adapter, the base, a bank's regions.safetensors, a
manifest and an ingested snapshot of a real home (setup + one week of a 150-user ML-100K slice): `raie recommend` and
`raie update` refuse with one sentence naming the file, `raie verify` lists the problem, no
version is published from it, and once the byte is restored the next update publishes.
Header corruption of each file kind is one sentence too (RaieCorruptError), not a raw
SafetensorError / UnicodeDecodeError.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from raie_core.errors import RaieCorruptError
from tests.flows.conftest import ml100k_slice, prefect_backend  # noqa: F401 - fixtures
from tests.reliability.cli_run import one_sentence, raie
from tests.reliability.state_home import DATASET, PERIODS, cli, flip_byte, home  # noqa: F401

pytestmark = pytest.mark.reliability


def _region_adapter(root: Path) -> Path:
    from tasks.store import Store

    manifest = Store(root.parent.parent, DATASET).read_manifest(2)
    region = min(k for k in manifest.adapters if k >= 0)
    return root / manifest.adapters[region] / "adapter_model.safetensors"


def _manifest_digit(path: Path) -> int:
    """The offset of the last digit of the period in a manifest (still valid JSON after a
    flip: "1997-12-15" becomes "1997-12-14")."""
    text = path.read_bytes()
    return text.index(b'"period": "') + len(b'"period": "1997-12-1')


def _snapshot(root: Path) -> Path:
    """The first period's ingested snapshot (every update and `recommend` read it back)."""
    return sorted((root / "snapshots").glob("period=*/interactions.parquet"))[0]


TARGETS = {
    # name: (file under the state dir, offset to flip, a fragment the sentence names)
    "snapshot": (
        _snapshot,
        lambda p: p.stat().st_size // 2,
        "does not match the digest recorded when it was written",
    ),
    "adapter": (_region_adapter, lambda p: -100, "is corrupted: its files do not match"),
    "base": (lambda r: r / "base" / "model.safetensors", lambda p: -100, "base model"),
    "regions": (
        lambda r: r / "bank" / "v0002" / "regions" / "regions.safetensors",
        lambda p: -10,
        "regions.safetensors does not match its manifest",
    ),
    "manifest": (
        lambda r: r / "bank" / "v0002" / "manifest.json",
        _manifest_digit,
        "does not match its seal",
    ),
}


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_a_flipped_byte_is_refused_reported_and_never_published(home: Path, capsys, target) -> None:  # noqa: ANN001, F811
    from tasks.store import Store

    store = Store(home, DATASET)
    locate, offset_of, fragment = TARGETS[target]
    path = locate(store.root)
    code, out, err = cli(home, capsys, "recommend", "--dataset", DATASET, "--user", "5")
    assert code == 0 and "served by" in out

    offset = offset_of(path)
    flip_byte(path, offset)
    code, out, err = cli(home, capsys, "recommend", "--dataset", DATASET, "--user", "5")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("raie: error: ") and fragment in err
    assert "Traceback" not in err

    code, out, err = cli(home, capsys, "verify")
    assert code == 1 and fragment in out and "problem(s) found" in err
    code, out, err = cli(home, capsys, "verify", "--json")
    report = json.loads(out)
    assert code == 1 and not report["ok"]
    assert any(fragment in p for d in report["datasets"] for p in d["problems"])

    period = PERIODS[1].isoformat()
    code, out, err = cli(home, capsys, "update", "--dataset", DATASET, "--period", period)
    assert code == 1 and err.count("\n") == 1 and fragment in err  # before Prefect starts
    assert store.versions() == [1, 2] and store.current_version() == 2  # nothing published
    code, out, err = cli(home, capsys, "backfill", "--dataset", DATASET, "--start", period)
    assert code == 1 and err.count("\n") == 1 and fragment in err
    assert store.versions() == [1, 2]

    flip_byte(path, offset)  # restored from a backup
    assert cli(home, capsys, "verify")[0] == 0
    code, out, err = cli(home, capsys, "update", "--dataset", DATASET, "--period", period)
    assert code == 0 and store.versions() == [1, 2, 3]


@pytest.mark.slow  # 50-90 s on a loaded 2-core machine: a fresh Prefect server starts
def test_an_error_inside_the_flow_is_one_sentence(home: Path) -> None:  # noqa: F811
    """A snapshot of a real home is corrupted: the CLI's checks before Prefect starts do not
    read snapshots, so the flow (under a real ephemeral Prefect server) raises, and only the
    CLI's sentence reaches the terminal; nothing is published."""
    from tasks.store import Store

    snapshot = sorted((home / "state" / DATASET / "snapshots").glob("period=*/*.parquet"))[0]
    flip_byte(snapshot, snapshot.stat().st_size // 2)
    period = PERIODS[1].isoformat()
    result = raie("--home", str(home), "update", "--dataset", DATASET, "--period", period)
    sentence = one_sentence(result)
    assert sentence.startswith(f"snapshot file {snapshot} does not match the digest"), sentence
    assert Store(home, DATASET).versions() == [1, 2]


def _one_version_store(tmp_path: Path):  # noqa: ANN202 - tasks.store.Store
    from tasks.store import Store

    store = Store(tmp_path, DATASET)
    with store.lock(), store.stage_bank_version(period="p", config_hash="c", data_digest="d") as d:
        (d.dir / "regions.json").write_text("{}")
    return store


def test_manifest_bytes_that_are_not_utf8_or_json_are_one_sentence(tmp_path: Path) -> None:
    store = _one_version_store(tmp_path)
    path = store.bank_dir(1) / "manifest.json"
    good = path.read_bytes()
    path.write_bytes(b"\xff" + good[1:])
    with pytest.raises(RaieCorruptError, match=r"manifest .*manifest.json is corrupted: 'utf-8'"):
        store.read_manifest(1)
    path.write_bytes(good[:-20])
    with pytest.raises(RaieCorruptError, match=r"manifest .*manifest.json is corrupted"):
        store.read_manifest(1)
    path.write_bytes(good.replace(b'"period": "p"', b'"period": "q"'))
    with pytest.raises(RaieCorruptError, match="does not match its seal"):
        store.read_manifest(1)


def test_window_files_check_their_digest_and_header(tmp_path: Path) -> None:
    from raie_core.protocol import Windows
    from tasks.windows import load_windows, save_windows

    rng = np.random.default_rng(0)
    windows = Windows(
        rng.integers(0, 50, (20, 5)), rng.integers(0, 50, 20), np.arange(20), np.arange(20)
    )
    path = tmp_path / "windows.safetensors"
    digest = save_windows(windows, path)
    np.testing.assert_array_equal(load_windows(path).context, windows.context)
    flip_byte(path, -3)  # a timestamp / user byte
    with pytest.raises(RaieCorruptError, match=rf"window file .* does not match .*!= {digest}"):
        load_windows(path)
    flip_byte(path, -3)
    flip_byte(path, 9)  # inside the JSON header
    with pytest.raises(RaieCorruptError, match="window file .*windows.safetensors is corrupted"):
        load_windows(path)


def test_regions_header_corruption_is_one_sentence(tmp_path: Path) -> None:
    from raie_core.regions import load_regions

    folder = tmp_path / "regions"
    folder.mkdir()
    (folder / "regions.json").write_text('{"format_version": 1}')
    (folder / "regions.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(RaieCorruptError, match="regions file .*regions.safetensors is corrupted"):
        load_regions(folder)
    (folder / "regions.json").write_bytes(b"\xff\xfe")
    with pytest.raises(RaieCorruptError, match="regions file .*regions.json is corrupted"):
        load_regions(folder)


def test_a_corrupted_champion_log_or_intent_is_one_sentence(tmp_path: Path) -> None:
    from tasks.audit import audit_dataset
    from tasks.champion import champion_moves, pending_move

    store = _one_version_store(tmp_path)
    (store.root / "champion.jsonl").write_bytes(b"\xff\xfe\n")
    with pytest.raises(RaieCorruptError, match=r"champion.jsonl is corrupted: 'utf-8'"):
        champion_moves(store)
    (store.root / "CHAMPION.intent").write_bytes(b'{"version": ')
    with pytest.raises(RaieCorruptError, match=r"CHAMPION.intent is corrupted"):
        pending_move(store)
    problems = audit_dataset(store).problems  # this toy version has no setup record either
    assert [p for p in problems if "champion.jsonl" in p] == [
        f"{store.root / 'champion.jsonl'} is corrupted: 'utf-8' codec can't decode byte 0xff "
        "in position 0: invalid start byte"
    ]


def test_verify_reports_an_alias_that_names_another_bank_than_current(home: Path, capsys) -> None:  # noqa: ANN001, F811
    from tasks.lineage import tracker
    from tasks.store import Store

    store = Store(home, DATASET)
    t = tracker(store)
    t.set_champion(DATASET, t.bank_model_version(DATASET, 1))  # CURRENT still serves v2
    code, out, err = cli(home, capsys, "verify")
    assert code == 1 and "@champion of table names bank v0001 but CURRENT serves v0002" in out
    t.set_champion(DATASET, t.bank_model_version(DATASET, 2))
    assert cli(home, capsys, "verify")[0] == 0
