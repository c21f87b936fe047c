"""What a trained IDMVAE's decoders do: variance explained by shared vs private codes, and feature sensitivities.

Both work on the *encoder's scale* of each modality, i.e. the scale of ``X`` after
:func:`omicsdisent.pp.preprocess`: a decoder mean is mapped there as the module maps reconstructions
(:meth:`IDMVAEModule.input_scale_mean`: counts give ``log1p`` of the decoded proportions times the
sample's total on the encoder's scale, ``sum_g expm1(x_g)``; Beta likelihoods: M-values
``log2(b / (1 - b))``; Normal/Laplace: the values themselves).
"""

from __future__ import annotations

from dataclasses import dataclass

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd

from omicsdisent.errors import InputError
from omicsdisent.tl.embeddings import uns_safe

_CHUNK = 512


@dataclass
class VarianceExplained:
    """What :func:`variance_explained` found.

    ``table``: one row per modality with columns ``modality``, ``n_samples`` (samples that have it),
    ``r2_total``, ``r2_shared``, ``r2_private`` (definitions in :func:`variance_explained`) and
    ``private_share`` = r2_private / (r2_shared + r2_private) with negative parts counted as 0.
    """

    table: pd.DataFrame

    def to_dict(self) -> dict:
        return {"table": [{k: _plain(v) for k, v in row.items()} for row in self.table.to_dict("records")]}


@dataclass
class FeatureAssociations:
    """What :func:`feature_associations` found.

    ``table``: tidy DataFrame with columns ``latent`` (``z`` or ``w_<modality>``), ``dimension``
    (int), ``modality``, ``feature``, ``sensitivity`` (mean |d mean / d latent| over samples, in
    encoder-scale units per unit of the latent) and ``rank`` (1 = strongest), the ``n_top`` features
    per (latent, dimension, modality). ``matrices``: ``{"<latent>:<modality>": DataFrame}`` with every
    feature's sensitivity (features x dimensions), for heatmaps.
    """

    table: pd.DataFrame
    matrices: dict[str, pd.DataFrame]
    n_top: int

    def to_dict(self) -> dict:
        return {
            "n_top": int(self.n_top),
            "table": [{k: _plain(v) for k, v in row.items()} for row in self.table.to_dict("records")],
        }


def _plain(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    return value


def _codes_and_inputs(model, data):
    """(z [n, z_dim], {m: w [n, w_dim]}, {m: x [n, d_m] on the encoder scale}, mask [n, M]) as numpy."""
    from omicsdisent.models.idmvae import as_mudata, build_tensors

    if data is None:
        if model.mdata is None:
            raise InputError("data: this model was loaded without data; pass the MuData to analyse")
        mdata = model.mdata
    else:
        mdata = as_mudata(data, "data")
    tensors = build_tensors(mdata, model.layouts, require_all=False)
    z = model.get_latent(kind="shared", mdata=mdata)
    w = model.get_latent(kind="private", mdata=mdata)
    x = {m: tensors.batch["x"][m].numpy() for m in model.modalities}
    return mdata, z, w, x, tensors.batch["mask"].numpy()


def _decode_input_scale(model, name: str, z: np.ndarray, w: np.ndarray, totals: np.ndarray | None) -> np.ndarray:
    """Decoder means on the encoder's scale, float64 [n, d]; ``totals`` [n] for count modalities (else None)."""
    import torch

    module = model.module
    module.eval()
    device = next(module.parameters()).device
    out = []
    for start in range(0, z.shape[0], _CHUNK):
        zt = torch.as_tensor(z[start:start + _CHUNK], dtype=torch.float32, device=device)
        wt = torch.as_tensor(w[start:start + _CHUNK], dtype=torch.float32, device=device)
        tt = None if totals is None else torch.as_tensor(totals[start:start + _CHUNK], dtype=torch.float32, device=device)
        with torch.no_grad():
            out.append(module.input_scale_mean(name, zt, wt, tt).cpu().numpy().astype(np.float64))
    return np.concatenate(out) if out else np.zeros((0, 0))


def variance_explained(
    model, data: md.MuData | None = None, key_added: str | None = "variance_explained"
) -> VarianceExplained:
    """Share of each modality's variance reconstructed from the shared versus the private code.

    For modality m, over the samples that have it, with x the data on the encoder's scale
    (module docstring), z and w_m the posterior means, and the prior mean 0 of each code:

    - ``r2_total``   = 1 - SS(x - f_m(z, w_m)) / SS(x - mean(x)),
    - ``r2_shared``  = 1 - SS(x - f_m(z, 0))   / SS(x - mean(x)),
    - ``r2_private`` = 1 - SS(x - f_m(0, w_m)) / SS(x - mean(x)),

    where f_m is the decoder mean mapped to the encoder's scale, SS sums squares over samples and
    features, and mean(x) is the per-feature mean (MOFA's R² per view). With a nonlinear decoder the
    parts need not add up to the total, and a code that explains nothing gives an R² near 0 or below.
    Count reconstructions are scaled to each sample's own total on the encoder's scale
    (``sum_g expm1(x_g)``), so differences in library size are not scored as unexplained variance.
    log1p of an expected count sits above the mean of log1p counts where counts are low (Jensen), which
    caps r2_total below 1 for sparse counts.
    (With the diffusion prior, 0 is the mean of the Gaussian the prior is trained towards.)

    ``data``: a MuData with the model's features (default: the model's training data). Returns a
    :class:`VarianceExplained`; with ``key_added`` the table is also stored in ``uns[key_added]`` of
    ``data`` (or of the model's MuData).
    """
    mdata, z, w, x, mask = _codes_and_inputs(model, data)
    rows = []
    for i, name in enumerate(model.modalities):
        present = mask[:, i] & np.isfinite(z).all(axis=1)
        if present.sum() < 2:
            raise InputError(f"modality {name!r}: {present.sum()} samples have it; variance needs at least 2")
        xm = x[name][present].astype(np.float64)
        zm, wm = z[present], w[name][present]
        total = ((xm - xm.mean(axis=0)) ** 2).sum()
        if total <= 0:
            raise InputError(f"modality {name!r}: every feature is constant; there is no variance to explain")

        from omicsdisent.models.idmvae import input_totals

        # Counts: each sample's own total on the encoder's scale, so library size is not counted as unexplained.
        totals = input_totals(xm) if model.layouts[i].uses_library else None

        def r2(z_in, w_in):
            return float(1.0 - ((xm - _decode_input_scale(model, name, z_in, w_in, totals)) ** 2).sum() / total)

        r_total, r_shared, r_private = r2(zm, wm), r2(zm, np.zeros_like(wm)), r2(np.zeros_like(zm), wm)
        pos_shared, pos_private = max(r_shared, 0.0), max(r_private, 0.0)
        share = pos_private / (pos_shared + pos_private) if pos_shared + pos_private > 0 else float("nan")
        rows.append({
            "modality": name,
            "n_samples": int(present.sum()),
            "r2_total": r_total,
            "r2_shared": r_shared,
            "r2_private": r_private,
            "private_share": share,
        })
    result = VarianceExplained(table=pd.DataFrame(rows))
    if key_added is not None:
        mdata.uns[key_added] = uns_safe({"table": result.table.set_index("modality")})
    return result


def _sensitivities(model, name: str, z: np.ndarray, w: np.ndarray, wrt: str) -> np.ndarray:
    """Mean |d f_m / d latent_k| over the samples: float64 [d_m, dims] (wrt "z" or "w")."""
    import torch
    from torch.func import jvp

    module = model.module
    module.eval()
    device = next(module.parameters()).device
    dims = z.shape[1] if wrt == "z" else w.shape[1]
    total = None
    for start in range(0, z.shape[0], _CHUNK):
        zt = torch.as_tensor(z[start:start + _CHUNK], dtype=torch.float32, device=device)
        wt = torch.as_tensor(w[start:start + _CHUNK], dtype=torch.float32, device=device)
        columns = []
        for k in range(dims):
            if wrt == "z":
                tangent = torch.zeros_like(zt)
                tangent[:, k] = 1.0
                _, out = jvp(lambda zz: module.input_scale_mean(name, zz, wt), (zt,), (tangent,))
            else:
                tangent = torch.zeros_like(wt)
                tangent[:, k] = 1.0
                _, out = jvp(lambda ww: module.input_scale_mean(name, zt, ww), (wt,), (tangent,))
            columns.append(out.detach().abs().sum(0).cpu().numpy().astype(np.float64))
        part = np.stack(columns, axis=1)
        total = part if total is None else total + part
    return total / z.shape[0]


def feature_associations(
    model, data: md.MuData | None = None, n_top: int = 20, key_added: str | None = "feature_associations"
) -> FeatureAssociations:
    """The features each latent dimension drives, by decoder sensitivity.

    For modality m with features f_m(z, w_m) (decoder mean on the encoder's scale, module docstring),
    the sensitivity of feature j to dimension k of a code is the mean over samples of
    |d f_mj / d code_k|, evaluated at each sample's posterior means (forward-mode autodiff,
    ``torch.func.jvp``). Shared dimensions z_k are scored against every modality, private dimensions
    w_m,k against modality m only (they drive nothing else). Only samples that have modality m count.

    ``n_top``: features kept per (latent, dimension, modality) in the tidy table. ``data``: a MuData
    with the model's features (default: the training data). With ``key_added`` the table goes to
    ``uns[key_added]``. Returns a :class:`FeatureAssociations`.
    """
    if isinstance(n_top, bool) or not isinstance(n_top, (int, np.integer)) or n_top < 1:
        raise InputError(f"n_top={n_top!r}: expected an integer >= 1")
    mdata, z, w, _, mask = _codes_and_inputs(model, data)
    rows, matrices = [], {}
    for i, (name, layout) in enumerate(zip(model.modalities, model.layouts)):
        present = mask[:, i] & np.isfinite(z).all(axis=1)
        if not present.any():
            raise InputError(f"modality {name!r}: no sample has it; sensitivities need at least one")
        features = pd.Index(layout.feature_names, name="feature")
        for latent, wrt in (("z", "z"), (f"w_{name}", "w")):
            sens = _sensitivities(model, name, z[present], w[name][present], wrt)
            matrices[f"{latent}:{name}"] = pd.DataFrame(sens, index=features, columns=range(sens.shape[1]))
            top = min(int(n_top), sens.shape[0])
            for k in range(sens.shape[1]):
                order = np.argsort(-sens[:, k], kind="stable")[:top]
                for rank, j in enumerate(order, start=1):
                    rows.append((latent, k, name, features[j], float(sens[j, k]), rank))
    table = pd.DataFrame(rows, columns=["latent", "dimension", "modality", "feature", "sensitivity", "rank"])
    result = FeatureAssociations(table=table, matrices=matrices, n_top=int(n_top))
    if key_added is not None:
        mdata.uns[key_added] = uns_safe({"n_top": int(n_top), "table": table})
    return result
