"""`raie lineage` and `raie ui` against a home populated with two region models and a bank.

The UI test runs the real `raie ui` process on a free loopback port, finds the lineage
through MLflow's REST API, renders the model-version page in headless Chromium (screenshot
saved under test-artifacts/), then stops it with SIGINT (Ctrl-C) and checks that the whole
server process group is gone.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from matplotlib.image import imread

from flows.cli import main
from raie_core.errors import RaieStateError
from tasks.tracking import Tracker

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
DATASET = "ml-100k"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A RAIE home whose MLflow store holds regions 0 and 2 (2 versions each) and a bank."""
    root = tmp_path_factory.mktemp("raie-home")
    tracker = Tracker(root / "mlartifacts", f"sqlite:///{root / 'mlflow.db'}")
    adapter = root / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"r": 4}')
    for bank_version, period in ((1, "setup"), (2, "2024-01-01")):
        parent = tracker.start_run(f"raie-{DATASET}", f"nightly-{period}", tags={"period": period})
        for region in (0, 2):
            run = tracker.start_run(f"raie-{DATASET}", f"region-{region}", parent_run_id=parent)
            tracker.log_artifacts(run, adapter, f"adapters/region-{region}")
            tracker.end_run(run)
            tracker.register_region_adapter(
                DATASET,
                region,
                run,
                f"adapters/region-{region}",
                {
                    "period": period,
                    "action": "add" if bank_version == 1 else "expand",
                    "bank_version": bank_version,
                    "data_digest": f"sha-{period}",
                    "decisions": {"update": 3, "expand": 1},
                    "n_samples": 40 + region,
                },
            )
        version = tracker.register_bank(DATASET, parent, "bank", {"period": period})
        tracker.set_champion(DATASET, version)
        tracker.end_run(parent)
    return root


def _cli(home: Path, monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.setenv("RAIE_HOME", str(home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
    return main([*argv, "--home", str(home)])


def test_lineage_prints_each_region_chain(home: Path, monkeypatch, capsys) -> None:
    assert _cli(home, monkeypatch, "lineage") == 0
    lines = capsys.readouterr().out.splitlines()
    headers = [line for line in lines if not line.startswith("  ")]
    assert headers == [
        "region 0  (raie-ml-100k-region-0)",
        "region 2  (raie-ml-100k-region-2)",
        "bank  (raie-ml-100k-bank)",
    ]
    region2 = lines[lines.index("region 2  (raie-ml-100k-region-2)") + 1 :][:2]
    assert region2[0].startswith("  v1 ") and region2[1].startswith("  v2 ")
    assert "period=setup  action=add  parent_version=none  bank_version=1" in region2[0]
    assert "period=2024-01-01  action=expand  parent_version=1  bank_version=2" in region2[1]
    assert "decisions.update=3" in region2[1] and "n_samples=42" in region2[1]
    assert lines[-1].endswith("@champion") and lines[-1].startswith("  v2 ")


def test_lineage_json_for_one_region(home: Path, monkeypatch, capsys) -> None:
    assert _cli(home, monkeypatch, "lineage", "--region", "0", "--json") == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["dataset"] == DATASET and payload["bank"] == []
    rows = payload["regions"]
    assert [(r["region_id"], r["version"]) for r in rows] == [(0, 1), (0, 2)]
    assert rows[1]["tags"]["parent_version"] == "1"
    assert rows[1]["tags"]["data_digest"] == "sha-2024-01-01"


def test_lineage_of_unknown_region_fails_in_one_sentence(home: Path, monkeypatch, capsys) -> None:
    assert _cli(home, monkeypatch, "lineage", "--region", "9") == 1
    assert capsys.readouterr().err == (
        "raie: error: no registered model raie-ml-100k-region-9 in the MLflow store\n"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _group_members(pgid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


@pytest.fixture(scope="module")
def ui(home: Path) -> Iterator[dict[str, Any]]:
    """`raie ui --no-browser --json` as a child process; teardown sends Ctrl-C and checks the stop."""
    child_env = {
        k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAIE_HOME")
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flows.cli",
            "ui",
            "--home",
            str(home),
            "--port",
            str(_free_port()),
            "--no-browser",
            "--json",
        ],
        cwd=ROOT,
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(180, process.kill)
    watchdog.start()
    line = process.stdout.readline()
    watchdog.cancel()
    if not line:
        process.kill()
        pytest.fail(f"raie ui did not start: {process.stderr.read()}")
    info = json.loads(line)
    assert _group_members(info["pid"]), "the MLflow server runs in its own process group"
    yield info
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0
    assert "raie: MLflow UI stopped" in process.stderr.read()
    assert _group_members(info["pid"]) == []
    process.stdout.close()
    process.stderr.close()


def _get(url: str, path: str, **query: str) -> dict[str, Any]:
    full = f"{url}{path}?{urllib.parse.urlencode(query)}" if query else f"{url}{path}"
    with urllib.request.urlopen(full, timeout=30) as response:
        return json.loads(response.read())


def test_ui_serves_lineage_through_the_rest_api(ui: dict[str, Any]) -> None:
    url = ui["url"]
    assert url.startswith("http://127.0.0.1:")
    models = _get(url, "/api/2.0/mlflow/registered-models/search")["registered_models"]
    assert sorted(m["name"] for m in models) == [
        "raie-ml-100k-bank",
        "raie-ml-100k-region-0",
        "raie-ml-100k-region-2",
    ]
    versions = _get(
        url, "/api/2.0/mlflow/model-versions/search", filter="name='raie-ml-100k-region-2'"
    )["model_versions"]
    by_version = {v["version"]: {t["key"]: t["value"] for t in v["tags"]} for v in versions}
    assert sorted(by_version) == ["1", "2"]
    assert by_version["2"]["parent_version"] == "1"
    assert by_version["2"]["period"] == "2024-01-01"
    assert by_version["1"]["action"] == "add"
    champion = _get(
        url, "/api/2.0/mlflow/registered-models/alias", name="raie-ml-100k-bank", alias="champion"
    )["model_version"]
    assert champion["version"] == "2"


def test_ui_renders_the_model_version_page(ui: dict[str, Any], tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    out_dir = ROOT / "test-artifacts"
    out_dir.mkdir(exist_ok=True)
    shot = out_dir / "mlflow-model-version.png"
    shot.unlink(missing_ok=True)
    page = f"{ui['url']}/#/models/raie-ml-100k-region-2/versions/2"
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'chromium'}",
            "--dump-dom",
            f"--screenshot={shot}",
            "--window-size=1400,900",
            "--virtual-time-budget=15000",
            page,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    # the rendered page (not the empty JS shell) shows this version's lineage tags
    for text in (
        "raie-ml-100k-region-2",
        "Version 2",
        "parent_version",
        "2024-01-01",
        "sha-2024-01-01",
    ):
        assert text in dom, f"{text!r} missing from the rendered model-version page"
    assert shot.stat().st_size > 20_000
    pixels = imread(shot)
    assert pixels.shape[:2] == (900, 1400)
    assert len({tuple(p) for p in pixels.reshape(-1, pixels.shape[2])[::97]}) > 50


def test_ui_refuses_a_busy_port(tmp_path: Path) -> None:
    from flows.commands.admin import UiServer

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(
            RaieStateError, match=f"port {port} on 127.0.0.1 is in use; pass --port"
        ):
            UiServer("sqlite:///x.db", tmp_path, port, tmp_path / "ui.log")
    assert not (tmp_path / "ui.log").exists()
