"""config_to_dict / config_from_dict: nested frozen configs to JSON and back, unknown keys raise."""

import json
import math

import pytest

from raie_core.adapters import AdapterConfig
from raie_core.backbones.llm import PROJECTIONS, DType, LLMConfig
from raie_core.baselines import MethodConfig
from raie_core.configs import config_from_dict, config_to_dict
from raie_core.errors import RaieConfigError
from raie_core.lora import LoraShape
from raie_core.regions import RegionConfig
from raie_core.training import TrainConfig

ADAPTERS = AdapterConfig(
    lora=LoraShape(r=4, alpha=8.0, dropout=0.1, targets=("c_attn", "c_proj")),
    train=TrainConfig(lr=5e-3, batch_size=32, max_epochs=3, patience=1, val_fraction=0.2),
    replay_ratio=0.5,
    item_rows="none",
)


def test_nested_config_to_dict_hand_worked() -> None:
    data = config_to_dict(ADAPTERS)
    assert data == {
        "lora": {"r": 4, "alpha": 8.0, "dropout": 0.1, "targets": ["c_attn", "c_proj"]},
        "train": {
            "lr": 5e-3,
            "weight_decay": 0.0,
            "batch_size": 32,
            "max_epochs": 3,
            "patience": 1,
            "min_delta": 0.0,
            "grad_clip": 1.0,
            "val_fraction": 0.2,
            "keep_start": True,
        },
        "replay_ratio": 0.5,
        "item_rows": "none",
        "sharing": {
            "shared": True,
            "promote": True,
            "level": 0.9,
            "draws": 1000,
            "step": "full",
            "full_lr": 1e-4,
            "replay": True,
            "region_replay": True,
            "recent": False,
            "criterion": "loss",
            "k": 10,
        },
        "modules": [],
    }


@pytest.mark.parametrize(
    "config",
    [
        ADAPTERS,
        AdapterConfig(),
        LLMConfig(dtype=DType.BFLOAT16, lora=LoraShape(r=2, targets=("q_proj",))),
        MethodConfig(
            adapters=ADAPTERS, regions=RegionConfig(n_regions=None, fallback=False), lwf_alpha=2.0
        ),
    ],
)
def test_round_trip_through_json(config: object) -> None:
    text = json.dumps(config_to_dict(config))  # JSON-ready: enums as values, tuples as lists
    again = config_from_dict(type(config), json.loads(text))
    assert again == config
    if isinstance(again, AdapterConfig):
        assert isinstance(again.lora.targets, tuple) and isinstance(again.train, TrainConfig)


def test_missing_keys_keep_defaults() -> None:
    config = config_from_dict(AdapterConfig, {"train": {"lr": 0.01}})
    assert config.train == TrainConfig(lr=0.01)
    assert config.lora == LoraShape() and config.replay_ratio == 0.7
    llm = config_from_dict(LLMConfig, {"dtype": "float32"})
    assert llm.dtype is DType.FLOAT32 and llm.lora.targets == PROJECTIONS
    assert (llm.train.max_epochs, llm.train.batch_size) == (1, 8)


@pytest.mark.parametrize(
    ("cls", "data", "key"),
    [
        (AdapterConfig, {"train": {"lrr": 0.1}}, "train.lrr"),
        (AdapterConfig, {"lora": {"rank": 4}}, "lora.rank"),
        (AdapterConfig, {"warm_start": "zero"}, "warm_start"),  # the removed field
        (MethodConfig, {"adapters": {"train": {"epochs": 3}}}, "adapters.train.epochs"),
        (MethodConfig, {"regions": {"replay_ratio": 0.7}}, "regions.replay_ratio"),
        (LLMConfig, {"template": {"prefx": ""}}, "template.prefx"),
    ],
)
def test_unknown_key_raises_naming_its_full_path(cls: type, data: dict, key: str) -> None:
    with pytest.raises(RaieConfigError, match=f"unknown config key '{key}' for "):
        config_from_dict(cls, data)


def test_bad_values_are_validated_by_the_dataclass() -> None:
    with pytest.raises(RaieConfigError, match="lr=-1.0 should be > 0"):
        config_from_dict(AdapterConfig, {"train": {"lr": -1.0}})
    with pytest.raises(RaieConfigError, match="r=0 should be >= 1"):
        config_from_dict(AdapterConfig, {"lora": {"r": 0}})
    with pytest.raises(RaieConfigError, match="replay_ratio=1.0 should be in"):
        config_from_dict(AdapterConfig, {"replay_ratio": 1.0})
    with pytest.raises(RaieConfigError, match="dtype='float16' should be one of 'auto'"):
        config_from_dict(LLMConfig, {"dtype": "float16"})
    with pytest.raises(RaieConfigError, match=r"train=\[1, 2\] should be a mapping"):
        config_from_dict(TrainConfig, [1, 2], where="train")  # type: ignore[arg-type]


def test_region_config_round_trip_keeps_radians() -> None:
    config = RegionConfig(merge_angle=math.radians(3.0), max_fit_windows=500, fallback=False)
    again = config_from_dict(RegionConfig, json.loads(json.dumps(config_to_dict(config))))
    assert again == config and again.merge_angle == math.radians(3.0)


def test_a_home_set_up_before_item_rows_still_reads() -> None:
    assert config_from_dict(AdapterConfig, {"new_item_rows": True}).item_rows == "new"
    assert config_from_dict(AdapterConfig, {"new_item_rows": False}).item_rows == "none"
