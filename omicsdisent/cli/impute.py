"""``omicsdisent impute``: predict one modality from the others with a saved model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from omicsdisent.files import atomic_path


def impute_from_files(model_dir, sources: Sequence[str], target: str, out, clinical=None, overwrite: bool = False) -> dict:
    """Predict modality ``target`` for every sample of the ``sources`` files and write it to ``out`` (.h5ad).

    The source files are read and transformed like the model's training data, with its saved
    preprocessing records (see :func:`omicsdisent.cli.embed.preprocess_like_model`); each sample's
    shared code comes from the source modalities it has and the target's private code is its prior
    mean. The h5ad holds
    [samples x the model's target features] decoder means on the likelihood's scale (counts: expected
    counts at the training median library size; methylation: M-values; continuous: standardised
    values), ``obs`` with the clinical columns, and ``uns["omicsdisent"]`` saying what was imputed from
    what. Returns a summary dict (``out``, ``n_samples``, ``n_features``, ``sources``, ``scale``).
    """
    from omicsdisent.cli.embed import read_for_model
    from omicsdisent.errors import InputError
    from omicsdisent.models import IDMVAE

    out = Path(out)
    if out.suffix.lower() != ".h5ad":
        raise InputError(f"--out {out}: expected a file name ending in .h5ad")
    if out.exists() and not overwrite:
        raise InputError(f"{out} already exists; pass --force (overwrite=True) to replace it")
    if out.exists() and out.is_dir():
        raise InputError(f"--out {out} is a folder; expected an .h5ad file name")
    if not out.parent.is_dir():
        raise InputError(f"--out {out}: folder {out.parent} does not exist")
    model_modalities = IDMVAE.load(model_dir).modalities
    if target not in model_modalities:
        raise InputError(f"--target {target!r} is not one of the model's modalities ({', '.join(model_modalities)})")
    model, mdata = read_for_model(model_dir, sources, clinical)
    if target in mdata.mod:
        raise InputError(
            f"--target {target!r} is also given as a source file; impute predicts it from the other modalities"
        )
    imputed = model.impute(source=list(mdata.mod), target=target, mdata=mdata)
    imputed.obs = mdata.obs.loc[imputed.obs_names].copy()
    with atomic_path(out) as tmp:
        imputed.write_h5ad(tmp)
    return {
        "out": str(out),
        "n_samples": int(imputed.n_obs),
        "n_features": int(imputed.n_vars),
        "sources": list(mdata.mod),
        "scale": imputed.uns["omicsdisent"]["scale"],
    }


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("model_dir", type=click.Path())
@click.argument("modalities", nargs=-1, required=True, metavar="MOD [MOD ...]")
@click.option("--target", required=True, help="Modality to predict (one of the model's, not among the files given).")
@click.option("--out", "out", required=True, type=click.Path(), help="The .h5ad file to write.")
@click.option("--clinical", type=click.Path(), default=None, help="Clinical table joined into obs (by sample id).")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
def impute(model_dir, modalities, target, out, clinical, force):
    """Predict one modality from the others with a fitted model, into an .h5ad file.

    Each MOD is a raw data file of a source modality (as given to 'omicsdisent fit'), named after its
    stem or NAME=PATH. Every sample with at least one source gets a predicted profile over the
    model's features of --target (decoder means: expected counts for count data, M-values for
    methylation, standardised values for continuous data).

    \b
    Example:
      omicsdisent impute brca_model/ rna=new_rna.csv --target methyl --out methyl_imputed.h5ad
    """
    summary = impute_from_files(model_dir, list(modalities), target, out, clinical=clinical, overwrite=force)
    click.echo(
        f"Imputed {target} ({summary['n_features']} features, {summary['scale']}) for {summary['n_samples']} samples "
        f"from {', '.join(summary['sources'])}; wrote {summary['out']}"
    )
