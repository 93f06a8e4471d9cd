"""Region editing, the heart of RAIE (DESIGN §4): fit, score, gate, grow, merge, retire, route.

A pure, immutable library: every step takes a :class:`Regions` value and returns a new one.
Inputs X are (n, d) float32 arrays with unit-norm rows.
"""

from raie_core.regions.config import Action, RegionConfig, RegionStatus, RouteReason, SampleSource
from raie_core.regions.drift import DriftScores, log_posterior, score_drift
from raie_core.regions.edit import Decisions, EditResult, edit_regions, gate_samples
from raie_core.regions.fit import KMeansResult, fit_regions, spherical_kmeans, vmf_bic
from raie_core.regions.io import load_regions, save_regions
from raie_core.regions.route import Route, route
from raie_core.regions.state import Regions
from raie_core.regions.training import RegionTrainingSet, TrainingSets, region_training_sets
from raie_core.regions.vmf import estimate_kappa, log_bessel_iv, log_normalizer, thresholds

__all__ = [
    "Action",
    "Decisions",
    "DriftScores",
    "EditResult",
    "KMeansResult",
    "RegionConfig",
    "RegionStatus",
    "RegionTrainingSet",
    "Regions",
    "Route",
    "RouteReason",
    "SampleSource",
    "TrainingSets",
    "edit_regions",
    "estimate_kappa",
    "fit_regions",
    "gate_samples",
    "load_regions",
    "log_bessel_iv",
    "log_normalizer",
    "log_posterior",
    "region_training_sets",
    "route",
    "save_regions",
    "score_drift",
    "spherical_kmeans",
    "thresholds",
    "vmf_bic",
]
