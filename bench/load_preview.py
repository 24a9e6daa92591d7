"""Load on the preview: many clients at once, and one client dragging a slider among them.

Launches `python app.py` on a loopback port (its own checkpoints folder) and runs two phases of
the same length against it, each with `--clients` closed-loop clients (one request at a time,
as a browser sends them: the slider events use trigger_mode="always_last"):

  steady   every client asks for 8 new samples (`/new_samples`), `--think` seconds apart;
  drag     the same, but one of the clients drags: `/render` back to back, no pause, as fast
           as the server answers it, with a new hue each time where the endpoint has the hue
           slider among its inputs, else a new seed (one render of 8 samples either way).

It prints answers per second, errors, p50/p99 latency of the steady clients in each phase (and
their ratio: how much one fast drag slows everyone else), the drag's own rate, and the server's
memory (RSS) before, between and after. Bounded: `--seconds` per phase and `--max-requests`
per client; it only ever talks to the server it started, on 127.0.0.1.

    PYTHONPATH=. python bench/load_preview.py --clients 10 --seconds 30
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bench.preview_latency import free_port, launch, wait_until_up

ROOT = Path(__file__).resolve().parents[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def render_kwargs(client) -> tuple[list, int | None]:
    """/render's inputs at their defaults, and the position of the hue slider (the drag)."""
    endpoint = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/render"]
    params = endpoint["parameters"]
    values = [p.get("parameter_default") for p in params]
    hue = next((i for i, p in enumerate(params) if p["label"] == "Hue"), None)
    return values, hue


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.errors = 0

    def add(self, seconds: float | None) -> None:
        with self.lock:
            if seconds is None:
                self.errors += 1
            else:
                self.latencies.append(seconds)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def steady_client(url, stop, stats, think, max_requests):
    from gradio_client import Client

    client = Client(url, verbose=False)
    for _ in range(max_requests):
        if stop.is_set():
            break
        t0 = time.perf_counter()
        try:
            client.predict(api_name="/new_samples")
            stats.add(time.perf_counter() - t0)
        except Exception:
            stats.add(None)
        stop.wait(think)


def drag_client(url, stop, stats, max_requests):
    from gradio_client import Client

    client = Client(url, verbose=False)
    values, hue = render_kwargs(client)
    for i in range(max_requests):
        if stop.is_set():
            break
        if hue is not None:
            values[hue] = round(0.05 + (i % 40) / 100, 2)
        else:
            values[0] = i  # no hue slider: a new seed renders anew as well
        t0 = time.perf_counter()
        try:
            client.predict(*values, api_name="/render")
            stats.add(time.perf_counter() - t0)
        except Exception:
            stats.add(None)


def phase(url, clients, seconds, think, max_requests, drag):
    stop = threading.Event()
    steady, dragged = Stats(), Stats()
    threads = [
        threading.Thread(target=steady_client, args=(url, stop, steady, think, max_requests))
        for _ in range(clients - (1 if drag else 0))
    ]
    if drag:
        threads.append(
            threading.Thread(target=drag_client, args=(url, stop, dragged, max_requests))
        )
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    return steady, dragged


def report(name, stats, seconds):
    lat = stats.latencies
    print(
        f"{name:<28} {len(lat):5d} answers  {len(lat) / seconds:6.1f}/s  errors {stats.errors:3d}"
        f"  p50 {pct(lat, 0.5):.3f} s  p99 {pct(lat, 0.99):.3f} s"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=30.0, help="per phase (at most 300)")
    ap.add_argument("--think", type=float, default=0.0, help="pause between a client's requests")
    ap.add_argument("--max-requests", type=int, default=2000, help="per client and phase")
    args = ap.parse_args()
    seconds = min(args.seconds, 300.0)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with tempfile.TemporaryDirectory(prefix="playground-load-") as checkpoints:
        proc = launch("app.py", port, PLAYGROUND_CHECKPOINTS=checkpoints)
        try:
            wait_until_up(url, proc)
            from gradio_client import Client

            Client(url, verbose=False).predict(api_name="/new_samples")  # warm up
            before = rss_mb(proc.pid)
            steady, _ = phase(url, args.clients, seconds, args.think, args.max_requests, False)
            between = rss_mb(proc.pid)
            steady2, dragged = phase(
                url, args.clients, seconds, args.think, args.max_requests, True
            )
            after = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"{args.clients} clients, {seconds:.0f} s per phase, think {args.think} s, 127.0.0.1")
    report("steady: all clients", steady, seconds)
    report(f"drag: {args.clients - 1} steady clients", steady2, seconds)
    report("drag: the dragging client", dragged, seconds)
    p99 = pct(steady2.latencies, 0.99) / pct(steady.latencies, 0.99)
    p50 = statistics.median(steady2.latencies) / statistics.median(steady.latencies)
    print(f"steady clients while one drags vs without: p50 x{p50:.2f}, p99 x{p99:.2f}")
    share = len(dragged.latencies) / max(1, len(steady2.latencies) + len(dragged.latencies))
    print(
        f"the dragging client's share of answers: {share:.0%} (a fair share: {1 / args.clients:.0%})"
    )
    print(f"server RSS: {before:.0f} MB before, {between:.0f} MB between, {after:.0f} MB after")


if __name__ == "__main__":
    main()
