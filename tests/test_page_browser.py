"""What only a browser shows of issue 17's "Words on the page": the desktop grid kept in view,
the step buttons' glyphs and names, a refused upload leaving its box, the first batch's
gallery fitting its column. Against `python app.py` in Chromium (fixtures in conftest.py)."""

from __future__ import annotations

import pytest

from pipelines.spec import make
from playground.ui.sharing import share_query

pytestmark = pytest.mark.slow

TIMEOUT = 20_000  # ms, for any one update to show
PREVIEW_TIMEOUT = 240_000  # ms: Preview & estimate times training steps, slow on a busy CPU

# Six steps: the editor runs far below the first screen.
SIX_STEPS = make(
    [
        ("RandomHorizontalFlip", {}),
        ("RandomResizedCrop", {}),
        ("ColorJitter", {}),
        ("GaussianBlur", {}),
        ("RandomRotation", {}),
        ("RandomGrayscale", {}),
    ]
)
BOX_JS = """(sel) => { const r = document.querySelector(sel)?.getBoundingClientRect();
  return r ? [r.top, r.bottom] : null; }"""


def test_on_a_desktop_the_grid_stays_in_view_while_editing_lower_steps(app_url, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(TIMEOUT)
    page.goto(app_url + share_query(SIX_STEPS, 0))
    page.wait_for_selector("#gray-p input[type=range]")
    page.wait_for_selector("#preview-grid img")
    for control in ("#blur-kernel-size", "#rotate-degrees", "#gray-p"):  # steps 4, 5, 6
        page.eval_on_selector(control, "(e) => e.scrollIntoView({ block: 'center' })")
        page.wait_for_timeout(200)
        grid_top, grid_bottom = page.evaluate(BOX_JS, "#preview-grid")
        top, bottom = page.evaluate(BOX_JS, control)
        assert page.evaluate("() => window.scrollY") > 600  # scrolled well past the grid's place
        assert 0 <= grid_top <= 10 and grid_bottom <= 1000, (control, grid_top, grid_bottom)
        assert top >= 0 and bottom <= 1000  # and the control being edited is on screen too
    page.close()


# For each step button: its text, whether each character is drawn with a real glyph (not the
# empty box of a font without it: the same pixels as a code point no font has), its name.
BUTTONS_JS = r"""() => {
  const canvas = document.createElement('canvas');
  canvas.width = 64; canvas.height = 64;
  const pen = canvas.getContext('2d');
  const draw = (text) => {
    pen.clearRect(0, 0, 64, 64); pen.fillText(text, 8, 40);
    return pen.getImageData(0, 0, 64, 64).data.join(',');
  };
  return [...document.querySelectorAll('.pipeline-step button[id]')].map((b) => {
    const style = getComputedStyle(b);
    pen.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    const none = draw('\u{10FFFD}');
    const text = b.innerText.trim();
    return {id: b.id, text, drawn: [...text].every((c) => draw(c) !== none),
            label: b.getAttribute('aria-label'), title: b.title};
  });
}"""


def test_step_buttons_are_drawn_and_named(app_url, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(TIMEOUT)
    page.goto(app_url)
    page.wait_for_selector("#jitter-remove")
    page.wait_for_function(
        "() => document.querySelector('#jitter-remove')?.getAttribute('aria-label')"
    )
    buttons = {b["id"]: b for b in page.evaluate(BUTTONS_JS)}
    assert len(buttons) == 12  # 3 steps, 4 buttons each
    for b in buttons.values():
        assert b["text"] and b["drawn"], b  # "⧉" drew as an empty box
        assert b["label"] and b["label"] == b["title"], b
    assert buttons["hflip-up"]["label"] == "Move step 1 (Horizontal flip) up"
    assert buttons["rrc-duplicate"]["label"] == "Duplicate step 2 (Random resized crop)"
    assert buttons["jitter-remove"]["label"] == "Remove step 3 (Colour jitter)"
    # the list redrawn (a step removed): the buttons drawn anew are named by their new place
    page.click("#hflip-remove")
    page.wait_for_function(
        "() => document.querySelector('#jitter-remove')?.getAttribute('aria-label')"
        " === 'Remove step 2 (Colour jitter)'"
    )
    page.close()


def test_a_refused_upload_leaves_the_upload_box(app_url, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(TIMEOUT)
    page.goto(app_url)
    page.wait_for_selector("#preview-grid img")
    bad = tmp_path / "corrupt.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    page.set_input_files("#upload input[type=file]", bad)
    page.wait_for_function(
        "() => document.querySelector('#preview-summary')?.innerText.trim().startsWith('⚠️')"
    )
    # the box is empty again: it no longer lists the refused file as if it were the image shown
    # (a listed file reads "corrupt", ".png", its size)
    page.wait_for_function(
        "() => document.querySelector('#upload')?.innerText.includes('Drop File Here')"
    )
    assert "corrupt" not in page.inner_text("#upload")
    assert "Input: 451 x 300 px" in page.inner_text("#input-image")
    page.close()


# Each thumbnail of the first batch against the gallery's box, and whether the gallery scrolls.
GALLERY_JS = """() => {
  const gallery = document.querySelector('#train-first-batch')?.getBoundingClientRect();
  const wrap = document.querySelector('#train-first-batch .grid-wrap');
  const items = [...document.querySelectorAll('#train-first-batch .thumbnail-item')]
    .map((e) => e.getBoundingClientRect());
  return gallery && wrap ? {
    count: items.length,
    outside: items.filter((r) => r.left < gallery.left - 1 || r.right > gallery.right + 1
                                 || r.bottom > gallery.bottom + 1).length,
    scrolls: wrap.scrollHeight > wrap.clientHeight + 1 || wrap.scrollWidth > wrap.clientWidth + 1,
    label: document.querySelector('#train-first-batch')?.innerText.split('\\n')[0],
  } : null;
}"""


def test_the_first_batch_shows_every_image_whole(app_url, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(TIMEOUT)
    page.goto(app_url)
    page.get_by_role("tab", name="Train").click()
    page.locator("#train-dataset").get_by_text("Synthetic").click()
    for elem_id, value in (("train-subset", 200), ("train-width", 8), ("train-epochs", 1)):
        box = page.locator(f"#{elem_id} input")
        box.fill(str(value))
        box.press("Tab")
    page.click("#train-check")
    page.wait_for_function(
        "() => document.querySelectorAll('#train-first-batch .thumbnail-item').length >= 32",
        timeout=PREVIEW_TIMEOUT,
    )
    page.wait_for_timeout(500)
    shown = page.evaluate(GALLERY_JS)
    # 8 columns of at least 100 px each overflowed the half-width column: the 6th was cut
    assert shown["count"] == 32 and shown["outside"] == 0 and not shown["scrolls"], shown
    page.close()
