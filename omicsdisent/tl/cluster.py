"""Leiden clusters and a UMAP of an embedding (scanpy on the chosen representation)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd

from omicsdisent.errors import InputError
from omicsdisent.tl.embeddings import embedding_matrix, set_obs, uns_safe

_WORK_KEY = "X_rep"


@dataclass
class ClusterResult:
    """What :func:`cluster` found.

    ``labels``: Leiden cluster per clustered sample (categorical ``"0"``, ``"1"``, ... by decreasing
    size, as scanpy names them); ``umap``: float32 [n_obs, 2] in ``data.obs_names`` order (NaN rows
    for dropped samples); ``sizes``: samples per cluster. ``n_dropped``: samples without a finite
    embedding row, which get no cluster.
    """

    rep: list[str]
    key_added: str
    labels: pd.Series
    umap: np.ndarray
    resolution: float
    n_neighbors: int
    seed: int
    n_dropped: int

    @property
    def n_clusters(self) -> int:
        return int(self.labels.cat.categories.size)

    @property
    def sizes(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.labels.value_counts(sort=False).items()}

    def to_dict(self) -> dict:
        """Parameters, the number of clusters and their sizes (not the per-sample labels)."""
        return {
            "rep": list(self.rep),
            "key_added": self.key_added,
            "resolution": float(self.resolution),
            "n_neighbors": int(self.n_neighbors),
            "seed": int(self.seed),
            "n_samples": int(self.labels.size),
            "n_dropped": int(self.n_dropped),
            "n_clusters": self.n_clusters,
            "sizes": self.sizes,
            "method": "scanpy neighbors (euclidean on the embedding) -> Leiden (igraph, modularity) and UMAP",
        }


def cluster(
    data: md.MuData | ad.AnnData,
    rep: str | Sequence[str] = "X_shared",
    resolution: float = 1.0,
    n_neighbors: int = 15,
    seed: int = 0,
    key_added: str = "leiden",
) -> ClusterResult:
    """Leiden clustering and a 2-d UMAP of the embedding ``rep``.

    Runs ``scanpy.pp.neighbors(use_rep=...)`` (``n_neighbors``), ``scanpy.tl.leiden`` (igraph's
    implementation, modularity, ``resolution``; higher gives more clusters) and ``scanpy.tl.umap`` on
    an AnnData that carries only obs and the embedding, then writes back to ``data``:
    ``obs[key_added]`` (categorical cluster; NaN for samples whose embedding row has NaN),
    ``obsm["X_umap"]`` (float32 [n_obs, 2], NaN rows for those samples) and ``uns[key_added]`` (the
    summary). For a MuData these go into ``mdata.obs``/``mdata.obsm``. ``seed`` fixes both Leiden and
    UMAP: the same seed gives the same result on CPU.
    """
    import scanpy as sc

    if not (isinstance(resolution, (int, float, np.number)) and not isinstance(resolution, bool)
            and np.isfinite(resolution) and resolution > 0):
        raise InputError(f"resolution={resolution!r}: expected a positive number")
    if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, (int, np.integer)) or n_neighbors < 2:
        raise InputError(f"n_neighbors={n_neighbors!r}: expected an integer >= 2")
    if not isinstance(key_added, str) or not key_added:
        raise InputError(f"key_added={key_added!r}: expected a non-empty obs column name")
    matrix, keys, _ = embedding_matrix(data, rep)
    keep = ~np.isnan(matrix).any(axis=1)
    n_kept = int(keep.sum())
    if n_kept <= n_neighbors:
        raise InputError(
            f"cluster: {n_kept} samples with a finite embedding; n_neighbors={n_neighbors} needs more"
        )
    work = ad.AnnData(obs=pd.DataFrame(index=data.obs_names[keep].copy()))
    work.obsm[_WORK_KEY] = matrix[keep].astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba / umap chatter, not about the user's input
        sc.pp.neighbors(work, n_neighbors=n_neighbors, use_rep=_WORK_KEY, random_state=seed)
        sc.tl.leiden(work, resolution=resolution, random_state=seed, key_added="cluster",
                     flavor="igraph", n_iterations=2, directed=False)
        sc.tl.umap(work, random_state=seed)

    labels = work.obs["cluster"].astype("category")
    umap = np.full((data.n_obs, 2), np.nan, dtype=np.float32)
    umap[keep] = work.obsm["X_umap"]
    result = ClusterResult(
        rep=keys,
        key_added=key_added,
        labels=labels.rename(key_added),
        umap=umap,
        resolution=float(resolution),
        n_neighbors=int(n_neighbors),
        seed=int(seed),
        n_dropped=int(data.n_obs - n_kept),
    )
    set_obs(data, key_added, result.labels)
    data.obsm["X_umap"] = umap
    data.uns[key_added] = uns_safe(result.to_dict())
    return result
