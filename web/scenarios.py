"""The scenario list: every scenario file with its latest run's headline KPIs, sortable."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from web import services
from web.jobs import FINAL
from web.summary import headline

bp = Blueprint("scenarios", __name__)

SORT_KEYS = (
    "name",
    "status",
    "homes",
    "support_homes",
    "plots_used",
    "reach_share",
    "total_cost_eur",
    "gap",
)


def scenario_rows() -> list[dict[str, Any]]:
    """One row per scenario file: latest finished run, its KPIs and any job still going."""
    store, runs = services().store, services().runs
    active: dict[str, dict[str, Any]] = {}
    for job in runs.records():
        if job.get("state") not in FINAL:
            active.setdefault(str(job.get("scenario")), job)
    rows = []
    for name in store.scenario_files():
        all_runs = store.runs(name)
        latest = all_runs[0] if all_runs else None
        kpis = headline(latest) if latest else {}
        rows.append(
            {
                "name": name,
                "title": store.scenario_title(name),
                "status": kpis.pop("status", None) or ("NO_RUN" if latest is None else "UNKNOWN"),
                "kpis": kpis,
                "run_id": latest.run_id if latest else None,
                "runs": len(all_runs),
                "job": {k: active[name].get(k) for k in ("id", "state", "progress")}
                if name in active
                else None,
            }
        )
    return rows


def sort_rows(rows: list[dict[str, Any]], key: str, descending: bool) -> list[dict[str, Any]]:
    """Sort by a column; rows without a value go last either way."""

    def value(row: dict[str, Any]) -> Any:
        return row[key] if key in ("name", "status") else row["kpis"].get(key)

    present = [r for r in rows if value(r) is not None]
    missing = [r for r in rows if value(r) is None]
    present.sort(key=value, reverse=descending)
    return present + missing


@bp.get("/")
def index() -> str:
    key = request.args.get("sort", "name")
    key = key if key in SORT_KEYS else "name"
    descending = request.args.get("dir") == "desc"
    rows = sort_rows(scenario_rows(), key, descending)
    return render_template("scenarios.html", rows=rows, sort=key, descending=descending)
