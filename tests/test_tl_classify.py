"""tl.classify: cross-validated logistic regression of a label from embeddings."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from omicsdisent.errors import InputError
from omicsdisent.tl import classify


def _cohort(n=240, separation=4.0, seed=0, classes=("LumA", "Basal", "Her2"), weights=None):
    """AnnData with a 3-class label, a shared code whose dim 0 carries the class, and two private codes."""
    rng = np.random.default_rng(seed)
    y = rng.choice(len(classes), size=n, p=weights)
    shared = rng.normal(size=(n, 4))
    shared[:, 0] += separation * y
    obs = pd.DataFrame({"PAM50": pd.Categorical(np.asarray(classes)[y], categories=list(classes))},
                       index=[f"TCGA-AA-{i:04d}" for i in range(n)])
    adata = ad.AnnData(obs=obs)
    adata.obsm["X_shared"] = shared
    adata.obsm["X_private_rna"] = rng.normal(size=(n, 3))
    adata.obsm["X_private_methyl"] = rng.normal(size=(n, 2))
    return adata


def test_separable_classes_are_predicted_well_above_the_majority_baseline():
    adata = _cohort(weights=[0.6, 0.25, 0.15], separation=6.0)
    res = classify(adata, "PAM50", cv=5, seed=0)
    assert res.metrics["accuracy"]["mean"] > 0.95
    assert res.metrics["macro_f1"]["mean"] > 0.9
    assert res.metrics["auroc"]["mean"] > 0.98
    # The majority class (LumA, ~60%) is the baseline; the embedding beats it by far.
    assert 0.5 < res.baseline_accuracy < 0.7
    assert res.metrics["accuracy"]["mean"] > res.baseline_accuracy + 0.25
    assert res.confusion.to_numpy().sum() == adata.n_obs
    assert list(res.confusion.index) == ["LumA", "Basal", "Her2"] == list(res.confusion.columns)
    assert res.confusion.to_numpy().trace() / adata.n_obs == pytest.approx(
        float(np.mean(res.predictions.astype(str) == adata.obs["PAM50"].astype(str))))
    assert len(res.per_fold) == 5 and res.per_fold["n_test"].sum() == adata.n_obs


def test_random_embedding_scores_near_the_majority_baseline():
    adata = _cohort(separation=0.0, weights=[0.6, 0.25, 0.15], n=300)
    res = classify(adata, "PAM50", seed=1)
    assert abs(res.metrics["accuracy"]["mean"] - res.baseline_accuracy) < 0.08
    assert 0.4 < res.metrics["auroc"]["mean"] < 0.6
    assert res.metrics["balanced_accuracy"]["mean"] < 0.45


def test_private_code_without_the_label_scores_below_shared_and_both_uses_every_code():
    adata = _cohort()
    shared = classify(adata, "PAM50", rep="X_shared")
    private = classify(adata, "PAM50", rep="X_private_rna")
    both = classify(adata, "PAM50", rep="both")
    assert private.metrics["accuracy"]["mean"] < shared.metrics["accuracy"]["mean"] - 0.3
    assert both.rep == ["X_shared", "X_private_rna", "X_private_methyl"]
    assert both.metrics["accuracy"]["mean"] > 0.9
    listed = classify(adata, "PAM50", rep=["X_private_methyl", "X_shared"])
    assert listed.rep == ["X_private_methyl", "X_shared"]


def test_missing_labels_and_nan_embedding_rows_are_dropped_and_counted():
    adata = _cohort(n=200)
    labels = adata.obs["PAM50"].astype(object).to_numpy()
    labels[:7] = None
    adata.obs["PAM50"] = pd.Categorical(labels)
    adata.obsm["X_shared"][7:12, 1] = np.nan
    res = classify(adata, "PAM50")
    assert res.n_dropped == {"missing_label": 7, "missing_embedding": 5}
    assert res.n_samples == 188
    prediction = adata.obs["classify_PAM50_prediction"]
    assert prediction.iloc[:12].isna().all() and prediction.iloc[12:].notna().all()


def test_results_are_written_under_key_added_and_survive_h5ad(tmp_path):
    adata = _cohort(n=120)
    res = classify(adata, "PAM50", key_added="pam50", seed=3)
    assert "pam50_prediction" in adata.obs and "pam50" in adata.uns
    payload = json.loads(json.dumps(res.to_dict()))
    assert payload["confusion"]["labels"] == res.classes
    assert payload["metrics"]["accuracy"]["mean"] == pytest.approx(res.metrics["accuracy"]["mean"])
    adata.write_h5ad(tmp_path / "e.h5ad")
    back = ad.read_h5ad(tmp_path / "e.h5ad")
    assert back.uns["pam50"]["baseline_accuracy"] == pytest.approx(res.baseline_accuracy)


def test_same_seed_gives_the_same_result_and_another_seed_other_folds():
    adata = _cohort(n=150, separation=1.0)
    a, b = classify(adata, "PAM50", seed=5), classify(adata, "PAM50", seed=5)
    c = classify(adata, "PAM50", seed=6)
    pd.testing.assert_frame_equal(a.per_fold, b.per_fold)
    assert not a.per_fold["accuracy"].equals(c.per_fold["accuracy"])


def test_two_classes_give_a_binary_auroc():
    adata = _cohort(n=100, classes=("alive", "dead"))
    res = classify(adata, "PAM50")
    assert res.classes == ["alive", "dead"] and res.metrics["auroc"]["mean"] > 0.95


def test_a_class_smaller_than_cv_is_refused_by_name():
    adata = _cohort(n=100)
    labels = adata.obs["PAM50"].astype(str).to_numpy()
    labels[:3] = "Normal"
    labels[3:] = np.where(labels[3:] == "Normal", "LumA", labels[3:])
    adata.obs["PAM50"] = labels
    with pytest.raises(InputError, match=r"'Normal' \(3\).*cv=5"):
        classify(adata, "PAM50", cv=5)
    assert classify(adata, "PAM50", cv=3).class_counts["Normal"] == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label": "subtype"}, r"no obs column 'subtype'; obs has 'PAM50'"),
        ({"label": "PAM50", "rep": "X_private_cnv"}, r"no embedding 'X_private_cnv'.*'X_shared', 'X_private_rna'"),
        ({"label": "PAM50", "cv": 1}, r"cv=1"),
        ({"label": "PAM50", "C": 0}, r"C=0"),
    ],
)
def test_bad_options_are_named_in_the_error(kwargs, message):
    with pytest.raises(InputError, match=message):
        classify(_cohort(n=60), **kwargs)


def test_a_single_class_is_refused():
    adata = _cohort(n=40)
    adata.obs["PAM50"] = "LumA"
    with pytest.raises(InputError, match="at least 2"):
        classify(adata, "PAM50")


def test_class_names_with_a_slash_are_written_to_h5ad(tmp_path):
    # "/" separates groups in h5 files; uns keys and table columns must not carry it.
    adata = _cohort(n=80, classes=("Her2/neu", "other"))
    res = classify(adata, "PAM50")
    adata.write_h5ad(tmp_path / "e.h5ad")
    back = ad.read_h5ad(tmp_path / "e.h5ad")
    assert back.uns["classify_PAM50"]["class_counts"]["Her2_neu"] == res.class_counts["Her2/neu"]
    assert list(back.uns["classify_PAM50"]["confusion"].index) == ["Her2/neu", "other"]
