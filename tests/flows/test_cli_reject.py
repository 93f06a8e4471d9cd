"""A rejected candidate is visible: in its Prefect run (a Completed state named "Rejected"),
in `raie status`, and as exit code 3 of `raie update --fail-on-reject`; and the JSON of the
pipeline commands (setup, update, backfill) has the one shape.

The rejection is real: region and shared adapters train with a learning rate a thousand times
too large and may not keep their starting weights, so the candidate is resolvably worse than
the champion and the gate (tolerance 0) rejects it. Slow: a setup and three periods.
"""

import asyncio
import json
import logging
from pathlib import Path

import pytest
import yaml

from flows.cli import main
from flows.commands.output import FIELD_NAME
from flows.progress import PROGRESS_LOGGER, TOTAL

BROKEN_ADAPTERS = {
    "seqrec": {"train": {"max_epochs": 4, "patience": 2}},
    "regions": {"n_regions": 3, "min_train_samples": 4, "max_fit_windows": 3000},
    "adapters": {
        "train": {"max_epochs": 2, "patience": 2, "lr": 1.0, "keep_start": False, "grad_clip": 0},
        "sharing": {"full_lr": 1.0},  # the shared step's full fine-tune is ruined too
    },
    "gate": {"tolerance": 0.0},
}
"""The small test config with adapters that training ruins (lr 1000 x the default 1e-3)."""


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict | None, str]:
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    obj = json.loads(out.out) if out.out.strip() and "--json" in argv else None
    if obj is not None:
        assert out.out.count("\n") == 1 and isinstance(obj, dict)
        assert all(FIELD_NAME.match(key) for key in obj), obj.keys()
    return code, obj, out.err


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _state_of(name: str) -> tuple[str, str]:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    async def read() -> tuple[str, str]:
        async with get_client() as client:
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])),
                sort=FlowRunSort.START_TIME_DESC,
                limit=1,
            )  # the session's server holds other tests' runs of the same name: the newest
            assert runs, name
            return runs[0].state.type.value, runs[0].state.name

    return asyncio.run(read())


@pytest.mark.slow
def test_a_rejected_candidate_is_visible(
    prefect_backend,  # noqa: ANN001
    ml100k_slice,  # noqa: ANN001
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(BROKEN_ADAPTERS))
    where = ["--home", str(tmp_path / "home"), "--dataset", "table"]
    columns = "user=user_id,item=item_id,timestamp=timestamp,rating=rating"
    code, setup, _ = _run(
        capsys,
        "setup",
        *where,
        "--json",
        *("--path", ml100k_slice(150), "--config", str(config), "--map", columns),
        "--until",
        "1997-12-15",
    )
    assert code == 0 and setup["version"] == 1
    assert _state_of("setup-table-1997-12-15") == ("COMPLETED", "Completed")
    code, _, err = _run(capsys, "data", "replay", *where, "--until", "1997-12-29")
    assert code == 0, err  # the two weeks after the cut land, as in production

    code, report, err = _run(
        capsys, "update", *where, "--period", "1997-12-15", "--json", "--fail-on-reject"
    )
    assert code == 3, err
    assert report["gate"] == "fail" and report["champion"] == 1 and report["version"] == 2
    assert err.splitlines()[-1].startswith("raie: the gate rejected 1 candidate(s): v2 (1997-12")
    assert _state_of("update-table-1997-12-15") == ("COMPLETED", "Rejected")

    code, status, _ = _run(capsys, "status", *where, "--json")
    assert code == 0 and [r["version"] for r in status["rejected_since_champion"]] == [2]
    capsys.readouterr()
    assert main(["status", *where]) == 0
    text = capsys.readouterr().out
    assert "newest        v2 (1997-12-15), gate REJECTED" in text
    assert "REJECTED      1 candidate(s) since the champion: v2 (1997-12-15)" in text

    code, _, err = _run(capsys, "backfill", *where, "--end", "1997-12-22", "--every", "1d")
    assert code == 1 and err.startswith("raie: error: --every 1d does not match the period")

    # without --fail-on-reject a rejection is a normal outcome (exit 0), listed per period;
    # the progress feed has the total and one step per period, a skipped one included
    feed = _Records()
    logging.getLogger(PROGRESS_LOGGER).addHandler(feed)
    logging.getLogger(PROGRESS_LOGGER).setLevel(logging.INFO)
    try:
        code, backfill, err = _run(capsys, "backfill", *where, "--end", "1997-12-22", "--json")
    finally:
        logging.getLogger(PROGRESS_LOGGER).removeHandler(feed)
        logging.getLogger(PROGRESS_LOGGER).setLevel(logging.NOTSET)
    assert code == 0, err
    assert [getattr(r, TOTAL, None) for r in feed.records] == [2, None, None], feed.records
    periods = backfill["periods"]
    assert backfill["dataset"] == "table" and [p["period"] for p in periods] == [
        "1997-12-15",
        "1997-12-22",
    ]
    assert periods[0] == {"period": "1997-12-15", "skipped": True}
    assert {"update", "expand", "add", "gate"} <= set(periods[1])
    assert all(FIELD_NAME.match(key) for key in periods[1])
    run = f"backfill-table-{periods[0]['period']}-{periods[-1]['period']}"
    assert _state_of(run)[0] == "COMPLETED"
