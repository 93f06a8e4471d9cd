"""`raie ui` and `raie lineage` (placeholder registration; filled in by its issue)."""

import argparse


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add this group's sub-commands to the `raie` parser."""
