"""Flow parameters: one pydantic model built from the core configs, so each knob is defined once.

`PipelineConfig` is fixed at setup (saved with the base) and reused by every later update of
the same dataset; flows take it, tasks receive its parts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

import raie_core
from flows.env import DEFAULT_DATASET
from raie_core.adapters import AdapterConfig
from raie_core.backbones.llm import LLMConfig
from raie_core.backbones.seqrec import SeqRecConfig
from raie_core.errors import RaieConfigError
from raie_core.gate import GateConfig
from raie_core.protocol import ProtocolConfig
from raie_core.regions import RegionConfig

DATASET_EVERY = {"ml-1m": "1mo"}
"""The period length of a dataset when no config or flag names one (else "1w"): ML-1M holds
92 % of its ratings in 2000-04 .. 2000-12 and thins out after, so its periods are months."""


def _streaming_protocol() -> ProtocolConfig:
    # Production windows: context reaches back into earlier periods; short histories count.
    return ProtocolConfig(min_context=3, stride=1, cross_blocks=True)


class PipelineConfig(BaseModel):
    """Everything that decides what an update computes (hashed into every bank version)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=False, extra="forbid")

    dataset: str = DEFAULT_DATASET
    path: str | None = Field(default=None, description="source folder/file; None = built-in")
    mapping: dict[str, str] | None = Field(
        default=None,
        description="table columns by schema name (user, item, timestamp, rating); None = the "
        "schema's own names (`raie setup --map`, as `raie data validate --map`)",
    )
    every: Literal["1d", "1w", "1mo"] = Field(default="1w", description="snapshot period")
    backbone: Literal["seqrec", "llm"] = Field(default="seqrec", description="the backbone")
    seed: int = 0
    protocol: ProtocolConfig = Field(default_factory=_streaming_protocol)
    seqrec: SeqRecConfig = Field(default_factory=SeqRecConfig, description="the seqrec backbone")
    llm: LLMConfig = Field(default_factory=LLMConfig)
    regions: RegionConfig = Field(default_factory=RegionConfig)
    adapters: AdapterConfig = Field(
        default_factory=AdapterConfig,
        description="LoRA shape, training budget and replay ratio of every region adapter",
    )
    gate: GateConfig = Field(
        default_factory=GateConfig,
        description="statistical quality gate of each nightly candidate (raie_core/gate.py)",
    )

    def config_hash(self) -> str:
        """Content hash of the config and the core version (cache keys, manifests)."""
        payload = self.model_dump(mode="json")
        payload["raie_core"] = raie_core.__version__
        text = json.dumps(payload, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


UNKNOWN_KEY_ERRORS = ("extra_forbidden", "unexpected_keyword_argument")
"""pydantic's error types for a key the config does not have (top level / nested)."""


def pipeline_config(data: dict, source: str) -> PipelineConfig:
    """Validate a config mapping (any subset of the fields; the rest keep their defaults).

    source: where ``data`` came from, named in the error. Unknown keys and bad values raise
    RaieConfigError in one sentence naming the source, the field and the value.
    """
    if "every" not in data:
        dataset = str(data.get("dataset", DEFAULT_DATASET))
        data = {**data, "every": DATASET_EVERY.get(dataset, "1w")}
    try:
        return PipelineConfig.model_validate(_merge(_defaults(), data))
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "config"
        if first["type"] in UNKNOWN_KEY_ERRORS:
            problem = f"unknown key {field} (value {first['input']!r})"
        elif first["type"].startswith("value_error"):
            problem = f"{field}: {first['msg'].removeprefix('Value error, ')}"
        else:
            problem = f"{field}={first['input']!r}: {first['msg']}"
        raise RaieConfigError(f"{source}: {problem}") from None


@cache
def _defaults() -> dict:
    """Every field's default: a partial mapping is merged onto it, so a nested field left out
    keeps the pipeline's default (e.g. the streaming protocol), not its class's."""
    return PipelineConfig().model_dump(mode="json")


def run_config(path: str | None, flags: dict) -> PipelineConfig:
    """The config of a command run: ``--config FILE`` (or the defaults), then the ``flags``
    that were given on top (nested mappings; None = not given), the llm rule applied."""
    flags = _given(flags)
    if path is None:
        return for_backbone(pipeline_config(flags, "the command line"))
    return for_backbone(load_config(path, flags))


def _given(flags: dict) -> dict:
    """``flags`` without the values left None (and the mappings left empty by that)."""
    out = {}
    for key, value in flags.items():
        value = _given(value) if isinstance(value, dict) else value
        if value is not None and value != {}:
            out[key] = value
    return out


def for_backbone(config: PipelineConfig) -> PipelineConfig:
    """``config`` with the llm's rule applied: LLM activations are large, so with the llm
    backbone the region adapters train in the llm's own batch size."""
    if config.backbone != "llm":
        return config
    train = replace(config.adapters.train, batch_size=config.llm.train.batch_size)
    return config.model_copy(update={"adapters": replace(config.adapters, train=train)})


def stored_config(store: object) -> PipelineConfig:
    """The validated config that setup saved with the base of ``store`` (a `tasks.store.Store`)."""
    from tasks.models import PIPELINE_CONFIG, read_pipeline_config

    return pipeline_config(read_pipeline_config(store), str(store.base_dir / PIPELINE_CONFIG))


def load_config(path: str | Path, overrides: dict | None = None) -> PipelineConfig:
    """A `PipelineConfig` from a YAML or JSON file, with ``overrides`` (nested dicts) on top."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise RaieConfigError(f"config file {path} cannot be read: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise RaieConfigError(f"config file {path} is not valid YAML/JSON: {error}") from None
    if not isinstance(data, dict):
        raise RaieConfigError(
            f"config file {path} should hold a mapping, not {type(data).__name__}"
        )
    return pipeline_config(_merge(data, overrides or {}), str(path))


def _merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for key, value in top.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merge(out[key], value) if both else value
    return out
