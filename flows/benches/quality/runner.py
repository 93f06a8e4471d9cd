"""The run loop of `raie bench quality`: every method x seed on one plan, each method in
process through `raie_core` (not through the Prefect update flows), reduced to the rows,
paired differences, curves and per-region table of the result."""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

import numpy as np

from flows.benches import peak_rss_mib
from flows.benches.quality.backbones import (
    backbone_cache,
    backbone_key,
    seqrec_config,
    train_backbone,
)
from flows.benches.quality.bars import headline_field
from flows.benches.quality.cohort import cohort_section
from flows.benches.quality.config import bench_config, check_budgets, method_config, method_names
from flows.benches.quality.plans import DAY, Plan, bench_plan, day_label, load
from flows.benches.quality.runs import RunStore, in_part
from flows.progress import PROGRESS_LOGGER, TOTAL
from raie_core import report
from raie_core.baselines import MethodConfig, build_method, window_ranks
from raie_core.errors import RaieConfigError
from raie_core.metrics import ndcg_gains, ranking_metrics, target_ranks
from raie_core.protocol import Windows
from tasks.drift import read_cohort

logger = logging.getLogger(__name__)
progress = logging.getLogger(PROGRESS_LOGGER)


def run_method(
    name: str, backbone: Any, config: MethodConfig, plan: Plan, seed: int
) -> dict[str, Any]:
    """One method, one seed: setup, the periods (prequential or not), the blocks.

    Returns {"fields": {block_metric: value, "wall_s": s, "peak_rss_mib": the process's
    memory high-water mark when the run ends, an upper bound on the run's own}, "curve":
    per-period NDCG@10, "ranks": {block: (n,) target ranks}, "routes": {block: (n,) serving
    region, -1 = base}, "method": the method object (for RAIE's region plots)}.
    """
    started = time.perf_counter()
    method = build_method(name, backbone, config)
    method.setup(plan.setup, seed)
    old, prequential, served, curve = plan.setup, [], [], []
    for _, windows in plan.periods:
        if plan.prequential:
            ranks, route = _score(method, windows)
            prequential.append(ranks)
            served.append(route)
            curve.append(ranking_metrics(ranks)["NDCG@10"])
        method.update(windows, old, seed)
        old = Windows.concat([old, windows])
    fields: dict[str, float] = {}
    scored = {b: _score(method, w) for b, w in plan.blocks.items()}
    ranks_by_block = {b: ranks for b, (ranks, _) in scored.items()}
    routes = {b: route for b, (_, route) in scored.items()}
    if prequential:
        ranks_by_block["P"] = np.concatenate(prequential)
        routes["P"] = np.concatenate(served)
    else:
        last = "V" if "V" in plan.blocks else "T"
        curve = _weekly_curve(ranks_by_block[last], plan.blocks[last])
    for block in sorted(ranks_by_block, key=lambda b: "PSTV".index(b)):
        for metric, value in ranking_metrics(ranks_by_block[block]).items():
            fields[f"{block}_{metric}"] = value
    fields["wall_s"] = time.perf_counter() - started
    fields["peak_rss_mib"] = peak_rss_mib()
    return {
        "fields": fields,
        "curve": curve,
        "ranks": ranks_by_block,
        "routes": routes,
        "method": method,
    }


class _Backbones:
    """Each seed's backbone, trained (or read from the backbone cache) only when a run of
    that seed is computed; counts the trained seeds' seconds and the cached ones."""

    def __init__(self, plan: Plan, vocab: Any, catalog: Any, args: Any, pipeline: Any) -> None:
        self._inputs = (plan, vocab, catalog, args, pipeline)
        self._cache = backbone_cache(args)
        self._seed: int | None = None
        self._backbone: Any = None
        self.seconds: list[float] = []
        self.cached = 0

    def get(self, seed: int) -> Any:
        if self._seed != seed:
            started = time.perf_counter()
            self._backbone, reused = train_backbone(*self._inputs, seed, self._cache)
            self._seed = seed
            if reused:
                self.cached += 1
            else:
                self.seconds.append(time.perf_counter() - started)
        return self._backbone


def _kept(out: dict[str, Any], name: str, seed: int, plan: Plan) -> dict[str, Any]:
    """What the report needs of a run (the method object dropped): fields, curve, ranks,
    routes, and for RAIE's seed 0 the region snapshot its plots draw."""
    kept = {k: out[k] for k in ("fields", "curve", "ranks", "routes")}
    if name == "raie" and seed == 0:
        kept["raie"] = _raie_snapshot(out["method"], plan.setup)
    return kept


def _score(method: Any, windows: Windows) -> tuple[np.ndarray, np.ndarray]:
    """(n,) target ranks and (n,) region that served each window (-1 = the base; all -1
    for methods without regions)."""
    if not hasattr(method, "routed"):
        return window_ranks(method, windows), np.full(len(windows), -1, dtype=np.int64)
    routed = method.routed(windows.context)
    return target_ranks(routed.scores, windows.target, windows.context).numpy(), routed.route


def _weekly_curve(ranks: np.ndarray, windows: Windows) -> list[float]:
    """NDCG@10 of T windows grouped by the week of their target (paper preset curve)."""
    week = (windows.timestamp - windows.timestamp.min()) // (7 * DAY)
    return [ranking_metrics(ranks[week == w])["NDCG@10"] for w in np.unique(week)]


def _period_labels(plan: Plan) -> list[str]:
    if plan.prequential:
        return [label for label, _ in plan.periods]
    last = plan.blocks["V" if "V" in plan.blocks else "T"]
    week = (last.timestamp - last.timestamp.min()) // (7 * DAY)
    start = int(last.timestamp.min())
    return [day_label(start + int(w) * 7 * DAY) for w in np.unique(week)]


def _block_users(plan: Plan, block: str) -> np.ndarray:
    """(n,) user of each scored window of ``block``, in `run_method`'s rank order."""
    if block == "P":
        return np.concatenate([w.user for _, w in plan.periods])
    return plan.blocks[block].user


def _raie_snapshot(method: Any, setup: Windows) -> dict[str, Any]:
    """Region history and the setup windows' keys and routes, for the plots."""
    regions = method.regions
    X = method.encode(setup.context)
    return {
        "history": method.history,
        "X": X,
        "members": method.routes(setup.context),
        "centers": regions.center[regions.live],
        "ids": regions.live_ids,
    }


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    """Every method x seed; returns rows, curves and RAIE's region history (seed 0)."""
    names = method_names(args)
    check_budgets(args)
    cohort = read_cohort(args.cohort) if args.cohort is not None else None
    pipeline = bench_config(args)
    interactions, vocab, catalog = load(args)
    plan = bench_plan(interactions, vocab, args, pipeline.protocol)
    config = method_config(pipeline)
    runs: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    curves: dict[str, list[list[float]]] = {n: [] for n in names}
    headline = headline_field(args.preset, args.validate)
    block, cutoff = headline.split("_NDCG@")
    gains: dict[str, dict[str, list[np.ndarray]]] = {}  # block -> method -> per-seed (n,)
    backbones = _Backbones(plan, vocab, catalog, args, pipeline)
    store = RunStore.open(args, plan, pipeline.config_hash())
    part = args.part
    if part is not None and store is None:
        raise RaieConfigError(
            f"--part {part[0]}/{part[1]} stores its runs for the report: it needs the backbone cache "
            "(not the llm backbone, not --no-backbone-cache)"
        )
    raie_state: Any = None
    raie_routes: np.ndarray | None = None
    runs_total = args.seeds * len(names)
    progress.info("%d runs", runs_total, extra={TOTAL: runs_total})
    done = {"computed": 0, "reused": 0}
    for seed in range(args.seeds):
        bb_key = (
            "" if store is None else backbone_key(plan, vocab, seqrec_config(plan, pipeline, seed))
        )
        for index, name in enumerate(names):
            if not in_part(seed * len(names) + index, part):
                continue
            key = None if store is None else store.key(name, seed, bb_key)
            out = None if key is None else store.get(key)
            if out is None:
                method = run_method(name, backbones.get(seed), config, plan, seed)
                out = _kept(method, name, seed, plan)
                done["computed"] += 1
                if key is not None:
                    store.put(key, out)
            else:
                done["reused"] += 1
                logger.info("seed %d %s: reused run %s", seed, name, key)
            if part is not None:
                continue
            runs[name].append(out["fields"])
            curves[name].append(out["curve"])
            for scored, ranks in out["ranks"].items():
                per_method = gains.setdefault(scored, {n: [] for n in names})
                per_method[name].append(ndcg_gains(ranks, int(cutoff)).numpy())
            fields = {k: round(v, 4) for k, v in out["fields"].items()}
            logger.info("seed %d %s: %s", seed, name, fields)
            progress.info("seed %d %s done", seed, name)
            if "raie" in out:
                raie_state = out["raie"]
                raie_routes = out["routes"][block]
    if part is not None:
        return {"part": f"{part[0]}/{part[1]}", **done}
    return {
        "config_hash": pipeline.config_hash(),
        "config": pipeline.model_dump(mode="json"),
        "rows": report.summarize(runs),
        "headline": headline,
        "paired": report.paired_rows(
            runs,
            headline,
            reference="base",
            subject="raie",
            windows={n: np.stack(g) for n, g in gains[block].items()},
            users=_block_users(plan, block),
        ),
        "curves": {n: np.mean(np.asarray(c), axis=0).tolist() for n, c in curves.items()},
        "labels": _period_labels(plan),
        "backbone_s": report.mean_std(backbones.seconds) if backbones.seconds else None,
        "backbones_cached": backbones.cached,
        "runs_reused": done["reused"],
        "raie": raie_state,
        "regions": []
        if raie_routes is None
        else report.region_rows(
            raie_routes, {n: g[0] for n, g in gains[block].items()}, f"NDCG@{cutoff}"
        ),
        "cohort": None
        if cohort is None
        else cohort_section(
            args.cohort,
            cohort,
            {b: {n: np.stack(g) for n, g in per.items()} for b, per in gains.items()},
            {b: _block_users(plan, b) for b in gains},
            (block, raie_routes),
            int(cutoff),
        ),
        "windows": {
            "train": len(plan.train),
            "setup": len(plan.setup),
            "periods": [len(w) for _, w in plan.periods],
            **{b: len(w) for b, w in plan.blocks.items()},
        },
    }
