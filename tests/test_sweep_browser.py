"""The Train tab's Sweep panel in real Chromium: a tiny sweep (two presets against no
augmentation, synthetic images, width 4, one seed, a fixed one-epoch
schedule) started from the page runs in its own process to its report: the forest plots, the
tied-for-best words, the heat map; its trials are runs named after it; "Use this pipeline"
loads the recommended one into the Augment tab and shows that tab. A strength ladder picked
through the panel's dropdowns is counted by the estimate."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from pipelines.spec import load
from playground import runs
from playground.controls import step_views
from playground.jobs import sweeps
from tests.browser_app import TIMEOUT, fill, open_train_tab, pick, running

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
    root = tmp_path / "checkpoints"
    root.mkdir()
    with running(root, tmp_path / "app.log") as app:
        yield app


# The ladder pickers: the parameter shown and the values.
LADDER_JS = """() => ({
  param: document.querySelector('#sweep-ladder-param input')?.value ?? '',
  values: document.querySelector('#sweep-ladder-values textarea, #sweep-ladder-values input')
    ?.value ?? '',
})"""

# The tab shown, whether each tab's panel is visible, the editor's step titles, the grid's images.
AUGMENT_JS = """() => ({
  selected: document.querySelector('[role=tab][aria-selected=true]')?.innerText?.trim() ?? '',
  augment: !!document.querySelector('#augment-tab')?.checkVisibility(),
  train: !!document.querySelector('#train-tab')?.checkVisibility(),
  titles: [...document.querySelectorAll('#augment-tab .step-title:not(.step-title .step-title)')]
    .map((t) => t.innerText.trim()),  // (Gradio puts the class on a block and its prose both)
  images: document.querySelectorAll('#augment-tab #preview-grid img').length,
})"""


def _text(page, elem_id: str) -> str:
    return page.evaluate(f"() => document.querySelector('#{elem_id}')?.innerText ?? ''")


def test_a_tiny_sweep_from_the_page_reports_and_its_pipeline_can_be_used(browser, sweep_app):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        open_train_tab(page, sweep_app.url)
        page.locator("#train-dataset").get_by_text("Synthetic").click()
        fill(page, "train-subset", 64)  # 51 training images, 13 held out for the promotions
        fill(page, "train-width", 4)
        page.locator("#sweep-box").get_by_text("Sweep: which augmentation helps").click()
        # two presets: the one "Use this pipeline" loads is then never the Augment tab's own
        candidates = page.locator("#sweep-candidates")
        candidates.get_by_label(sweeps.CURRENT, exact=True).uncheck()
        for name in ("d2l-flip", "cifar-standard"):
            candidates.get_by_label(name, exact=True).check()
        fill(page, "sweep-seeds", 1)
        fill(page, "sweep-first-epochs", 1)
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
                # the report can show a poll before the status says the sweep finished
                f"() => ({RESULTS_JS})().forest >= 1 && ({RESULTS_JS})().tied.length > 0"
                f" && ({RESULTS_JS})().status.includes('{folder.name}: finished')",
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

        # a strength ladder of the current pipeline picked through the dropdowns: ColorJitter's
        # brightness prefilled, then its hue; the estimate counts its four candidates
        pick(page, "sweep-ladder-step", "3. Colour jitter · ColorJitter")
        page.wait_for_function(f"() => ({LADDER_JS})().values === '0,0.25,0.5,1'", timeout=TIMEOUT)
        assert page.evaluate(LADDER_JS)["param"] == "Brightness · brightness"
        pick(page, "sweep-ladder-param", "Hue · hue")
        page.wait_for_function(
            f"() => ({LADDER_JS})().values === '0,0.05,0.1,0.2'", timeout=TIMEOUT
        )
        page.click("#sweep-estimate-btn")
        page.wait_for_function(
            "() => /Estimate|No estimate/.test(document.querySelector('#sweep-estimate')?.innerText)",
            timeout=TIMEOUT,
        )
        estimate = _text(page, "sweep-estimate")
        # none, the two presets and the ladder's four: 7 on the first rung
        assert re.search(r"rung\(s\) of 7\b", estimate), estimate

        # "Use this pipeline": the recommended one is loaded and the Augment tab shown with it
        used = load(
            folder / "candidates" / f"{runs.read_json(folder / 'sweep.json')['report']['use']}.json"
        )
        titles = [view.title for view in step_views(used)]
        page.click("#sweep-use")
        try:
            page.wait_for_function(
                f"() => {json.dumps(titles)}.join('|') === ({AUGMENT_JS})().titles.join('|')",
                timeout=TIMEOUT,
            )
        except PlaywrightTimeout:
            pytest.fail(f"want the steps {titles}; the page showed {page.evaluate(AUGMENT_JS)}")
        shown = page.evaluate(AUGMENT_JS)
        assert shown["selected"] == "Augment" and shown["augment"] and not shown["train"], shown
        page.wait_for_function(f"() => ({AUGMENT_JS})().images === 8", timeout=TIMEOUT)
        assert "into the Augment tab" in _text(page, "sweep-use-message")
    finally:
        page.close()
