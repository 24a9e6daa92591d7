"""The app in real Chromium: live grid, slider bursts, uploads, pipeline restore, screenshot."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from pipelines.samples import render_samples
from pipelines.spec import default_spec, preset
from playground.images import load_image
from playground.preview import caption

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "docs" / "screenshot.png"
GRID = "#preview-grid img"
TIMEOUT = 20_000  # ms, for any one update to show

# True once the grid holds 8 decoded images whose sources differ from `old` (if given).
GRID_READY_JS = """([sel, old]) => {
  const imgs = [...document.querySelectorAll(sel)];
  return imgs.length === 8 && imgs.every((im) => im.complete && im.naturalWidth > 0) &&
    (old === null || imgs.map((im) => im.src).join() !== old.join());
}"""

# Set a Gradio slider through its range input and fire `input`, as a drag does, once per value:
# all in one task (`frames` false) or one value per animation frame (a ~60 Hz drag).
DRAG_JS = """async ([id, values, frames]) => {
  const range = document.querySelector(`#${id} input[type=range]`);
  if (!range) throw new Error(`no slider #${id}`);  // a drag is an action, not a wait
  for (const value of values) {
    range.value = String(value);
    range.dispatchEvent(new Event("input", { bubbles: true }));
    if (frames) await new Promise(requestAnimationFrame);
  }
}"""


def grid_sources(page) -> list[str]:
    return page.eval_on_selector_all(GRID, "imgs => imgs.map((im) => im.src)")


def grid_captions(page) -> list[str]:
    return page.eval_on_selector_all(
        "#preview-grid figcaption", "caps => caps.map((c) => c.innerText.trim())"
    )


def wait_for_new_grid(page, old: list[str] | None) -> list[str]:
    page.wait_for_function(GRID_READY_JS, arg=[GRID, old], timeout=TIMEOUT)
    return grid_sources(page)


def summary(page) -> str:
    return page.inner_text("#preview-summary").strip()


def expected_captions(**jitter) -> list[str]:
    """The captions the app must show for the cat, seed 0, the default spec with `jitter`."""
    spec = default_spec().with_params("ColorJitter", **jitter)
    samples = render_samples(spec, load_image(ROOT / "assets" / "chelsea.png"), 0)
    return ["\n".join(caption(s)) for s in samples]


# The id of the event handler that `input` on slider `id` triggers, from the page's config.
HANDLER_JS = """(id) => {
  const config = window.gradio_config;
  const slider = config.components.find((c) => c.props && c.props.elem_id === id);
  return config.dependencies.find((d) => d.targets.some(([c, e]) => c === slider.id && e === "input")).id;
}"""


class RenderCounter:
    """Counts the calls of one event handler the page sends, and how many were in flight at once."""

    def __init__(self, page, fn_index: int):
        self.fn_index = fn_index
        self.sent = self.in_flight = self.max_in_flight = 0
        page.on("request", self._request)
        page.on("response", self._done)  # headers arrive before the frontend can send again
        page.on("requestfailed", self._done)

    def _is_render(self, request) -> bool:
        if request.method != "POST" or not request.url.endswith("/run/predict"):
            return False
        return (request.post_data_json or {}).get("fn_index") == self.fn_index

    def _request(self, request):
        if self._is_render(request):
            self.sent += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _done(self, item):
        if self._is_render(getattr(item, "request", item)):
            self.in_flight -= 1

    def reset(self):
        self.sent = self.max_in_flight = 0


def test_app_in_chromium(app_url, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(TIMEOUT)
    page.goto(app_url)
    sources = wait_for_new_grid(page, None)
    renders = RenderCounter(page, page.evaluate(HANDLER_JS, "jitter-hue"))
    assert summary(page).startswith("Input 451 x 300 px -> output 200 x 200 px")

    # The README screenshot: the Augment tab, cat loaded, input preview and grid visible.
    page.wait_for_function(
        "() => { const im = document.querySelector('#input-image img');"
        " return !!(im?.complete && im.naturalWidth > 0); }"
    )
    page.evaluate("document.fonts.ready.then(() => true)")
    page.screenshot(path=str(SCREENSHOT))

    # One slider move re-renders the grid (hue 0.5 -> 0.2; both boxes of the slider agree).
    page.evaluate(DRAG_JS, ["jitter-hue", [0.2], False])
    sources = wait_for_new_grid(page, sources)
    assert page.input_value("#jitter-hue input[type=number]") == "0.2"
    assert grid_captions(page) == expected_captions(hue=0.2)

    # No backlog of stale renders. 30 input events in one burst: coalesced into at most 2
    # renders (one, plus the last deferred one), and the grid shows the final value.
    renders.reset()
    page.evaluate(DRAG_JS, ["jitter-hue", [round(0.1 + i / 100, 2) for i in range(30)], False])
    final = expected_captions(hue=0.39)
    page.wait_for_function(
        "([sel, want]) => JSON.stringify([...document.querySelectorAll(sel)]"
        ".map((c) => c.innerText.trim())) === JSON.stringify(want)",
        arg=["#preview-grid figcaption", final],
    )
    page.wait_for_timeout(500)  # a render still on its way would be counted
    assert renders.sent <= 2, f"30 rapid input events caused {renders.sent} renders"
    # The same 30 values at ~60 Hz, like a drag: never two renders in flight at once (the
    # frontend defers the next one until the current one is back: trigger_mode always_last).
    renders.reset()
    page.evaluate(DRAG_JS, ["jitter-hue", [round(0.39 - i / 100, 2) for i in range(30)], True])
    page.wait_for_function(
        "([sel, want]) => JSON.stringify([...document.querySelectorAll(sel)]"
        ".map((c) => c.innerText.trim())) === JSON.stringify(want)",
        arg=["#preview-grid figcaption", expected_captions(hue=0.1)],
    )
    page.wait_for_timeout(500)
    print(f"30 input events at ~60 Hz -> {renders.sent} renders")
    assert renders.max_in_flight == 1 and 1 <= renders.sent < 30
    sources = wait_for_new_grid(page, None)

    # An uploaded image replaces the cat: new grid, new input caption.
    good = tmp_path / "colours.png"
    red, green = Image.linear_gradient("L"), Image.radial_gradient("L")
    Image.merge("RGB", (red, green, red.rotate(90))).resize((320, 240)).save(good)
    page.set_input_files("#upload input[type=file]", good)
    page.wait_for_function(
        "() => document.querySelector('#preview-summary')?.innerText.includes('Input 320 x 240')"
    )
    sources = wait_for_new_grid(page, sources)
    assert "Input: 320 x 240 px" in page.inner_text("#input-image")

    # A corrupt file: a clear message, the previous image and grid kept, the server still up.
    bad = tmp_path / "corrupt.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    page.click("#upload button[aria-label=Clear]")
    page.set_input_files("#upload input[type=file]", bad)
    page.wait_for_function(
        "() => document.querySelector('#preview-summary')?.innerText.trim().startsWith('⚠️')"
    )
    assert "previous image is kept" in summary(page)
    assert grid_sources(page) == sources
    page.evaluate(DRAG_JS, ["jitter-hue", [0.3], False])
    sources = wait_for_new_grid(page, sources)
    assert summary(page).startswith("Input 320 x 240 px")

    # A pipeline file in the Export tab restores every control and the exported code.
    pipeline = tmp_path / "flip.json"
    pipeline.write_text(preset("d2l-flip").to_json())
    page.get_by_role("tab", name="Export").click()
    page.set_input_files("#pipeline-upload input[type=file]", pipeline)
    code = "#export-code .cm-content"
    page.wait_for_function(
        f"() => document.querySelector('{code}')?.innerText.includes('RandomResizedCrop') === false"
    )
    assert "v2.RandomHorizontalFlip(p=0.5)" in page.inner_text(code)
    assert not page.is_checked("#rrc-enabled input[type=checkbox]")
    assert not page.is_checked("#jitter-enabled input[type=checkbox]")
    assert page.is_checked("#hflip-enabled input[type=checkbox]")
    page.get_by_role("tab", name="Augment").click()
    wait_for_new_grid(page, sources)
    assert "Order: RandomHorizontalFlip." in summary(page)
    page.close()
