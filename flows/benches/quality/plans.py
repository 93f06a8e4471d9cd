"""What every method of `raie bench quality` sees: the data slice and the plan cut from it
(paper, streaming or validation preset, then the seeded window budgets)."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from raie_core.data.periods import Every, Period
from raie_core.errors import RaieConfigError
from raie_core.protocol import (
    ProtocolConfig,
    Windows,
    build_vocab,
    cut_points,
    paper_split,
    period_windows,
    streaming_setup,
)

DAY = 86_400
OLD_STRIDE = 5
"""Streaming: every 5th setup-training window is the replay / region-fitting source (the
paper preset uses its stride-5 S windows)."""
VALIDATION_QUANTILE = 0.75
"""--validate: F windows whose target time is below this quantile train, the rest validate."""
VALIDATION_STRIDE = 1
"""--validate scores every late-F window (stride 1): on ML-100K 2,579 windows instead of the
543 at the protocol's stride 5, which come from only 68 users and cannot separate methods."""
BUDGET_SEED = 0
"""--max-update-windows / --max-eval-windows subsets use one fixed seed, so every seed, method
and backbone sees the same rows."""


@dataclass(frozen=True, eq=False)
class Plan:
    """What every method sees: backbone training windows, setup (replay) windows, the update
    periods (label, windows), the evaluation blocks and whether periods are prequential."""

    train: Windows
    setup: Windows
    periods: list[tuple[str, Windows]]
    blocks: dict[str, Windows]
    prequential: bool


def load(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """(interactions, vocabulary, item catalog or None) of ``args.dataset``, cut to the first
    ``args.max_users`` users when set."""
    from raie_core.data import load_dataset  # deferred: keeps `raie --help` fast

    dataset = load_dataset(args.dataset, args.path)
    interactions = dataset.interactions
    if args.max_users is not None:
        users = interactions["user_id"].unique().sort()[: args.max_users]
        interactions = interactions.filter(interactions["user_id"].is_in(users.implode()))
    has_items = dataset.items is not None and dataset.items.height
    catalog = dataset.items if has_items else None
    return interactions, build_vocab(catalog if has_items else interactions), catalog


def day_label(ts: int) -> str:
    """The ISO date of the UTC day holding ``ts`` (seconds)."""
    return Period.containing(ts, Every.DAY).label


def paper_plan(
    interactions: Any, config: ProtocolConfig, vocab: Any, validate: bool = False
) -> Plan:
    """Setup on S, one update on F, blocks S (held-out) and T; with ``validate``, update on
    early F (protocol stride) and score every late-F window (block V, `VALIDATION_STRIDE`):
    T is never touched, so defaults can be tuned here."""
    split = paper_split(interactions, config, vocab)
    if validate:
        f = split.finetune
        cut = np.quantile(f.timestamp, VALIDATION_QUANTILE)
        dense = paper_split(
            interactions, dataclasses.replace(config, stride=VALIDATION_STRIDE), vocab
        ).finetune
        return Plan(
            train=split.setup_train,
            setup=split.setup,
            periods=[("F-early", f.subset(f.timestamp < cut))],
            blocks={"S": split.setup_heldout, "V": dense.subset(dense.timestamp >= cut)},
            prequential=False,
        )
    return Plan(
        train=split.setup_train,
        setup=split.setup,
        periods=[("F", split.finetune)],
        blocks={"S": split.setup_heldout, "T": split.test},
        prequential=False,
    )


def streaming_plan(
    interactions: Any, config: ProtocolConfig, vocab: Any, args: argparse.Namespace
) -> Plan:
    """Setup before the cut, then one update per calendar period (`Period`, the nightly
    flow's periods: Monday weeks, 1st-of-month months); prequential scores, retention on S.
    The cut is ``--cut`` (a period start) or, like `raie setup`, the start of the period
    holding t^S. With ``args.validate`` the periods stop at t^F (the last one cut there):
    T is never touched."""
    t_setup, t_finetune = cut_points(interactions, config)
    every = Every.parse(args.every)
    first = Period.containing(t_setup, every) if args.cut is None else Period.parse(args.cut, every)
    cut = first.start_seconds
    train, heldout = streaming_setup(interactions, cut, config, vocab)
    end = t_finetune if args.validate else int(interactions["timestamp"].max()) + 1
    periods = []
    for period in Period.range(first, Period.containing(end - 1, every)):
        span = (period.start_seconds, min(period.end_seconds, end))
        windows = period_windows(interactions, span, config, vocab)
        if len(windows):
            periods.append((period.label, windows))
    periods = periods[: args.max_periods]
    if not periods:
        raise RaieConfigError(
            f"--cut {first.label} leaves no streaming period before {day_label(end)}"
        )
    setup = train.subset(np.arange(0, len(train), OLD_STRIDE))
    return Plan(train=train, setup=setup, periods=periods, blocks={"S": heldout}, prequential=True)


def budget_plan(plan: Plan, max_update: int | None, max_eval: int | None) -> Plan:
    """``plan`` with the setup (replay) set, each update period and each scored block cut to
    seeded subsets; the backbone's training windows are left whole."""
    return Plan(
        train=plan.train,
        setup=plan.setup.sample(max_update, BUDGET_SEED),
        periods=[(label, w.sample(max_update, BUDGET_SEED)) for label, w in plan.periods],
        blocks={b: w.sample(max_eval, BUDGET_SEED) for b, w in plan.blocks.items()},
        prequential=plan.prequential,
    )


def bench_plan(
    interactions: Any, vocab: Any, args: argparse.Namespace, protocol: ProtocolConfig
) -> Plan:
    """The plan of ``args.preset`` (and ``--validate``), cut to the ``--max-update-windows`` /
    ``--max-eval-windows`` budgets."""
    plan = (
        paper_plan(interactions, protocol, vocab, args.validate)
        if args.preset == "paper"
        else streaming_plan(interactions, protocol, vocab, args)
    )
    return budget_plan(plan, args.max_update_windows, args.max_eval_windows)
