"""Plots about a fitted model: its training curves and the variance its codes explain."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from omicsdisent.errors import InputError
from omicsdisent.pl.figures import finish, new_figure


def _history_record(history) -> dict:
    if hasattr(history, "history") and not isinstance(history, Mapping):  # an IDMVAE
        history = history.history
    if history is None:
        raise InputError("training_curves: the model has no training history (was it trained?)")
    if hasattr(history, "to_dict"):
        history = history.to_dict()
    elif dataclasses.is_dataclass(history):
        history = dataclasses.asdict(history)
    if not isinstance(history, Mapping) or not isinstance(history.get("train"), Mapping):
        raise InputError(
            f"training_curves: got a {type(history).__name__}; expected a TrainingHistory, its to_dict() or an IDMVAE"
        )
    return dict(history)


def training_curves(history, *, terms=None, log_scale: bool = False, save=None, overwrite: bool = False) -> Figure:
    """Loss per epoch for each term of the objective: training (solid) and validation (dashed).

    ``history`` is a :class:`omicsdisent.train.TrainingHistory` (``model.history``), its ``to_dict()`` or
    the model itself. Losses are means per sample (nats, as the trainer records them). ``terms``
    chooses and orders the panels (default: ``total`` first, then every other term). The epoch kept by
    early stopping (``best_epoch``) is marked. Returns the figure; ``save`` writes PNG or PDF.
    """
    record = _history_record(history)
    train = {k: list(v) for k, v in record["train"].items() if v}
    validation = {k: list(v) for k, v in (record.get("validation") or {}).items() if v}
    available = list(dict.fromkeys([*train, *validation]))
    if not available:
        raise InputError("training_curves: the history holds no loss values")
    if terms is None:
        terms = (["total"] if "total" in available else []) + [t for t in available if t != "total"]
    else:
        terms = [terms] if isinstance(terms, str) else list(terms)
        unknown = [t for t in terms if t not in available]
        if unknown:
            raise InputError(f"terms: {', '.join(map(repr, unknown))} not in the history; it has {', '.join(available)}")
    columns = min(3, len(terms))
    rows = math.ceil(len(terms) / columns)
    figure = new_figure(3.6 * columns, 2.7 * rows)
    best = record.get("best_epoch")
    for i, term in enumerate(terms):
        ax = figure.add_subplot(rows, columns, i + 1)
        for series, style, label in ((train, "-", "train"), (validation, "--", "validation")):
            values = np.asarray(series.get(term, []), dtype=float)
            if values.size:
                ax.plot(np.arange(1, values.size + 1), values, style, label=label, marker="o" if values.size < 4 else None)
        if best is not None:
            ax.axvline(int(best) + 1, color="grey", linewidth=0.8, linestyle=":")
        if log_scale:
            ax.set_yscale("symlog")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(term, fontsize="medium")
        ax.set_xlabel("epoch")
        if i == 0:
            ax.legend(frameon=False, fontsize="small")
    figure.suptitle(f"Training curves ({int(record.get('epochs_run', len(train.get(terms[0], []))))} epochs)")
    return finish(figure, save, overwrite)


def variance_explained(table, *, title: str | None = None, save=None, overwrite: bool = False) -> Figure:
    """Grouped bars: the share of each modality's variance (R^2) reconstructed from each code.

    ``table`` is :func:`omicsdisent.tl.variance_explained`'s result (or its ``.table``): one row per
    modality (a ``modality`` column or the index) with ``r2_shared``, ``r2_private`` and ``r2_total``
    (R^2 in [-inf, 1]; negative means worse than the feature means). Any other DataFrame of numeric
    share columns per modality is drawn the same way, one bar per column. Returns the figure; ``save``
    writes PNG or PDF.
    """
    parts = _variance_parts(table)
    n_rows, n_parts = parts.shape
    figure = new_figure(6.4, 1.4 + 0.35 * n_rows * n_parts)
    ax = figure.add_subplot()
    palette = colormaps["tab10"]
    height = 0.8 / n_parts
    positions = np.arange(n_rows)
    for i, column in enumerate(parts.columns):
        share = parts[column].to_numpy(dtype=float)
        y = positions - 0.4 + height * (i + 0.5)
        ax.barh(y, 100 * share, height=height * 0.95, color=palette(i % palette.N), label=_part_label(column))
        for yi, value in zip(y, share):
            if np.isfinite(value):
                offset = 1.0 if value >= 0 else -1.0
                ax.text(100 * value + offset, yi, f"{100 * value:.1f}%", va="center", fontsize="x-small",
                        ha="left" if value >= 0 else "right")
    ax.set_yticks(positions, [str(i) for i in parts.index])
    ax.invert_yaxis()
    finite = parts.to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    low = min(0.0, 100 * float(finite.min())) if finite.size else 0.0
    ax.set_xlim(low * 1.3 - (5.0 if low < 0 else 0.0), 115.0)
    ax.axvline(0.0, color="black", linewidth=0.6)
    ax.set_xlabel("variance explained, R² (%)")
    ax.legend(frameon=False, loc="lower right", fontsize="small")
    ax.set_title(title if title is not None else "Variance explained per modality")
    return finish(figure, save, overwrite)


_R2_ORDER = ("r2_shared", "r2_private", "r2_total")
_NOT_BARS = {"n_samples", "n_features", "private_share"}


def _part_label(column) -> str:
    return {"r2_shared": "shared z", "r2_private": "private w", "r2_total": "z and w"}.get(str(column), str(column))


def _variance_parts(table) -> pd.DataFrame:
    if hasattr(table, "table") and isinstance(table.table, pd.DataFrame):
        table = table.table
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise InputError(
            f"variance_explained: got a {type(table).__name__}; expected tl.variance_explained's result or a DataFrame"
        )
    frame = table.set_index("modality") if "modality" in table.columns else table
    if any(c in frame.columns for c in _R2_ORDER):
        return frame[[c for c in _R2_ORDER if c in frame.columns]].astype(float)
    numeric = frame.select_dtypes(include="number")
    parts = numeric[[c for c in numeric.columns if str(c).lower() not in _NOT_BARS]]
    if parts.shape[1] == 0:
        raise InputError(
            f"variance_explained: the table has no numeric share columns; it has {', '.join(map(str, table.columns))}"
        )
    return parts.astype(float)
