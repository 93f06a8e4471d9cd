"""`raie bench pipeline`: the CLI wiring and (slow) a small end-to-end run whose JSON has every
field with sane values (its incremental-cost part: test_bench_incremental.py)."""

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
    assert (args.max_users, args.repeats, args.regions, args.until) == (10, 3, 6, "1997-12-15")
    assert (args.epochs, args.min_train_samples, args.torch_threads) == (None, None, 1)


def test_bench_config_is_production_unless_overridden() -> None:
    from dataclasses import replace

    from flows.cli import build_parser
    from raie_core.adapters import AdapterConfig

    args = build_parser().parse_args(["bench", "pipeline"])
    config = pipeline.pipeline_config("/x.parquet", args)
    assert config.adapters == AdapterConfig()  # no --epochs: the pipeline's own budget
    assert config.regions.n_regions == 6 and config.regions.max_fit_windows == 3000
    assert config.seqrec.train.max_epochs == 4 and config.path == "/x.parquet"
    flags = "bench pipeline --epochs 3 --min-train-samples 5".split()
    capped = pipeline.pipeline_config("/x.parquet", build_parser().parse_args(flags))
    assert capped.adapters.train == replace(AdapterConfig().train, max_epochs=3)
    assert capped.regions.min_train_samples == 5


@pytest.mark.slow
def test_small_run_prints_sane_json(prefect_backend, tmp_path, capsys) -> None:  # noqa: ANN001
    from flows.cli import main

    small = "--max-users 150 --repeats 1 --backbone-epochs 4 --epochs 1 --min-train-samples 4"
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
