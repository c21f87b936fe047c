"""Plots about a fitted model: its training curves and the variance its codes explain."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

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
        ax.set_title(term, fontsize="medium")
        ax.set_xlabel("epoch")
        if i == 0:
            ax.legend(frameon=False, fontsize="small")
    figure.suptitle(f"Training curves ({int(record.get('epochs_run', len(train.get(terms[0], []))))} epochs)")
    return finish(figure, save, overwrite)


def variance_explained(table: pd.DataFrame, *, title: str | None = None, save=None, overwrite: bool = False) -> Figure:
    """Stacked bars: the share of each modality's variance explained by each code.

    ``table`` is :func:`omicsdisent.tl.variance_explained`'s DataFrame: one row per modality (index, or
    a ``modality`` column) and a column per code (e.g. ``shared``, ``private``) holding shares in
    [0, 1] of that modality's total variance. Other numeric columns named ``total`` or ``residual`` are
    not stacked. Returns the figure; ``save`` writes PNG or PDF.
    """
    parts = _variance_parts(table)
    figure = new_figure(6.4, 1.6 + 0.6 * len(parts.index))
    ax = figure.add_subplot()
    palette = colormaps["tab10"]
    left = np.zeros(len(parts.index))
    positions = np.arange(len(parts.index))
    for i, column in enumerate(parts.columns):
        share = parts[column].to_numpy(dtype=float)
        ax.barh(positions, 100 * share, left=100 * left, color=palette(i % palette.N), label=str(column))
        for y, (x0, width) in enumerate(zip(left, share)):
            if width >= 0.06:
                ax.text(100 * (x0 + width / 2), y, f"{100 * width:.0f}%", ha="center", va="center", fontsize="small", color="white")
        left = left + np.clip(share, 0, None)
    ax.set_yticks(positions, [str(i) for i in parts.index])
    ax.invert_yaxis()
    ax.set_xlim(0, max(100.0, 100 * float(left.max()) * 1.05))
    ax.set_xlabel("variance explained (%)")
    ax.legend(frameon=False, loc="lower right", fontsize="small")
    ax.set_title(title if title is not None else "Variance explained per modality")
    return finish(figure, save, overwrite)


_NOT_STACKED = {"total", "residual", "n_features", "n_samples"}


def _variance_parts(table) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"variance_explained: got a {type(table).__name__}; expected a DataFrame (tl.variance_explained)")
    frame = table.set_index("modality") if "modality" in table.columns else table
    numeric = frame.select_dtypes(include="number")
    parts = numeric[[c for c in numeric.columns if str(c).lower() not in _NOT_STACKED]]
    if parts.empty or parts.shape[1] == 0:
        raise InputError(
            f"variance_explained: the table has no numeric share columns; it has {', '.join(map(str, table.columns))}"
        )
    return parts
