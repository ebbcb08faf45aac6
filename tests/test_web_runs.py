"""Runs started from the app: real worker processes, progress, cancel, concurrency, crashes."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient

from tests.web_support import ended, make_world, new_app, wait_for

pytestmark = pytest.mark.slow
DEMO = Path(__file__).parents[1] / "geodata" / "demo"


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[tuple[Flask, Path]]:
    """An app over a new world with no runs yet; its workers are stopped afterwards."""
    make_world(tmp_path / "world")
    app = new_app(tmp_path / "world", tmp_path / "results", MAX_RUNNING=2)
    yield app, tmp_path
    app.extensions["flexplan"].runs.shutdown()


def _start(client: FlaskClient, scenario: str = "scenario", **overrides: object) -> str:
    response = client.post("/api/runs", json={"scenario": scenario, "overrides": overrides})
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["state"] == "queued" and response.headers["Location"].endswith(body["id"])
    return body["id"]


def test_run_finishes_and_appears_in_the_list(fresh: tuple[Flask, Path]) -> None:
    app, tmp = fresh
    client = app.test_client()
    job = _start(client, target_homes=120)
    seen = {client.get(f"/api/runs/{job}").get_json()["state"]}
    state = wait_for(client, job, lambda s: seen.add(s["state"]) or ended(s))
    assert state["state"] == "done", state
    assert state["progress"] == 1.0 and state["error"] is None and state["status"] == "OPTIMAL"
    assert seen <= {"queued", "running", "done"}
    row = next(r for r in client.get("/api/scenarios").get_json() if r["name"] == "scenario")
    assert row["run_id"] == job and row["kpis"]["homes"] == 120
    assert (tmp / "results" / "scenario" / job / "kpis.json").is_file()
    assert client.get(state["map"]).status_code == 200
    assert [r["id"] for r in client.get("/api/runs").get_json()] == [job]
    assert client.delete(f"/api/runs/{job}").status_code == 409  # already ended
    page = client.get(f"/runs/{job}").get_data(as_text=True)
    assert f"/scenarios/scenario/map?run={job}" in page


def test_two_runs_at_once_keep_apart(fresh: tuple[Flask, Path]) -> None:
    app, tmp = fresh
    client = app.test_client()
    a, b = _start(client, target_homes=150), _start(client, target_homes=100)
    states = [wait_for(client, job, ended) for job in (a, b)]
    assert [s["state"] for s in states] == ["done", "done"], states
    homes = {}
    for job in (a, b):
        folder = tmp / "results" / "scenario" / job
        homes[job] = yaml.safe_load((folder / "scenario.resolved.yaml").read_text())["target_homes"]
    assert homes == {a: 150, b: 100}
    runs = app.extensions["flexplan"].store.runs("scenario")
    assert {r.run_id for r in runs} == {a, b}


def test_a_layer_gone_at_run_time_fails_with_its_name(fresh: tuple[Flask, Path]) -> None:
    app, tmp = fresh
    client = app.test_client()
    (tmp / "world" / "services.gpkg").unlink()  # the scenario still validates; the run cannot
    state = wait_for(client, _start(client), ended)
    assert state["state"] == "failed"
    assert "services.gpkg" in state["error"]
    assert not (tmp / "results" / "scenario").exists() or not any(
        (tmp / "results" / "scenario").iterdir()
    )
    page = client.get(f"/runs/{state['id']}").get_data(as_text=True)
    assert "services.gpkg" in page


def _national(tmp: Path) -> Path:
    """The national demo scenario with absolute layer paths, made slow on purpose (minimum cost,
    proven optimal, no warm start: several seconds) so a test can act while it runs."""
    folder = tmp / "national"
    folder.mkdir()
    layers = ("plots", "services", "service_areas", "exclusions", "neighbourhoods", "regions")
    data = {
        "name": "Landelijk",
        "target_homes": 10_000,
        "layers": {k: str(DEMO / f"{k}.gpkg") for k in layers},
        "objective": "min_cost",
        "solver": {"time_limit_s": 60, "relative_gap": 0.0, "warm_start": "none"},
    }
    (folder / "national.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return folder


def test_cancel_a_running_and_a_queued_run(tmp_path: Path) -> None:
    app = new_app(_national(tmp_path), tmp_path / "results", MAX_RUNNING=1)
    client = app.test_client()
    try:
        running = _start(client, "national")
        queued = _start(client, "national", target_homes=9_000)
        wait_for(client, running, lambda s: s["state"] == "running")
        assert client.get(f"/api/runs/{queued}").get_json()["state"] == "queued"
        for job in (running, queued):
            response = client.delete(f"/api/runs/{job}")
            assert response.status_code == 200
            assert response.get_json()["state"] == "cancelled"
        for job in (running, queued):
            assert client.get(f"/api/runs/{job}").get_json()["state"] == "cancelled"
        folder = tmp_path / "results" / "national"
        assert not folder.exists() or list(folder.iterdir()) == []  # nothing half-written
    finally:
        app.extensions["flexplan"].runs.shutdown()


def test_a_killed_worker_is_reported(tmp_path: Path) -> None:
    app = new_app(_national(tmp_path), tmp_path / "results")
    client = app.test_client()
    try:
        job = _start(client, "national")
        wait_for(client, job, lambda s: s["state"] == "running")
        os.kill(app.extensions["flexplan"].runs._active[job].process.pid, signal.SIGKILL)
        state = wait_for(client, job, ended)
        assert state["state"] == "failed"
        assert "ended unexpectedly" in state["error"] and "-9" in state["error"]
    finally:
        app.extensions["flexplan"].runs.shutdown()


def test_browser_form_starts_a_run_and_cancel_needs_csrf(tmp_path: Path) -> None:
    make_world(tmp_path / "world")
    app = new_app(tmp_path / "world", tmp_path / "results", WTF_CSRF_ENABLED=True)
    client = app.test_client()
    try:
        page = client.get("/scenarios/scenario/runs/new").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        form = {
            "csrf_token": token,
            "target_homes": "130",
            "min_share": "0,1",
            "max_share_of_dwellings": "0,1",
            "objective": "min_cost",
            "time_limit_s": "20",
            "reach_huisarts": "900",
            "reach_wijkteam": "1000",
            "reach_ggz": "",  # no longer required
        }
        response = client.post("/scenarios/scenario/runs/new", data=form)
        assert response.status_code == 303
        job = response.headers["Location"].rsplit("/", 1)[-1]
        record = client.get(f"/api/runs/{job}").get_json()
        assert record["overrides"] == {
            "target_homes": 130,
            "objective": "min_cost",
            "support.reach_m": {"huisarts": 900.0, "wijkteam": 1000.0},
        }
        page = client.get(f"/runs/{job}").get_data(as_text=True)
        assert "<progress" in page and "/static/run.js" in page
        assert client.post(f"/runs/{job}/cancel").status_code == 400  # no CSRF token
        state = wait_for(client, job, ended)
        assert state["state"] == "done", state
        folder = tmp_path / "results" / "scenario" / job
        resolved = yaml.safe_load((folder / "scenario.resolved.yaml").read_text())
        assert resolved["objective"] == "min_cost" and "ggz" not in resolved["support"]["reach_m"]
    finally:
        app.extensions["flexplan"].runs.shutdown()
