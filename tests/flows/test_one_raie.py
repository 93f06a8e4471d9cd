"""One RAIE: the nightly flow and the benchmark's `raie` method run the same period step.

The same setup and two weekly periods on a real ML-100K slice go through the Prefect flows
(tasks, stores, MLflow) and through `RegionAwareEditing` in memory on the flow's own window
files; per sample key the decisions and training sets agree, the same region adapters are
promoted, and the shared adapter and every promoted one are bit-identical (fixed seed, one
torch thread).
"""

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from safetensors.numpy import load_file as load_arrays
from safetensors.torch import load_file

from flows.params import PipelineConfig
from raie_core.adapters import AdapterConfig, adapter_name
from raie_core.backbones.seqrec import SeqRecConfig
from raie_core.data import Every, Period
from raie_core.gate import GateConfig
from raie_core.regions import Action, RegionConfig
from raie_core.sharing import SHARED_KEY, SharedStep, SharingConfig
from raie_core.training import TrainConfig

UNTIL = date(1997, 12, 15)
PERIODS = (date(1997, 12, 15), date(1997, 12, 22))


PAPER = SharingConfig(shared=False, promote=False)
ADAPTER = SharingConfig(step=SharedStep.ADAPTER, replay=True, level=0.5)


def _config(path: str, sharing: SharingConfig) -> PipelineConfig:
    return PipelineConfig(
        dataset="table",
        path=path,
        seed=3,
        seqrec=SeqRecConfig(train=TrainConfig(max_epochs=3, patience=2)),
        regions=RegionConfig(n_regions=3, min_train_samples=4, max_fit_windows=3000),
        adapters=AdapterConfig(train=TrainConfig(max_epochs=2, patience=1), sharing=sharing),
        # every candidate passes, so each period edits the previous one, as the bench does
        gate=GateConfig(tolerance=0.99),
    )


def _saved(bank, region_id: int, folder: Path) -> dict[str, torch.Tensor]:  # noqa: ANN001
    """The adapter's tensors as the flow's task writes them (peft save, no embedding layers)."""
    name = adapter_name(region_id)
    bank.model.save_pretrained(str(folder), selected_adapters=[name], save_embedding_layers=False)
    return load_file(str(folder / name / "adapter_model.safetensors"))


@pytest.fixture(scope="module")
def slice_path(ml100k_slice) -> str:  # noqa: ANN001
    return ml100k_slice(150)


@pytest.mark.parametrize(
    "sharing",
    [
        SharingConfig(),
        # level 0.5: on this slice a region adopts the recent adapter (compared bit for bit)
        pytest.param(SharingConfig(recent=True, level=0.5), id="recent"),
        pytest.param(PAPER, marks=pytest.mark.slow, id="paper"),
        pytest.param(ADAPTER, marks=pytest.mark.slow, id="adapter"),
    ],
)
def test_flow_and_benchmark_method_agree(
    prefect_backend,  # noqa: ANN001
    slice_path: str,
    tmp_path: Path,
    sharing: SharingConfig,
) -> None:
    from flows.commands.replay import replay_home
    from flows.nightly_update import nightly_update
    from flows.setup import setup
    from raie_core.baselines import MethodConfig, RegionAwareEditing
    from raie_core.evaluation import SETUP_CODE
    from tasks.models import load_base
    from tasks.records import PeriodRecord
    from tasks.store import Store
    from tasks.windows import load_windows, window_path

    home = tmp_path / "home"
    config = _config(slice_path, sharing)
    setup(config=config, until=UNTIL, home=str(home))
    replay_home(home, "table", max(PERIODS) + timedelta(days=7))
    for period in PERIODS:
        nightly_update(period=period, dataset="table", home=str(home))
    store = Store(home, "table")
    history = store.history()
    assert [m.version for m in history] == store.versions()  # no candidate was rejected

    method = RegionAwareEditing(
        load_base(store), MethodConfig(adapters=config.adapters, regions=config.regions)
    )
    method.setup(load_windows(window_path(store, SETUP_CODE)), config.seed)
    compared = promoted = adopted = 0
    for period, manifest in zip(PERIODS, history[1:], strict=True):
        code = Period(period, Every.WEEK).code
        plan = method.update_period(load_windows(window_path(store, code)), code, config.seed)
        work = store.work_dir(Period(period, Every.WEEK).key)

        decisions = pl.read_parquet(work / "decisions.parquet")
        dec = plan.edit.decisions
        np.testing.assert_array_equal(decisions["key"].to_numpy(), dec.keys)
        assert decisions["action"].to_list() == [Action(a).name for a in dec.action]
        np.testing.assert_array_equal(decisions["k1"].to_numpy(), dec.k1)
        assert manifest.decisions == {a.name: n for a, n in dec.counts().items()}

        assert sorted(PeriodRecord.read(store, manifest).affected) == list(plan.affected)
        sets = load_arrays(str(work / "training_sets.safetensors"))
        for one in plan.plans:
            np.testing.assert_array_equal(sets[f"keys_{one.region_id}"], one.keys)
            np.testing.assert_array_equal(sets[f"weights_{one.region_id}"], one.weights)
        kept = method.history[-1].kept  # promoted (or recent) region adapters; the rest
        assert {r for r in manifest.adapters if r in plan.affected} == set(kept) & set(
            plan.affected
        )  # serve the fallback
        assert set(kept) <= set(manifest.adapters)
        adopted += len(method.history[-1].adopted)
        if sharing.full:  # the period's base: the flow's stored bank scores as the bench's
            _same_scores(
                store, config, manifest.adapters, method, load_windows(window_path(store, code))
            )
            compared += 1
        adapter_keys = (SHARED_KEY,) if sharing.shared and not sharing.full else ()
        for key in adapter_keys + kept:
            flow = load_file(
                str(store.adapter_path(manifest.adapters[key]) / "adapter_model.safetensors")
            )
            bench = _saved(method.bank, key, tmp_path / f"bench-{code}")
            assert flow.keys() == bench.keys()
            for name, tensor in flow.items():
                assert torch.equal(tensor, bench[name]), f"adapter {key}: {name}"
            compared += 1
        promoted += len(kept)
    assert compared >= 3 and promoted >= 1, "no region adapter was promoted to compare"
    assert adopted >= 1 or not sharing.recent, "no region adopted the recent adapter"
    starts = {one.warm_start.value for one in plan.plans}  # the second period's
    if sharing.full:
        assert starts == {"zero"}  # every region is a zero residual on the period's base
    elif sharing.shared:
        assert starts == {"shared"}  # every region starts from the period's shared adapter
    else:
        assert "previous" in starts, "the second period should continue at least one adapter"


def _same_scores(store, config, adapters, method, windows) -> None:  # noqa: ANN001
    """The flow's stored bank version (per-period base + kept adapters) scores the period's
    windows as the bench's in-memory bank does, routed the same way."""
    from raie_core.scoring import routed_scores
    from tasks.adapters import load_bank_adapters

    bank = load_bank_adapters(store, config.adapters, adapters)
    assert bank.names == tuple(sorted(n for n in method.bank.names))
    routes = method.routes(windows.context)
    flow = routed_scores(bank, windows.context, routes).scores
    torch.testing.assert_close(flow, method.routed(windows.context).scores, rtol=1e-4, atol=1e-4)
