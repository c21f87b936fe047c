"""Analysis on embeddings (scanpy's ``tl``): classification, survival, clusters, decoders, probes.

API changes (newest first; ``pl``/``report`` build on these names and keys):

- ``survival`` gains ``endpoint=`` (TCGA-CDR OS/PFI/DSS/DFI) and ``horizons=``; its result gains
  ``endpoint``, ``metrics``, ``skipped``, ``horizons``, ``survival_at``, ``times`` and ``blocks``, and
  ``per_fold`` the columns ``uno_c``, ``auc_<h>y`` and ``ibs`` (JSON: ``metrics``, ``metrics_skipped``,
  ``horizons_years``, ``blocks``).
- ``read_embeddings`` also takes the folder ``omicsdisent embed`` writes (reads its embeddings.h5mu).
- In ``uns`` copies of results, "/" in keys and table columns becomes "_" (h5 group separator);
  the result objects themselves keep the original names.

Every function takes the MuData/AnnData holding the embeddings (``obsm["X_shared"]``,
``obsm["X_private_<modality>"]``), writes its results under documented keys and returns a result
dataclass with ``to_dict()`` (JSON-able) and its tables as DataFrames:

- ``classify(data, label, rep, cv, seed, key_added, C)`` -> ``ClassificationResult``; writes
  ``obs[f"{key}_prediction"]`` and ``uns[key]`` (key default ``f"classify_{label}"``).
- ``survival(data, time, event, rep, cv, penalizer, l1_ratio, groups, n_clusters, seed, key_added,
  endpoint, horizons)`` -> ``SurvivalResult`` (held-out Harrell's and Uno's C, AUC at horizons, integrated Brier
  score in ``metrics``; ``blocks``; ``survival_at``); writes ``obs[f"{key}_risk"]``,
  ``obs[f"{key}_risk_group"]`` and ``uns[key]`` (key default ``"survival"``). ``survival_metrics``
  holds the metric functions.
- ``cluster(data, rep, resolution, n_neighbors, seed, key_added)`` -> ``ClusterResult``; writes
  ``obs[key]`` (default ``"leiden"``), ``obsm["X_umap"]`` and ``uns[key]``.
- ``variance_explained(model, data, key_added)`` -> ``VarianceExplained``; writes
  ``uns["variance_explained"]``.
- ``feature_associations(model, data, n_top, key_added)`` -> ``FeatureAssociations``; writes
  ``uns["feature_associations"]``.
- ``disentanglement_probes(data, shared_labels, private_labels, cv, seed, key_added)`` ->
  ``ProbeResult``; writes ``uns["disentanglement_probes"]``.

``rep`` selects the representation: ``"X_shared"``, ``"X_private_<m>"``, ``"both"`` (X_shared with
every X_private_*) or a list of obsm keys. ``read_embeddings(path, clinical=...)`` reads an
``embeddings.h5mu``/``.h5ad`` and joins a clinical table. A seed fixes every result on CPU.

    >>> import omicsdisent as od
    >>> res = od.tl.classify(mdata, "PAM50", rep="X_shared")
    >>> res.metrics["accuracy"], res.baseline_accuracy, res.confusion
    >>> surv = od.tl.survival(mdata, rep="both")
    >>> surv.c_index, surv.hazard_ratios, surv.km, surv.logrank_p
"""

from __future__ import annotations

from omicsdisent.tl.classify import ClassificationResult, classify
from omicsdisent.tl.cluster import ClusterResult, cluster
from omicsdisent.tl.decoder_analysis import (
    FeatureAssociations,
    VarianceExplained,
    feature_associations,
    variance_explained,
)
from omicsdisent.tl.embeddings import embedding_keys, embedding_matrix, read_embeddings, resolve_rep
from omicsdisent.tl.probes import ProbeResult, disentanglement_probes
from omicsdisent.tl.survival import SurvivalResult, survival

__all__ = [
    "ClassificationResult",
    "ClusterResult",
    "FeatureAssociations",
    "ProbeResult",
    "SurvivalResult",
    "VarianceExplained",
    "classify",
    "cluster",
    "disentanglement_probes",
    "embedding_keys",
    "embedding_matrix",
    "feature_associations",
    "read_embeddings",
    "resolve_rep",
    "survival",
    "variance_explained",
]
