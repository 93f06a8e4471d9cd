"""`raie setup|update|backfill|recommend|demo`: the product's daily commands.

Flows are imported when a command runs, so `raie --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from datetime import UTC, date, datetime

from flows import env
from flows.choices import BACKBONES, EVERY, MODES
from flows.commands.data import parse_mapping
from flows.commands.output import print_json
from flows.commands.writer import dataset_writer
from flows.progress import period_table, progress_bar, progress_enabled, training_bar
from raie_core.errors import RaieConfigError

LANDING_HELP = "folder where new interaction files land (default <home>/landing/<dataset>)"
NO_CACHE_HELP = (
    "compute windows and embeddings afresh and leave the cache of <home>/cache untouched "
    "(CacheConfig.enabled=false; default: reuse them when their inputs are unchanged)"
)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 1998-01-05") from None


def _utc_today() -> date:
    return datetime.now(UTC).date()


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument(
        "--dataset", default=env.DEFAULT_DATASET, help="dataset name (default ml-100k)"
    )

    p = sub.add_parser("setup", parents=[common], help="train the base and fit regions")
    p.add_argument("--dataset", default=None, help="dataset name (default ml-100k)")
    p.add_argument(
        "--config",
        default=None,
        help="YAML/JSON file of pipeline settings (docs/pipeline-config.yaml); flags win",
    )
    p.add_argument("--path", default=None, help="source folder/file for movielens/yelp/table")
    p.add_argument("--until", type=_date, default=None, help="setup cut date (default: t^S)")
    p.add_argument(
        "--every", default=None, choices=EVERY, help="period length (default 1w, 1mo for ml-1m)"
    )
    p.add_argument(
        "--map",
        dest="mapping",
        type=parse_mapping,
        default=None,
        help="table columns, e.g. user=uid,item=sku,timestamp=ts,rating=stars (default: the "
        "schema's names)",
    )
    p.add_argument("--backbone", default=None, choices=BACKBONES, help="default seqrec")
    p.add_argument("--seed", type=int, default=None, help="default 0")
    p.add_argument("--regions", type=int, default=None, help="K of the setup fit (default 5)")
    p.add_argument(
        "--max-windows", type=int, default=None, help="llm: setup windows budget (seeded subset)"
    )
    p.add_argument(
        "--on-error",
        choices=MODES,
        default="strict",
        help="bad data rows: fail (strict, default) or set aside in quarantine.parquet",
    )
    p.add_argument("--no-cache", action="store_true", help=NO_CACHE_HELP)
    p.set_defaults(handler=_setup, watched=True)  # starts a Prefect server

    p = sub.add_parser("update", parents=[common, data], help="one nightly update")
    p.add_argument(
        "--period", type=_date, default=None, help="period start (default: last complete)"
    )
    p.add_argument("--force", action="store_true", help="re-run a published period")
    p.add_argument("--landing", default=None, help=LANDING_HELP)
    p.add_argument("--no-cache", action="store_true", help=NO_CACHE_HELP)
    _add_fail_on_reject(p)
    p.set_defaults(handler=_update, watched=True)  # starts a Prefect server

    p = sub.add_parser("backfill", parents=[common, data], help="replay periods in order")
    p.add_argument(
        "--start", type=_date, default=None, help="first period (default: the first after setup)"
    )
    p.add_argument("--end", type=_date, default=None, help="last period (default: the newest)")
    p.add_argument(
        "--every",
        choices=EVERY,
        default=None,
        help="period length; fixed at setup, so it must be the setup's (default: the setup's)",
    )
    p.add_argument("--force", action="store_true", help="re-run published periods")
    p.add_argument("--landing", default=None, help=LANDING_HELP)
    p.add_argument("--no-cache", action="store_true", help=NO_CACHE_HELP)
    _add_fail_on_reject(p)
    p.set_defaults(handler=_backfill, watched=True)  # starts a Prefect server

    p = sub.add_parser("recommend", parents=[common, data], help="top-k from the champion")
    p.add_argument("--user", required=True, help="user id, as in the data")
    p.add_argument("--k", type=int, default=10, help="number of items")
    p.set_defaults(handler=_recommend)

    p = sub.add_parser("demo", parents=[common], help="the main job on real ML-100K")
    p.add_argument("--keep", action="store_true", help="keep an earlier demo's state")
    p.set_defaults(handler=_demo, default_home=".raie/demo", watched=True)


REJECTED_EXIT = 3
"""Exit code of `raie update|backfill --fail-on-reject` when the gate rejected a candidate."""


def _add_fail_on_reject(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fail-on-reject",
        action="store_true",
        help=f"exit with code {REJECTED_EXIT} when the gate rejected a candidate (the version "
        "is still published for audit; the champion stays)",
    )


def _rejected_exit(args: argparse.Namespace, reports: list[dict]) -> int:
    """0, or `REJECTED_EXIT` with one sentence on stderr when ``--fail-on-reject`` and a
    report says the gate rejected its candidate."""
    rejected = [r for r in reports if r.get("gate") == "fail"]
    if not (args.fail_on_reject and rejected):
        return 0
    names = ", ".join(f"v{r['version']} ({r['period']}): {r['gate_reason']}" for r in rejected)
    print(f"raie: the gate rejected {len(rejected)} candidate(s): {names}", file=sys.stderr)
    return REJECTED_EXIT


def _config(args: argparse.Namespace):  # noqa: ANN202 - PipelineConfig
    """``--config FILE`` (YAML or JSON, any subset of `PipelineConfig`), then the flags given.

    ``--max-windows`` is the llm's CPU budget: setup windows and region fitting."""
    from flows.params import run_config

    budget = args.max_windows
    flags = {
        "dataset": args.dataset,
        "path": args.path,
        "mapping": args.mapping,
        "every": args.every,
        "backbone": args.backbone,
        "seed": args.seed,
        "regions": {
            "n_regions": args.regions,
            "max_fit_windows": None if budget is None else max(budget, 100),
        },
        "llm": {"max_windows": budget},
    }
    return run_config(args.config, flags)


def _setup(args: argparse.Namespace) -> int:
    config = _config(args)
    with dataset_writer(args.home, config.dataset, setup=True):
        env.torch_threads()
        from flows.setup import setup

        epochs = (config.llm if config.backbone == "llm" else config.seqrec).train.max_epochs
        with training_bar(epochs, progress_enabled(args.json)):
            report = setup(
                config=config,
                until=args.until,
                home=args.home,
                on_error=args.on_error,
                cache=_cache(args),
            )
    _print(args, report, "setup done")
    return 0


def _cache(args: argparse.Namespace):  # noqa: ANN202 - tasks.cache.CacheConfig
    """The flows' `CacheConfig` from ``--no-cache``."""
    from tasks.cache import CacheConfig

    return CacheConfig(enabled=not args.no_cache)


def _verified_champion(args: argparse.Namespace) -> None:
    """Refuse a corrupted champion or base before Prefect starts (one sentence, no flow run);
    the flow checks again under its lock."""
    from tasks.bank import champion
    from tasks.models import verify_base
    from tasks.store import Store

    store = Store(env.raie_home(args.home), args.dataset)
    if store.current_version() is not None:
        verify_base(store)
        champion(store)


def _dask_reporting():  # noqa: ANN202 - a context manager
    """With RAIE_TASK_RUNNER=dask, the Dask workers report to this run's Prefect server
    (`env.workers_report_here`); otherwise nothing."""
    return env.workers_report_here() if env.dask_regions() else nullcontext()


def _update(args: argparse.Namespace) -> int:
    with dataset_writer(args.home, args.dataset):
        env.torch_threads()
        _verified_champion(args)
        from flows.nightly_update import checked_period, nightly_update
        from tasks.store import Store

        # refused periods and a home without a finished setup: one sentence before Prefect
        checked_period(Store(env.raie_home(args.home), args.dataset), args.period, _utc_today())
        with _dask_reporting():
            report = nightly_update(
                period=args.period,
                dataset=args.dataset,
                home=args.home,
                force=args.force,
                landing=args.landing,
                cache=_cache(args),
            )
    title = "update: no-op" if not report.get("published", True) else "update done"
    if report.get("gate") == "fail":
        title = "update done, candidate REJECTED (the champion stays)"
    _print(args, report, title)
    return _rejected_exit(args, [report])


def _backfill(args: argparse.Namespace) -> int:
    with dataset_writer(args.home, args.dataset):
        env.torch_threads()
        _verified_champion(args)
        from flows.backfill import backfill
        from tasks.bank import require_setup
        from tasks.store import Store

        store = Store(env.raie_home(args.home), args.dataset)
        require_setup(store)
        _check_every(store, args.every)
        with progress_bar(progress_enabled(args.json)), _dask_reporting():
            reports = backfill(
                start=args.start,
                end=args.end,
                dataset=args.dataset,
                home=args.home,
                force=args.force,
                landing=args.landing,
                cache=_cache(args),
            )
    if args.json:
        print_json({"dataset": args.dataset, "periods": reports})
    else:
        print(period_table(reports))
    return _rejected_exit(args, reports)


def _check_every(store, every: str | None) -> None:  # noqa: ANN001 - tasks.store.Store
    """``--every`` of a backfill: the period length is fixed at setup, so only that one."""
    from flows.params import stored_config

    fixed = stored_config(store).every
    if every is not None and every != fixed:
        raise RaieConfigError(
            f"--every {every} does not match the period length {fixed} that setup fixed for "
            f"{store.dataset}; leave --every out or pass --every {fixed}"
        )


def _recommend(args: argparse.Namespace) -> int:
    env.torch_threads()
    from flows.params import stored_config
    from tasks.serving import recommend
    from tasks.store import Store

    store = Store(env.raie_home(args.home), args.dataset)
    config = stored_config(store)
    result = recommend(store, args.user, args.k, config.protocol, config.regions, config.adapters)
    if args.json:
        print_json(result)
        return 0
    served = (
        "the base (outside every region)"
        if result["region"] is None
        else f"region {result['region']}"
    )
    print(
        f"Top {args.k} for user {result['user']} — served by {served}, bank v{result['bank_version']}"
    )
    for rank, item in enumerate(result["items"], 1):
        print(f"{rank:3d}. {item['title']}  (item {item['item_id']}, score {item['score']:.3f})")
    return 0


def _demo(args: argparse.Namespace) -> int:
    if args.json:
        print(
            "raie demo: error: the demo is a walkthrough for a terminal and has no --json; "
            "raie setup --json and raie backfill --json print its results as JSON",
            file=sys.stderr,
        )
        return 2
    env.torch_threads()
    from flows.demo import run_demo

    return run_demo(args)


def _print(args: argparse.Namespace, report: dict, title: str) -> None:
    if args.json:
        print_json(report)
    else:
        print(title + ": " + ", ".join(f"{k}={v}" for k, v in report.items()))
