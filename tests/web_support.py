"""Shared set-up for the web tests: a small world with scenarios, a finished run, an app.

The world's scenario file is ``world/scenario.yaml`` (name ``scenario``); ``xss.yaml`` beside it
uses the same layers under a title full of HTML, and one plot's name is HTML too. A phased world
(``phased``: five years, three-year permits) lives apart, so the plain app's lists stay as they are.

The browser tests add a live server (werkzeug on 127.0.0.1, a free port, in a thread) and Debian's
chromium driven by Playwright; without chromium they skip, except in CI (``CI=true``) where a
missing browser fails them, so CI can never pass by skipping.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient

from tests.world import write_world
from web import create_app

PAYLOAD = "<img src=x onerror=alert(1)>${alert(2)}"
# Permits of three years in five: every project standing in 2027 has ended by 2030, its homes moved.
PHASED_HORIZON = {
    "start": 2027,
    "end": 2031,
    "delivery_per_year": 40,
    "permit_years": 3,
    "targets": {2028: 40, 2031: 60},
}


def make_world(folder: Path, **scenario: Any) -> Path:
    """The test world plus an HTML-named plot and a second scenario titled with HTML."""
    path = write_world(folder, **scenario)
    plots = gpd.read_file(folder / "plots.gpkg", layer="plots")
    plots["name"] = plots["name"].astype(object)
    plots.loc[0, "name"] = PAYLOAD
    plots.to_file(folder / "plots.gpkg", layer="plots")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["name"] = PAYLOAD
    (folder / "xss.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(scenarios dir, data dir) with one finished run of ``scenario`` and a plain ``xss`` run."""
    from planner.pipeline import run_scenario

    root = tmp_path_factory.mktemp("web")
    world = root / "world"
    make_world(world)
    data = root / "results"
    run_scenario(world / "scenario.yaml", data / "scenario" / "run1")
    run_scenario(world / "xss.yaml", data / "xss")  # a plain run folder, as `flexplan run --out`
    return world, data


@pytest.fixture(scope="module", name="phased")
def phased_fixture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(scenarios dir, data dir) with one finished phased run: ``phased``, run ``run1``."""
    from planner.pipeline import run_scenario

    root = tmp_path_factory.mktemp("web-phased")
    world = root / "world"
    write_world(world, name="Gefaseerd", target_homes=60, horizon=PHASED_HORIZON)
    (world / "scenario.yaml").rename(world / "phased.yaml")
    data = root / "results"
    run_scenario(world / "phased.yaml", data / "phased" / "run1")
    return world, data


def new_app(scenarios: Path, data: Path, **config: Any) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "SCENARIOS_DIR": str(scenarios),
            "DATA_DIR": str(data),
            **config,
        }
    )


@pytest.fixture
def app(finished: tuple[Path, Path]) -> Iterator[Flask]:
    application = new_app(*finished)
    yield application
    application.extensions["flexplan"].runs.shutdown()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def wait_for(
    client: FlaskClient, job_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = 120
) -> dict[str, Any]:
    """Poll the API until ``done(state)`` holds; fail with the last state on timeout."""
    deadline = time.monotonic() + timeout
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = client.get(f"/api/runs/{job_id}").get_json()
        if done(state):
            return state
        time.sleep(0.1)
    raise AssertionError(f"run {job_id} did not get there in {timeout} s: {state}")


def ended(state: dict[str, Any]) -> bool:
    return state["state"] in ("done", "failed", "cancelled")


# --- browser tests -----------------------------------------------------------------------------

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def chromium_path() -> str:
    """Debian's chromium; skip without it on a developer machine, fail in CI."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None and os.access("/usr/bin/chromium", os.X_OK):
        path = "/usr/bin/chromium"
    if path is None:
        reason = "no chromium on PATH or at /usr/bin/chromium (Debian: apt-get install chromium)"
        if in_ci():
            pytest.fail(f"CI=true but {reason}: .ci/run must install it", pytrace=False)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session", name="browser")
def browser_fixture() -> Iterator[Any]:
    """One headless chromium for the session (Playwright's own download is never used)."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class LiveServer:
    """The real app on 127.0.0.1 and a free port, served from a thread until ``stop``."""

    def __init__(self, app: Flask) -> None:
        from werkzeug.serving import WSGIRequestHandler, make_server

        class Quiet(WSGIRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                """Requests are not news in tests; errors are still logged."""

        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
        self.app.extensions["flexplan"].runs.shutdown()


@pytest.fixture(scope="module", name="live_server")
def live_server_fixture(finished: tuple[Path, Path]) -> Iterator[LiveServer]:
    """The app with the plain background: tiles are no business of these tests (see pdok)."""
    server = LiveServer(new_app(*finished, TESTING=False, BASEMAP="plain"))
    yield server
    server.stop()


class Watch:
    """What a page did that a test must notice: JS errors, failed loads, dialogs, outside calls."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.outside: list[str] = []
        self.expected_failures: set[str] = set()  # URLs a test loads to see an error page
        self.failing: re.Pattern[str] | None = None  # URLs a test makes fail on purpose

    def attach(self, context: Any) -> None:
        context.route("**/*", self._route)
        context.on("page", self._page)

    def _page(self, page: Any) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("dialog", self._dialog)
        page.on("response", self._response)

    def expected(self, url: str) -> bool:
        return url in self.expected_failures or bool(self.failing and self.failing.match(url))

    def _console(self, message: Any) -> None:
        if self.expected(message.location.get("url", "")):
            return  # "Failed to load resource" for an error page the test asked for
        if message.type in ("error", "assert"):
            self.errors.append(f"console.{message.type}: {message.text} ({message.location})")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _response(self, response: Any) -> None:
        if response.status >= 400 and not self.expected(response.url):
            self.errors.append(f"HTTP {response.status}: {response.url}")

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(self.host + "/") or url.startswith("data:"):
            route.continue_()
        else:  # the app must work offline: no CDN, no tiles unless the user picks PDOK
            self.outside.append(url)
            route.abort()

    def problems(self) -> list[str]:
        out = list(self.errors)
        out += [f"dialog opened: {d}" for d in self.dialogs]
        out += [f"request outside the app: {u}" for u in self.outside]
        return out


@pytest.fixture(name="watch")
def watch_fixture(live_server: LiveServer) -> Watch:
    return Watch(live_server.url)


@contextlib.contextmanager
def watched_page(browser: Any, server: LiveServer, watch: Watch) -> Iterator[Any]:
    """A fresh context and page (Dutch, 1280x900) whose problems fail the test at the end."""
    context = browser.new_context(
        base_url=server.url, viewport={"width": 1280, "height": 900}, locale="nl-NL"
    )
    context.set_default_timeout(15_000)
    watch.attach(context)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()
    problems = watch.problems()
    assert not problems, "the browser saw:\n" + "\n".join(problems)


@pytest.fixture(name="page")
def page_fixture(browser: Any, live_server: LiveServer, watch: Watch) -> Iterator[Any]:
    with watched_page(browser, live_server, watch) as tab:
        yield tab


def screenshot(page: Any, name: str, **kwargs: Any) -> Path:
    """Save a screenshot under test-artifacts/browser/ (uploaded by CI, gitignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), **kwargs)
    return path
