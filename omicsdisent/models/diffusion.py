"""A denoising diffusion prior over a low-dimensional latent (METHOD.md, "Diffusion prior").

``LatentDiffusionPrior`` is a DDPM whose denoiser is a small MLP with a sinusoidal time embedding.
``loss(x0)`` is the per-sample denoising loss used in place of ``-log p(x0)`` (up to constants and
weighting, as in DDPM's simplified objective); ``sample`` runs DDIM. ``DiffusionPriorDistribution``
wraps a prior as a ``pyro.distributions`` object so that the Pyro model can use it at a sample site:
its ``log_prob`` is the negative denoising loss (a fresh, unbiased stochastic estimate on every call)
and its ``sample`` is a DDIM draw.
"""

from __future__ import annotations

import math

import torch
from pyro.distributions import TorchDistribution
from torch import nn
from torch.distributions import constraints

SCHEDULES = ("sigmoid", "cosine", "linear")
PREDICTIONS = ("x0", "eps")
ALPHA_BAR_MIN, ALPHA_BAR_MAX = 1e-5, 1.0 - 1e-5


def alpha_bar_schedule(n_steps: int, schedule: str = "sigmoid") -> torch.Tensor:
    """Cumulative signal fractions alpha_bar_t for t = 1..T, float64 ``[T]``, decreasing from ~1 to ~0.

    sigmoid: alpha_bar(s) = (sigmoid(3) - sigmoid(6 s - 3)) / (sigmoid(3) - sigmoid(-3)), s = t / T
    (Jabri et al. / Chen 2023, start -3, end 3, tau 1); cosine: Nichol & Dhariwal; linear: DDPM's
    betas from 1e-4 to 0.02 (scaled to T).
    """
    s = torch.arange(1, n_steps + 1, dtype=torch.float64) / n_steps
    if schedule == "sigmoid":
        start, end = torch.sigmoid(torch.tensor(-3.0, dtype=torch.float64)), torch.sigmoid(
            torch.tensor(3.0, dtype=torch.float64)
        )
        alpha_bar = (end - torch.sigmoid(6 * s - 3)) / (end - start)
    elif schedule == "cosine":
        f = torch.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2
        alpha_bar = f / math.cos(0.008 / 1.008 * math.pi / 2) ** 2
    elif schedule == "linear":
        betas = torch.linspace(1e-4 * 1000 / n_steps, 0.02 * 1000 / n_steps, n_steps, dtype=torch.float64)
        alpha_bar = torch.cumprod(1 - betas.clamp(max=0.999), dim=0)
    else:
        raise ValueError(f"unknown schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}")
    return alpha_bar.clamp(ALPHA_BAR_MIN, ALPHA_BAR_MAX)


class TimeEmbedding(nn.Module):
    """Integer steps ``[n]`` -> sinusoidal features of t / T ``[n, 2 * n_freq]``."""

    def __init__(self, n_steps: int, n_freq: int = 32):
        super().__init__()
        freqs = torch.exp(torch.linspace(0.0, math.log(1000.0), n_freq))
        self.register_buffer("freqs", freqs / n_steps, persistent=False)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = t.to(self.freqs.dtype).unsqueeze(-1) * self.freqs
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


class Denoiser(nn.Module):
    """(x_t ``[n, dim]``, t ``[n]``) -> prediction ``[n, dim]``: a 3-layer MLP, time embedding added to layer 1."""

    def __init__(self, dim: int, hidden: int, n_steps: int):
        super().__init__()
        self.time = TimeEmbedding(n_steps)
        self.time_proj = nn.Linear(2 * self.time.freqs.numel(), hidden)
        self.inp = nn.Linear(dim, hidden)
        self.mid = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, dim)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = self.act(self.inp(x) + self.time_proj(self.time(t)))
        h = self.act(self.mid(h))
        return self.out(h)


class LatentDiffusionPrior(nn.Module):
    """DDPM prior over vectors of width ``dim``, trained with the simplified denoising loss.

    hidden: width of the denoiser MLP; n_steps: T; schedule: one of SCHEDULES;
    prediction: "x0" (the network predicts the clean latent, the authors' choice) or "eps".
    """

    def __init__(
        self, dim: int, hidden: int = 512, n_steps: int = 1000, schedule: str = "sigmoid", prediction: str = "x0"
    ):
        super().__init__()
        if prediction not in PREDICTIONS:
            raise ValueError(f"unknown prediction {prediction!r}; expected one of {', '.join(PREDICTIONS)}")
        self.dim, self.n_steps, self.prediction = dim, n_steps, prediction
        self.denoiser = Denoiser(dim, hidden, n_steps)
        alpha_bar = alpha_bar_schedule(n_steps, schedule)
        # Precomputed as buffers: the training step never builds tensors from Python numbers.
        self.register_buffer("sqrt_alpha_bar", alpha_bar.sqrt().float(), persistent=False)
        self.register_buffer("sqrt_one_minus_alpha_bar", (1 - alpha_bar).sqrt().float(), persistent=False)
        self.register_buffer("alpha_bar", alpha_bar.float(), persistent=False)

    def loss(self, x0: torch.Tensor) -> torch.Tensor:
        """Per-sample denoising loss ``[...]`` of clean latents ``x0`` ``[..., dim]``.

        L(x0) = || f(x_t, t) - target ||^2 summed over dims, with t ~ U{1..T}, eps ~ N(0, I),
        x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps and target x0 (or eps).
        """
        batch_shape = x0.shape[:-1]
        flat = x0.reshape(-1, self.dim)
        t = torch.randint(0, self.n_steps, (flat.shape[0],), device=flat.device)
        eps = torch.randn_like(flat)
        x_t = self.sqrt_alpha_bar[t].unsqueeze(-1) * flat + self.sqrt_one_minus_alpha_bar[t].unsqueeze(-1) * eps
        target = flat if self.prediction == "x0" else eps
        return (self.denoiser(x_t, t) - target).pow(2).sum(-1).reshape(batch_shape)

    def _predict_x0_eps(self, x_t: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.sqrt_alpha_bar[t].unsqueeze(-1)
        b = self.sqrt_one_minus_alpha_bar[t].unsqueeze(-1)
        out = self.denoiser(x_t, t)
        if self.prediction == "x0":
            return out, (x_t - a * out) / b
        return (x_t - b * out) / a, out

    @torch.no_grad()
    def sample(self, n: int, steps: int = 100, eta: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """DDIM draws ``[n, dim]`` using ``steps`` evenly spaced steps of the T; eta=0 is deterministic given x_T."""
        if not 1 <= steps <= self.n_steps:
            raise ValueError(f"steps={steps} must be between 1 and {self.n_steps}")
        device = self.alpha_bar.device
        times = torch.linspace(self.n_steps - 1, 0, steps, device=device).round().long()
        x = torch.randn(n, self.dim, device=device, generator=generator)
        for i, t in enumerate(times):
            t_batch = t.expand(n)
            x0, eps = self._predict_x0_eps(x, t_batch)
            if i == len(times) - 1:
                return x0
            ab_t, ab_prev = self.alpha_bar[t], self.alpha_bar[times[i + 1]]
            sigma = eta * torch.sqrt((1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev))
            noise = torch.randn(x.shape, device=device, generator=generator) if eta > 0 else 0.0
            x = ab_prev.sqrt() * x0 + torch.sqrt((1 - ab_prev - sigma**2).clamp(min=0)) * eps + sigma * noise
        return x


class DiffusionPriorDistribution(TorchDistribution):
    """A ``LatentDiffusionPrior`` as a Pyro distribution with event shape ``[dim]``.

    ``log_prob(v)`` = -prior.loss(v) (``v.shape[:-1]``), a stochastic surrogate of log p(v) that is
    differentiable in v and in the denoiser, so the paper's formulation puts it in the log weight.
    ``only_source=j``: the value has a source-modality batch dim at -2 (``[..., M, n, dim]``) and only its
    slice j is scored (zeros elsewhere): the prior of w_j enters the MMVAE+ weight only for source j,
    so the other slices would cost denoiser passes for nothing.
    """

    arg_constraints: dict = {}
    support = constraints.real_vector
    has_rsample = False

    def __init__(
        self,
        prior: LatentDiffusionPrior,
        batch_shape: torch.Size = torch.Size(),
        sampling_steps: int = 100,
        only_source: int | None = None,
    ):
        self.prior, self.sampling_steps, self.only_source = prior, sampling_steps, only_source
        super().__init__(torch.Size(batch_shape), torch.Size([prior.dim]), validate_args=False)

    def expand(self, batch_shape, _instance=None):
        return DiffusionPriorDistribution(self.prior, torch.Size(batch_shape), self.sampling_steps, self.only_source)

    def sample(self, sample_shape=torch.Size()):
        shape = torch.Size(sample_shape) + self.batch_shape
        flat = self.prior.sample(max(1, math.prod(shape)), steps=self.sampling_steps)
        return flat[: math.prod(shape)].reshape(*shape, self.prior.dim)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self.only_source is None:
            return -self.prior.loss(value)
        scored = -self.prior.loss(value.select(-3, self.only_source))
        zeros = torch.zeros_like(scored)
        n_sources = value.shape[-3]
        return torch.stack([scored if m == self.only_source else zeros for m in range(n_sources)], dim=-2)
