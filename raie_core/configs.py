"""Nested frozen config dataclasses to and from JSON-ready dicts (saved backbones, banks).

`config_from_dict` rebuilds nested configs (a field whose type is a dataclass, an Enum, a
tuple) and rejects unknown keys with one sentence naming the key, so a misspelt field never
silently takes its default. Values are then validated by each dataclass's `__post_init__`.
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from typing import Any, TypeVar

from raie_core.errors import RaieConfigError

T = TypeVar("T")


def config_to_dict(config: Any) -> dict[str, Any]:
    """A frozen config dataclass -> JSON-ready dict (enums as values, tuples as lists)."""
    return {f.name: _to_json(getattr(config, f.name)) for f in dataclasses.fields(config)}


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return config_to_dict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    return value


def config_from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build ``cls`` from ``data`` (the output of `config_to_dict`, or a subset of it).

    Missing keys keep their defaults; an unknown key raises RaieConfigError naming it
    (``where`` prefixes nested names, e.g. ``adapters.train.lr``). A class may define a static
    ``upgrade_keys(data) -> data`` that renames keys of older stored configs first.
    """
    if not isinstance(data, dict):
        raise RaieConfigError(f"{where or cls.__name__}={data!r} should be a mapping")
    upgrade = getattr(cls, "upgrade_keys", None)
    data = upgrade(data) if upgrade is not None else data
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        raise RaieConfigError(
            f"unknown config key {where + unknown[0]!r} for {cls.__name__}; "
            f"known keys: {', '.join(sorted(names))}"
        )
    values = {k: _from_json(hints[k], v, f"{where}{k}.") for k, v in data.items()}
    return cls(**values)


def _from_json(hint: Any, value: Any, where: str) -> Any:
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return config_from_dict(hint, value, where)
    if isinstance(hint, type) and issubclass(hint, enum.Enum) and not isinstance(value, hint):
        try:
            return hint(value)
        except ValueError:
            choices = ", ".join(repr(m.value) for m in hint)
            raise RaieConfigError(f"{where[:-1]}={value!r} should be one of {choices}") from None
    if typing.get_origin(hint) is tuple and isinstance(value, list):
        return tuple(value)
    return value
