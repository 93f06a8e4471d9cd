"""`raie bench regions`: drift scoring + gating throughput and peak memory (DESIGN §4, issue 3).

Synthetic windows: n unit vectors around `regions` random centers in d dimensions (Gaussian
noise of scale `noise` per coordinate, then normalised), regions fitted on a 20k subsample.
Timed: score_drift + gate_samples over all n rows (the target: 1M x 64 x d=128 on 2 threads
in < 10 s and < 2 GiB peak RSS), and optionally one full edit_regions period.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from flows.benches import peak_rss_mib
from flows.commands.output import print_json
from raie_core.regions import RegionConfig, edit_regions, fit_regions, gate_samples, score_drift


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, default=1_000_000, help="samples scored (default 1M)")
    parser.add_argument("--regions", type=int, default=64, help="number of regions (default 64)")
    parser.add_argument("--dim", type=int, default=128, help="embedding dimension (default 128)")
    parser.add_argument("--threads", type=int, default=2, help="BLAS/OpenMP threads (default 2)")
    parser.add_argument("--noise", type=float, default=0.06, help="per-coordinate noise scale")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic regions")
    parser.add_argument(
        "--full-edit", action="store_true", help="also time one edit_regions period"
    )


def _windows(n: int, centers: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """(n, d) float32 unit rows, generated in chunks to keep the peak near n x d x 4 bytes."""
    X = np.empty((n, centers.shape[1]), dtype=np.float32)
    for start in range(0, n, 65536):
        part = X[start : start + 65536]
        labels = rng.integers(centers.shape[0], size=part.shape[0])
        part[:] = rng.standard_normal(part.shape, dtype=np.float32) * noise
        part += centers[labels]
        part /= np.linalg.norm(part, axis=1, keepdims=True)
    return X


def run(args: argparse.Namespace) -> int:
    rng = np.random.default_rng(args.seed)
    centers = rng.standard_normal((args.regions, args.dim)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    config = RegionConfig(n_regions=args.regions, n_init=1)
    out: dict[str, float | int | dict[str, int]] = {
        "n": args.n,
        "regions": args.regions,
        "dim": args.dim,
        "threads": args.threads,
    }
    with threadpool_limits(limits=args.threads):
        regions = fit_regions(_windows(20_000, centers, args.noise, rng), config, seed=args.seed)
        X = _windows(args.n, centers, args.noise, rng)
        out["rss_after_data_mib"] = round(peak_rss_mib(), 1)
        start = time.perf_counter()
        scores = score_drift(regions, X, config)
        decisions = gate_samples(regions, scores, config, np.arange(args.n, dtype=np.int64))
        seconds = time.perf_counter() - start
        out.update(
            score_gate_s=round(seconds, 3),
            samples_per_s=round(args.n / seconds),
            peak_rss_mib=round(peak_rss_mib(), 1),
            actions={a.name.lower(): c for a, c in decisions.counts().items()},
            median_kappa=round(float(np.median(regions.kappa)), 1),
        )
        if args.full_edit:
            start = time.perf_counter()
            result = edit_regions(regions, X, config, period=1)
            out.update(
                edit_s=round(time.perf_counter() - start, 3),
                peak_rss_after_edit_mib=round(peak_rss_mib(), 1),
                edit_counts=result.counts(),
            )
    if args.json:
        print_json(out)
    else:
        for key, value in out.items():
            print(f"{key:>24}: {value}")
    return 0
