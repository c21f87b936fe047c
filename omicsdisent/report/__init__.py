"""The HTML report: one self-contained file with a model's training curves and the analyses of its embeddings.

    >>> from omicsdisent.report import build_report
    >>> build_report("model/", "embeddings/", "report.html", label="PAM50")
"""

from omicsdisent.report.build import build_report, check_features

__all__ = ["build_report", "check_features"]
