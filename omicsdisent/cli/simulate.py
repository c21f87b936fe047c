"""``omicsdisent simulate``: write a simulated cohort with known shared and private factors."""

from __future__ import annotations

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--out", "out", required=True, type=click.Path(), help="Folder to write rna.h5ad, methyl.h5ad and clinical.csv into.")
@click.option("--n-samples", type=int, default=500, show_default=True, help="Number of patients (one tumour sample each).")
@click.option(
    "--weak-shared",
    is_flag=True,
    help="Shared signal in 5% of features at a small effect; private factors drive 60% of features strongly.",
)
@click.option(
    "--missing-fraction",
    type=float,
    default=0.0,
    show_default=True,
    help="Share of samples that lack one modality (each keeps at least one).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Equal seeds give identical files.")
@click.option("--force", is_flag=True, help="Replace rna.h5ad, methyl.h5ad or clinical.csv if they exist in --out.")
def simulate(out, n_samples, weak_shared, missing_fraction, seed, force):
    """Simulate a TCGA-like cohort: RNA counts, methylation betas, subtype and survival.

    Shared factors drive both modalities, the subtype and the survival hazard; each modality's
    private factors drive only that modality. The true factors are stored in each h5ad file
    (obsm["true_shared"], obsm["true_private"]); clinical.csv has TCGA-CDR columns
    (bcr_patient_barcode, subtype, OS, OS.time in days).

    \b
    Example:
      omicsdisent simulate --out sim/ --weak-shared --missing-fraction 0.1
      omicsdisent inspect sim/rna.h5ad sim/methyl.h5ad --clinical sim/clinical.csv
    """
    from omicsdisent.datasets.simulate import write_simulated_cohort

    paths = write_simulated_cohort(
        out,
        overwrite=force,
        n_samples=n_samples,
        weak_shared=weak_shared,
        missing_fraction=missing_fraction,
        seed=seed,
    )
    click.echo(describe_written(paths))


def describe_written(paths: dict) -> str:
    """One line per written file: its path and, for h5ad files, samples x features."""
    import anndata as ad

    lines = []
    for name, path in paths.items():
        if name == "clinical":
            lines.append(f"wrote {path} (clinical: bcr_patient_barcode, subtype, OS, OS.time)")
        else:
            adata = ad.read_h5ad(path, backed="r")
            lines.append(f"wrote {path} ({name}: {adata.n_obs} samples x {adata.n_vars} features)")
            adata.file.close()
    return "\n".join(lines)
