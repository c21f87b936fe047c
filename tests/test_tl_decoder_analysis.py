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


def _simulated_counts_model(n=120, seed=0):
    """IDMVAE on simulated RNA counts preprocessed as the CLI does: 60 kept of 300 genes (HVG after normalising)."""
    from omicsdisent.datasets import simulate_cohort
    from omicsdisent.pp import preprocess

    mdata = simulate_cohort(n_samples=n, modalities=("rna", "methyl"), n_features={"rna": 300, "methyl": 40}, seed=seed)
    preprocess(mdata, n_top_features={"rna": 60, "methyl": None})
    return IDMVAE(mdata, z_dim=4, w_dim=4, hidden=(32,))


def test_decoded_counts_land_on_the_encoders_input_scale():
    # After HVG selection the kept genes hold only part of each library, so the encoder's inputs sum
    # (on the count scale) to well below the normalize_total target; decoded proportions must be
    # scaled to what the encoder sees, not to the target.
    model = _simulated_counts_model()
    rna = model.mdata.mod["rna"]
    x = np.asarray(rna.X, dtype=np.float64)
    totals = np.expm1(x).sum(axis=1)
    layout = model.layouts[model.modalities.index("rna")]
    assert layout.input_total == pytest.approx(np.median(totals))
    assert layout.input_total < 0.8 * layout.library_target  # the case the old map got wrong
    # A decoder that outputs each gene's pooled proportion over the kept genes, whatever the codes.
    proportions = np.expm1(x).sum(axis=0) / totals.sum()
    i = model.modalities.index("rna")
    last = model.module.decoders[i].net[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor(np.log(proportions), dtype=torch.float32))
    z, w = torch.randn(len(x), 4), torch.randn(len(x), 4)
    with torch.no_grad():
        typical = model.module.input_scale_mean("rna", z, w).numpy()
        own = model.module.input_scale_mean("rna", z, w, torch.tensor(totals, dtype=torch.float32)).numpy()
        genaug = model.module._decode_to_input_space(i, z, w).numpy()  # what the augmentation cycle encodes
    np.testing.assert_allclose(genaug, typical, rtol=1e-6)
    np.testing.assert_allclose(np.expm1(typical).sum(axis=1), layout.input_total, rtol=1e-4)
    np.testing.assert_allclose(np.expm1(own).sum(axis=1), totals, rtol=1e-4)
    # Sent back through the input transform, the decoded means are the inputs' per-gene means on the
    # count scale (the old map, at the library target, put every gene higher by target / input total).
    np.testing.assert_allclose(np.expm1(own).mean(axis=0), np.expm1(x).mean(axis=0), rtol=1e-3)


def test_variance_explained_on_counts_agrees_with_the_reconstructions_sent_through_pp():
    model = _simulated_counts_model()
    model.train(max_epochs=150, batch_size=32, lr=3e-3, progress=False, seed=0, early_stopping=False)
    table = variance_explained(model, key_added=None).table.set_index("modality")
    assert ((table["r2_total"] >= 0) & (table["r2_total"] <= 1)).all()
    # Directly: expected counts at each sample's own library over the kept genes, normalised as pp does
    # (library over all genes, then the target), then log1p; R² against X.
    rna = model.mdata.mod["rna"]
    z = model.get_latent(kind="shared")
    w = model.get_latent(kind="private", modality="rna")
    library = torch.tensor(np.asarray(rna.layers["counts"], dtype=np.float64).sum(axis=1), dtype=torch.float32)
    with torch.no_grad():
        counts = model.module.decode(torch.tensor(z), {"rna": torch.tensor(w)}, {"rna": library})["rna"].numpy()
    target = rna.uns["omicsdisent"]["target_sum"]
    x_hat = np.log1p(counts / rna.obs["total_counts"].to_numpy()[:, None] * target)
    x = np.asarray(rna.X, dtype=np.float64)
    direct = 1 - ((x - x_hat) ** 2).sum() / ((x - x.mean(axis=0)) ** 2).sum()
    assert table.loc["rna", "r2_total"] == pytest.approx(direct, abs=1e-4)
    assert table.loc["rna", "r2_total"] > 0.2  # the model fits: well above a constant


def test_bad_n_top_and_a_model_without_data_are_refused(tmp_path):
    model, _, _, _ = _linear_model({"a": 1.0, "b": 1.0}, n=30)
    with pytest.raises(InputError, match="n_top=0"):
        feature_associations(model, n_top=0)
    model.save(tmp_path / "model")
    loaded = IDMVAE.load(tmp_path / "model")
    with pytest.raises(InputError, match="loaded without data"):
        variance_explained(loaded)
    assert variance_explained(loaded, model.mdata, key_added=None).table.shape[0] == 2
