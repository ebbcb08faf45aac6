"""The JSON API: scenarios with KPIs, map layers as GeoJSON, phased runs' years, and runs.

Bad input is 400 (not JSON, wrong shape) or 422 (a value the scenario rejects), always with the
field at fault; unknown names are 404. CSRF does not apply here: every write needs a JSON body
(``Content-Type: application/json``), which a cross-site form cannot send.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from web import services
from web.errors import ApiError
from web.jobs import FINAL, new_job_id
from web.layers import LAYERS, layer_geojson
from web.openapi import spec
from web.scenarios import scenario_rows
from web.timeline import timeline as run_timeline

bp = Blueprint("api", __name__, url_prefix="/api")

FORBIDDEN_PREFIXES = ("layers", "name")  # file paths and identity are not the API's to change


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(spec())


@bp.get("/scenarios")
def scenarios() -> Response:
    return jsonify(scenario_rows())


@bp.get("/scenarios/<name>")
def scenario(name: str) -> Response:
    store = services().store
    runs = store.runs(name)
    row = next(r for r in scenario_rows() if r["name"] == name)
    row["run_ids"] = [r.run_id for r in runs]
    return jsonify(row)


@bp.get("/scenarios/<name>/allocation.geojson")
def allocation(name: str) -> Response:
    """Used plots of the latest finished run (or ``?run=``), WGS84."""
    return _geojson(name, "allocation")


@bp.get("/scenarios/<name>/layers/<layer>.geojson")
def layer(name: str, layer: str) -> Response:
    if layer not in LAYERS:
        raise ApiError(404, f"no layer '{layer}'; layers: {', '.join(LAYERS)}", "layer")
    return _geojson(name, layer)


@bp.get("/scenarios/<name>/timeline.json")
def timeline(name: str) -> Response:
    """A phased run's years: homes standing and target per year, each plot's homes per year."""
    run = services().store.run(name, request.args.get("run") or None)
    data = run_timeline(run)
    if data is None:
        raise ApiError(404, f"run '{run.run_id}' is not phased: it has no timeline", "run")
    response = jsonify(data)
    response.headers["Cache-Control"] = "no-cache"
    response.add_etag()
    return response.make_conditional(request)


def _geojson(name: str, layer: str) -> Response:
    run = services().store.run(name, request.args.get("run") or None)
    response = Response(layer_geojson(run, layer), mimetype="application/geo+json")
    response.headers["Cache-Control"] = "no-cache"
    response.add_etag()
    return response.make_conditional(request)


@bp.get("/runs")
def runs() -> Response:
    return jsonify([_public(r) for r in services().runs.records()])


@bp.post("/runs")
def start_run() -> tuple[Response, int, dict[str, str]]:
    body = _json_body()
    name = body.get("scenario")
    if not isinstance(name, str) or not name:
        raise ApiError(400, "'scenario' must be the name of a scenario file", "scenario")
    overrides = body.get("overrides", {})
    job_id = start(name, overrides)
    record = services().runs.get(job_id) or {}
    headers = {"Location": url_for("api.run", job_id=job_id)}
    return jsonify(_public(record)), 202, headers


def start(name: str, overrides: Any) -> str:
    """Validate a run request like the CLI does and queue it; returns the job id.

    Shared by the API and the browser form, so both reject exactly the same input.
    """
    from planner.errors import FlexplanError
    from planner.pipeline import apply_overrides
    from planner.scenario import load_scenario
    from web.store import NotFound

    store = services().store
    try:
        path = store.scenario_path(name)
    except NotFound as exc:
        raise ApiError(422, str(exc), "scenario") from None
    checked = check_overrides(overrides)
    try:
        apply_overrides(load_scenario(path), checked)
    except FlexplanError as exc:
        raise ApiError(422, " ".join(str(exc).split()), _field_of(str(exc), checked)) from None
    job_id = new_job_id()
    out_dir = store.new_run_dir(name, job_id)
    return services().runs.submit(
        scenario=name, scenario_file=path, overrides=checked, out_dir=out_dir
    )


def check_overrides(overrides: Any) -> dict[str, Any]:
    """Shape checks before the scenario's own validation: dotted keys, no paths, sane limits."""
    if not isinstance(overrides, dict):
        raise ApiError(400, "'overrides' must be an object of dotted keys", "overrides")
    limit = float(current_app.config["MAX_TIME_LIMIT_S"])
    for key, value in overrides.items():
        field = f"overrides.{key}"
        parts = key.split(".")
        if not key or not all(p.isidentifier() for p in parts):
            raise ApiError(400, f"override key {key!r} is not a dotted name", field)
        if parts[0] in FORBIDDEN_PREFIXES:
            raise ApiError(422, f"'{parts[0]}' cannot be changed from the app", field)
        if key == "solver.time_limit_s" and isinstance(value, int | float) and value > limit:
            raise ApiError(422, f"time limit above the server's maximum of {limit:g} s", field)
    return dict(overrides)


def _field_of(message: str, overrides: dict[str, Any]) -> str:
    """The override a scenario error message names, longest key first; else 'overrides'."""
    for key in sorted(overrides, key=len, reverse=True):
        if key in message or key.split(".")[-1] in message:
            return f"overrides.{key}"
    return "overrides"


@bp.get("/runs/<job_id>")
def run(job_id: str) -> Response:
    return jsonify(_public(_record(job_id)))


@bp.delete("/runs/<job_id>")
def cancel(job_id: str) -> Response:
    record = _record(job_id)
    if record.get("state") in FINAL:
        raise ApiError(409, f"run '{job_id}' already ended ({record.get('state')})", "id")
    return jsonify(_public(services().runs.cancel(job_id) or record))


def _record(job_id: str) -> dict[str, Any]:
    from web.store import RUN_ID

    record = services().runs.get(job_id) if RUN_ID.match(job_id) else None
    if record is None:
        raise ApiError(404, f"no run '{job_id}'", "id")
    return record


def _public(record: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "scenario", "state", "progress", "message", "error", "overrides", "status")
    out = {k: record.get(k) for k in keys}
    for key in ("created", "started", "finished"):
        out[key] = record.get(key)
    if record.get("state") == "done":
        out["map"] = url_for("maps.show", name=record["scenario"], run=record["id"])
    return out


def _json_body() -> dict[str, Any]:
    if not request.is_json:
        raise ApiError(415, "send a JSON body with Content-Type: application/json", "body")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object", "body")
    return body
