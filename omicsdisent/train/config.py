"""Training configuration: one dataclass, JSON-able with ``dataclasses.asdict``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from omicsdisent.errors import InputError

ACCELERATORS = ("auto", "cpu", "cuda")


@dataclass
class TrainConfig:
    """How to train a module.

    epochs: passes over the training split; batch_size: samples per step; lr, weight_decay: Adam's.
    val_fraction: share of samples held out for validation (0 disables validation and early stopping).
    early_stopping: stop when the validation loss has not improved for ``patience`` epochs and restore
    the best weights. grad_clip: maximum global gradient norm (None: no clipping).
    accelerator: "auto" (CUDA when available), "cpu" or "cuda". seed: fixes the split, the minibatch
    order and every draw, so CPU runs repeat exactly. progress: a tqdm bar, one update per epoch.
    compile: torch.compile the encoder, decoder and denoiser networks.
    """

    epochs: int = 50
    batch_size: int = 128
    lr: float = 5e-4
    weight_decay: float = 0.0
    val_fraction: float = 0.1
    early_stopping: bool = True
    patience: int = 10
    grad_clip: float | None = 100.0
    accelerator: str = "auto"
    seed: int = 0
    progress: bool = True
    compile: bool = False

    def __post_init__(self) -> None:
        for option in ("epochs", "batch_size", "patience"):
            value = getattr(self, option)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"option {option}={value!r} is not valid; expected an integer >= 1")
        if self.batch_size < 2:
            raise InputError(f"option batch_size={self.batch_size} is not valid; expected at least 2 (contrastive terms)")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise InputError(f"option lr={self.lr!r} is not valid; expected a number > 0")
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            raise InputError(f"option weight_decay={self.weight_decay!r} is not valid; expected a number >= 0")
        if not (isinstance(self.val_fraction, (int, float)) and 0 <= self.val_fraction < 1):
            raise InputError(f"option val_fraction={self.val_fraction!r} is not valid; expected a number in [0, 1)")
        if self.grad_clip is not None and not (isinstance(self.grad_clip, (int, float)) and self.grad_clip > 0):
            raise InputError(f"option grad_clip={self.grad_clip!r} is not valid; expected a number > 0 or None")
        if self.accelerator not in ACCELERATORS:
            raise InputError(
                f"option accelerator={self.accelerator!r} is not valid; expected one of {', '.join(ACCELERATORS)}"
            )
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise InputError(f"option seed={self.seed!r} is not valid; expected an integer")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InputError(f"train config: unknown option(s) {', '.join(unknown)}; expected some of {', '.join(sorted(names))}")
        return cls(**data)
