"""Finding 4 of issue 19: one writer per dataset, told honestly, with two real processes.

The writer lock is taken before Prefect or MLflow starts, so the second writer's refusal names
the holder (pid, host, start time) in one sentence and the home is left as it was; deleting
`.lock` does not let a second writer in; a holder killed with SIGKILL is taken over with one
log line; the lock is re-entrant within a process (the CLI, then the flow inside it).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.store import Store
from tests.reliability.cli_run import ROOT, child_env, fake_home, one_sentence, raie, tree

pytestmark = pytest.mark.reliability

HOLD = (
    "import sys, time\n"
    "from tasks.store import Store\n"
    "lock = Store(sys.argv[1], 'table').lock()\n"
    "print('held', flush=True)\n"
    "time.sleep(600)\n"
)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return fake_home(tmp_path / "home")


@pytest.fixture
def holder(home: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process that holds the writer lock of `table` until the test ends."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(home)],
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "held"
    yield process
    process.kill()
    process.wait(timeout=30)
    process.stdout.close()


def _refusal_names(sentence: str, home: Path, pid: int) -> None:
    assert sentence.startswith(f"dataset table in {home} is being written by ")
    assert f"pid {pid} on {socket.gethostname()}" in sentence and "since 20" in sentence
    for advice in ("remove", "delete", "rm "):
        assert advice not in sentence


def test_a_second_update_is_refused_naming_the_holder(
    home: Path, holder: subprocess.Popen[str]
) -> None:
    before = tree(home)
    sentence = one_sentence(raie("--home", str(home), "update", "--dataset", "table"))
    _refusal_names(sentence, home, holder.pid)
    assert sentence.endswith(
        "this command changed nothing, run it again when that one has finished"
    )
    assert tree(home) == before  # no Prefect database, no .staging, the holder's record intact


def test_deleting_the_lock_file_does_not_let_a_second_writer_in(
    home: Path, holder: subprocess.Popen[str]
) -> None:
    record = home / "state" / "table" / ".lock"
    assert json.loads(record.read_text())["pid"] == holder.pid
    record.unlink()
    result = raie("--home", str(home), "promote", "--dataset", "table", "--version", "2")
    assert "is being written by another process" in one_sentence(result)
    assert not record.exists()


def test_a_killed_holder_is_taken_over_with_one_log_line(
    home: Path, holder: subprocess.Popen[str], caplog: pytest.LogCaptureFixture
) -> None:
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    record = home / "state" / "table" / ".lock"
    assert json.loads(record.read_text())["pid"] == holder.pid  # a dead holder's record
    with caplog.at_level(logging.WARNING, logger="tasks.lock"), Store(home, "table").lock():
        assert json.loads(record.read_text())["pid"] == os.getpid()
    [line] = [r.getMessage() for r in caplog.records if r.name == "tasks.lock"]
    assert f"from pid {holder.pid} on {socket.gethostname()}" in line and "is gone" in line
    assert not record.exists()  # released: nothing left to take over


def test_the_lock_is_reentrant_within_a_process_and_held_until_the_outer_release(
    home: Path,
) -> None:
    store = Store(home, "table")
    outer = store.lock()
    with store.lock():  # what the flow does inside the CLI's hold
        pass
    refused = raie("--home", str(home), "rollback", "--dataset", "table")
    _refusal_names(one_sentence(refused), home, os.getpid())
    outer.release()
    taken = subprocess.run(
        [sys.executable, "-c", HOLD.replace("time.sleep(600)", "lock.release()"), str(home)],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert taken.returncode == 0 and taken.stdout.strip() == "held", taken.stderr
