"""`raie status|promote|rollback` and the next-update rule, on a real slice of ML-100K under
Prefect with a sqlite MLflow store of the test's own.

The rule: every update edits from the champion. After a rollback, the rolled-back version
(like a rejected candidate) is never the base of the next edit.
"""

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from flows.cli import main
from flows.params import PipelineConfig
from raie_core.adapters import AdapterConfig
from raie_core.backbones.seqrec import SeqRecConfig
from raie_core.gate import GateConfig
from raie_core.regions import RegionConfig
from raie_core.sharing import SHARED_KEY
from raie_core.training import TrainConfig

UNTIL = date(1997, 12, 15)
PERIODS = (date(1997, 12, 15), date(1997, 12, 22))


def _config(path: str) -> PipelineConfig:
    return PipelineConfig(
        dataset="table",
        path=path,
        seqrec=SeqRecConfig(train=TrainConfig(max_epochs=4, patience=2)),
        regions=RegionConfig(n_regions=3, min_train_samples=4, max_fit_windows=3000),
        adapters=AdapterConfig(train=TrainConfig(max_epochs=2, patience=1)),
        # the commands' mechanics, not the gate's judgement: on this 150-user slice with a
        # 2-epoch budget a week can be resolvably worse, so every candidate passes here
        gate=GateConfig(tolerance=0.99),
    )


@pytest.fixture
def home(prefect_backend, ml100k_slice, tmp_path: Path, monkeypatch) -> Path:  # noqa: ANN001
    from flows.commands.replay import replay_home
    from flows.setup import setup

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    setup(config=_config(ml100k_slice(150)), until=UNTIL, home=str(tmp_path / "home"))
    replay_home(tmp_path / "home", "table", max(PERIODS) + timedelta(days=7))
    return tmp_path / "home"


def _cli(home: Path, capsys, *argv: str) -> tuple[int, str, str]:  # noqa: ANN001
    capsys.readouterr()
    code = main([*argv, "--home", str(home), "--dataset", "table"])
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_json_object(code: int, out: str) -> dict:
    """The `--json` shape of every command (flows/commands/output.py)."""
    from flows.commands.output import FIELD_NAME

    obj = json.loads(out)
    assert code == 0 and out.count("\n") == 1 and isinstance(obj, dict)
    assert all(FIELD_NAME.match(key) for key in obj), obj.keys()
    return obj


def _run_is_named_and_logs_its_stages(name: str) -> None:
    """The flow run carries the resolved period in its name, and its Prefect logs hold one
    line per stage (flows/runlog.py)."""
    import asyncio

    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterName,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.logging.handlers import APILogHandler

    async def read() -> list[str]:
        await APILogHandler.aflush()  # the run's log records reach the API in batches
        async with get_client() as client:
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])),
                sort=FlowRunSort.START_TIME_DESC,
                limit=1,
            )  # the session's server holds other tests' runs of the same name (the pipeline
            assert runs, name  # bench's slow test updates this period too): the newest
            logs = await client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[runs[0].id]))
            )
            return [log.message for log in logs]

    messages = asyncio.run(read())
    for stage in ("windows", "prequential", "edit", "gate", "publish"):
        assert any(m.startswith(f"{stage}: ") and m.endswith(" s)") for m in messages), (
            stage,
            messages,
        )


def test_rollback_promote_status_and_the_next_update_rule(home: Path, capsys) -> None:  # noqa: ANN001
    from flows.nightly_update import nightly_update
    from tasks.records import PeriodRecord
    from tasks.store import Store

    store = Store(home, "table")
    first = nightly_update(period=PERIODS[0], dataset="table", home=str(home))
    assert first["gate"] == "pass" and store.current_version() == 2

    code, out, _ = _cli(home, capsys, "status", "--json")
    status = json.loads(out)
    assert code == 0 and status["champion"]["version"] == 2
    assert status["mlflow_champion"]["bank_version"] == 2
    assert status["last_gate"]["version"] == 2 and "retention" in status["last_gate"]
    assert status["last_period"] == PERIODS[0].isoformat()
    assert status["rejected_since_champion"] == []
    _run_is_named_and_logs_its_stages(f"update-table-{PERIODS[0].isoformat()}")
    for argv in (["lineage"], ["recommend", "--user", "1"], ["gc", "--dry-run"]):
        _one_json_object(*_cli(home, capsys, *argv, "--json")[:2])
    capsys.readouterr()
    _one_json_object(main(["verify", "--json", "--home", str(home)]), capsys.readouterr().out)
    assert status["pending_publications"] == []  # the update completed its MLflow records

    code, out, _ = _cli(home, capsys, "rollback", "--reason", "bad week")
    assert code == 0 and out.startswith("champion of table: v1 (was v2), rollback by ")
    assert store.current_version() == 1

    # the next update edits from the champion v1, not from the rolled-back v2
    second = nightly_update(period=PERIODS[1], dataset="table", home=str(home))
    v3 = store.read_manifest(3)
    record = PeriodRecord.read(store, v3)
    assert second["version"] == 3 and v3.parent_version == 1
    assert record.champion_evaluated == 1
    # v1 has no adapters: every one of v3 was trained in p2 (the shared one, SHARED_KEY, too)
    assert set(v3.adapters) <= set(record.affected) | {SHARED_KEY}

    code, out, _ = _cli(home, capsys, "promote", "--version", "2", "--reason", "audited", "--json")
    assert _one_json_object(code, out)["version"] == 2 and store.current_version() == 2
    code, out, _ = _cli(home, capsys, "status")
    assert "champion      v2 (1997-12-15); MLflow @champion -> bank v2" in out
    assert "last move     promote to v2 by " in out and out.rstrip().endswith("audited")

    code, out, _ = _cli(home, capsys, "lineage")
    bank_lines = out[out.index("bank  (") :].splitlines()
    promoted = [line for line in bank_lines if "@champion" in line]
    assert len(promoted) == 1 and "champion.action=promote" in promoted[0]
    assert any("champion.action=rollback" in line for line in bank_lines)

    from flows.demo import summary_lines
    from flows.params import stored_config

    config = stored_config(store)
    lines = summary_lines(home, config, [first, second], 0.05)
    assert lines[2].startswith("   gate: ") and "of 2 candidates promoted" in lines[2]
    anchor = (
        f"promoted weeks resolvably more than {config.gate.tolerance:.0%} below the setup base "
        "(anchor intervals): 0 of 2"
    )
    assert any(anchor in line for line in lines), lines
    gain = next(line for line in lines if "over the backfill" in line)
    assert f"({first['windows'] + second['windows']} windows" in gain
    assert "champion - base" in gain and "user interval" in gain
    assert lines[-1] == f"   plot: {home / 'nightly.png'}" and (home / "nightly.png").stat().st_size

    code, _, err = _cli(home, capsys, "promote", "--version", "9")
    assert code == 1 and err.startswith("raie: error: bank version v0009 of table not found")
    code, _, err = _cli(home, capsys, "rollback", "--to", "3")
    assert code == 1 and "--to 3 should be older than the champion v2" in err
    assert store.current_version() == 2
