"""``omicsdisent predict``: new patients' risk scores (or class probabilities) from a supervised model."""

from __future__ import annotations

import click


def predict_from_files(model_dir, sources, clinical=None):
    """Read ``sources`` for the model in ``model_dir`` and return ``(model, predictions, attribution)``.

    ``predictions`` is :meth:`omicsdisent.IDMVAE.predict`'s table for the samples of the files (any
    subset of the model's modalities); ``attribution`` the per-block split of the risk
    (:func:`omicsdisent.tl.survival_metrics.block_attribution`) for a survival head, else None.
    """
    from omicsdisent.cli.embed import read_for_model
    from omicsdisent.tl.survival_metrics import block_attribution

    model, mdata = read_for_model(model_dir, sources, clinical)
    predictions = model.predict(mdata)
    attribution = None
    if model.module.head.kind == "survival":
        parts = predictions[[c for c in predictions.columns if c.startswith("risk_")]]
        attribution = block_attribution(parts.rename(columns=lambda c: c.removeprefix("risk_")))
    return model, predictions, attribution


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("model_dir", type=click.Path())
@click.argument("modalities", nargs=-1, required=True, metavar="MOD [MOD ...]")
@click.option("--clinical", type=click.Path(), default=None, help="Clinical table joined into obs (kept in the table).")
@click.option("--out", "out", required=True, type=click.Path(), help="CSV file to write (sample_id, then the predictions).")
@click.option("--json", "json_out", type=click.Path(), default=None,
              help="Also write a JSON summary here: the model's target and, for survival, the risk per block.")
@click.option("--force", is_flag=True, help="Replace --out (and --json) if they exist.")
def predict(model_dir, modalities, clinical, out, json_out, force):
    """Risk scores (or class probabilities) of new patients from a model fitted with --supervise.

    Each MOD is a raw data file, as for 'omicsdisent embed'; a patient may have any subset of the
    model's modalities (one is enough). For a survival head the table has risk (log hazard, higher is
    worse), its split into risk_z (and risk_w_<modality> for --supervise-inputs z+w) and the
    modalities used; for a label head the predicted class and one probability column per class.
    Prints which block drives the risk: the sd of each block's part over patients and exp(sd), the
    hazard ratio between patients one sd apart in that block.

    \b
    Example:
      omicsdisent predict pfi_model/ rna=new_rna.csv --out risk.csv --json risk.json
    """
    from omicsdisent.files import atomic_path
    from omicsdisent.tl.output import check_output, write_json

    out_path = check_output(out, force)
    if json_out:
        check_output(json_out, force, option="--json")
    model, predictions, attribution = predict_from_files(model_dir, list(modalities), clinical)
    table = predictions.copy()
    table.insert(0, "sample_id", table.index.astype(str))
    with atomic_path(out_path) as tmp:
        table.to_csv(tmp, index=False)
    used = table["modalities"].value_counts().to_dict()
    counts = ", ".join(f"{k or 'none'}: {v}" for k, v in used.items())
    click.echo(f"Predicted {model.config.supervise} for {len(table)} samples ({counts})")
    if attribution is not None:
        click.echo("risk per block (sd of its log-hazard part over patients; HR per sd = exp(sd); share of variance):")
        text = attribution.to_string(float_format=lambda v: f"{v:.3g}")
        click.echo("\n".join("  " + line for line in text.splitlines()))
    click.echo(f"wrote {out_path}")
    if json_out:
        payload = {"command": "predict", "model": str(model_dir), "supervise": model.config.supervise,
                   "supervise_inputs": model.config.supervise_inputs, "n_samples": int(len(table)),
                   "samples_per_modalities": {str(k): int(v) for k, v in used.items()}}
        if attribution is not None:
            payload["attribution"] = [{"block": b, **{k: float(v) for k, v in row.items()}}
                                      for b, row in attribution.iterrows()]
        click.echo(f"wrote {write_json(json_out, payload, overwrite=force)}")
