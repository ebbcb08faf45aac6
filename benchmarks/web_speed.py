"""Weight and first render of the map page in headless Chromium, on the national default run.

Serves a data folder with `flexplan serve` (127.0.0.1, a free port), opens the scenario's map page
in a fresh browser context (cold cache) a few times and prints, per load:

- the bytes transferred for the first view (HTML, JS, CSS, JSON/GeoJSON, images), as Chromium
  received them (compressed when the server compressed), and the decoded sizes;
- the time from navigation start to DOMContentLoaded, to ``load`` and to the performance mark
  ``flexplan:layers-drawn`` that ``static/map.js`` sets once every layer is on the map and painted.

Goals (issue "The planners' map app"): at most 3 MB transferred, layers drawn in under 2 s.

    .venv/bin/python benchmarks/web_speed.py                    # runs scenarios/default.yaml first
    .venv/bin/python benchmarks/web_speed.py --data /tmp/d      # reuse /tmp/d/default/<run>
    .venv/bin/python benchmarks/web_speed.py --loads 5 --scenario default

Needs Playwright for Python and Debian's chromium (``apt-get install chromium``); Playwright's
own browser download is not used.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GOAL_BYTES = 3_000_000
GOAL_SECONDS = 2.0
READY_MARK = "flexplan:layers-drawn"
CHROMIUM_ARGS = [
    "--no-sandbox",  # we may run as root (CI)
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class Load:
    """One cold load of the map page."""

    transferred: dict[str, int] = field(default_factory=dict)  # kind -> encoded body bytes
    encoded: dict[str, int] = field(default_factory=dict)  # the same from Resource Timing
    decoded: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    encodings: set[str] = field(default_factory=set)
    dom_ms: float = 0.0
    load_ms: float = 0.0
    drawn_ms: float = 0.0

    @property
    def total(self) -> int:
        """Bytes on the wire; the larger of the two sources (they can disagree on big bodies)."""
        return max(sum(self.transferred.values()), sum(self.encoded.values()))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(data: Path | None, scenario: str, scenarios: Path) -> Path:
    """The data folder to serve; without one, run the scenario into a temporary folder."""
    if data is not None:
        return data
    out = Path(tempfile.mkdtemp(prefix="flexplan-web-speed-"))
    print(f"running {scenarios / scenario}.yaml into {out} ...", flush=True)
    started = time.perf_counter()
    subprocess.run(
        [
            str(BIN / "flexplan"),
            "run",
            str(scenarios / f"{scenario}.yaml"),
            "--out",
            str(out / scenario / "demo"),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"run finished in {time.perf_counter() - started:.1f} s")
    return out


@contextlib.contextmanager
def serve(data: Path, scenarios: Path, *, gzip: bool = True) -> Iterator[str]:
    """`flexplan serve` on 127.0.0.1 and a free port; stopped (by its pid) on exit."""
    port = free_port()
    env = {**os.environ, "FLEXPLAN_COMPRESS": "true" if gzip else "false"}
    proc = subprocess.Popen(
        [
            str(BIN / "flexplan"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data",
            str(data),
            "--scenarios",
            str(scenarios),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, proc)
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_until_up(base: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"flexplan serve stopped with exit code {proc.returncode}")
        try:
            with urllib.request.urlopen(base + "/api/scenarios", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"flexplan serve did not answer on {base} within {timeout:.0f} s")


def kind_of(content_type: str, url: str) -> str:
    mime = content_type.split(";")[0].strip()
    if "json" in mime:
        return "json"
    if "javascript" in mime:
        return "js"
    if mime == "text/css":
        return "css"
    if mime == "text/html":
        return "html"
    if mime.startswith("image/"):
        return "image"
    return mime or url.rsplit(".", 1)[-1]


def measure(browser: Any, url: str) -> Load:
    """One cold load: a new context (empty cache); sizes from the network events."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    load = Load()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))

    kinds: dict[str, str] = {}

    def finished(request: Any) -> None:
        response = request.response()
        if response is None:
            return
        headers = response.headers
        kind = kinds[request.url] = kind_of(headers.get("content-type", ""), request.url)
        load.requests += 1
        load.transferred[kind] = load.transferred.get(kind, 0) + request.sizes()["responseBodySize"]
        load.encodings.add(f"{kind}:{headers.get('content-encoding', 'identity')}")

    page.on("requestfinished", finished)
    page.goto(url)
    page.wait_for_selector("#fp-map[data-ready]", timeout=60_000)
    if page.get_attribute("#fp-map", "data-ready") != "true":
        raise SystemExit(f"the map did not load its layers: {errors}")
    timing = page.evaluate(
        """(mark) => {
            const nav = performance.getEntriesByType("navigation")[0];
            const drawn = performance.getEntriesByName(mark)[0];
            return {dom: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
                    drawn: drawn ? drawn.startTime : -1};
        }""",
        READY_MARK,
    )
    page.wait_for_load_state("networkidle")
    load.dom_ms, load.load_ms, load.drawn_ms = timing["dom"], timing["load"], timing["drawn"]
    decoded = page.evaluate(
        """() => [...performance.getEntriesByType("navigation"),
                  ...performance.getEntriesByType("resource")]
                 .map((e) => [e.name, e.encodedBodySize, e.decodedBodySize])"""
    )
    for url_, encoded, size in decoded:
        kind = kinds.get(url_, "other")
        load.encoded[kind] = load.encoded.get(kind, 0) + int(encoded)
        load.decoded[kind] = load.decoded.get(kind, 0) + int(size)
    context.close()
    if errors:
        print(f"  browser errors: {errors}")
    return load


def session(args: argparse.Namespace, data: Path, *, gzip: bool) -> tuple[str, Load, list[Load]]:
    """One server: the first load (its layer cache cold), then ``args.loads`` cold-browser loads."""
    from playwright.sync_api import sync_playwright

    with serve(data, args.scenarios.resolve(), gzip=gzip) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        try:
            url = f"{base}/scenarios/{args.scenario}/map"
            first = measure(browser, url)
            loads = [measure(browser, url) for _ in range(args.loads)]
        finally:
            browser.close()
    return url, first, loads


def report(url: str, first: Load, loads: list[Load]) -> None:
    print(f"\nmap page: {url}  ({first.requests} requests)")
    print("bytes: body as transferred (Playwright network events / Resource Timing), decoded")
    print(f"{'kind':<8}{'network':>12}{'timing':>12}{'decoded':>12}")
    for kind in sorted(first.transferred, key=lambda k: -first.transferred[k]):
        print(
            f"{kind:<8}{first.transferred[kind]:>12,}{first.encoded.get(kind, 0):>12,}"
            f"{first.decoded.get(kind, 0):>12,}"
        )
    print(
        f"{'total':<8}{sum(first.transferred.values()):>12,}{sum(first.encoded.values()):>12,}"
        f"{sum(first.decoded.values()):>12,}"
    )
    print("encodings: " + ", ".join(sorted(first.encodings)))
    print(
        f"first load after server start (layer cache cold): DOMContentLoaded {first.dom_ms:.0f} ms,"
        f" load {first.load_ms:.0f} ms, layers drawn {first.drawn_ms:.0f} ms"
    )
    for label, values in (
        ("DOMContentLoaded", [x.dom_ms for x in loads]),
        ("load event", [x.load_ms for x in loads]),
        ("layers drawn", [x.drawn_ms for x in loads]),
    ):
        print(
            f"{label:<18} median {statistics.median(values):6.0f} ms"
            f"   min {min(values):6.0f}   max {max(values):6.0f}   ({len(loads)} cold browsers)"
        )


def verdict(first: Load, loads: list[Load]) -> None:
    weight = max(x.total for x in [first, *loads])
    drawn = max(first.drawn_ms, *(x.drawn_ms for x in loads)) / 1000
    print(
        f"\ngoal weight <= {GOAL_BYTES / 1e6:.0f} MB: {weight / 1e6:.2f} MB "
        f"{'OK' if weight <= GOAL_BYTES else 'OVER'}"
    )
    print(
        f"goal layers drawn < {GOAL_SECONDS:.0f} s (slowest load): {drawn:.2f} s "
        f"{'OK' if 0 <= drawn < GOAL_SECONDS else 'OVER'}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="data folder with DATA/<scenario>/<run>/")
    parser.add_argument("--scenarios", type=Path, default=ROOT / "scenarios")
    parser.add_argument("--scenario", default="default")
    parser.add_argument("--loads", type=int, default=3, help="cold-browser loads (default 3)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the run without gzip")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args(argv)
    if not os.access(args.chromium, os.X_OK):
        raise SystemExit(f"no chromium at {args.chromium} (apt-get install chromium)")
    data = prepare(args.data, args.scenario, args.scenarios.resolve())
    url, first, loads = session(args, data, gzip=True)
    print("\n== with gzip (as served) ==")
    report(url, first, loads)
    if not args.no_baseline:
        url, first_plain, loads_plain = session(args, data, gzip=False)
        print("\n== without gzip (FLEXPLAN_COMPRESS=false), for comparison ==")
        report(url, first_plain, loads_plain)
    verdict(first, loads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
