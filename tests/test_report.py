"""The HTML report: every section, self-contained, and it renders in headless Chromium without errors."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from html.parser import HTMLParser
from pathlib import Path

import mudata as md
import pytest
from click.testing import CliRunner

from omicsdisent.cli import main
from omicsdisent.datasets.simulate import write_simulated_cohort

CHROMIUM = "/usr/bin/chromium"
SECTIONS = ["overview", "training", "umap", "classification", "survival", "variance", "features", "probes"]
FAST_FIT = ["--epochs", "2", "--z-dim", "3", "--w-dim", "2", "--batch-size", "32", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Fit a tiny model, embed a new cohort (some samples lack a modality) and write the report via the CLI."""
    root = tmp_path_factory.mktemp("report")
    train = write_simulated_cohort(root / "train", n_samples=60, n_features=25, seed=5)
    new = write_simulated_cohort(root / "new", n_samples=50, n_features=25, missing_fraction=0.2, seed=6)
    runner = CliRunner()
    fit = runner.invoke(main, ["fit", str(train["rna"]), str(train["methyl"]), "--out", str(root / "model"), *FAST_FIT])
    assert fit.exit_code == 0, fit.output
    embed = runner.invoke(main, ["embed", str(root / "model"), str(new["rna"]), str(new["methyl"]),
                                 "--clinical", str(new["clinical"]), "--out", str(root / "emb")])
    assert embed.exit_code == 0, embed.output
    out = root / "report.html"
    report = runner.invoke(main, ["report", "--model", str(root / "model"), "--embeddings", str(root / "emb"),
                                  "--label", "subtype", "--cv", "3", "--out", str(out)])
    return {"root": root, "model": root / "model", "emb": root / "emb", "out": out, "result": report}


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.sections, self.images, self.notes = [], [], [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "section":
            self.sections.append(attrs.get("id"))
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag == "p" and attrs.get("class") == "note":
            self.notes += 1


def test_report_command_prints_where_the_report_is(run):
    result = run["result"]
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"Report written to {run['out'].resolve()}"


def test_report_has_every_section_with_embedded_png_figures_and_nothing_external(run):
    text = run["out"].read_text(encoding="utf-8")
    parsed = _Collector()
    parsed.feed(text)
    assert parsed.sections == SECTIONS
    assert parsed.notes == 0  # every analysis ran on this data
    # training curves, UMAP, confusion matrix, Kaplan-Meier, calibration, variance explained, probes
    assert len(parsed.images) == 7
    for src in parsed.images:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        assert base64.b64decode(src[len(prefix):])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not {"script", "link", "iframe", "object"} & set(parsed.tags)
    assert not re.search(r"(?:src|href)=\"(?!data:|#)", text)
    assert "http://" not in text and "https://" not in text and "@import" not in text and "url(" not in text
    for expected in ("C-index", "Hazard ratios", "balanced_accuracy", "majority-class baseline", "r2_shared", "top 5 features"):
        assert expected in text


def test_report_refuses_to_overwrite_and_rejects_a_missing_label(run, tmp_path):
    before = run["out"].read_bytes()
    args = ["report", "--model", str(run["model"]), "--embeddings", str(run["emb"])]
    result = CliRunner().invoke(main, [*args, "--out", str(run["out"])])
    assert result.exit_code == 1 and "already exists" in result.output and "--force" in result.output
    assert run["out"].read_bytes() == before
    result = CliRunner().invoke(main, [*args, "--label", "PAM50", "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --label 'PAM50': no such column") and "subtype" in lines[0]
    assert not (tmp_path / "r.html").exists()


def test_report_rejects_embeddings_of_another_model_and_wrong_paths(run, tmp_path):
    mdata = md.read_h5mu(run["emb"] / "embeddings.h5mu")
    rna = mdata.mod["rna"]
    rna.var_names = [f"other_{i}" for i in range(rna.n_vars)]
    mdata.write_h5mu(tmp_path / "other.h5mu")
    result = CliRunner().invoke(main, ["report", "--model", str(run["model"]), "--embeddings", str(tmp_path / "other.h5mu"),
                                       "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 1
    line = result.output.strip()
    assert line.startswith("Error: embeddings modality 'rna' has 25 features") and "another model" in line
    result = CliRunner().invoke(main, ["report", "--model", str(run["model"]), "--embeddings", str(tmp_path / "none"),
                                       "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 1 and "Error: --embeddings" in result.output and "none" in result.output
    assert not (tmp_path / "r.html").exists()


# --- headless Chromium, driven over the DevTools protocol on a pipe (fds 3 and 4), standard library only


class _DevTools:
    """A Chromium started with ``--remote-debugging-pipe``; commands and events as JSON, NUL-separated."""

    def __init__(self, user_data_dir: Path):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def attach_pipes():  # in the child: its fd 3 reads our commands, fd 4 writes its replies
            read_end = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            write_end = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        self.process = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={user_data_dir}", "--enable-logging=stderr", "--v=0", "--remote-debugging-pipe",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=attach_pipes, close_fds=False,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._messages: queue.Queue = queue.Queue()
        self.events: list[dict] = []
        self._next_id = 0
        self._stderr: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self._stderr.extend(self.process.stderr), daemon=True).start()

    def _read(self):
        buffer = b""
        while chunk := os.read(self._from_browser, 65536):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for message in messages:
                self._messages.put(json.loads(message))

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30.0) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._messages.get(timeout=max(0.1, deadline - time.monotonic()))
            if reply.get("id") == self._next_id:
                assert "error" not in reply, reply
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30.0) -> dict:
        for event in self.events:
            if event.get("method") == method:
                return event
        deadline = time.monotonic() + timeout
        while True:
            event = self._messages.get(timeout=max(0.1, deadline - time.monotonic()))
            self.events.append(event)
            if event.get("method") == method:
                return event

    def close(self) -> str:
        try:
            self.send("Browser.close", timeout=10)
        except (queue.Empty, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        return b"".join(self._stderr).decode(errors="replace")


def render_in_chromium(path: Path, user_data_dir: Path) -> dict:
    """Open ``path`` in headless Chromium; return its sections, image sizes and every console error."""
    browser = _DevTools(user_data_dir)
    try:
        targets = browser.send("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        session = browser.send("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            browser.send(f"{domain}.enable", session=session)
        browser.events.clear()
        browser.send("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
        browser.wait_for("Page.loadEventFired")
        probe = ("JSON.stringify({sections: Array.from(document.querySelectorAll('section')).map(s => s.id),"
                 " images: Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight]),"
                 " title: document.title})")
        value = browser.send("Runtime.evaluate", {"expression": probe, "returnByValue": True}, session=session)
        page_state = json.loads(value["result"]["value"])
    finally:
        stderr = browser.close()
    errors = []
    for event in browser.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(f"console.{params['type']}: {params.get('args')}")
        elif method == "Runtime.exceptionThrown":
            errors.append(f"exception: {params.get('exceptionDetails', {}).get('text')}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            errors.append(f"log: {params['entry'].get('text')}")
    errors += [line for line in stderr.splitlines() if "CONSOLE" in line]
    return {**page_state, "errors": errors}


# Under CI (.ci/run installs Chromium) a missing browser is a failure, not a skip.
needs_chromium = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None and os.environ.get("CI", "").lower() != "true",
    reason=f"{CHROMIUM} not installed (apt-get install -y chromium chromium-driver)",
)


@needs_chromium
def test_chromium_check_catches_console_errors_and_broken_images(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><title>bad</title></head><body><section id="a"></section>'
                   '<img src="data:image/png;base64,AAAA"><script>console.error("broken on purpose")</script></body></html>')
    state = render_in_chromium(bad, tmp_path / "profile")
    assert state["sections"] == ["a"]
    assert state["images"][0][1] == 0
    assert any("broken on purpose" in error for error in state["errors"])


@needs_chromium
def test_report_renders_in_headless_chromium_without_console_errors(run, tmp_path):
    state = render_in_chromium(run["out"], tmp_path / "profile")
    assert state["errors"] == []
    assert state["title"] == "omicsdisent report"
    assert state["sections"] == SECTIONS
    assert len(state["images"]) == 7
    for complete, width, height in state["images"]:
        assert complete and width > 0 and height > 0


def test_report_on_bare_embeddings_says_which_analyses_need_what(run, tmp_path):
    import anndata as ad

    from omicsdisent.report import build_report

    embedded = md.read_h5mu(run["emb"] / "embeddings.h5mu")
    bare = ad.AnnData(obs=embedded.obs[[]].copy())  # no label, no survival, no modalities
    bare.obsm["X_shared"] = embedded.obsm["X_shared"]
    bare.write_h5ad(tmp_path / "bare.h5ad")
    path = build_report(run["model"], tmp_path / "bare.h5ad", tmp_path / "bare.html")
    parsed = _Collector()
    parsed.feed(path.read_text(encoding="utf-8"))
    assert parsed.sections == SECTIONS
    assert len(parsed.images) == 2  # training curves and the UMAP (coloured by Leiden cluster)
    text = path.read_text(encoding="utf-8")
    assert "No label column (pass --label; PAM50 is not in obs)" in text
    assert "No survival columns" in text and "holds no modalities" in text
