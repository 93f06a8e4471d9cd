"""The statistical quality gate of a nightly candidate (DESIGN §7) and the paired summaries
behind it.

A candidate bank is promoted unless it is *resolvably worse*: for each check, the per-window
NDCG@k difference (candidate − reference) is paired on the same windows, a user bootstrap gives
its central interval, and the check fails only when the whole interval lies below
``-tolerance × reference mean`` — the candidate is worse by more than the tolerated effect
with the stated confidence. A tie (interval around 0) and an improvement both pass. Checks:

* ``retention``: candidate vs champion on the held-out setup windows (forgetting);
* ``recency``: candidate vs champion on a held-out slice of the newest period's users;
* ``anchor``: candidate vs the unchanged base on the held-out setup windows, so small
  tolerated drops cannot ratchet retention down week after week.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from raie_core.bootstrap import user_interval
from raie_core.errors import RaieConfigError
from raie_core.metrics import ndcg_gains

CHECKS = ("retention", "recency", "anchor")
"""The gate's checks, in the order their reasons are written."""


@dataclass(frozen=True)
class GateConfig:
    """Every constant of the quality gate (a field of the pipeline config, `gate:`).

    Defaults: the 2 % tolerance is DESIGN §10's retention bar (held-out S within 2 % of the
    base), read as an effect size relative to the reference's mean; 95 % user intervals as in
    every paired comparison of raie; a fifth of the newest period's users held out, enough
    windows on the demo's weeks (≈ 100) for an interval while four fifths still train.
    """

    tolerance: float = 0.02
    """Tolerated effect: a check fails only when its interval lies wholly below
    -tolerance × the reference's mean NDCG@k (0.02 = "resolvably more than 2 % worse")."""
    k: int = 10
    """The cut-off of the gate's metric, NDCG@k."""
    level: float = 0.95
    """Coverage of each check's central user-bootstrap interval."""
    draws: int = 2000
    """Bootstrap resamples of the evaluated users per check."""
    seed: int = 0
    """Seed of the bootstrap and of the recency hold-out (decisions are reproducible)."""
    recency_share: float = 0.2
    """Share of the newest period's users whose windows are held out of editing and
    training and score the recency check (0 = no recency check)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise RaieConfigError(f"gate.{f.name}={value!r} should be a number")
        if self.k != int(self.k) or self.draws != int(self.draws) or self.seed != int(self.seed):
            raise RaieConfigError(
                f"gate.k={self.k}, gate.draws={self.draws}, gate.seed={self.seed} should be integers"
            )
        rules = (
            ("tolerance", 0.0 <= self.tolerance < 1.0, "in [0, 1)"),
            ("k", self.k >= 1, ">= 1"),
            ("level", 0.0 < self.level < 1.0, "in (0, 1)"),
            ("draws", self.draws >= 100, ">= 100"),
            ("recency_share", 0.0 <= self.recency_share < 1.0, "in [0, 1)"),
        )
        for name, ok, rule in rules:
            if not ok or not math.isfinite(getattr(self, name)):
                raise RaieConfigError(f"gate.{name}={getattr(self, name)!r} should be {rule}")


@dataclass(frozen=True)
class Comparison:
    """One paired check: means of NDCG@k, their difference, its interval and the margin.

    margin = -tolerance × reference (the lowest tolerated difference); resolved_drop: the
    whole interval lies below the margin.
    """

    check: str
    windows: int
    users: int
    candidate: float
    reference: float
    diff: float
    low: float
    high: float
    margin: float
    resolved_drop: bool

    def text(self) -> str:
        """ "retention -0.0012 [-0.0040, +0.0015] (margin -0.0009, 361 windows)"."""
        return (
            f"{self.check} {self.diff:+.4f} [{self.low:+.4f}, {self.high:+.4f}] "
            f"(margin {self.margin:+.4f}, {self.windows} windows)"
        )


@dataclass(frozen=True)
class GateDecision:
    """passed: the candidate may become champion; reason: one sentence; comparisons: the
    checks that had windows, in `CHECKS` order."""

    passed: bool
    reason: str
    comparisons: tuple[Comparison, ...]

    def to_record(self) -> dict:
        """JSON-ready: {"passed", "reason", "<check>": {fields of its Comparison}}."""
        record: dict = {"passed": self.passed, "reason": self.reason}
        for c in self.comparisons:
            record[c.check] = {k: v for k, v in asdict(c).items() if k != "check"}
        return record


def compare(
    check: str,
    candidate_ranks: np.ndarray,
    reference_ranks: np.ndarray,
    users: np.ndarray,
    config: GateConfig,
) -> Comparison:
    """Paired NDCG@k comparison on the same n windows.

    candidate_ranks, reference_ranks: (n,) int64 0-based target ranks of the two banks on the
    same windows; users: (n,) the user of each window (the bootstrap's unit).
    """
    cand = np.asarray(candidate_ranks)
    ref = np.asarray(reference_ranks)
    if cand.shape != ref.shape or cand.shape != np.shape(users) or cand.ndim != 1:
        raise RaieConfigError(
            f"{check}: candidate {cand.shape}, reference {ref.shape} and users "
            f"{np.shape(users)} should be the same (n,) shape"
        )
    if cand.size == 0:
        raise RaieConfigError(f"{check}: no windows to compare")
    gain_c = ndcg_gains(cand, config.k).numpy()
    gain_r = ndcg_gains(ref, config.k).numpy()
    diff = gain_c - gain_r
    interval = user_interval(diff, users, config.draws, config.seed, config.level)
    margin = -config.tolerance * float(gain_r.mean())
    return Comparison(
        check=check,
        windows=int(cand.size),
        users=int(np.unique(users).size),
        candidate=float(gain_c.mean()),
        reference=float(gain_r.mean()),
        diff=float(diff.mean()),
        low=interval["low"],
        high=interval["high"],
        margin=margin,
        resolved_drop=bool(interval["high"] < margin),
    )


def decide(comparisons: list[Comparison] | tuple[Comparison, ...]) -> GateDecision:
    """Pass unless some check is a resolved drop; the reason names every failing check (or
    says all checks are within tolerance) with its difference and interval."""
    if not comparisons:
        return GateDecision(False, "no windows to judge the candidate on", ())
    ordered = tuple(sorted(comparisons, key=lambda c: CHECKS.index(c.check)))
    failed = [c for c in ordered if c.resolved_drop]
    if failed:
        reason = "resolvably worse beyond tolerance: " + "; ".join(c.text() for c in failed)
    else:
        reason = "no resolved drop beyond tolerance: " + "; ".join(c.text() for c in ordered)
    return GateDecision(not failed, reason, ordered)


def recency_mask(users: np.ndarray, share: float, seed: int) -> np.ndarray:
    """(n,) bool: the windows of a seeded ``share`` of the distinct users (rounded down).

    users: (n,) the user of each window of one period. The held-out users are drawn from the
    sorted distinct ids, so the mask depends only on the users present and the seed.
    """
    if not 0.0 <= share < 1.0:
        raise RaieConfigError(f"share={share} should be in [0, 1)")
    ids = np.unique(users)
    n_out = int(math.floor(share * ids.size))
    if n_out == 0:
        return np.zeros(len(users), dtype=bool)
    chosen = np.random.default_rng(seed).choice(ids.size, size=n_out, replace=False)
    return np.isin(users, ids[chosen])


def paired_summary(
    ranks_a: np.ndarray, ranks_b: np.ndarray, users: np.ndarray, config: GateConfig
) -> dict[str, float]:
    """Mean NDCG@k of a and b over the same (n,) windows, a − b and its user interval:
    {"a", "b", "diff", "low", "high", "windows", "users"} (e.g. champion vs base over a
    whole backfill, where a user's windows of every period form one bootstrap unit)."""
    c = compare("summary", ranks_a, ranks_b, users, config)
    return {
        "a": c.candidate,
        "b": c.reference,
        "diff": c.diff,
        "low": c.low,
        "high": c.high,
        "windows": c.windows,
        "users": c.users,
    }
