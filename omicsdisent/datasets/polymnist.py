"""PolyMNIST-Quadrant and classic PolyMNIST, built from MNIST and five natural images in scikit-image.

>>> from omicsdisent.datasets.polymnist import build_polymnist
>>> train = build_polymnist("train", canvas=32, n=5000, seed=0)   # a CPU-sized subset
>>> train.images.shape                                            # (5000, 5, 3, 32, 32), uint8

PolyMNIST-Quadrant, as the authors build it (METHOD.md):

- Each tuple has M = 5 modalities. Modality m is an image of a digit of the tuple's class on a random
  crop of modality m's own background (astronaut, chelsea, coffee, rocket, hubble_deep_field), so the
  digit class is the only thing the modalities share.
- Canvas 64x64 by default. The 28x28 MNIST digit is resized to half the canvas (32x32), binarised at
  intensity > 16 (0-255) and placed in one of 4 quadrants, drawn independently per modality: the
  quadrant is a private label (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right).
- The digit is drawn by inverting the background's colours (255 - value) at digit pixels.
- Pairing: for each repetition, each modality and each digit class, a random permutation of the split's
  images of that class; tuple j of class c takes the j-th image of each modality's permutation.
- Splits: train = MNIST train 0-54,999 used 4 times (220,000 tuples); val = MNIST train
  55,000-59,999 (5,000); test = MNIST test (10,000).

A smaller canvas (e.g. 32 for CPU runs) scales everything: the digit is half the canvas and the crops
come from the backgrounds rescaled by canvas / 64, so a 32 canvas is the 64 one at half resolution.
Classic PolyMNIST (``variant="classic"``): a 28x28 canvas, the 28x28 digit on a 28x28 crop of the
background at its native resolution, no quadrant (``quadrants`` is -1). The authors' colour variants (a
red digit in m0, a blue one in m4) are not built.

Everything random comes from one seed, drawn in full for the whole split before a subset (``n``) is
taken, so a subset is the first ``n`` tuples of the full split. Splits are cached as compressed arrays
(``np.savez_compressed``), one file per parameter set, under ``<cache>/polymnist``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from omicsdisent.errors import InputError

BACKGROUNDS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field")
QUADRANTS = ("top-left", "top-right", "bottom-left", "bottom-right")
VARIANTS = ("quadrant", "classic")
SPLITS = ("train", "val", "test")
DIGIT_THRESHOLD = 16  # MNIST intensities above this (0-255, after resizing) are digit pixels
TRAIN_END = 55_000  # MNIST train 0..54,999 is the training split; the rest is validation
TRAIN_REPEATS = 4
_REFERENCE_CANVAS = 64  # the authors' canvas; backgrounds are rescaled by canvas / 64 for smaller ones
_FORMAT_VERSION = 1  # bump when the construction changes, so old cache files are not reused
_CHUNK = 8192  # tuples rendered at once (bounds the temporary memory)


@dataclass
class PolyMNISTSplit:
    """One split of PolyMNIST(-Quadrant).

    images: uint8 ``[n, M, 3, H, W]`` (RGB, channels first: a flat row ``images[i, m].reshape(-1)`` is the
        C-order ``(3, H, W)`` image the conv networks expect).
    digits: int64 ``[n]``, the shared label (0-9).
    quadrants: int64 ``[n, M]``, the private label of each modality's image (0-3), -1 for "classic".
    mnist_index: int64 ``[n, M]``, the image's index in the MNIST file of its split (train or t10k).
    params: the build parameters (variant, split, canvas, seed, ...), JSON-able.
    """

    images: np.ndarray
    digits: np.ndarray
    quadrants: np.ndarray
    mnist_index: np.ndarray
    params: dict

    @property
    def n(self) -> int:
        return int(self.images.shape[0])

    @property
    def n_modalities(self) -> int:
        return int(self.images.shape[1])

    @property
    def modality_names(self) -> list[str]:
        return [f"m{m}" for m in range(self.n_modalities)]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.images.shape[2:])


def build_polymnist(
    split: str = "train",
    *,
    variant: str = "quadrant",
    canvas: int | None = None,
    n: int | None = None,
    seed: int = 0,
    n_modalities: int = 5,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
) -> PolyMNISTSplit:
    """Build (or read from the cache) one split of PolyMNIST-Quadrant or classic PolyMNIST.

    Args:
        split: "train" (220,000 tuples: MNIST train 0-54,999 four times), "val" (5,000) or "test" (10,000).
        variant: "quadrant" (PolyMNIST-Quadrant) or "classic" (PolyMNIST, 28x28, no quadrant).
        canvas: image side in pixels; default 64 (quadrant) or 28 (classic). Quadrant canvases must be
            even and at least 8; classic ones at least 28 (the digit keeps its 28x28 size).
        n: keep the first n tuples of the split (None: all).
        seed: fixes the pairing, the quadrants and the crops.
        n_modalities: M, at most 5 (one background each).
        cache: read and write the cache file; cache_dir: its folder (default ``<OMICSDISENT_CACHE>/polymnist``).

    Returns:
        A :class:`PolyMNISTSplit` with images ``[n, M, 3, canvas, canvas]`` uint8.
    """
    params = _check_params(split, variant, canvas, n, seed, n_modalities)
    path = _cache_path(params, cache_dir) if cache else None
    if path is not None and path.is_file():
        cached = _read_cache(path, params)
        if cached is not None:
            return cached
    result = _build(params)
    if path is not None:
        _write_cache(path, result)
    return result


def split_sizes() -> dict[str, int]:
    """Number of tuples in each full split (the authors' protocol)."""
    return {"train": TRAIN_END * TRAIN_REPEATS, "val": 60_000 - TRAIN_END, "test": 10_000}


# ----- construction ---------------------------------------------------------------------------------


def _check_params(split, variant, canvas, n, seed, n_modalities) -> dict:
    if split not in SPLITS:
        raise InputError(f"split={split!r} is not valid; expected one of {', '.join(SPLITS)}")
    if variant not in VARIANTS:
        raise InputError(f"variant={variant!r} is not valid; expected one of {', '.join(VARIANTS)}")
    if canvas is None:
        canvas = _REFERENCE_CANVAS if variant == "quadrant" else 28
    if not isinstance(canvas, int) or isinstance(canvas, bool):
        raise InputError(f"canvas={canvas!r} is not valid; expected an integer number of pixels")
    if variant == "quadrant" and (canvas < 8 or canvas % 2):
        raise InputError(f"canvas={canvas} is not valid for PolyMNIST-Quadrant; expected an even integer >= 8")
    if variant == "classic" and canvas < 28:
        raise InputError(f"canvas={canvas} is not valid for classic PolyMNIST; expected an integer >= 28")
    full = split_sizes()[split]
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= full):
        raise InputError(f"n={n!r} is not valid for the {split} split; expected an integer in 1..{full} (or None for all)")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise InputError(f"seed={seed!r} is not valid; expected an integer >= 0")
    if not isinstance(n_modalities, int) or isinstance(n_modalities, bool) or not 1 <= n_modalities <= len(BACKGROUNDS):
        raise InputError(f"n_modalities={n_modalities!r} is not valid; expected an integer in 1..{len(BACKGROUNDS)}")
    return {"variant": variant, "split": split, "canvas": canvas, "n": n, "seed": seed,
            "n_modalities": n_modalities, "version": _FORMAT_VERSION}


def _split_source(split: str) -> tuple[str, np.ndarray, int]:
    """(MNIST file split, indices of the split's images in it, repetitions)."""
    if split == "train":
        return "train", np.arange(TRAIN_END), TRAIN_REPEATS
    if split == "val":
        return "train", np.arange(TRAIN_END, 60_000), 1
    return "test", np.arange(10_000), 1


def pair_same_class(labels: np.ndarray, n_modalities: int, repeats: int, rng: np.random.Generator) -> np.ndarray:
    """Tuples of same-class images: ``[repeats * len(labels), M]`` positions into ``labels``.

    Tuple ``r * len(labels) + i`` has the class of ``labels[i]``; for every repetition, modality and class,
    its images are a fresh random permutation of that class's positions, so each image appears once per
    modality and repetition and the modalities share only the class.
    """
    n = labels.shape[0]
    pairs = np.empty((repeats * n, n_modalities), dtype=np.int64)
    slots = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
    for r in range(repeats):
        for m in range(n_modalities):
            for c, positions in slots.items():
                pairs[r * n + positions, m] = rng.permutation(positions)
    return pairs


def _build(params: dict) -> PolyMNISTSplit:
    from omicsdisent.datasets.mnist import load_mnist

    variant, canvas, M = params["variant"], params["canvas"], params["n_modalities"]
    source, indices, repeats = _split_source(params["split"])
    images, labels = load_mnist(source)
    labels = labels[indices].astype(np.int64)
    split_code = SPLITS.index(params["split"])
    rng = np.random.default_rng([params["seed"], split_code, VARIANTS.index(variant)])
    # Everything random is drawn for the whole split, so a subset is a prefix of the full split.
    pairs = pair_same_class(labels, M, repeats, rng)
    total = pairs.shape[0]
    quadrants = rng.integers(0, len(QUADRANTS), size=(total, M))
    crop_u = rng.random(size=(total, M, 2))  # crop corners as fractions of the free range
    keep = params["n"] if params["n"] is not None else total
    pairs, quadrants, crop_u = pairs[:keep], quadrants[:keep], crop_u[:keep]
    mnist_index = indices[pairs]
    digits = labels[pairs[:, 0]]

    digit_size = canvas // 2 if variant == "quadrant" else 28
    needed = np.unique(mnist_index)
    masks = _digit_masks(images[needed], digit_size)  # [u, s, s] bool
    mask_of = np.searchsorted(needed, mnist_index)  # [n, M] rows of masks
    scale = canvas / _REFERENCE_CANVAS if variant == "quadrant" else 1.0
    out = np.empty((keep, M, 3, canvas, canvas), dtype=np.uint8)
    for m in range(M):
        background = _background(BACKGROUNDS[m], scale, canvas)
        windows = np.lib.stride_tricks.sliding_window_view(background, (canvas, canvas), axis=(1, 2))
        free_y, free_x = windows.shape[1], windows.shape[2]  # [3, free_y, free_x, canvas, canvas]
        for start in range(0, keep, _CHUNK):
            rows = slice(start, min(start + _CHUNK, keep))
            ys = (crop_u[rows, m, 0] * free_y).astype(np.int64)
            xs = (crop_u[rows, m, 1] * free_x).astype(np.int64)
            crops = windows[:, ys, xs].transpose(1, 0, 2, 3)  # [b, 3, canvas, canvas]
            digit = np.zeros((crops.shape[0], canvas, canvas), dtype=bool)
            if variant == "quadrant":
                for q in range(len(QUADRANTS)):
                    sel = np.flatnonzero(quadrants[rows, m] == q)
                    top, left = (q // 2) * digit_size, (q % 2) * digit_size
                    digit[sel, top:top + digit_size, left:left + digit_size] = masks[mask_of[rows, m][sel]]
            else:
                off = (canvas - 28) // 2
                digit[:, off:off + 28, off:off + 28] = masks[mask_of[rows, m]]
            out[rows, m] = np.where(digit[:, None], 255 - crops, crops)
    if variant == "classic":
        quadrants = np.full_like(quadrants, -1)
    return PolyMNISTSplit(out, digits, quadrants.astype(np.int64), mnist_index.astype(np.int64), dict(params))


def _digit_masks(digits: np.ndarray, size: int) -> np.ndarray:
    """MNIST digits ``[u, 28, 28]`` uint8 -> binary masks ``[u, size, size]``: bilinear resize, then > 16."""
    if size == digits.shape[-1]:
        return digits > DIGIT_THRESHOLD
    import torch
    import torch.nn.functional as F

    out = np.empty((digits.shape[0], size, size), dtype=bool)
    for start in range(0, digits.shape[0], _CHUNK):
        batch = torch.from_numpy(digits[start:start + _CHUNK].astype(np.float32)).unsqueeze(1)
        resized = F.interpolate(batch, size=(size, size), mode="bilinear", align_corners=False,
                                antialias=size < digits.shape[-1])
        out[start:start + _CHUNK] = (resized.squeeze(1) > DIGIT_THRESHOLD).numpy()
    return out


def _background(name: str, scale: float, canvas: int) -> np.ndarray:
    """Background ``name`` from scikit-image as uint8 ``[3, h, w]``, rescaled by ``scale``."""
    import skimage.data
    from skimage.transform import rescale

    image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    image = image[..., :3]
    if scale != 1.0:
        image = rescale(image, scale, channel_axis=-1, anti_aliasing=True, preserve_range=True)
        image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    if min(image.shape[:2]) < canvas:
        raise InputError(f"canvas={canvas} is larger than the background {name!r} ({image.shape[0]}x{image.shape[1]})")
    return np.ascontiguousarray(image.transpose(2, 0, 1))


# ----- cache ----------------------------------------------------------------------------------------


def _cache_path(params: dict, cache_dir) -> Path:
    if cache_dir is None:
        from omicsdisent.datasets.registry import cache_folder

        cache_dir = cache_folder() / "polymnist"
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    size = "all" if params["n"] is None else str(params["n"])
    return Path(cache_dir) / f"{params['variant']}-{params['canvas']}px-{params['split']}-{size}-seed{params['seed']}-{key}.npz"


def _read_cache(path: Path, params: dict) -> PolyMNISTSplit | None:
    """The cached split, or None where the file is unreadable or was built with other parameters."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if json.loads(str(data["params"])) != params:
                return None
            return PolyMNISTSplit(data["images"], data["digits"], data["quadrants"], data["mnist_index"], dict(params))
    except (OSError, ValueError, KeyError):
        return None


def _write_cache(path: Path, result: PolyMNISTSplit) -> None:
    """Write the split atomically: a temporary file in the same folder, then os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez_compressed(handle, images=result.images, digits=result.digits, quadrants=result.quadrants,
                                mnist_index=result.mnist_index, params=np.array(json.dumps(result.params, sort_keys=True)))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
