"""``omicsdisent demo``: the whole path on a simulated cohort, one function per stage.

Stages: :func:`simulate_stage` (write the cohort) -> :func:`read_stage` (read and align the files)
-> :func:`preprocess_stage` (per modality type) -> :func:`model_stage`. Each takes what the one
before returns and prints its own report, so a stage can be added or replaced on its own.
"""

from __future__ import annotations

from pathlib import Path

import click

DEFAULT_OUT = "omicsdisent-demo"
DEMO_SAMPLES = 500
DEMO_SEED = 0
DEMO_TOP_FEATURES = 500


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
    """Run omicsdisent end to end on a simulated cohort (about 10 seconds, no download).

    Simulates 500 TCGA-like patients (RNA counts, methylation betas, subtype, survival) into --out,
    reads and aligns the files by barcode, and preprocesses each modality by its type
    (500 most variable features each).
    """
    out_dir = Path(out)
    check_output_folder(out_dir, force)
    paths = simulate_stage(out_dir, overwrite=force)
    mdata = read_stage(paths)
    preprocess_stage(mdata)
    model_stage(mdata, out_dir)


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


def model_stage(mdata, out_dir: Path) -> None:
    """Fit IDMVAE and write embeddings (not in this demo yet: the model arrives in its own step)."""
    _heading("4. Model")
    click.echo(
        "Model fitting arrives with the model: this demo stops after preprocessing. "
        f"The simulated files stay in {out_dir}/ for your own runs."
    )


def _heading(text: str) -> None:
    click.echo("")
    click.echo(click.style(text, bold=True))
