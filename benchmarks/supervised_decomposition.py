"""Does the Cox head keep the decomposition? Private codes' R^2 to the true shared factors, with and without it.

On the simulator's weak-shared cohort (as ``shared_signal_probe.py``; its survival follows the true
shared factors), train IDMVAE unsupervised and with ``supervise="survival"`` at each weight, with the
same budget and seed, and report the linear-probe R^2 of z and of each w_m to the true shared factors
(``shared_signal_probe.fit_and_probe``). The issue's target: the private codes' R^2 stays at most
0.05 above the unsupervised model's. Prints one JSON object::

    python benchmarks/supervised_decomposition.py --samples 2000 --features 200 --epochs 50 --weights 1 10
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from shared_signal_probe import fit_and_probe, simulate  # noqa: E402


def run(samples: int, features: int, epochs: int, weights, seed: int = 0) -> dict:
    mdata, shared, private = simulate(samples, features, seed)
    variants = {"unsupervised": {}}
    variants.update({f"cox_weight_{w:g}": {"supervise": "survival", "supervise_weight": float(w)} for w in weights})
    report = {"setting": {"simulator": "simulate_cohort(weak_shared=True)", "n_samples": samples,
                          "n_features_per_modality": features, "epochs": epochs, "seed": seed}}
    for name, options in variants.items():
        result = fit_and_probe(mdata, shared, private, options, epochs, seed)
        report[name] = {k: result[k] for k in ("z_to_shared", "w_to_shared_mean", "w_to_shared", "wall_time_s")}
    base = report["unsupervised"]["w_to_shared_mean"]
    report["w_to_shared_increase"] = {n: report[n]["w_to_shared_mean"] - base for n in variants if n != "unsupervised"}
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--features", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--weights", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.samples, args.features, args.epochs, args.weights, args.seed), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
