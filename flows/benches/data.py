"""`raie bench data`: window building (paper preset) on ML-100K and a synthetic large table.

Prints, per case: interactions, positives, window counts, seconds, interactions/s and the
process's peak resident memory (`resource.getrusage(RUSAGE_SELF).ru_maxrss`, the high-water
mark of the whole process so far, so it includes data generation and earlier cases).
"""

from __future__ import annotations

import argparse
import gc
import time
from typing import Any

import numpy as np
import polars as pl

from flows.benches import peak_rss_mib
from flows.commands.output import print_json
from raie_core.protocol import PaperSplit, ProtocolConfig, build_vocab, paper_split

SECONDS_PER_DAY = 86_400
SYNTHETIC_START = 1_700_000_000
"""2023-11-14 UTC: start of the synthetic timestamps."""
RATING_PROBS = (0.06, 0.11, 0.27, 0.34, 0.22)
"""P(rating = 1..5), close to ML-100K's (55 % of ratings are >= 4)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--synthetic-rows", type=int, default=10_000_000, help="rows of the synthetic table"
    )
    parser.add_argument("--synthetic-users", type=int, default=100_000, help="distinct users")
    parser.add_argument("--synthetic-items", type=int, default=20_000, help="distinct items")
    parser.add_argument("--synthetic-days", type=int, default=180, help="time span in days")
    parser.add_argument("--max-len", type=int, default=20, help="context items per window")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic table")


def _zipf_draw(rng: np.random.Generator, n_values: int, size: int, exponent: float) -> np.ndarray:
    """(size,) int64 ids in [1, n_values], P(id = r) proportional to (r + 10) ** -exponent."""
    weights = (np.arange(n_values, dtype=np.float64) + 10.0) ** -exponent
    cdf = np.cumsum(weights)
    draws = np.searchsorted(cdf, rng.random(size) * cdf[-1], side="right")
    return np.minimum(draws, n_values - 1).astype(np.int64) + 1


def synthetic_interactions(rows: int, users: int, items: int, days: int, seed: int) -> pl.DataFrame:
    """A seeded interaction table in the raie schema: Zipf-ish users and items, uniform
    timestamps over `days`, ratings 1..5 drawn with RATING_PROBS."""
    rng = np.random.default_rng(seed)
    frame = pl.DataFrame(
        {
            "user_id": _zipf_draw(rng, users, rows, 0.8),
            "item_id": _zipf_draw(rng, items, rows, 1.0),
            "timestamp": SYNTHETIC_START
            + rng.integers(0, days * SECONDS_PER_DAY, rows, dtype=np.int64),
            "rating": rng.choice(np.arange(1.0, 6.0), size=rows, p=np.asarray(RATING_PROBS)),
        }
    )
    return frame


def _measure(name: str, interactions: pl.DataFrame, config: ProtocolConfig) -> dict[str, Any]:
    """Build the vocabulary and the paper split once; time it and count what came out."""
    gc.collect()
    started = time.perf_counter()
    vocab = build_vocab(interactions)
    split: PaperSplit = paper_split(interactions, config, vocab)
    seconds = time.perf_counter() - started
    windows = {
        "setup": len(split.setup),
        "setup_heldout": len(split.setup_heldout),
        "setup_train": len(split.setup_train),
        "finetune": len(split.finetune),
        "test": len(split.test),
    }
    return {
        "case": name,
        "interactions": interactions.height,
        "positives": sum(s.positives for s in split.stats.values()),
        "items": vocab.n_items,
        "windows": windows,
        "window_users": {b.value: s.window_users for b, s in split.stats.items()},
        "t_setup": split.t_setup,
        "t_finetune": split.t_finetune,
        "seconds": round(seconds, 3),
        "interactions_per_s": round(interactions.height / max(seconds, 1e-9)),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }


def _print_table(results: list[dict[str, Any]], max_len: int) -> None:
    print(f"window building, paper preset, max_len {max_len} (peak RSS = process high-water mark)")
    for r in results:
        w = r["windows"]
        print(
            f"{r['case']:<22} {r['interactions']:>11,} interactions  {r['positives']:>10,} positives"
            f"  S {w['setup'] + w['setup_heldout']:,} (held-out {w['setup_heldout']:,})"
            f"  S-train {w['setup_train']:,}  F {w['finetune']:,}  T {w['test']:,}"
        )
        if "generate_seconds" in r:
            print(f"{'':<22} generated in {r['generate_seconds']:.2f} s (not counted)")
        print(
            f"{'':<22} {r['seconds']:.2f} s  {r['interactions_per_s']:,} interactions/s"
            f"  peak RSS {r['peak_rss_mib']:,.0f} MiB"
        )


def run(args: argparse.Namespace) -> int:
    config = ProtocolConfig(max_len=args.max_len)
    from raie_core.data import load_dataset  # deferred: keeps `raie --help` fast

    results = [_measure("ml-100k", load_dataset("ml-100k").interactions, config)]
    started = time.perf_counter()
    table = synthetic_interactions(
        args.synthetic_rows,
        args.synthetic_users,
        args.synthetic_items,
        args.synthetic_days,
        args.seed,
    )
    generate_seconds = time.perf_counter() - started
    synthetic = _measure(f"synthetic-{args.synthetic_rows:,}", table, config)
    synthetic["generate_seconds"] = round(generate_seconds, 3)
    results.append(synthetic)
    if args.json:
        print_json({"max_len": args.max_len, "rss": "getrusage ru_maxrss", "cases": results})
    else:
        _print_table(results, args.max_len)
    return 0
