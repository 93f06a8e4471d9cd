"""`raie setup --config FILE` / `raie bench quality --config FILE`: one validated pipeline config.

The documented example is the defaults (so docs cannot drift from code), overrides nest, and
a misspelt or out-of-range knob is refused in one sentence naming the file and the key,
before anything is written under the home.
"""

import dataclasses
from pathlib import Path

import pytest

from flows.cli import main
from flows.params import PipelineConfig, load_config, pipeline_config
from raie_core.errors import RaieConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "pipeline-config.yaml"


def test_documented_example_is_the_defaults() -> None:
    config = load_config(EXAMPLE)
    assert config == PipelineConfig()
    assert config.config_hash() == PipelineConfig().config_hash()


def test_overrides_nest_and_change_the_hash(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"adapters": {"train": {"max_epochs": 3}}, "seed": 7}')
    config = load_config(path, {"adapters": {"lora": {"r": 4}}, "seed": 1})
    assert config.adapters.train.max_epochs == 3 and config.adapters.train.patience == 2
    assert config.adapters.lora.r == 4 and config.seed == 1
    expected = PipelineConfig(
        seed=1,
        adapters=dataclasses.replace(
            PipelineConfig().adapters,
            train=dataclasses.replace(PipelineConfig().adapters.train, max_epochs=3),
            lora=dataclasses.replace(PipelineConfig().adapters.lora, r=4),
        ),
    )
    assert config == expected and config.config_hash() != PipelineConfig().config_hash()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("adapters:\n  train: {lrr: 0.01}\n", "unknown key adapters.train.lrr"),
        ("regions:\n  n_regions: 1\n", "n_regions=1 should be >= 2"),
        ("max_fit_windows: 100\n", "unknown key max_fit_windows"),
        ("seed: abc\n", "seed='abc'"),
        ("- 1\n- 2\n", "should hold a mapping"),
    ],
)
def test_bad_files_name_the_file_and_key(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    with pytest.raises(RaieConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and named in str(info.value)


def test_a_partial_nested_mapping_keeps_the_pipeline_defaults(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("protocol: {stride: 2}\nseqrec: {train: {max_epochs: 7}}\n")
    config, default = load_config(path), PipelineConfig()
    assert config.protocol == dataclasses.replace(default.protocol, stride=2)
    assert config.protocol.cross_blocks and config.protocol.min_context == 3  # streaming
    assert config.seqrec.train == dataclasses.replace(default.seqrec.train, max_epochs=7)


def test_flags_are_validated_like_the_file() -> None:
    with pytest.raises(RaieConfigError, match="the command line: every='2w'"):
        pipeline_config({"every": "2w"}, "the command line")
    with pytest.raises(RaieConfigError, match="the command line: backbone='bert'"):
        pipeline_config({"backbone": "bert"}, "the command line")


def test_setup_refuses_a_typo_before_writing_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("regions:\n  min_train_sample: 8\n")
    home = tmp_path / "home"
    assert main(["setup", "--home", str(home), "--config", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"raie: error: {path}: unknown key regions.min_train_sample (value 8)"]
    assert not (home / "state").exists()


def test_bench_quality_takes_the_same_file(tmp_path: Path) -> None:
    from flows.benches.quality import bench_config
    from flows.cli import build_parser
    from flows.commands.bench import register  # noqa: F401 - the parser under test

    path = tmp_path / "c.yaml"
    path.write_text("adapters:\n  train: {max_epochs: 3}\n")
    args = build_parser().parse_args(
        ["bench", "quality", "--config", str(path), "--preset", "streaming"]
    )
    config = bench_config(args)
    assert config.adapters.train.max_epochs == 3
    assert config.protocol == PipelineConfig().protocol
