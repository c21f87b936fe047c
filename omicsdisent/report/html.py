"""Self-contained HTML: inline CSS, figures as base64 PNG, tables from DataFrames; no scripts, no links out."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0; color: #222; background: #fafafa; }
header { background: #263238; color: #fff; padding: 1.2em 2em; }
header h1 { margin: 0 0 0.3em 0; font-size: 1.6em; }
header p { margin: 0.1em 0; color: #cfd8dc; font-size: 0.9em; }
nav { padding: 0.6em 2em; background: #eceff1; font-size: 0.9em; }
nav a { margin-right: 1.2em; color: #37474f; text-decoration: none; }
main { padding: 0 2em 2em 2em; max-width: 1100px; }
section { background: #fff; border: 1px solid #e0e0e0; border-radius: 6px; margin: 1.2em 0; padding: 0.4em 1.4em 1.2em 1.4em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #eee; padding-bottom: 0.3em; }
figure { margin: 0.8em 0; }
figure img { max-width: 100%; height: auto; }
figcaption { font-size: 0.85em; color: #555; }
table.data { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; }
table.data th, table.data td { border-bottom: 1px solid #e0e0e0; padding: 0.25em 0.7em; text-align: right; }
table.data th { background: #f5f5f5; }
table.data td:first-child, table.data th:first-child { text-align: left; }
p.note { color: #8d6e63; font-style: italic; }
p.metric { font-size: 1.05em; }
"""


def figure_png_base64(figure, dpi: int = 110) -> str:
    """The figure as a PNG, base64-encoded (ASCII text)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def image(figure, alt: str, caption: str | None = None) -> str:
    """An ``<figure>`` with the figure embedded as a data URI."""
    data = figure_png_base64(figure)
    text = f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
    if caption:
        text += f"<figcaption>{html.escape(caption)}</figcaption>"
    return text + "</figure>"


def _cell(value) -> str:
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return "NA"
        magnitude = abs(float(value))
        return f"{value:.3g}" if magnitude and (magnitude < 1e-3 or magnitude >= 1e5) else f"{value:.3f}"
    return str(value)


def table(frame: pd.DataFrame, index: bool = True) -> str:
    """A DataFrame as an HTML table (text escaped, floats to 3 decimals or 3 significant digits)."""
    shown = frame.copy()
    for column in shown.columns:
        shown[column] = shown[column].map(_cell)
    if index:
        shown.index = shown.index.map(str)
    return shown.to_html(classes="data", border=0, index=index, escape=True)


def paragraph(text: str, kind: str | None = None) -> str:
    cls = f' class="{kind}"' if kind else ""
    return f"<p{cls}>{html.escape(text)}</p>"


@dataclass
class Section:
    """One section of the report: an anchor id, a heading and HTML parts in order."""

    anchor: str
    title: str
    parts: list[str] = field(default_factory=list)

    def add(self, part: str) -> None:
        self.parts.append(part)

    def note(self, text: str) -> None:
        self.parts.append(paragraph(text, "note"))

    def render(self) -> str:
        body = "\n".join(self.parts)
        return f'<section id="{self.anchor}">\n<h2>{html.escape(self.title)}</h2>\n{body}\n</section>'


def page(title: str, subtitle_lines: list[str], sections: list[Section]) -> str:
    """The whole HTML document."""
    nav = " ".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in sections)
    subtitle = "\n".join(f"<p>{html.escape(line)}</p>" for line in subtitle_lines)
    body = "\n".join(s.render() for s in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<header>\n<h1>{html.escape(title)}</h1>\n{subtitle}\n</header>\n"
        f"<nav>{nav}</nav>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )
