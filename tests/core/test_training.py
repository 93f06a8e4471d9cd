"""The generic trainer: batching, AdamW, clipping, early stopping, seeding, splits."""

import numpy as np
import pytest
import torch

from raie_core.errors import RaieConfigError
from raie_core.training import TrainConfig, evaluate, fit, replay_count, validation_split


class Scalar(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))


def _regression(train_target: float, val_target: float, n: int = 8):
    """One scalar parameter; training rows pull w to train_target, validation rows to val_target."""
    module = Scalar()
    goal = torch.tensor([train_target] * n + [val_target] * n)

    def loss_fn(index: torch.Tensor) -> torch.Tensor:
        return ((module.w - goal[index]) ** 2).mean()

    return module, loss_fn, np.arange(n), np.arange(n, 2 * n)


def test_fit_converges_without_validation() -> None:
    module, loss_fn, train, _ = _regression(2.0, 2.0)
    config = TrainConfig(lr=0.1, batch_size=8, max_epochs=200, grad_clip=0.0)
    result = fit(module, [module.w], loss_fn, train, np.array([], dtype=np.int64), config, seed=0)
    assert result.epochs == 200 and not result.stopped_early and result.best_epoch == 200
    assert result.val_losses == ()
    assert abs(float(module.w.detach()) - 2.0) < 1e-2
    assert result.train_losses[0] == pytest.approx(4.0)  # (0 - 2)^2 before the first step


def test_early_stopping_restores_best_epoch() -> None:
    # Training pulls w towards 2, validation wants 0: validation only gets worse after epoch 1.
    module, loss_fn, train, val = _regression(2.0, 0.0)
    config = TrainConfig(
        lr=0.1, batch_size=8, max_epochs=50, patience=3, grad_clip=0.0, keep_start=False
    )
    result = fit(module, [module.w], loss_fn, train, val, config, seed=0)
    assert result.best_epoch == 1
    assert result.epochs == 4 and result.stopped_early
    assert len(result.val_losses) == 4
    assert result.val_losses[0] == min(result.val_losses)
    # Adam's first step has size lr (m_hat / sqrt(v_hat) = sign(g)); w = 0.1 was kept.
    assert float(module.w.detach()) == pytest.approx(0.1, abs=1e-6)
    assert result.val_losses[0] == pytest.approx(0.01, abs=1e-6)
    assert (result.n_train, result.n_val) == (8, 8)


def test_start_is_kept_when_no_epoch_beats_it() -> None:
    # Validation wants w = 0, where it starts: every epoch is worse, so nothing changes.
    module, loss_fn, train, val = _regression(2.0, 0.0)
    config = TrainConfig(lr=0.1, batch_size=8, max_epochs=50, patience=3, grad_clip=0.0)
    result = fit(module, [module.w], loss_fn, train, val, config, seed=0)
    assert result.best_epoch == 0 and result.epochs == 3 and result.stopped_early
    assert min(result.val_losses) > 0.0
    assert float(module.w.detach()) == 0.0


def test_start_loses_to_an_epoch_that_helps() -> None:
    module, loss_fn, train, val = _regression(2.0, 2.0)
    config = TrainConfig(lr=0.1, batch_size=8, max_epochs=5, patience=3, grad_clip=0.0)
    result = fit(module, [module.w], loss_fn, train, val, config, seed=0)
    assert result.best_epoch == 5
    assert 0.45 < float(module.w.detach()) <= 0.5  # five Adam steps of at most 0.1


def test_latest_rows_validate_when_times_are_given() -> None:
    times = np.array([5, 1, 9, 3, 7, 2, 8, 6, 4, 0])
    candidates = np.arange(100, 110)
    train, val = validation_split(candidates, 0.3, seed=1, others=np.array([7]), times=times)
    assert val.tolist() == [102, 104, 106]  # times 9, 7, 8
    assert train.tolist() == [7, 100, 101, 103, 105, 107, 108, 109]
    with pytest.raises(RaieConfigError, match="times rows=2"):
        validation_split(candidates, 0.3, seed=1, times=times[:2])


def test_grad_clip_bounds_step() -> None:
    module = Scalar()
    seen: list[float] = []

    def loss_fn(index: torch.Tensor) -> torch.Tensor:
        loss = 1000.0 * module.w - 0.0 * index.sum()
        return loss

    def hook(grad: torch.Tensor) -> None:
        seen.append(float(grad))

    module.w.register_hook(hook)
    config = TrainConfig(lr=0.1, batch_size=4, max_epochs=1, grad_clip=0.5)
    fit(module, [module.w], loss_fn, np.arange(4), np.array([], dtype=np.int64), config, seed=0)
    assert seen == [1000.0]  # the raw gradient; clipping acts on .grad after backward
    assert module.w.grad is not None and float(module.w.grad) == pytest.approx(0.5)


def test_fit_is_seeded_and_leaves_global_rng() -> None:
    def run(seed: int) -> tuple[list[int], float]:
        module, loss_fn, train, _ = _regression(1.0, 1.0, n=10)
        order: list[int] = []

        def recording(index: torch.Tensor) -> torch.Tensor:
            order.extend(index.tolist())
            return loss_fn(index) + 0.0 * torch.rand(())

        config = TrainConfig(batch_size=3, max_epochs=2)
        fit(module, [module.w], recording, train, np.array([], dtype=np.int64), config, seed)
        return order, float(module.w.detach())

    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = run(7)
    after = torch.rand(3)
    assert torch.equal(before, after)
    assert a == run(7)
    assert a[0] != run(8)[0]
    assert sorted(a[0][:10]) == list(range(10))


def test_fit_restores_training_mode_and_evaluate_uses_eval() -> None:
    module, loss_fn, train, val = _regression(1.0, 1.0)
    modes: list[bool] = []

    def recording(index: torch.Tensor) -> torch.Tensor:
        modes.append(module.training)
        return loss_fn(index)

    module.eval()
    fit(module, [module.w], recording, train, val, TrainConfig(batch_size=8, max_epochs=1), 0)
    assert modes == [False, True, False] and not module.training  # start scored, step, epoch
    # one Adam step of size lr=1e-3 moved w from 0 to 0.001 (towards 1)
    assert evaluate(module, loss_fn, val, batch_size=3) == pytest.approx((1 - 1e-3) ** 2)


def test_validation_split_properties() -> None:
    train, val = validation_split(np.arange(10, 30), 0.25, seed=3, others=np.array([0, 1]))
    assert len(val) == 5 and len(train) == 17
    assert set(val) <= set(range(10, 30))
    assert not set(val) & set(train)
    assert {0, 1} <= set(train)
    assert np.array_equal(val, validation_split(np.arange(10, 30), 0.25, seed=3)[1])
    assert not np.array_equal(val, validation_split(np.arange(10, 30), 0.25, seed=4)[1])
    assert len(validation_split(np.arange(1), 0.5, seed=0)[1]) == 0
    with pytest.raises(RaieConfigError, match="val_fraction=1.0"):
        validation_split(np.arange(4), 1.0, seed=0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lr", 0.0),
        ("lr", float("nan")),
        ("batch_size", 0),
        ("max_epochs", 0),
        ("patience", 0),
        ("grad_clip", -1.0),
        ("val_fraction", 1.0),
    ],
)
def test_config_errors_name_field(field: str, value: float) -> None:
    with pytest.raises(RaieConfigError, match=f"{field}={value}"):
        TrainConfig(**{field: value})


def test_fit_rejects_frozen_params_and_empty_train() -> None:
    module, loss_fn, train, val = _regression(1.0, 1.0)
    module.w.requires_grad_(False)
    with pytest.raises(RaieConfigError, match="require grad"):
        fit(module, [module.w], loss_fn, train, val, TrainConfig(), seed=0)
    module.w.requires_grad_(True)
    with pytest.raises(RaieConfigError, match="empty"):
        fit(module, [module.w], loss_fn, np.array([], dtype=np.int64), val, TrainConfig(), 0)


def test_defaults_are_the_update_budget() -> None:
    config = TrainConfig()
    assert (config.max_epochs, config.patience, config.val_fraction) == (10, 2, 0.1)
    assert not hasattr(config, "seed")  # the seed is fit's argument, not a knob


@pytest.mark.parametrize(
    ("n_new", "ratio", "expected"),
    [(30, 0.7, 70), (10, 0.5, 10), (7, 0.0, 0), (0, 0.7, 0), (2, 0.6, 3), (3, 0.25, 1)],
)
def test_replay_count_is_the_reference_formula(n_new: int, ratio: float, expected: int) -> None:
    # round(n * rho / (1 - rho)): 30 new rows at rho 0.7 -> 70 replayed, 70 / 100 = rho.
    assert replay_count(n_new, ratio) == expected


@pytest.mark.parametrize("ratio", [1.0, -0.1])
def test_replay_count_rejects_ratio_outside_unit_interval(ratio: float) -> None:
    with pytest.raises(RaieConfigError, match=f"replay_ratio={ratio} should be in"):
        replay_count(10, ratio)
