"""The Train tab's Sweep panel in real Chromium: a tiny sweep (the current pipeline and one
preset against no augmentation, synthetic images, width 4, one seed, a fixed one-epoch
schedule) started from the page runs in its own process to its report: the forest plots, the
tied-for-best words, the heat map; its trials are runs named after it; "Use this pipeline"
loads the recommended one into the Augment tab."""

from __future__ import annotations

import contextlib
import os
import signal

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from playground import runs
from tests.test_train_browser import TIMEOUT, App, _fill, _open_train_tab

pytestmark = pytest.mark.slow

RESULTS_JS = """() => ({
  forest: document.querySelectorAll('#sweep-results svg.sweep-forest').length,
  rows: document.querySelector('#sweep-results svg.sweep-forest')?.querySelectorAll('.forest-row')
    .length ?? 0,  // the first plot's: against no augmentation
  tied: document.querySelector('#sweep-results .sweep-tied')?.innerText ?? '',
  heat: !!document.querySelector('#sweep-results table.sweep-heat-map'),
  status: document.querySelector('#sweep-status')?.innerText ?? '',
})"""


@pytest.fixture
def sweep_app(tmp_path):
    app = App(tmp_path / "checkpoints", tmp_path / "app.log")
    app.root.mkdir()
    app.start()
    try:
        yield app
    finally:
        app.stop()
        for folder in runs.sweep_folders(app.root):  # never leave a sweep process behind
            pid = (runs.read_json(folder / "launch.json") or {}).get("pid")
            if runs.sweep_live(folder) and isinstance(pid, int):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)


def _text(page, elem_id: str) -> str:
    return page.evaluate(f"() => document.querySelector('#{elem_id}')?.innerText ?? ''")


def test_a_tiny_sweep_from_the_page_reports_and_its_pipeline_can_be_used(browser, sweep_app):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _open_train_tab(page, sweep_app.url)
        page.locator("#train-dataset").get_by_text("Synthetic").click()
        _fill(page, "train-subset", 64)  # 51 training images, 13 held out for the promotions
        _fill(page, "train-width", 4)
        page.locator("#sweep-box").get_by_text("Sweep: which augmentation helps").click()
        page.locator("#sweep-candidates").get_by_label("d2l-flip", exact=True).check()
        _fill(page, "sweep-seeds", 1)
        _fill(page, "sweep-first-epochs", 1)
        page.click("#sweep-start")
        page.wait_for_function(
            "() => document.querySelector('#sweep-message')?.innerText.includes('Started')",
            timeout=TIMEOUT,
        )
        (folder,) = runs.sweep_folders(sweep_app.root)
        command = runs.read_json(folder / "launch.json")["command"]
        assert command[command.index("--first-epochs") + 1] == "1"
        assert command[command.index("--seeds") + 1] == "1"
        try:
            page.wait_for_function(
                f"() => ({RESULTS_JS})().forest >= 1 && ({RESULTS_JS})().tied.length > 0",
                timeout=2 * TIMEOUT,
            )
        except PlaywrightTimeout:
            log = (folder / runs.LOG_NAME).read_text()[-2000:]
            pytest.fail(f"no report; the panel showed {page.evaluate(RESULTS_JS)}; log:\n{log}")
        shown = page.evaluate(RESULTS_JS)
        assert shown["forest"] == 2 and shown["heat"], shown  # against none, against the best
        assert shown["rows"] == 2, shown  # two candidates against no augmentation
        assert "cannot be told apart" in shown["tied"], shown  # one seed tells none apart
        assert f"{folder.name}: finished" in shown["status"], shown
        # the trials are ordinary runs, named after their sweep
        trials = [r.name for r in runs.list_runs(sweep_app.root)]
        assert len([t for t in trials if t.startswith(f"{folder.name}/r0-")]) == 3, trials

        page.click("#sweep-use")
        page.wait_for_function(
            "() => document.querySelector('#sweep-use-message')?.innerText.includes('Loaded')",
            timeout=TIMEOUT,
        )
        assert "into the Augment tab" in _text(page, "sweep-use-message")
    finally:
        page.close()
