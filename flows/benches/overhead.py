"""The in-run overhead of a nightly update (`raie bench pipeline`): wall and CPU seconds of
real flow runs, and the seconds each task spent Running per the Prefect API."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from flows.benches.incremental import timed
from raie_core.errors import RaieStateError

if TYPE_CHECKING:
    from flows.benches.stages import StageRecorder
    from raie_core.data import Period

TRACKING_TASK = "finish-publication"
"""The MLflow task of the nightly update (its task name): lineage, registrations and the
gate's champion move (`tasks.publish`)."""


def clone(source: Path, target: Path) -> str:
    """A copy of a prepared home (the variants must not see each other's versions)."""
    shutil.copytree(source, target)
    return str(target)


def cpu_seconds() -> float:
    """CPU seconds (user + system) used so far by this process, its reaped children and its
    live child processes (the ephemeral Prefect server runs as one)."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        try:
            t = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def timed_cpu(call: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds per `cpu_seconds`, value) of ``call()``."""
    cpu = cpu_seconds()
    wall, value = timed(call)
    return wall, cpu_seconds() - cpu, value


def final_task_runs(flow_run_id: Any, timeout_s: float = 30.0) -> list[Any]:
    """The task runs of a finished flow run, once every one is final (Prefect API).

    Task states reach the API through events, so this polls until every task run is final
    and the flow's tracking task is among them."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterFlowRunId

    query = TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[flow_run_id]))
    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(task_run_filter=query)
            done = runs and all(r.state is not None and r.state.is_final() for r in runs)
            if done and any(r.name.startswith(TRACKING_TASK) for r in runs):
                break
            if time.monotonic() > deadline:
                raise RaieStateError(
                    f"task runs of flow run {flow_run_id} did not finish in {timeout_s} s"
                )
            time.sleep(0.5)
    return runs


def task_seconds(flow_run_id: Any) -> dict[str, float]:
    """Seconds in Running of each task of a flow run, summed per task name (Prefect API)."""
    seconds: dict[str, float] = {}
    for r in final_task_runs(flow_run_id):
        name = r.name.rsplit("-", 1)[0]
        seconds[name] = seconds.get(name, 0.0) + r.total_run_time.total_seconds()
    return seconds


def _flow_once(
    home: str, dataset: str, period: Period
) -> tuple[float, float, dict, dict[str, float]]:
    """(wall, cpu, report, task seconds) of one `nightly_update` run."""
    from flows.nightly_update import nightly_update

    wall, cpu, state = timed_cpu(
        lambda: nightly_update(period=period.start, dataset=dataset, home=home, return_state=True)
    )
    return wall, cpu, state.result(), task_seconds(state.state_details.flow_run_id)


def measure_overhead(
    prepared: Path, work: Path, dataset: str, period: Period, repeats: int, stages: StageRecorder
) -> dict[str, Any]:
    """Median wall and CPU time of ``repeats`` runs of the real flow, each on a fresh copy,
    the in-run split of each run's wall time (Prefect API task times), and the per-stage
    rows of the first timed run (``"stages"``, from ``stages``)."""
    _flow_once(clone(prepared, work / "warmup"), dataset, period)
    stages.take()  # the warm-up's stages pay first-use costs
    walls, cpus, inrun, fractions, rows = [], [], [], [], []
    report: dict = {}
    for i in range(repeats):
        wall, cpu, report, tasks = _flow_once(clone(prepared, work / f"flow-{i}"), dataset, period)
        run_rows = stages.take()
        rows = rows or run_rows  # the first timed run's
        mlflow = tasks.get(TRACKING_TASK, 0.0)
        prefect = wall - sum(tasks.values())
        walls.append(wall)
        cpus.append(cpu)
        inrun.append((prefect, mlflow))
        fractions.append((prefect + mlflow) / wall)
    prefect_s, mlflow_s = np.median(np.array(inrun), axis=0)
    return {
        "flow_wall_s": float(np.median(walls)),
        "flow_cpu_s": float(np.median(cpus)),
        "prefect_inrun_s": float(prefect_s),
        "mlflow_inrun_s": float(mlflow_s),
        "overhead_fraction_inrun": float(np.median(fractions)),
        "flow_runs_wall_s": [round(w, 3) for w in walls],
        "windows": report.get("windows"),
        "retrained": report.get("retrained"),
        "stages": rows,
    }
