"""Slider-change-to-8-loaded-images latency: this app vs the naive one, side by side.

    PYTHONPATH=. python bench/preview_latency.py [--rounds 30] [--quick] [--six-steps]

1. Launches `app.py` and `bench/naive_app.py` (subprocesses, free ports) and opens each in real
   Chromium (/usr/bin/chromium). Each round sets a slider's value in the DOM, dispatches the
   `input` event (what a drag fires; both apps' slider events follow from it) and waits, in page
   JS with performance.now(), until the grid shows 8 images that all differ from the ones before
   and are all `complete` with naturalWidth > 0. Rounds alternate ours, naive, ours, naive...
2. In-process, alternating too: our preview code (`playground.preview.render`, and
   `pipelines.samples.render_samples` alone, without JPEG/HTML encoding) vs the naive code
   (torchvision v1 on the full-size PIL image in d2l's order), 8 samples of 200x200 from the cat
   photo, same pipeline values.
3. Where that time goes: ColorJitter, hue and the crop on one image; 8 samples on the thread
   pool, one after another, and with the crops cached; encoding the 8 samples as our JPEG data
   URIs, as gr.Gallery's WebP files, as PNG.

`--six-steps` loads SIX_STEPS into our app first (through the Export tab's pipeline upload, as a
user would) and times the same slider on it; the naive baseline keeps its 3 steps, so the ratio
is the harder comparison for us. The in-process part then renders SIX_STEPS too.

Prints medians, p90s and ratios; asserts nothing (targets: latency <= 0.35x naive, preview code
<= 0.2x naive). Results are recorded in docs/benchmarks.md, "Preview latency".
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CAT = ROOT / "assets" / "chelsea.png"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
GRID_IMAGES = "#preview-grid img"  # both apps: our HTML grid, the naive app's gallery
# Two values of the driven slider, alternated: with seed 0, every one of our 8 samples differs
# between them (a hue change, for one, leaves a sample whose drawn hue factor is ~0 unchanged).
SLIDER = "jitter-brightness"
VALUES = (0.3, 0.7)
# The default three steps plus a rotation, a blur and an erasing: six steps, the driven slider's
# ColorJitter third, as in the default pipeline.
SIX_STEPS = (
    ("RandomHorizontalFlip", {"p": 0.5}),
    ("RandomResizedCrop", {"size": 200, "scale_min": 0.1, "ratio_min": 0.5, "ratio_max": 2.0}),
    ("ColorJitter", {"brightness": 0.5, "contrast": 0.5, "saturation": 0.5, "hue": 0.5}),
    ("RandomRotation", {"degrees": 30}),
    ("GaussianBlur", {"kernel_size": 5, "sigma_min": 0.1, "sigma_max": 2.0}),
    ("RandomErasing", {"p": 0.5}),
)

# Set the slider in the DOM, fire `input`, resolve when 8 new images have loaded.
MEASURE_JS = """
async ([sel, slider, value, timeoutMs]) => {
  const before = new Set([...document.querySelectorAll(sel)].map((im) => im.src));
  const range = document.querySelector(`#${slider} input[type=range]`);
  performance.clearResourceTimings();  // the buffer holds 250 entries; count this round's only
  const t0 = performance.now();
  range.value = String(value);
  range.dispatchEvent(new Event("input", { bubbles: true }));
  const done = () => {
    const imgs = [...document.querySelectorAll(sel)];
    return imgs.length === 8 &&
      imgs.every((im) => !before.has(im.src) && im.complete && im.naturalWidth > 0);
  };
  const ms = await new Promise((resolve) => {
    const finish = (value) => {
      observer.disconnect();
      document.removeEventListener("load", check, true);
      clearInterval(poll);
      resolve(value);
    };
    const check = () => {
      if (done()) finish(performance.now() - t0);
      else if (performance.now() - t0 > timeoutMs) finish(null);
    };
    const observer = new MutationObserver(check);
    observer.observe(document.body, { subtree: true, childList: true, attributes: true });
    document.addEventListener("load", check, true);  // image loads do not bubble
    const poll = setInterval(check, 2);
  });
  const fetched = performance.getEntriesByType("resource");
  const api = fetched.filter((e) => e.initiatorType === "fetch");  // not the image files
  return { ms, requests: fetched.length,
           kb: fetched.reduce((sum, e) => sum + (e.encodedBodySize || 0), 0) / 1024,
           sent: api.length ? Math.min(...api.map((e) => e.startTime)) - t0 : NaN,
           answered: api.length ? Math.max(...api.map((e) => e.responseEnd)) - t0 : NaN };
}
"""

LOADED_JS = """
(sel) => { const imgs = [...document.querySelectorAll(sel)];
  return imgs.length === 8 && imgs.every((im) => im.complete && im.naturalWidth > 0); }
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(script: str, port: int, **extra_env: str) -> subprocess.Popen:
    """`script` on 127.0.0.1:`port`, quiet; `extra_env` adds variables (a checkpoints folder)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        **extra_env,
    }
    return subprocess.Popen(
        [sys.executable, script],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the server exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    raise SystemExit(f"{url}: not up after {timeout:.0f} s")


def median(values: list[float]) -> float:
    return statistics.median(values)


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.9 * len(ordered)) - 1))]


def six_step_spec():
    from pipelines.spec import make

    return make(SIX_STEPS)


def load_pipeline(page, spec) -> None:
    """Load `spec` into our app as a user does: a pipeline file in the Export tab."""
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(spec.to_json())
    page.get_by_role("tab", name="Export").click()
    page.set_input_files("#pipeline-upload input[type=file]", f.name)
    page.wait_for_function(
        "(n) => document.querySelectorAll('#pipeline-steps .step-note').length === n",
        arg=len(spec.steps),
        timeout=60_000,
    )
    page.get_by_role("tab", name="Augment").click()
    os.unlink(f.name)


def browser_latency(
    rounds: int, warmup: int, timeout_ms: float, spec=None
) -> dict[str, list[dict]]:
    from playwright.sync_api import sync_playwright

    apps = {"ours": "app.py", "naive": "bench/naive_app.py"}
    ports = {name: free_port() for name in apps}
    procs = {name: launch(script, ports[name]) for name, script in apps.items()}
    results: dict[str, list[dict]] = {name: [] for name in apps}
    try:
        for name, proc in procs.items():
            wait_until_up(f"http://127.0.0.1:{ports[name]}/", proc)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pages = {}
            for name in apps:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"http://127.0.0.1:{ports[name]}/")
                page.wait_for_function(LOADED_JS, arg=GRID_IMAGES, timeout=60_000)
                page.wait_for_selector(f"#{SLIDER} input[type=range]")  # ours draws it on load
                if spec is not None and name == "ours":
                    load_pipeline(page, spec)
                    page.wait_for_function(LOADED_JS, arg=GRID_IMAGES, timeout=60_000)
                    page.wait_for_selector(f"#{SLIDER} input[type=range]")
                pages[name] = page
            for i in range(warmup + rounds):
                value = VALUES[i % 2]
                for name, page in pages.items():  # A B A B ...
                    page.bring_to_front()
                    out = page.evaluate(MEASURE_JS, [GRID_IMAGES, SLIDER, value, timeout_ms])
                    if out["ms"] is None:
                        print(f"  {name}: round {i} timed out after {timeout_ms:.0f} ms")
                        page.wait_for_timeout(1000)  # let a late update land before the next
                    elif i >= warmup:
                        results[name].append(out)
            browser.close()
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(timeout=30)
    return results


def alternate(fns: dict[str, Callable[[int], object]], rounds: int, warmup: int = 3):
    """Milliseconds per call of each function, called in turn (A B C A B C...), arg = round."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for i in range(warmup + rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn(i)
            if i >= warmup:
                times[name].append((time.perf_counter() - t0) * 1000)
    return times


def preview_code_times(rounds: int, spec=None) -> dict[str, list[float]]:
    from bench.naive_app import augment as naive_augment
    from pipelines.samples import render_samples
    from pipelines.spec import default_spec
    from playground import preview
    from playground.images import load_image

    # by default flip 0.5, RandomResizedCrop 200 (0.1-1, 0.5-2), ColorJitter 0.5 x4
    spec = spec or default_spec()
    image = load_image(CAT)  # what the app previews (the cat is already full size: 451 x 300)
    d2l = (0.5, 0.5, 0.5, 0.5, 0.5, 0.1, 1.0, 0.5, 2.0)  # naive_augment's slider values
    return alternate(
        {
            "ours: preview.render (samples + JPEG + HTML)": lambda s: preview.render(
                spec, image, s
            ),
            "ours: render_samples alone": lambda s: render_samples(spec, image, s),
            "naive: torchvision v1, PIL, d2l order": lambda s: naive_augment(*d2l),
        },
        rounds,
    )


def where_the_time_goes(rounds: int) -> None:
    """Per-step and per-format costs behind the numbers above, each timed alternating."""
    import tempfile

    from gradio.processing_utils import encode_pil_to_bytes, save_pil_to_cache
    from PIL import Image
    from torchvision import transforms as v1
    from torchvision.transforms.v2 import functional as F

    from pipelines.samples import _one_sample, plan, render_samples
    from pipelines.spec import default_spec
    from playground import preview
    from playground.images import load_image

    spec = default_spec()
    image = load_image(CAT)
    naive_image = Image.open(CAT).convert("RGB")
    steps = plan(spec)
    assert [p.key for p in steps] == [
        "RandomHorizontalFlip#0",
        "RandomResizedCrop#0",
        "ColorJitter#0",
    ]
    crops = [_one_sample(steps[:2], image, 0, i).image for i in range(8)]  # flip + crop only
    jitter = v1.ColorJitter(0.5, 0.5, 0.5, 0.5)
    cache = tempfile.TemporaryDirectory(prefix="preview-bench-")

    def report(title: str, times: dict[str, list[float]]) -> None:
        print(f"  {title}")
        for name, values in times.items():
            print(f"    {name:52s} {median(values):7.2f} ms")

    report(
        "one image:",
        alternate(
            {
                "ColorJitter, ours (v2 on the 200x200 crop)": lambda s: _one_sample(
                    steps[2:], crops[s % 8], s, 0
                ),
                "ColorJitter, naive (v1 on the 451x300 original)": lambda s: jitter(naive_image),
                "hue alone, v2 on PIL 200x200": lambda s: F.adjust_hue(crops[s % 8], 0.2),
                "hue alone, v2 on a uint8 tensor 200x200": lambda s: F.adjust_hue(
                    F.pil_to_tensor(crops[s % 8]), 0.2
                ),
                "RandomResizedCrop to 200x200 (v2 on PIL)": lambda s: _one_sample(
                    steps[1:2], image, s, 0
                ),
            },
            rounds,
        ),
    )
    report(
        "8 samples:",
        alternate(
            {
                "render_samples (thread pool)": lambda s: render_samples(spec, image, s),
                "one after another": lambda s: [_one_sample(steps, image, s, i) for i in range(8)],
                "one after another, crops cached (ColorJitter only)": lambda s: [
                    _one_sample(steps[2:], crops[i], s, i) for i in range(8)
                ],
            },
            rounds,
        ),
    )
    samples = render_samples(spec, image, 0)
    outputs = [sample.image for sample in samples]
    encoders = {
        "JPEG q90 data URIs + captions (ours: grid_html)": lambda: [preview.grid_html(samples, 0)],
        "JPEG q80 data URIs": lambda: [
            base64.b64encode(_encoded(im, "JPEG", quality=80)) for im in outputs
        ],
        "WebP (gr.Gallery's default, files in its cache)": lambda: [
            save_pil_to_cache(im, cache.name, format="webp") for im in outputs
        ],
        "PNG files": lambda: [_encoded(im, "PNG") for im in outputs],
    }
    sizes = {  # bytes the browser receives for the 8 samples
        name: sum(len(x) for x in encode())
        for name, encode in encoders.items()
        if "WebP" not in name
    }
    sizes["WebP (gr.Gallery's default, files in its cache)"] = sum(
        len(encode_pil_to_bytes(im, "webp")) for im in outputs
    )
    times = alternate({name: lambda s, e=encode: e() for name, encode in encoders.items()}, rounds)
    print("  encoding the 8 samples:")
    for name, values in times.items():
        print(f"    {name:52s} {median(values):7.2f} ms  {sizes[name] / 1024:6.1f} KB sent")
    cache.cleanup()


def _encoded(image, fmt: str, **options) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="measured rounds per app")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured rounds per app first")
    parser.add_argument("--compute-rounds", type=int, default=50, help="in-process rounds")
    parser.add_argument("--timeout-ms", type=float, default=10_000, help="per browser round")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 rounds of each")
    parser.add_argument("--skip-browser", action="store_true", help="only the in-process part")
    parser.add_argument(
        "--six-steps", action="store_true", help="time our app on SIX_STEPS (naive keeps 3)"
    )
    args = parser.parse_args()
    spec = six_step_spec() if args.six_steps else None
    ours_steps = len(spec.steps) if spec else 3
    if args.quick:
        args.rounds, args.warmup, args.compute_rounds = 3, 1, 5

    print(
        f"{time.strftime('%Y-%m-%d %H:%M')}  {platform.platform()}  "
        f"{os.cpu_count()} CPUs  python {platform.python_version()}"
    )
    if not args.skip_browser:
        print(
            f"\nSlider change -> 8 loaded images, real Chromium, {args.rounds} rounds each "
            f"(after {args.warmup} warm-up), alternating; slider #{SLIDER} {VALUES[0]} <-> {VALUES[1]}"
            f"; ours runs {ours_steps} steps, naive 3"
        )
        results = browser_latency(args.rounds, args.warmup, args.timeout_ms, spec)
        for name, outs in results.items():
            if not outs:
                print(f"  {name:6s} no completed rounds")
                continue
            ms = [o["ms"] for o in outs]
            print(
                f"  {name:6s} median {median(ms):6.1f} ms   p90 {p90(ms):6.1f} ms   "
                f"({len(ms)} rounds; {median([o['requests'] for o in outs]):.0f} requests, "
                f"{median([o['kb'] for o in outs]):.0f} KB per update)"
            )
            print(
                f"         medians: request sent {median([o['sent'] for o in outs]):5.1f} ms, "
                f"API answered {median([o['answered'] for o in outs]):5.1f} ms, "
                f"8 images loaded {median(ms):5.1f} ms after the input event"
            )
        if results["ours"] and results["naive"]:
            ratio = median([o["ms"] for o in results["ours"]]) / median(
                [o["ms"] for o in results["naive"]]
            )
            print(f"  ours/naive median latency: {ratio:.2f}x   (target <= 0.35x)")

    print(
        f"\nPreview code in-process, 8 samples of 200x200 from the cat, {args.compute_rounds} rounds"
        f"; ours runs {ours_steps} steps, naive 3"
    )
    times = preview_code_times(args.compute_rounds, spec)
    naive_ms = median(times["naive: torchvision v1, PIL, d2l order"])
    for name, values in times.items():
        print(
            f"  {name:46s} median {median(values):6.2f} ms   p90 {p90(values):6.2f} ms   "
            f"{median(values) / naive_ms:.2f}x naive"
        )
    print("  (target for our preview code: <= 0.2x naive)")
    print(f"\nWhere the time goes, in-process, medians of {args.compute_rounds} alternating rounds")
    where_the_time_goes(args.compute_rounds)


if __name__ == "__main__":
    main()
