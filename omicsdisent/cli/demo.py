"""``omicsdisent demo``: the whole path on a simulated cohort, one function per stage.

Stages: :func:`simulate_stage` (write the cohort) -> :func:`read_stage` (read and align the files)
-> :func:`preprocess_stage` (per modality type) -> :func:`fit_stage` (IDMVAE, saved) ->
:func:`embed_stage` (shared and private tables from the raw files, as ``omicsdisent embed``) ->
:func:`truth_stage` (how well the codes recover the simulated factors) -> :func:`classify_stage` ->
:func:`survival_stage` -> :func:`report_stage` (one HTML file). Each takes what the one before
returns and prints its own report, so a stage can be added or replaced on its own.
"""

from __future__ import annotations

from pathlib import Path

import click

DEFAULT_OUT = "omicsdisent-demo"
DEMO_SAMPLES = 500
DEMO_SEED = 0
DEMO_TOP_FEATURES = 500
# Enough for the codes to settle on 500 patients (about 400 optimiser steps) while the whole demo stays
# within a few minutes on 2 CPU cores.
DEMO_EPOCHS = 100


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--out",
    "out",
    default=DEFAULT_OUT,
    show_default=True,
    type=click.Path(),
    help="Folder for the demo's files; an existing non-empty folder needs --force.",
)
@click.option("--force", is_flag=True, help="Use --out even if it is not empty, replacing the demo's own files there.")
def demo(out, force):
    """Run omicsdisent end to end on a simulated cohort (a few minutes on a laptop, no download).

    Simulates 500 TCGA-like patients (RNA counts, methylation betas, subtype, survival) into --out,
    reads and aligns the files by barcode, preprocesses each modality by its type (500 most variable
    features each), fits IDMVAE (--out/model), embeds the patients (--out/embeddings: shared.csv,
    private_<modality>.csv, embeddings.h5mu), checks the codes against the true factors, classifies
    the subtype, runs a Cox survival analysis and writes one HTML report (--out/report.html).

    \b
    Example:
      omicsdisent demo --out demo/
    """
    out_dir = Path(out)
    check_output_folder(out_dir, force)
    paths = simulate_stage(out_dir, overwrite=force)
    mdata = read_stage(paths)
    preprocess_stage(mdata)
    model_dir = fit_stage(mdata, out_dir, overwrite=force)
    embeddings = embed_stage(model_dir, paths, out_dir, overwrite=force)
    truth_stage(mdata, embeddings)
    classify_stage(embeddings)
    survival_stage(embeddings)
    report = report_stage(model_dir, out_dir, overwrite=force)
    click.echo("")
    click.echo(f"Done. Open the report: {report}")


def check_output_folder(out_dir: Path, force: bool) -> None:
    """Refuse a non-empty ``out_dir`` (or a file of that name) unless ``force``."""
    from omicsdisent.errors import InputError

    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir} exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise InputError(f"--out {out_dir} is not empty; pass --force to write the demo there anyway")


def simulate_stage(out_dir: Path, overwrite: bool) -> dict[str, Path]:
    """Write the simulated cohort (rna.h5ad, methyl.h5ad, clinical.csv) into ``out_dir``."""
    from omicsdisent.datasets.simulate import write_simulated_cohort

    _heading("1. Simulate")
    paths = write_simulated_cohort(out_dir, overwrite=overwrite, n_samples=DEMO_SAMPLES, seed=DEMO_SEED)
    click.echo(
        f"{DEMO_SAMPLES} patients with 4 shared and 4 private factors per modality (seed {DEMO_SEED}); "
        "the true factors are in obsm['true_shared'] / obsm['true_private'] of each file."
    )
    for name, path in paths.items():
        click.echo(f"  {name}: {path}")
    return paths


def read_stage(paths: dict[str, Path]):
    """Read the modality files and the clinical table into one aligned MuData (patient level)."""
    from omicsdisent.io import alignment_summary, read_modalities

    _heading("2. Read and align")
    modalities = {name: path for name, path in paths.items() if name != "clinical"}
    mdata = read_modalities(modalities, clinical=paths["clinical"], verbose=False)
    click.echo(str(alignment_summary(mdata)))
    return mdata


def preprocess_stage(mdata) -> dict:
    """Preprocess each modality by its inferred type, keeping 500 features each (in place).

    Returns the per-modality summary (``mdata.uns["omicsdisent"]["preprocessing"]``).
    """
    from omicsdisent import pp

    _heading("3. Preprocess")
    pp.preprocess(mdata, n_top_features=DEMO_TOP_FEATURES)
    summary = mdata.uns["omicsdisent"]["preprocessing"]
    click.echo(pp.format_preprocessing(summary))
    return summary


def fit_stage(mdata, out_dir: Path, overwrite: bool) -> Path:
    """Fit IDMVAE (the authors' TCGA settings, seed 0) and save it to ``out_dir/model``."""
    import time

    from omicsdisent.models import IDMVAE
    from omicsdisent.models.idmvae import history_summary

    _heading("4. Fit IDMVAE")
    start = time.perf_counter()
    model = IDMVAE(mdata)
    model.train(max_epochs=DEMO_EPOCHS, seed=DEMO_SEED, progress=False)
    model_dir = model.save(out_dir / "model", overwrite=overwrite)
    summary = history_summary(model.history)
    losses = ", ".join(f"{k} {v:.3g}" for k, v in summary["final"].items() if k.startswith("train_"))
    click.echo(f"{model!r}")
    click.echo(f"{summary['epochs_run']} epochs in {time.perf_counter() - start:.0f} s; final loss terms: {losses}")
    click.echo(f"saved to {model_dir}")
    return Path(model_dir)


def embed_stage(model_dir: Path, paths: dict[str, Path], out_dir: Path, overwrite: bool):
    """Embed the raw files with the saved model, as ``omicsdisent embed`` does; returns the MuData."""
    from omicsdisent.cli.embed import embed_from_files
    from omicsdisent.tl import read_embeddings

    _heading("5. Embed")
    sources = [f"{name}={path}" for name, path in paths.items() if name != "clinical"]
    summary = embed_from_files(model_dir, sources, out_dir / "embeddings", clinical=paths["clinical"],
                               overwrite=overwrite)
    for path in summary["files"]:
        click.echo(f"  {path}")
    return read_embeddings(out_dir / "embeddings")


def truth_stage(mdata, embeddings) -> dict[str, float]:
    """Cross-validated R² of ridge probes from each code to the simulated shared factors.

    The true factors come from the simulated files as read (``mdata``: ``obsm["true_shared"]`` of each
    modality), matched to the embedded patients by id.
    """
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import cross_val_score

    _heading("6. Against the true factors")
    frames = [pd.DataFrame(np.asarray(a.obsm["true_shared"]), index=a.obs_names)
              for a in mdata.mod.values() if "true_shared" in a.obsm]
    if not frames:
        click.echo("The data carry no true factors; skipped.")
        return {}
    truth = pd.concat(frames)
    truth = truth[~truth.index.duplicated()].reindex(embeddings.obs_names).to_numpy()
    scores = {}
    for key in ["X_shared", *sorted(k for k in embeddings.obsm if k.startswith("X_private_"))]:
        codes = np.asarray(embeddings.obsm[key])
        keep = np.isfinite(codes).all(1) & np.isfinite(truth).all(1)
        r2 = cross_val_score(RidgeCV(alphas=np.logspace(-3, 3, 13)), codes[keep], truth[keep], cv=5, scoring="r2")
        scores[key] = float(np.mean(r2))
        click.echo(f"  {key:>18} -> true shared factors: R² {scores[key]:.2f}")
    click.echo("R² near 1 for X_shared: the shared code recovers the shared factors. A private code's R² is the "
               "shared signal it carries as well (ideally low).")
    return scores


def classify_stage(embeddings):
    """Subtype from the shared code by 5-fold cross-validated logistic regression."""
    from omicsdisent import tl

    _heading("7. Classify the subtype")
    result = tl.classify(embeddings, "subtype", rep="X_shared", cv=5, seed=DEMO_SEED)
    m = result.metrics
    click.echo(
        f"accuracy {m['accuracy']['mean']:.3f} ± {m['accuracy']['sd']:.3f}, macro-F1 {m['macro_f1']['mean']:.3f}, "
        f"AUROC {m['auroc']['mean']:.3f} (majority-class baseline {result.baseline_accuracy:.3f})"
    )
    return result


def survival_stage(embeddings):
    """Penalised Cox model of overall survival on the shared code, 5-fold C-index and risk groups."""
    from omicsdisent import tl

    _heading("8. Survival")
    result = tl.survival(embeddings, rep="X_shared", cv=5, seed=DEMO_SEED)
    click.echo(
        f"C-index {result.c_index['mean']:.3f} ± {result.c_index['sd']:.3f} over 5 folds "
        f"({result.n_samples} patients, {result.n_events} deaths); "
        f"log-rank p between median-split risk groups {result.logrank_p:.2g}"
    )
    return result


def report_stage(model_dir: Path, out_dir: Path, overwrite: bool) -> Path:
    """One self-contained HTML report of the model and its embeddings."""
    from omicsdisent.report import build_report

    _heading("9. Report")
    path = build_report(model_dir, out_dir / "embeddings", out_dir / "report.html", label="subtype",
                        seed=DEMO_SEED, overwrite=overwrite)
    click.echo(f"  {path}")
    return path


def _heading(text: str) -> None:
    click.echo("")
    click.echo(click.style(text, bold=True))
