"""`PipelineConfig`: the defaults nest the core configs, unknown keys are refused, and the
llm rule of `for_backbone`. (Config files and the CLI: test_config_file.py.)"""

from dataclasses import replace

import pytest
from pydantic import ValidationError

from flows.params import PipelineConfig, for_backbone, pipeline_config, run_config
from raie_core.adapters import AdapterConfig
from raie_core.backbones.seqrec import SeqRecConfig
from raie_core.errors import RaieConfigError
from raie_core.training import TrainConfig


def test_defaults_are_the_core_configs() -> None:
    config = PipelineConfig()
    assert config.adapters == AdapterConfig()  # 10 epochs, patience 2, rho 0.7
    assert (config.adapters.train.max_epochs, config.adapters.train.patience) == (10, 2)
    assert config.seqrec == SeqRecConfig(
        train=TrainConfig(batch_size=256, lr=2e-3, max_epochs=200, patience=3)
    )
    assert config.regions.max_fit_windows == 20000 and config.regions.fallback


@pytest.mark.parametrize("key", ["max_fit_windows", "eval_k", "lr"])
def test_unknown_top_level_key_is_refused(key: str) -> None:
    with pytest.raises(ValidationError, match=key):
        PipelineConfig(**{key: 1})
    with pytest.raises(RaieConfigError, match=f"where: .*{key}"):
        pipeline_config({key: 1}, "where")


def test_unknown_nested_key_is_refused_with_its_path() -> None:
    with pytest.raises(RaieConfigError, match=r"adapters\.train\.lrr"):
        pipeline_config({"adapters": {"train": {"lrr": 0.1}}}, "where")
    with pytest.raises(RaieConfigError, match=r"regions\.replay_ratio"):
        pipeline_config({"regions": {"replay_ratio": 0.7}}, "where")


def test_for_backbone_trains_llm_adapters_in_the_llm_batch() -> None:
    seqrec = PipelineConfig()
    assert for_backbone(seqrec) == seqrec
    llm = PipelineConfig(backbone="llm")
    adapted = for_backbone(llm)
    assert adapted.adapters.train == replace(llm.adapters.train, batch_size=8)
    assert adapted.adapters.lora == llm.adapters.lora and adapted.llm == llm.llm
    assert adapted.config_hash() != llm.config_hash()


def test_ml1m_periods_are_months_unless_named() -> None:
    assert pipeline_config({"dataset": "ml-1m"}, "test").every == "1mo"
    assert pipeline_config({"dataset": "ml-1m", "every": "1w"}, "test").every == "1w"
    assert pipeline_config({}, "test").every == "1w"
    assert run_config(None, {"dataset": "ml-1m", "every": None}).every == "1mo"
