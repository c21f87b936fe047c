"""tl.disentanglement_probes: linear probes of z and each w_m for shared and private labels."""

from __future__ import annotations

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest

from omicsdisent.errors import InputError
from omicsdisent.tl import disentanglement_probes


def _disentangled(n=240, seed=0, leak=0.0):
    """Embeddings where z carries the subtype and true shared factors, w_rna the rna-private quadrant.

    ``leak`` copies that much of the subtype signal into w_rna (an entangled private code).
    """
    rng = np.random.default_rng(seed)
    subtype = rng.integers(0, 3, n)
    quadrant = rng.integers(0, 4, n)
    factors = rng.normal(size=(n, 2))
    z = np.concatenate([factors, subtype[:, None] * 3.0 + rng.normal(size=(n, 1))], axis=1)
    w_rna = np.concatenate([quadrant[:, None] * 3.0 + rng.normal(size=(n, 1)),
                            leak * subtype[:, None] + rng.normal(size=(n, 1))], axis=1)
    obs = pd.DataFrame({"subtype": pd.Categorical(np.array(["S1", "S2", "S3"])[subtype]),
                        "quadrant": quadrant}, index=[f"s{i}" for i in range(n)])
    adata = ad.AnnData(obs=obs)
    adata.obsm.update({"X_shared": z, "X_private_rna": w_rna, "X_private_methyl": rng.normal(size=(n, 2)),
                       "true_shared": factors})
    return adata


def test_the_table_scores_each_code_on_each_label_with_the_papers_averages():
    adata = _disentangled()
    res = disentanglement_probes(adata, shared_labels=["subtype", "true_shared"],
                                 private_labels={"rna": ["quadrant"]})
    table = res.table
    assert list(table.index) == ["z", "w_rna", "w_methyl"]
    assert list(table.columns) == ["subtype", "true_shared", "rna:quadrant"]
    assert res.kinds == {"subtype": "accuracy", "true_shared": "r2", "rna:quadrant": "accuracy"}
    assert table.loc["z", "subtype"] > 0.9 and table.loc["z", "true_shared"] > 0.95
    assert table.loc["w_rna", "rna:quadrant"] > 0.85
    assert table.loc["z", "rna:quadrant"] < 0.4  # chance is ~0.25
    assert table.loc["w_methyl", "true_shared"] < 0.05  # R² of noise
    s = res.summary
    assert s["z->shared"] == pytest.approx(table.loc["z", ["subtype", "true_shared"]].mean())
    assert s["w->private"] == pytest.approx(table.loc["w_rna", "rna:quadrant"])
    assert s["z->private"] == pytest.approx(table.loc["z", "rna:quadrant"])
    assert s["w->shared"] == pytest.approx(table.loc[["w_rna", "w_methyl"], ["subtype", "true_shared"]].to_numpy().mean())
    assert "disentanglement_probes" in adata.uns
    assert res.to_dict()["table"]["z"]["subtype"] == pytest.approx(table.loc["z", "subtype"])


def test_shared_signal_leaking_into_w_raises_w_to_shared():
    clean = disentanglement_probes(_disentangled(), shared_labels=["subtype"], private_labels={"rna": ["quadrant"]})
    leaky = disentanglement_probes(_disentangled(leak=4.0), shared_labels=["subtype"],
                                   private_labels={"rna": ["quadrant"]})
    assert leaky.table.loc["w_rna", "subtype"] > clean.table.loc["w_rna", "subtype"] + 0.3


def test_private_labels_are_found_in_the_modalitys_own_obsm():
    # The simulator keeps each modality's true private factors in mod[m].obsm["true_private"].
    adata = _disentangled(n=120)
    rna = ad.AnnData(np.zeros((100, 1), dtype=np.float32), obs=pd.DataFrame(index=adata.obs_names[:100]))
    rna.obsm["true_private"] = adata.obsm["X_private_rna"][:100, :1] + 0.1
    methyl = ad.AnnData(np.zeros((120, 1), dtype=np.float32), obs=pd.DataFrame(index=adata.obs_names))
    methyl.var_names = ["c0"]
    mdata = md.MuData({"rna": rna, "methyl": methyl})
    rows = adata.obs_names.get_indexer(mdata.obs_names)
    mdata.obsm["X_shared"] = adata.obsm["X_shared"][rows]
    mdata.obsm["X_private_rna"] = adata.obsm["X_private_rna"][rows]
    res = disentanglement_probes(mdata, private_labels={"rna": ["true_private"]}, key_added=None)
    assert res.kinds == {"rna:true_private": "r2"}
    assert res.n_samples.loc["w_rna", "rna:true_private"] == 100
    assert res.table.loc["w_rna", "rna:true_private"] > 0.99
    assert np.isnan(res.summary["z->shared"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give shared_labels"),
        ({"shared_labels": ["grade"]}, "label 'grade': not found in obs, obsm"),
        ({"private_labels": {"cnv": ["quadrant"]}}, "no obsm 'X_private_cnv'"),
        ({"shared_labels": ["subtype"], "cv": 0}, "cv=0"),
    ],
)
def test_bad_labels_are_named_in_the_error(kwargs, message):
    with pytest.raises(InputError, match=message):
        disentanglement_probes(_disentangled(n=60), **kwargs)
