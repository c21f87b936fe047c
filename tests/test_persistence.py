"""Saving and loading IDMVAE: safetensors + JSON, fresh-process equality, atomic writes, clear refusals."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import mudata as md
import numpy as np
import pytest
from test_idmvae import FAST, SMALL, small_cohort

from omicsdisent.errors import DataMismatchError, InputError
from omicsdisent.models import IDMVAE
from omicsdisent.models.persistence import CONFIG_FILE, FORMAT_VERSION, WEIGHTS_FILE


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A briefly trained model (30% of samples lack methylation), its data and its folder."""
    folder = tmp_path_factory.mktemp("persist")
    mdata = small_cohort(missing=0.3)
    model = IDMVAE(mdata, **SMALL)
    model.train(seed=1, **FAST)
    model.save(folder / "model")
    data_file = folder / "cohort.h5mu"
    mdata.write(data_file)
    return model, mdata, folder / "model", data_file


def test_folder_holds_safetensors_weights_and_json_config_only(saved):
    model, _, path, _ = saved
    assert sorted(p.name for p in path.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]
    config = json.loads((path / CONFIG_FILE).read_text())
    assert config["format_version"] == FORMAT_VERSION
    assert config["model_config"]["z_dim"] == 3
    assert [spec["name"] for spec in config["modality_specs"]] == ["rna", "meth"]
    assert config["modalities"][0]["modality_type"] == "counts"
    assert config["modalities"][0]["feature_names"] == [f"gene{j}" for j in range(12)]
    assert config["modalities"][0]["library_target"] == pytest.approx(model.layouts[0].library_target)
    assert config["train_config"]["epochs"] == 3
    assert config["history"]
    # no pickle: the weights file is safetensors (8-byte header length, then a JSON header)
    raw = (path / WEIGHTS_FILE).read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    assert json.loads(raw[8 : 8 + header_len])
    assert b"\x80\x04" not in raw[:2]


def test_loading_in_a_fresh_process_gives_identical_embeddings(saved, tmp_path):
    model, _, path, data_file = saved
    out = tmp_path / "latent.npz"
    script = textwrap.dedent(
        f"""
        import mudata, numpy as np
        from omicsdisent.models import IDMVAE
        mdata = mudata.read_h5mu({str(data_file)!r})
        model = IDMVAE.load({str(path)!r}, mdata)
        np.savez({str(out)!r}, z=model.get_latent(), w=model.get_latent("private", "meth"),
                 w_rna=model.get_latent("private", "rna"))
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True, timeout=120)
    fresh = np.load(out)
    assert np.array_equal(fresh["z"], model.get_latent())
    assert np.array_equal(fresh["w"], model.get_latent("private", "meth"), equal_nan=True)
    assert np.array_equal(fresh["w_rna"], model.get_latent("private", "rna"))


def test_loaded_model_without_data_embeds_given_data(saved):
    model, mdata, path, _ = saved
    loaded = IDMVAE.load(path)
    assert np.array_equal(loaded.get_latent(mdata=mdata), model.get_latent())
    assert loaded.history.to_dict() == json.loads((path / CONFIG_FILE).read_text())["history"]
    assert loaded.history.epochs_run == model.history.epochs_run
    with pytest.raises(InputError, match="loaded without data"):
        loaded.get_latent()


def test_features_in_another_order_are_reordered(saved):
    model, mdata, path, _ = saved
    shuffled = md.MuData({"rna": mdata.mod["rna"][:, ::-1].copy(), "meth": mdata.mod["meth"][:, [3, 1, 0, 2, 4, 5, 6, 7, 8, 9]].copy()})
    loaded = IDMVAE.load(path, shuffled)
    assert np.allclose(loaded.get_latent(), model.get_latent(), atol=1e-6)


def test_data_with_other_features_fails_naming_modality_and_features(saved):
    _, mdata, path, _ = saved
    meth = mdata.mod["meth"][:, 2:].copy()
    with pytest.raises(DataMismatchError, match=r"modality 'meth'.*2 missing \(first: cg0, cg1\)"):
        IDMVAE.load(path, md.MuData({"rna": mdata.mod["rna"], "meth": meth}))
    with pytest.raises(InputError, match="modality 'meth' is absent"):
        IDMVAE.load(path, {"rna": mdata.mod["rna"]})


def test_existing_folder_is_not_overwritten_unless_asked(saved, tmp_path):
    model, _, _, _ = saved
    target = tmp_path / "m"
    model.save(target)
    before = (target / WEIGHTS_FILE).read_bytes()
    with pytest.raises(InputError, match="already exists"):
        model.save(target)
    assert (target / WEIGHTS_FILE).read_bytes() == before
    model.save(target, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temporary folders left behind


def test_overwrite_never_replaces_a_folder_that_is_not_a_model(saved, tmp_path):
    model, _, _, _ = saved
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not an omicsdisent model"):
        model.save(tmp_path, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_unknown_format_version_is_a_clear_error(saved, tmp_path):
    model, _, _, _ = saved
    target = tmp_path / "m"
    model.save(target)
    config = json.loads((target / CONFIG_FILE).read_text())
    config["format_version"] = 99
    (target / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(InputError, match="format version 99 is not supported.*reads versions 1, 2"):
        IDMVAE.load(target)


def test_folder_that_is_not_a_model_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        IDMVAE.load(tmp_path / "nowhere")
    with pytest.raises(InputError, match="not an omicsdisent model folder"):
        IDMVAE.load(tmp_path)


def test_loaded_model_keeps_training_from_its_weights(saved):
    model, mdata, path, _ = saved
    loaded = IDMVAE.load(path, mdata)
    before = loaded.get_latent()
    loaded.train(seed=2, **FAST)
    assert loaded.is_trained
    assert not np.array_equal(loaded.get_latent(), before)


def test_save_creates_missing_parent_folders(saved, tmp_path):
    model, _, _, _ = saved
    target = model.save(tmp_path / "results" / "run1" / "model")
    assert (target / CONFIG_FILE).is_file() and (target / WEIGHTS_FILE).is_file()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InputError, match="is a file, not a folder"):
        model.save(tmp_path / "afile" / "model")


def test_diffusion_prior_is_saved_and_samples_the_same_after_loading(tmp_path):
    mdata = small_cohort(n=40)
    model = IDMVAE(mdata, prior="diffusion", diffusion_steps=50, diffusion_sampling_steps=10, diffusion_hidden=16,
                   **SMALL)
    model.train(seed=0, **FAST)
    model.save(tmp_path / "m")
    loaded = IDMVAE.load(tmp_path / "m")
    assert loaded.config.prior == "diffusion"
    first, again = model.sample(5, seed=4), loaded.sample(5, seed=4)
    assert np.isfinite(first["meth"].X).all()
    for name in ("rna", "meth"):
        assert np.array_equal(first[name].X, again[name].X)
        assert np.array_equal(first[name].obsm["z"], again[name].obsm["z"])


def test_preprocessing_records_are_saved_as_tensors_and_settings_and_load_unchanged(tmp_path):
    import anndata as ad
    import pandas as pd
    from safetensors.numpy import load_file

    from omicsdisent import pp

    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(40)]
    rna = ad.AnnData(rng.poisson(5, size=(40, 15)).astype(np.float32), obs=pd.DataFrame(index=ids))
    rna.var_names = [f"g{j}" for j in range(15)]
    protein = ad.AnnData(rng.normal(3, 2, size=(40, 8)), obs=pd.DataFrame(index=ids))
    protein.var_names = [f"p{j}" for j in range(8)]
    protein.X[rng.random(protein.shape) < 0.05] = np.nan
    mdata = md.MuData({"rna": rna, "protein": protein})
    pp.preprocess(mdata, types={"protein": "continuous"}, n_top_features=6)
    model = IDMVAE(mdata, **SMALL)
    assert model.preprocessing["protein"].feature_names == model.layouts[1].feature_names
    model.save(tmp_path / "m")

    config = json.loads((tmp_path / "m" / CONFIG_FILE).read_text())
    assert config["preprocessing"]["protein"] == {"modality_type": "continuous", "log": None}
    target_sum = mdata.mod["rna"].uns["omicsdisent"]["target_sum"]
    assert config["preprocessing"]["rna"]["target_sum"] == pytest.approx(target_sum)
    tensors = load_file(tmp_path / "m" / WEIGHTS_FILE)
    np.testing.assert_array_equal(tensors["preprocessing/protein/std"], mdata.mod["protein"].var["std"].to_numpy())

    loaded = IDMVAE.load(tmp_path / "m")
    # The kept genes' median total (the scale decoded counts are mapped back to) survives the round trip.
    rna_layout = model.layouts[0]
    assert rna_layout.input_total is not None and rna_layout.input_total < rna_layout.library_target
    assert loaded.layouts[0].input_total == rna_layout.input_total
    assert float(loaded.module.input_total[0]) == pytest.approx(rna_layout.input_total)
    for name, record in model.preprocessing.items():
        again = loaded.preprocessing[name]
        assert again.settings() == record.settings() and again.feature_names == record.feature_names
        for key, values in record.arrays().items():
            np.testing.assert_array_equal(again.arrays()[key], values)  # float64, bit for bit
    # The records' tensors are not weights: the module state is exactly the model's.
    assert set(loaded.module.state_dict()) == set(model.module.state_dict())

    # A record that lost a per-feature array is refused by name, not loaded half-way.
    from safetensors.numpy import save_file

    save_file({k: v for k, v in tensors.items() if k != "preprocessing/protein/std"}, tmp_path / "m" / WEIGHTS_FILE)
    with pytest.raises(InputError, match=r"modality 'protein' preprocessing record: per-feature 'std' values are missing"):
        IDMVAE.load(tmp_path / "m")


def test_models_fitted_on_data_not_preprocessed_by_pp_save_no_records(saved):
    model, _, path, _ = saved
    assert model.preprocessing == {"rna": None, "meth": None}
    assert json.loads((path / CONFIG_FILE).read_text())["preprocessing"] == {"rna": None, "meth": None}
    assert IDMVAE.load(path).preprocessing == {"rna": None, "meth": None}
