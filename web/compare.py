"""Two scenarios side by side: KPI differences, region bars, changed plots and synced maps."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request, url_for

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
