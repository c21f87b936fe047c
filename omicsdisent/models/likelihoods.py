"""Likelihoods p(x_m | z, w_m), one function per data type, each returning a ``pyro.distributions`` object.

Every function takes the decoder's raw output (``[..., d]``) and one feature-wise learned parameter
(``[d]``, unconstrained) and returns a distribution whose event is the feature vector (``to_event(1)``),
so ``log_prob`` is summed over features and has the decoder's batch shape. Argument validation is off:
it syncs with the device, and inputs are checked once by the data layer (``module.validate_data``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pyro import distributions as dist

SCALE_EPS = 1e-4  # floor of every learned scale, so a scale never reaches zero
BETA_EPS = 1e-5  # betas are kept this far from 0 and 1, where the Beta density is infinite


def positive(raw: torch.Tensor, eps: float = SCALE_EPS) -> torch.Tensor:
    """softplus(raw) + eps: the map from an unconstrained parameter to a scale (same shape)."""
    return F.softplus(raw) + eps


def negative_binomial(
    logits: torch.Tensor, library: torch.Tensor, raw_inverse_dispersion: torch.Tensor
) -> dist.TorchDistribution:
    """Counts: NB with mean ``library * softmax(logits)`` and feature-wise inverse dispersion theta.

    logits: ``[..., d]`` decoder output; library: ``[...]`` total counts per sample;
    raw_inverse_dispersion: ``[d]``, theta = softplus(raw) + eps. Variance is mu + mu^2 / theta.
    """
    theta = positive(raw_inverse_dispersion)
    log_mu = torch.log(library).unsqueeze(-1) + torch.log_softmax(logits, dim=-1)
    # torch's NB(total_count, logits) has mean total_count * exp(logits): logits = log mu - log theta.
    nb = dist.NegativeBinomial(total_count=theta, logits=log_mu - torch.log(theta), validate_args=False)
    return nb.to_event(1)


def normal(loc: torch.Tensor, raw_scale: torch.Tensor) -> dist.TorchDistribution:
    """Continuous values (standardised features, M-values): Normal(loc, softplus(raw) + eps), feature-wise scale."""
    return dist.Normal(loc, positive(raw_scale), validate_args=False).to_event(1)


def laplace(loc: torch.Tensor, raw_scale: torch.Tensor) -> dist.TorchDistribution:
    """Continuous values or images: Laplace(loc, softplus(raw) + eps), feature-wise scale."""
    return dist.Laplace(loc, positive(raw_scale), validate_args=False).to_event(1)


IMAGE_LAPLACE_SCALE = 0.75  # the authors' fixed pixel scale for PolyMNIST images


def laplace_fixed(mean: torch.Tensor, scale: float = IMAGE_LAPLACE_SCALE) -> dist.TorchDistribution:
    """Images: Laplace(mean, fixed scale 0.75) as in the authors' PolyMNIST code; the decoder gives the
    mean (sigmoid, in [0, 1]) and the scale is not learned."""
    return dist.Laplace(mean, torch.full_like(mean, scale), validate_args=False).to_event(1)


def beta(logits: torch.Tensor, raw_precision: torch.Tensor) -> dist.TorchDistribution:
    """Methylation betas in (0, 1): Beta with mean sigmoid(logits) and feature-wise precision phi.

    Concentrations are ``mean * phi`` and ``(1 - mean) * phi``, phi = softplus(raw) + eps.
    Score targets clamped by :func:`clamp_beta`.
    """
    phi = positive(raw_precision)
    mean = torch.sigmoid(logits).clamp(BETA_EPS, 1 - BETA_EPS)
    return dist.Beta(mean * phi, (1 - mean) * phi, validate_args=False).to_event(1)


def clamp_beta(values: torch.Tensor) -> torch.Tensor:
    """Betas moved into [eps, 1 - eps] (same shape), where the Beta log density is finite."""
    return values.clamp(BETA_EPS, 1 - BETA_EPS)


def build(
    likelihood: str, raw: torch.Tensor, feature_param: torch.Tensor, library: torch.Tensor | None = None
) -> dist.TorchDistribution:
    """The distribution of one modality from its decoder output ``raw`` ``[..., d]``.

    ``library`` (``[...]``, total counts) is required for "nb" and ignored otherwise.
    """
    if likelihood == "nb":
        return negative_binomial(raw, library, feature_param)
    if likelihood == "normal":
        return normal(raw, feature_param)
    if likelihood == "laplace":
        return laplace(raw, feature_param)
    if likelihood == "beta":
        return beta(raw, feature_param)
    if likelihood == "laplace_fixed":
        return laplace_fixed(raw)
    raise ValueError(f"unknown likelihood {likelihood!r}")


def mean(distribution: dist.TorchDistribution) -> torch.Tensor:
    """The mean in data space (expected counts, betas or values), ``[..., d]``."""
    return distribution.base_dist.mean
