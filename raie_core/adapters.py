"""Per-region LoRA adapters on one frozen base, their training and routed inference.

DESIGN §4.7–4.8: one `PeftModel` with one named LoRA adapter per region (plus optionally a
`global` one), trained one region at a time with the base frozen; new-item embedding rows
(items unseen at setup) are trained per adapter through peft's `trainable_token_indices`;
scoring mixes adapters in one batch with peft's `adapter_names=[...]`.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np
import torch
from peft import LoraConfig, PeftModel, get_peft_model

from raie_core.backbones.base import Backbone
from raie_core.configs import config_from_dict, config_to_dict
from raie_core.errors import RaieConfigError, RaieStateError
from raie_core.lora import LoraShape
from raie_core.protocol import Windows
from raie_core.sharing import SHARED_KEY, SharingConfig
from raie_core.training import TrainConfig, TrainResult, fit, validation_split

logger = logging.getLogger(__name__)

BASE = "__base__"
"""peft's name for "no adapter" in a mixed batch."""
GLOBAL = "global"
"""Name of the one adapter of the global baselines (`lora`, `replay`, `lwf`)."""
MANIFEST = "adapters.json"
ITEM_ROWS = ("none", "new", "all")
"""`AdapterConfig.item_rows` choices."""


class WarmStart(Enum):
    """Where an adapter starts before training (DESIGN §4.7; the rule: `raie_core.update`)."""

    PREVIOUS = "previous"
    """Continue from the region's own current version (it must exist)."""
    PARENT = "parent"
    """Copy another region's adapter (the nearest / parent region)."""
    ZERO = "zero"
    """Fresh LoRA (B = 0, so the start equals the base) and base item rows."""
    SHARED = "shared"
    """Copy this period's shared adapter (`GLOBAL`; `raie_core.sharing`)."""


@dataclass(frozen=True)
class AdapterConfig:
    """How every adapter (each RAIE region's, and the adapter baselines') is shaped and trained.

    lora: the LoRA shape (`LoraShape`). train: the training budget (`TrainConfig`; its
    val_fraction is the share of the *new* rows held out for early stopping, replay rows
    always train). replay_ratio: rho, the share of replayed older windows in a region's
    training set (reference 0.7; n_replay = `replay_count`). item_rows: which item embedding
    rows an adapter trains besides its LoRA weights: "new" (items unknown at setup), "all"
    (every item's row, so popularity shifts of known items are learnt too) or "none". sharing: RAIE's shared adapter and region
    promotion (`SharingConfig`; the baselines ignore it). modules: module names each adapter
    trains a whole copy of besides its LoRA (peft ``modules_to_save``), e.g. GPT-2's position
    embedding ``wpe``; only Linear / Embedding modules, the kinds peft mixes in one batch
    (layer norms are not); empty: LoRA and item rows only.
    """

    lora: LoraShape = field(default_factory=LoraShape)
    train: TrainConfig = field(default_factory=TrainConfig)
    replay_ratio: float = 0.7
    item_rows: str = "new"
    sharing: SharingConfig = field(default_factory=SharingConfig)
    modules: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "modules", tuple(self.modules))
        if not 0.0 <= self.replay_ratio < 1.0:
            raise RaieConfigError(f"replay_ratio={self.replay_ratio} should be in [0, 1)")
        if self.item_rows not in ITEM_ROWS:
            raise RaieConfigError(f"item_rows={self.item_rows!r} should be one of {ITEM_ROWS}")

    @staticmethod
    def upgrade_keys(data: dict) -> dict:
        """Homes set up before `item_rows` stored ``new_item_rows: bool``; read it as
        item_rows "new" (true) or "none" (false)."""
        if "new_item_rows" not in data:
            return data
        data = dict(data)
        flag = data.pop("new_item_rows")
        data.setdefault("item_rows", "new" if flag else "none")
        return data


@dataclass(frozen=True, eq=False)
class AdapterTrainingSet:
    """One region's training rows: new samples (weighted) and replay.

    context: (n, L) int64 left-padded; target: (n,) int64; weight: (n,) float32 > 0;
    replay: (n,) bool, True for replayed older samples (never used for validation);
    timestamp: (n,) int64 time of each target, or empty when unknown (then validation rows
    are drawn at random instead of being the latest new rows).
    """

    context: np.ndarray
    target: np.ndarray
    weight: np.ndarray
    replay: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    timestamp: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        n = len(self.target)
        if len(self.replay) == 0 and n:
            object.__setattr__(self, "replay", np.zeros(n, dtype=bool))
        if not (len(self.context) == len(self.weight) == len(self.replay) == n):
            raise RaieConfigError("context, target, weight and replay should have the same rows")
        if len(self.timestamp) not in (0, n):
            raise RaieConfigError(f"timestamp rows={len(self.timestamp)} should be 0 or {n}")
        if n and float(np.min(self.weight)) <= 0:
            raise RaieConfigError(f"weight min={float(np.min(self.weight))} should be > 0")

    def __len__(self) -> int:
        return int(len(self.target))

    def split(self, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(train, val) int64 rows: validation from the new rows only (the latest ones when
        timestamps are known, else seeded random), replay always trains."""
        rows = np.arange(len(self), dtype=np.int64)
        new = rows[~self.replay]
        times = self.timestamp[new] if len(self.timestamp) else None
        return validation_split(new, fraction, seed, others=rows[self.replay], times=times)

    @staticmethod
    def from_windows(
        new: Windows, weight: np.ndarray | None = None, replay: Windows | None = None
    ) -> AdapterTrainingSet:
        """New windows with optional (n_new,) weights (default 1) plus replay windows (weight 1)."""
        parts = [new] if replay is None else [new, replay]
        both = Windows.concat(parts)
        w_new = np.ones(len(new), np.float32) if weight is None else np.asarray(weight, np.float32)
        n_replay = 0 if replay is None else len(replay)
        return AdapterTrainingSet(
            context=both.context.astype(np.int64),
            target=both.target.astype(np.int64),
            weight=np.concatenate([w_new, np.ones(n_replay, np.float32)]),
            replay=np.concatenate([np.zeros(len(new), bool), np.ones(n_replay, bool)]),
            timestamp=both.timestamp.astype(np.int64),
        )


def adapter_name(region_id: int) -> str:
    """Adapter name of a region: fixed width, so no name is a prefix of another;
    `SHARED_KEY` names the shared adapter `GLOBAL`."""
    if region_id == SHARED_KEY:
        return GLOBAL
    if region_id < 0:
        raise RaieConfigError(f"region_id={region_id} should be >= 0 (or {SHARED_KEY}: shared)")
    return f"region-{region_id:06d}"


class RegionAdapters:
    """Named LoRA adapters over one frozen copy of a backbone's base model.

    The base is deep-copied so `backbone.model` stays an adapter-free base. `model` is the
    `PeftModel` (None until the first adapter is added).
    """

    def __init__(self, backbone: Backbone, config: AdapterConfig) -> None:
        self.backbone = backbone
        self.config = config
        self.model: PeftModel | None = None
        self._base = copy.deepcopy(backbone.model).requires_grad_(False).eval()

    @property
    def base_model(self) -> torch.nn.Module:
        """The bank's own copy of the base (the setup backbone's weights, or the period's
        fine-tuned base, `raie_core.rebase`); with adapters it holds their layers too, so run
        it through `model` with adapter ``BASE`` then."""
        return self._base

    @property
    def names(self) -> tuple[str, ...]:
        return () if self.model is None else tuple(sorted(self.model.peft_config))

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def lora_config(self) -> LoraConfig:
        """The peft config every adapter of this bank uses."""
        c = self.config
        rows = [] if c.item_rows == "none" else self.backbone.item_rows(c.item_rows == "new")
        return LoraConfig(
            r=c.lora.r,
            lora_alpha=c.lora.alpha,
            lora_dropout=c.lora.dropout,
            target_modules=list(c.lora.targets or self.backbone.lora_targets),
            fan_in_fan_out=self.backbone.fan_in_fan_out,
            trainable_token_indices=rows or None,
            modules_to_save=list(c.modules) or None,
        )

    def add(
        self, name: str, warm_start: WarmStart, source: str | None = None, seed: int = 0
    ) -> None:
        """Create or reinitialise adapter ``name`` (PREVIOUS keeps it as it is).

        PARENT and SHARED copy adapter ``source``; ZERO starts fresh (seeded LoRA A, B = 0,
        item rows = base rows).
        """
        if name == BASE:
            raise RaieConfigError(f"adapter name {BASE!r} is reserved")
        if warm_start is WarmStart.PREVIOUS:
            if name not in self:
                raise RaieStateError(f"adapter {name!r} has no previous version to continue")
            return
        if warm_start is not WarmStart.ZERO and (source is None or source not in self):
            raise RaieStateError(
                f"warm_start={warm_start.value} needs an existing source adapter, got {source!r}"
            )
        if name in self:
            self.delete(name)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if self.model is None:
                self.model = get_peft_model(self._base, self.lora_config(), adapter_name=name)
            else:
                self.model.add_adapter(name, self.lora_config())
        if warm_start is not WarmStart.ZERO:
            _copy_adapter(self.model, str(source), name)

    def delete(self, name: str) -> None:
        """Remove a (retired) adapter."""
        if name not in self:
            raise RaieStateError(f"adapter {name!r} does not exist")
        assert self.model is not None
        others = [n for n in self.names if n != name]
        if not others:  # peft cannot delete its last adapter: remove its layers instead
            self._base = self.model.unload()
            self.model = None
            return
        if name in self.model.active_adapters:
            self.model.set_adapter(others[0])  # peft warns when the active adapter is deleted
        self.model.delete_adapter(name)

    def adapter_params(self, name: str) -> dict[str, torch.nn.Parameter]:
        """The parameters that belong to adapter ``name`` (LoRA A/B and new item rows)."""
        if self.model is None or name not in self:
            raise RaieStateError(f"adapter {name!r} does not exist")
        return {n: p for n, p in self.model.named_parameters() if name in n.split(".")}

    def base_params(self) -> dict[str, torch.nn.Parameter]:
        """The frozen base weights the bank runs (every parameter of no adapter)."""
        names = set(self.names)
        return {n: p for n, p in self._base.named_parameters() if not names & set(n.split("."))}

    def save(self, path: str | Path) -> None:
        """Write ``adapters.json`` and one ``<name>/`` folder of safetensors per adapter."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for name in self.names:
            assert self.model is not None
            self.model.save_pretrained(str(path), selected_adapters=[name])
        manifest = {"config": config_to_dict(self.config), "names": list(self.names)}
        (path / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")

    @classmethod
    def load(cls, backbone: Backbone, path: str | Path) -> RegionAdapters:
        """Rebuild a bank written by `save` on top of ``backbone`` (trainable again)."""
        path = Path(path)
        if not (path / MANIFEST).is_file():
            raise RaieStateError(f"{path / MANIFEST} is missing: not a saved adapter bank")
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        bank = cls(backbone, config_from_dict(AdapterConfig, manifest["config"]))
        for name in manifest["names"]:
            bank.load_adapter(name, path / name)
        return bank

    def load_adapter(self, name: str, folder: str | Path) -> None:
        """Load one adapter folder (adapter_config.json + adapter_model.safetensors)."""
        if not (Path(folder) / "adapter_config.json").is_file():
            raise RaieStateError(f"{folder} holds no adapter_config.json")
        if name in self:
            self.delete(name)
        if self.model is None:
            self.model = PeftModel.from_pretrained(
                self._base, str(folder), adapter_name=name, is_trainable=True
            )
        else:
            self.model.load_adapter(str(folder), adapter_name=name, is_trainable=True)


def continue_or_zero(bank: RegionAdapters, name: str) -> WarmStart:
    """PREVIOUS when ``name`` already exists (later periods), else a fresh ZERO adapter."""
    return WarmStart.PREVIOUS if name in bank else WarmStart.ZERO


def _copy_adapter(model: PeftModel, source: str, target: str) -> None:
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, param in params.items():
            parts = name.split(".")
            if target not in parts:
                continue
            src_name = ".".join(source if p == target else p for p in parts)
            if src_name not in params or params[src_name].shape != param.shape:
                raise RaieStateError(f"adapter {source!r} does not match {target!r} at {name}")
            param.copy_(params[src_name])


def train_adapter(
    bank: RegionAdapters,
    name: str,
    data: AdapterTrainingSet,
    seed: int,
    warm_start: WarmStart,
    source: str | None = None,
) -> TrainResult:
    """Initialise (``warm_start`` from ``source``) and train adapter ``name``.

    Only this adapter's LoRA weights and new-item rows change; the base and every other
    adapter stay bit-identical. Early stopping on `AdapterTrainingSet.split` (the latest
    new rows when timestamps are known); the starting weights are kept when no epoch beats
    them on validation. Weighted full-softmax cross-entropy (sample weights from ``data``).
    """
    if len(data) == 0:
        raise RaieConfigError(f"adapter {name!r} has no training rows")
    bank.add(name, warm_start, source, seed)
    model = bank.model
    assert model is not None
    model.set_adapter(name)
    own = bank.adapter_params(name)
    params = [p for p in model.parameters() if p.requires_grad]
    if {id(p) for p in params} != {id(p) for p in own.values()}:
        raise RaieStateError(f"trainable parameters of {name!r} are not exactly its own")
    result = fit_rows(bank.backbone, model, params, data, bank.config.train, seed)
    model.eval()
    logger.info("adapter %s: %d epochs (best %d)", name, result.epochs, result.best_epoch)
    return result


def fit_rows(
    backbone: Backbone,
    model: torch.nn.Module,
    params: list[torch.nn.Parameter],
    data: AdapterTrainingSet,
    config: TrainConfig,
    seed: int,
) -> TrainResult:
    """`fit` ``params`` of ``model`` on ``data``: weighted full-softmax cross-entropy,
    early stopping on `AdapterTrainingSet.split` (the latest new rows when timestamps are
    known). One loop for every adapter, the shared base step and the `full_ft` baseline."""
    context = torch.from_numpy(np.ascontiguousarray(data.context, dtype=np.int64))
    target = torch.from_numpy(np.ascontiguousarray(data.target, dtype=np.int64))
    weight = torch.from_numpy(np.ascontiguousarray(data.weight, dtype=np.float32))
    train_idx, val_idx = data.split(config.val_fraction, seed)

    def loss_fn(index: torch.Tensor) -> torch.Tensor:
        return backbone.loss(model, context[index], target[index], weight[index])

    return fit(model, params, loss_fn, train_idx, val_idx, config, seed)
