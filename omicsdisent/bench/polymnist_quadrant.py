"""The PolyMNIST-Quadrant benchmark: IDMVAE, MMVAE+ and the ablations, trained and scored like the paper.

>>> from omicsdisent.bench.polymnist_quadrant import PROTOCOLS, run_benchmark
>>> result = run_benchmark(PROTOCOLS["small"], out="bench-out/", device="cpu", seed=0)

Every model is the same :class:`~omicsdisent.models.module.IDMVAEModule` with the "conv" networks and the
"laplace_fixed" likelihood, trained by the same :class:`~omicsdisent.train.Trainer`; only the objective's
weights and the prior differ between the rows (:data:`MODELS`). The outputs are a CSV and a markdown
table beside the paper's numbers (METHOD.md), plus the protocol as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from omicsdisent.bench.evaluation import (PROBES, ImageClassifier, coherence, image_rows, linear_probes,
                                          train_classifier)
from omicsdisent.datasets.polymnist import PolyMNISTSplit, build_polymnist
from omicsdisent.errors import InputError
from omicsdisent.files import atomic_path
from omicsdisent.models.config import MMVAE_PLUS, ModalitySpec, ModelConfig
from omicsdisent.models.image_networks import set_image_precision
from omicsdisent.models.module import IDMVAEModule
from omicsdisent.train import Trainer, TrainConfig
from omicsdisent.train.trainer import resolve_device

# The paper's numbers (METHOD.md, "Benchmarks in the paper"); None where the paper gives none.
PAPER_PROBES = {
    "MMVAE+": {"z->digit": 0.382, "z->quad": 0.355, "w->quad": 0.999, "w->digit": 0.341},
    "IDMVAE": {"z->digit": 0.983, "z->quad": 0.271, "w->quad": 0.999, "w->digit": 0.162},
    "IDMVAE + diffusion": {"z->digit": 0.982, "z->quad": 0.267, "w->quad": 0.999, "w->digit": 0.143},
}
PAPER_COHERENCE = {
    "IDMVAE": {"self": 0.898, "cross": 0.881, "unconditional": 0.070},
    "lambda_mi=0": {"self": 0.101, "cross": 0.100, "unconditional": 0.000},
    "lambda_genaug=0": {"self": 0.670, "cross": 0.671, "unconditional": 0.008},
    "IDMVAE + diffusion": {"self": 0.942, "cross": 0.887, "unconditional": 0.664},
}
# How the images are held on the device (Protocol.data_dtype).
DATA_DTYPES = {"float32": torch.float32, "float16": torch.float16}
# Each row: the changes to the protocol's full IDMVAE configuration.
MODELS = {
    "MMVAE+": dict(MMVAE_PLUS),
    "IDMVAE": {},
    "lambda_mi=0": {"lambda_mi": 0.0},
    "lambda_genaug=0": {"lambda_genaug": 0.0},
    "IDMVAE + diffusion": {"prior": "diffusion", "diffusion_formulation": "authors"},
}


@dataclass
class Protocol:
    """Data, model and training settings of one benchmark run.

    canvas: image side (pixels); n_train / n_fit / n_test / n_coherence: tuples used for training, for
    fitting the probes (a prefix of the training split), for scoring the probes (test split) and for
    coherence (a prefix of the test tuples); None means the whole split. model: the full IDMVAE
    ModelConfig as a dict (the rows of MODELS change it); epochs, batch_size, lr: the trainer's.
    classifier_epochs: epochs of the digit/quadrant classifier; classifier_n: training tuples it sees (a
    prefix of the training split; None: all); data_dtype: "float32" or "float16", how the images are held
    on the device. jobs: rows trained at once on CPU, each in its own process with (torch threads / jobs)
    threads (the rows are independent; the small networks' many tiny convolutions keep one thread busier
    than they keep two). Ignored on CUDA.
    """

    name: str
    canvas: int
    n_train: int | None
    n_fit: int
    n_test: int | None
    n_coherence: int
    model: dict
    epochs: int
    batch_size: int
    lr: float
    classifier_epochs: int
    data_dtype: str = "float32"
    classifier_n: int | None = None
    jobs: int = 1
    models: tuple[str, ...] = field(default_factory=lambda: tuple(MODELS))


PROTOCOLS = {
    # About 30 minutes on 2 CPU cores for all five rows: a 32x32 canvas (the 64x64 one at half resolution),
    # 3,000 training tuples, narrow networks; the latent sizes and loss weights are the authors'.
    # Two departures from the authors' model, both measured on this protocol (docs/benchmarks/polymnist_quadrant.md):
    # batch-centred cosines in the contrastive terms (with plain cosines every code starts along one common
    # direction and the cross-view term stays at chance for the whole CPU budget) and one conv tower per head
    # (with one shared tower the private codes learnt the digit: w->digit 0.42 against 0.20).
    # Adam lr 5e-3: IDMVAE's z->digit 0.70 against 0.60 at 2e-3 in the same 940 steps (40 epochs at 2e-3: 0.61).
    "small": Protocol(
        name="small", canvas=32, n_train=3000, n_fit=2000, n_test=1000, n_coherence=500,
        model=dict(z_dim=32, w_dim=128, hidden=(8, 16, 32), beta=2.5, lambda_mi=80.0, lambda_genaug=20.0,
                   diffusion_weight=1.0, diffusion_hidden=256, center_contrast=True, encoder_trunk="separate"),
        epochs=20, batch_size=64, lr=5e-3, classifier_epochs=5, jobs=2,
    ),
    # The authors' setting (a GPU run): 64x64, 220k tuples, z=32, w=128, batch 128, 100 epochs, Adam 5e-4.
    "paper": Protocol(
        name="paper", canvas=64, n_train=None, n_fit=10_000, n_test=None, n_coherence=10_000,
        model=dict(z_dim=32, w_dim=128, hidden=(64, 128, 256, 256), beta=2.5, lambda_mi=80.0, lambda_genaug=20.0,
                   diffusion_weight=1.0, diffusion_hidden=512, center_contrast=False, encoder_trunk="shared"),
        epochs=100, batch_size=128, lr=5e-4, classifier_epochs=5, data_dtype="float16", classifier_n=20_000,
    ),
}


def image_specs(split: PolyMNISTSplit) -> list[ModalitySpec]:
    """One ModalitySpec per modality: conv networks, the fixed-scale Laplace likelihood, ``input_shape`` (3, H, W)."""
    shape = split.image_shape
    return [ModalitySpec(name, math.prod(shape), likelihood="laplace_fixed", encoder="conv", decoder="conv",
                         input_shape=shape) for name in split.modality_names]


def to_batch(split: PolyMNISTSplit, dtype: torch.dtype = torch.float32) -> dict:
    """The split in the module's batch format: ``{"x": {m: [n, 3*H*W] in [0, 1]}, "mask": all True [n, M]}``."""
    return {
        "x": {name: image_rows(split, m, dtype=dtype) for m, name in enumerate(split.modality_names)},
        "mask": torch.ones(split.n, split.n_modalities, dtype=torch.bool),
    }


def step_flops(module: IDMVAEModule, batch: dict) -> float:
    """FLOPs of one training step's forward and backward pass (matmuls and convolutions, as counted by
    ``torch.utils.flop_counter.FlopCounterMode``); the gradients are cleared afterwards."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        total, _ = module.loss(batch)
        total.backward()
    module.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


@dataclass
class BenchmarkResult:
    """Rows of the result table (one dict per model) and the classifier's test accuracies."""

    rows: list[dict]
    classifier_digit_accuracy: float
    classifier_quadrant_accuracy: float
    protocol: dict
    device: str


def run_benchmark(protocol: Protocol, out: str | os.PathLike, device: str = "cpu", seed: int = 0,
                  bf16: bool = False, channels_last: bool = False, compile: bool = False,
                  overwrite: bool = False, log=print) -> BenchmarkResult:
    """Build the data, train every model of ``protocol.models``, score it and write the tables to ``out``.

    Writes ``out/polymnist_quadrant.csv``, ``out/polymnist_quadrant.md`` and ``out/protocol.json``
    (each atomically); refuses to replace them unless ``overwrite``. ``device``: "cpu" or "cuda";
    ``bf16``/``channels_last``: autocast and memory layout of the image networks (GPU levers).
    """
    out = Path(out)
    targets = [out / "polymnist_quadrant.csv", out / "polymnist_quadrant.md", out / "protocol.json"]
    existing = [str(p) for p in targets if p.exists()]
    if existing and not overwrite:
        raise InputError(f"{', '.join(existing)} already exist(s); pass --force (overwrite=True) to replace")
    unknown = [m for m in protocol.models if m not in MODELS]
    if unknown:
        raise InputError(f"unknown model(s) {', '.join(unknown)}; expected some of {', '.join(MODELS)}")
    torch_device = resolve_device(device)

    started = time.perf_counter()
    build = dict(canvas=protocol.canvas, seed=seed)
    train = build_polymnist("train", n=protocol.n_train, **build)
    test = build_polymnist("test", n=protocol.n_test, **build)
    log(f"data: train {train.images.shape}, test {test.images.shape} ({time.perf_counter() - started:.0f} s)")

    judge = train_classifier(_prefix(train, protocol.classifier_n), test, epochs=protocol.classifier_epochs, seed=seed, device=torch_device)
    log(f"classifier on real test images: digit {judge.digit_accuracy:.3f}, quadrant {judge.quadrant_accuracy:.3f}")

    settings = dict(device=str(torch_device), seed=seed, bf16=bf16, channels_last=channels_last, compile=compile)
    jobs = min(protocol.jobs, len(protocol.models)) if torch_device.type == "cpu" else 1
    if jobs > 1:
        rows = _rows_in_processes(protocol, settings, judge.classifier, jobs, log)
    else:
        data = to_batch(train, DATA_DTYPES[protocol.data_dtype])
        fit = _prefix(train, protocol.n_fit)
        rows = [train_and_score(name, protocol, train, data, fit, test, judge.classifier, **settings, log=log)
                for name in protocol.models]

    result = BenchmarkResult(rows, judge.digit_accuracy, judge.quadrant_accuracy,
                             {**dataclasses.asdict(protocol), "seed": seed, "bf16": bf16,
                              "channels_last": channels_last, "compile": compile, "jobs_used": jobs,
                              "torch_threads_per_job": torch.get_num_threads() // jobs if jobs > 1 else torch.get_num_threads()},
                             str(torch_device))
    out.mkdir(parents=True, exist_ok=True)
    _write_atomic(targets[0], _csv(rows))
    _write_atomic(targets[1], markdown_tables(result))
    _write_atomic(targets[2], json.dumps({**result.protocol, "device": result.device,
                                          "classifier_digit_accuracy": judge.digit_accuracy,
                                          "classifier_quadrant_accuracy": judge.quadrant_accuracy,
                                          "total_seconds": time.perf_counter() - started}, indent=2) + "\n")
    return result


def train_and_score(name: str, protocol: Protocol, train: PolyMNISTSplit, data: dict, fit: PolyMNISTSplit,
                    test: PolyMNISTSplit, judge: torch.nn.Module, *, device: str, seed: int, bf16: bool,
                    channels_last: bool, compile: bool, log=print) -> dict:
    """Train one row of :data:`MODELS` on ``data`` (``train`` in the batch format) and score it: probes,
    coherence (judged by ``judge``), throughput, FLOPs, the paper's figures beside ours. Returns the row."""
    torch_device = torch.device(device)
    config = ModelConfig(**{**protocol.model, **MODELS[name]})
    torch.manual_seed(seed)  # the same initial weights for every row
    module = IDMVAEModule(image_specs(train), config).to(torch_device)
    set_image_precision(module, torch.bfloat16 if bf16 else None, channels_last)
    probe_batch = {"x": {k: v[: protocol.batch_size].to(torch_device) for k, v in data["x"].items()},
                   "mask": data["mask"][: protocol.batch_size].to(torch_device)}
    flops = step_flops(module, probe_batch)
    trainer = Trainer(TrainConfig(epochs=protocol.epochs, batch_size=protocol.batch_size, lr=protocol.lr,
                                  val_fraction=0.0, early_stopping=False, accelerator=torch_device.type,
                                  seed=seed, progress=False, compile=compile))
    history = trainer.fit(module, data)
    steps = history.epochs_run * max(1, train.n // protocol.batch_size)
    tuples_per_s = train.n * history.epochs_run / history.seconds
    probes = linear_probes(module, fit, test, seed=seed)
    standardised = linear_probes(module, fit, test, seed=seed, standardize=True)
    coh = coherence(module, _prefix(test, protocol.n_coherence), judge, seed=seed)
    row = {"model": name, **_row_config(config), **probes, **{f"std {k}": v for k, v in standardised.items()}, **coh,
           "final loss": history.train["total"][-1], "final cross_mi": history.train.get("cross_mi", [None])[-1],
           "train seconds": history.seconds, "tuples/s": tuples_per_s, "TFLOP/step": flops / 1e12,
           "TFLOP/s": flops * steps / history.seconds / 1e12, "torch threads": torch.get_num_threads()}
    for key in PROBES:
        row[f"paper {key}"] = PAPER_PROBES.get(name, {}).get(key)
    for key in ("self", "cross", "unconditional"):
        row[f"paper digit {key}"] = PAPER_COHERENCE.get(name, {}).get(key)
    log(f"{name}: " + ", ".join(f"{k} {row[k]:.3f}" for k in (*PROBES, "digit self", "digit cross",
                                                              "digit unconditional"))
        + f"; {tuples_per_s:.1f} tuples/s, {row['TFLOP/s']:.3f} TFLOP/s ({history.seconds:.0f} s)")
    return row


def _row_worker(name: str, protocol: Protocol, settings: dict, judge_state: dict, threads: int) -> dict:
    """One row in a worker process: the data come back from build_polymnist's cache (the parent built them)."""
    torch.set_num_threads(threads)
    build = dict(canvas=protocol.canvas, seed=settings["seed"])
    train = build_polymnist("train", n=protocol.n_train, **build)
    test = build_polymnist("test", n=protocol.n_test, **build)
    judge = ImageClassifier(train.image_shape)
    judge.load_state_dict(judge_state)
    data = to_batch(train, DATA_DTYPES[protocol.data_dtype])
    return train_and_score(name, protocol, train, data, _prefix(train, protocol.n_fit), test, judge, **settings,
                           log=lambda message: print(message, flush=True))


def _rows_in_processes(protocol: Protocol, settings: dict, judge: torch.nn.Module, jobs: int, log) -> list[dict]:
    """Rows of ``protocol.models`` trained ``jobs`` at a time in spawned processes, in the protocol's order."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    threads = max(1, torch.get_num_threads() // jobs)
    log(f"training {len(protocol.models)} rows, {jobs} at a time, {threads} torch thread(s) each")
    judge_state = {k: v.detach().cpu() for k, v in judge.state_dict().items()}
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_row_worker, name, protocol, settings, judge_state, threads) for name in protocol.models]
        return [future.result() for future in futures]


def _prefix(split: PolyMNISTSplit, n: int | None) -> PolyMNISTSplit:
    if n is None or n >= split.n:
        return split
    return PolyMNISTSplit(split.images[:n], split.digits[:n], split.quadrants[:n], split.mnist_index[:n],
                          {**split.params, "n": n})


def _row_config(config: ModelConfig) -> dict:
    prior = config.prior if config.prior == "gaussian" else f"diffusion ({config.diffusion_formulation})"
    return {"lambda_mi": config.lambda_mi, "lambda_genaug": config.lambda_genaug, "prior": prior}


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def markdown_tables(result: BenchmarkResult) -> str:
    """The paper's two tables (probes; digit coherence) with our figures beside the paper's (ours / paper)."""
    p = result.protocol
    lines = [
        "# PolyMNIST-Quadrant",
        "",
        f"Protocol `{p['name']}` on {result.device}: canvas {p['canvas']}x{p['canvas']}, "
        f"{_fmt(p['n_train']) if p['n_train'] else 'all'} training tuples, {p['epochs']} epochs, batch {p['batch_size']}, "
        f"lr {p['lr']}, seed {p['seed']}; probes fitted on {p['n_fit']} training tuples and scored on "
        f"{p['n_test'] or 'all'} test tuples; coherence on {p['n_coherence']} test tuples.",
        f"Judge classifier (trained on the real images) test accuracy: digit {result.classifier_digit_accuracy:.3f}, "
        f"quadrant {result.classifier_quadrant_accuracy:.3f}.",
        "",
        "## Linear probes (averaged over modalities; ours / paper)",
        "",
        "Logistic regression (C = 1) on the raw encoder means, as the paper's code lineage fits its latent "
        "classifiers; the last four columns: the same probes on standardised means.",
        "",
        "| model | z->digit (up) | z->quad (down) | w->quad (up) | w->digit (down) "
        "| std z->digit | std z->quad | std w->quad | std w->digit |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result.rows:
        cells = [f"{_fmt(row[k])} / {_fmt(row[f'paper {k}'])}" for k in PROBES]
        cells += [_fmt(row[f"std {k}"]) for k in PROBES]
        lines.append(f"| {row['model']} | " + " | ".join(cells) + " |")
    lines += ["", "## Digit coherence (ours / paper)", "", "| model | self | cross | unconditional |", "|---|---|---|---|"]
    for row in result.rows:
        cells = [f"{_fmt(row[f'digit {k}'])} / {_fmt(row[f'paper digit {k}'])}" for k in ("self", "cross", "unconditional")]
        lines.append(f"| {row['model']} | " + " | ".join(cells) + " |")
    lines += ["", "## Quadrant coherence and cost", "",
              "| model | quad self | quad cross | tuples/s | TFLOP/s | TFLOP/step | train s |", "|---|---|---|---|---|---|---|"]
    for row in result.rows:
        lines.append(f"| {row['model']} | {_fmt(row['quad self'])} | {_fmt(row['quad cross'])} | {row['tuples/s']:.1f} | "
                     f"{row['TFLOP/s']:.4f} | {row['TFLOP/step']:.4f} | {row['train seconds']:.0f} |")
    lines += ["", "TFLOP: matmul and convolution FLOPs of one forward+backward step at the protocol's batch size "
              "(torch.utils.flop_counter.FlopCounterMode); TFLOP/s = that x steps / training seconds.", ""]
    return "\n".join(lines)


def _csv(rows: list[dict]) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buffer.getvalue()


def _write_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
