"""MNIST digits from the IDX files (LeCun, Cortes and Burges), read into numpy.

The four canonical files are registry entries (``mnist/...``), fetched through the mirror, the cache or
the canonical download mirrors and verified by their uncompressed content.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from omicsdisent.datasets.registry import fetch
from omicsdisent.errors import InputError

# IDX type codes -> big-endian numpy dtypes.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_FILES = {
    "train": ("mnist/train-images-idx3-ubyte.gz", "mnist/train-labels-idx1-ubyte.gz"),
    "test": ("mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzip-compressed when its name ends in ``.gz``) into an array.

    The header gives the element type and the shape, e.g. (60000, 28, 28) for the training images.
    Values come back in native byte order (uint8 for MNIST). Raises :class:`InputError` naming the
    file when the header or the length is not IDX.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as err:
        raise InputError(f"cannot read IDX file {path}: {err}") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise InputError(f"{path} is not an IDX file: expected a header 00 00 <type> <ndim>, "
                         f"got {raw[:4].hex(' ') or 'nothing'}")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise InputError(f"{path} is truncated: its header announces {ndim} dimensions")
    shape = tuple(int(n) for n in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise InputError(f"{path} holds {len(raw)} bytes, but an IDX array of shape {shape} "
                         f"and type {dtype} needs {expected}")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=True)


def load_mnist(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """The MNIST images and labels of one split.

    Args:
        split: ``"train"`` (60,000 digits) or ``"test"`` (10,000).

    Returns:
        ``(images, labels)``: images of shape (n, 28, 28), uint8 intensities 0-255 (white digit on
        black); labels of shape (n,), uint8 digits 0-9.
    """
    if split not in _FILES:
        raise InputError(f"split={split!r} is not an MNIST split; expected 'train' or 'test'")
    images_path, labels_path = _FILES[split]
    images = read_idx(fetch(images_path))
    labels = read_idx(fetch(labels_path))
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise InputError(f"MNIST {split} files disagree: images {images.shape}, labels {labels.shape}")
    return images, labels
