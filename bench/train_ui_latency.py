"""The Augment tab's preview latency while a CPU training run trains, vs idle, same machine.

    PYTHONPATH=. python bench/train_ui_latency.py [--rounds 30] [--nice 10 0]

For each training niceness (10 is what the app uses; 0 is the comparison), launches `app.py`
with an empty checkpoints folder and opens two Chromium pages: one watches the Train tab (its
1 s timer polls the run folder and redraws the curves, as a user watching the run would), the
other measures the Augment tab exactly as bench/preview_latency.py does (set a slider, fire
`input`, wait until 8 new images have loaded; page-side performance.now()). Phases: idle,
training (a run started through the app's own /train_start: synthetic data, ResNet-18 width 16,
batch 256, CPU - the Quick CPU run's model), idle after Stop, training again after Resume, idle:
alternating, so that drifting load from other processes falls on both sides.

Prints medians, p90s and the ratio training / idle; asserts nothing (target: <= 2x). Results are
recorded in docs/benchmarks.md, "UI responsiveness during training".
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

from bench.preview_latency import (
    CHROMIUM,
    CHROMIUM_ARGS,
    GRID_IMAGES,
    LOADED_JS,
    MEASURE_JS,
    SLIDER,
    VALUES,
    free_port,
    launch,
    median,
    p90,
    wait_until_up,
)
from playground.train_form import form_defaults

ROOT = Path(__file__).resolve().parents[1]
TRAINING_SETTINGS = {"dataset": "synthetic", "epochs": 50, "batch_size": 256, "amp": "off"}
TRAINING_SETTINGS |= {"device": "cpu", "width": 16}


def launch_app(port: int, checkpoints: Path, nice: int) -> subprocess.Popen:
    return launch(
        "app.py", port, PLAYGROUND_CHECKPOINTS=str(checkpoints), PLAYGROUND_TRAIN_NICE=str(nice)
    )


class Meter:
    """Slider rounds on the Augment page, alternating two values, paced like a user's drags."""

    def __init__(self, page, pause_ms: int) -> None:
        self.page, self.pause_ms, self.count = page, pause_ms, 0

    def rounds(self, n: int) -> list[float]:
        times = []
        for _ in range(n):
            value = VALUES[self.count % 2]
            self.count += 1
            out = self.page.evaluate(MEASURE_JS, [GRID_IMAGES, SLIDER, value, 15_000])
            if out["ms"] is None:
                print("  a round timed out after 15 s")
                self.page.wait_for_timeout(1000)
            else:
                times.append(out["ms"])
            self.page.wait_for_timeout(self.pause_ms)
        return times


def wait_for(client, predicate, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.predict(None, api_name="/train_status")
        if predicate(status):
            return status
        time.sleep(0.5)
    raise SystemExit(f"timed out; last status {status}")


def start_or_resume(client, run: str | None) -> str:
    """Start the run (first training phase) or resume it (later ones); wait until it trains."""
    if run is None:
        message, watched, _ = client.predict(
            False, 1, *form_defaults(**TRAINING_SETTINGS), api_name="/train_start"
        )
        run = watched["value"] if message.startswith("Started") else None
    else:
        message = client.predict(run, api_name="/train_resume")
    if run is None or message.startswith("⚠️"):
        raise SystemExit(message)
    before = client.predict(run, api_name="/train_status")["points"]
    wait_for(client, lambda s: s["state"] == "running" and s["points"] > before)
    return run


def one_condition(nice: int, rounds: int, warmup: int, pause_ms: int) -> dict[str, list[float]]:
    from gradio_client import Client
    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with tempfile.TemporaryDirectory(prefix="bench-checkpoints-") as tmp:
        app = launch_app(port, Path(tmp), nice)
        phases: dict[str, list[float]] = {}
        try:
            wait_until_up(url, app)
            client = Client(url, verbose=False)
            with sync_playwright() as pw:
                # two browsers, so that neither page is a throttled background tab
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                other = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                watcher = other.new_page(viewport={"width": 1400, "height": 1000})
                watcher.goto(url)
                watcher.get_by_role("tab", name="Train").click()
                # opening the tab previews the settings and times a few steps: let that finish
                watcher.wait_for_function(
                    "() => (document.querySelector('#train-estimate')?.innerText.trim() ?? '') !== ''",
                    timeout=180_000,
                )
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(url)
                page.wait_for_function(LOADED_JS, arg=GRID_IMAGES, timeout=60_000)
                page.wait_for_selector(f"#{SLIDER} input[type=range]", state="attached")
                page.bring_to_front()
                meter = Meter(page, pause_ms)
                meter.rounds(warmup)
                run = None
                for phase in ("idle 1", "training 1", "idle 2", "training 2", "idle 3"):
                    if phase.startswith("training"):
                        run = start_or_resume(client, run)
                    load = os.getloadavg()[0]
                    phases[phase] = meter.rounds(rounds)
                    if phase.startswith("training"):
                        status = client.predict(run, api_name="/train_status")
                        print(
                            f"  {phase}: {status['status'].get('images_per_s', 0):.0f} img/s, "
                            f"{status['points']} metric points so far; load avg {load:.2f}"
                        )
                        client.predict(run, api_name="/train_stop")
                        wait_for(client, lambda s: s["state"] == "stopped")
                    else:
                        print(f"  {phase}: load avg {load:.2f}")
                browser.close()
                other.close()
        finally:
            app.terminate()
            app.wait(timeout=30)
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="slider rounds per phase")
    parser.add_argument("--pause-ms", type=int, default=250, help="between rounds")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--nice", type=int, nargs="+", default=[10, 0])
    parser.add_argument("--width", type=int, default=16, help="ResNet-18 width (64: full size)")
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    TRAINING_SETTINGS.update(batch_size=args.batch, width=args.width)
    print(f"training: synthetic, width {args.width}, batch {args.batch}, CPU")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    for nice in args.nice:
        print(f"training niceness {nice}:")
        phases = one_condition(nice, args.rounds, args.warmup, args.pause_ms)
        for name, times in phases.items():
            print(f"  {name:12s} median {median(times):7.1f} ms   p90 {p90(times):7.1f} ms")
        pooled = {
            kind: sum((t for name, t in phases.items() if name.startswith(kind)), [])
            for kind in ("idle", "training")
        }
        for stat in (median, p90):
            ratio = stat(pooled["training"]) / stat(pooled["idle"])
            print(
                f"  {stat.__name__}: idle {stat(pooled['idle']):.1f} ms, training "
                f"{stat(pooled['training']):.1f} ms, ratio {ratio:.2f}x"
            )


if __name__ == "__main__":
    main()
