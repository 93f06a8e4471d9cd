"""Region-editing configuration and the enums of its decisions (DESIGN §4).

Every constant of the algorithm is a field of :class:`RegionConfig` with its default and the
reason for it. Angles are in radians (degrees given in the docstrings for reading).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from enum import IntEnum

from raie_core.errors import RaieConfigError


class Action(IntEnum):
    """The edit a sample triggers (DESIGN §4.3). Stored as int8 codes in decision tables."""

    UPDATE = 0
    EXPAND = 1
    ADD = 2


class RegionStatus(IntEnum):
    """Lifecycle of a region id; ids are never reused, retired regions keep their lineage."""

    LIVE = 0
    RETIRED = 1


class RouteReason(IntEnum):
    """Why a row was routed where it was (DESIGN §4.8)."""

    INSIDE_BAND = 0
    OUTSIDE_EVERY_BAND = 1
    NO_LIVE_REGION = 2


class SampleSource(IntEnum):
    """Where a training sample of a region comes from (DESIGN §4.6); int8 codes in sets."""

    NEW = 0
    SHARE = 1
    REPLAY = 2


@dataclass(frozen=True)
class RegionConfig:
    """All constants of fitting, scoring, gating, growth, merge, retire and training sets.

    Defaults are chosen for sequence embeddings of a small transformer (d = 64, kappa 50-500,
    weekly periods of a few hundred windows) so that Update dominates, Expand is a small
    fraction and Add / growth happen occasionally; they also hold for d up to 4096.
    """

    n_regions: int | None = 5
    """K of the setup fit; ``None`` chooses K in [k_min, k_max] by vMF BIC. 5 as in DESIGN §4.1."""
    k_min: int = 2
    """Smallest K tried by the BIC search (one region would make routing pointless)."""
    k_max: int = 10
    """Largest K tried by the BIC search; 10 keeps >= ~50 setup windows per region on ML-100K."""
    n_init: int = 4
    """Spherical k-means++ restarts; the best mean cosine wins. 4 removes bad seeds cheaply."""
    max_iter: int = 100
    """Lloyd iterations per restart; stops earlier when assignments no longer change."""
    radius_quantile: float = 0.9
    """q: R_k is the q-quantile of member angles (DESIGN §4.1, reference q = 0.9)."""
    radius_min: float = math.radians(1.0)
    """Floor of R_k (1 deg) so a tiny or duplicate-only cluster still has a band."""
    radius_max: float = math.pi / 2
    """R_max: cap of R_k (90 deg); a region wider than a hemisphere is no preference any more."""
    n0: float = 5.0
    """Pseudo-count of the prior center C0_k in c_k and kappa_k (reference n0 = 5)."""
    kappa_min: float = 1.0
    """Lower clip of kappa (reference 1): a nearly uniform region."""
    kappa_max: float = 1e6
    """Upper clip of kappa (reference 1e6); the log-normaliser is exact up to here."""
    kappa_ema: float = 0.2
    """Weight of a new kappa estimate in the EMA (reference 0.2): kappa drifts, not jumps."""
    tau_a0: float = 0.5
    """a0 of the per-region threshold tau_k = sigmoid(a0 + a1 ln kappa_k) (reference 0.5)."""
    tau_a1: float = 0.1
    """a1 of tau_k (reference 0.1): tau is 0.62 at kappa 1, 0.72 at 100, 0.77 at 1e3."""
    delta_min: float = 0.05
    """delta: Update needs margin p1 - p2 >= delta (reference 0.05)."""
    eps_core: float = -0.06
    """Update core is theta1 <= R(1 - eps_core). Negative on purpose: R is the 0.9-quantile, so
    10 % of a region's own samples lie beyond R; at d >= 32 the angle spread is a few % of the
    mean angle, and a core 6 % beyond R holds ~99 % of in-distribution samples (scenario a)."""
    eps_band: float = 0.25
    """Expand band is theta1 <= R(1 + eps_band): a sample up to 25 % beyond R (e.g. 40 -> 50 deg)
    widens the region; farther it is a new preference and goes to the Add pool."""
    w_exp: float = 0.25
    """Weight of an Expand sample in statistics and training (reference 0.25)."""
    share_min_p2: float = 0.25
    """An Expand sample is shared with k2 when p2 >= this (reference copies at p2 >= 0.25)."""
    pool_min: int = 48
    """Pool size that triggers growth. The reference's 200 was never reached (Add ~1/2000);
    48 lets a coherent new taste of a few weeks become a region."""
    pool_max: int = 1024
    """Pool bound; the oldest samples are dropped first so stale outliers do not pile up."""
    pool_k_max: int = 4
    """Largest number of clusters the pool is split into per growth step (BIC picks k)."""
    min_cluster_size: int = 16
    """A pool cluster needs this many samples to become a region (one training mini-batch)."""
    cohesion_factor: float = 1.5
    """A pool cluster is cohesive when its radius <= factor x the median live radius."""
    merge_angle: float = math.radians(5.0)
    """Centers closer than this (5 deg) with overlapping balls merge. The reference's 12 deg
    merged real regions when kappa was high; 5 deg only merges near-duplicates."""
    retire_after: int = 8
    """Periods without a touch before a tiny region retires (8 weekly periods = 2 months)."""
    retire_max_weight: float = 0.02
    """A starved region retires only when its weight pi_k is below this."""
    reservoir_size: int = 1024
    """Bound of each region's replay reservoir of sample keys (bottom-k of a seeded hash)."""
    min_train_samples: int = 16
    """A region is affected (retrains) with at least this many new samples this period."""
    chunk_size: int = 65536
    """Rows scored per chunk; bounds the (chunk, K) float32 temporaries (16 MiB at K = 64)."""
    max_fit_windows: int = 20000
    """Setup windows that fit the regions: a seeded sample of this many when there are more
    (encoding every setup window adds time, not regions: 20k keep ~2k windows a region)."""
    fallback: bool = True
    """Routing (DESIGN §4.8): a row outside every region's band goes to the frozen base;
    False routes every row to its top-1 region (the no-fallback ablation)."""

    def __post_init__(self) -> None:
        _check_ints(self)
        _check_ranges(self)


def _fail(name: str, value: object, rule: str) -> None:
    raise RaieConfigError(f"{name}={value!r} should be {rule}")


def _check_ints(cfg: RegionConfig) -> None:
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if f.type == "bool":
            if not isinstance(value, bool):
                _fail(f.name, value, "a boolean")
            continue
        wants_int = f.type in ("int", "int | None")
        if (
            wants_int
            and value is not None
            and (isinstance(value, bool) or not isinstance(value, int))
        ):
            _fail(f.name, value, "an integer")
        if not wants_int and (isinstance(value, bool) or not isinstance(value, (int, float))):
            _fail(f.name, value, "a number")
        if not wants_int and not math.isfinite(value):
            _fail(f.name, value, "finite")


def _check_ranges(cfg: RegionConfig) -> None:
    if cfg.n_regions is not None and cfg.n_regions < 2:
        _fail("n_regions", cfg.n_regions, ">= 2")
    if cfg.k_min < 2:
        _fail("k_min", cfg.k_min, ">= 2")
    if cfg.k_max < cfg.k_min:
        _fail("k_max", cfg.k_max, f">= k_min={cfg.k_min}")
    for name in (
        "n_init",
        "max_iter",
        "pool_k_max",
        "min_cluster_size",
        "retire_after",
        "reservoir_size",
        "min_train_samples",
        "chunk_size",
        "max_fit_windows",
    ):
        if getattr(cfg, name) < 1:
            _fail(name, getattr(cfg, name), ">= 1")
    if cfg.pool_min < cfg.min_cluster_size:
        _fail("pool_min", cfg.pool_min, f">= min_cluster_size={cfg.min_cluster_size}")
    if cfg.pool_max < cfg.pool_min:
        _fail("pool_max", cfg.pool_max, f">= pool_min={cfg.pool_min}")
    for name in ("radius_quantile", "kappa_ema", "w_exp", "delta_min", "share_min_p2"):
        if not 0.0 < getattr(cfg, name) <= 1.0:
            _fail(name, getattr(cfg, name), "in (0, 1]")
    if not 0.0 < cfg.radius_min < cfg.radius_max <= math.pi:
        _fail("radius_max", cfg.radius_max, f"in (radius_min={cfg.radius_min}, pi]")
    if not 0.0 < cfg.kappa_min < cfg.kappa_max:
        _fail("kappa_max", cfg.kappa_max, f"> kappa_min={cfg.kappa_min} > 0")
    if not -1.0 < cfg.eps_core < 1.0:
        _fail("eps_core", cfg.eps_core, "in (-1, 1)")
    if cfg.eps_band <= -cfg.eps_core:
        _fail("eps_band", cfg.eps_band, f"> -eps_core={-cfg.eps_core} (band wider than core)")
    for name in ("n0", "cohesion_factor", "merge_angle", "retire_max_weight"):
        if getattr(cfg, name) <= 0:
            _fail(name, getattr(cfg, name), "> 0")
