"""Another visitor's slider while a costly pipeline is being served, with and without the bound.

    PYTHONPATH=. python bench/preview_contention.py [--rounds 12] [--old-window 90]

Two visitors share one app process, as on a Space (Gradio runs each request on a thread of one
pool). Visitor A keeps asking for a costly preview; visitor B moves a ColorJitter slider on the
default pipeline (`playground.preview.render` on the cat photo, the Augment tab's call) and B's
time per render is measured. Conditions, B's rounds in each:

- alone: nobody else (the baseline; A asks again 20 ms after each answer, as a client does);
- A sends the issue's share link (8 ElasticTransform steps, alpha 250, sigma 20) as Space mode
  serves it now: estimated, refused in words without rendering;
- A sends a costly pipeline the budget admits in reduced form (GaussianBlur 31 x 31, shown on a
  smaller copy): B shares the CPU with it, but waits on no lock;
- before: the same code with the three changes undone (no budget, ElasticTransform's blur drawn
  under the RNG lock, every render's samples on the shared pool), A rendering 2 ElasticTransform steps at sigma 20 on a 256 x 192 copy;
  B's renders are timed until --old-window seconds have passed (one may not finish at all).

Prints medians and p90s and each condition's ratio to "alone". Asserts nothing; results are in
docs/benchmarks.md, "A public Space: the preview's cost bound".
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from pathlib import Path

from pipelines import samples
from pipelines.spec import default_spec, make
from playground import preview
from playground.images import load_image

ROOT = Path(__file__).resolve().parents[1]
CAT = ROOT / "assets" / "chelsea.png"
STORM = make([("ElasticTransform", {"alpha": 250.0, "sigma": 20.0})] * 8)
BLUR = make([("GaussianBlur", {"kernel_size": 31, "sigma_min": 5.0, "sigma_max": 10.0})])
ROUND_TRIP_S = 0.02  # between A's requests: a client asks again once it has its answer
OLD_COSTLY = make([("ElasticTransform", {"alpha": 250.0, "sigma": 20.0})] * 2)


def slider_spec(k: int):
    """The default pipeline with ColorJitter's brightness at a new value, as a drag sends it."""
    spec = default_spec()
    key = next(key for key, s in zip(spec.step_keys(), spec.steps, strict=True)
               if s.transform == "ColorJitter")  # fmt: skip
    return spec.with_key_params(key, brightness=0.1 + 0.05 * (k % 10))


def visitor_a(stop: threading.Event, spec, image, served: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        preview.render(spec, image, len(served))
        served.append(time.perf_counter() - started)
        time.sleep(ROUND_TRIP_S)


def visitor_b(image, rounds: int, window_s: float | None = None) -> list[float]:
    times, deadline = [], time.monotonic() + (window_s or 1e9)
    for k in range(rounds):
        if time.monotonic() > deadline:
            break
        started = time.perf_counter()
        preview.render(slider_spec(k), image, 7)
        times.append(time.perf_counter() - started)
    return times


def condition(name, spec, image_a, image_b, rounds, window_s=None):
    stop, served = threading.Event(), []
    thread = None
    if spec is not None:
        thread = threading.Thread(target=visitor_a, args=(stop, spec, image_a, served))
        thread.start()
        time.sleep(0.5)  # A is being served when B starts
    times = visitor_b(image_b, rounds, window_s)
    stop.set()
    if thread is not None:
        thread.join()
    return name, times, served


def old_code():
    """Undo the bound and the lock split (the code before this change)."""
    saved = samples._draw_cheaply, preview.budget_s, preview.POOLED_S
    samples._draw_cheaply = samples.draw_params
    preview.budget_s = lambda: 1e9
    preview.POOLED_S = float("inf")  # every render's samples on the shared pool

    def undo() -> None:
        samples._draw_cheaply, preview.budget_s, preview.POOLED_S = saved

    return undo


def summary(times: list[float]) -> str:
    if not times:
        return "no render finished"
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"median {statistics.median(times) * 1000:,.0f} ms, p90 {p90 * 1000:,.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--old-window", type=float, default=90.0)
    args = parser.parse_args()
    os.environ["SPACE_ID"] = "bench/preview-contention"  # Space mode: the 4 s budget
    os.environ.pop(preview.BUDGET_ENV, None)
    image = load_image(CAT)
    visitor_b(image, 3)  # warm-up
    results = [
        condition("alone", None, image, image, args.rounds),
        condition("A: the issue's link (refused)", STORM, image, image, args.rounds),
        condition(
            "A: GaussianBlur 31 (reduced)",
            BLUR,
            load_image(ROOT / "assets/astronaut.png"),
            image,
            args.rounds,
        ),  # fmt: skip
    ]
    undo = old_code()
    try:
        small = image.resize((256, 192))
        results.append(condition("before: A elastic x2 under the lock", OLD_COSTLY, small, image,
                                 args.rounds, args.old_window))  # fmt: skip
    finally:
        undo()
    base = statistics.median(results[0][1])
    print(f"B: default pipeline, ColorJitter slider, {image.width} x {image.height} px, 8 samples")
    for name, times, served in results:
        ratio = f"{statistics.median(times) / base:.2f}x alone" if times else "-"
        a = f"; A served {len(served)} in {sum(served):.1f} s" if served else ""
        print(f"{name:40s} {len(times):3d} rounds: {summary(times)} ({ratio}){a}")


if __name__ == "__main__":
    main()
