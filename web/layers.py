"""The map's layers as GeoJSON (WGS84) read from a run folder, cached per file version.

The map page stays small because these are fetched separately; geometry is simplified in metres
(RD New) and coordinates are rounded to 6 decimals (~0.1 m), as in the offline report.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
import yaml

from web.store import Run

log = logging.getLogger(__name__)

LAYERS = ("allocation", "unused", "services", "buurten", "regions")
_WORK_CRS = "EPSG:28992"
_SIMPLIFY_M = {"allocation": 5.0, "unused": 5.0, "buurten": 5.0, "regions": 50.0}
_PLOT_COLUMNS = [
    "plot_id",
    "name",
    "homes",
    "support_homes",
    "capacity",
    "suitability",
    "reason",
    "buurt_id",
    "region_id",
]


def layer_geojson(run: Run, layer: str) -> bytes:
    """One layer of a run as GeoJSON bytes; ``layer`` must be one of :data:`LAYERS`."""
    if layer not in LAYERS:
        raise KeyError(layer)
    stamp = (run.path / "allocation.gpkg").stat().st_mtime_ns
    return _cached(str(run.path), stamp, layer)


@functools.lru_cache(maxsize=32)
def _cached(folder: str, _stamp: int, layer: str) -> bytes:
    path = Path(folder)
    if layer in ("allocation", "unused"):
        frame = _plots(path, used=layer == "allocation")
    elif layer == "services":
        frame = _read(path / "allocation.gpkg", "services")
        frame = frame[["service_id", "type", "name", "capacity", "load", "geometry"]]
    elif layer == "buurten":
        frame = _buurten(path)
    else:
        frame = _regions(path)
    return _to_geojson(frame, _SIMPLIFY_M.get(layer))


def _plots(folder: Path, *, used: bool) -> Any:
    plots = _read(folder / "allocation.gpkg", "plots")
    plots = plots[plots["selected"].astype(bool) == used]
    if used:
        plots = plots.sort_values("homes", ascending=False, kind="stable")
    dists = [c for c in plots.columns if c.startswith("dist_") and c.endswith("_m")]
    keep = [c for c in _PLOT_COLUMNS if c in plots.columns and (c != "reason" or not used)]
    out = plots[[*keep, *dists, "geometry"]].copy()
    if "suitability" in out.columns:
        out["suitability"] = pd.to_numeric(out["suitability"], errors="coerce").round(3)
    return out


def _buurten(folder: Path) -> Any:
    import geopandas as gpd

    try:
        buurten = _read(folder / "allocation.gpkg", "buurten")
    except Exception:  # a run without neighbourhoods has no buurten layer
        return gpd.GeoDataFrame({"geometry": []}, crs=_WORK_CRS)
    buurten = buurten[pd.to_numeric(buurten["homes"], errors="coerce").fillna(0) > 0]
    cols = [c for c in ("buurt_id", "name", "dwellings", "homes", "cap", "share") if c in buurten]
    out = buurten[[*cols, "geometry"]].copy()
    if "share" in out.columns:
        out["share"] = pd.to_numeric(out["share"], errors="coerce").round(5)
    return out


def _regions(folder: Path) -> Any:
    """Region outlines from the run's own resolved scenario, with the run's region totals."""
    import geopandas as gpd

    empty = gpd.GeoDataFrame({"geometry": []}, crs=_WORK_CRS)
    resolved = folder / "scenario.resolved.yaml"
    try:
        ref = yaml.safe_load(resolved.read_text(encoding="utf-8"))["layers"]["regions"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return empty
    if not isinstance(ref, dict) or not ref.get("path"):
        return empty
    try:
        from geodata.contract import load_layer

        regions = load_layer(
            "regions", Path(ref["path"]), layer=ref.get("layer"), crs=ref.get("crs")
        )
    except Exception as exc:  # the input may have moved since the run; the map works without
        log.warning("web: region outlines of %s unavailable: %s", folder, exc)
        return empty
    totals = {
        str(r.get("region_id")): r
        for r in json.loads((folder / "kpis.json").read_text(encoding="utf-8")).get(
            "per_region", []
        )
        if isinstance(r, dict)
    }
    ids = regions["region_id"].astype(str)
    out = gpd.GeoDataFrame(
        {
            "region_id": ids,
            "name": regions.get("name"),
            "homes": [totals.get(i, {}).get("homes", 0) for i in ids],
            "min_homes": [totals.get(i, {}).get("min_homes") for i in ids],
            "max_homes": [totals.get(i, {}).get("max_homes") for i in ids],
        },
        geometry=regions.geometry.to_numpy(),
        crs=regions.crs,
    )
    return out[~(out.geometry.isna() | out.geometry.is_empty)]


def _read(path: Path, layer: str) -> Any:
    import pyogrio

    return pyogrio.read_dataframe(path, layer=layer)


def _to_geojson(frame: Any, simplify_m: float | None) -> bytes:
    """FeatureCollection bytes: simplified in RD, WGS84, rounded, NaN as null."""
    geoms = frame.geometry.to_crs(_WORK_CRS)
    if simplify_m:
        geoms = geoms.simplify(simplify_m, preserve_topology=True)
    geoms = geoms.to_crs("EPSG:4326")
    rounded = shapely.transform(geoms.values, lambda xy: np.round(xy, 6))
    props = frame.drop(columns=frame.geometry.name)
    records = [{k: _plain(v) for k, v in row.items()} for row in props.to_dict(orient="records")]
    features = [
        {"type": "Feature", "geometry": shapely.geometry.mapping(g), "properties": p}
        for g, p in zip(rounded, records, strict=True)
        if g is not None and not g.is_empty
    ]
    data = {"type": "FeatureCollection", "features": features}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return str(value)
