"""The per-dataset writer lock: one process edits a dataset's state at a time (DESIGN §6).

Exclusion is an `flock` on the dataset's state folder itself, held as long as the holding
process lives: the kernel drops it when that process dies (SIGKILL included), and deleting a
file cannot break it. Who holds it (pid, host, start time, command) is written atomically into
`<state>/.lock` for the refusal message and removed on release; a `.lock` still there when the
flock is free names a holder that died, and the new writer takes over (one log line).

The lock is re-entrant within a process: the CLI takes it before Prefect starts, and the flow
it runs takes it again (a no-op) so that flows called from Python are covered too.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from raie_core.errors import RaieStateError
from tasks.durable import utc_now, write_json_atomic

log = logging.getLogger(__name__)

HOLDER_FILE = ".lock"
COMMAND_CHARS = 120
"""How much of the holder's command line `.lock` keeps (enough to tell update from setup)."""


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a dataset lock, as written into its `.lock` file."""

    pid: int
    host: str
    since: str
    command: str

    @classmethod
    def me(cls) -> Holder:
        return cls(os.getpid(), socket.gethostname(), utc_now(), " ".join(sys.argv)[:COMMAND_CHARS])

    @classmethod
    def read(cls, path: Path) -> Holder | None:
        """The holder recorded in ``path``; None when there is none or it is unreadable."""
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                int(payload["pid"]),
                str(payload["host"]),
                str(payload["since"]),
                str(payload.get("command", "")),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host} ({self.command}, since {self.since})"


_HELD: dict[Path, tuple[int, int]] = {}
"""Locks this process holds: state folder -> (folder fd, nesting depth)."""


class DatasetLock:
    """An exclusive, non-blocking `flock` on a dataset's state folder ``root``.

    `acquire` fails at once with one sentence naming the holder; `release` (or leaving the
    `with` block) lets go. Nested acquisitions in one process share the outer one.
    """

    def __init__(self, root: Path, dataset: str) -> None:
        self.root = Path(root)
        self.dataset = dataset
        self.path = self.root / HOLDER_FILE
        self._held = False

    def acquire(self) -> None:
        key = self.root.resolve()
        if key in _HELD:
            fd, depth = _HELD[key]
            _HELD[key] = (fd, depth + 1)
            self._held = True
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as error:
            raise RaieStateError(
                f"state folder {self.root} cannot be created or opened: {error.strerror}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = Holder.read(self.path) or f"another process ({self.path} names none)"
            raise RaieStateError(
                f"dataset {self.dataset} in {self.root.parent.parent} is being written by "
                f"{holder}; this command changed "
                "nothing, run it again when that one has finished"
            ) from None
        try:
            self._record(fd)
        except BaseException:
            os.close(fd)  # closing the only fd drops the flock
            raise
        _HELD[key] = (fd, 1)
        self._held = True

    def _record(self, fd: int) -> None:
        stale = Holder.read(self.path)
        if stale is not None:
            log.warning(
                "taking over the lock of dataset %s from %s: that process is gone",
                self.dataset,
                stale,
            )
        try:
            write_json_atomic(self.path, asdict(Holder.me()))
        except OSError as error:
            raise RaieStateError(
                f"the RAIE home is not writable: cannot write {self.path} ({error.strerror})"
            ) from None

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        key = self.root.resolve()
        fd, depth = _HELD[key]
        if depth > 1:
            _HELD[key] = (fd, depth - 1)
            return
        del _HELD[key]
        try:
            self.path.unlink(missing_ok=True)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._held

    def __enter__(self) -> DatasetLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
