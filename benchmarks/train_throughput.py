"""Training throughput of IDMVAE: samples per second of full training steps, peak memory. Prints JSON.

A full step is what ``Trainer.fit`` runs per minibatch: index the device-resident dataset, the Pyro
guide and model traces, every enabled objective term, backward, gradient clipping and Adam.

Configurations (synthetic data with a shared and a private signal, Laplace likelihood):
  tcga        the authors' TCGA setting: 2 views x 100 features, z=16, w=32, batch 128, beta 2.5,
              lambda_mi 10, lambda_genaug 0.001, diffusion prior ("authors" formulation, weight 0.1)
  tcga-mmvae  the same with lambda_mi = lambda_genaug = 0 and the Gaussian prior (plain MMVAE+)
  large       5,000 samples x 2 views x 5,000 features, otherwise as tcga

Example: python benchmarks/train_throughput.py --config tcga --device cpu --threads 2 --steps 300
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time

import torch

from omicsdisent.models.config import ModalitySpec, ModelConfig
from omicsdisent.models.module import IDMVAEModule
from omicsdisent.train import TrainConfig, epoch_batches, take, train_step, validation_disabled
from omicsdisent.train.trainer import make_optimizer

# The authors' TCGA weights; one encoder trunk for both heads as in their code (--encoder-trunk separate
# measures omicsdisent's default, which runs two MLPs per encoder).
TCGA_MODEL = dict(z_dim=16, w_dim=32, hidden=(256, 256), beta=2.5, lambda_mi=10.0, lambda_genaug=0.001,
                  prior="diffusion", diffusion_formulation="authors", diffusion_weight=0.1, encoder_trunk="shared")
CONFIGS = {
    "tcga": dict(n_samples=4000, n_features=100, model=TCGA_MODEL),
    "tcga-mmvae": dict(n_samples=4000, n_features=100,
                       model=dict(TCGA_MODEL, lambda_mi=0.0, lambda_genaug=0.0, prior="gaussian")),
    "large": dict(n_samples=5000, n_features=5000, model=TCGA_MODEL),
}


def synthetic_data(n_samples: int, n_features: int, device: torch.device, seed: int = 0) -> dict:
    """Two views sharing a 4-d signal, each with a 4-d private signal and noise; float32 on ``device``."""
    g = torch.Generator().manual_seed(seed)
    shared = torch.randn(n_samples, 4, generator=g)
    x = {}
    for name in ("view1", "view2"):
        private = torch.randn(n_samples, 4, generator=g)
        signal = shared @ torch.randn(4, n_features, generator=g) + private @ torch.randn(4, n_features, generator=g)
        x[name] = (signal + 0.5 * torch.randn(n_samples, n_features, generator=g)).to(device)
        del signal
    return {"x": x, "mask": torch.ones(n_samples, 2, dtype=torch.bool, device=device)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="tcga")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--steps", type=int, default=300, help="timed training steps (after warm-up)")
    parser.add_argument("--warmup", type=int, default=30, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--compile", action="store_true", help="torch.compile the networks")
    parser.add_argument("--encoder-trunk", choices=("shared", "separate"), default="shared",
                        help="one MLP for both encoder heads (the authors') or one per head (omicsdisent's default)")
    parser.add_argument("--windows", type=int, default=5,
                        help="split the timed steps into this many windows and also report the fastest one "
                             "(robust to other processes on a shared machine)")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    setting = CONFIGS[args.config]
    device = torch.device(args.device)
    torch.manual_seed(0)
    data = synthetic_data(setting["n_samples"], setting["n_features"], device)
    specs = [ModalitySpec(name, setting["n_features"], likelihood="laplace") for name in data["x"]]
    module = IDMVAEModule(specs, ModelConfig(**dict(setting["model"], encoder_trunk=args.encoder_trunk))).to(device)
    train_config = TrainConfig(batch_size=args.batch_size, compile=args.compile, progress=False)
    if args.compile:
        from omicsdisent.train.trainer import _compile_networks

        _compile_networks(module)
    optimizer = make_optimizer(module, train_config, device)
    module.validate_data(data)
    indices = torch.arange(setting["n_samples"], device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def run(n_steps: int) -> tuple[int, dict]:
        done, samples, terms = 0, 0, {}
        while done < n_steps:
            for index in epoch_batches(indices, args.batch_size, shuffle=True):
                terms = train_step(module, optimizer, take(data, index), train_config.grad_clip)
                samples += index.numel()
                done += 1
                if done == n_steps:
                    break
        return samples, terms

    module.train()
    with validation_disabled():
        run(args.warmup)
        if device.type == "cuda":
            torch.cuda.synchronize()
        window_rates, samples, seconds = [], 0, 0.0
        per_window = max(1, args.steps // max(1, args.windows))
        left = args.steps
        while left > 0:
            steps = min(per_window, left)
            start = time.perf_counter()
            done, terms = run(steps)
            if device.type == "cuda":
                torch.cuda.synchronize()
            elapsed = max(time.perf_counter() - start, 1e-9)
            window_rates.append(done / elapsed)
            samples, seconds, left = samples + done, seconds + elapsed, left - steps
        final = {k: float(v) for k, v in terms.items()}  # read back once, after timing

    result = {
        "config": args.config,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "compile": args.compile,
        "batch_size": args.batch_size,
        "n_samples": setting["n_samples"],
        "n_features_per_view": setting["n_features"],
        "timed_steps": args.steps,
        "samples_per_s": samples / seconds,
        "samples_per_s_best_window": max(window_rates),
        "samples_per_s_windows": [round(r, 1) for r in window_rates],
        "ms_per_step": 1e3 * seconds / args.steps,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_cuda_mb": torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None,
        "terms": sorted(final),
        "last_step_losses": final,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
