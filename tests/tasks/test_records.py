"""tasks.records: setup and period records round-trip through a published manifest; a missing
or mistyped field raises RaieStateError naming the manifest file and the field."""

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from raie_core.errors import RaieStateError
from tasks.records import PeriodRecord, SetupRecord
from tasks.store import MANIFEST, Store
from tasks.windows import WindowsRef

SETUP = SetupRecord(
    until=date(1997, 12, 15),
    retention_reference=0.0321,
    heldout=WindowsRef("/home/work/setup/heldout.safetensors", 412, "ab12cd34ef56ab78", 0),
    setup_windows=9000,
    base_digest="0123456789abcdef",
    base_epochs=7,
)
PERIOD = PeriodRecord(
    windows=250,
    affected=(0, 4),
    added=(4,),
    merged=((2, 0),),
    retired=(3,),
    live=4,
    champion_evaluated=1,
)


def _publish(store: Store, extra: dict[str, Any]) -> int:
    with (
        store.lock(),
        store.stage_bank_version(period="p", config_hash="c", data_digest="d") as draft,
    ):
        draft.extra = extra
    assert draft.version is not None
    return draft.version


def test_records_round_trip_through_the_manifest(tmp_path: Path) -> None:
    store = Store(tmp_path, "toy")
    setup_version = _publish(store, SETUP.to_extra())
    period_version = _publish(store, PERIOD.to_extra())
    empty_version = _publish(store, PeriodRecord(windows=0).to_extra())

    assert SetupRecord.read(store, store.read_manifest(setup_version)) == SETUP
    assert PeriodRecord.read(store, store.read_manifest(period_version)) == PERIOD
    empty = PeriodRecord.read(store, store.read_manifest(empty_version))
    assert empty == PeriodRecord(0, (), (), (), (), None, None)
    # The JSON layout under "extra" keeps the key names older homes have.
    on_disk = json.loads((store.bank_dir(setup_version) / MANIFEST).read_text())["extra"]
    assert on_disk["until"] == "1997-12-15" and on_disk["heldout"]["rows"] == 412
    assert json.loads((store.bank_dir(period_version) / MANIFEST).read_text())["extra"] == {
        "windows": 250,
        "affected": [0, 4],
        "added": [4],
        "merged": [[2, 0]],
        "retired": [3],
        "live": 4,
        "champion_evaluated": 1,
    }


def _without(payload: dict[str, Any], dotted: str) -> dict[str, Any]:
    head, _, rest = dotted.partition(".")
    if not rest:
        return {k: v for k, v in payload.items() if k != head}
    return {**payload, head: _without(payload[head], rest)}


@pytest.mark.parametrize("field", ["retention_reference", "heldout", "heldout.digest", "until"])
def test_setup_record_missing_field_names_file_and_field(tmp_path: Path, field: str) -> None:
    store = Store(tmp_path, "toy")
    version = _publish(store, _without(SETUP.to_extra(), field))
    path = store.bank_dir(version) / MANIFEST
    with pytest.raises(RaieStateError) as error:
        SetupRecord.read(store, store.read_manifest(version))
    assert str(error.value) == f"manifest {path} has no field extra.{field}"


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("setup_windows", "9000", "an integer"),
        ("base_epochs", True, "an integer"),
        ("retention_reference", None, "a number"),
        ("until", "15/12/1997", "a date like 2024-01-01"),
        ("heldout", {"path": "x", "rows": 1.5, "digest": "d", "code": 0}, "an integer"),
    ],
)
def test_setup_record_wrong_type_names_file_and_field(
    tmp_path: Path, field: str, value: Any, rule: str
) -> None:
    store = Store(tmp_path, "toy")
    version = _publish(store, {**SETUP.to_extra(), field: value})
    path = store.bank_dir(version) / MANIFEST
    name = "heldout.rows" if field == "heldout" else field
    message = f"manifest {path} field extra.{name} should be {rule}, not "
    with pytest.raises(RaieStateError, match=re.escape(message)):
        SetupRecord.read(store, store.read_manifest(version))


def test_period_record_rejects_old_or_broken_layouts(tmp_path: Path) -> None:
    store = Store(tmp_path, "toy")
    old_empty = _publish(store, {"windows": 0})  # an empty period before typed records
    path = store.bank_dir(old_empty) / MANIFEST
    with pytest.raises(RaieStateError, match=re.escape(f"{path} has no field extra.affected")):
        PeriodRecord.read(store, store.read_manifest(old_empty))
    for field, value in (("merged", [[2, 0, 1]]), ("affected", [1, "2"]), ("live", "4")):
        version = _publish(store, {**PERIOD.to_extra(), field: value})
        with pytest.raises(RaieStateError, match=f"field extra.{field} should be"):
            PeriodRecord.read(store, store.read_manifest(version))
