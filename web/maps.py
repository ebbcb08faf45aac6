"""The scenario map page: a small HTML page whose layers come from the API as GeoJSON.

Leaflet is served by the app from the XStatic-Leaflet package (never a CDN), so the map works
without internet. PDOK's BRT is the default background (``BASEMAP``); when its tiles cannot
be loaded, ``static/map.js`` falls back to the plain offline background once. Popups and the
legend are built by ``static/map.js`` with ``textContent``, so no name from the data is ever
parsed as HTML.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_babel import gettext as _
from xstatic.pkg import leaflet as xstatic_leaflet

from web import services
from web.layers import layer_geojson
from web.store import Run
from web.summary import headline
from web.timeline import chart, timeline

bp = Blueprint("maps", __name__)

LEAFLET_FILES = frozenset(
    {
        "leaflet.js",
        "leaflet.css",
        "images/layers.png",
        "images/layers-2x.png",
        "images/marker-icon.png",
        "images/marker-icon-2x.png",
        "images/marker-shadow.png",
    }
)
SHOW_SERVICES_MAX = 1_000  # more markers hide the plots at country scale: start switched off


@bp.get("/vendor/leaflet/<path:filename>")
def leaflet(filename: str) -> Any:
    """Leaflet's files from the installed XStatic package (whitelisted names only)."""
    if filename not in LEAFLET_FILES:
        abort(404)
    response = send_from_directory(Path(xstatic_leaflet.BASE_DIR), filename, max_age=86_400)
    return response


@bp.get("/scenarios/<name>/map")
def show(name: str) -> str:
    store = services().store
    run = store.run(name, request.args.get("run") or None)
    kpis = run.kpis()
    plots = _plot_properties(run, "allocation")
    types = [
        {"type": str(r.get("type")), "count": int(r.get("services") or 0)}
        for r in kpis.get("per_service_type") or []
        if isinstance(r, dict)
    ]
    urls = {
        layer: url_for("api.layer", name=name, layer=layer, run=run.run_id)
        for layer in ("unused", "services", "buurten", "regions")
    }
    urls["allocation"] = url_for("api.allocation", name=name, run=run.run_id)
    years = timeline(run)
    if years is not None:  # a phased run: the year slider and chart fetch this
        urls["timeline"] = url_for("api.timeline", name=name, run=run.run_id)
    config = {
        "urls": urls,
        "serviceTypes": types,
        "showServices": sum(t["count"] for t in types) <= SHOW_SERVICES_MAX,
        "tiles": tiles_config(),
        "basemap": basemap(),
        "labels": map_labels(),
    }
    return render_template(
        "map.html",
        name=name,
        title=store.scenario_title(name),
        run=run,
        runs=store.runs(name),
        kpis=kpis,
        summary=headline(run),
        plots=plots,
        unused=_plot_properties(run, "unused"),
        regions=[r for r in kpis.get("per_region") or [] if isinstance(r, dict)],
        service_types=[r for r in kpis.get("per_service_type") or [] if isinstance(r, dict)],
        proposers=[r for r in kpis.get("per_proposer") or [] if isinstance(r, dict)],
        config=config,
        years=years,
        chart=chart(years) if years else None,
    )


def _plot_properties(run: Run, layer: str) -> list[dict[str, Any]]:
    return [f["properties"] for f in json.loads(layer_geojson(run, layer))["features"]]


def tiles_config() -> dict[str, str] | None:
    """PDOK's tiles (``TILES_URL``), or None when switched off (``TILES_URL=""``)."""
    url = current_app.config.get("TILES_URL")
    if not url:
        return None
    return {"url": url, "attribution": "Kaartgegevens © Kadaster (PDOK)"}


def basemap() -> str:
    """The base layer the map starts with: ``pdok`` when configured and tiles exist, else plain."""
    wanted = current_app.config.get("BASEMAP", "pdok")
    return "pdok" if wanted == "pdok" and tiles_config() is not None else "plain"


def map_labels() -> dict[str, str]:
    """Every word the map script shows, in the page's language."""
    return {
        "plot": _("Plot"),
        "name": _("Name"),
        "homes": _("Homes"),
        "support": _("Support homes"),
        "capacity": _("Capacity"),
        "suitability": _("Suitability"),
        "reason": _("Reason not used"),
        "nearest": _("Nearest service"),
        "service": _("Service"),
        "type": _("Type"),
        "load": _("Load / capacity"),
        "unlimited": _("unlimited"),
        "buurt": _("Buurt"),
        "dwellings": _("Dwellings"),
        "flexHomes": _("Flex homes"),
        "cap": _("Maximum"),
        "share": _("Flex share"),
        "region": _("Region"),
        "min": _("Minimum"),
        "usedPlots": _("Used plots"),
        "unusedPlots": _("Unused plots"),
        "buurten": _("Buurten with flex homes"),
        "regions": _("Region outlines"),
        "services": _("Services"),
        "plain": _("No background (offline)"),
        "brt": _("PDOK BRT background map"),
        "legend": _("Legend"),
        "homesLegend": _("Used plots: homes"),
        "shareLegend": _("Buurt: flex share"),
        "loading": _("Loading map layers…"),
        "loaded": _("Map layers loaded."),
        "failed": _("A map layer could not be loaded."),
        "noTiles": _("Background map not reachable; map without background"),
        "notStanding": _("Not standing this year"),
        "homesIn": _("Homes in %(year)s", year="{year}"),
        "standingIn": _("%(standing)s homes standing", standing="{standing}"),
        "targetIn": _("target %(target)s", target="{target}"),
    }
