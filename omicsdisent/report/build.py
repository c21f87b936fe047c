"""Build the HTML report of a fitted model and its embeddings."""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from omicsdisent.errors import DataMismatchError, InputError, OmicsDisentError
from omicsdisent.files import atomic_path, check_new_file
from omicsdisent.report.html import Section, image, page, paragraph, table

DEFAULT_LABEL = "PAM50"
DEFAULT_TIME = "OS_time"
DEFAULT_EVENT = "OS_event"
TOP_FEATURES = 5


def _output_path(out, overwrite: bool) -> Path:
    return check_new_file(out, overwrite, option="--out", suffixes=(".html", ".htm"))


def _embeddings_path(embeddings) -> Path:
    path = Path(embeddings)
    if path.is_dir():
        inside = path / "embeddings.h5mu"
        if not inside.is_file():
            raise InputError(f"--embeddings {path}: the folder has no embeddings.h5mu (write it with 'omicsdisent embed')")
        return inside
    if not path.exists():
        raise InputError(f"--embeddings {path}: no such file or folder")
    return path


def check_features(model, data) -> None:
    """Raise DataMismatchError unless each modality of ``data`` (a MuData) has exactly the model's features."""
    import mudata as md

    if not isinstance(data, md.MuData):
        return
    layouts = {layout.name: layout for layout in model.layouts}
    for name, adata in data.mod.items():
        if name not in layouts:
            raise DataMismatchError(
                f"embeddings modality {name!r} is not one of the model's modalities ({', '.join(layouts)}); "
                "were the embeddings made with another model?"
            )
        expected = pd.Index(layouts[name].feature_names)
        names = adata.var_names.astype(str)
        if not (len(names) == len(expected) and set(names) == set(expected)):
            missing = expected.difference(names)
            raise DataMismatchError(
                f"embeddings modality {name!r} has {len(names)} features, the model {len(expected)} "
                f"({len(missing)} of the model's missing, e.g. {', '.join(map(str, missing[:3])) or 'none'}); "
                "were the embeddings made with another model?"
            )
    z = data.obsm.get("X_shared")
    if z is not None and np.asarray(z).shape[1] != model.config.z_dim:
        raise DataMismatchError(
            f"embeddings X_shared has {np.asarray(z).shape[1]} dimensions but the model's z has {model.config.z_dim}"
        )


def _column(obs: pd.DataFrame, value, default: str, option: str) -> str | None:
    """The obs column to use: an explicit one must exist; the default is used only where present."""
    if value is None:
        return default if default in obs.columns else None
    if value not in obs.columns:
        shown = ", ".join(map(str, obs.columns[:20])) or "none"
        raise InputError(f"{option} {value!r}: no such column in the embeddings' obs; it has {shown}")
    return value


def build_report(
    model_dir,
    embeddings,
    out,
    *,
    label: str | None = None,
    time: str | None = None,
    event: str | None = None,
    endpoint: str | None = None,
    clinical=None,
    cv: int = 5,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Write one self-contained HTML report of a model and its embeddings to ``out``; return its path.

    ``model_dir``: a folder from ``omicsdisent fit``; ``embeddings``: an ``embeddings.h5mu`` (or its folder,
    from ``omicsdisent embed``) or an .h5ad with embeddings in obsm. ``clinical`` optionally joins a
    clinical table first. ``label`` names the obs column to classify and colour the UMAP by (default
    ``PAM50`` where present); ``time``/``event`` the survival columns (days; 1 death, 0 censored; default
    ``OS_time``/``OS_event`` where present), or ``endpoint`` a TCGA-CDR endpoint (``PFI`` reads
    ``PFI_time``/``PFI_event``). A column named explicitly must exist (InputError).

    Sections: data and model; training curves; UMAP of ``X_shared`` by label; classification of the
    label from ``X_shared`` (``cv``-fold metrics, baseline, confusion matrix); survival (held-out
    Harrell's and Uno's C, time-dependent AUC, integrated Brier score, hazard ratios, Kaplan-Meier of
    the risk groups, calibration at a horizon); variance explained per modality; top features per latent
    dimension; linear probes of z and w for the label. A section whose analysis cannot run on this data
    says why instead. Figures are base64 PNG, CSS inline, no scripts, fonts or network. The file is
    written atomically; an existing one is replaced only with ``overwrite``.
    """
    from omicsdisent import pl, tl
    from omicsdisent.models import IDMVAE

    out = _output_path(out, overwrite)
    model = IDMVAE.load(model_dir)
    data = tl.read_embeddings(_embeddings_path(embeddings), clinical=clinical)
    check_features(model, data)
    label = _column(data.obs, label, DEFAULT_LABEL, "--label")
    named_survival = time is not None or event is not None
    if endpoint is not None:
        from omicsdisent.io.clinical import endpoint_columns

        if named_survival:
            raise InputError("--endpoint names the survival columns; leave --time and --event unset")
        time, event = endpoint_columns(endpoint)
        named_survival = True
    time = _column(data.obs, time, DEFAULT_TIME, "--time")
    event = _column(data.obs, event, DEFAULT_EVENT, "--event")
    if (time is None) != (event is None):
        if named_survival:
            raise InputError(
                f"survival needs a time and an event column; found {time or event!r} only "
                f"(obs has no {DEFAULT_TIME if time is None else DEFAULT_EVENT!r}: name it with --time/--event)"
            )
        time = event = None  # only half of the default pair: the survival section says so

    sections = [
        _overview(model, data, model_dir, embeddings),
        _training(model, pl),
        _umap(data, label, seed, pl, tl),
        _classification(data, label, cv, seed, pl, tl),
        _survival(data, time, event, cv, seed, pl, tl, endpoint),
        *([_prognostic_head(model, data)] if getattr(model.module, "head", None) is not None else []),
        _variance(model, data, pl, tl),
        _features(model, data, tl),
        _probes(data, label, cv, seed, pl, tl),
    ]
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = [f"model: {model_dir}", f"embeddings: {embeddings}", f"written {stamp}"]
    text = page("omicsdisent report", subtitle, sections)
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return out


def _guarded(section: Section, step, what: str) -> None:
    """Run ``step(section)``; an analysis that cannot run on this data leaves a note, not a broken report."""
    try:
        step(section)
    except OmicsDisentError as err:
        section.note(f"{what} could not be computed: {str(err).splitlines()[0]}")


def _overview(model, data, model_dir, embeddings) -> Section:
    import mudata as md

    section = Section("overview", "Data and model")
    rows = []
    for i, layout in enumerate(model.layouts):
        present = "NA"
        if isinstance(data, md.MuData) and layout.name in data.mod:
            present = int(np.asarray(data.obsmap[layout.name]).ravel().astype(bool).sum())
        elif isinstance(data, md.MuData):
            present = 0
        rows.append({"modality": layout.name, "type": layout.modality_type, "likelihood": layout.likelihood,
                     "features": layout.n_features, "samples with it": present})
    section.add(paragraph(
        f"{data.n_obs} samples; shared code z: {model.config.z_dim} dimensions; private codes w: "
        f"{model.config.w_dim} dimensions per modality; prior: {model.config.prior}.", "metric"))
    section.add(table(pd.DataFrame(rows).set_index("modality")))
    return section


def _training(model, pl) -> Section:
    section = Section("training", "Training curves")
    if model.history is None:
        section.note("The model folder holds no training history.")
        return section

    def step(s):
        figure = pl.training_curves(model.history)
        s.add(image(figure, "training curves", "Loss per epoch (mean per sample); solid: training, dashed: validation; dotted line: epoch kept."))

    _guarded(section, step, "Training curves")
    return section


def _umap(data, label, seed, pl, tl) -> Section:
    section = Section("umap", "UMAP of the shared code")

    def step(s):
        result = tl.cluster(data, rep="X_shared", seed=seed)
        color = label or result.key_added
        figure = pl.umap(data, color, rep="X_shared", compute=False)
        s.add(image(figure, f"UMAP coloured by {color}", f"UMAP of X_shared coloured by {color}; "
                    f"{result.n_clusters} Leiden clusters."))
        if label:
            crosstab = pd.crosstab(data.obs[result.key_added], data.obs[label])
            s.add(paragraph(f"Leiden clusters (rows) against {label} (columns):"))
            s.add(table(crosstab))

    _guarded(section, step, "The UMAP")
    return section


def _metric_table(metrics: dict) -> pd.DataFrame:
    return pd.DataFrame(
        {"mean": [v["mean"] for v in metrics.values()], "sd": [v["sd"] for v in metrics.values()]},
        index=pd.Index(list(metrics), name="metric"),
    )


def _classification(data, label, cv, seed, pl, tl) -> Section:
    section = Section("classification", "Classification")
    if label is None:
        section.note(f"No label column (pass --label; {DEFAULT_LABEL} is not in obs).")
        return section

    def step(s):
        result = tl.classify(data, label, rep="X_shared", cv=cv, seed=seed)
        s.add(paragraph(
            f"{label} from X_shared: {result.n_samples} samples, {len(result.classes)} classes, "
            f"{result.cv}-fold cross-validation; majority-class baseline accuracy {result.baseline_accuracy:.3f}.", "metric"))
        s.add(table(_metric_table(result.metrics)))
        figure = pl.confusion_matrix(result.confusion, title=f"Confusion matrix: {label}")
        s.add(image(figure, f"confusion matrix of {label}", "Rows: true class; columns: predicted; shares of each true class (out-of-fold)."))
        s.add(table(result.confusion))

    _guarded(section, step, "Classification")
    return section


def _survival(data, time, event, cv, seed, pl, tl, endpoint=None) -> Section:
    from omicsdisent.io.clinical import ENDPOINT_NAMES

    name = ENDPOINT_NAMES.get(endpoint or "", "")
    section = Section("survival", f"Survival: {name} ({endpoint})" if endpoint else "Survival")
    if time is None:
        section.note(f"No survival columns (pass --time and --event; obs lacks {DEFAULT_TIME} and/or {DEFAULT_EVENT}).")
        return section

    def step(s):
        result = tl.survival(data, time=time, event=event, rep="X_shared", cv=cv, seed=seed)
        c = result.c_index
        s.add(paragraph(
            f"Penalised Cox model on X_shared: {result.n_samples} samples, {result.n_events} events; "
            f"C-index {c['mean']:.3f} ± {c['sd']:.3f} over {result.cv} folds (pooled out-of-fold {result.c_index_oof:.3f}).",
            "metric"))
        s.add(paragraph(
            "Held-out metrics, each computed on the test part of every fold (mean ± sd over folds): Harrell's C, "
            "Uno's IPCW C, the cumulative/dynamic AUC at each horizon and the integrated Brier score (lower is better)."))
        metrics = pd.DataFrame(
            [{"metric": k, "mean": v["mean"], "sd": v["sd"], "folds": int(v["folds"]),
              "note": (result.skipped or {}).get(k, "")} for k, v in result.metrics.items()]).set_index("metric")
        s.add(table(metrics))
        hr = result.hazard_ratios[[c for c in ("hr", "hr_lower_95", "hr_upper_95", "p") if c in result.hazard_ratios.columns]]
        hr = hr.rename(columns={"hr": "HR per sd", "hr_lower_95": "lower 95%", "hr_upper_95": "upper 95%"})
        s.add(paragraph("Hazard ratios per standard deviation of each dimension (fit on all samples):"))
        s.add(table(hr))
        figure = pl.kaplan_meier(result)
        s.add(image(figure, "Kaplan-Meier curves of the risk groups",
                    f"Kaplan-Meier curves of the out-of-fold risk groups; log-rank p = {result.logrank_p:.3g}."))
        for horizon in sorted(result.horizons, reverse=True):
            frame = pl.calibration_table(result, horizon)
            if np.isfinite(frame["observed"]).sum() >= 2:
                s.add(image(pl.calibration(result, horizon), f"calibration at {horizon:g} years",
                            f"Mean out-of-fold predicted survival at {horizon:g} years against the Kaplan-Meier "
                            "estimate (95% bars) in four groups of out-of-fold risk; dotted: perfect calibration."))
                break

    _guarded(section, step, "Survival")
    return section


def _prognostic_head(model, data) -> Section:
    """The supervised head of a model fitted with ``supervise``: what it predicts and which block drives it."""
    from omicsdisent.tl.survival_metrics import block_attribution

    section = Section("head", f"Supervised head ({model.config.supervise})")
    if not _has_modalities(data):
        section.note("The embeddings file holds no modalities (an .h5ad); the head's predictions need the data.")
        return section

    def step(s):
        table_ = model.predict(data)
        s.add(paragraph(
            f"A linear head on {model.config.supervise_inputs} trained jointly with the model (weight "
            f"{model.config.supervise_weight:g}); these are its in-sample predictions, not held-out ones.", "metric"))
        if model.module.head.kind == "survival":
            parts = table_[[c for c in table_.columns if c.startswith("risk_")]]
            attribution = block_attribution(parts.rename(columns=lambda c: c.removeprefix("risk_")))
            s.add(paragraph("Which block drives the risk: sd of each block's part of the log hazard over the "
                            "samples, the hazard ratio per sd (exp(sd)) and the share of the variance."))
            s.add(table(attribution))
        else:
            s.add(table(table_["prediction"].value_counts(sort=False).rename("samples").to_frame()))

    _guarded(section, step, "The supervised head")
    return section


def _has_modalities(data) -> bool:
    import mudata as md

    return isinstance(data, md.MuData) and len(data.mod) > 0


def _variance(model, data, pl, tl) -> Section:
    section = Section("variance", "Variance explained")
    if not _has_modalities(data):
        section.note("The embeddings file holds no modalities (an .h5ad); variance explained needs the data (use embeddings.h5mu).")
        return section

    def step(s):
        result = tl.variance_explained(model, data)
        s.add(image(pl.variance_explained(result), "variance explained per modality",
                    "R² of each modality's data reconstructed from z only, w only, and both."))
        s.add(table(result.table.set_index("modality")))

    _guarded(section, step, "Variance explained")
    return section


def _features(model, data, tl) -> Section:
    section = Section("features", "Top feature associations")
    if not _has_modalities(data):
        section.note("The embeddings file holds no modalities (an .h5ad); feature associations need the data.")
        return section

    def step(s):
        result = tl.feature_associations(model, data, n_top=TOP_FEATURES)
        frame = result.table
        rows = []
        for (latent, dimension, modality), group in frame.groupby(["latent", "dimension", "modality"], sort=False):
            group = group.sort_values("rank")
            top = ", ".join(f"{f} ({v:.3g})" for f, v in zip(group["feature"], group["sensitivity"]))
            rows.append({"code": f"{latent}[{dimension}]", "modality": modality, f"top {TOP_FEATURES} features (sensitivity)": top})
        s.add(paragraph(
            "Features whose decoded mean moves most per unit of each latent dimension "
            "(mean |d mean / d latent| over samples)."))
        s.add(table(pd.DataFrame(rows), index=False))

    _guarded(section, step, "Feature associations")
    return section


def _probes(data, label, cv, seed, pl, tl) -> Section:
    section = Section("probes", "Disentanglement probes")
    if label is None:
        section.note("No label to probe (pass --label).")
        return section

    def step(s):
        result = tl.disentanglement_probes(data, shared_labels=[label], cv=cv, seed=seed)
        s.add(image(pl.probe_heatmap(result), "probe heatmap",
                    f"Cross-validated linear-probe accuracy of {label} from z and from each private code w."))

    _guarded(section, step, "Probes")
    return section
