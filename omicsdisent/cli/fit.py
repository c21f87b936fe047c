"""``omicsdisent fit``: read, align, preprocess, train IDMVAE and save the model folder."""

from __future__ import annotations

import json

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("modalities", nargs=-1, required=True, metavar="MOD [MOD ...]")
@click.option("--out", "out", required=True, type=click.Path(), help="Model folder to write (must not exist unless --force).")
@click.option("--clinical", type=click.Path(), default=None, help="Clinical table joined into obs (by sample id).")
@click.option("--z-dim", type=int, default=16, show_default=True, help="Width of the shared code z.")
@click.option("--w-dim", type=int, default=32, show_default=True, help="Width of each private code w_m.")
@click.option("--beta", type=float, default=2.5, show_default=True, help="Weight of the KL part of the MMVAE+ bound.")
@click.option("--lambda-mi", type=float, default=10.0, show_default=True, help="Weight of the cross-view InfoNCE (0: off).")
@click.option("--lambda-genaug", type=float, default=1.0, show_default=True, help="Weight of the generative augmentation (0: off).")
@click.option("--lambda-xcov", type=float, default=0.0, show_default=True,
              help="Weight of a penalty on correlations between z and each private code (0: off; 1 empties the "
                   "private codes of shared signal on the simulator, but can also empty them of private signal).")
@click.option("--genaug", type=click.Choice(["contrastive", "l2"]), default="contrastive", show_default=True)
@click.option("--encoder-trunk", type=click.Choice(["shared", "separate"]), default="separate", show_default=True,
              help="One MLP per encoder head (less shared signal in the private codes), or one for both.")
@click.option("--tau", type=float, default=0.1, show_default=True, help="Temperature of both contrastive terms (the authors used 1).")
@click.option("--prior", type=click.Choice(["gaussian", "diffusion"]), default="gaussian", show_default=True)
@click.option(
    "--diffusion-formulation",
    type=click.Choice(["paper", "authors"]),
    default="authors",
    show_default=True,
    help="paper: denoising loss replaces -log p(z); authors: Gaussian KL kept plus a weighted denoising loss.",
)
@click.option("--supervise", default=None, metavar="survival[:ENDPOINT]|label:COLUMN",
              help="Train a head on z jointly with the model: a Cox term on a survival endpoint (OS, PFI, DSS, DFI "
                   "from --clinical's TCGA-CDR columns; default OS) or a cross-entropy term on an obs column. "
                   "Patients without the outcome still train the rest.")
@click.option("--supervise-weight", type=float, default=1.0, show_default=True, help="Weight of the supervised term. The model's reconstruction sums over every feature, so "
                   "with thousands of features the term needs a weight near 100 to shape the codes.")
@click.option("--supervise-inputs", type=click.Choice(["z", "z+w"]), default="z", show_default=True,
              help="The head reads the shared code only, or the shared and every private code.")
@click.option("--epochs", type=int, default=None, help="Maximum epochs (default: about 4,000 steps, 50-400 epochs).")
@click.option("--batch-size", type=int, default=128, show_default=True)
@click.option("--lr", type=float, default=5e-4, show_default=True, help="Adam learning rate.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Fixes the result on CPU.")
@click.option("--n-top-features", type=int, default=None, help="Features kept per modality by preprocessing (default: pp's).")
@click.option("--type", "types", multiple=True, metavar="NAME=TYPE",
              help="Modality type for preprocessing (counts, methylation, continuous), e.g. methyl=methylation; "
                   "repeatable. Default: inferred from the values (M-values read as continuous).")
@click.option("--no-early-stopping", is_flag=True, help="Run every epoch.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--force", is_flag=True, help="Replace the model folder at --out if it exists.")
def fit(modalities, out, clinical, z_dim, w_dim, beta, lambda_mi, lambda_genaug, lambda_xcov, genaug, encoder_trunk, tau, prior,
        diffusion_formulation, supervise, supervise_weight, supervise_inputs, epochs, batch_size, lr, device, seed, n_top_features, types, no_early_stopping,
        quiet, as_json, force):
    """Fit IDMVAE to two or more omics of the same samples and save the model folder.

    Each MOD is a file that omicsdisent.io reads (.h5ad, .h5mu, .csv/.tsv, optionally gzipped), named
    after its stem, or NAME=PATH. Samples are aligned by id (TCGA barcodes at patient level); data not
    yet preprocessed is preprocessed per modality type first, and what preprocessing learnt from
    these samples (features, library target, medians, means and sds) is saved with the model, so
    'omicsdisent embed' and 'impute' transform new samples' raw files exactly the same way.

    \b
    Example:
      omicsdisent fit rna=rna.csv methyl=meth.csv --type methyl=methylation \\
          --clinical clinical.csv --out brca_model/ --epochs 50
      omicsdisent embed brca_model/ rna=rna.csv methyl=meth.csv --out embeddings/
      omicsdisent fit rna=rna.csv methyl=meth.csv --clinical TCGA-CDR.tsv --supervise survival:PFI --out pfi_model/
      omicsdisent predict pfi_model/ rna=new_rna.csv --out risk.csv
    """
    from omicsdisent.errors import InputError
    from omicsdisent.models.idmvae import fit_from_files

    for option, value in (("--epochs", epochs), ("--batch-size", batch_size), ("--n-top-features", n_top_features)):
        if value is not None and value < 1:
            raise InputError(f"option {option}={value} is not valid; expected an integer >= 1")
    if lr <= 0:
        raise InputError(f"option --lr={lr} is not valid; expected a number > 0")
    type_map = {}
    for item in types:
        name, sep, kind = item.partition("=")
        if not sep or not name or not kind:
            raise InputError(f"option --type {item!r} is not valid; expected NAME=TYPE, e.g. methyl=methylation")
        type_map[name] = kind
    train_options = {
        "max_epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "accelerator": device,
        "seed": seed,
        "early_stopping": not no_early_stopping,
        "progress": not quiet,
    }
    model, summary = fit_from_files(
        list(modalities),
        out,
        clinical=clinical,
        n_top_features=n_top_features,
        types=type_map,
        overwrite=force,
        train_options=train_options,
        verbose=not quiet,
        z_dim=z_dim,
        w_dim=w_dim,
        beta=beta,
        lambda_mi=lambda_mi,
        lambda_genaug=lambda_genaug,
        lambda_xcov=lambda_xcov,
        genaug=genaug,
        tau=tau,
        encoder_trunk=encoder_trunk,
        prior=prior,
        diffusion_formulation=diffusion_formulation,
        **({} if supervise is None else {"supervise": supervise, "supervise_weight": supervise_weight,
                                         "supervise_inputs": supervise_inputs}),
    )
    if as_json:
        click.echo(json.dumps(summary, indent=1))
        return
    mods = ", ".join(
        f"{name} ({info['type']}, {info['n_features']} features, {info['n_samples']} samples)"
        for name, info in summary["modalities"].items()
    )
    click.echo(f"Model saved to {summary['out']}")
    click.echo(f"  data: {summary['n_samples']} samples; {mods}")
    if summary.get("supervise"):
        click.echo(f"  supervised head: {summary['supervise']} on {supervise_inputs}, weight {supervise_weight:g}; "
                   f"{summary['n_with_outcome']} samples with the outcome")
    final = ", ".join(f"{k}={v:.4g}" for k, v in summary["final"].items() if isinstance(v, (int, float)))
    unrecorded = [name for name, info in summary["modalities"].items() if not info["preprocessing_record"]]
    if unrecorded:
        click.echo(
            f"  note: {', '.join(unrecorded)} came preprocessed without omicsdisent's preprocessing record; "
            "embed/impute of new raw files will fill and scale them with the new samples' own statistics"
        )
    click.echo(f"  trained {summary['epochs_run']} epochs in {summary['wall_time_s']:.1f} s; final: {final or 'n/a'}")
