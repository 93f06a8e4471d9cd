"""The small pipeline config of the flow tests that run setup + updates on the 150-user slice."""

from flows.params import PipelineConfig
from raie_core.adapters import AdapterConfig
from raie_core.backbones.seqrec import SeqRecConfig
from raie_core.gate import GateConfig
from raie_core.regions import RegionConfig
from raie_core.training import TrainConfig


def small_config(path: str, base_epochs: int = 4, adapter_epochs: int = 2) -> PipelineConfig:
    """Dataset "table" from the parquet file ``path``, 3 regions, short training budgets. The
    gate lets every candidate pass (tolerance 0.99): these tests check mechanics, the gate's
    judgement has its own tests (tests/core/test_gate.py)."""
    return PipelineConfig(
        dataset="table",
        path=path,
        seqrec=SeqRecConfig(train=TrainConfig(max_epochs=base_epochs, patience=2)),
        regions=RegionConfig(n_regions=3, min_train_samples=4, max_fit_windows=3000),
        adapters=AdapterConfig(train=TrainConfig(max_epochs=adapter_epochs, patience=1)),
        gate=GateConfig(tolerance=0.99),
    )
