"""PolyMNIST-Quadrant evaluation (probes, classifier, coherence) and the ``bench polymnist-quadrant`` command."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from pyro import distributions as dist
from torch import nn

from omicsdisent.bench import polymnist_quadrant as pq
from omicsdisent.bench.evaluation import coherence, linear_probes, train_classifier
from omicsdisent.cli import main
from omicsdisent.datasets.polymnist import PolyMNISTSplit, build_polymnist


def fake_split(n: int, seed: int, m: int = 3, side: int = 4) -> PolyMNISTSplit:
    """Labels only; the images carry the digit in pixel 0 and the modality's quadrant in pixel 1."""
    rng = np.random.default_rng(seed)
    digits = rng.integers(0, 10, n)
    quads = rng.integers(0, 4, (n, m))
    images = rng.integers(0, 256, (n, m, 3, side, side)).astype(np.uint8)
    images[:, :, 0, 0, 0] = digits[:, None]
    images[:, :, 0, 0, 1] = quads
    return PolyMNISTSplit(images, digits, quads, np.zeros((n, m), np.int64), {})


class LabelCodes(nn.Module):
    """A stand-in model whose z is the digit (one-hot) and whose w_m is x_m's quadrant (one-hot) plus noise.

    ``decode`` writes z's digit and w's quadrant back into pixels 0 and 1 (ignore_z: a random digit).
    """

    def __init__(self, m: int = 3, ignore_z: bool = False):
        super().__init__()
        self.names = [f"m{i}" for i in range(m)]
        self.ignore_z = ignore_z
        self.anchor = nn.Parameter(torch.zeros(1))

    def encode_modality(self, name, x):
        raw = (x[:, :2] * 255).round().long()
        z = nn.functional.one_hot(raw[:, 0], 10).float() + 0.05 * torch.randn(len(x), 10)
        w = nn.functional.one_hot(raw[:, 1], 4).float() + 0.05 * torch.randn(len(x), 4)
        return dist.Normal(z, 1.0).to_event(1), dist.Normal(w, 1.0).to_event(1)

    def decode(self, z, w):
        out = {}
        for name, w_m in w.items():
            digit = torch.randint(0, 10, (len(z),)) if self.ignore_z else z.argmax(1)
            out[name] = torch.stack([digit.float(), w_m.argmax(1).float()], 1)
        return out

    def sample_prior(self, n):
        z = nn.functional.one_hot(torch.randint(0, 10, (n,)), 10).float()
        return z, {name: nn.functional.one_hot(torch.randint(0, 4, (n,)), 4).float() for name in self.names}


class PixelReader:
    """A stand-in classifier reading the digit and quadrant from pixels 0 and 1."""

    def eval(self):
        return self

    def to(self, device):
        return self

    def predict(self, x):
        return x[:, 0].round().long(), x[:, 1].round().long()


def test_probes_find_the_digit_in_z_and_the_quadrant_in_w():
    scores = linear_probes(LabelCodes(), fake_split(400, 0), fake_split(200, 1), seed=0)
    assert scores["z->digit"] > 0.95 and scores["w->quad"] > 0.95
    assert scores["z->quad"] < 0.4 and scores["w->digit"] < 0.2  # chance: 0.25 and 0.1


class FaintDigitInW(LabelCodes):
    """w_m: the quadrant (one-hot) plus the digit at 1e-4 of that scale, as in a dimension collapsed onto the prior."""

    def encode_modality(self, name, x):
        qz, qw = super().encode_modality(name, x)
        digit = nn.functional.one_hot((x[:, 0] * 255).round().long(), 10).float()
        return qz, dist.Normal(torch.cat([qw.mean, 1e-4 * digit], 1), 1.0).to_event(1)


def test_raw_probes_ignore_a_faint_trace_that_standardised_probes_lift():
    fit, test = fake_split(400, 0), fake_split(200, 1)
    raw = linear_probes(FaintDigitInW(), fit, test, seed=0)
    standardised = linear_probes(FaintDigitInW(), fit, test, seed=0, standardize=True)
    assert raw["w->digit"] < 0.2 and raw["w->quad"] > 0.95
    assert standardised["w->digit"] > 0.95 and standardised["w->quad"] > 0.95


def test_coherence_is_one_when_generations_keep_the_labels_and_chance_when_z_is_ignored():
    split = fake_split(300, 2)
    torch.manual_seed(0)
    good = coherence(LabelCodes(), split, PixelReader(), n_unconditional=300)
    assert good == {"digit self": 1.0, "digit cross": 1.0, "digit unconditional": 1.0, "quad self": 1.0, "quad cross": 1.0}
    bad = coherence(LabelCodes(ignore_z=True), split, PixelReader(), n_unconditional=300)
    assert bad["digit self"] < 0.2 and bad["digit cross"] < 0.2 and bad["digit unconditional"] < 0.05
    assert bad["quad self"] == 1.0  # w still carries the quadrant


def test_classifier_trained_on_real_images_reads_quadrant_and_digit(mirror):
    train = build_polymnist("train", canvas=32, n=600, seed=0, cache=False)
    test = build_polymnist("test", canvas=32, n=200, seed=0, cache=False)
    result = train_classifier(train, test, epochs=3, seed=0)
    assert result.quadrant_accuracy > 0.9
    assert result.digit_accuracy > 0.2  # chance 0.1; a 3-epoch CNN on 3,000 small images


def tiny_protocol(**changes):
    base = pq.Protocol(
        name="small", canvas=16, n_train=64, n_fit=64, n_test=48, n_coherence=16,
        model=dict(z_dim=4, w_dim=8, hidden=(4, 8), lambda_mi=5.0, lambda_genaug=1.0, diffusion_hidden=16,
                   diffusion_steps=20, diffusion_sampling_steps=5),
        epochs=1, batch_size=32, lr=1e-3, classifier_epochs=1, models=("MMVAE+", "IDMVAE + diffusion"),
    )
    return dataclasses.replace(base, **changes)


def test_bench_command_writes_the_tables_beside_the_papers_numbers(tmp_path, monkeypatch, mirror):
    monkeypatch.setitem(pq.PROTOCOLS, "small", tiny_protocol())
    out = tmp_path / "bench"
    runner = CliRunner()
    bad = runner.invoke(main, ["bench", "polymnist-quadrant", "--lr", "0", "--out", str(out)])
    assert bad.exit_code == 1 and "--lr=0" in bad.output and not out.exists()
    result = runner.invoke(main, ["bench", "polymnist-quadrant", "--protocol", "small", "--lr", "0.002", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "protocol.json").read_text())["lr"] == 0.002
    md = (out / "polymnist_quadrant.md").read_text()
    assert "| MMVAE+ |" in md and "/ 0.382 |" in md  # ours / paper, z->digit of MMVAE+
    assert "| IDMVAE + diffusion |" in md and "/ 0.664 |" in md  # the paper's unconditional coherence
    csv = (out / "polymnist_quadrant.csv").read_text().splitlines()
    header = csv[0].split(",")
    assert len(csv) == 3 and {"z->digit", "w->quad", "std w->digit", "digit cross", "tuples/s", "TFLOP/s"} <= set(header)
    row = dict(zip(header, csv[1].split(",")))
    assert 0 <= float(row["z->digit"]) <= 1 and float(row["tuples/s"]) > 0 and float(row["TFLOP/step"]) > 0
    assert row["lambda_mi"] == "0.0" and row["prior"] == "gaussian"
    assert "tuples/s" in result.output

    again = runner.invoke(main, ["bench", "polymnist-quadrant", "--protocol", "small", "--out", str(out)])
    assert again.exit_code == 1 and "already exist" in again.output and "--force" in again.output
    assert (out / "polymnist_quadrant.md").read_text() == md


def test_step_flops_counts_the_forward_and_backward_pass(mirror):
    split = build_polymnist("test", canvas=16, n=16, seed=0, cache=False)
    module = pq.IDMVAEModule(pq.image_specs(split), pq.ModelConfig(z_dim=4, w_dim=8, hidden=(4, 8)))
    batch = pq.to_batch(split)
    assert batch["x"]["m0"].shape == (16, 3 * 16 * 16) and float(batch["x"]["m0"].max()) <= 1.0
    flops = pq.step_flops(module, batch)
    assert flops > 0 and math.isfinite(flops)
    assert all(p.grad is None for p in module.parameters())
    bigger = pq.step_flops(module, pq.to_batch(build_polymnist("test", canvas=16, n=32, seed=0, cache=False)))
    assert bigger == pytest.approx(2 * flops, rel=0.05)


def test_rows_trained_in_parallel_processes_match_the_rows_trained_in_turn(tmp_path, mirror):
    protocol = tiny_protocol(models=("MMVAE+", "IDMVAE"))
    in_turn = pq.run_benchmark(protocol, tmp_path / "one", seed=0, log=lambda _: None)
    parallel = pq.run_benchmark(dataclasses.replace(protocol, jobs=2), tmp_path / "two", seed=0, log=lambda _: None)
    assert in_turn.protocol["jobs_used"] == 1 and parallel.protocol["jobs_used"] == 2
    assert [row["model"] for row in parallel.rows] == ["MMVAE+", "IDMVAE"]  # the protocol's order
    for one, two in zip(in_turn.rows, parallel.rows):
        # The same seeds and weights; only the thread count differs (a last-bit difference at most).
        assert two["final loss"] == pytest.approx(one["final loss"], rel=1e-3)
        for key in pq.PROBES:
            assert two[key] == pytest.approx(one[key], abs=0.05)


def test_paper_protocol_runs_end_to_end_at_full_width_with_the_gpu_levers_on(tmp_path, mirror):
    """The paper protocol's networks (64x64, widths 64-256, one shared tower), float16 data, bf16 autocast
    and channels-last, on a handful of tuples: the configuration a GPU session runs, checked here on CPU."""
    protocol = dataclasses.replace(pq.PROTOCOLS["paper"], n_train=8, n_fit=8, n_test=8, n_coherence=4, epochs=1,
                                   batch_size=4, classifier_epochs=1, classifier_n=8, models=("IDMVAE",))
    result = pq.run_benchmark(protocol, tmp_path, seed=0, bf16=True, channels_last=True, log=lambda _: None)
    (row,) = result.rows
    assert result.protocol["canvas"] == 64 and result.protocol["data_dtype"] == "float16"
    assert result.protocol["model"]["encoder_trunk"] == "shared" and result.protocol["model"]["center_contrast"] is False
    assert math.isfinite(row["final loss"]) and row["tuples/s"] > 0
    # 8.5 TFLOP per step at batch 128 (docs/benchmarks/polymnist_quadrant.md), linear in the batch
    assert row["TFLOP/step"] * 128 / 4 == pytest.approx(8.5, rel=0.1)
    assert json.loads((tmp_path / "protocol.json").read_text())["bf16"] is True
