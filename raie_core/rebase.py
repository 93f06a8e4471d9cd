"""The per-period base: RAIE's shared step as a full fine-tune (`SharedStep.FULL`).

Measured (issue 16, validation block V of ML-1M), a shared LoRA adapter learns less of a
period's drift than fine-tuning every weight (`full_ft`). With ``sharing.step: full`` the
shared step fine-tunes every weight of the bank's own copy of the base on the period's
windows (the `full_ft` baseline's update, `fit_rows`); that copy becomes the period's base,
served wherever no region adapter is promoted, and every retrained region adapter starts at
zero as a residual on it. Routing keys still come from the setup backbone
(`Backbone.model`, never touched), so regions keep their meaning across periods.

Cost: the base is the backbone's whole weight set, stored per period (seqrec on ML-1M:
~0.5 M parameters, 2 MB in float32; the llm backbone SmolLM2-135M: 135 M parameters,
~540 MB in float32 per period and the optimiser state of all of them while training).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from contextlib import nullcontext
from pathlib import Path

from safetensors.torch import load_file, save_file

from raie_core.adapters import AdapterTrainingSet, RegionAdapters, fit_rows
from raie_core.errors import RaieConfigError, RaieStateError
from raie_core.training import TrainResult

logger = logging.getLogger(__name__)

BASE_FILE = "base.safetensors"
"""The file of a stored per-period base (in the shared adapter's place, `SHARED_KEY`)."""
BASE_CONFIG = "base_config.json"
"""Its lineage, as peft's adapter_config.json names an adapter's base: the
``base_model_name_or_path`` of the setup base it was fine-tuned from."""


def train_base(bank: RegionAdapters, data: AdapterTrainingSet, seed: int) -> TrainResult:
    """Fine-tune every base weight of ``bank`` on ``data`` (adapters off and unchanged).

    The budget is `AdapterConfig.train` with lr `SharingConfig.full_lr`; early stopping
    keeps the start when no epoch beats it on the validation rows. ``bank.backbone.model``
    is never touched (the bank holds its own copy of the base).
    """
    if len(data) == 0:
        raise RaieConfigError("the shared base step has no training rows")
    params = list(bank.base_params().values())
    model = bank.base_model if bank.model is None else bank.model
    trainable = [p for p in model.parameters() if p.requires_grad]
    for p in trainable:
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    config = dataclasses.replace(bank.config.train, lr=bank.config.sharing.full_lr)
    off = nullcontext() if bank.model is None else bank.model.disable_adapter()
    try:
        with off:
            result = fit_rows(bank.backbone, model, params, data, config, seed)
    finally:
        for p in params:
            p.requires_grad_(False)
        for p in trainable:
            p.requires_grad_(True)
    model.eval()
    logger.info("shared base: %d epochs (best %d)", result.epochs, result.best_epoch)
    return result


def is_base_folder(folder: str | Path) -> bool:
    """Does ``folder`` hold a per-period base (`save_period_base`) rather than a peft adapter?"""
    return (Path(folder) / BASE_FILE).is_file()


def save_period_base(bank: RegionAdapters, folder: str | Path) -> None:
    """Write the bank's base weights to ``folder/base.safetensors`` (key-sorted, so the bytes
    are a function of the weights) and ``base_config.json`` naming the setup base. The bank must hold no adapter (its layers would be saved
    in the base's modules): the flow's shared step trains the base in a bank of its own."""
    if bank.model is not None:
        raise RaieStateError("save_period_base needs a bank without adapters")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = bank.base_model.state_dict()
    tensors = {name: state[name].detach().contiguous().clone() for name in sorted(state)}
    save_file(tensors, str(folder / BASE_FILE))
    origin = {"base_model_name_or_path": getattr(bank.base_model, "name_or_path", "")}
    (folder / BASE_CONFIG).write_text(json.dumps(origin, sort_keys=True) + "\n", encoding="utf-8")


def load_period_base(bank: RegionAdapters, folder: str | Path) -> None:
    """Replace the bank's base weights by those `save_period_base` wrote to ``folder``; the bank
    must hold no adapter yet (load the base first, then the adapters that sit on it)."""
    if bank.model is not None:
        raise RaieStateError("load_period_base needs a bank without adapters: load the base first")
    path = Path(folder) / BASE_FILE
    if not path.is_file():
        raise RaieStateError(f"{path} is missing: not a saved per-period base")
    bank.base_model.load_state_dict(load_file(str(path)), strict=True)
