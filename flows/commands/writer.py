"""The writer commands' first step: take the dataset lock before anything slow starts.

`setup`, `update`, `backfill`, `promote` and `rollback` enter `dataset_writer` before they
import torch, Prefect or MLflow, so a second writer is refused in well under a second with one
sentence naming the holder (`tasks.lock`), and a dataset that was never set up is refused
before anything is created in the home (its Prefect folder is made once the lock is held).
The flows take the same lock again inside (re-entrant).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from flows import env
from raie_core.errors import RaieError


@contextmanager
def dataset_writer(home: str | None, dataset: str, *, setup: bool = False) -> Iterator[None]:
    """Hold the writer lock of ``dataset`` under ``home`` for the ``with`` block.

    Not ``setup``: the dataset must have a bank (else one sentence, nothing created). A setup
    that created the state folder and fails on bad input (a RaieError) before publishing its
    first bank removes the folder again, so bad input leaves the home as it was.
    """
    from tasks.store import Store

    env.check_tracking()
    store = Store(env.raie_home(home), dataset)
    if not setup:
        store.require_current()
    made = next((p for p in (store.root.parent, store.root) if not p.exists()), None)
    lock = store.lock()
    try:
        env.prefect_home(home)
        yield
    except RaieError:
        if made is not None and store.current_version() is None:
            shutil.rmtree(made, ignore_errors=True)
        raise
    finally:
        lock.release()
