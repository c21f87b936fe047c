"""tl.cluster: Leiden clusters and UMAP of an embedding, written back to AnnData or MuData."""

from __future__ import annotations

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from omicsdisent.errors import InputError
from omicsdisent.tl import cluster


def _blobs(n_per=60, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0] * 5, [12.0] + [0.0] * 4, [0.0, 12.0, 0.0, 0.0, 0.0]])
    truth = np.repeat(np.arange(3), n_per)
    return centres[truth] + rng.normal(size=(truth.size, 5)), truth


def test_well_separated_groups_become_leiden_clusters_on_a_mudata_with_nan_rows():
    points, truth = _blobs()
    n = points.shape[0]
    names = [f"s{i}" for i in range(n)]
    rna = ad.AnnData(np.zeros((n, 1), dtype=np.float32), obs=pd.DataFrame(index=names))
    rna.var_names = ["g0"]
    mdata = md.MuData({"rna": rna})
    points[:4] = np.nan  # samples without a code get no cluster
    mdata.obsm["X_shared"] = points
    res = cluster(mdata, rep="X_shared", resolution=0.3, seed=0)
    labels = mdata.obs["leiden"]
    assert labels.iloc[:4].isna().all() and labels.iloc[4:].notna().all()
    assert adjusted_rand_score(truth[4:], labels.iloc[4:].astype(str)) > 0.95
    assert res.n_clusters == 3 and res.n_dropped == 4 and sum(res.sizes.values()) == n - 4
    umap = mdata.obsm["X_umap"]
    assert umap.shape == (n, 2) and np.isnan(umap[:4]).all() and np.isfinite(umap[4:]).all()
    assert mdata.uns["leiden"]["n_clusters"] == 3
    # The same seed gives the same clusters and layout.
    again = cluster(mdata, rep="X_shared", resolution=0.3, seed=0, key_added="again")
    assert (again.labels.astype(str) == res.labels.astype(str)).all()
    np.testing.assert_allclose(again.umap, res.umap, equal_nan=True)


def test_bad_options_are_refused():
    points, _ = _blobs(n_per=10)
    adata = ad.AnnData(obs=pd.DataFrame(index=[f"s{i}" for i in range(30)]))
    adata.obsm["X_shared"] = points
    with pytest.raises(InputError, match="resolution=0"):
        cluster(adata, resolution=0)
    with pytest.raises(InputError, match="n_neighbors=40 needs more"):
        cluster(adata, n_neighbors=40)
    with pytest.raises(InputError, match="no embedding 'X_private_rna'"):
        cluster(adata, rep="X_private_rna")
