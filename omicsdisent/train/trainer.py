"""The one training loop, for every dataset and module.

A plain PyTorch loop, not Lightning: the module is small (a training step is a few milliseconds), so
per-step framework work (hooks, logging, callbacks) would be a visible share of each step, and
Lightning's DataLoader-centred design fights the layout used here, where the whole dataset lives on the
device and minibatches are index permutations taken on the device.

Structure, so multi-device (DDP) training can follow without a rewrite:
- ``train_step`` is one optimisation step on one batch, separate from the loop;
- ``epoch_batches`` is the one place that decides which sample indices form each batch (shard there);
- ``resolve_device`` is the one place that picks the device.

The step never reads a value back to the host: the terms are accumulated on the device and read once
per epoch, which is also when a NaN or infinite loss is detected (the error names the term that went
bad first).
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyro
import torch
from tqdm.auto import tqdm

from omicsdisent.errors import InputError, OmicsDisentError
from omicsdisent.train.config import TrainConfig


class TrainingError(OmicsDisentError):
    """Training could not go on, e.g. a loss term became NaN or infinite."""


@dataclass
class TrainingHistory:
    """Per-epoch losses: ``train[term][epoch]`` and ``validation[term][epoch]`` (mean per sample, floats).

    Terms are the module's ``loss`` terms plus "total". ``best_epoch`` is 0-based (None without
    validation); ``stopped_early`` says whether early stopping ended the run.
    """

    train: dict[str, list[float]] = field(default_factory=dict)
    validation: dict[str, list[float]] = field(default_factory=dict)
    epochs_run: int = 0
    best_epoch: int | None = None
    stopped_early: bool = False
    device: str = "cpu"
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingHistory:
        return cls(**data)


def resolve_device(accelerator: str) -> torch.device:
    """The torch device for "auto" (CUDA if available, else CPU), "cpu" or "cuda"."""
    if accelerator == "cuda" and not torch.cuda.is_available():
        raise InputError("option accelerator='cuda' was given but no CUDA device is available; use 'cpu' or 'auto'")
    if accelerator == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(accelerator)


def to_device(data: Any, device: torch.device) -> Any:
    """The same nested dict of tensors, moved to ``device``."""
    if torch.is_tensor(data):
        return data.to(device)
    if isinstance(data, dict):
        return {k: to_device(v, device) for k, v in data.items()}
    return data


def take(data: Any, index: torch.Tensor) -> Any:
    """Rows ``index`` of every tensor in a nested dict (all tensors have samples on dim 0)."""
    if torch.is_tensor(data):
        return data.index_select(0, index)
    if isinstance(data, dict):
        return {k: take(v, index) for k, v in data.items()}
    return data


def split_indices(n: int, val_fraction: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A random (train, validation) split of range(n): two int64 CPU tensors."""
    perm = torch.randperm(n, generator=generator)
    n_val = int(round(n * val_fraction))
    n_val = min(n_val, n - 2)  # keep at least 2 training samples
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def epoch_batches(indices: torch.Tensor, batch_size: int, shuffle: bool) -> Iterator[torch.Tensor]:
    """Minibatches of sample indices, on the indices' device. A trailing batch of 1 is dropped (contrastive
    terms need 2); a data-parallel run would take its shard of ``indices`` here."""
    order = indices[torch.randperm(indices.numel(), device=indices.device)] if shuffle else indices
    batches = order.split(batch_size)
    if len(batches) > 1 and batches[-1].numel() < 2:
        batches = batches[:-1]
    return iter(batches)


def make_optimizer(module, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """Adam over every parameter; the fused kernel (one call for all parameters) where torch has it."""
    try:
        return torch.optim.Adam(module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=device.type == "cuda")


def train_step(module, optimizer: torch.optim.Optimizer, batch: dict, grad_clip: float | None) -> dict[str, torch.Tensor]:
    """One step of Adam on ``module.loss(batch)``; returns the detached terms plus "total" (scalars).

    No host sync: nothing is read back, clipping keeps its norm on the device.
    """
    optimizer.zero_grad(set_to_none=True)
    total, terms = module.loss(batch)
    total.backward()
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(module.parameters(), grad_clip, foreach=True)
    optimizer.step()
    return {**terms, "total": total.detach()}


@torch.no_grad()
def evaluate(module, data: dict, indices: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Mean per-sample terms and total ``[T + 1]`` over ``indices``, in batches of ``batch_size``, on the device."""
    sums = None
    for index in epoch_batches(indices, batch_size, shuffle=False):
        _, terms = module.loss(take(data, index))
        values = torch.stack([*terms.values(), sum(terms.values())]) * index.numel()
        sums = values if sums is None else sums + values
    return sums / indices.numel()


class Trainer:
    """Fits a module that has ``loss(batch) -> (total, terms)`` (and optionally ``validate_data``).

    ``Trainer(TrainConfig(...))`` or ``Trainer(epochs=..., ...)``; ``fit(module, data)`` trains in place
    and returns the :class:`TrainingHistory`. ``data`` is the whole dataset in the module's batch format
    (a nested dict of tensors with samples on dim 0, e.g. ``{"x": {...}, "mask": ..., ...}``).
    The seed fixes the split, the batch order and all draws; it does not re-initialise the weights
    (seed before building the module for fully repeatable runs).
    """

    def __init__(self, config: TrainConfig | None = None, **options: Any):
        if config is not None and options:
            raise InputError("give either a TrainConfig or keyword options, not both")
        self.config = config if config is not None else TrainConfig(**options)

    def fit(self, module, data: dict) -> TrainingHistory:
        cfg = self.config
        if hasattr(module, "validate_data"):
            module.validate_data(data)
        n = _n_samples(data)
        device = resolve_device(cfg.accelerator)
        pyro.set_rng_seed(cfg.seed)  # torch, numpy and random
        generator = torch.Generator().manual_seed(cfg.seed)
        train_idx, val_idx = split_indices(n, cfg.val_fraction, generator)
        validate = val_idx.numel() > 0
        train_idx, val_idx = train_idx.to(device), val_idx.to(device)
        module.to(device)
        data = to_device(data, device)
        if cfg.compile:
            _compile_networks(module)
        optimizer = make_optimizer(module, cfg, device)

        history = TrainingHistory(device=str(device))
        best_loss, best_state, since_best = float("inf"), None, 0
        start = time.perf_counter()
        bar = tqdm(range(cfg.epochs), disable=not cfg.progress, desc="training", unit="epoch")
        with validation_disabled():
            for epoch in bar:
                module.train()
                sums, first_bad, names = None, None, None
                for step, index in enumerate(epoch_batches(train_idx, cfg.batch_size, shuffle=True)):
                    terms = train_step(module, optimizer, take(data, index), cfg.grad_clip)
                    values = torch.stack(list(terms.values()))
                    if names is None:
                        names = list(terms)
                        sums = torch.zeros_like(values)
                        first_bad = torch.full_like(values, float("inf"))
                    sums += values * index.numel()
                    # The step at which each term first went non-finite, tracked on the device.
                    first_bad = torch.where(~torch.isfinite(values), first_bad.clamp(max=step), first_bad)
                train_means = (sums / train_idx.numel()).tolist()  # the one read-back of the epoch
                if any(v != v or abs(v) == float("inf") for v in train_means):
                    if best_state is not None:
                        module.load_state_dict(best_state)
                    raise TrainingError(_non_finite_message(names, first_bad.tolist(), epoch))
                _append(history.train, names, train_means)
                postfix = {"loss": f"{train_means[-1]:.4g}"}
                if validate:
                    module.eval()
                    val_means = evaluate(module, data, val_idx, cfg.batch_size).tolist()
                    if any(v != v or abs(v) == float("inf") for v in val_means):
                        bad = [name for name, v in zip(names, val_means) if v != v or abs(v) == float("inf")]
                        if best_state is not None:
                            module.load_state_dict(best_state)
                        raise TrainingError(
                            f"the validation loss became NaN or infinite at epoch {epoch}; non-finite term(s): "
                            f"{', '.join(bad)}. Try a lower learning rate (lr) or check the input data"
                        )
                    _append(history.validation, names, val_means)
                    postfix["val"] = f"{val_means[-1]:.4g}"
                    if val_means[-1] < best_loss:
                        best_loss, since_best, history.best_epoch = val_means[-1], 0, epoch
                        best_state = copy.deepcopy(module.state_dict())
                    else:
                        since_best += 1
                history.epochs_run = epoch + 1
                bar.set_postfix(postfix)
                if validate and cfg.early_stopping and since_best >= cfg.patience:
                    history.stopped_early = True
                    break
        if validate and cfg.early_stopping and best_state is not None:
            module.load_state_dict(best_state)
        module.eval()
        history.seconds = time.perf_counter() - start
        return history


def _n_samples(data: dict) -> int:
    if "mask" in data and torch.is_tensor(data["mask"]):
        return int(data["mask"].shape[0])
    raise InputError("training data must hold a 'mask' tensor [n, M] giving the modalities of each sample")


def _append(store: dict[str, list[float]], names: list[str], values: list[float]) -> None:
    for name, value in zip(names, values):
        store.setdefault(name, []).append(float(value))


def _non_finite_message(names: list[str], first_bad: list[float], epoch: int) -> str:
    terms = [(step, name) for name, step in zip(names[:-1], first_bad[:-1]) if step != float("inf")]
    if terms:
        first = min(step for step, _ in terms)
        culprits = [name for step, name in terms if step == first]
        where = f"step {int(first)} of epoch {epoch}"
    else:
        culprits, where = ["total"], f"epoch {epoch}"
    return (
        f"the training loss became NaN or infinite at {where}; first non-finite term: {', '.join(culprits)}. "
        "Try a lower learning rate (lr), gradient clipping (grad_clip) or check the input data"
    )


def _compile_networks(module) -> None:
    """torch.compile each encoder, decoder and denoiser in place (the Pyro program stays eager)."""
    for attr in ("encoders", "decoders", "w_priors"):
        for net in getattr(module, attr, None) or []:
            net.compile()
    if getattr(module, "z_prior", None) is not None:
        module.z_prior.compile()


class validation_disabled:  # noqa: N801 (used as a context manager, like torch.no_grad)
    """Turns off argument validation of Pyro and torch distributions (it syncs with the device) and
    restores the previous settings; inputs were checked once by ``validate_data``."""

    def __enter__(self):
        self._torch = torch.distributions.Distribution._validate_args
        self._pyro = pyro.validation_enabled(False)
        self._pyro.__enter__()
        torch.distributions.Distribution.set_default_validate_args(False)

    def __exit__(self, *exc):
        torch.distributions.Distribution.set_default_validate_args(self._torch)
        self._pyro.__exit__(*exc)
        return False
