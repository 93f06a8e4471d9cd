"""The choices of the `raie` options that several commands share, defined once.

Literal copies of `raie_core.data.Source`, `ValidationMode` and `Every` (tests/flows/
test_cli_data.py keeps them equal), so that building the parser does not import polars.
"""

FORMATS = ("ml-100k", "ml-1m", "movielens", "yelp", "table")
"""Data source formats (`--dataset` of `raie data`, `--format` of `raie data validate`)."""
MODES = ("strict", "quarantine")
"""What a bad data row does: fail the command, or go to quarantine.parquet."""
EVERY = ("1d", "1w", "1mo")
"""Period lengths (`--every` of setup, backfill, data snapshots and bench quality)."""
BACKBONES = ("seqrec", "llm")
"""Backbones (`--backbone` of setup and bench quality)."""
