"""MLflow conventions of a real flow run: the champion bank loads with a plain
`mlflow.pyfunc.load_model("models:/raie-<dataset>-bank@champion")` and predicts what
`raie recommend` serves; adapters name their base; runs carry the code version and config.

Setup + one weekly update on the first 150 users of the real ML-100K (the flow tests'
fixture), under Prefect, with an MLflow store of the test's own.
"""

import json
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
import yaml

from flows.cli import main
from raie_core.protocol import latest_items
from raie_core.rebase import is_base_folder
from raie_core.sharing import SHARED_KEY
from tests.flows.small_config import small_config

UNTIL = date(1997, 12, 15)
PERIOD = date(1997, 12, 15)
USERS = ("1", "13", "42")  # users with history before the end of the landed week


@pytest.fixture(scope="module")
def served_home(prefect_backend, ml100k_slice, tmp_path_factory) -> dict:  # noqa: ANN001
    from flows.commands.replay import replay_home
    from flows.nightly_update import nightly_update
    from flows.setup import setup

    root = tmp_path_factory.mktemp("conv-pyfunc")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        config = small_config(ml100k_slice(150))
        setup(config=config, until=UNTIL, home=str(root / "home"))
        replay_home(root / "home", "table", PERIOD + timedelta(days=7))
        report = nightly_update(period=PERIOD, dataset="table", home=str(root / "home"))
    return {"home": root / "home", "uri": uri, "config": config, "report": report}


def _recommend(home: Path, user: str, capsys) -> dict:  # noqa: ANN001
    capsys.readouterr()
    code = main(["--json", "recommend", "--home", str(home), "--dataset", "table", "--user", user])
    assert code == 0
    return json.loads(capsys.readouterr().out)


def test_champion_loads_as_pyfunc_and_predicts_like_raie_recommend(  # noqa: ANN001
    served_home: dict, ml100k_slice, monkeypatch, capsys
) -> None:
    import mlflow.pyfunc

    monkeypatch.setenv("MLFLOW_TRACKING_URI", served_home["uri"])
    assert served_home["report"]["champion"] == 2  # the update's candidate serves
    model = mlflow.pyfunc.load_model("models:/raie-table-bank@champion")

    landed = (PERIOD + timedelta(days=7) - date(1970, 1, 1)).days * 86_400
    history = pl.read_parquet(ml100k_slice(150)).filter(pl.col("timestamp") < landed)
    protocol = served_home["config"].protocol
    contexts = latest_items(history, [int(u) for u in USERS], protocol)
    frame = pd.DataFrame({"items": [c.tolist() for c in contexts]})
    predicted = model.predict(frame, params={"k": 10})

    assert list(predicted.columns) == ["item_ids", "scores", "region"]
    assert len(predicted) == len(USERS)
    for row, user in zip(predicted.itertuples(), USERS, strict=True):
        served = _recommend(served_home["home"], user, capsys)
        assert served["bank_version"] == 2
        assert list(row.item_ids) == [item["item_id"] for item in served["items"]]
        assert list(row.scores) == pytest.approx([i["score"] for i in served["items"]], rel=1e-5)
        assert row.region == (-1 if served["region"] is None else served["region"])
    assert set(predicted["item_ids"][0]).isdisjoint(contexts[0].tolist())  # unseen items only
    assert len(model.predict(frame.head(1), params={"k": 3})["item_ids"][0]) == 3


def test_bank_version_is_an_mlflow_model_with_its_inputs(served_home: dict, monkeypatch) -> None:
    import mlflow.artifacts

    monkeypatch.setenv("MLFLOW_TRACKING_URI", served_home["uri"])
    local = Path(mlflow.artifacts.download_artifacts("models:/raie-table-bank@champion"))
    mlmodel = yaml.safe_load((local / "MLmodel").read_text())
    pyfunc = mlmodel["flavors"]["python_function"]
    assert pyfunc["model_code_path"].endswith("bank_pyfunc.py")  # models from code: no pickle
    assert not list(local.rglob("*.pkl")) and "python_model.pkl" not in json.dumps(pyfunc)
    inputs = json.loads(mlmodel["signature"]["inputs"])
    assert [col["name"] for col in inputs] == ["items"]
    params = json.loads(mlmodel["signature"]["params"])
    assert [(p["name"], p["default"]) for p in params] == [("k", 10)]
    assert (local / mlmodel["saved_input_example_info"]["artifact_path"]).is_file()

    artifacts = {name: local / entry["path"] for name, entry in pyfunc["artifacts"].items()}
    manifest = json.loads((artifacts["bank"] / "manifest.json").read_text())
    assert SHARED_KEY in {int(k) for k in manifest["adapters"]}
    assert (artifacts["bank"] / "regions" / "regions.json").is_file()
    assert (artifacts["base"] / "backbone.json").is_file()
    assert (artifacts["base"] / "pipeline.json").is_file()  # the resolved config
    assert is_base_folder(artifacts["global"])  # the shared step's per-period base
    assert artifacts["serving"].is_file()


def test_adapters_name_their_base_and_runs_their_code(served_home: dict, monkeypatch) -> None:
    from mlflow import MlflowClient

    from tasks.provenance import CODE_VERSION_TAG, code_version
    from tasks.store import Store

    store = Store(served_home["home"], "table")
    manifest = store.read_manifest(2)
    for rel in manifest.adapters.values():  # the per-period base names its origin as well
        folder = store.adapter_path(rel)
        name = "base_config.json" if is_base_folder(folder) else "adapter_config.json"
        config = json.loads((folder / name).read_text())
        assert config["base_model_name_or_path"] == "state/table/base"

    client = MlflowClient(tracking_uri=served_home["uri"])
    runs = client.search_runs(
        [client.get_experiment_by_name("raie-table").experiment_id], max_results=100
    )
    assert {r.data.tags["raie.kind"] for r in runs} == {"setup", "update", "region"}
    for run in runs:
        assert run.data.tags[CODE_VERSION_TAG] == code_version()[CODE_VERSION_TAG]
    parents = [r for r in runs if r.data.tags["raie.kind"] in ("setup", "update")]
    for run in parents:
        logged = json.loads(
            Path(run.info.artifact_uri.removeprefix("file://"), "config.json").read_text()
        )
        assert logged == served_home["config"].model_dump(mode="json")
        assert run.data.params["regions.n_regions"] == "3"


def test_region_versions_load_as_pyfunc_and_serve_through_their_adapter(  # noqa: ANN001
    served_home: dict, ml100k_slice, monkeypatch
) -> None:
    import mlflow.artifacts
    import mlflow.pyfunc

    from tasks.lineage import tracker
    from tasks.store import Store

    monkeypatch.setenv("MLFLOW_TRACKING_URI", served_home["uri"])
    store = Store(served_home["home"], "table")
    landed = (PERIOD + timedelta(days=7) - date(1970, 1, 1)).days * 86_400
    history = pl.read_parquet(ml100k_slice(150)).filter(pl.col("timestamp") < landed)
    users = sorted(history["user_id"].unique().to_list())
    contexts = latest_items(history, users, served_home["config"].protocol)
    frame = pd.DataFrame({"items": [c.tolist() for c in contexts if len(c)]})
    bank = mlflow.pyfunc.load_model("models:/raie-table-bank@champion").predict(frame)
    base_items = _base_top(store, frame, served_home["config"].protocol.max_len)

    rows = [r for r in tracker(store).lineage("table") if r["tags"]["bank_version"] == "2"]
    routed = {r["region_id"] for r in rows} & set(bank["region"]) - {-1}
    assert routed, "no registered region of v2 serves a context of the slice"
    for row in rows:
        uri = f"models:/{row['model']}/{row['version']}"
        local = Path(mlflow.artifacts.download_artifacts(uri))
        mlmodel = yaml.safe_load((local / "MLmodel").read_text())
        assert [c["name"] for c in json.loads(mlmodel["signature"]["inputs"])] == ["items"]
        assert (local / mlmodel["saved_input_example_info"]["artifact_path"]).is_file()
        adapter = store.adapter_path(row["tags"]["adapter_path"])
        logged = Path(row["source"].replace("runs:/", "")).name  # its run's `model` artifact
        run = tracker(store).run_info(row["run_id"])["artifact_uri"].removeprefix("file://")
        kept = Path(run, logged, "artifacts")
        for path in (p for p in adapter.rglob("*") if p.is_file()):  # linked, not copied
            twins = [q for q in kept.rglob(path.name) if q.stat().st_ino == path.stat().st_ino]
            assert twins, f"{path} is not linked into {kept}"

        model = mlflow.pyfunc.load_model(uri)
        mine = model.predict(frame, params={"k": 10})
        region = row["region_id"]
        assert set(mine["region"]) == {-1 if region == SHARED_KEY else region}
        same = (bank["region"] == (-1 if region == SHARED_KEY else region)).to_numpy()
        for ours, theirs in zip(mine[same].itertuples(), bank[same].itertuples(), strict=True):
            assert list(ours.item_ids) == list(theirs.item_ids)  # the bank's routed answer
            assert list(ours.scores) == pytest.approx(list(theirs.scores), rel=1e-5)
        changed = [list(a) != b for a, b in zip(mine["item_ids"], base_items, strict=True)]
        assert any(changed), f"{uri} serves the base's lists: its adapter changed nothing"


def _base_top(store, frame: pd.DataFrame, max_len: int) -> list[list[int]]:  # noqa: ANN001
    """The frozen base's own top 10 for each context of ``frame`` (no adapter)."""
    import torch

    from raie_core.evaluation import top_k
    from raie_core.protocol import encode_contexts
    from tasks.models import load_base

    backbone = load_base(store)
    rows = encode_contexts([list(c) for c in frame["items"]], backbone.vocab, max_len)
    with torch.no_grad():
        scores = backbone.logits(backbone.model, torch.from_numpy(rows))
    items, _ = top_k(scores, rows, 10)
    return [backbone.vocab.decode(r).tolist() for r in items]
