"""Every `raie` option says its default: `state_defaults` appends "(default X)" to the help
of each option whose default is a value and whose help does not name its default already."""

from __future__ import annotations

import argparse

NO_DEFAULT = (None, False, argparse.SUPPRESS)
"""Defaults that are not worth stating: not given, a flag left off, not set."""


def state_defaults(parser: argparse.ArgumentParser) -> None:
    """Append the default to the help of ``parser``'s options (not its sub-commands')."""
    for action in parser._actions:
        if not action.option_strings or action.required or action.help is None:
            continue
        if action.default in NO_DEFAULT or action.help == argparse.SUPPRESS:
            continue
        if "default" not in action.help:
            action.help = f"{action.help} (default {action.default})"


def state_all_defaults(parser: argparse.ArgumentParser) -> None:
    """`state_defaults` on ``parser`` and on every sub-command parser built so far."""
    state_defaults(parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in set(action.choices.values()):
                state_all_defaults(child)
