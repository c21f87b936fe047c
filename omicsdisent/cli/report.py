"""``omicsdisent report``: one self-contained HTML file of a model and its embeddings."""

from __future__ import annotations

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--model", "model_dir", required=True, type=click.Path(), help="Model folder from 'omicsdisent fit'.")
@click.option("--embeddings", required=True, type=click.Path(),
              help="Folder from 'omicsdisent embed' (its embeddings.h5mu), or an .h5mu/.h5ad with embeddings.")
@click.option("--label", default=None, help="obs column to classify and colour by (default: PAM50 where present).")
@click.option("--time", "time_col", default=None, help="Survival time column in days (default: OS_time where present).")
@click.option("--event", "event_col", default=None, help="Event column, 1 death / 0 censored (default: OS_event where present).")
@click.option("--endpoint", type=click.Choice(["OS", "PFI", "DSS", "DFI"], case_sensitive=False), default=None,
              help="TCGA-CDR endpoint for the survival section (reads <ENDPOINT>_time/_event; not with --time/--event).")
@click.option("--clinical", type=click.Path(), default=None, help="Clinical table joined into obs first (by sample id).")
@click.option("--cv", type=int, default=5, show_default=True, help="Cross-validation folds for classification and survival.")
@click.option("--seed", type=int, default=0, show_default=True, help="Fixes folds, clusters and UMAP.")
@click.option("--out", "out", required=True, type=click.Path(), help="The .html file to write.")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
def report(model_dir, embeddings, label, time_col, event_col, endpoint, clinical, cv, seed, out, force):
    """Write an HTML report: training curves, UMAP, classification, survival, variance explained, features.

    The file is self-contained (figures embedded as PNG, no scripts or network) and opens in any browser.

    \b
    Example:
      omicsdisent embed brca_model/ rna.csv methyl.csv --clinical clinical.csv --out embeddings/
      omicsdisent report --model brca_model/ --embeddings embeddings/ --label PAM50 \\
          --time OS_time --event OS_event --out report.html
    """
    from pathlib import Path

    from omicsdisent.errors import InputError
    from omicsdisent.report import build_report

    if cv < 2:
        raise InputError(f"option --cv={cv} is not valid; expected an integer >= 2")
    path = build_report(model_dir, embeddings, out, label=label, time=time_col, event=event_col, endpoint=endpoint,
                        clinical=clinical, cv=cv, seed=seed, overwrite=force)
    click.echo(f"Report written to {Path(path).resolve()}")
