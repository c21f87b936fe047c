"""Analysis on embeddings (scanpy's ``tl``): classification, survival, clusters, decoders, probes.

API changes (newest first; ``pl``/``report`` build on these names and keys):

- (none since the first version)

Every function takes the MuData/AnnData holding the embeddings (``obsm["X_shared"]``,
``obsm["X_private_<modality>"]``), writes its results under documented keys and returns a result
dataclass with ``to_dict()`` (JSON-able) and its tables as DataFrames:

=================================  ==============================================  =======================
function                           writes                                          returns
=================================  ==============================================  =======================
``classify(data, label, ...)``     ``obs[f"{key}_prediction"]``, ``uns[key]``      ``ClassificationResult``
                                   (key default ``f"classify_{label}"``)
``survival(data, ...)``            ``obs[f"{key}_risk"]``,                         ``SurvivalResult``
                                   ``obs[f"{key}_risk_group"]``, ``uns[key]``
                                   (key default ``"survival"``)
``cluster(data, ...)``             ``obs[key]`` (default ``"leiden"``),            ``ClusterResult``
                                   ``obsm["X_umap"]``, ``uns[key]``
``variance_explained(model, ...)`` ``uns["variance_explained"]``                   ``VarianceExplained``
``feature_associations(model,..)`` ``uns["feature_associations"]``                 ``FeatureAssociations``
``disentanglement_probes(data,..)````uns["disentanglement_probes"]``               ``ProbeResult``
=================================  ==============================================  =======================

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
