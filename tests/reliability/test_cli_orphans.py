"""Finding 5 of issue 19: whatever the CLI starts goes away with it, however it ends.

A real `raie setup` runs in a child process until Prefect's ephemeral API server (uvicorn) is
up as its child; the CLI is then stopped with SIGKILL, SIGTERM or SIGINT, and no process of
that server, nor anything else marked with the CLI's run token, may remain (the watchdog of
flows/reaper.py; SIGINT also stops it through Prefect's own exit hook).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.reaper import TOKEN_VAR, marked, unmarked
from tests.reliability.cli_run import ROOT, spawn

pytestmark = pytest.mark.reliability

START_TIMEOUT_S = 240.0
GONE_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def slice_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import polars as pl

    from raie_core.data import load_dataset

    frame = load_dataset("ml-100k").interactions.filter(pl.col("user_id") <= 150)
    path = tmp_path_factory.mktemp("orphans") / "slice.parquet"
    frame.write_parquet(path)
    return path


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"  # a zombie has ended (init reaps it)


def _children(pid: int) -> list[tuple[int, bytes]]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
            found.append((int(entry.name), cmdline))
    return found


def _wait_for_server(cli_pid: int) -> int:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        servers = [pid for pid, cmd in _children(cli_pid) if b"uvicorn" in cmd]
        if servers:
            return servers[0]
        time.sleep(0.2)
    raise AssertionError(f"no Prefect server started under pid {cli_pid}")


def _token(pid: int) -> str:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    [entry] = [e for e in environ if e.startswith(f"{TOKEN_VAR}=".encode())]
    return entry.decode().split("=", 1)[1]


@pytest.mark.skipif(not Path("/proc/self/environ").is_file(), reason="needs Linux /proc")
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_no_process_outlives_a_stopped_setup(signum: int, slice_path: Path, tmp_path: Path) -> None:
    cli = spawn(
        "--home", str(tmp_path / "home"), "setup", "--dataset", "table",
        "--path", str(slice_path), "--until", "1997-12-15",
    )  # fmt: skip
    try:
        server = _wait_for_server(cli.pid)
        token = _token(server)
        assert server in marked(token)
        cli.send_signal(signum)
        cli.wait(timeout=GONE_TIMEOUT_S)
        deadline = time.monotonic() + GONE_TIMEOUT_S
        while (_alive(server) or marked(token)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(server), f"Prefect server {server} outlived the CLI ({signum!r})"
        assert [pid for pid in marked(token) if _alive(pid)] == []
    finally:
        cli.kill()
        cli.communicate(timeout=60)


def test_a_process_started_unmarked_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the CLI opens on purpose to outlive it (a web browser) carries no run token."""
    monkeypatch.setenv(TOKEN_VAR, "123-test")
    probe = [sys.executable, "-c", f"import os; print(os.environ.get({TOKEN_VAR!r}))"]
    with unmarked():
        inside = subprocess.run(probe, cwd=ROOT, capture_output=True, text=True, timeout=60)
    outside = subprocess.run(probe, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (inside.stdout.strip(), outside.stdout.strip()) == ("None", "123-test")
