"""The one LoRA shape every adapter uses: the backbones' setup LoRA, every region adapter and
every adapter-based baseline nest a `LoraShape` instead of repeating its fields."""

from __future__ import annotations

from dataclasses import dataclass

from raie_core.errors import RaieConfigError


@dataclass(frozen=True)
class LoraShape:
    """r: LoRA rank. alpha: scaling numerator (the update is scaled by alpha / r).
    dropout: dropout on the LoRA input. targets: module names that get LoRA (empty = the
    backbone's `lora_targets`, e.g. GPT-2's c_attn / c_proj / c_fc)."""

    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.05
    targets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.r < 1:
            raise RaieConfigError(f"r={self.r} should be >= 1")
        if not self.alpha > 0:
            raise RaieConfigError(f"alpha={self.alpha} should be > 0")
        if not 0.0 <= self.dropout < 1.0:
            raise RaieConfigError(f"dropout={self.dropout} should be in [0, 1)")
        object.__setattr__(self, "targets", tuple(self.targets))
