"""`raie bench quality`: RAIE against the usual update strategies, same backbone/budget/protocol.

Paper preset: the backbone trains on S (`setup_train`), every method updates once on F and is
scored on the held-out S windows (retention) and on T. Streaming preset: setup before a cut
date (default t^S), then per period (default weekly) each method is scored prequentially on
the period's windows before updating on them; retention is scored on the held-out setup
windows at the end. The backbone is trained once per seed and shared by every method
(seqrec backbones are cached under <home>/bench/backbones). `--backbone llm` sets up the
pretrained LM on a `--max-windows` budget; `--max-update-windows` / `--max-eval-windows` cut
the setup (replay) set and update periods, and the scored blocks, to seeded subsets (the same
rows for every backbone), so an llm run fits a CPU and a seqrec run with the same budgets
scores the same windows.
Methods run in-process through `raie_core` (not through the Prefect update flows). Prints one
table (mean ± std over seeds), writes a markdown report with plots to --out, logs it to
MLflow and leaves it as a Prefect artifact (skip both with --no-track).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from raie_core import report
from raie_core.baselines import ABLATIONS, METHODS, MethodConfig, build_method, window_ranks
from raie_core.data.periods import Every, Period
from raie_core.errors import RaieConfigError
from raie_core.metrics import ndcg_gains, ranking_metrics, target_ranks
from raie_core.protocol import (
    ProtocolConfig,
    Windows,
    build_vocab,
    cut_points,
    paper_split,
    period_windows,
    streaming_setup,
)

logger = logging.getLogger(__name__)

DEFAULT_METHODS = tuple(METHODS)
PERIODS = {"1d": 1, "1w": 7, "2w": 14, "4w": 28}
"""--every values -> days per period."""
DAY = 86_400
OLD_STRIDE = 5
"""Streaming: every 5th setup-training window is the replay / region-fitting source (the
paper preset uses its stride-5 S windows)."""
REPORT_FIELDS = ("Recall@10", "NDCG@10")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=("paper", "streaming"), default="paper")
    parser.add_argument("--backbone", choices=("seqrec", "llm"), default="seqrec")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1")
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS), help="comma-separated")
    parser.add_argument("--ablations", action="store_true", help="add every RAIE ablation")
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--path", default=None, help="dataset folder (non-embedded sources)")
    parser.add_argument("--every", choices=tuple(PERIODS), default="1w", help="streaming period")
    parser.add_argument("--cut", default=None, help="streaming setup cut date (default t^S)")
    parser.add_argument("--max-users", type=int, default=None, help="keep the first N users")
    parser.add_argument("--max-periods", type=int, default=None, help="streaming: first N periods")
    parser.add_argument("--backbone-epochs", type=int, default=60, help="setup training cap")
    parser.add_argument("--epochs", type=int, default=MethodConfig.max_epochs, help="update cap")
    parser.add_argument("--out", default=None, help="report folder (default <home>/bench/...)")
    parser.add_argument("--no-track", action="store_true", help="skip MLflow and Prefect")
    parser.add_argument(
        "--validate",
        action="store_true",
        help="tune on F only, never on T: the paper preset updates on early F and scores late F "
        "(block V); the streaming preset stops at t^F",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--backbone-batch", type=int, default=128, help="setup batch size")
    parser.add_argument(
        "--max-windows", type=int, default=None, help="llm: setup training budget (windows)"
    )
    parser.add_argument(
        "--max-update-windows",
        type=int,
        default=None,
        help="a seeded subset of at most N windows of the setup (region fitting, replay) set "
        "and of each update period (CPU budget for llm)",
    )
    parser.add_argument(
        "--max-eval-windows",
        type=int,
        default=None,
        help="a seeded subset of at most N windows per scored block (same rows for every backbone)",
    )
    parser.add_argument(
        "--no-backbone-cache",
        action="store_true",
        help="retrain every seed's backbone instead of reusing <home>/bench/backbones",
    )


@dataclass(frozen=True, eq=False)
class Plan:
    """What every method sees: backbone training windows, setup (replay) windows, the update
    periods (label, windows), the evaluation blocks and whether periods are prequential."""

    train: Windows
    setup: Windows
    periods: list[tuple[str, Windows]]
    blocks: dict[str, Windows]
    prequential: bool


def _methods(args: argparse.Namespace) -> list[str]:
    names = [m.strip() for m in args.methods.split(",") if m.strip()]
    if args.ablations:
        names += [a for a in ABLATIONS if a not in names]
    known = set(METHODS) | set(ABLATIONS)
    bad = [m for m in names if m not in known]
    if bad or not names:
        raise RaieConfigError(f"--methods {bad or names} should name methods among {sorted(known)}")
    return names


def _load(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    from raie_core.data import load_dataset  # deferred: keeps `raie --help` fast

    dataset = load_dataset(args.dataset, args.path)
    interactions = dataset.interactions
    if args.max_users is not None:
        users = interactions["user_id"].unique().sort()[: args.max_users]
        interactions = interactions.filter(interactions["user_id"].is_in(users.implode()))
    has_items = dataset.items is not None and dataset.items.height
    catalog = dataset.items if has_items else None
    return interactions, build_vocab(catalog if has_items else interactions), catalog


def _day_label(ts: int) -> str:
    """The ISO date of the UTC day holding ``ts`` (seconds)."""
    return Period.containing(ts, Every.DAY).label


VALIDATION_QUANTILE = 0.75
"""--validate: F windows whose target time is below this quantile train, the rest validate."""
VALIDATION_STRIDE = 1
"""--validate scores every late-F window (stride 1): on ML-100K 2,579 windows instead of the
543 at the protocol's stride 5, which come from only 68 users and cannot separate methods."""


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
    """Setup before the cut, one update per period; prequential scores, retention on S.
    With ``args.validate`` the periods stop at t^F (the last one cut there): T is never touched."""
    t_setup, t_finetune = cut_points(interactions, config)
    cut = t_setup if args.cut is None else Period.parse(args.cut, Every.DAY).start_seconds
    train, heldout = streaming_setup(interactions, cut, config, vocab)
    end = t_finetune if args.validate else int(interactions["timestamp"].max()) + 1
    step = PERIODS[args.every] * DAY
    periods = []
    for start in range(cut, end, step):
        windows = period_windows(interactions, (start, min(start + step, end)), config, vocab)
        if len(windows):
            periods.append((_day_label(start), windows))
    periods = periods[: args.max_periods]
    if not periods:
        raise RaieConfigError(
            f"--cut {_day_label(cut)} leaves no streaming period before {_day_label(end)}"
        )
    setup = train.subset(np.arange(0, len(train), OLD_STRIDE))
    return Plan(train=train, setup=setup, periods=periods, blocks={"S": heldout}, prequential=True)


def _backbone_key(plan: Plan, vocab: Any, config: Any) -> str:
    """Content key of a trained backbone: its config, the training windows and the vocabulary."""
    digest = hashlib.sha256(json.dumps(dataclasses.asdict(config), sort_keys=True).encode())
    for array in (plan.train.context, plan.train.target, np.asarray(vocab.item_ids)):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def _train_backbone(
    plan: Plan, vocab: Any, catalog: Any, args: argparse.Namespace, seed: int, cache: Path | None
) -> tuple[Any, bool]:
    """The seed's trained backbone and whether it came from ``cache``.

    seqrec: trained on every setup window and saved in ``cache`` (renamed into place only
    once complete). llm: the pretrained LM (safetensors copy under <home>/models) set up on
    a seeded ``--max-windows`` budget; never cached (hundreds of MB per seed).
    """
    if args.backbone == "llm":
        from flows.env import raie_home
        from raie_core.backbones.llm import LLMConfig, build_llm, setup_llm

        config = (
            LLMConfig() if args.max_windows is None else LLMConfig(max_windows=args.max_windows)
        )
        lm = build_llm(vocab, config, catalog, cache_dir=raie_home(args.home) / "models")
        backbone, result = setup_llm(lm, plan.train, config, seed)
        logger.info("llm seed %d: %d windows, losses %s", seed, result.n_train, result.train_losses)
        return backbone, False
    if args.max_windows is not None:
        raise RaieConfigError(
            f"--max-windows {args.max_windows} is the llm setup budget: seqrec trains on every window"
        )
    from raie_core.backbones import load_backbone
    from raie_core.backbones.seqrec import SeqRecConfig, fit_seqrec

    config = SeqRecConfig(
        max_len=plan.train.max_len,
        seed=seed,
        max_epochs=args.backbone_epochs,
        batch_size=args.backbone_batch,
    )
    folder = None if cache is None else cache / f"seqrec-{_backbone_key(plan, vocab, config)}"
    if folder is not None and (folder / "backbone.json").is_file():
        logger.info("backbone seed %d: reused %s", seed, folder)
        return load_backbone(folder), True
    backbone, result = fit_seqrec(vocab, plan.train, config)
    logger.info("backbone seed %d: %d epochs", seed, result.epochs)
    if folder is not None:
        draft = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
        shutil.rmtree(draft, ignore_errors=True)
        backbone.save(draft)
        try:
            draft.rename(folder)
        except OSError:  # another run cached the same backbone meanwhile
            shutil.rmtree(draft, ignore_errors=True)
    return backbone, False


def _method_config(args: argparse.Namespace) -> MethodConfig:
    """The shared budget; with the llm, adapters train in the llm's batch size (its scoring
    already runs in chunks of its own eval batch)."""
    config = dataclasses.replace(MethodConfig(), max_epochs=args.epochs)
    if args.backbone == "llm":
        from raie_core.backbones.llm import LLMConfig

        config = dataclasses.replace(config, batch_size=LLMConfig().batch_size)
    return config


BUDGET_SEED = 0
"""--max-update-windows / --max-eval-windows subsets use one fixed seed, so every seed, method
and backbone sees the same rows."""


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


def run_method(
    name: str, backbone: Any, config: MethodConfig, plan: Plan, seed: int
) -> dict[str, Any]:
    """One method, one seed: setup, the periods (prequential or not), the blocks.

    Returns {"fields": {block_metric: value, "wall_s": s}, "curve": per-period NDCG@10,
    "ranks": {block: (n,) target ranks}, "routes": {block: (n,) serving region, -1 = base},
    "method": the method object (for RAIE's region plots)}.
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
    return {
        "fields": fields,
        "curve": curve,
        "ranks": ranks_by_block,
        "routes": routes,
        "method": method,
    }


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
    return [_day_label(start + int(w) * 7 * DAY) for w in np.unique(week)]


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    """Every method x seed; returns rows, curves and RAIE's region history (seed 0)."""
    from flows.env import raie_home

    names = _methods(args)
    for name in ("max_windows", "max_update_windows", "max_eval_windows"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise RaieConfigError(f"--{name.replace('_', '-')} {value} should be >= 1")
    interactions, vocab, catalog = _load(args)
    protocol = ProtocolConfig()
    plan = (
        paper_plan(interactions, protocol, vocab, args.validate)
        if args.preset == "paper"
        else streaming_plan(interactions, protocol, vocab, args)
    )
    plan = budget_plan(plan, args.max_update_windows, args.max_eval_windows)
    config = _method_config(args)
    runs: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    curves: dict[str, list[list[float]]] = {n: [] for n in names}
    headline = headline_field(args.preset, args.validate)
    block, cutoff = headline.split("_NDCG@")
    gains: dict[str, list[np.ndarray]] = {n: [] for n in names}
    backbone_s: list[float] = []
    cached = 0
    no_cache = args.no_backbone_cache or args.backbone == "llm"
    cache = None if no_cache else raie_home(args.home) / "bench" / "backbones"
    raie_state: Any = None
    raie_routes: np.ndarray | None = None
    for seed in range(args.seeds):
        started = time.perf_counter()
        backbone, reused = _train_backbone(plan, vocab, catalog, args, seed, cache)
        if reused:
            cached += 1
        else:
            backbone_s.append(time.perf_counter() - started)
        for name in names:
            out = run_method(name, backbone, config, plan, seed)
            runs[name].append(out["fields"])
            curves[name].append(out["curve"])
            gains[name].append(ndcg_gains(out["ranks"][block], int(cutoff)).numpy())
            logger.warning(
                "seed %d %s: %s", seed, name, {k: round(v, 4) for k, v in out["fields"].items()}
            )
            if name == "raie" and seed == 0:
                raie_state = _raie_snapshot(out["method"], plan.setup)
                raie_routes = out["routes"][block]
    return {
        "rows": report.summarize(runs),
        "headline": headline,
        "paired": report.paired_rows(
            runs,
            headline,
            reference="base",
            subject="raie",
            windows={n: np.stack(g) for n, g in gains.items()},
            users=_block_users(plan, block),
        ),
        "curves": {n: np.mean(np.asarray(c), axis=0).tolist() for n, c in curves.items()},
        "labels": _period_labels(plan),
        "backbone_s": report.mean_std(backbone_s) if backbone_s else None,
        "backbones_cached": cached,
        "raie": raie_state,
        "regions": []
        if raie_routes is None
        else report.region_rows(raie_routes, {n: g[0] for n, g in gains.items()}, f"NDCG@{cutoff}"),
        "windows": {
            "train": len(plan.train),
            "setup": len(plan.setup),
            "periods": [len(w) for _, w in plan.periods],
            **{b: len(w) for b, w in plan.blocks.items()},
        },
    }


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


def headline_field(preset: str, validate: bool = False) -> str:
    """The field the bars are judged on: prequential (streaming), V (--validate) or T NDCG@10."""
    return f"{'P' if preset == 'streaming' else 'V' if validate else 'T'}_NDCG@10"


def paired_fields(result: dict[str, Any]) -> list[str]:
    """Columns of the paired table present in this run (method - base, raie - method)."""
    names = {k for row in result["paired"] for k in row if k != "method"}
    return [f for f in (f"{result['headline']} - base", "raie - method") if f in names]


PAIRED_NOTE = (
    "Paired per-seed differences of {field} (mean ± standard error over seeds; in parentheses "
    "the seeds where the first term is higher): every method of a seed shares its backbone, so "
    "these separate methods far better than the ± std of the table above. In square brackets "
    "a 95 % interval of the same difference over the evaluated users (user bootstrap of the "
    "seed-mean per-window difference): seeds only average out training noise, so a difference "
    "whose interval holds 0 is not resolved by these users, however many seeds ran."
)


RETENTION_TOLERANCE = 0.02
"""DESIGN §10: RAIE's held-out S NDCG@10 may trail base's by at most this share."""
REFERENCE_CODE_NDCG = 0.0362
"""T NDCG@10 of the paper's public RAIE on ML-100K, paper preset, seqrec backbone, 3 seeds
(research/reference-run.md); only comparable on the whole data set."""
REFERENCE_FACTOR = 1.2
"""DESIGN §10: RAIE should reach this multiple of ``REFERENCE_CODE_NDCG``."""
DATA_BUDGETS = ("max_users", "max_windows", "max_update_windows", "max_eval_windows")


def quality_bars(result: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    """DESIGN §10's quality bars, judged on this run's seed means (none without raie and base).

    Each bar is {"bar": what is compared, "raie": RAIE's value, "target": the value to reach,
    "met": raie >= target}. The headline field is compared with the best other method
    (RAIE's ablations excluded) in the paper preset and with `lora` in the streaming preset;
    held-out S NDCG@10 with ``1 - RETENTION_TOLERANCE`` times base's; T NDCG@10 with
    ``REFERENCE_FACTOR`` times the paper's public code, on the whole ML-100K with seqrec only.
    The headline bar also carries the paired "raie - method" cell (seed s.e., user interval).
    """
    means = {
        str(r["method"]): {k: v["mean"] for k, v in r.items() if k != "method"}
        for r in result["rows"]
    }
    if "raie" not in means or "base" not in means:
        return []
    head, raie = result["headline"], means["raie"]
    streaming = args.preset == "streaming"
    why = "the streaming bar" if streaming else "best baseline"
    candidates = ["lora"] if streaming else list(means)
    rivals = [m for m in candidates if m in means and m != "raie" and not m.startswith("raie-")]
    bars = []
    if rivals:
        best = max(rivals, key=lambda m: means[m][head])
        paired = next(r for r in result["paired"] if r["method"] == best)
        bars.append(
            {
                **_bar(f"{head} >= {best} ({why})", raie[head], means[best][head]),
                "paired": paired.get("raie - method"),
            }
        )
    retention = (1 - RETENTION_TOLERANCE) * means["base"]["S_NDCG@10"]
    bars.append(
        _bar(f"S_NDCG@10 within {RETENTION_TOLERANCE:.0%} of base", raie["S_NDCG@10"], retention)
    )
    whole = all(getattr(args, name, None) is None for name in DATA_BUDGETS)
    if head == "T_NDCG@10" and args.dataset == "ml-100k" and args.backbone == "seqrec" and whole:
        target = REFERENCE_FACTOR * REFERENCE_CODE_NDCG
        text = f"T_NDCG@10 >= {REFERENCE_FACTOR}x the paper's public code ({REFERENCE_CODE_NDCG})"
        bars.append(_bar(text, raie[head], target))
    return bars


def _bar(text: str, value: float, target: float) -> dict[str, Any]:
    return {"bar": text, "raie": value, "target": target, "met": bool(value >= target)}


def format_bars(bars: list[dict[str, Any]]) -> list[str]:
    """One line per bar: met / NOT met, what, RAIE's value against the target."""
    lines = []
    for b in bars:
        verdict = "met" if b["met"] else "NOT met"
        line = f"{verdict:7s}  {b['bar']}: raie {b['raie']:.4f}, target {b['target']:.4f}"
        if b.get("paired"):
            line += f"; raie - method {report.cell_text(b['paired'])}"
        lines.append(line)
    return lines


REGIONS_NOTE = (
    "## Per region ({field}, seed 0)\n\nThe windows each RAIE region served (base = outside "
    "every band or no adapter yet; in the streaming preset, the region at the time each "
    "window was scored), and every method's NDCG@10 on those same windows: where region-aware "
    "editing gains or loses against one global update."
)


def region_table(result: dict[str, Any]) -> str:
    """Markdown table of ``result["regions"]`` (`report.region_rows`)."""
    rows = result["regions"]
    field = next(k for k in rows[0] if k.startswith("NDCG@"))
    methods = list(rows[0][field])
    lines = [
        "| region | windows | " + " | ".join(methods) + " |",
        "|" + "---|" * (len(methods) + 2),
    ]
    for r in rows:
        name = "base" if r["region"] < 0 else str(r["region"])
        cells = [f"{r[field][m]:.4f}" for m in methods]
        lines.append(f"| {name} | {r['windows']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


BARS_NOTE = (
    "## Quality bars (DESIGN §10)\n\nJudged on the seed means above; a bar met by a difference "
    "whose user interval holds 0 is met by these data, not resolved by them."
)


def table_fields(preset: str, validate: bool = False) -> list[str]:
    blocks = ("P", "S") if preset == "streaming" else ("S", "V") if validate else ("S", "T")
    metrics = [f"{m}@{k}" for k in (5, 10, 20) for m in ("Recall", "NDCG")]
    return [f"{b}_{m}" for b in blocks for m in metrics] + ["wall_s"]


def write_report(result: dict[str, Any], args: argparse.Namespace, out: Path, command: str) -> Path:
    """report.md plus PNG plots in ``out``; returns the markdown path."""
    out.mkdir(parents=True, exist_ok=True)
    figures = {
        "ndcg_per_period.png": report.period_curves(result["curves"], result["labels"], "NDCG@10")
    }
    raie = result["raie"]
    if raie is not None:
        periods = [r.period for r in raie["history"]]
        figures["live_regions.png"] = report.live_regions(
            periods, [r.live_regions for r in raie["history"]]
        )
        figures["edit_counts.png"] = report.edit_counts(
            periods[1:], [r.counts for r in raie["history"][1:]]
        )
        figures["regions_pca.png"] = report.region_projection(
            raie["X"], raie["members"], raie["centers"], raie["ids"]
        )
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=110)
    fields = table_fields(args.preset, args.validate)
    lines = [
        f"# raie bench quality — {args.preset} preset, {args.backbone}, {args.dataset}",
        "",
        f"Command: `{command}`",
        "",
        f"Seeds: {args.seeds}; windows: {result['windows']}; {_backbone_line(result)}.",
        "",
        "Mean ± sample std over seeds; full ranking over every item, context masked.",
        "",
        report.format_table(result["rows"], fields, markdown=True),
        "",
    ]
    paired = paired_fields(result)
    if paired:
        lines += [
            PAIRED_NOTE.format(field=result["headline"]),
            "",
            report.format_table(result["paired"], paired, markdown=True),
            "",
        ]
    if result["regions"]:
        lines += [REGIONS_NOTE.format(field=result["headline"]), "", region_table(result), ""]
    if result["bars"]:
        lines += [BARS_NOTE, "", *(f"* {line}" for line in format_bars(result["bars"])), ""]
    if raie is not None:
        lines += [
            "## RAIE edits (seed 0)",
            "",
            "| period | update | expand | add | added | merged | retired | live | retrained |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in raie["history"][1:]:
            c = r.counts
            lines.append(
                f"| {r.period} | {c['update']} | {c['expand']} | {c['add']} | {c['added']} | "
                f"{c['merged']} | {c['retired']} | {r.live_regions} | {len(r.affected)} |"
            )
        lines.append("")
    lines += [f"![{n}]({n})" for n in figures]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _track(path: Path, rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    """Log the report folder and the means to MLflow; leave the markdown as a Prefect artifact."""
    from prefect import flow
    from prefect.artifacts import create_markdown_artifact

    from flows.env import raie_home
    from tasks.tracking import Tracker

    tracker = Tracker(artifact_root=raie_home(args.home) / "mlartifacts")
    params = {
        "preset": args.preset,
        "backbone": args.backbone,
        "seeds": args.seeds,
        "dataset": args.dataset,
        "methods": args.methods,
        "epochs": args.epochs,
    }
    run_id = tracker.start_run("raie-bench-quality", f"quality-{args.preset}", params=params)
    metrics = {f"{r['method']}.{k}": v["mean"] for r in rows for k, v in r.items() if k != "method"}
    tracker.log_metrics(run_id, metrics)
    tracker.log_artifacts(run_id, path.parent, "report")
    tracker.end_run(run_id)

    @flow(name="bench-quality-report")
    def publish(markdown: str) -> None:
        create_markdown_artifact(key="bench-quality", markdown=markdown)

    publish(path.read_text(encoding="utf-8"))
    return run_id


RECORDED_OPTIONS = (
    "preset",
    "backbone",
    "seeds",
    "methods",
    "dataset",
    "every",
    "cut",
    "max_users",
    "max_periods",
    "backbone_epochs",
    "backbone_batch",
    "epochs",
    "threads",
    "max_windows",
    "max_update_windows",
    "max_eval_windows",
)


def _backbone_line(result: dict[str, Any]) -> str:
    """'backbone setup 782.6 ± 173.0 s per trained seed (1 reused from the cache)', or
    'backbones reused from the cache (3)'."""
    cached = result["backbones_cached"]
    if result["backbone_s"] is None:
        return f"backbones reused from the cache ({cached})"
    timing = result["backbone_s"]
    line = f"backbone setup {timing['mean']:.1f} ± {timing['std']:.1f} s per trained seed"
    return line + (f" ({cached} reused from the cache)" if cached else "")


STREAMING_OPTIONS = ("every", "cut", "max_periods")
"""Options the paper preset ignores (left out of its recorded command)."""
SEQREC_OPTIONS = ("backbone_epochs", "backbone_batch")
"""Options the llm backbone ignores (it trains on the --max-windows budget)."""


def _command(args: argparse.Namespace) -> str:
    """The command line that reproduces this run (every option that changes the numbers)."""
    ignored = (() if args.preset == "streaming" else STREAMING_OPTIONS) + (
        SEQREC_OPTIONS if args.backbone == "llm" else ()
    )
    opts = [
        f"--{k.replace('_', '-')} {getattr(args, k)}"
        for k in RECORDED_OPTIONS
        if getattr(args, k) is not None and k not in ignored
    ]
    flags = [f"--{f}" for f in ("ablations", "validate") if getattr(args, f)]
    return " ".join(["raie bench quality", *opts, *flags])


def bench(args: argparse.Namespace) -> tuple[dict[str, Any], Path, str | None]:
    """The whole benchmark, for the CLI and the `benchmark` deployment alike: run every
    method x seed, write the report, and (unless ``--no-track``) log it to MLflow and leave
    it as a Prefect artifact. Returns (result, report.md path, MLflow run id or None)."""
    if args.seeds < 1:
        raise RaieConfigError(f"--seeds {args.seeds} should be >= 1")
    from flows.env import raie_home

    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else raie_home(args.home) / "bench" / f"quality-{stamp}"
    result = run_bench(args)
    result["bars"] = quality_bars(result, args)
    path = write_report(result, args, out, _command(args))
    run_id = None if args.no_track else _track(path, result["rows"], args)
    return result, path, run_id


def payload(result: dict[str, Any], path: Path, run_id: str | None) -> dict[str, Any]:
    """What `raie --json bench quality` prints and the `benchmark` flow returns."""
    keep = {key: result[key] for key in ("rows", "paired", "bars", "regions", "windows")}
    return {**keep, "report": str(path), "mlflow_run_id": run_id}


def run(args: argparse.Namespace) -> int:
    result, path, run_id = bench(args)
    if args.json:
        print(json.dumps(payload(result, path, run_id)))
        return 0
    print(
        f"bench quality: {args.preset} preset, {args.backbone}, {args.seeds} seed(s), "
        f"{_backbone_line(result)}"
    )
    print(report.format_table(result["rows"], table_fields(args.preset, args.validate)))
    paired = paired_fields(result)
    if paired:
        print(
            f"\npaired per-seed differences of {result['headline']} "
            "(mean ± s.e., seeds ahead) [95 % interval over users]"
        )
        print(report.format_table(result["paired"], paired))
    if result["bars"]:
        print("\nquality bars (DESIGN §10, seed means):")
        print("\n".join(format_bars(result["bars"])))
    print(f"report: {path}")
    if run_id:
        print(f"MLflow run {run_id} (experiment raie-bench-quality)")
    return 0
