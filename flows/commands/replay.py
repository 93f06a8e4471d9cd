"""`raie data replay`: play a dataset's interactions after setup's cut into a landing zone, one
file per period (tasks/replay.py), so the nightly update ingests them as if they arrived.

    raie data replay --dataset D --until DATE [--into LANDING] [--every 1w] [--since DATE]

Defaults come from the dataset's set-up home (``--home``): ``--into`` its landing zone
(`<home>/landing/<dataset>/`), ``--since`` its setup cut, ``--every`` its cadence and
``--path`` its source; without a set-up home, ``--since`` (and ``--path`` for sources that
need one) must be given.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from flows import env
from raie_core.errors import RaieConfigError

DEFAULT_EVERY = "1w"
"""The cadence of a replay into a home where the dataset is not set up (else the home's)."""


def register(data_sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add `raie data replay` to the `raie data` parser."""
    from flows.choices import EVERY, FORMATS
    from flows.commands.data import _add_source_flags
    from flows.commands.pipeline import _date

    p = data_sub.add_parser(
        "replay", parents=[common], help="play a dataset into a landing zone, period by period"
    )
    p.add_argument(
        "--dataset", choices=FORMATS, default=env.DEFAULT_DATASET, help="default ml-100k"
    )
    p.add_argument("--into", default=None, help="landing zone (default <home>/landing/<dataset>)")
    p.add_argument(
        "--until",
        type=_date,
        required=True,
        help="replay the periods that have ended by this date (YYYY-MM-DD)",
    )
    p.add_argument(
        "--since", type=_date, default=None, help="first day replayed (default: setup cut)"
    )
    p.add_argument("--every", choices=EVERY, default=None, help="default: the home's cadence")
    _add_source_flags(p)
    p.set_defaults(handler=run_replay)


def replay_home(
    home: str | Path | None,
    dataset: str,
    until: date,
    *,
    into: str | Path | None = None,
    since: date | None = None,
    every: str | None = None,
    path: str | None = None,
    mode: str = "strict",
    mapping: dict[str, str] | None = None,
) -> dict:
    """The Python form of `raie data replay`: unset arguments come from the dataset's set-up
    home (landing zone, setup cut, cadence, source path)."""
    from flows.params import stored_config
    from tasks.bank import require_setup
    from tasks.replay import replay
    from tasks.store import Store

    store = Store(env.raie_home(home), dataset)
    if store.current_version() is not None:
        config = stored_config(store)
        since = since or require_setup(store).until
        every, path = every or config.every, path or config.path
    elif since is None:
        raise RaieConfigError(
            f"--since is needed: dataset {dataset} is not set up in {store.home} (its setup "
            "cut is the default)"
        )
    target = Path(into) if into is not None else store.landing_dir
    every = every or DEFAULT_EVERY
    return replay(dataset, target, since, until, every, path=path, mode=mode, mapping=mapping)


def run_replay(args: argparse.Namespace) -> int:
    summary = replay_home(
        args.home,
        args.dataset,
        args.until,
        into=args.into,
        since=args.since,
        every=args.every,
        path=args.path,
        mode=args.mode,
        mapping=args.mapping,
    )
    if args.json:
        from flows.commands.output import print_json

        print_json(summary)
        return 0
    span = f"{summary['first']} .. {summary['last']}" if summary["first"] else "no period"
    print(
        f"replayed {span} into {summary['into']}: {summary['written']} file(s) written "
        f"({summary['rows']} rows), {summary['unchanged']} already there"
    )
    return 0
