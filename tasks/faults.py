"""Test-only fault injection: SIGKILL this process at a named point of publishing or setup.

The reliability suite (tests/reliability) runs the CLI with ``RAIE_FAULT=<point>``;
`flows.env.configure` arms that point here, and the code calls `fault_point(<point>)` where a
crash matters. Unarmed (every real run) a fault point does nothing. Points:

* ``setup-base``: the frozen base is published (base/), nothing else of setup is.
* ``bank-renamed``: setup's bank v1 is renamed into bank/, CURRENT not yet written.
* ``setup-published``: setup's bank version is current, its MLflow run not yet made.
* ``ingest-staged``: a period's new snapshot (landed rows + the record of the files they came
  from) is written and fsynced beside the old one, not yet renamed over it.
* ``published``: a period's bank version is renamed into bank/, nothing is tracked.
* ``tracking``: the period's MLflow run and its first region run exist, the rest does not.
* ``tracked``: the period is tracked in MLflow (run finished, bank registered), the
  champion not yet moved by the gate.
"""

import os
import signal

from raie_core.errors import RaieConfigError

POINTS = (
    "setup-base",
    "bank-renamed",
    "setup-published",
    "ingest-staged",
    "published",
    "tracking",
    "tracked",
)
_armed: set[str] = set()


def arm(point: str) -> None:
    """Kill this process when `fault_point(point)` is reached (test-only)."""
    if point not in POINTS:
        raise RaieConfigError(f"RAIE_FAULT={point!r} should be one of {', '.join(POINTS)}")
    _armed.add(point)


def fault_point(point: str) -> None:
    """SIGKILL this process here when ``point`` is armed (a real, unclean crash)."""
    assert point in POINTS, point
    if point in _armed:
        os.kill(os.getpid(), signal.SIGKILL)
