"""Training: one loop for every dataset (see ``trainer`` for the design)."""

from omicsdisent.train.config import TrainConfig
from omicsdisent.train.trainer import (
    Trainer,
    TrainingError,
    TrainingHistory,
    epoch_batches,
    evaluate,
    resolve_device,
    take,
    train_step,
    validation_disabled,
)

__all__ = [
    "TrainConfig",
    "Trainer",
    "TrainingError",
    "TrainingHistory",
    "epoch_batches",
    "evaluate",
    "resolve_device",
    "take",
    "train_step",
    "validation_disabled",
]
