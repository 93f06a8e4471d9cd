"""`raie bench data`: a small smoke run through the CLI (ML-100K + a 20k-row synthetic table)."""

from __future__ import annotations

import json

import pytest

from flows.benches.data import synthetic_interactions
from flows.cli import main


def test_bench_data_smoke_json(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    argv = ["bench", "data", "--json", "--home", str(tmp_path), "--synthetic-rows", "20000"]
    argv += ["--synthetic-users", "400", "--synthetic-items", "300"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    ml100k, synthetic = report["cases"]
    assert ml100k["case"] == "ml-100k"
    assert (ml100k["interactions"], ml100k["positives"]) == (100_000, 55_375)
    windows = ml100k["windows"]
    assert windows["setup"] + windows["setup_heldout"] == 3929
    assert (windows["finetune"], windows["test"]) == (2170, 1445)
    assert synthetic["interactions"] == 20_000
    assert 0 < synthetic["positives"] < 20_000
    assert synthetic["windows"]["setup_train"] > 0
    for case in report["cases"]:
        assert case["interactions_per_s"] > 0 and case["peak_rss_mib"] > 0


def test_synthetic_table_is_seeded_and_in_schema() -> None:
    first = synthetic_interactions(1000, 50, 40, 30, seed=3)
    assert first.equals(synthetic_interactions(1000, 50, 40, 30, seed=3))
    assert not first.equals(synthetic_interactions(1000, 50, 40, 30, seed=4))
    assert first.columns == ["user_id", "item_id", "timestamp", "rating"]
    assert first["user_id"].min() >= 1 and first["user_id"].max() <= 50
    assert first["item_id"].max() <= 40
    assert first["timestamp"].max() - first["timestamp"].min() < 30 * 86_400
    assert set(first["rating"].unique().to_list()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
