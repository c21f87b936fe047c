"""The documentation stays true: the CLI reference matches the commands, and relative links resolve."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "make-cli-reference.py"
DOCS = sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md"]

# [text](target) and ![alt](target), with an optional "title"; code spans and fences are removed first.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")


def _reference_script():
    spec = importlib.util.spec_from_file_location("make_cli_reference", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def relative_links(markdown: str, with_anchors: bool = False) -> list:
    """Link targets in ``markdown`` that point into the repository (no scheme, no bare #anchor).

    Paths only, or with ``with_anchors`` (path, anchor or None) pairs.
    """
    text = CODE_SPAN.sub("", FENCE.sub("", markdown))
    targets = []
    for target in LINK.findall(text):
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("#"):
            continue
        path, _, anchor = target.partition("#")
        targets.append((unquote(path), anchor or None) if with_anchors else unquote(path))
    return targets


def heading_anchors(markdown: str) -> set[str]:
    """GitHub-style anchors of the headings: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", FENCE.sub("", markdown), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_cli_reference_matches_the_commands_help():
    reference = _reference_script()
    _, generated = reference.split_document((REPO / "docs" / "cli.md").read_text(encoding="utf-8"))
    assert generated == reference.render(), (
        "docs/cli.md is out of date with the click commands; run: python scripts/make-cli-reference.py"
    )


def test_cli_reference_documents_every_command_and_option():
    from omicsdisent.cli import COMMANDS, _load

    text = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    for name in COMMANDS:
        command = _load(name)
        assert f"### `omicsdisent {name}`" in text
        for param in command.params:
            for opt in param.opts:
                if opt.startswith("-"):
                    assert opt in text, f"option {opt} of 'omicsdisent {name}' missing from docs/cli.md"


def test_cli_reference_check_mode_fails_on_a_stale_file(tmp_path, monkeypatch):
    reference = _reference_script()
    stale = tmp_path / "cli.md"
    intro, generated = reference.split_document((REPO / "docs" / "cli.md").read_text(encoding="utf-8"))
    stale.write_text(intro + generated.replace("--force", "--forse", 1), encoding="utf-8")
    monkeypatch.setattr(reference, "CLI_MD", stale)
    assert reference.main(["--check"]) == 1
    # Without --check it rewrites the generated part and keeps the hand-written introduction.
    assert reference.main([]) == 0
    assert stale.read_text(encoding="utf-8") == intro + reference.render()
    assert reference.main(["--check"]) == 0


def test_cli_reference_script_does_not_import_torch():
    code = (
        "import runpy, sys; runpy.run_path(sys.argv[1], run_name='not_main')['render'](); "
        "print('torch' in sys.modules, 'scanpy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(SCRIPT)], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_link_finder_sees_links_and_images_but_not_code():
    markdown = (
        "See [the guide](python-guide.md#fit) and ![km](figures/km.png \"KM\").\n"
        "`[not](code.md)` and [web](https://example.org) and [here](#top).\n"
        "```\n[fenced](fenced.md)\n```\n"
    )
    assert relative_links(markdown) == ["python-guide.md", "figures/km.png"]
    assert relative_links(markdown, with_anchors=True) == [("python-guide.md", "fit"), ("figures/km.png", None)]


def test_heading_anchors_follow_github_slugs():
    markdown = "# Python guide\n## The model folder (`models.persistence`)\n```\n# not a heading\n```\n"
    assert heading_anchors(markdown) == {"python-guide", "the-model-folder-modelspersistence"}


@pytest.mark.parametrize("page", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_point_at_existing_files(page):
    missing = [
        target for target in relative_links(page.read_text(encoding="utf-8"))
        if not (page.parent / target).exists()
    ]
    assert not missing, f"{page.relative_to(REPO)} links to files that do not exist: {missing}"


@pytest.mark.parametrize("page", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_anchors_into_markdown_pages_name_existing_headings(page):
    broken = []
    for target, anchor in relative_links(page.read_text(encoding="utf-8"), with_anchors=True):
        linked = page.parent / target
        is_page = anchor is not None and linked.suffix == ".md" and linked.is_file()
        if is_page and anchor not in heading_anchors(linked.read_text(encoding="utf-8")):
            broken.append(f"{target}#{anchor}")
    assert not broken, f"{page.relative_to(REPO)} links to headings that do not exist: {broken}"
