"""Two scenarios side by side: KPI differences, region bars, changed plots and synced maps."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request, url_for
from flask_babel import gettext as _

from web import services
from web.maps import map_labels, tiles_config

bp = Blueprint("compare", __name__)


@bp.get("/compare")
def index() -> str:
    from planner.batch import compare_runs

    store = services().store
    names = [n for n in store.scenario_files() if store.latest(n) is not None]
    a, b = request.args.get("a"), request.args.get("b")
    context: dict[str, Any] = {"names": names, "a": a, "b": b, "diff": None}
    if a and b:
        run_a, run_b = store.run(a), store.run(b)
        diff = compare_runs(run_a.path, run_b.path)
        top = max([1, *(max(r["a"], r["b"]) for r in diff["regions"])])
        context.update(
            diff=diff,
            kpi_labels=kpi_labels(),
            title_a=store.scenario_title(a),
            title_b=store.scenario_title(b),
            run_a=run_a,
            run_b=run_b,
            top=top,
            config={
                "a": url_for("api.allocation", name=a, run=run_a.run_id),
                "b": url_for("api.allocation", name=b, run=run_b.run_id),
                "regions": url_for("api.layer", name=a, layer="regions", run=run_a.run_id),
                "tiles": tiles_config(),
                "labels": map_labels(),
            },
        )
    return render_template("compare.html", **context)


def kpi_labels() -> dict[str, str]:
    """The compared KPIs in the page's language, with the words the other pages use."""
    return {
        "status": _("Status"),
        "target_homes": _("Target homes"),
        "homes": _("Homes placed"),
        "support_homes": _("Support homes"),
        "plots_used": _("Plots used"),
        "objective": _("Objective"),
        "best_bound": _("Best bound"),
        "gap": _("Optimality gap"),
        "total_cost_eur": _("Cost"),
        "solve_seconds": _("Solve time (seconds)"),
    }
