"""tl.survival: penalised Cox on embeddings, cross-validated C-index, risk groups, Kaplan-Meier, log-rank."""

from __future__ import annotations

import json

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest

from omicsdisent.errors import InputError
from omicsdisent.tl import survival


def _cohort(n=300, effect=1.2, seed=0):
    """Exponential survival whose log hazard is ``effect`` x dim 0 of the shared code; uniform censoring."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=(n, 4))
    event_time = rng.exponential(1000.0 * np.exp(-effect * shared[:, 0]))
    censor = rng.uniform(200.0, 3000.0, size=n)
    obs = pd.DataFrame(
        {"OS_time": np.minimum(event_time, censor), "OS_event": (event_time <= censor).astype(float)},
        index=[f"TCGA-AA-{i:04d}" for i in range(n)],
    )
    adata = ad.AnnData(obs=obs)
    adata.obsm["X_shared"] = shared
    adata.obsm["X_private_rna"] = rng.normal(size=(n, 3))
    return adata


def test_a_hazard_driven_by_dim_0_gives_a_large_hazard_ratio_and_a_high_c_index():
    adata = _cohort()
    res = survival(adata, cv=5, seed=0)
    hr = res.hazard_ratios
    assert list(hr.index) == ["z_0", "z_1", "z_2", "z_3"]
    assert hr.loc["z_0", "hr"] > 2.0 and hr.loc["z_0", "hr_lower_95"] > 1.5 and hr.loc["z_0", "p"] < 1e-10
    # Dimensions without effect: hazard ratios near 1.
    assert ((hr.loc[["z_1", "z_2", "z_3"], "hr"] - 1).abs() < 0.3).all()
    assert res.c_index["mean"] > 0.7 and 0 < res.c_index["sd"] < 0.1
    assert len(res.per_fold) == 5 and res.per_fold["n_test"].sum() == adata.n_obs
    assert res.c_index_oof > 0.7
    # The median split of the out-of-fold risk separates survival.
    assert res.logrank_p < 1e-8
    assert res.group_sizes == {"low": 150, "high": 150}
    events = res.group_events
    assert events["high"] > events["low"]


def test_a_random_embedding_gives_a_c_index_near_one_half():
    adata = _cohort(effect=0.0, seed=2)
    res = survival(adata, seed=0)
    assert 0.4 < res.c_index["mean"] < 0.6
    assert res.logrank_p > 0.001


def test_kaplan_meier_table_per_group_is_a_nonincreasing_curve_with_at_risk_counts():
    adata = _cohort(n=200)
    res = survival(adata)
    assert list(res.km.columns) == ["group", "time", "survival", "ci_lower_95", "ci_upper_95", "at_risk"]
    for group, rows in res.km.groupby("group", observed=True):
        assert (np.diff(rows["survival"].to_numpy()) <= 1e-12).all()
        assert rows["at_risk"].iloc[0] == res.group_sizes[group]
        assert (rows["ci_lower_95"] <= rows["survival"] + 1e-12).all()
        assert (rows["survival"] <= rows["ci_upper_95"] + 1e-12).all()


def test_clusters_are_named_by_increasing_risk():
    adata = _cohort(n=240, effect=1.5)
    # Two blobs in the embedding: the high-hazard half is shifted along dim 0.
    adata.obsm["X_shared"][:, 0] += np.where(adata.obsm["X_shared"][:, 0] > 0, 3.0, -3.0)
    res = survival(adata, groups="clusters", n_clusters=2, seed=0, key_added="os")
    assert list(res.risk_groups.cat.categories) == ["C1", "C2"]
    mean_risk = res.risk.groupby(res.risk_groups, observed=True).mean()
    assert mean_risk["C1"] < mean_risk["C2"]
    assert res.logrank_p < 1e-6
    assert adata.obs["os_risk_group"].notna().all() and "os" in adata.uns


def test_missing_and_negative_times_are_dropped_and_counted():
    adata = _cohort(n=200)
    adata.obs.iloc[0, 0] = -7.0  # like the one negative time in the real BRCA table
    adata.obs.iloc[1:3, 0] = np.nan
    adata.obs.iloc[3, 1] = np.nan
    adata.obsm["X_shared"][4] = np.nan
    res = survival(adata)
    assert res.n_dropped == {"missing_time": 2, "negative_time": 1, "missing_event": 1, "missing_embedding": 1}
    assert res.n_samples == 195
    assert adata.obs["survival_risk"].iloc[:5].isna().all() and adata.obs["survival_risk"].iloc[5:].notna().all()


def test_results_are_json_and_survive_an_h5mu_round_trip(tmp_path):
    adata = _cohort(n=150)
    mdata = md.MuData({"rna": ad.AnnData(np.zeros((150, 2), dtype=np.float32), obs=pd.DataFrame(index=adata.obs_names))})
    mdata.obs = adata.obs.copy()
    for key, value in adata.obsm.items():
        mdata.obsm[key] = value
    res = survival(mdata, rep="both")
    payload = json.loads(json.dumps(res.to_dict()))
    assert [row["dimension"] for row in payload["hazard_ratios"]][-1] == "w_rna_2"
    assert payload["c_index"]["mean"] == pytest.approx(res.c_index["mean"])
    assert set(mdata.obs["survival_risk_group"].cat.categories) == {"low", "high"}
    mdata.write_h5mu(tmp_path / "e.h5mu")
    back = md.read_h5mu(tmp_path / "e.h5mu")
    assert back.uns["survival"]["logrank_p"] == pytest.approx(res.logrank_p)
    assert "survival_risk" in back.obs


def test_same_seed_gives_the_same_c_index():
    adata = _cohort(n=150)
    a, b = survival(adata, seed=4), survival(adata, seed=4)
    pd.testing.assert_frame_equal(a.per_fold, b.per_fold)
    pd.testing.assert_frame_equal(a.hazard_ratios, b.hazard_ratios)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"time": "days"}, r"no obs column 'days'; obs has 'OS_time', 'OS_event'"),
        ({"rep": "X_private_cnv"}, r"no embedding 'X_private_cnv'"),
        ({"groups": "tertiles"}, r"groups='tertiles'"),
        ({"penalizer": -1}, r"penalizer=-1"),
        ({"l1_ratio": 2}, r"l1_ratio=2"),
        ({"groups": "clusters", "n_clusters": 1}, r"n_clusters=1"),
    ],
)
def test_bad_options_are_named_in_the_error(kwargs, message):
    with pytest.raises(InputError, match=message):
        survival(_cohort(n=60), **kwargs)


def test_event_values_other_than_0_1_and_text_times_are_refused():
    adata = _cohort(n=60)
    adata.obs["OS_event"] = adata.obs["OS_event"] * 2
    with pytest.raises(InputError, match=r"'OS_event' holds 2.0; expected 1 \(death\), 0"):
        survival(adata)
    adata = _cohort(n=60)
    adata.obs["OS_time"] = ["long"] * 60
    with pytest.raises(InputError, match=r"'OS_time' holds non-numeric values such as 'long'"):
        survival(adata)


def test_too_few_events_for_the_folds_is_refused():
    adata = _cohort(n=60)
    adata.obs["OS_event"] = 0.0
    adata.obs.iloc[:3, 1] = 1.0
    with pytest.raises(InputError, match=r"3 events.*cv=5"):
        survival(adata)


def test_endpoint_pfi_reads_the_pfi_columns_and_counts_negative_times():
    adata = _cohort(effect=0.0, seed=3)  # OS unrelated to the embedding
    rng = np.random.default_rng(9)
    progression = rng.exponential(600.0 * np.exp(-1.5 * adata.obsm["X_shared"][:, 1]))
    censor = rng.uniform(100.0, 2000.0, adata.n_obs)
    adata.obs["PFI_time"] = np.minimum(progression, censor)
    adata.obs["PFI_event"] = (progression <= censor).astype(float)
    adata.obs.iloc[:3, adata.obs.columns.get_loc("PFI_time")] = -1.0
    res = survival(adata, endpoint="PFI", key_added=None)
    assert res.endpoint == "PFI" and (res.time, res.event) == ("PFI_time", "PFI_event")
    assert res.n_dropped["negative_time"] == 3 and res.n_samples == adata.n_obs - 3
    assert res.hazard_ratios["hr"].idxmax() == "z_1" and res.c_index["mean"] > 0.7
    assert res.to_dict()["endpoint"] == "PFI"
    assert survival(adata, key_added=None).c_index["mean"] < 0.6  # the default is still OS


def test_endpoint_errors_name_the_missing_columns_or_the_conflict():
    adata = _cohort(n=60)
    with pytest.raises(InputError, match="obs has no 'DSS_time'/'DSS_event'.*'DSS.time'"):
        survival(adata, endpoint="DSS")
    with pytest.raises(InputError, match="leave time and event unset"):
        survival(adata, endpoint="PFI", time="days")
    with pytest.raises(InputError, match="endpoint='EFS'"):
        survival(adata, endpoint="EFS")


def test_blocks_say_which_code_drives_the_risk():
    adata = _cohort()  # the hazard follows dim 0 of X_shared; X_private_rna is noise
    res = survival(adata, rep="both", key_added="surv")
    blocks = res.blocks
    assert list(blocks.index) == ["z", "w_rna"]
    assert blocks.loc["z", "share"] > 0.9 and blocks.loc["z", "hr_per_sd"] > 2.0
    assert blocks["share"].sum() == pytest.approx(1.0)
    assert [b["block"] for b in res.to_dict()["blocks"]] == ["z", "w_rna"]
    assert "risk by block: z sd" in res.format()
