"""tasks.tracking on a temporary sqlite store: run tree, registry, champion, lineage."""

import json
from pathlib import Path

import pytest

from raie_core.errors import RaieStateError
from tasks.registry_names import bank_model_name, flatten, metric_key, region_model_name
from tasks.tracking import (
    RunOutcome,
    Tracker,
)


@pytest.fixture(scope="module")
def tracker(tmp_path_factory: pytest.TempPathFactory) -> Tracker:
    root = tmp_path_factory.mktemp("mlflow")
    return Tracker(artifact_root=root / "artifacts", tracking_uri=f"sqlite:///{root / 'mlflow.db'}")


def _adapter_dir(tmp_path: Path, tag: str) -> Path:
    folder = tmp_path / f"adapter-{tag}"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"r": 4, "tag": tag}))
    (folder / "adapter_model.safetensors").write_bytes(tag.encode())
    return folder


def _train(
    tracker: Tracker, tmp_path: Path, dataset: str, region: int, period: str, parent: str
) -> int:
    run = tracker.start_run(f"raie-{dataset}", f"region-{region}", parent_run_id=parent)
    tracker.log_artifacts(
        run, _adapter_dir(tmp_path, f"{region}-{period}"), f"adapters/region-{region}"
    )
    tracker.end_run(run)
    return tracker.register_region_adapter(
        dataset,
        region,
        run,
        f"adapters/region-{region}",
        {"period": period, "action": "update", "decisions": {"update": 2, "expand": 1}},
    )


def test_names_and_key_helpers() -> None:
    assert region_model_name("ml-100k", 3) == "raie-ml-100k-region-3"
    assert bank_model_name("ml-100k") == "raie-ml-100k-bank"
    assert metric_key("NDCG@10") == "NDCG_at_10"
    assert metric_key("loss (train)") == "loss _train_"
    assert flatten({"a": {"b": 1, "c": None}, "d": True, "e": [1, 2], "f": "x"}) == {
        "a.b": "1",
        "a.c": "none",
        "d": "True",
        "e": "[1, 2]",
        "f": "x",
    }


def test_run_tree_params_metrics_artifacts(tracker: Tracker, tmp_path: Path) -> None:
    parent = tracker.start_run(
        "raie-runs",
        "nightly-2024-01-01",
        params={"regions": {"n_regions": 8, "tau": 0.5}, "backbone": "seqrec"},
        tags={"period": "2024-01-01", "prefect.flow_run_id": "abc"},
    )
    child = tracker.start_run("raie-runs", "region-3", params={"lora_r": 4}, parent_run_id=parent)
    tracker.log_metrics(child, {"loss": 1.5}, step=0)
    tracker.log_metrics(child, {"loss": 0.5}, step=1)
    tracker.log_metrics(parent, {"NDCG@10": 0.04, "decisions.add": 2})
    uri = tracker.log_artifacts(child, _adapter_dir(tmp_path, "x"), "adapters/region-3")
    tracker.log_dict(parent, {"update": 3}, "decisions.json")
    tracker.log_text(parent, "# summary", "summary.md")
    tracker.end_run(child)
    tracker.end_run(parent, RunOutcome.FAILED)

    assert uri == f"runs:/{child}/adapters/region-3"
    p, c = tracker.run_info(parent), tracker.run_info(child)
    assert p["parent_run_id"] is None and c["parent_run_id"] == parent
    assert (p["status"], c["status"]) == ("FAILED", "FINISHED")
    assert p["params"] == {"regions.n_regions": "8", "regions.tau": "0.5", "backbone": "seqrec"}
    assert p["tags"] == {"period": "2024-01-01", "prefect.flow_run_id": "abc"}
    assert p["metrics"] == {"NDCG_at_10": 0.04, "decisions.add": 2.0}
    assert c["metrics"] == {"loss": 0.5}
    history = tracker.client.get_metric_history(child, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.5), (1, 0.5)]
    # artifacts live under the explicit per-experiment location, not the working directory
    artifacts = Path(c["artifact_uri"])
    assert artifacts.is_relative_to(tracker.artifact_root / "raie-runs")
    assert (artifacts / "adapters/region-3/adapter_model.safetensors").read_bytes() == b"x"
    assert json.loads((Path(p["artifact_uri"]) / "decisions.json").read_text()) == {"update": 3}
    assert (Path(p["artifact_uri"]) / "summary.md").read_text() == "# summary"


def test_region_versions_carry_lineage_tags(tracker: Tracker, tmp_path: Path) -> None:
    parent = tracker.start_run("raie-lin", "setup")
    assert _train(tracker, tmp_path, "lin", 0, "setup", parent) == 1
    assert _train(tracker, tmp_path, "lin", 2, "setup", parent) == 1
    assert _train(tracker, tmp_path, "lin", 2, "2024-01-01", parent) == 2
    assert _train(tracker, tmp_path, "lin", 2, "2024-01-08", parent) == 3

    chain = tracker.lineage("lin", region_id=2)
    assert [row["version"] for row in chain] == [1, 2, 3]
    assert [row["tags"]["parent_version"] for row in chain] == ["none", "1", "2"]
    assert [row["tags"]["period"] for row in chain] == ["setup", "2024-01-01", "2024-01-08"]
    assert chain[0]["tags"] == {
        "action": "update",
        "decisions.expand": "1",
        "decisions.update": "2",
        "parent_version": "none",
        "period": "setup",
        "region_id": "2",
    }
    assert all(row["model"] == "raie-lin-region-2" for row in chain)
    assert chain[1]["source"] == f"runs:/{chain[1]['run_id']}/adapters/region-2"
    assert chain[0]["created_utc"].endswith("Z")

    everything = tracker.lineage("lin")
    assert [(r["region_id"], r["version"]) for r in everything] == [(0, 1), (2, 1), (2, 2), (2, 3)]
    assert tracker.region_ids("lin") == [0, 2]
    with pytest.raises(RaieStateError, match="no registered model raie-lin-region-7"):
        tracker.lineage("lin", region_id=7)


def test_registered_version_downloads_the_adapter(tracker: Tracker, tmp_path: Path) -> None:
    parent = tracker.start_run("raie-dl", "setup")
    version = _train(tracker, tmp_path, "dl", 1, "setup", parent)
    out = tracker.client.download_artifacts(
        tracker.lineage("dl", 1)[0]["run_id"], "adapters/region-1", str(tmp_path)
    )
    assert version == 1
    assert (Path(out) / "adapter_model.safetensors").read_bytes() == b"1-setup"


def test_champion_alias_moves_only_when_set(tracker: Tracker, tmp_path: Path) -> None:
    assert tracker.champion_version("champ") is None
    run = tracker.start_run("raie-champ", "setup")
    bank = tmp_path / "bank"
    bank.mkdir()
    (bank / "manifest.json").write_text("{}")
    tracker.log_artifacts(run, bank, "bank")
    v1 = tracker.register_bank(
        "champ", run, "bank", {"bank_version": 1, "quality_gate": {"passed": True}}
    )
    assert tracker.champion_version("champ") is None
    tracker.set_champion("champ", v1)
    v2 = tracker.register_bank(
        "champ", run, "bank", {"bank_version": 2, "quality_gate": {"passed": False}}
    )
    assert (v1, v2) == (1, 2)
    assert tracker.champion_version("champ") == 1  # a failed gate does not move it
    v3 = tracker.register_bank("champ", run, "bank", {"bank_version": 3})
    tracker.set_champion("champ", v3)
    assert tracker.champion_version("champ") == 3
    rows = tracker.bank_lineage("champ")
    assert [(r["version"], r["aliases"]) for r in rows] == [(1, []), (2, []), (3, ["champion"])]
    assert rows[1]["tags"]["quality_gate.passed"] == "False"
    assert rows[2]["tags"]["parent_version"] == "2"
