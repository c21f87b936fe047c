"""Reading one modality: formats, orientation, annotation columns and malformed files."""

from __future__ import annotations

import gzip

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest

from omicsdisent.errors import InputError
from omicsdisent.io import read_modality
from omicsdisent.io.readers import read_sources

BARCODES = ["TCGA-A1-A0SB-01A", "TCGA-A1-A0SD-01A", "TCGA-A2-A04N-01A"]


def _values(n_rows, n_cols, seed=0):
    return np.random.default_rng(seed).normal(size=(n_rows, n_cols)).round(4)


def test_samples_x_features_csv_reads_ids_features_and_float32(tmp_path):
    values = _values(3, 4)
    frame = pd.DataFrame(values, columns=["G1", "G2", "G3", "G4"])
    frame.insert(0, "patient", ["TCGA-A1-A0SB", "TCGA-A1-A0SD", "TCGA-A2-A04N"])
    path = tmp_path / "rna.csv"
    frame.to_csv(path, index=False)
    adata = read_modality(path)
    assert adata.shape == (3, 4)
    assert adata.X.dtype == np.float32
    assert list(adata.obs_names) == ["TCGA-A1-A0SB", "TCGA-A1-A0SD", "TCGA-A2-A04N"]
    assert list(adata.var_names) == ["G1", "G2", "G3", "G4"]
    np.testing.assert_allclose(adata.X, values, rtol=1e-6)
    assert adata.uns["omicsdisent"]["source"] == str(path)
    assert adata.uns["omicsdisent"]["name"] == "rna"
    assert adata.uns["omicsdisent"]["orientation"] == "samples_x_features"


def test_xena_style_gzipped_tsv_with_barcode_header_is_transposed(tmp_path):
    values = _values(5, 3)  # 5 genes x 3 samples
    path = tmp_path / "rna.tsv.gz"
    lines = ["sample\t" + "\t".join(BARCODES)]
    lines += [f"GENE{i}\t" + "\t".join(str(v) for v in row) for i, row in enumerate(values)]
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    adata = read_modality(path)
    assert adata.uns["omicsdisent"]["name"] == "rna"
    assert adata.shape == (3, 5)
    assert list(adata.obs_names) == BARCODES
    np.testing.assert_allclose(adata.X, values.T, rtol=1e-6)
    assert adata.uns["omicsdisent"]["orientation"] == "features_x_samples"


def test_cbioportal_annotation_columns_are_dropped_and_listed(tmp_path):
    values = _values(3, 3)
    frame = pd.DataFrame(values, columns=BARCODES)
    frame.insert(0, "Entrez_Gene_Id", [7157, 672, 675])
    frame.insert(0, "Hugo_Symbol", ["TP53", "BRCA1", "BRCA2"])
    path = tmp_path / "data_mrna.txt"
    frame.to_csv(path, sep="\t", index=False)
    adata = read_modality(path, name="mrna")
    assert adata.shape == (3, 3)
    assert list(adata.var_names) == ["TP53", "BRCA1", "BRCA2"]
    assert list(adata.uns["omicsdisent"]["dropped_columns"]) == ["Entrez_Gene_Id"]
    np.testing.assert_allclose(adata.X, values.T, rtol=1e-6)


def test_text_column_in_samples_x_features_is_dropped_as_annotation(tmp_path):
    frame = pd.DataFrame(_values(3, 2), columns=["G1", "G2"])
    frame.insert(0, "sample_id", ["s1", "s2", "s3"])
    frame["subtype"] = ["LumA", "Basal", "Her2"]
    path = tmp_path / "x.csv"
    frame.to_csv(path, index=False)
    adata = read_modality(path)
    assert list(adata.var_names) == ["G1", "G2"]
    assert list(adata.uns["omicsdisent"]["dropped_columns"]) == ["subtype"]


def test_first_column_name_decides_orientation_without_barcodes(tmp_path):
    path = tmp_path / "expr.csv"
    path.write_text("gene_id,s1,s2\nA,1,2\nB,3,4\nC,5,6\n")
    adata = read_modality(path)
    assert adata.shape == (2, 3) and list(adata.obs_names) == ["s1", "s2"]


def test_explicit_orientation_overrides_detection(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("id,a,b,c\nx,1,2,3\ny,4,5,6\n")
    with pytest.raises(InputError, match="orientation"):
        read_modality(path)
    assert read_modality(path, orientation="samples_x_features").shape == (2, 3)
    flipped = read_modality(path, orientation="features_x_samples")
    assert flipped.shape == (3, 2) and list(flipped.obs_names) == ["a", "b", "c"]


def test_r_style_header_without_row_name_cell(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text('"G1","G2"\n"TCGA-A1-A0SB",1,2\n"TCGA-A1-A0SD",3,4\n')
    adata = read_modality(path)
    assert adata.shape == (2, 2) and list(adata.var_names) == ["G1", "G2"]


def test_name_equals_path_sets_the_modality_name(tmp_path):
    path = tmp_path / "data.train_mrna.csv"
    path.write_text("patient,G1\nTCGA-A1-A0SB,1\n")
    assert read_modality(f"mrna={path}").uns["omicsdisent"]["name"] == "mrna"
    assert read_modality(path).uns["omicsdisent"]["name"] == "data.train_mrna"


def test_h5ad_and_h5mu_inputs(tmp_path):
    rna = ad.AnnData(_values(3, 2).astype(np.float64), obs=pd.DataFrame(index=BARCODES),
                     var=pd.DataFrame(index=["G1", "G2"]))
    meth = ad.AnnData(_values(2, 4, seed=1), obs=pd.DataFrame(index=BARCODES[:2]),
                      var=pd.DataFrame(index=[f"cg{i:08d}" for i in range(4)]))
    rna.write_h5ad(tmp_path / "rna.h5ad")
    md.MuData({"rna": rna, "meth": meth}).write_h5mu(tmp_path / "both.h5mu")
    adata = read_modality(tmp_path / "rna.h5ad")
    assert adata.X.dtype == np.float32 and adata.shape == (3, 2)
    assert adata.uns["omicsdisent"]["source"] == str(tmp_path / "rna.h5ad")
    mods = read_sources(tmp_path / "both.h5mu")
    assert {m: a.shape for m, a in mods.items()} == {"rna": (3, 2), "meth": (2, 4)}
    assert set(read_sources(f"tcga={tmp_path / 'both.h5mu'}")) == {"tcga_rna", "tcga_meth"}
    with pytest.raises(InputError, match="holds 2 modalities"):
        read_modality(tmp_path / "both.h5mu")


def test_non_numeric_cell_is_an_error_naming_column_and_value(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("patient,G1,G2\nTCGA-A1-A0SB,1,2\nTCGA-A1-A0SD,oops,4\nTCGA-A2-A04N,5,6\n")
    with pytest.raises(InputError, match=r"bad\.csv.*'oops'.*'G1'.*TCGA-A1-A0SD"):
        read_modality(path)


@pytest.mark.parametrize("content,message", [
    ("", "empty"),
    ("\n\n", "empty"),
    ("patient,G1,G2\n", "no data rows"),
    ("just_one_column\nvalue\n", "single column"),
])
def test_empty_or_degenerate_files_are_errors(tmp_path, content, message):
    path = tmp_path / "rna.csv"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        read_modality(path)


def test_repeated_sample_id_in_a_file_is_an_error(tmp_path):
    path = tmp_path / "rna.csv"
    path.write_text("patient,G1\nTCGA-A1-A0SB,1\nTCGA-A1-A0SB,2\n")
    with pytest.raises(InputError, match="'TCGA-A1-A0SB' appears 2 times"):
        read_modality(path)


def test_missing_file_and_unknown_suffix_are_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_modality(tmp_path / "absent.csv")
    other = tmp_path / "rna.xlsx"
    other.write_text("x")
    with pytest.raises(InputError, match="unknown file type"):
        read_modality(other)


def test_r_write_csv_row_numbers_are_dropped_and_barcode_column_used(tmp_path):
    path = tmp_path / "rna.csv"
    path.write_text('"","bcr","G1","G2"\n"1","TCGA-A1-A0SB",1,2\n"2","TCGA-A1-A0SD",3,4\n"3","TCGA-A2-A04N",5,6\n')
    adata = read_modality(path)
    assert list(adata.obs_names) == ["TCGA-A1-A0SB", "TCGA-A1-A0SD", "TCGA-A2-A04N"]
    assert list(adata.var_names) == ["G1", "G2"]
    assert list(adata.uns["omicsdisent"]["dropped_columns"]) == [""]


def test_numbered_sample_names_are_not_mistaken_for_features(tmp_path):
    path = tmp_path / "expr.csv"
    path.write_text(",sample_1,sample_2,S_3\nTP53,1,2,3\nBRCA1,4,5,6\n")
    with pytest.raises(InputError, match="cannot tell"):
        read_modality(path)


def test_feature_id_patterns_decide_orientation(tmp_path):
    path = tmp_path / "mirna.csv"
    path.write_text(",hsa-mir-21,hsa-let-7a-1\nS1,1,2\nS2,3,4\n")
    assert read_modality(path).shape == (2, 2)
    path = tmp_path / "ens.csv"
    path.write_text(",S1,S2,S3\nENSG00000141510.17,1,2,3\nENSG00000012048,4,5,6\n")
    assert read_modality(path).shape == (3, 2)


def test_h5ad_with_barcodes_as_features_is_transposed(tmp_path):
    flipped = ad.AnnData(_values(2, 3), obs=pd.DataFrame(index=["G1", "G2"]), var=pd.DataFrame(index=BARCODES))
    flipped.write_h5ad(tmp_path / "x.h5ad")
    adata = read_modality(tmp_path / "x.h5ad")
    assert adata.shape == (3, 2) and list(adata.obs_names) == BARCODES
    assert adata.uns["omicsdisent"]["orientation"] == "features_x_samples"


def test_xz_compressed_tsv_and_corrupt_gzip(tmp_path):
    import lzma

    path = tmp_path / "cnv.tsv.xz"
    with lzma.open(path, "wt") as handle:
        handle.write("patient\tG1\tG2\nTCGA-A1-A0SB\t1\t2\n")
    adata = read_modality(path)
    assert adata.uns["omicsdisent"]["name"] == "cnv" and adata.X.tolist() == [[1.0, 2.0]]
    broken = tmp_path / "rna.csv.gz"
    broken.write_bytes(b"not gzip at all")
    with pytest.raises(InputError, match="rna.csv.gz: cannot be read"):
        read_modality(broken)
