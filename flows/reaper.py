"""No orphans: a watchdog that ends what the `raie` CLI started once the CLI is gone.

Prefect starts its ephemeral API server (uvicorn, ~230 MB) as a child and stops it at exit
(`atexit`), which a SIGKILL skips; a Dask LocalCluster or `mlflow server` child would outlive
its parent the same way. `start_reaper` puts a token unique to this CLI run into the
environment (``RAIE_RUN_TOKEN``), which every process the CLI starts from then on inherits,
and spawns this module as a small watchdog in its own session. The watchdog blocks on a pipe
whose only write end stays in the CLI, so it reads EOF the moment the CLI ends, however it ends
(exit, SIGTERM, SIGINT, SIGKILL). It then finds every process whose environment holds the
token (/proc/<pid>/environ, so children reparented to init are found too), sends them SIGTERM
and, after `STOP_GRACE_S`, SIGKILL to those left. Linux only; elsewhere no watchdog starts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TOKEN_VAR = "RAIE_RUN_TOKEN"
STOP_GRACE_S = 5.0
"""Seconds the CLI's leftovers get between SIGTERM and SIGKILL (Prefect's own stop waits 5 s)."""
POLL_S = 0.1
"""How often the watchdog checks, during the grace period, whether the leftovers are gone."""

PROC = Path("/proc")
_WRITE_ENDS: list[int] = []
"""The write end of the watchdog's pipe, held open until this process ends."""


def start_reaper() -> bool:
    """Start the watchdog of this process (once); False where there is no /proc."""
    if _WRITE_ENDS:
        return True
    if not (PROC / "self" / "environ").is_file():
        return False
    os.environ[TOKEN_VAR] = f"{os.getpid()}-{uuid.uuid4().hex}"
    read_end, write_end = os.pipe()  # non-inheritable: no other child keeps the pipe open
    subprocess.Popen(
        [sys.executable, "-m", "flows.reaper", str(read_end)],
        pass_fds=(read_end,),
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C in the terminal does not stop the watchdog early
    )
    os.close(read_end)
    _WRITE_ENDS.append(write_end)
    return True


@contextmanager
def unmarked() -> Iterator[None]:
    """Processes started inside the block do not carry the run token, so the watchdog leaves
    them alone (a web browser the CLI opens outlives it on purpose)."""
    token = os.environ.pop(TOKEN_VAR, None)
    try:
        yield
    finally:
        if token is not None:
            os.environ[TOKEN_VAR] = token


def marked(token: str) -> list[int]:
    """Pids of the live processes (this one aside) whose environment holds ``token``."""
    needle = f"\0{TOKEN_VAR}={token}\0".encode()
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, or not ours to read
            continue
        if needle in b"\0" + environ + b"\0":
            found.append(int(entry.name))
    return found


def _signal(pids: list[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def reap(token: str) -> list[int]:
    """End every process marked with ``token``: SIGTERM, then SIGKILL after the grace period.
    Returns the pids that were signalled."""
    targets = marked(token)
    _signal(targets, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    while marked(token) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    _signal(marked(token), signal.SIGKILL)
    return targets


def watch(read_end: int) -> None:
    """Wait until the CLI that owns the pipe's write end is gone, then reap its leftovers."""
    while os.read(read_end, 1):
        pass
    reap(os.environ[TOKEN_VAR])


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    watch(int(sys.argv[1]))
