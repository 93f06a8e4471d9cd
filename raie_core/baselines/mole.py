"""`mole`: K LoRA experts mixed by a learned softmax gate (Mixture of LoRA Experts, DESIGN §5).

gate(x) = softmax(W e(x) / temperature), e(x) the frozen base's routing key of the context;
scores = sum_k gate_k(x) * logits_k(x), logits_k through expert k. Experts and gate train
jointly through `raie_core.training.fit`. Unlike the reference code (whose per-expert
`set_adapter` in the forward flipped requires_grad, so no expert ever trained), every expert
runs in one mixed-adapter forward pass (peft ``adapter_names``) and keeps requires_grad; peft
allows that batch only in eval mode, so experts train without dropout.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from raie_core.adapters import RegionAdapters, WarmStart
from raie_core.backbones import encode_array
from raie_core.backbones.base import Backbone
from raie_core.baselines.base import MethodConfig, as_tensor, batched_logits, training_set
from raie_core.protocol import Windows
from raie_core.training import fit

logger = logging.getLogger(__name__)


def expert_name(k: int) -> str:
    return f"expert-{k}"


def balance_loss(gates: torch.Tensor) -> torch.Tensor:
    """K sum_k mean_b(g_bk)^2 - 1 for gates (b, K): 0 when usage is uniform, K - 1 when one
    expert takes everything."""
    usage = gates.mean(dim=0)
    return gates.shape[1] * (usage**2).sum() - 1.0


class MixtureOfLoRAExperts:
    """`mole`: ``mole_experts`` adapters and a linear softmax gate on the routing key."""

    name = "mole"

    def __init__(self, backbone: Backbone, config: MethodConfig) -> None:
        self.backbone = backbone
        self.config = config
        self.bank = RegionAdapters(backbone, config.adapters)
        self.gate: torch.nn.Linear | None = None

    @property
    def experts(self) -> list[str]:
        return [expert_name(k) for k in range(self.config.mole_experts)]

    def setup(self, old: Windows, seed: int) -> None:
        """Create the K experts (seeded, distinct A) and a zero gate (uniform mixture)."""
        for k, name in enumerate(self.experts):
            self.bank.add(name, WarmStart.ZERO, seed=seed * 1000 + k)
        keys = encode_array(self.backbone, old.context[:1])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.gate = torch.nn.Linear(keys.shape[1], self.config.mole_experts)
        torch.nn.init.zeros_(self.gate.weight)
        torch.nn.init.zeros_(self.gate.bias)

    def gates(self, keys: torch.Tensor) -> torch.Tensor:
        """(n, d) routing keys -> (n, K) softmax gate weights."""
        assert self.gate is not None
        return torch.softmax(self.gate(keys) / self.config.mole_temperature, dim=-1)

    def mixture(
        self, context: torch.Tensor, keys: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(b, L) contexts, (b, d) keys -> ((b, V) mixed logits, (b, K) gates); one forward pass
        of the K*b rows, row block k through expert k."""
        model = self.bank.model
        assert model is not None
        b, k = len(context), self.config.mole_experts
        names = [name for name in self.experts for _ in range(b)]
        logits = self.backbone.logits(model, context.repeat(k, 1), adapter_names=names)
        gates = self.gates(keys)
        mixed = (gates.T.unsqueeze(-1) * logits.view(k, b, -1)).sum(dim=0)
        return mixed, gates

    def update(self, new: Windows, old: Windows, seed: int) -> None:
        """Train every expert and the gate jointly on the new windows (same budget)."""
        model, gate = self.bank.model, self.gate
        assert model is not None and gate is not None
        data = training_set(new)
        keys = torch.from_numpy(encode_array(self.backbone, data.context))
        context, target = as_tensor(data.context), as_tensor(data.target)
        params = [p for name in self.experts for p in self.bank.adapter_params(name).values()]
        for p in params:
            p.requires_grad_(True)
        model.eval()
        cfg = self.config

        def loss_fn(index: torch.Tensor) -> torch.Tensor:
            mixed, gates = self.mixture(context[index], keys[index])
            ce = torch.nn.functional.cross_entropy(mixed, target[index])
            return ce + cfg.mole_balance * balance_loss(gates)

        train_idx, val_idx = data.split(cfg.train.val_fraction, seed)
        result = fit(
            gate,
            params + list(gate.parameters()),
            loss_fn,
            train_idx,
            val_idx,
            cfg.train,
            seed,
        )
        model.eval()
        logger.info("mole: %d epochs (best %d)", result.epochs, result.best_epoch)

    def scores(self, context: np.ndarray) -> torch.Tensor:
        if self.gate is None:
            return batched_logits(
                self.backbone, self.backbone.model, context, self.config.score_batch
            )
        keys = torch.from_numpy(encode_array(self.backbone, context))
        assert self.bank.model is not None
        self.bank.model.eval()  # peft takes mixed adapter batches only in eval mode
        parts = []
        with torch.no_grad():
            for start in range(0, len(context), self.config.score_batch):
                stop = start + self.config.score_batch
                parts.append(self.mixture(as_tensor(context[start:stop]), keys[start:stop])[0])
        return torch.cat(parts)
