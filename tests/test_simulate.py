"""The simulated cohort: ground truth that behaves as documented, files that read back and align."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import cross_val_predict, cross_val_score

from omicsdisent import pp
from omicsdisent.datasets.simulate import simulate_cohort, write_simulated_cohort
from omicsdisent.errors import InputError
from omicsdisent.io import parse_barcode, presence_mask, read_modalities

SMALL = {"n_samples": 240, "n_features": 200}


@pytest.fixture(scope="module")
def cohort():
    return simulate_cohort(**SMALL, seed=3)


def _r2_from(features: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Cross-validated R^2 (per target column) of a ridge regression from features to target."""
    pred = cross_val_predict(RidgeCV(alphas=np.logspace(-1, 4, 12)), features, target, cv=3)
    return 1 - ((target - pred) ** 2).sum(axis=0) / ((target - target.mean(axis=0)) ** 2).sum(axis=0)


def test_same_seed_gives_identical_data_and_another_seed_differs():
    a = simulate_cohort(n_samples=50, n_features=30, missing_fraction=0.2, seed=7)
    b = simulate_cohort(n_samples=50, n_features=30, missing_fraction=0.2, seed=7)
    c = simulate_cohort(n_samples=50, n_features=30, missing_fraction=0.2, seed=8)
    for name in ("rna", "methyl"):
        np.testing.assert_array_equal(a.mod[name].X, b.mod[name].X)
        np.testing.assert_array_equal(a.mod[name].obsm["true_private"], b.mod[name].obsm["true_private"])
        assert list(a.mod[name].obs_names) == list(b.mod[name].obs_names)
    pd.testing.assert_frame_equal(a.obs, b.obs)
    assert not np.array_equal(a.mod["rna"].X[:10], c.mod["rna"].X[:10])


def test_adding_a_modality_leaves_the_others_unchanged():
    two = simulate_cohort(n_samples=40, n_features=20, seed=1)
    three = simulate_cohort(n_samples=40, n_features=20, modalities=("rna", "methyl", "protein"), seed=1)
    np.testing.assert_array_equal(two.mod["methyl"].X, three.mod["methyl"].X)
    assert three.mod["protein"].shape == (40, 20)
    assert pp.infer_modality_type(three.mod["protein"]) == "continuous"


def test_values_have_the_documented_kinds(cohort):
    rna, methyl = cohort.mod["rna"], cohort.mod["methyl"]
    assert pp.infer_modality_type(rna) == "counts"
    assert pp.infer_modality_type(methyl) == "methylation"
    library = rna.X.sum(axis=1)
    # Library sizes vary (log-normal, sd 0.35): the spread between samples is clearly above Poisson noise.
    assert np.std(np.log(library)) > 0.2
    assert rna.obsm["true_shared"].shape == (240, 4) and rna.obsm["true_private"].shape == (240, 4)
    np.testing.assert_array_equal(rna.obsm["true_shared"], methyl.obsm["true_shared"])
    assert set(cohort.obs["subtype"].cat.categories) == {"S1", "S2", "S3", "S4"}


def test_sample_barcodes_parse_as_tcga_primary_tumours(cohort):
    for sample in cohort.mod["rna"].obs_names[:50]:
        barcode = parse_barcode(sample)
        assert barcode.sample_type == 1 and len(barcode.tss) == 2 and len(barcode.participant) == 4
        assert barcode.patient == sample[:12]
    assert cohort.obs["patient"].is_unique


def test_survival_hazard_depends_on_the_shared_factors(cohort):
    shared = pd.DataFrame(cohort.obsm["true_shared"], columns=[f"z{k}" for k in range(4)])
    frame = shared.assign(time=cohort.obs["OS_time"].to_numpy(), event=cohort.obs["OS_event"].to_numpy())
    assert 0.2 < frame["event"].mean() < 0.8
    assert (frame["time"] > 0).all()
    fitted = CoxPHFitter().fit(frame, "time", "event")
    assert fitted.concordance_index_ > 0.65
    # Private factors carry no risk: their C-index stays near chance.
    private = pd.DataFrame(cohort.mod["rna"].obsm["true_private"], columns=[f"w{k}" for k in range(4)])
    private_fit = CoxPHFitter().fit(private.assign(time=frame["time"], event=frame["event"]), "time", "event")
    assert private_fit.concordance_index_ < 0.6


def test_subtype_is_a_function_of_the_shared_factors_only(cohort):
    labels = cohort.obs["subtype"].to_numpy()
    model = LogisticRegression(max_iter=2000)
    from_shared = cross_val_score(model, cohort.obsm["true_shared"], labels, cv=3).mean()
    from_private = cross_val_score(model, cohort.mod["rna"].obsm["true_private"], labels, cv=3).mean()
    assert from_shared > 0.75
    assert from_private < from_shared - 0.3


def test_each_private_factor_drives_its_own_modality_and_not_the_other(cohort):
    mdata = pp.preprocess(cohort, n_top_features=None, copy=True)
    rna, methyl = mdata.mod["rna"].X, mdata.mod["methyl"].X
    rna_private = mdata.mod["rna"].obsm["true_private"]
    methyl_private = mdata.mod["methyl"].obsm["true_private"]
    assert _r2_from(rna, rna_private).min() > 0.8
    assert _r2_from(methyl, methyl_private).min() > 0.8
    assert _r2_from(methyl, rna_private).max() < 0.1
    assert _r2_from(rna, methyl_private).max() < 0.1
    # The shared factors are in both.
    shared = mdata.mod["rna"].obsm["true_shared"]
    assert _r2_from(rna, shared).min() > 0.8 and _r2_from(methyl, shared).min() > 0.8


def test_weak_shared_puts_a_small_shared_signal_in_few_features():
    weak = simulate_cohort(**SMALL, weak_shared=True, seed=3)
    var = weak.mod["methyl"].var
    assert var["shared_feature"].mean() == pytest.approx(0.05)
    assert var["private_feature"].mean() == pytest.approx(0.60)
    shared_rows = np.linalg.norm(weak.mod["methyl"].varm["shared_loadings"], axis=1)
    private_rows = np.linalg.norm(weak.mod["methyl"].varm["private_loadings"], axis=1)
    assert np.allclose(shared_rows[var["shared_feature"]], 0.3)
    assert np.allclose(private_rows[var["private_feature"]], 1.0)
    assert (shared_rows[~var["shared_feature"]] == 0).all()
    # Most of the variance of the data is private: the shared factors explain far less of it than in
    # the default regime.
    default = simulate_cohort(**SMALL, seed=3)
    weak_pp = pp.preprocess(weak, n_top_features=None, copy=True)
    default_pp = pp.preprocess(default, n_top_features=None, copy=True)

    def share_explained(mdata):
        X = mdata.mod["methyl"].X
        pred = cross_val_predict(RidgeCV(alphas=np.logspace(-1, 4, 12)), mdata.mod["methyl"].obsm["true_shared"], X, cv=3)
        return 1 - ((X - pred) ** 2).sum() / ((X - X.mean(axis=0)) ** 2).sum()

    weak_share, default_share = share_explained(weak_pp), share_explained(default_pp)
    assert weak_share < 0.05 and default_share > 0.2 and default_share > 5 * weak_share
    assert weak.uns["simulation"]["weak_shared"] is True


def test_missing_fraction_removes_one_modality_from_that_share_of_samples():
    mdata = simulate_cohort(n_samples=200, n_features=20, missing_fraction=0.25, seed=2)
    mask = presence_mask(mdata)
    assert mdata.n_obs == 200
    assert mask.any(axis=1).all()
    assert (~mask.all(axis=1)).sum() == 50
    assert mask.sum(axis=1).min() == 1
    # Obs and truths follow the samples that are present.
    for name in ("rna", "methyl"):
        adata = mdata.mod[name]
        np.testing.assert_array_equal(adata.obsm["true_shared"], mdata[adata.obs_names].obsm["true_shared"])


def test_written_files_read_back_aligned_with_no_lost_samples(tmp_path):
    paths = write_simulated_cohort(tmp_path / "complete", **SMALL, seed=3)
    assert sorted(paths) == ["clinical", "methyl", "rna"]
    mdata = read_modalities([paths["rna"], paths["methyl"]], clinical=paths["clinical"], verbose=False)
    mask = presence_mask(mdata)
    assert mdata.n_obs == 240 and mask.all(axis=None)
    summary = mdata.uns["omicsdisent"]["alignment"]
    assert summary["n_union"] == 240 and summary["n_complete"] == 240
    assert mdata.obs["OS_time"].notna().all() and set(mdata.obs["OS_event"].unique()) <= {0.0, 1.0}
    # The clinical join matches the simulated truth, patient by patient.
    truth = simulate_cohort(**SMALL, seed=3)
    expected = truth.obs.set_index("patient").loc[mdata.obs_names]
    np.testing.assert_array_equal(mdata.obs["OS_time"].to_numpy(), expected["OS_time"].to_numpy())
    assert list(mdata.obs["subtype"].astype(str)) == list(expected["subtype"].astype(str))

    partial = write_simulated_cohort(tmp_path / "partial", **SMALL, missing_fraction=0.2, seed=3)
    mdata = read_modalities([partial["rna"], partial["methyl"]], clinical=partial["clinical"], verbose=False)
    mask = presence_mask(mdata)
    assert mdata.n_obs == 240 and mask.any(axis=1).all() and (~mask.all(axis=1)).sum() == 48
    clinical = pd.read_csv(partial["clinical"])
    assert list(clinical.columns) == ["bcr_patient_barcode", "subtype", "OS", "OS.time"]
    assert len(clinical) == 240


def test_existing_files_are_kept_unless_overwrite(tmp_path):
    paths = write_simulated_cohort(tmp_path, n_samples=30, n_features=10, seed=1)
    before = paths["rna"].read_bytes()
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match=r"rna\.h5ad already exists.*--force"):
        write_simulated_cohort(tmp_path, n_samples=30, n_features=10, seed=2)
    assert paths["rna"].read_bytes() == before
    write_simulated_cohort(tmp_path, overwrite=True, n_samples=30, n_features=10, seed=2)
    assert paths["rna"].read_bytes() != before
    # Only the cohort's own files, no temporaries left behind; other files untouched.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clinical.csv", "methyl.h5ad", "notes.txt", "rna.h5ad"]
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_invalid_options_raise_before_anything_is_written(tmp_path):
    target = tmp_path / "out"
    cases = [
        ({"missing_fraction": 1.5}, r"option missing_fraction"),
        ({"modalities": ("rna",), "missing_fraction": 0.1}, r"missing_fraction > 0 needs at least two"),
        ({"modalities": ("rna", "atac")}, r"unknown modality 'atac'"),
        ({"n_samples": 5}, r"option n_samples"),
        ({"shared_feature_fraction": 0.0}, r"option shared_feature_fraction"),
        ({"n_features": {"mirna": 10}}, r"option n_features names modality 'mirna'"),
    ]
    for options, message in cases:
        with pytest.raises(InputError, match=message):
            write_simulated_cohort(target, **options)
    assert not target.exists()
