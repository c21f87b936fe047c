"""Encoder and decoder networks, chosen per modality from a registry.

``ENCODERS[spec.encoder](spec, config)`` and ``DECODERS[spec.decoder](spec, config)`` build the networks
of one modality, so other data types (e.g. images) plug in by adding an entry. The contracts:

- an encoder maps ``x`` ``[n, d]`` to ``(z_loc, z_scale, w_loc, w_scale)``, each ``[n, z_dim]`` or
  ``[n, w_dim]``, with scales ``softplus(raw) + eps``;
- a decoder maps ``z`` ``[..., z_dim]`` and ``w`` ``[..., w_dim]`` to the raw parameter of the likelihood
  ``[..., d]`` (see ``likelihoods.build``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from omicsdisent.errors import InputError
from omicsdisent.models.config import ModalitySpec, ModelConfig
from omicsdisent.models.likelihoods import positive


def mlp(sizes: Sequence[int], dropout: float = 0.0) -> nn.Sequential:
    """Linear layers of the given sizes with ReLU (and dropout) between them, none after the last."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """x ``[n, d]`` -> parameters of q(z | x) and q(w | x).

    ``config.encoder_trunk == "shared"``: one MLP with both heads in its output layer;
    ``"separate"``: one MLP per head (``self.net`` for z, ``self.private_net`` for w).
    """

    def __init__(self, spec: ModalitySpec, config: ModelConfig):
        super().__init__()
        self.z_dim, self.w_dim = config.z_dim, config.w_dim
        if config.encoder_trunk == "separate":
            self.net = mlp([spec.n_features, *config.hidden, 2 * config.z_dim], config.dropout)
            self.private_net = mlp([spec.n_features, *config.hidden, 2 * config.w_dim], config.dropout)
        else:
            self.net = mlp([spec.n_features, *config.hidden, 2 * (config.z_dim + config.w_dim)], config.dropout)
            self.private_net = None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.private_net is None:
            out = self.net(x)
        else:
            out = torch.cat([self.net(x), self.private_net(x)], dim=-1)
        z_loc, z_raw, w_loc, w_raw = out.split([self.z_dim, self.z_dim, self.w_dim, self.w_dim], dim=-1)
        return z_loc, positive(z_raw), w_loc, positive(w_raw)


class MLPDecoder(nn.Module):
    """(z ``[..., z_dim]``, w ``[..., w_dim]``) -> raw likelihood parameter ``[..., d]``."""

    def __init__(self, spec: ModalitySpec, config: ModelConfig):
        super().__init__()
        self.net = mlp([config.z_dim + config.w_dim, *config.hidden, spec.n_features], config.dropout)

    def forward(self, z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, w], dim=-1))


ENCODERS = {"mlp": MLPEncoder}
DECODERS = {"mlp": MLPDecoder}


def build_encoder(spec: ModalitySpec, config: ModelConfig) -> nn.Module:
    """The encoder named by ``spec.encoder``."""
    return _lookup(ENCODERS, spec.encoder, "encoder", spec)(spec, config)


def build_decoder(spec: ModalitySpec, config: ModelConfig) -> nn.Module:
    """The decoder named by ``spec.decoder``."""
    return _lookup(DECODERS, spec.decoder, "decoder", spec)(spec, config)


def _lookup(registry: dict, key: str, kind: str, spec: ModalitySpec):
    if key not in registry:
        import omicsdisent.models.image_networks  # noqa: F401  (registers "conv" on first need; imports torch only)
    if key not in registry:
        raise InputError(
            f"modality {spec.name!r}: {kind}={key!r} is not valid; expected one of {', '.join(sorted(registry))}"
        )
    return registry[key]
