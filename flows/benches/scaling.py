"""Region training over Dask workers: `raie bench pipeline --runner dask --workers 1,2,4`.

The same nightly update (one prepared home, copied per run) runs through the real flow on a
real loopback `LocalCluster` of w worker processes, one thread each (`flows.env.
region_task_runner`, the RAIE_TASK_RUNNER=dask path), once per w. The workers report to this
process's Prefect server, as they do in a deployment (`flows.env.workers_report_here`; without
it each worker process of an ephemeral-mode run starts a Prefect server of its own). Region-training
wall is the flow's own `train-regions` stage; each region task's Running seconds come from the
Prefect API. The adapters of every run are compared with the first run's through the period's
tracking plan: per trained adapter its region, the digest of its stored weights (None when it
was not kept), whether it was kept, its epochs and its losses.

Why a speedup falls short, from what each run measured:
* cores: more workers than CPU cores share them by time-slicing (``cores``);
* balance: the region tasks' own seconds, scheduled longest first on w workers
  (``bound_s``), bound the wall from below: one large region caps the speedup;
* outside the tasks (``outside_s`` = wall - bound): a fresh worker process imports torch and
  peft when it unpickles its first task (``worker_import_s``), every task reloads the base's
  files unless its worker has them (``base_load_cold_s``; ``base_load_warm_s``: the digest
  check every task pays), plus scheduling and each task's Prefect API calls;
* contention (``task_sum_s`` against the first run's): shared cores, memory bandwidth and
  other processes slow every task down. Data shipping is small: a task receives paths and
  configs; rows are read from the shared home's files.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flows import env
from flows.benches.incremental import timed
from flows.benches.overhead import clone, final_task_runs
from raie_core.errors import RaieStateError

if TYPE_CHECKING:
    from flows.benches.stages import StageRecorder
    from raie_core.data import Period

REGION_STAGE = "train-regions"
"""The nightly flow's stage that trains the affected region adapters (`flows.runlog`)."""
REGION_TASK = "train-region-adapter"
"""The Prefect task name of one region's training (`tasks.adapters.train_region_adapter`)."""


def lpt_makespan(seconds: list[float], workers: int) -> float:
    """The wall of ``seconds``-long tasks placed longest first, each on the least loaded of
    ``workers`` workers (LPT; within 4/3 of the best schedule)."""
    loads = [0.0] * workers
    for length in sorted(seconds, reverse=True):
        loads[loads.index(min(loads))] += length
    return max(loads)


def trained_record(home: str, dataset: str, version: int) -> list[tuple]:
    """What a period's trained adapters are (tracking plan): (region, stored digest, kept,
    epochs, best epoch, train loss, val loss) per adapter, by region."""
    from tasks.plan import PLAN_FILE, TrackingPlan
    from tasks.store import Store

    plan = TrackingPlan.read(Store(Path(home), dataset).bank_dir(version) / PLAN_FILE)
    return sorted(
        (i.region_id, i.digest, i.kept, i.epochs, i.best_epoch, i.train_loss, i.val_loss)
        for i in plan.trained
    )


def available_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def base_load_seconds(home: str, dataset: str) -> tuple[float, float]:
    """(first, second) seconds of `load_base` in this process on ``home``, a copy no run has
    loaded here: the first reads and builds the model, every load checks its digest."""
    from tasks.models import load_base
    from tasks.store import Store

    store = Store(Path(home), dataset)
    cold, _ = timed(lambda: load_base(store))
    warm, _ = timed(lambda: load_base(store))
    return cold, warm


def worker_import_seconds() -> float:
    """Wall seconds of a fresh interpreter importing the region task's module (torch, peft,
    transformers), what a new Dask worker process does when it unpickles its first task."""
    command = [sys.executable, "-c", "import tasks.adapters"]
    seconds, _ = timed(lambda: subprocess.run(command, check=True, capture_output=True))
    return seconds


def _run_once(home: str, dataset: str, period: Period, workers: int) -> tuple[dict, list[float]]:
    """(report, region task seconds) of the nightly flow on a LocalCluster of ``workers``."""
    from flows.nightly_update import nightly_update

    flow = nightly_update.with_options(task_runner=env.region_task_runner("dask", workers))
    state = flow(period=period.start, dataset=dataset, home=home, return_state=True)
    report = state.result()
    if "version" not in report:
        raise RaieStateError(f"period {period.label} published nothing: {report.get('reason')}")
    runs = final_task_runs(state.state_details.flow_run_id)
    tasks = [r.total_run_time.total_seconds() for r in runs if r.name.startswith(REGION_TASK)]
    return report, tasks


def measure_scaling(
    prepared: Path,
    work: Path,
    dataset: str,
    period: Period,
    workers: tuple[int, ...],
    stages: StageRecorder,
) -> dict[str, Any]:
    """The scaling table: one row per worker count (module doc), the first run's per-stage
    rows (``"stages"``) and the base's load seconds."""
    rows: list[dict[str, Any]] = []
    first: tuple[float, list[tuple], list] | None = None
    for count in workers:
        home = clone(prepared, work / f"dask-{count}")
        with env.workers_report_here():
            report, tasks = _run_once(home, dataset, period, count)
        run_stages = stages.take()
        wall = next(row.wall_s for row in run_stages if row.stage == REGION_STAGE)
        record = trained_record(home, dataset, report["version"])
        if first is None:
            first = (wall, record, run_stages)
        bound = lpt_makespan(tasks, count)
        rows.append(
            {
                "workers": count,
                "regions": len(tasks),
                "region_wall_s": wall,
                "regions_per_s": len(tasks) / wall if wall > 0 else float("nan"),
                "speedup": first[0] / wall if wall > 0 else float("nan"),
                "task_sum_s": sum(tasks),
                "longest_task_s": max(tasks, default=0.0),
                "bound_s": bound,
                "outside_s": wall - bound,
                "identical": record == first[1],
            }
        )
    assert first is not None  # worker_counts gives at least one
    cold, warm = base_load_seconds(clone(prepared, work / "load-probe"), dataset)
    return {
        "scaling": rows,
        "identical": all(row["identical"] for row in rows),
        "cores": available_cores(),
        "base_load_cold_s": cold,
        "base_load_warm_s": warm,
        "worker_import_s": worker_import_seconds(),
        "windows": report.get("windows"),
        "retrained": report.get("retrained"),
        "stages": first[2],
    }
