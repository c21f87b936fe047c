"""Figures without pyplot: every plot is a ``matplotlib.figure.Figure`` drawn by the Agg canvas.

Figures made this way are never registered with pyplot, so no window ever opens, whatever backend the
user has; Jupyter still shows a returned figure. :func:`save_figure` writes PNG or PDF atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from omicsdisent.errors import InputError
from omicsdisent.files import atomic_path

SAVE_FORMATS = {".png": "png", ".pdf": "pdf"}


def new_figure(width: float, height: float) -> Figure:
    """An empty figure of ``width`` x ``height`` inches on an Agg canvas."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Figure, path: str | os.PathLike, *, overwrite: bool = False, dpi: int = 150) -> Path:
    """Write ``figure`` to ``path`` (``.png`` or ``.pdf``, chosen by the suffix) and return the path.

    The file is written under a temporary name in the same folder and renamed, so a failed save leaves
    nothing behind; an existing file is replaced only with ``overwrite=True``.
    """
    path = Path(path)
    kind = SAVE_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise InputError(f"save={str(path)!r}: expected a file name ending in .png or .pdf")
    if not path.parent.is_dir():
        raise InputError(f"save={str(path)!r}: folder {path.parent} does not exist")
    if path.exists() and not overwrite:
        raise InputError(f"save={str(path)!r}: the file exists; pass overwrite=True to replace it")
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format=kind, dpi=dpi)
    return path


def finish(figure: Figure, save, overwrite: bool) -> Figure:
    """Save ``figure`` where asked (``save`` a path or None) and return it."""
    if save is not None:
        save_figure(figure, save, overwrite=overwrite)
    return figure
