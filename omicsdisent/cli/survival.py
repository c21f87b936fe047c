"""``omicsdisent survival``: a penalised Cox model of a survival endpoint on embeddings, with held-out metrics."""

from __future__ import annotations

import click

from omicsdisent.cli.classify import parse_rep


@click.command("survival")
@click.argument("embeddings", metavar="EMBEDDINGS")
@click.option("--clinical", metavar="FILE",
              help="Clinical CSV/TSV joined into obs by sample id; survival read as OS_time/OS_event, "
                   "TCGA-CDR (OS, OS.time), TCGA (vital_status, days_to_*) or cBioPortal columns.")
@click.option("--time", "time_col", default="OS_time", show_default=True, metavar="COLUMN",
              help="Survival time column (days); with --clinical, a column of the clinical file.")
@click.option("--event", "event_col", default="OS_event", show_default=True, metavar="COLUMN",
              help="Event column (1 death, 0 censored); with --clinical, also Dead/Alive and the like.")
@click.option("--endpoint", type=click.Choice(["OS", "PFI", "DSS", "DFI"], case_sensitive=False), default=None,
              help="TCGA-CDR endpoint: reads <ENDPOINT>_time/<ENDPOINT>_event (from the clinical file's "
                   "PFI/PFI.time columns and the like) in place of --time/--event.")
@click.option("--horizons", default="1,3,5", show_default=True, metavar="YEARS",
              help="Years at which the time-dependent AUC is computed, joined by commas.")
@click.option("--time-unit", type=click.Choice(["days", "months", "years"]), default="days", show_default=True,
              help="Unit of --time in the --clinical file (stored as days).")
@click.option("--rep", default="X_shared", show_default=True, metavar="REP",
              help="X_shared, X_private_<modality>, both (shared + every private), or obsm keys joined by commas.")
@click.option("--cv", type=int, default=5, show_default=True, help="Cross-validation folds (stratified by event).")
@click.option("--penalizer", type=float, default=0.1, show_default=True, help="Cox penalty strength (lifelines).")
@click.option("--l1-ratio", type=float, default=0.0, show_default=True, help="Share of L1 in the penalty (0 = ridge).")
@click.option("--groups", type=click.Choice(["median", "clusters"]), default="median", show_default=True,
              help="Risk groups: median split of out-of-fold risk, or k-means clusters of the embedding.")
@click.option("--n-clusters", type=int, default=2, show_default=True, help="Clusters for --groups clusters.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the folds and of k-means.")
@click.option("--out", metavar="FILE.json", help="Write the results as JSON here.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
def survival(embeddings, clinical, time_col, event_col, endpoint, horizons, time_unit, rep, cv, penalizer, l1_ratio,
             groups, n_clusters, seed, out, force):
    """Relate a survival endpoint (overall survival by default) to EMBEDDINGS with a penalised Cox model.

    EMBEDDINGS is the embeddings.h5mu (or its folder) that 'omicsdisent embed' writes, or any
    .h5mu/.h5ad with X_shared / X_private_<modality> in obsm. Prints the cross-validated metrics on the
    held-out folds (Harrell's C, Uno's C, the time-dependent AUC at --horizons, the integrated Brier
    score; mean ± sd over folds), hazard ratios per dimension with 95% CIs, the risk groups and the log-rank p.

    \b
    Example:
      omicsdisent survival embeddings/embeddings.h5mu --clinical clinical_cdr.tsv --rep X_shared \\
          --groups median --out survival.json
      omicsdisent survival embeddings/ --clinical TCGA-CDR.tsv --endpoint PFI --horizons 1,3
    """
    from omicsdisent.errors import InputError
    from omicsdisent.tl import read_embeddings
    from omicsdisent.tl import survival as run_survival
    from omicsdisent.tl.output import check_output, write_json

    if out:
        check_output(out, force)
    named_time, named_event = time_col != "OS_time", event_col != "OS_event"
    if endpoint is not None and (named_time or named_event):
        raise InputError("--endpoint names the survival columns; leave --time and --event unset")
    try:
        horizon_years = [float(h) for h in str(horizons).split(",") if h.strip()]
    except ValueError:
        raise InputError(f"--horizons {horizons!r}: expected years joined by commas, such as 1,3,5") from None
    if clinical is not None and named_time != named_event:
        raise InputError("--time and --event name the --clinical file's survival columns together; set both")
    named = named_time or named_event
    if clinical is None and time_unit != "days":
        raise InputError("--time-unit applies to the --clinical file; obs times must already be in days")
    if clinical is not None and named:
        # The clinical reader standardises the named columns into OS_time (days) and OS_event.
        data = read_embeddings(embeddings, clinical=clinical, time_col=time_col, event_col=event_col,
                               time_unit=time_unit)
        time_col, event_col = "OS_time", "OS_event"
    else:
        data = read_embeddings(embeddings, clinical=clinical, time_unit=time_unit)
    result = run_survival(data, time=time_col, event=event_col, endpoint=endpoint, horizons=horizon_years,
                          rep=parse_rep(rep), cv=cv, penalizer=penalizer, l1_ratio=l1_ratio, groups=groups,
                          n_clusters=n_clusters, seed=seed)
    click.echo(result.format())
    if out:
        path = write_json(out, {"command": "survival", "embeddings": str(embeddings), **result.to_dict()},
                          overwrite=force)
        click.echo(f"wrote {path}")
