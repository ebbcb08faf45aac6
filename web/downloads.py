"""Run files as downloads, always as attachments (a report must not run inside this site)."""

from __future__ import annotations

import io
from typing import Any

from flask import Blueprint, request, send_file

from web import services
from web.errors import ApiError

bp = Blueprint("downloads", __name__, url_prefix="/downloads")

# kind -> (file in the run folder or None when made here, download suffix, mimetype)
KINDS: dict[str, tuple[str | None, str, str]] = {
    "gpkg": ("allocation.gpkg", "allocation.gpkg", "application/geopackage+sqlite3"),
    "geojson": (None, "plots.geojson", "application/geo+json"),
    "csv": (None, "plots.csv", "text/csv"),
    "assignments": ("support_assignments.csv", "support_assignments.csv", "text/csv"),
    "report": ("report.html", "report.html", "text/html"),
    "kpis": ("kpis.json", "kpis.json", "application/json"),
}


@bp.get("/<name>/<kind>")
def file(name: str, kind: str) -> Any:
    if kind not in KINDS:
        raise ApiError(404, f"no download '{kind}'; choose one of {', '.join(KINDS)}", "kind")
    run = services().store.run(name, request.args.get("run") or None)
    source, suffix, mimetype = KINDS[kind]
    download = f"{name}-{run.run_id}-{suffix}"
    if source is not None:
        path = run.path / source
        if not path.is_file():
            raise ApiError(404, f"run '{run.run_id}' of '{name}' has no {source}", "kind")
        return send_file(path, mimetype=mimetype, as_attachment=True, download_name=download)
    data = _plots_geojson(run.path) if kind == "geojson" else _plots_csv(run.path)
    return send_file(
        io.BytesIO(data), mimetype=mimetype, as_attachment=True, download_name=download
    )


def _plots(folder: Any) -> Any:
    import pyogrio

    return pyogrio.read_dataframe(folder / "allocation.gpkg", layer="plots")


def _plots_geojson(folder: Any) -> bytes:
    """Every plot with all its columns, unsimplified, in WGS84 (RFC 7946)."""
    return _plots(folder).to_crs("EPSG:4326").to_json(na="null", drop_id=True).encode()


def _plots_csv(folder: Any) -> bytes:
    plots = _plots(folder)
    return plots.drop(columns=plots.geometry.name).to_csv(index=False).encode("utf-8")
