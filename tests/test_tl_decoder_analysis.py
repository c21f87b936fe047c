"""tl.variance_explained and tl.feature_associations on IDMVAE models whose decoders are known exactly.

The model's MLPs (one hidden ReLU layer) are set to linear maps with the identity relu(h) - relu(-h) = h:
modality m is x_m = [z, w_m] D_m^T and its encoder is the pseudo-inverse, so codes, reconstructions and
decoder Jacobians are known in closed form.
"""

from __future__ import annotations

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
import torch

from omicsdisent.errors import InputError
from omicsdisent.models import IDMVAE
from omicsdisent.tl import feature_associations, variance_explained

D_FEATURES, Z_DIM, W_DIM = 6, 2, 2


def _linear_model(private_scale, n=150, seed=0):
    """IDMVAE over continuous modalities with x_m = [z, w_m] D_m^T; returns (model, z, {m: w_m}, {m: D_m})."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, Z_DIM))
    obs = pd.DataFrame(index=[f"s{i}" for i in range(n)])
    loadings, private, mods = {}, {}, {}
    for m, scale in private_scale.items():
        private[m] = rng.normal(size=(n, W_DIM))
        loadings[m] = np.concatenate([rng.normal(size=(D_FEATURES, Z_DIM)),
                                      scale * rng.normal(size=(D_FEATURES, W_DIM))], axis=1)
        x = np.concatenate([z, private[m]], axis=1) @ loadings[m].T
        adata = ad.AnnData(x.astype(np.float32), obs=obs.copy(),
                           var=pd.DataFrame(index=[f"{m}_f{j}" for j in range(D_FEATURES)]))
        adata.uns["omicsdisent"] = {"modality_type": "continuous"}
        mods[m] = adata
    hidden = 2 * D_FEATURES
    model = IDMVAE(mods, z_dim=Z_DIM, w_dim=W_DIM, hidden=(hidden,), encoder_trunk="shared")  # one trunk: set by hand below
    with torch.no_grad():
        for i, m in enumerate(model.modalities):
            D = torch.tensor(loadings[m], dtype=torch.float32)
            encoder, decoder = model.module.encoders[i].net, model.module.decoders[i].net
            inverse = torch.linalg.pinv(D)  # [z_dim + w_dim, d]: x -> (z, w)
            heads = torch.zeros(2 * (Z_DIM + W_DIM), D_FEATURES)  # rows: z_loc, z_raw, w_loc, w_raw
            heads[:Z_DIM] = inverse[:Z_DIM]
            heads[2 * Z_DIM:2 * Z_DIM + W_DIM] = inverse[Z_DIM:]
            encoder[0].weight.copy_(torch.cat([torch.eye(D_FEATURES), -torch.eye(D_FEATURES)]))
            encoder[2].weight.copy_(torch.cat([heads, -heads], dim=1))
            first = torch.zeros(hidden, Z_DIM + W_DIM)
            first[:Z_DIM + W_DIM] = torch.eye(Z_DIM + W_DIM)
            first[Z_DIM + W_DIM:2 * (Z_DIM + W_DIM)] = -torch.eye(Z_DIM + W_DIM)
            second = torch.zeros(D_FEATURES, hidden)
            second[:, :Z_DIM + W_DIM], second[:, Z_DIM + W_DIM:2 * (Z_DIM + W_DIM)] = D, -D
            decoder[0].weight.copy_(first)
            decoder[2].weight.copy_(second)
            for layer in (encoder[0], encoder[2], decoder[0], decoder[2]):
                layer.bias.zero_()
    return model, z, private, loadings


def test_the_constructed_model_recovers_the_true_codes():
    model, z, private, _ = _linear_model({"a": 1.0, "b": 1.0})
    np.testing.assert_allclose(model.get_latent(kind="shared"), z, atol=1e-4)
    np.testing.assert_allclose(model.get_latent(kind="private", modality="b"), private["b"], atol=1e-4)


def test_a_modality_driven_by_private_factors_has_the_larger_private_share():
    model, z, private, loadings = _linear_model({"mostly_shared": 0.3, "mostly_private": 3.0})
    res = variance_explained(model)
    table = res.table.set_index("modality")
    assert table.loc["mostly_private", "private_share"] > 0.7 > 0.3 > table.loc["mostly_shared", "private_share"]
    assert table.loc["mostly_private", "r2_private"] > table.loc["mostly_shared", "r2_private"]
    assert table.loc["mostly_shared", "r2_shared"] > table.loc["mostly_private", "r2_shared"]
    for m in model.modalities:
        # Exact values from the definition: the residual of the shared-only reconstruction is w_m D_w^T.
        x = np.concatenate([z, private[m]], axis=1) @ loadings[m].T
        total = ((x - x.mean(0)) ** 2).sum()
        shared_part, private_part = z @ loadings[m][:, :Z_DIM].T, private[m] @ loadings[m][:, Z_DIM:].T
        assert table.loc[m, "r2_total"] == pytest.approx(1.0, abs=1e-6)
        assert table.loc[m, "r2_shared"] == pytest.approx(1 - (private_part ** 2).sum() / total, abs=1e-4)
        assert table.loc[m, "r2_private"] == pytest.approx(1 - (shared_part ** 2).sum() / total, abs=1e-4)
        assert table.loc[m, "n_samples"] == 150
    assert "variance_explained" in model.mdata.uns


def test_sensitivities_are_the_absolute_decoder_loadings_and_rank_the_features():
    model, _, _, loadings = _linear_model({"a": 1.0, "b": 2.0})
    res = feature_associations(model, n_top=3)
    for m in ("a", "b"):
        np.testing.assert_allclose(res.matrices[f"z:{m}"].to_numpy(), np.abs(loadings[m][:, :Z_DIM]), rtol=1e-4)
        np.testing.assert_allclose(res.matrices[f"w_{m}:{m}"].to_numpy(), np.abs(loadings[m][:, Z_DIM:]), rtol=1e-4)
    table = res.table
    assert list(table.columns) == ["latent", "dimension", "modality", "feature", "sensitivity", "rank"]
    # z drives both modalities, each w_m only its own: 2 z dims x 2 modalities + 2 w dims x 1 modality, 3 each.
    assert len(table) == (Z_DIM * 2 + W_DIM * 2) * 3
    assert set(table.loc[table["latent"] == "w_a", "modality"]) == {"a"}
    top = table[(table["latent"] == "w_b") & (table["dimension"] == 1)].sort_values("rank")
    expected = [f"b_f{j}" for j in np.argsort(-np.abs(loadings["b"][:, Z_DIM + 1]))[:3]]
    assert top["feature"].tolist() == expected
    assert top["rank"].tolist() == [1, 2, 3]


def test_only_samples_that_have_a_modality_count_for_it():
    model, z, private, loadings = _linear_model({"a": 1.0, "b": 1.0})
    full = model.mdata
    partial = md.MuData({"a": full.mod["a"], "b": full.mod["b"][:100].copy()})
    res = variance_explained(model, partial, key_added=None)
    assert res.table.set_index("modality")["n_samples"].to_dict() == {"a": 150, "b": 100}
    assert "variance_explained" not in partial.uns


def test_count_and_beta_modalities_are_scored_on_the_encoder_scale():
    # The analysis maps decoder means to what the encoder sees exactly as the module does.
    from omicsdisent.tl.decoder_analysis import _input_scale_mean

    rng = np.random.default_rng(0)
    obs = pd.DataFrame(index=[f"s{i}" for i in range(20)])
    counts = ad.AnnData(rng.poisson(5, size=(20, 8)).astype(np.float32), obs=obs.copy())
    counts.var_names = [f"g{j}" for j in range(8)]
    counts.layers["counts"] = counts.X.copy()
    counts.X = np.log1p(counts.X)
    counts.uns["omicsdisent"] = {"modality_type": "counts", "target_sum": 1e4}
    betas = rng.uniform(0.05, 0.95, size=(20, 5)).astype(np.float32)
    methyl = ad.AnnData(np.log2(betas / (1 - betas)), obs=obs.copy(), layers={"beta": betas})
    methyl.var_names = [f"c{j}" for j in range(5)]
    methyl.uns["omicsdisent"] = {"modality_type": "methylation"}
    model = IDMVAE({"rna": counts, "methyl": methyl}, likelihoods={"methyl": "beta"}, z_dim=2, w_dim=2, hidden=(8,))
    z, w = torch.randn(20, 2), torch.randn(20, 2)
    for i, name in enumerate(model.modalities):
        expected = model.module._decode_to_input_space(i, z, w)
        torch.testing.assert_close(_input_scale_mean(model.module, name, z, w), expected, rtol=1e-4, atol=1e-4)
    table = variance_explained(model).table
    assert np.isfinite(table[["r2_total", "r2_shared", "r2_private"]].to_numpy()).all()


def test_bad_n_top_and_a_model_without_data_are_refused(tmp_path):
    model, _, _, _ = _linear_model({"a": 1.0, "b": 1.0}, n=30)
    with pytest.raises(InputError, match="n_top=0"):
        feature_associations(model, n_top=0)
    model.save(tmp_path / "model")
    loaded = IDMVAE.load(tmp_path / "model")
    with pytest.raises(InputError, match="loaded without data"):
        variance_explained(loaded)
    assert variance_explained(loaded, model.mdata, key_added=None).table.shape[0] == 2
