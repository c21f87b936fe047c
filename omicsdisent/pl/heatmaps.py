"""Annotated heatmaps: disentanglement probes and confusion matrices."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from omicsdisent.errors import InputError
from omicsdisent.pl.figures import finish, new_figure


def _annotated_heatmap(values: pd.DataFrame, *, cmap: str, vmin, vmax, fmt: str, colorbar: str, title: str,
                       xlabel: str, ylabel: str) -> Figure:
    data = values.to_numpy(dtype=float)
    rows, columns = data.shape
    figure = new_figure(max(4.0, 1.0 + 0.9 * columns + 1.5), max(3.0, 1.2 + 0.45 * rows))
    ax = figure.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(columns), [str(c) for c in values.columns], rotation=30, ha="right")
    ax.set_yticks(range(rows), [str(i) for i in values.index])
    low, high = image.get_clim()
    middle = (low + high) / 2
    for r in range(rows):
        for c in range(columns):
            value = data[r, c]
            text = "NA" if not np.isfinite(value) else format(value, fmt)
            ax.text(c, r, text, ha="center", va="center", fontsize="small",
                    color="white" if np.isfinite(value) and value > middle else "black")
    figure.colorbar(image, ax=ax, label=colorbar)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return figure


def probe_heatmap(table, *, title: str | None = None, save=None, overwrite: bool = False) -> Figure:
    """Heatmap of linear-probe scores: rows are representations, columns are probed labels.

    ``table`` is :func:`omicsdisent.tl.disentanglement_probes`'s :class:`~omicsdisent.tl.ProbeResult`
    or its ``table`` (rows ``z`` and ``w_<modality>``, one column per label; each cell an accuracy for a
    categorical label or an R^2 for a continuous one), or any DataFrame of numeric scores shaped the
    same way. NaN cells are blank and marked NA. Returns the figure; ``save`` writes PNG or PDF.
    """
    wide = _probe_matrix(table)
    numbers = wide.to_numpy(dtype=float)
    finite = numbers[np.isfinite(numbers)]
    vmin = min(0.0, float(finite.min())) if finite.size else 0.0
    vmax = max(1.0, float(finite.max())) if finite.size else 1.0
    figure = _annotated_heatmap(wide, cmap="viridis", vmin=vmin, vmax=vmax, fmt=".2f", colorbar="accuracy or R²",
                                title=title or "Disentanglement probes", xlabel="probed label", ylabel="representation")
    return finish(figure, save, overwrite)


def _probe_matrix(table) -> pd.DataFrame:
    if hasattr(table, "table") and isinstance(table.table, pd.DataFrame):
        table = table.table  # a ProbeResult
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise InputError(f"probe_heatmap: got a {type(table).__name__}; expected a ProbeResult or a non-empty DataFrame")
    wide = table.select_dtypes(include="number")
    if wide.shape[1] == 0:
        raise InputError(f"probe_heatmap: the table has no numeric columns; it has {', '.join(map(str, table.columns))}")
    return wide


def confusion_matrix(confusion: pd.DataFrame, *, normalize: bool = True, title: str | None = None, save=None,
                     overwrite: bool = False) -> Figure:
    """Heatmap of a confusion matrix (rows: true class, columns: predicted class, counts of samples).

    With ``normalize`` each row is divided by its total, so a cell is the share of that true class
    predicted as the column's class; the annotations then show shares. Returns the figure.
    """
    if not isinstance(confusion, pd.DataFrame) or confusion.empty:
        raise InputError("confusion_matrix: expected a non-empty DataFrame (true class x predicted class)")
    counts = confusion.astype(float)
    if normalize:
        totals = counts.sum(axis=1).replace(0, np.nan)
        shown = counts.div(totals, axis=0)
        figure = _annotated_heatmap(shown, cmap="Blues", vmin=0.0, vmax=1.0, fmt=".2f", colorbar="share of true class",
                                    title=title or "Confusion matrix", xlabel="predicted", ylabel="true")
    else:
        figure = _annotated_heatmap(counts, cmap="Blues", vmin=0.0, vmax=None, fmt=".0f", colorbar="samples",
                                    title=title or "Confusion matrix", xlabel="predicted", ylabel="true")
    return finish(figure, save, overwrite)
