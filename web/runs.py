"""Start a run from the browser, watch its progress and cancel it.

The form posts here (CSRF-protected); validation and queueing go through ``web.api.start``, the
same code as ``POST /api/runs``, so the browser and the API accept exactly the same runs.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, redirect, render_template, url_for
from flask_wtf import FlaskForm

from web import services
from web.errors import ApiError
from web.forms import overrides_from, reach_field_name, run_form
from web.jobs import FINAL
from web.store import RUN_ID, NotFound

bp = Blueprint("runs", __name__)


@bp.get("/runs/")
def index() -> str:
    return render_template("runs.html", jobs=services().runs.records(), final=FINAL)


@bp.route("/scenarios/<name>/runs/new", methods=["GET", "POST"])
def new(name: str) -> Any:
    from planner.errors import FlexplanError
    from planner.scenario import load_scenario
    from web.api import start

    store = services().store
    path = store.scenario_path(name)
    try:
        scenario = load_scenario(path)
    except FlexplanError as exc:
        raise ApiError(422, " ".join(str(exc).split()), "scenario") from None
    kinds = _service_types(name, list(scenario.support.reach_m))
    form = run_form(scenario, kinds, float(current_app.config["MAX_TIME_LIMIT_S"]))
    problem = None
    if form.validate_on_submit():
        try:
            job_id = start(name, overrides_from(form, scenario, kinds))
        except ApiError as exc:
            problem = exc
        else:
            return redirect(url_for("runs.show", job_id=job_id), code=303)
    reach_fields = [getattr(form, reach_field_name(k)) for k in kinds]
    status = 422 if problem is not None or form.errors else 200
    return (
        render_template(
            "run_form.html",
            name=name,
            title=store.scenario_title(name),
            form=form,
            reach_fields=reach_fields,
            problem=problem,
        ),
        status,
    )


def _service_types(name: str, required: list[str]) -> list[str]:
    """Types offered for reach: the scenario's own plus those its latest run saw."""
    kinds = list(required)
    latest = services().store.latest(name)
    if latest is not None:
        for row in latest.kpis().get("per_service_type") or []:
            kind = str(row.get("type")) if isinstance(row, dict) else None
            if kind and kind not in kinds:
                kinds.append(kind)
    return kinds


@bp.get("/runs/<job_id>")
def show(job_id: str) -> str:
    record = _record(job_id)
    return render_template("run.html", job=record, final=FINAL, cancel_form=FlaskForm())


@bp.post("/runs/<job_id>/cancel")
def cancel(job_id: str) -> Any:
    _record(job_id)
    form = FlaskForm()
    if not form.validate_on_submit():
        raise ApiError(400, "form expired or not sent from this site", "csrf_token")
    services().runs.cancel(job_id)
    return redirect(url_for("runs.show", job_id=job_id), code=303)


def _record(job_id: str) -> dict[str, Any]:
    record = services().runs.get(job_id) if RUN_ID.match(job_id) else None
    if record is None:
        raise NotFound(f"no run '{job_id}'")
    return record
