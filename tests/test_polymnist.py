"""PolyMNIST-Quadrant builder: shapes, pairing, label balance, independent quadrants, determinism, cache."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2_contingency

from omicsdisent.datasets import polymnist
from omicsdisent.datasets.mnist import load_mnist
from omicsdisent.datasets.polymnist import build_polymnist
from omicsdisent.errors import InputError


@pytest.fixture(scope="module")
def train16(mirror):
    return build_polymnist("train", canvas=16, n=2000, seed=3, cache=False)


def test_quadrant_split_has_documented_shapes_and_types(train16):
    assert train16.images.shape == (2000, 5, 3, 16, 16)
    assert train16.images.dtype == np.uint8
    assert train16.digits.shape == (2000,) and train16.digits.dtype == np.int64
    assert train16.quadrants.shape == (2000, 5) and set(np.unique(train16.quadrants)) == {0, 1, 2, 3}
    assert train16.mnist_index.shape == (2000, 5)
    assert train16.modality_names == ["m0", "m1", "m2", "m3", "m4"]
    assert polymnist.split_sizes() == {"train": 220_000, "val": 5_000, "test": 10_000}


def test_every_modality_shows_the_tuple_digit_class(train16, mirror):
    _, labels = load_mnist("train")
    assert (labels[train16.mnist_index] == train16.digits[:, None]).all()
    assert (train16.mnist_index < polymnist.TRAIN_END).all()  # the authors' training indices only
    # Tuples share only the class: the modalities' images are different MNIST digits.
    assert (train16.mnist_index[:, 0] != train16.mnist_index[:, 1]).mean() > 0.99


def test_label_balance_follows_mnist(train16):
    freq = np.bincount(train16.digits, minlength=10) / train16.n
    assert np.all(np.abs(freq - 0.1) < 0.03)


def test_quadrants_are_uniform_and_independent_across_modalities(train16):
    q = train16.quadrants
    assert np.all(np.abs(np.bincount(q.ravel(), minlength=4) / q.size - 0.25) < 0.02)
    for m in range(5):
        for n in range(m + 1, 5):
            joint = np.zeros((4, 4))
            np.add.at(joint, (q[:, m], q[:, n]), 1)
            assert np.all(np.abs(joint / q.shape[0] - 1 / 16) < 0.02)
            assert chi2_contingency(joint).pvalue > 1e-4
        # Quadrant is private: independent of the shared digit too.
        joint = np.zeros((10, 4))
        np.add.at(joint, (train16.digits, q[:, m]), 1)
        assert chi2_contingency(joint).pvalue > 1e-4


def test_validation_split_uses_each_image_once_per_modality(mirror):
    val = build_polymnist("val", canvas=8, seed=0, cache=False)
    assert val.n == 5000
    for m in range(5):
        assert np.array_equal(np.sort(val.mnist_index[:, m]), np.arange(55_000, 60_000))


def test_digit_is_the_inverted_background_in_its_quadrant(monkeypatch, mirror):
    grey = 50
    monkeypatch.setattr(polymnist, "_background", lambda name, scale, canvas: np.full((3, 100, 120), grey, np.uint8))
    split = build_polymnist("test", canvas=16, n=40, seed=1, cache=False)
    images, _ = load_mnist("test")
    masks = polymnist._digit_masks(images[split.mnist_index.ravel()], 8).reshape(40, 5, 8, 8)
    assert set(np.unique(split.images)) == {grey, 255 - grey}
    for i in range(40):
        for m in range(5):
            q = split.quadrants[i, m]
            expected = np.zeros((16, 16), dtype=bool)
            expected[(q // 2) * 8:(q // 2) * 8 + 8, (q % 2) * 8:(q % 2) * 8 + 8] = masks[i, m]
            drawn = split.images[i, m] == 255 - grey
            assert (drawn == expected[None]).all()


def test_same_seed_repeats_and_subsets_are_prefixes(mirror):
    a = build_polymnist("test", canvas=8, n=300, seed=5, cache=False)
    b = build_polymnist("test", canvas=8, n=300, seed=5, cache=False)
    longer = build_polymnist("test", canvas=8, n=500, seed=5, cache=False)
    other = build_polymnist("test", canvas=8, n=300, seed=6, cache=False)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.quadrants, b.quadrants)
    assert np.array_equal(longer.images[:300], a.images)
    assert np.array_equal(longer.mnist_index[:300], a.mnist_index)
    assert not np.array_equal(a.mnist_index, other.mnist_index)
    assert not np.array_equal(a.quadrants, other.quadrants)


def test_cache_is_one_compressed_file_read_back_without_rebuilding(tmp_path, monkeypatch, mirror):
    first = build_polymnist("test", canvas=8, n=100, seed=2, cache_dir=tmp_path)
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz"

    def fail(params):
        raise AssertionError("rebuilt instead of reading the cache")

    monkeypatch.setattr(polymnist, "_build", fail)
    again = build_polymnist("test", canvas=8, n=100, seed=2, cache_dir=tmp_path)
    assert np.array_equal(first.images, again.images) and again.params == first.params
    with pytest.raises(AssertionError, match="rebuilt"):  # other parameters are another file
        build_polymnist("test", canvas=8, n=100, seed=3, cache_dir=tmp_path)


def test_classic_polymnist_is_28px_without_quadrant(mirror):
    classic = build_polymnist("test", variant="classic", n=50, seed=0, cache=False)
    assert classic.images.shape == (50, 5, 3, 28, 28)
    assert (classic.quadrants == -1).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"split": "dev"}, "split='dev'"),
        ({"canvas": 15}, "canvas=15"),
        ({"variant": "classic", "canvas": 20}, "canvas=20"),
        ({"split": "val", "n": 6000}, "n=6000"),
        ({"n_modalities": 6}, "n_modalities=6"),
        ({"variant": "colour"}, "variant='colour'"),
    ],
)
def test_bad_options_name_the_option(kwargs, message):
    with pytest.raises(InputError, match=message):
        build_polymnist(**kwargs, cache=False)
