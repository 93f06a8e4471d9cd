"""The settings of a `raie bench quality` run: the methods it compares, the pipeline config
built from ``--config`` and the flags, and the one `MethodConfig` every method shares."""

from __future__ import annotations

import argparse
from typing import Any

from raie_core.baselines import ABLATIONS, METHODS, MethodConfig
from raie_core.errors import RaieConfigError
from raie_core.protocol import ProtocolConfig

DEFAULT_METHODS = tuple(METHODS)
WINDOW_BUDGETS = ("max_windows", "max_update_windows", "max_eval_windows")
"""Options that cut the windows a run trains or scores on; each should be >= 1 when given."""


def method_names(args: argparse.Namespace) -> list[str]:
    """The methods of ``--methods`` (plus every RAIE ablation with ``--ablations``), in order."""
    names = [m.strip() for m in args.methods.split(",") if m.strip()]
    if args.ablations:
        names += [a for a in ABLATIONS if a not in names]
    known = set(METHODS) | set(ABLATIONS)
    bad = [m for m in names if m not in known]
    if bad or not names:
        raise RaieConfigError(f"--methods {bad or names} should name methods among {sorted(known)}")
    return names


def check_budgets(args: argparse.Namespace) -> None:
    """Raise `RaieConfigError` naming the first window budget set below 1."""
    for name in WINDOW_BUDGETS:
        value = getattr(args, name)
        if value is not None and value < 1:
            raise RaieConfigError(f"--{name.replace('_', '-')} {value} should be >= 1")


def bench_config(args: argparse.Namespace) -> Any:
    """The pipeline's own `PipelineConfig` for this run: ``--config FILE`` (else the
    defaults), then the flags that were given (dataset, path, every, backbone, its setup
    budget, the update cap). The paper preset cuts the paper's windows (`ProtocolConfig()`),
    the streaming preset the pipeline's. Writes the resolved dataset / every / backbone back
    into ``args`` (the plans and the report read them there)."""
    from flows.params import run_config

    flags = {
        "dataset": args.dataset,
        "path": args.path,
        "every": args.every,
        "backbone": args.backbone,
        "seqrec": {
            "train": {"max_epochs": args.backbone_epochs, "batch_size": args.backbone_batch}
        },
        "adapters": {"train": {"max_epochs": args.epochs}},
        "llm": {"max_windows": args.max_windows},
    }
    config = run_config(args.config, flags)
    if args.preset == "paper":
        config = config.model_copy(update={"protocol": ProtocolConfig()})
    args.dataset, args.every, args.backbone = config.dataset, config.every, config.backbone
    return config


def method_config(pipeline: Any) -> MethodConfig:
    """Every method's config: the pipeline's region and adapter settings (one source)."""
    return MethodConfig(adapters=pipeline.adapters, regions=pipeline.regions)
