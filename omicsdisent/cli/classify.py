"""``omicsdisent classify``: cross-validated prediction of a clinical label from embeddings."""

from __future__ import annotations

import click


def parse_rep(rep: str):
    """``--rep`` text -> what ``tl`` takes: one key, ``both``, or a list for comma-separated keys."""
    parts = [p.strip() for p in rep.split(",") if p.strip()]
    return parts[0] if len(parts) == 1 else parts


@click.command("classify")
@click.argument("embeddings", metavar="EMBEDDINGS")
@click.option("--clinical", metavar="FILE", help="Clinical CSV/TSV joined into obs by sample id.")
@click.option("--label", required=True, metavar="COLUMN", help="obs column to predict, e.g. PAM50.")
@click.option("--rep", default="X_shared", show_default=True, metavar="REP",
              help="X_shared, X_private_<modality>, both (shared + every private), or obsm keys joined by commas.")
@click.option("--cv", type=int, default=5, show_default=True, help="Stratified cross-validation folds.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the folds and the solver.")
@click.option("--C", "C", type=float, default=1.0, show_default=True,
              help="Inverse L2 regularisation strength of the logistic regression.")
@click.option("--out", metavar="FILE.json", help="Write the results as JSON here.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
def classify(embeddings, clinical, label, rep, cv, seed, C, out, force):
    """Predict a label from EMBEDDINGS by cross-validated logistic regression.

    EMBEDDINGS is the embeddings.h5mu (or its folder) that 'omicsdisent embed' writes, or any
    .h5mu/.h5ad with X_shared / X_private_<modality> in obsm. Prints accuracy, balanced accuracy, macro-F1 and AUROC
    (mean ± sd over folds), the majority-class baseline and the confusion matrix.

    \b
    Example:
      omicsdisent classify embeddings/embeddings.h5mu --label PAM50 --rep both --out pam50.json
    """
    from omicsdisent.tl import classify as run_classify
    from omicsdisent.tl import read_embeddings
    from omicsdisent.tl.output import check_output, write_json

    if out:
        check_output(out, force)
    data = read_embeddings(embeddings, clinical=clinical)
    result = run_classify(data, label, rep=parse_rep(rep), cv=cv, seed=seed, C=C)
    click.echo(result.format())
    if out:
        path = write_json(out, {"command": "classify", "embeddings": str(embeddings), **result.to_dict()}, overwrite=force)
        click.echo(f"wrote {path}")
