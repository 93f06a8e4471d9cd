"""A real Prefect server for deployment tests: `prefect server start` on a free loopback port
with its own PREFECT_HOME, the `prefect` CLI against it, and reads through its REST API."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PREFECT = [sys.executable, "-m", "prefect"]
SERVER_START_TIMEOUT_S = 180.0
"""How long `prefect server start` may take to answer /health on the loaded 2-core machine."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_healthy(api: str, server: subprocess.Popen, timeout_s: float) -> None:
    """Poll ``api``/health until it answers 200 (a Prefect or an MLflow server)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the server for {api} exited early"
        try:
            with urllib.request.urlopen(f"{api}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    pytest.fail(f"the server did not answer on {api} within {timeout_s} s")


@contextmanager
def prefect_server(home: Path, base_env: dict[str, str]) -> Iterator[tuple[str, dict[str, str]]]:
    """Start a server with PREFECT_HOME=``home``; yield (api url, the env for CLI calls
    against it); stop its process group (SIGINT, then SIGKILL after 30 s)."""
    api = f"http://127.0.0.1:{free_port()}/api"
    env = {
        **base_env,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_CLI_COLORS": "false",
        "PREFECT_CLI_WRAP_LINES": "false",
    }
    port = api.rsplit(":", 1)[1].split("/")[0]
    with open(home / "server.log", "wb") as log:
        server = subprocess.Popen(
            [*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", port],
            env={k: v for k, v in env.items() if k != "PREFECT_API_URL"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_healthy(api, server, SERVER_START_TIMEOUT_S)
        yield api, env
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def prefect_cli(env: dict[str, str], *args: str, timeout_s: float = 300) -> str:
    """Run `prefect ARGS` from the repository root; its stdout (asserts exit 0)."""
    result = subprocess.run(
        [*PREFECT, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    assert result.returncode == 0, (
        f"prefect {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


def api_call(api: str, path: str, body: dict | None = None) -> Any:
    """GET (body None) or POST ``body`` as JSON to the server's REST API; the decoded reply."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{api}{path}", data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())
