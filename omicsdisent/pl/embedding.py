"""UMAP of an embedding, coloured by a sample annotation."""

from __future__ import annotations

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from omicsdisent.errors import InputError
from omicsdisent.pl.figures import finish, new_figure

UMAP_KEY = "X_umap"
MISSING_COLOUR = "#bdbdbd"


def umap(
    data: ad.AnnData | md.MuData,
    color: str,
    *,
    rep: str = "X_shared",
    compute: bool = True,
    title: str | None = None,
    point_size: float | None = None,
    save=None,
    overwrite: bool = False,
) -> Figure:
    """Scatter plot of ``obsm["X_umap"]`` (float [n_obs, 2]) coloured by ``obs[color]``.

    When ``X_umap`` is absent and ``compute`` is True, it is computed first with
    :func:`omicsdisent.tl.cluster` on the embedding ``rep`` (which also writes ``obs["leiden"]``; ``data``
    is changed in place); with ``compute=False`` a missing ``X_umap`` is an error. A categorical (or
    text) column gets one colour per category and a legend, a numeric column a continuous colour scale;
    missing values are grey. Samples with a NaN UMAP position (no embedding) are left out.

    Returns the figure; ``save="umap.png"`` (or ``.pdf``) also writes it (an existing file only with
    ``overwrite=True``).
    """
    if not isinstance(data, (ad.AnnData, md.MuData)):
        raise InputError(f"data: got a {type(data).__name__}; expected an AnnData or MuData")
    if color not in data.obs.columns:
        columns = ", ".join(map(str, data.obs.columns)) or "none"
        raise InputError(f"color={color!r}: no such column in obs; obs has {columns}")
    if UMAP_KEY not in data.obsm:
        if not compute:
            raise InputError("obsm has no 'X_umap'; run omicsdisent.tl.cluster first or pass compute=True")
        from omicsdisent import tl

        tl.cluster(data, rep=rep)
    coords = np.asarray(data.obsm[UMAP_KEY], dtype=float)
    if coords.ndim != 2 or coords.shape[1] < 2:
        raise InputError(f"obsm['X_umap'] has shape {coords.shape}; expected [n_obs, 2]")
    placed = np.isfinite(coords[:, :2]).all(axis=1)
    values = data.obs[color]
    size = point_size if point_size is not None else max(4.0, min(40.0, 4000.0 / max(1, placed.sum())))

    figure = new_figure(6.2, 4.8)
    ax = figure.add_subplot()
    if _is_categorical(values):
        _scatter_categories(ax, coords, values, placed, size)
    else:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        known = placed & np.isfinite(numbers)
        unknown = placed & ~np.isfinite(numbers)
        if unknown.any():
            ax.scatter(coords[unknown, 0], coords[unknown, 1], s=size, c=MISSING_COLOUR, label="NA", linewidths=0)
        points = ax.scatter(coords[known, 0], coords[known, 1], s=size, c=numbers[known], cmap="viridis", linewidths=0)
        figure.colorbar(points, ax=ax, label=color)
    ax.set_xlabel("UMAP 1")
    ax.set_ylabel("UMAP 2")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title if title is not None else f"UMAP of {rep}, coloured by {color}")
    return finish(figure, save, overwrite)


def _is_categorical(values: pd.Series) -> bool:
    return isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object or pd.api.types.is_bool_dtype(values)


def _scatter_categories(ax, coords: np.ndarray, values: pd.Series, placed: np.ndarray, size: float) -> None:
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories = [c for c in values.cat.categories if (values == c).any()]
    else:
        categories = sorted(values.dropna().astype(str).unique())
        values = values.astype(object).where(values.notna(), None)
        values = values.map(lambda v: None if v is None else str(v))
    palette = colormaps["tab10" if len(categories) <= 10 else "tab20"]
    for i, category in enumerate(categories):
        rows = placed & (values == category).to_numpy()
        ax.scatter(coords[rows, 0], coords[rows, 1], s=size, color=palette(i % palette.N), label=str(category), linewidths=0)
    missing = placed & values.isna().to_numpy()
    if missing.any():
        ax.scatter(coords[missing, 0], coords[missing, 1], s=size, c=MISSING_COLOUR, label="NA", linewidths=0)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, markerscale=1.5, fontsize="small")
