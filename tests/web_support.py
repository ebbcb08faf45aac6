"""Shared set-up for the web tests: a small world with scenarios, a finished run, an app.

The world's scenario file is ``world/scenario.yaml`` (name ``scenario``); ``xss.yaml`` beside it
uses the same layers under a title full of HTML, and one plot's name is HTML too.
"""

from __future__ import annotations

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
