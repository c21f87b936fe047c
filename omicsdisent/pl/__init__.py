"""Plots, scanpy style: each function takes data or a result and returns a matplotlib Figure.

Figures are drawn on the Agg canvas without pyplot, so scripts never open windows; pass
``save="file.png"`` (or ``.pdf``) to write one (an existing file is replaced only with
``overwrite=True``).

- :func:`umap`: UMAP of an embedding coloured by an obs column (computes it with ``tl.cluster`` if absent).
- :func:`kaplan_meier`: Kaplan-Meier curves per group with the number at risk, from a SurvivalResult or obs.
- :func:`calibration`: predicted survival at a horizon against Kaplan-Meier per risk group (a SurvivalResult).
- :func:`variance_explained`: bars of the variance (R²) the shared and private codes explain per modality.
- :func:`training_curves`: train and validation loss per term and epoch.
- :func:`probe_heatmap`: disentanglement probe scores (representations x targets).
- :func:`confusion_matrix`: a classifier's confusion matrix.
"""

from omicsdisent.pl.embedding import umap
from omicsdisent.pl.figures import save_figure
from omicsdisent.pl.heatmaps import confusion_matrix, probe_heatmap
from omicsdisent.pl.model import training_curves, variance_explained
from omicsdisent.pl.survival import calibration, calibration_table, kaplan_meier, kaplan_meier_curves

__all__ = [
    "calibration",
    "calibration_table",
    "confusion_matrix",
    "kaplan_meier",
    "kaplan_meier_curves",
    "probe_heatmap",
    "save_figure",
    "training_curves",
    "umap",
    "variance_explained",
]
