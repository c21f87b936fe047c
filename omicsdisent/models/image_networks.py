"""Convolutional (ResNet-style) encoder and decoder for image modalities, registered as "conv".

They follow the contracts of :mod:`omicsdisent.models.networks`, so the same IDMVAE module and trainer
fit images: an image stays a flat row ``[n, C*H*W]`` (C-order of ``spec.input_shape = (C, H, W)``) in
the batch format and is reshaped inside the network.

- :class:`ConvEncoder`: ``x [n, C*H*W]`` (intensities in [0, 1]) -> ``(z_loc, z_scale, w_loc, w_scale)``.
  A 4x4 stride-2 stem, then residual stages that halve the resolution until it is at most 4x4, then a
  linear layer; one such tower per head (``encoder_trunk="separate"``) or one for both ("shared").
- :class:`ConvDecoder`: ``(z [..., z_dim], w [..., w_dim])`` -> the pixel means ``[..., C*H*W]`` in (0, 1)
  (sigmoid), the mirror image of the encoder (nearest upsampling + residual blocks). Pair it with the
  "laplace_fixed" likelihood (the authors' Laplace with scale 0.75 around a sigmoid mean).

Stage widths come from ``ModelConfig.hidden`` (one entry per stage; the last one repeats when the image
needs more stages), e.g. ``hidden=(32, 64, 128)``. :func:`set_image_precision` turns on bf16 autocast and
channels-last memory for every image network of a module (GPU levers; off by default).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from omicsdisent.errors import InputError
from omicsdisent.models.config import ModalitySpec, ModelConfig
from omicsdisent.models.likelihoods import positive
from omicsdisent.models.networks import DECODERS, ENCODERS

MIN_RESOLUTION = 4  # the stages stop once the feature map is at most this wide and high


def _image_shape(spec: ModalitySpec) -> tuple[int, int, int]:
    shape = spec.input_shape
    if shape is None or len(shape) != 3:
        raise InputError(
            f"modality {spec.name!r}: the conv networks need input_shape=(channels, height, width); got {shape!r}"
        )
    return shape


def _stage_sizes(height: int, width: int) -> list[tuple[int, int]]:
    """Feature-map sizes: the input, then after each stride-2 step (ceil(s / 2)) until at most 4x4."""
    sizes = [(height, width)]
    while max(sizes[-1]) > MIN_RESOLUTION or len(sizes) < 2:
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


def _widths(hidden: tuple[int, ...], n_stages: int) -> list[int]:
    return [hidden[min(i, len(hidden) - 1)] for i in range(n_stages)]


class ResidualBlock(nn.Module):
    """SiLU-conv3x3-SiLU-conv3x3 with a skip connection; ``stride=2`` halves the resolution.

    ``[n, c_in, h, w]`` -> ``[n, c_out, ceil(h / stride), ceil(w / stride)]``. No batch statistics: the
    encoder also sees generated images (generative augmentation), which must not shift any normalisation.
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Identity() if (c_in == c_out and stride == 1) else nn.Conv2d(c_in, c_out, 1, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(F.silu(self.conv1(F.silu(x))))
        return self.skip(x) + h


class _ImageNetwork(nn.Module):
    """Shared switches: bf16 (or other) autocast inside forward, channels-last activations."""

    def __init__(self) -> None:
        super().__init__()
        self.autocast_dtype: torch.dtype | None = None
        self.channels_last = False

    def _precision(self, device: torch.device):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.autocast_dtype)

    def _memory_format(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


class _ConvTower(nn.Module):
    """Stem + stride-2 residual stages + one linear layer: images ``[n, C, H, W]`` -> ``[n, out_features]``.

    A 4x4 stride-2 stem to half resolution (full-resolution convolutions would dominate the cost), then
    stride-2 residual stages down to at most 4x4; the linear layer sees the flattened map (where things
    are) and its global average (what is there, wherever it is: a translation-invariant route that the
    shared code can use).
    """

    def __init__(self, shape: tuple[int, int, int], hidden: tuple[int, ...], out_features: int):
        super().__init__()
        sizes = _stage_sizes(*shape[1:])
        widths = _widths(hidden, len(sizes) - 1)
        self.stem = nn.Conv2d(shape[0], widths[0], 4, stride=2, padding=1)
        self.stages = nn.Sequential(
            *[ResidualBlock(widths[i], widths[i + 1], stride=2) for i in range(len(widths) - 1)]
        )
        h, w = sizes[-1]
        self.head = nn.Linear(widths[-1] * (h * w + 1), out_features)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        stem = self.stem(F.pad(images, (0, images.shape[-1] % 2, 0, images.shape[-2] % 2)))  # odd sizes: ceil
        features = F.silu(self.stages(stem))
        pooled = features.mean(dim=(2, 3))
        return self.head(torch.cat([features.flatten(1), pooled], dim=1))


class ConvEncoder(_ImageNetwork):
    """Image ``[n, C*H*W]`` -> parameters of q(z | x) and q(w | x): ``[n, z_dim]`` x2, ``[n, w_dim]`` x2.

    ``config.encoder_trunk == "separate"`` (the default): one conv tower per head, so the z tower's
    features are shaped by what reaches z (the contrastive terms, the KL, the decoders through z) and
    not swamped by the private head's reconstruction gradients, which dominate a shared tower; "shared":
    one tower whose linear layer holds both heads (half the encoder cost). Scales are softplus(raw) + eps.
    Accepts float16/bfloat16 storage; the returned parameters are float32.
    """

    def __init__(self, spec: ModalitySpec, config: ModelConfig):
        super().__init__()
        self.shape = _image_shape(spec)
        self.z_dim, self.w_dim = config.z_dim, config.w_dim
        self.separate = config.encoder_trunk == "separate"
        if self.separate:
            self.z_tower = _ConvTower(self.shape, config.hidden, 2 * config.z_dim)
            self.w_tower = _ConvTower(self.shape, config.hidden, 2 * config.w_dim)
        else:
            self.tower = _ConvTower(self.shape, config.hidden, 2 * (config.z_dim + config.w_dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        with self._precision(x.device):
            images = self._memory_format(x.reshape(-1, *self.shape).float())
            if self.separate:
                z_out, w_out = self.z_tower(images).float(), self.w_tower(images).float()
                z_loc, z_raw = z_out.split([self.z_dim, self.z_dim], dim=-1)
                w_loc, w_raw = w_out.split([self.w_dim, self.w_dim], dim=-1)
            else:
                out = self.tower(images).float()
                z_loc, z_raw, w_loc, w_raw = out.split([self.z_dim, self.z_dim, self.w_dim, self.w_dim], dim=-1)
        return z_loc, positive(z_raw), w_loc, positive(w_raw)


class ConvDecoder(_ImageNetwork):
    """(z ``[..., z_dim]``, w ``[..., w_dim]``) -> pixel means ``[..., C*H*W]`` in (0, 1), float32.

    The encoder mirrored: a linear projection to the coarsest map, nearest upsampling + residual blocks
    up to half resolution, and a 4x4 stride-2 transposed convolution straight to the C output channels.
    """

    def __init__(self, spec: ModalitySpec, config: ModelConfig):
        super().__init__()
        self.shape = _image_shape(spec)
        channels = self.shape[0]
        sizes = _stage_sizes(*self.shape[1:])
        widths = _widths(config.hidden, len(sizes) - 1)[::-1]  # coarse to fine
        self.sizes = sizes[1:][::-1]  # coarse to half resolution
        self.start_width = widths[0]
        h, w = self.sizes[0]
        self.project = nn.Linear(config.z_dim + config.w_dim, widths[0] * h * w)
        self.stages = nn.ModuleList([ResidualBlock(widths[i], widths[i + 1]) for i in range(len(widths) - 1)])
        self.out = nn.ConvTranspose2d(widths[-1], channels, 4, stride=2, padding=1)

    def forward(self, z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        lead = z.shape[:-1]
        height, width = self.shape[1:]
        with self._precision(z.device):
            h = self.project(torch.cat([z, w], dim=-1).reshape(-1, z.shape[-1] + w.shape[-1]))
            h = self._memory_format(h.reshape(-1, self.start_width, *self.sizes[0]))
            for stage, size in zip(self.stages, self.sizes[1:]):
                h = stage(F.interpolate(h, size=size, mode="nearest"))
            logits = self.out(F.silu(h))[..., :height, :width].float()  # odd sizes: 2 * ceil(s / 2) = s + 1
        return torch.sigmoid(logits).reshape(*lead, -1)


def set_image_precision(module: nn.Module, autocast_dtype: torch.dtype | None = None, channels_last: bool = False) -> int:
    """Switch bf16 (or another dtype's) autocast and channels-last memory on every image network of ``module``.

    Returns how many networks were switched. Parameters stay float32 (autocast casts per op); with
    ``channels_last`` the conv weights are moved to channels-last memory too.
    """
    count = 0
    for net in module.modules():
        if isinstance(net, _ImageNetwork):
            net.autocast_dtype, net.channels_last = autocast_dtype, channels_last
            net.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
            count += 1
    return count


ENCODERS.setdefault("conv", ConvEncoder)
DECODERS.setdefault("conv", ConvDecoder)
