"""`raie bench pipeline`: the CLI wiring, the per-stage recorder, and (slow) small end-to-end
runs whose JSON has every field with sane values (its incremental-cost part:
test_bench_incremental.py; the per-stage table of real flows: test_flows.py)."""

import json
import math

import pytest

from flows.benches import pipeline

FIELDS = (
    "overhead_fraction_inrun",
    "prefect_inrun_s",
    "mlflow_inrun_s",
    "flow_wall_s",
    "flow_cpu_s",
    "incremental_ratio",
    "affected",
    "live",
    "affected_wall_s",
    "all_wall_s",
)


def test_registered_with_the_cli() -> None:
    from flows.cli import build_parser

    args = build_parser().parse_args(["bench", "pipeline", "--max-users", "10", "--repeats", "3"])
    assert args.handler.__wrapped__ is pipeline.run  # behind env.prefect_home
    assert (args.max_users, args.repeats, args.regions, args.until) == (10, 3, 6, None)
    assert (args.epochs, args.min_train_samples, args.torch_threads) == (None, None, 1)
    assert (args.dataset, args.path, args.every) == ("ml-100k", None, None)
    assert (args.runner, args.workers, args.full_budget) == ("thread", (1, 2, 4), False)
    flags = "bench pipeline --dataset ml-1m --runner dask --workers 4,1".split()
    args = build_parser().parse_args(flags)
    assert (args.dataset, args.runner, args.workers) == ("ml-1m", "dask", (4, 1))


def test_bench_config_is_production_unless_overridden() -> None:
    from dataclasses import replace

    from flows.cli import build_parser
    from flows.params import PipelineConfig
    from raie_core.adapters import AdapterConfig
    from raie_core.backbones.seqrec import SeqRecConfig

    args = build_parser().parse_args(["bench", "pipeline"])
    config = pipeline.pipeline_config("table", "/x.parquet", args)
    assert config.adapters == AdapterConfig()  # no --epochs: the pipeline's own budget
    assert config.regions.n_regions == 6 and config.regions.max_fit_windows == 3000
    assert config.seqrec.train.max_epochs == pipeline.BACKBONE_EPOCHS == 4
    assert config.seqrec.train.lr == SeqRecConfig().train.lr  # only the epoch cap is cut
    assert config.protocol == PipelineConfig().protocol  # setup stride 1: the pipeline's own
    assert (config.path, config.every) == ("/x.parquet", "1w")
    flags = "bench pipeline --epochs 3 --min-train-samples 5 --setup-stride 4".split()
    capped = pipeline.pipeline_config("table", "/x.parquet", build_parser().parse_args(flags))
    assert capped.adapters.train == replace(AdapterConfig().train, max_epochs=3)
    assert capped.regions.min_train_samples == 5 and capped.protocol.train_stride == 4
    ml1m = build_parser().parse_args([*flags, "--dataset", "ml-1m", "--max-users", "300"])
    sliced = pipeline.pipeline_config("table", "/x.parquet", ml1m)
    assert sliced.every == "1mo"  # the source's own period length (as raie setup), sliced too


def test_full_budget_is_the_pipelines_own_and_excludes_the_budget_flags(tmp_path, capsys) -> None:  # noqa: ANN001
    from flows.cli import build_parser, main
    from raie_core.adapters import AdapterConfig
    from raie_core.backbones.seqrec import SeqRecConfig

    args = build_parser().parse_args(["bench", "pipeline", "--full-budget"])
    config = pipeline.pipeline_config("ml-100k", None, args)
    assert config.seqrec == SeqRecConfig() and config.adapters == AdapterConfig()
    for bad, named in (
        (["--full-budget", "--epochs", "3"], "--epochs"),
        (["--setup-stride", "0"], "--setup-stride 0"),
        (["--max-users", "-1"], "--max-users -1"),
    ):
        assert main(["bench", "pipeline", "--home", str(tmp_path / "home"), *bad]) == 1
        err = capsys.readouterr().err
        assert named in err and err.count("\n") == 1 and "Traceback" not in err
        assert not (tmp_path / "home").exists()  # refused before anything was made
    with pytest.raises(SystemExit) as usage:
        build_parser().parse_args(["bench", "pipeline", "--workers", "2,0"])
    assert usage.value.code == 2 and "2,0" in capsys.readouterr().err


def test_lpt_makespan_is_hand_worked() -> None:
    from flows.benches.scaling import lpt_makespan

    # longest first: 3|3, then 2 on each (5|5), the last 2 on the first: 7 (the best is 6)
    assert lpt_makespan([2, 3, 2, 3, 2], 2) == 7
    assert lpt_makespan([2, 3, 2, 3, 2], 1) == 12
    assert lpt_makespan([4, 1], 4) == 4 and lpt_makespan([], 2) == 0


@pytest.mark.filterwarnings("ignore:Logger 'prefect.flow_runs' attempted to send logs")
def test_stage_recorder_reads_stage_records_and_their_memory() -> None:
    """Stage records (as `flows.runlog.Stages` logs them) become rows: the wall is the
    record's seconds, and memory held at a stage's end counts in its peak and rise."""
    import logging
    import time

    import numpy as np

    from flows.benches.stages import FLOW_RUN_LOGGER, recording
    from flows.runlog import SECONDS_FIELD, STAGE_FIELD

    logger = logging.getLogger(FLOW_RUN_LOGGER)
    with recording(interval_s=0.01) as recorder:
        start = time.perf_counter()
        held = np.ones(64 * 1024 * 1024 // 8)  # 64 MiB, written, so resident
        seconds = time.perf_counter() - start
        logger.info("a: held", extra={STAGE_FIELD: "a", SECONDS_FIELD: seconds})
        logger.info("not a stage")
        del held
        logger.info("b: done", extra={STAGE_FIELD: "b", SECONDS_FIELD: 0.001})
        rows = recorder.take()
        assert recorder.take() == []  # taken rows are forgotten
    assert [row.stage for row in rows] == ["a", "b"]
    assert rows[0].wall_s == pytest.approx(seconds) and rows[1].wall_s == pytest.approx(0.001)
    assert rows[0].rise_mib > 48 and rows[0].peak_rss_mib > rows[0].rise_mib
    assert all(row.peak_rss_mib > 0 and row.rise_mib >= 0 for row in rows)
    assert recorder not in logger.handlers  # the listener is removed with the block


@pytest.mark.slow
def test_small_run_prints_sane_json(prefect_backend, tmp_path, capsys) -> None:  # noqa: ANN001
    from flows.cli import main

    small = "--max-users 150 --repeats 1 --backbone-epochs 4 --epochs 1 --min-train-samples 4"
    small += " --until 1997-12-15"
    code = main(["bench", "pipeline", "--json", "--home", str(tmp_path / "home"), *small.split()])
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for name in FIELDS:
        assert isinstance(result[name], int | float) and math.isfinite(result[name]), name
    assert result["live"] == 6 and 1 <= result["affected"] < result["live"]
    assert result["affected_ids"] == result["chosen"]
    assert result["windows"] > 0 and result["focus_windows"] <= result["period_windows"]
    for name in ("flow_wall_s", "affected_wall_s", "all_wall_s", "flow_cpu_s"):
        assert result[name] > 0, name
    # overhead is measured in-run only now (no bare copy of the update step to compare to)
    assert result["overhead_fraction_inrun"] < 1 and result["incremental_ratio"] > 0
    assert not {"bare_wall_s", "overhead_fraction", "overhead_fraction_cpu"} & set(result)
    assert result["period"] == "1997-12-15" and result["dataset"] == "table"
    setup_stages = [row["stage"] for row in result["stages"]["setup"]]
    update_stages = [row["stage"] for row in result["stages"]["update"]]
    assert setup_stages[0] == "ingest" and update_stages[:2] == ["check", "ingest"]
    assert "train-regions" in update_stages
    assert result["peak_rss_mib"] >= max(r["peak_rss_mib"] for r in result["stages"]["update"])


@pytest.mark.slow
def test_dask_table_trains_identical_adapters_per_worker_count(
    prefect_backend, tmp_path, capsys
) -> None:  # noqa: ANN001
    """`--runner dask --workers 1,2` on a 300-user slice (K=3: at least two regions retrain):
    one row per worker count, the same regions trained with identical adapters (digests and
    losses), and the table printed."""
    from flows.benches.pipeline_report import print_report
    from flows.cli import main

    small = "--max-users 300 --regions 3 --backbone-epochs 1 --epochs 1 --min-train-samples 4"
    argv = ["bench", "pipeline", "--home", str(tmp_path / "home"), *small.split()]
    argv += ["--runner", "dask", "--workers", "1,2", "--until", "1997-12-15"]
    assert main([*argv, "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    rows = result["scaling"]
    assert [row["workers"] for row in rows] == [1, 2]
    assert rows[0]["regions"] == rows[1]["regions"] == result["retrained"] >= 2
    assert result["identical"] is True and all(row["identical"] for row in rows)
    for row in rows:
        assert row["region_wall_s"] > 0 and row["regions_per_s"] > 0 and row["bound_s"] > 0
    assert rows[0]["speedup"] == 1.0 and result["base_load_cold_s"] > 0
    assert "train-regions" in [row["stage"] for row in result["stages"]["update"]]
    assert result["worker_import_s"] > 0 and result["cores"] >= 1
    print_report(result)
    table = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(table) if line.split()[:2] == ["workers", "regions"])
    assert [line.split()[0] for line in table[header + 1 : header + 3]] == ["1", "2"]
    assert all(line.split()[-1] == "yes" for line in table[header + 1 : header + 3])
