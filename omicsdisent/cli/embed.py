"""``omicsdisent embed``: shared and private codes of new samples from a saved model.

New raw files are read and aligned as ``omicsdisent fit`` reads them, then transformed the way the
model's training data was (:func:`preprocess_like_model`, which applies the model's saved
preprocessing records), so their features and scales line up with the model's.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import click
import numpy as np

# Models without preprocessing records (format 1): methylation betas clipped as pp's default eps.
_METHYLATION_EPS = 1e-6


def preprocess_like_model(mdata, model, sources: Mapping[str, str] | None = None):
    """Transform each modality of ``mdata`` (raw values, as read) the way ``model``'s training data was.

    ``mdata`` is an aligned MuData from :func:`omicsdisent.io.read_modalities`; it is changed in place
    (each ``mod[m]`` replaced) and returned. Each raw modality gets the model's preprocessing record
    (``model.preprocessing[m]``) through :func:`omicsdisent.pp.apply_preprocessing`: the model's
    features in its order, the training library target (counts; libraries summed over every feature
    of the file, so give the training file's genes), the training input kind, eps and feature
    medians (methylation), the training log, medians, means and sds (continuous). A sample's result
    therefore does not depend on the other samples in the file.

    A model without a record for a modality (saved before records existed, or fitted on data not
    preprocessed by omicsdisent.pp) falls back, with a warning, to statistics of the data given:
    missing values filled with this data's medians and continuous features standardised with this
    data's means and sds (exact only when re-embedding the training cohort).

    A modality already preprocessed (``uns["omicsdisent"]["preprocessed"]``) is only cut to the model's
    features. Raises DataMismatchError when a modality is not one of the model's or lacks some of the
    model's features, InputError for values its type cannot hold (e.g. negative counts).
    """
    import mudata

    from omicsdisent.errors import DataMismatchError

    sources = dict(sources or {})
    layouts = {layout.name: layout for layout in model.layouts}
    unknown = [m for m in mdata.mod if m not in layouts]
    if unknown:
        where = f" ({sources[unknown[0]]})" if unknown[0] in sources else ""
        raise DataMismatchError(
            f"modality {unknown[0]!r}{where} is not one of the model's modalities ({', '.join(layouts)}); "
            "name each file after its modality with NAME=PATH"
        )
    records = getattr(model, "preprocessing", None) or {}
    for name in list(mdata.mod):
        label = f"modality {name!r}" + (f" ({sources[name]})" if name in sources else "")
        mdata.mod[name] = _transform(mdata.mod[name], layouts[name], label, records.get(name))
    with mudata.set_options(pull_on_update=False):
        mdata.update()
    return mdata


def _model_columns(adata, layout, label: str) -> np.ndarray:
    from omicsdisent.pp.record import feature_columns

    return feature_columns(adata, layout.feature_names, label, described="the model's {n} features")


def _transform(adata, layout, label: str, preprocessing=None):
    import warnings

    import anndata as ad

    from omicsdisent.errors import DataMismatchError, InputError
    from omicsdisent.pp.methylation import beta_to_mvalue, mvalue_to_beta
    from omicsdisent.pp.record import apply_preprocessing
    from omicsdisent.pp.selection import impute_median
    from omicsdisent.pp.types import dense_values, is_preprocessed

    columns = _model_columns(adata, layout, label)
    record = adata.uns.get("omicsdisent", {})
    if is_preprocessed(adata):
        if record.get("modality_type") != layout.modality_type:
            raise DataMismatchError(
                f"{label} is preprocessed as {record.get('modality_type')!r} but the model's modality is "
                f"{layout.modality_type!r}"
            )
        return adata[:, columns].copy()
    if preprocessing is not None:
        try:
            out = apply_preprocessing(adata, preprocessing, name=layout.name)
        except InputError as err:  # name the file too, not only the modality
            raise type(err)(str(err).replace(f"modality {layout.name!r}", label, 1)) from None
        out.uns["omicsdisent"] = {
            **{k: v for k, v in record.items() if k == "source"},
            **out.uns["omicsdisent"],
            "preprocessed_like_model": True,
        }
        return out
    warnings.warn(
        f"{label}: the model has no preprocessing record for it (saved before records existed, or fitted on "
        "data not preprocessed by omicsdisent.pp); filling and scaling it with statistics of the samples given",
        UserWarning,
        stacklevel=4,
    )
    values = dense_values(adata)
    if np.isinf(values).any():
        raise InputError(f"{label}: values must be finite (NaN for missing) but found infinite values")
    layers = {}
    if layout.modality_type == "counts":
        if np.isnan(values).any() or (values < 0).any() or (values != np.round(values)).any():
            raise InputError(f"{label}: the model expects raw counts (non-negative integers, none missing) for this modality")
        library = values.sum(axis=1)
        if (library <= 0).any():
            bad = adata.obs_names[int(np.argmax(library <= 0))]
            raise InputError(f"{label}: sample {bad!r} has no counts; drop it or leave it out of this file")
        target = layout.library_target if layout.library_target else float(np.median(library))
        counts = values[:, columns]
        x = np.log1p(counts / library[:, None] * target)
        layers["counts"] = counts.astype(np.float32)
        info = {"target_sum": target}
    else:
        x = values[:, columns]
        if np.isnan(x).all(axis=0).any():
            feature = layout.feature_names[int(np.argmax(np.isnan(x).all(axis=0)))]
            raise InputError(f"{label}: feature {feature!r} is missing in every sample; it cannot be filled")
        impute_median(x)
        info = {}
        if layout.modality_type == "methylation":
            observed = values[~np.isnan(values)]
            if ((observed >= 0) & (observed <= 1)).all():  # as pp's input="auto": the whole file in [0, 1] is betas
                x = beta_to_mvalue(x, _METHYLATION_EPS)
            layers["beta"] = np.clip(mvalue_to_beta(x), _METHYLATION_EPS, 1 - _METHYLATION_EPS).astype(np.float32)
        else:
            if x.shape[0] < 2:
                raise InputError(
                    f"{label}: a continuous modality is standardised on the samples given (the model keeps no "
                    f"training mean/sd), so it needs at least 2 samples; got {x.shape[0]}"
                )
            info = {"standardised_on": "the samples given"}
            sd = x.std(axis=0)
            mean = x.mean(axis=0)
            x = (x - mean) / np.where(sd <= 1e-10 * np.maximum(1.0, np.abs(mean)), 1.0, sd)
    out = ad.AnnData(X=x.astype(np.float32), obs=adata.obs.copy(), var=adata.var.iloc[columns].copy())
    for key, value in layers.items():
        out.layers[key] = value
    out.uns["omicsdisent"] = {
        **{k: v for k, v in record.items() if k == "source"},
        "modality_type": layout.modality_type,
        "preprocessed": True,
        "preprocessed_like_model": True,
        **info,
    }
    return out


def read_for_model(model_dir, sources: Sequence[str], clinical=None):
    """Load the model in ``model_dir`` and read ``sources`` (paths or NAME=PATH) ready for it.

    Returns ``(model, mdata)``: the IDMVAE (without data) and the aligned MuData with every modality
    transformed by :func:`preprocess_like_model` and clinical columns (``clinical``) in ``obs``.
    """
    from omicsdisent.io import read_modalities
    from omicsdisent.io.readers import split_source
    from omicsdisent.models import IDMVAE

    model = IDMVAE.load(model_dir)
    mdata = read_modalities(list(sources), clinical=clinical, verbose=False)
    named = {}
    for source in sources:
        name, path = split_source(source)
        named[name or _stem_name(path)] = str(path)
    preprocess_like_model(mdata, model, named)
    return model, mdata


def _stem_name(path: Path) -> str:
    from omicsdisent.io.readers import modality_name_from_path

    return modality_name_from_path(Path(path))


def embed_mudata(model, mdata):
    """Put the model's codes of every sample of ``mdata`` into ``mdata.obsm`` and return ``mdata``.

    ``obsm["X_shared"]``: float32 [n_obs, z_dim]; ``obsm["X_private_<m>"]``: float32 [n_obs, w_dim] for
    each model modality, NaN rows where a sample lacks that modality (or the file was not given).
    """
    mdata.obsm["X_shared"] = model.get_latent(kind="shared", mdata=mdata)
    private = model.get_latent(kind="private", mdata=mdata)
    for name in model.modalities:
        mdata.obsm[f"X_private_{name}"] = private[name]
    record = dict(mdata.uns.get("omicsdisent", {}))
    record["embedding"] = {
        "modalities_given": list(mdata.mod),
        "model_modalities": list(model.modalities),
        "z_dim": int(model.config.z_dim),
        "w_dim": int(model.config.w_dim),
    }
    mdata.uns["omicsdisent"] = record
    return mdata


def embedding_tables(mdata) -> dict:
    """``{"shared": DataFrame, "private_<m>": DataFrame}``: a ``sample_id`` column, then one column per dimension."""
    import pandas as pd

    tables = {}
    for key in mdata.obsm:
        if key == "X_shared":
            name, prefix = "shared", "z"
        elif str(key).startswith("X_private_"):
            name, prefix = "private_" + str(key)[len("X_private_"):], "w"
        else:
            continue
        values = np.asarray(mdata.obsm[key])
        frame = pd.DataFrame(values, columns=[f"{prefix}{i + 1}" for i in range(values.shape[1])])
        frame.insert(0, "sample_id", np.asarray(mdata.obs_names, dtype=str))
        tables[name] = frame
    return tables


def parquet_available() -> bool:
    """Whether pyarrow can be imported (parquet copies of the tables are written only then)."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def write_all_or_nothing(out_dir: Path, writers: Mapping[str, Callable[[str], None]], overwrite: bool) -> list[Path]:
    """Write the files ``writers`` names (file name -> function writing to a path) into ``out_dir``.

    Each is written under a temporary name in ``out_dir`` and all are renamed into place only once every
    one is written, so a failure leaves no partial output. Existing files are refused unless ``overwrite``.
    """
    from omicsdisent.errors import InputError

    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir} exists and is a file; expected a folder")
    targets = {name: out_dir / name for name in writers}
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing and not overwrite:
        raise InputError(f"{existing[0]} already exists; pass --force (overwrite=True) to replace it")
    out_dir.mkdir(parents=True, exist_ok=True)
    temporary = {}
    try:
        for name, write in writers.items():
            tmp = str(out_dir / f".{name}.{uuid.uuid4().hex[:8]}.tmp{Path(name).suffix}")
            temporary[name] = tmp
            write(tmp)
        for name, path in targets.items():
            os.replace(temporary[name], path)
    finally:
        for tmp in temporary.values():
            if os.path.exists(tmp):
                os.remove(tmp)
    return list(targets.values())


def check_output_folder(out_dir: Path, names: Sequence[str], overwrite: bool) -> None:
    """Fail before any work when ``out_dir`` is a file or already holds one of ``names`` (without ``overwrite``)."""
    from omicsdisent.errors import InputError

    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir} exists and is a file; expected a folder")
    if not overwrite:
        for name in names:
            if (out_dir / name).exists():
                raise InputError(f"{out_dir / name} already exists; pass --force (overwrite=True) to replace it")


def embed_from_files(model_dir, sources: Sequence[str], out, clinical=None, overwrite: bool = False) -> dict:
    """Embed the samples in ``sources`` with the model in ``model_dir`` and write the results to ``out``.

    Writes ``shared.csv`` and ``private_<m>.csv`` (a ``sample_id`` column, then z1..zK / w1..wK),
    ``embeddings.h5mu`` (the transformed modalities, clinical ``obs``, ``obsm["X_shared"]`` and
    ``obsm["X_private_<m>"]``) and, where pyarrow is installed, ``shared.parquet`` / ``private_<m>.parquet``.
    Returns a summary dict: ``files`` (paths), ``n_samples``, ``samples_per_modality``, ``z_dim``, ``w_dim``.
    """
    out = Path(out)
    check_output_folder(out, ["shared.csv", "embeddings.h5mu"], overwrite)
    model, mdata = read_for_model(model_dir, sources, clinical)
    embed_mudata(model, mdata)
    tables = embedding_tables(mdata)
    parquet = parquet_available()
    writers = {}
    for name, frame in tables.items():
        writers[f"{name}.csv"] = lambda path, frame=frame: frame.to_csv(path, index=False)
        if parquet:
            writers[f"{name}.parquet"] = lambda path, frame=frame: frame.to_parquet(path, index=False)
    writers["embeddings.h5mu"] = mdata.write_h5mu
    files = write_all_or_nothing(out, writers, overwrite)
    from omicsdisent.io import presence_mask

    return {
        "files": [str(p) for p in files],
        "n_samples": int(mdata.n_obs),
        "samples_per_modality": {m: int(v) for m, v in presence_mask(mdata).sum().items()},
        "z_dim": int(model.config.z_dim),
        "w_dim": int(model.config.w_dim),
        "parquet": parquet,
    }


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("model_dir", type=click.Path())
@click.argument("modalities", nargs=-1, required=True, metavar="MOD [MOD ...]")
@click.option("--clinical", type=click.Path(), default=None, help="Clinical table joined into obs (by sample id).")
@click.option("--out", "out", required=True, type=click.Path(), help="Folder to write the embeddings into.")
@click.option("--force", is_flag=True, help="Replace embedding files that already exist in --out.")
def embed(model_dir, modalities, clinical, out, force):
    """Embed samples with a fitted model: shared code z and one private code per modality.

    Each MOD is a raw data file (as given to 'omicsdisent fit'), named after its stem or NAME=PATH;
    samples may be new to the model and may lack some modalities (their private codes are then
    empty). Files are transformed the way the model's training data was, keeping the model's
    features. Writes shared.csv, private_<modality>.csv, embeddings.h5mu (obsm X_shared and
    X_private_<modality>, clinical obs) and, where pyarrow is installed, .parquet copies.

    \b
    Example:
      omicsdisent embed brca_model/ rna=new_rna.csv methyl=new_meth.csv \\
          --clinical clinical.csv --out embeddings/
      omicsdisent report --model brca_model/ --embeddings embeddings/ --out report.html
    """
    summary = embed_from_files(model_dir, list(modalities), out, clinical=clinical, overwrite=force)
    per_mod = ", ".join(f"{m}: {n}" for m, n in summary["samples_per_modality"].items())
    click.echo(f"Embedded {summary['n_samples']} samples ({per_mod}) into {out}")
    click.echo(f"  z: {summary['z_dim']} dimensions; w: {summary['w_dim']} per modality")
    for path in summary["files"]:
        click.echo(f"  wrote {path}")
