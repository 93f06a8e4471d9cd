"""The per-dataset lock: one update edits a bank at a time (DESIGN §6)."""

import fcntl
import os
import socket
from pathlib import Path

from raie_core.errors import RaieStateError
from tasks.durable import utc_now


class DatasetLock:
    """An exclusive, non-blocking `flock` on `<state>/.lock`; released on close or exit.

    The kernel drops the lock when the holding process dies, so a crash never leaves it held.
    """

    def __init__(self, path: Path, dataset: str) -> None:
        self.path = path
        self.dataset = dataset
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 512).decode("utf-8", "replace").strip() or "unknown pid"
            os.close(fd)
            raise RaieStateError(
                f"dataset {self.dataset} is being updated by {holder}; wait for it to finish, "
                f"or remove {self.path} if that process is gone"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {utc_now()}".encode())
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> "DatasetLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
