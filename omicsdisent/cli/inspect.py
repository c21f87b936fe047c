"""``omicsdisent inspect``: read and align modality files and print the alignment summary."""

from __future__ import annotations

import json
import os

import click


@click.command("inspect")
@click.argument("modalities", nargs=-1, required=True, metavar="MOD...")
@click.option("--clinical", "clinical", metavar="FILE", help="Clinical CSV/TSV joined into obs by sample id.")
@click.option("--level", type=click.Choice(["patient", "sample"]), default="patient", show_default=True,
              help="Align TCGA barcodes by patient (TCGA-XX-XXXX) or by sample (TCGA-XX-XXXX-NN).")
@click.option("--keep-normal", is_flag=True, help="Keep normal-tissue samples (TCGA sample types 10-19).")
@click.option("--orientation", type=click.Choice(["auto", "samples_x_features", "features_x_samples"]),
              default="auto", show_default=True, help="Orientation of text tables.")
@click.option("--time-col", metavar="COL", help="Clinical column with overall-survival time.")
@click.option("--event-col", metavar="COL", help="Clinical column with the death event (Dead/Alive, 1/0, ...).")
@click.option("--time-unit", type=click.Choice(["days", "months", "years"]), default="days", show_default=True,
              help="Unit of --time-col; stored as days.")
@click.option("--clinical-id-col", metavar="COL",
              help="Clinical id column (default: the column whose ids match most samples).")
@click.option("--max-nan-fraction", type=float, default=0.5, show_default=True,
              help="Largest share (0-1) of missing values allowed in a modality.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON instead of a table.")
@click.option("--out", metavar="FILE.h5mu", help="Also write the aligned MuData here.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
def inspect(modalities, clinical, level, keep_normal, orientation, time_col, event_col, time_unit,
            clinical_id_col, max_nan_fraction, as_json, out, force):
    """Read MOD files, align them by sample id, and print what was found.

    MOD is a path (.h5ad, .h5mu, .csv/.tsv/.txt, optionally .gz) or NAME=PATH; the modality name is
    the file stem otherwise.

    \b
    Example:
      omicsdisent inspect rna=rna.csv meth=meth.csv mirna.csv \\
          --clinical pam50_survival.csv --time-col OS_time_days --event-col OS_event
    """
    from omicsdisent.io import alignment_summary, read_modalities, write_h5mu
    from omicsdisent.errors import InputError

    if out and not out.lower().endswith(".h5mu"):
        raise InputError(f"--out {out}: the output must end in .h5mu")
    if out and os.path.exists(out) and not force:
        raise InputError(f"--out {out}: already exists; pass --force to overwrite it")
    mdata = read_modalities(
        list(modalities), clinical=clinical, level=level, keep_normal=keep_normal, orientation=orientation,
        time_col=time_col, event_col=event_col, time_unit=time_unit, max_nan_fraction=max_nan_fraction,
        clinical_id_col=clinical_id_col, verbose=False,
    )
    summary = alignment_summary(mdata)
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2))
    else:
        click.echo(str(summary))
    if out:
        path = write_h5mu(mdata, out, overwrite=force)
        click.echo(f"wrote {path}", err=as_json)
