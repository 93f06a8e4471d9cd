"""raie_core.data: load, validate, describe and cut interaction data into periods (issue 2).

Public API (docs/interfaces.md): ``load_dataset``, ``Dataset``, ``describe``, ``Period``,
``assign_periods``, ``ml100k_root``, ``ml1m_root``, ``ValidationMode``, the schemas, the
RaieDataError hierarchy and the controlled drift (``DriftConfig``, ``inject_drift``).
"""

from raie_core.data.drift import Drift, DriftConfig, DriftSummary, inject_drift
from raie_core.data.errors import (
    DelimiterError,
    DuplicateRowError,
    EmptyInputError,
    EncodingError,
    InvalidValueError,
    MalformedLineError,
    MappingError,
    MissingColumnError,
    MissingFileError,
    MissingValueError,
)
from raie_core.data.periods import Every, Period, assign_periods, describe, period_start
from raie_core.data.schema import (
    CATALOG_COLUMNS,
    INTERACTION_COLUMNS,
    QUARANTINE_SCHEMA,
    Dataset,
    ValidationMode,
    check_interactions,
)
from raie_core.data.sources import Source, load_dataset, ml1m_root, ml100k_root
from raie_core.data.yelp import YelpRules, k_core

__all__ = [
    "CATALOG_COLUMNS",
    "INTERACTION_COLUMNS",
    "QUARANTINE_SCHEMA",
    "Dataset",
    "DelimiterError",
    "Drift",
    "DriftConfig",
    "DriftSummary",
    "DuplicateRowError",
    "EmptyInputError",
    "EncodingError",
    "Every",
    "InvalidValueError",
    "MalformedLineError",
    "MappingError",
    "MissingColumnError",
    "MissingFileError",
    "MissingValueError",
    "Period",
    "Source",
    "ValidationMode",
    "YelpRules",
    "assign_periods",
    "check_interactions",
    "describe",
    "inject_drift",
    "k_core",
    "load_dataset",
    "ml100k_root",
    "ml1m_root",
    "period_start",
]
