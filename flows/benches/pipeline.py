"""`raie bench pipeline`: Prefect + MLflow overhead and incremental cost of a nightly update.

One setup (seqrec backbone, K regions) on the first ``--max-users`` users of the real ML-100K
(a parquet table, dataset "table") runs in a scratch folder; its home is then copied so that
every measured variant starts from the identical state.

Overhead: `nightly_update(period)` (the real flow: Prefect task runs, artifacts, MLflow runs
and registrations) on one copy against `bare_update`, the same task functions called through
``.fn`` without the Prefect engine and without the MLflow lineage task, on another copy.
``overhead_fraction = (flow - bare) / flow`` on the median wall times of ``--repeats`` pairs
(alternating order); ``overhead_fraction_cpu`` is the same on CPU seconds of this process and
its children (the Prefect server included), which other loads of a shared machine disturb
less; ``overhead_fraction_inrun`` splits each flow run's own wall time (wall minus the
seconds its tasks spent Running, per the Prefect API, plus the `track-period` task), so
noise between runs cancels. Both variants run with ``--torch-threads`` intra-op threads (1:
with 2 on a loaded 2-core machine, main-thread training was up to 10x slower in one variant
only). Excluded: Python imports, the ephemeral Prefect server start-up and the MLflow
database creation (both happen during the setup), and first-use costs (a warm-up flow run
on another copy precedes timing).

Incremental cost: on a fourth copy the period's windows are edited once to learn their
routing; the windows gated Update into the ``round(K/3)`` regions with the most of them are
kept and edited again, so that those regions alone are affected. ``affected_wall_s`` trains
the affected regions' adapters (the task `train_region_adapter`), ``all_wall_s`` trains every
live region's adapter: affected regions on their identical sets, the others on a draw from
their own reservoir of the affected regions' mean set size (treated as new samples, so they
get the same validation split and early stopping).
``incremental_ratio = affected_wall_s / all_wall_s``.

MLflow runs go to a database in the scratch folder; Prefect runs go to the configured
Prefect backend (the home's, under the CLI).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
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
TRACKING_TASK = "track-period"
"""The MLflow lineage task of the nightly update (its task name)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-users", type=int, default=0, help="first N users (0 = all 943)")
    parser.add_argument("--until", default="1997-12-15", help="setup cut = the measured period")
    parser.add_argument("--regions", type=int, default=6, help="K regions at setup")
    parser.add_argument("--backbone-epochs", type=int, default=4, help="setup training cap")
    parser.add_argument("--epochs", type=int, default=None, help="adapter cap (default: config)")
    parser.add_argument("--min-train-samples", type=int, default=None, help="default: config")
    parser.add_argument("--repeats", type=int, default=2, help="timed flow/bare pairs (median)")
    parser.add_argument("--torch-threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=None, help="keep the scratch homes here")


def pipeline_config(path: str, args: argparse.Namespace) -> Any:
    """The bench's PipelineConfig: production adapter/region settings unless overridden,
    a short setup (``--backbone-epochs``), table source at ``path``."""
    from flows.params import PipelineConfig
    from raie_core.adapters import AdapterConfig
    from raie_core.backbones.seqrec import SeqRecConfig
    from raie_core.regions import RegionConfig

    regions = {"n_regions": args.regions}
    if args.min_train_samples is not None:
        regions["min_train_samples"] = args.min_train_samples
    adapters = {} if args.epochs is None else {"max_epochs": args.epochs, "patience": 1}
    return PipelineConfig(
        dataset=DATASET,
        path=path,
        every=EVERY,
        seed=args.seed,
        seqrec=SeqRecConfig(max_epochs=args.backbone_epochs, patience=2),
        regions=RegionConfig(**regions),
        adapters=AdapterConfig(**adapters),
        max_fit_windows=3000,
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


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    """(wall seconds, value) of ``call()``."""
    started = time.perf_counter()
    value = call()
    return time.perf_counter() - started, value


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


def bare_update(period: Period, dataset: str, home: str) -> dict:
    """`nightly_update`'s task sequence through ``.fn``: no Prefect engine, no MLflow.

    Mirrors flows/nightly_update.py step for step (lock, windows, both prequential
    evaluations, embedding, edit, training, retention, gate, publication); only the Prefect
    artifacts and the `track_period` task are left out.
    """
    from flows import env
    from flows.params import PipelineConfig
    from tasks.bank import bank_spec, champion
    from tasks.evaluate import BankSpec, evaluate
    from tasks.models import embed_windows, load_base, read_pipeline_config
    from tasks.store import Store
    from tasks.windows import build_period_windows

    store = Store(env.raie_home(home), dataset)
    config = PipelineConfig.model_validate(read_pipeline_config(store))
    with store.lock():
        history = store.history()
        serving = champion(store)
        vocab = load_base(store).vocab
        windows = build_period_windows.fn(store, period, config.protocol, vocab)
        scored = [
            evaluate.fn(store, spec, windows, config.adapters, config.regions)
            for spec in (bank_spec(store, serving), BankSpec(None, {}))
        ]
        keys = embed_windows.fn(store, windows)
        return _bare_edit_publish(store, config, history, serving, period, windows, keys, scored)


def _bare_edit_publish(store, config, history, serving, period, windows, keys, scored) -> dict:  # noqa: ANN001
    """The edit, training, retention, gate and publication steps of `bare_update`."""
    from flows.nightly_update import bank_version_fields, period_adapters
    from raie_core.evaluation import quality_gate
    from tasks.adapters import train_region_adapter
    from tasks.bank import bank_spec, publish_bank_version
    from tasks.evaluate import BankSpec, evaluate
    from tasks.records import SetupRecord
    from tasks.regions import edit_period_regions

    label, current = period.label, history[-1]
    setup = SetupRecord.read(store, history[0])
    regions_path = bank_spec(store, current).regions_path
    summary = edit_period_regions.fn(
        store, regions_path, keys, config.regions, len(history), config.seed, period.key
    )
    trained = [
        train_region_adapter.fn(store, config.adapters, summary, rid, current.adapters, config.seed)
        for rid in summary.affected
    ]
    adapters = period_adapters(current.adapters, summary, trained)
    spec = BankSpec(summary.regions_path, adapters)
    retention = evaluate.fn(store, spec, setup.heldout, config.adapters, config.regions)
    reference = setup.retention_reference
    gate = quality_gate(retention["NDCG@10"], reference, config.retention_tolerance)
    fields = bank_version_fields(
        config, label, windows, summary, adapters, (*scored, retention), gate, serving
    )
    version = publish_bank_version.fn(store, **fields)
    return {
        "period": label,
        "version": version,
        "windows": windows.rows,
        "live": len(summary.live_ids),
        "retrained": len(trained),
    }


def focus_batch(
    store: Any, embeddings: str, decisions_path: str, n_focus: int
) -> tuple[str, list[int]]:
    """Embeddings of the windows gated Update into the ``n_focus`` regions with most of them.

    Returns the saved (X, keys) file and the chosen region ids (ascending).
    """
    from safetensors.numpy import save_file

    from tasks.models import load_embeddings

    updates = pl.read_parquet(decisions_path).filter(pl.col("action") == "UPDATE")
    top = updates.group_by("k1").len().sort(["len", "k1"], descending=[True, False])
    chosen = sorted(int(k) for k in top["k1"].head(n_focus))
    kept = updates.filter(pl.col("k1").is_in(chosen))["key"].to_numpy()
    X, keys = load_embeddings(embeddings)
    mask = np.isin(keys, kept)
    path = store.work_dir("bench-focus") / "embeddings.safetensors"
    save_file({"X": np.ascontiguousarray(X[mask]), "keys": keys[mask]}, str(path))
    return str(path), chosen


def all_region_sets(summary: Any, seed: int) -> Any:
    """``summary`` with a training set for every live region (all of them affected).

    Affected regions keep their sets; each other region is retrained on its own data: a
    seeded draw from its reservoir of the affected regions' mean set size (all of it when
    smaller), marked NEW so that it gets a validation split and early stopping like the
    affected regions (all-replay sets would always run every epoch).
    """
    from safetensors.numpy import load_file, save_file

    from raie_core.regions import SampleSource, load_regions

    arrays = load_file(summary.sets_path)
    sizes = [arrays[f"keys_{rid}"].size for rid in summary.affected]
    want = int(round(float(np.mean(sizes)))) if sizes else 0
    regions = load_regions(summary.regions_path)
    for rid in summary.live_ids:
        if rid in summary.affected:
            continue
        pool = regions.reservoir(rid)
        rng = np.random.default_rng([seed, rid])
        keys = np.sort(rng.choice(pool, size=min(want, pool.size), replace=False)).astype(np.int64)
        arrays |= {
            f"keys_{rid}": keys,
            f"weights_{rid}": np.ones(keys.size, dtype=np.float32),
            f"source_{rid}": np.full(keys.size, SampleSource.NEW, dtype=np.int8),
        }
    path = Path(summary.sets_path).with_name("all_training_sets.safetensors")
    save_file(arrays, str(path))
    return dataclasses.replace(summary, sets_path=str(path), affected=sorted(summary.live_ids))


def measure_incremental(home: str, period: Period, seed: int) -> dict[str, Any]:
    """Train the affected regions' adapters vs every live region's (one prepared copy)."""
    from flows.params import PipelineConfig
    from raie_core.regions import load_regions
    from tasks.adapters import train_region_adapter
    from tasks.bank import bank_spec
    from tasks.models import embed_windows, load_base, read_pipeline_config
    from tasks.regions import edit_period_regions
    from tasks.store import Store
    from tasks.windows import build_period_windows

    store = Store(Path(home), DATASET)
    config = PipelineConfig.model_validate(read_pipeline_config(store))
    with store.lock():
        history = store.history()
        current = history[-1]
        regions_path = bank_spec(store, current).regions_path
        windows = build_period_windows.fn(store, period, config.protocol, load_base(store).vocab)
        keys = embed_windows.fn(store, windows)
        edit = (config.regions, len(history), seed)
        probe = edit_period_regions.fn(store, regions_path, keys, *edit, "bench-probe")
        n_focus = max(1, round(len(load_regions(regions_path).live_ids) / 3))
        focus, chosen = focus_batch(store, keys, probe.decisions_path, n_focus)
        summary = edit_period_regions.fn(store, regions_path, focus, *edit, "bench-edit")

        def train(target: Any) -> list[Any]:
            return [
                train_region_adapter.fn(store, config.adapters, target, rid, current.adapters, seed)
                for rid in target.affected
            ]

        affected_s, trained = timed(lambda: train(summary))
        everything = all_region_sets(summary, seed)
        all_s, _ = timed(lambda: train(everything))
    return {
        "period_windows": windows.rows,
        "focus_windows": int(sum(summary.counts.values())),
        "chosen": chosen,
        "affected_ids": list(summary.affected),
        "affected": len(summary.affected),
        "live": len(summary.live_ids),
        "affected_samples": int(sum(i.n_new + i.n_replay for i in trained)),
        "affected_wall_s": affected_s,
        "all_wall_s": all_s,
        "incremental_ratio": affected_s / all_s if all_s > 0 else float("nan"),
    }


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
    """Median wall and CPU time of the flow and of the bare sequence, each on a fresh copy,
    plus the in-run split of the flow's wall time (Prefect API task times)."""
    _flow_once(clone(prepared, work / "warmup"), period)
    runs: dict[str, list[tuple[float, float]]] = {"flow": [], "bare": []}
    inrun: list[tuple[float, float]] = []
    report: dict = {}
    for i in range(repeats):
        for kind in ("flow", "bare") if i % 2 == 0 else ("bare", "flow"):
            home = clone(prepared, work / f"{kind}-{i}")
            if kind == "flow":
                wall, cpu, report, tasks = _flow_once(home, period)
                mlflow = tasks.get(TRACKING_TASK, 0.0)
                inrun.append((wall - sum(tasks.values()), mlflow))
            else:
                wall, cpu, _ = timed_cpu(lambda h=home: bare_update(period, DATASET, h))
            runs[kind].append((wall, cpu))
    flow, bare = (np.median(np.array(runs[k]), axis=0) for k in ("flow", "bare"))
    prefect_s, mlflow_s = np.median(np.array(inrun), axis=0)
    fractions = [(p + m) / w for (p, m), (w, _) in zip(inrun, runs["flow"], strict=True)]
    return {
        "flow_wall_s": float(flow[0]),
        "bare_wall_s": float(bare[0]),
        "overhead_fraction": float((flow[0] - bare[0]) / flow[0]),
        "flow_cpu_s": float(flow[1]),
        "bare_cpu_s": float(bare[1]),
        "overhead_fraction_cpu": float((flow[1] - bare[1]) / flow[1]),
        "prefect_inrun_s": float(prefect_s),
        "mlflow_inrun_s": float(mlflow_s),
        "overhead_fraction_inrun": float(np.median(fractions)),
        "flow_runs_wall_s": [round(w, 3) for w, _ in runs["flow"]],
        "bare_runs_wall_s": [round(w, 3) for w, _ in runs["bare"]],
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
        print(json.dumps(result))
    else:
        _print_table(result)
    return 0


def _measure(args: argparse.Namespace) -> dict[str, Any]:
    from flows.setup import setup
    from raie_core.data import Period

    period = Period.parse(args.until, EVERY)
    with _workdir(args.workdir) as work, mlflow_at(work):
        config = pipeline_config(write_slice(work, args.max_users), args)
        prepared = work / "prepared"
        setup_s, _ = timed(lambda: setup(config=config, until=period.start, home=str(prepared)))
        overhead = measure_overhead(prepared, work, period, args.repeats)
        incremental = measure_incremental(clone(prepared, work / "incremental"), period, args.seed)
    result = {
        "data": f"ml-100k first {args.max_users or 'all'} users",
        "period": period.label,
        "regions_at_setup": args.regions,
        "setup_wall_s": setup_s,
        "repeats": args.repeats,
        "torch_threads": args.torch_threads,
        "adapter_max_epochs": config.adapters.max_epochs,
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
    print(f"{'nightly update, bare tasks (s)':<34}{r['bare_wall_s']:>12.2f}")
    print(f"{'Prefect + MLflow overhead (wall)':<34}{r['overhead_fraction']:>12.3f}{'<= 0.10':>10}")
    print(
        f"{'nightly update CPU, flow / bare (s)':<34}{r['flow_cpu_s']:>6.1f} /{r['bare_cpu_s']:>5.1f}"
    )
    print(f"{'Prefect + MLflow overhead (CPU)':<34}{r['overhead_fraction_cpu']:>12.3f}")
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
