"""Finding 5 of issue 19: whatever the CLI starts goes away with it, however it ends.

A real `raie setup` runs in a child process until Prefect's ephemeral API server (uvicorn) is
up as its child; the CLI is then stopped with SIGKILL, SIGTERM or SIGINT, and no process of
that server, nor anything else marked with the CLI's run token, may remain (the watchdog of
flows/reaper.py; SIGINT also stops it through Prefect's own exit hook).
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.reaper import TOKEN_VAR, marked, unmarked
from tests.reliability.cli_run import ROOT, child_env, fake_home, spawn

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


WATCHDOG_PROBE = """
import json, os, sys
from pathlib import Path
from flows import cli

def watchdogs():
    found = 0
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        found += ppid == os.getpid() and b"flows.reaper" in cmdline
    return found

home = sys.argv[1]
seen = {}
for argv in json.loads(sys.argv[2]):
    sys.argv = ["raie", "--home", home, *argv]
    try:
        code = cli.main()
    except SystemExit as done:
        code = done.code
    seen[" ".join(argv)] = [code, watchdogs()]
print(json.dumps(seen))
"""
WATCHED = {"setup", "update", "backfill", "demo", "ui", "bench"}
"""The commands that start a server (Prefect's, `mlflow server`) or a Dask cluster."""


def test_the_commands_that_start_a_server_are_the_watched_ones() -> None:
    from flows.cli import build_parser

    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert {name for name in sub.choices if sub.choices[name].get_default("watched")} == WATCHED
    for argv in (["status"], ["lineage"], ["recommend", "--user", "1"], ["verify"], ["gc"]):
        assert not getattr(parser.parse_args(argv), "watched", False), argv


@pytest.mark.skipif(not Path("/proc/self/environ").is_file(), reason="needs Linux /proc")
def test_a_read_only_command_starts_no_watchdog(tmp_path: Path) -> None:
    """Commands that start no server, run as `raie` runs them (argv None), start no watchdog
    process; a writer command then run in the same process does (even when it is refused: the
    watchdog comes before anything the command starts). Light commands only: `status` and the
    like import torch and MLflow, seconds each (which commands are watched: the test above)."""
    home = fake_home(tmp_path / "home")
    read_only = [["--help"], ["gc", "--dataset", "nosuch"], ["data", "snapshots", "--help"]]
    commands = [*read_only, ["update", "--dataset", "nosuch"]]
    probe = [sys.executable, "-c", WATCHDOG_PROBE, str(home), json.dumps(commands)]
    done = subprocess.run(
        probe, cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=300
    )
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen == {
        "--help": [0, 0],
        "gc --dataset nosuch": [1, 0],
        "data snapshots --help": [0, 0],
        "update --dataset nosuch": [1, 1],
    }, done.stderr


def test_a_process_started_unmarked_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the CLI opens on purpose to outlive it (a web browser) carries no run token."""
    monkeypatch.setenv(TOKEN_VAR, "123-test")
    probe = [sys.executable, "-c", f"import os; print(os.environ.get({TOKEN_VAR!r}))"]
    with unmarked():
        inside = subprocess.run(probe, cwd=ROOT, capture_output=True, text=True, timeout=60)
    outside = subprocess.run(probe, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (inside.stdout.strip(), outside.stdout.strip()) == ("None", "123-test")
