"""The alignment summary: what was read, what was joined, and what was dropped and why."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Why a sample or clinical row was left out.
DROP_REASONS = {
    "normal_tissue": "normal tissue (sample type 10-19; keep with keep_normal=True / --keep-normal)",
    "duplicate_sample": "another sample of the same patient/sample was kept (primary-tumour rule)",
    "duplicate_clinical_row": "another clinical row with the same id was kept",
    "clinical_without_omics": "clinical row with no sample in any modality",
    "clinical_without_id": "clinical row with an empty id",
}


@dataclass
class DroppedSample:
    """One id left out: ``source`` is a modality name or ``"clinical"``; ``id`` as written in the file."""

    source: str
    id: str
    reason: str
    detail: str = ""


@dataclass
class AlignmentSummary:
    """Counts per modality, the union and complete samples, the clinical join, and every drop.

    ``samples`` and ``features`` map modality -> count after alignment; ``n_union`` is the number of
    samples in any modality and ``n_complete`` the number in all of them.
    """

    level: str
    modalities: list[str]
    samples: dict[str, int]
    features: dict[str, int]
    n_union: int
    n_complete: int
    sources: dict[str, str] = field(default_factory=dict)
    dropped: list[DroppedSample] = field(default_factory=list)
    clinical_source: str = ""
    clinical_rows: int = 0
    clinical_matched: int = 0
    clinical_id_column: str = ""
    survival: str = ""
    n_with_survival_time: int = 0
    n_events: int = 0

    def dropped_counts(self) -> dict[str, int]:
        """Number of dropped ids per reason (keys of :data:`DROP_REASONS`)."""
        counts: dict[str, int] = {}
        for item in self.dropped:
            counts[item.reason] = counts.get(item.reason, 0) + 1
        return counts

    def dropped_in(self, source: str) -> list[DroppedSample]:
        return [item for item in self.dropped if item.source == source]

    def to_dict(self) -> dict:
        """A plain, JSON-able dict; ``dropped`` is stored column-wise so that .h5mu can hold it."""
        return {
            "level": self.level,
            "modalities": list(self.modalities),
            "samples": {k: int(v) for k, v in self.samples.items()},
            "features": {k: int(v) for k, v in self.features.items()},
            "n_union": int(self.n_union),
            "n_complete": int(self.n_complete),
            "sources": dict(self.sources),
            "dropped": {
                "source": [d.source for d in self.dropped],
                "id": [d.id for d in self.dropped],
                "reason": [d.reason for d in self.dropped],
                "detail": [d.detail for d in self.dropped],
            },
            "dropped_counts": self.dropped_counts(),
            "clinical_source": self.clinical_source,
            "clinical_rows": int(self.clinical_rows),
            "clinical_matched": int(self.clinical_matched),
            "clinical_id_column": self.clinical_id_column,
            "survival": self.survival,
            "n_with_survival_time": int(self.n_with_survival_time),
            "n_events": int(self.n_events),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "AlignmentSummary":
        """Inverse of :meth:`to_dict`; accepts the arrays a round trip through .h5mu gives back."""

        def as_list(value):
            return [str(v) for v in np.asarray(value).ravel().tolist()] if value is not None else []

        dropped = data.get("dropped", {})
        columns = [as_list(dropped.get(key, [])) for key in ("source", "id", "reason", "detail")]
        items = [DroppedSample(*row) for row in zip(*columns)] if columns[0] else []
        return cls(
            level=str(data["level"]),
            modalities=as_list(data["modalities"]),
            samples={k: int(v) for k, v in data["samples"].items()},
            features={k: int(v) for k, v in data["features"].items()},
            n_union=int(data["n_union"]),
            n_complete=int(data["n_complete"]),
            sources={k: str(v) for k, v in data.get("sources", {}).items()},
            dropped=items,
            clinical_source=str(data.get("clinical_source", "")),
            clinical_rows=int(data.get("clinical_rows", 0)),
            clinical_matched=int(data.get("clinical_matched", 0)),
            clinical_id_column=str(data.get("clinical_id_column", "")),
            survival=str(data.get("survival", "")),
            n_with_survival_time=int(data.get("n_with_survival_time", 0)),
            n_events=int(data.get("n_events", 0)),
        )

    def __str__(self) -> str:
        return self.format()

    def format(self, max_dropped: int = 20) -> str:
        """The readable table; at most ``max_dropped`` dropped ids are listed one per line."""
        lines = [
            f"Aligned {len(self.modalities)} modalit{'y' if len(self.modalities) == 1 else 'ies'} "
            f"at {self.level} level: "
            f"{self.n_union} samples in the union, {self.n_complete} complete (in every modality)",
            "",
        ]
        rows = [("modality", "samples", "features", "dropped", "source")]
        for mod in self.modalities:
            rows.append((mod, str(self.samples[mod]), str(self.features[mod]),
                         str(len(self.dropped_in(mod))), self.sources.get(mod, "")))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        for row in rows:
            cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in (1, 2, 3)] + [row[4]]
            lines.append("  ".join(cells).rstrip())
        if self.clinical_source:
            lines += [
                "",
                f"clinical: {self.clinical_source}: {self.clinical_rows} rows, {self.clinical_matched} joined "
                f"by column {self.clinical_id_column!r}",
                f"survival: {self.survival}; {self.n_with_survival_time} samples with a time, {self.n_events} events",
            ]
        counts = self.dropped_counts()
        lines += ["", f"dropped: {len(self.dropped)}" + (
            " (" + ", ".join(f"{reason} {n}" for reason, n in counts.items()) + ")" if counts else "")]
        for item in self.dropped[:max_dropped]:
            lines.append(f"  {item.source}: {item.id}: {item.reason}" + (f" ({item.detail})" if item.detail else ""))
        if len(self.dropped) > max_dropped:
            lines.append(f"  ... and {len(self.dropped) - max_dropped} more (AlignmentSummary.dropped)")
        return "\n".join(lines)
