"""`raie bench pipeline`: Prefect + MLflow overhead and incremental cost of a nightly update.

One setup (seqrec backbone, K regions) on the first ``--max-users`` users of the real ML-100K
(a parquet table, dataset "table") runs in a scratch folder; its home is then copied so that
every measured variant starts from the identical state.

Overhead: ``--repeats`` runs of `nightly_update(period)` (the real flow: Prefect task runs,
artifacts, MLflow runs and registrations), each on a fresh copy. ``overhead_fraction_inrun``
splits each run's own wall time: wall minus the seconds its tasks spent Running (per the
Prefect API), plus the `finish-publication` task, so noise between runs cancels. There is no
second copy of the update step to compare against: the flow's tasks are the step
(`raie_core.update`). Runs use ``--torch-threads`` intra-op threads (1: with 2 on a loaded
2-core machine, main-thread training was up to 10x slower). Excluded: Python imports, the
ephemeral Prefect server start-up and the MLflow database creation (both happen during the
setup), and first-use costs (a warm-up flow run on another copy precedes timing).

Incremental cost: `flows.benches.incremental` (affected regions vs every live region).

MLflow runs go to a database in the scratch folder; Prefect runs go to the configured
Prefect backend (the home's, under the CLI).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from flows.benches.incremental import timed
from flows.commands.output import print_json
from raie_core.errors import RaieConfigError, RaieStateError

if TYPE_CHECKING:
    from raie_core.data import Period

OVERHEAD_TARGET = 0.10
"""Issue 5: Prefect + MLflow should cost at most 10 % of a nightly update's wall time."""
INCREMENTAL_TARGET = 0.4
"""Issue 5: affected-only training should cost at most 0.4 of all-region training."""
DATASET = "table"
EVERY = "1w"
"""The bench measures one weekly period (``--until`` is a Monday)."""
TRACKING_TASK = "finish-publication"
"""The MLflow task of the nightly update (its task name): lineage, registrations and the
gate's champion move (`tasks.publish`)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-users", type=int, default=0, help="first N users (0 = all 943)")
    parser.add_argument("--until", default="1997-12-15", help="setup cut = the measured period")
    parser.add_argument("--regions", type=int, default=6, help="K regions at setup")
    parser.add_argument("--backbone-epochs", type=int, default=4, help="setup training cap")
    parser.add_argument("--epochs", type=int, default=None, help="adapter cap (default: config)")
    parser.add_argument("--min-train-samples", type=int, default=None, help="default: config")
    parser.add_argument("--repeats", type=int, default=2, help="timed flow runs (median)")
    parser.add_argument("--torch-threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--seed", type=int, default=0, help="pipeline seed")
    parser.add_argument("--workdir", default=None, help="keep the scratch homes here")


def pipeline_config(path: str, args: argparse.Namespace) -> Any:
    """The bench's PipelineConfig: production adapter/region settings unless overridden,
    a short setup (``--backbone-epochs``), table source at ``path``."""
    from flows.params import PipelineConfig
    from raie_core.adapters import AdapterConfig
    from raie_core.backbones.seqrec import SeqRecConfig
    from raie_core.regions import RegionConfig
    from raie_core.training import TrainConfig

    regions = {"n_regions": args.regions}
    if args.min_train_samples is not None:
        regions["min_train_samples"] = args.min_train_samples
    regions["max_fit_windows"] = 3000
    train = TrainConfig() if args.epochs is None else TrainConfig(max_epochs=args.epochs)
    return PipelineConfig(
        dataset=DATASET,
        path=path,
        every=EVERY,
        seed=args.seed,
        seqrec=SeqRecConfig(train=TrainConfig(max_epochs=args.backbone_epochs, patience=2)),
        regions=RegionConfig(**regions),
        adapters=AdapterConfig(train=train),
    )


def write_slice(folder: Path, max_users: int) -> str:
    """The first ``max_users`` users of ML-100K (all when 0) as a parquet table."""
    from raie_core.data import load_dataset

    frame = load_dataset("ml-100k").interactions
    if max_users > 0:
        users = frame["user_id"].unique().sort()[:max_users]
        frame = frame.filter(pl.col("user_id").is_in(users.implode()))
    path = folder / "ml100k-slice.parquet"
    frame.write_parquet(path)
    return str(path)


@contextmanager
def mlflow_at(folder: Path) -> Iterator[None]:
    """Point MLflow at a database in ``folder`` for the duration (restored afterwards)."""
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old


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


def task_seconds(flow_run_id: Any, timeout_s: float = 30.0) -> dict[str, float]:
    """Seconds in Running of each task of a flow run, summed per task name (Prefect API).

    Task states reach the API through events, so this polls until every task run is final.
    """
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
    seconds: dict[str, float] = {}
    for r in runs:
        name = r.name.rsplit("-", 1)[0]
        seconds[name] = seconds.get(name, 0.0) + r.total_run_time.total_seconds()
    return seconds


def _flow_once(home: str, period: Period) -> tuple[float, float, dict, dict[str, float]]:
    """(wall, cpu, report, task seconds) of one `nightly_update` run."""
    from flows.nightly_update import nightly_update

    wall, cpu, state = timed_cpu(
        lambda: nightly_update(period=period.start, dataset=DATASET, home=home, return_state=True)
    )
    return wall, cpu, state.result(), task_seconds(state.state_details.flow_run_id)


def measure_overhead(prepared: Path, work: Path, period: Period, repeats: int) -> dict[str, Any]:
    """Median wall and CPU time of ``repeats`` runs of the real flow, each on a fresh copy,
    and the in-run split of each run's wall time (Prefect API task times)."""
    _flow_once(clone(prepared, work / "warmup"), period)
    walls, cpus, inrun, fractions = [], [], [], []
    report: dict = {}
    for i in range(repeats):
        wall, cpu, report, tasks = _flow_once(clone(prepared, work / f"flow-{i}"), period)
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
    }


def run(args: argparse.Namespace) -> int:

    import torch

    if args.repeats < 1:
        raise RaieConfigError(f"--repeats {args.repeats} should be >= 1")
    threads = torch.get_num_threads()
    torch.set_num_threads(args.torch_threads)
    try:
        result = _measure(args)
    finally:
        torch.set_num_threads(threads)
    if args.json:
        print_json(result)
    else:
        _print_table(result)
    return 0


def _land(home: Path, period: Any) -> None:
    """Replay ``period`` into the home's landing zone and ingest it (what the nightly flow's
    first task does), so the incremental measure finds its snapshot and every timed flow run
    finds nothing new to ingest."""
    from flows.commands.replay import replay_home
    from tasks.landing import ingest_period
    from tasks.store import Store

    replay_home(home, DATASET, period.end)
    store = Store(home, DATASET)
    ingest_period(store, store.landing_dir, period, period.start)


def _measure(args: argparse.Namespace) -> dict[str, Any]:
    from flows.benches.incremental import measure_incremental
    from flows.setup import setup
    from raie_core.data import Period

    period = Period.parse(args.until, EVERY)
    with _workdir(args.workdir) as work, mlflow_at(work):
        config = pipeline_config(write_slice(work, args.max_users), args)
        prepared = work / "prepared"
        setup_s, _ = timed(lambda: setup(config=config, until=period.start, home=str(prepared)))
        _land(prepared, period)
        overhead = measure_overhead(prepared, work, period, args.repeats)
        copy = clone(prepared, work / "incremental")
        incremental = measure_incremental(copy, DATASET, period, args.seed)
    result = {
        "data": f"ml-100k first {args.max_users or 'all'} users",
        "period": period.label,
        "regions_at_setup": args.regions,
        "setup_wall_s": setup_s,
        "repeats": args.repeats,
        "torch_threads": args.torch_threads,
        "adapter_max_epochs": config.adapters.train.max_epochs,
        "min_train_samples": config.regions.min_train_samples,
        **overhead,
        **incremental,
        "overhead_target": OVERHEAD_TARGET,
        "incremental_target": INCREMENTAL_TARGET,
        "excluded": "imports, Prefect server start-up, MLflow db creation, first-use warm-up run",
    }
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}


@contextmanager
def _workdir(folder: str | None) -> Iterator[Path]:
    if folder is not None:
        path = Path(folder).resolve()
        path.mkdir(parents=True, exist_ok=False)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="raie-bench-pipeline-") as tmp:
        yield Path(tmp)


def _print_table(r: dict[str, Any]) -> None:
    print(
        f"raie bench pipeline: {r['data']}, period {r['period']}, K={r['regions_at_setup']}, "
        f"{r['windows']} windows, setup {r['setup_wall_s']:.1f} s"
    )
    print(f"{'measure':<34}{'value':>12}{'target':>10}")
    print(f"{'nightly update, flow (s)':<34}{r['flow_wall_s']:>12.2f}")
    print(f"{'nightly update CPU (s)':<34}{r['flow_cpu_s']:>12.1f}")
    print(
        f"{'in-run Prefect / MLflow (s)':<34}{r['prefect_inrun_s']:>6.2f} /{r['mlflow_inrun_s']:>5.2f}"
    )
    print(
        f"{'Prefect + MLflow overhead (in-run)':<34}{r['overhead_fraction_inrun']:>12.3f}{'<= 0.10':>10}"
    )
    print(f"{'train affected regions (s)':<34}{r['affected_wall_s']:>12.2f}")
    print(f"{'train all live regions (s)':<34}{r['all_wall_s']:>12.2f}")
    print(
        f"{'incremental ratio':<34}{r['incremental_ratio']:>12.3f}{'<= 0.4':>10}"
        f"  ({r['affected']} of {r['live']} regions affected)"
    )
    print(f"excluded from timing: {r['excluded']}")
