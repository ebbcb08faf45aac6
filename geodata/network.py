"""Street networks in: OSM (.osm.pbf / .osm) or any line layer, as line segments in EPSG:28992.

Network reach measures walking or cycling routes instead of straight lines. This module only
reads: it returns the usable street lines for a profile; routing lives in ``planner.network``.
Which OSM ways a profile may use follows the OSM highway classes: a walker does not use motorways
and a cyclist does not use footways or steps (unless tagged ``bicycle=yes``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from geodata.readers import read_file
from planner.errors import LayerError

log = logging.getLogger(__name__)

CRS = "EPSG:28992"
NOT_ROUTABLE = {
    "construction",
    "proposed",
    "raceway",
    "bus_guideway",
    "busway",
    "abandoned",
    "platform",
    "elevator",
    "corridor",
}
EXCLUDED = {
    "walk": {"motorway", "motorway_link", "trunk", "trunk_link"} | NOT_ROUTABLE,
    "bike": {
        "motorway",
        "motorway_link",
        "trunk",
        "trunk_link",
        "footway",
        "pedestrian",
        "steps",
        "bridleway",
        "corridor",
    }
    | NOT_ROUTABLE,
}
PROFILES = tuple(EXCLUDED)


def usable(highway: str | None, tags: dict[str, str], profile: str) -> bool:
    """Whether a way with this highway class and tags may be used by the profile."""
    if not highway:
        return False
    access = tags.get("foot" if profile == "walk" else "bicycle")
    if access in ("no", "private"):
        return False
    if profile == "bike" and access in ("yes", "designated", "permissive"):
        return highway not in NOT_ROUTABLE
    return highway not in EXCLUDED[profile]


def _read_osm(path: Path, profile: str) -> gpd.GeoDataFrame:
    """Ways with a highway tag from an OSM file, via pyosmium (no area assembly needed)."""
    try:
        import osmium
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise LayerError(f"{path}: reading OSM needs the 'osmium' package ({exc})") from None
    lines, kinds = [], []
    try:
        processor = (
            osmium.FileProcessor(str(path))
            .with_locations()
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
            .with_filter(osmium.filter.KeyFilter("highway"))
        )
        for way in processor:
            tags = dict(way.tags)
            highway = tags.get("highway")
            if not usable(highway, tags, profile):
                continue
            coords = [(n.lon, n.lat) for n in way.nodes if n.location.valid()]
            if len(coords) >= 2:
                lines.append(shapely.LineString(coords))
                kinds.append(highway)
    except RuntimeError as exc:
        raise LayerError(f"{path}: cannot read this OSM file ({exc})") from None
    frame = gpd.GeoDataFrame({"highway": kinds}, geometry=lines, crs="EPSG:4326")
    return frame.to_crs(CRS)


def _read_lines(path: Path, profile: str, layer: str | None, crs: str | None) -> gpd.GeoDataFrame:
    frame = read_file(path, layer=layer, crs=crs, source_kind="network")
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.isna().all():
        raise LayerError(f"{path}: a network layer needs line geometry")
    if frame.crs is None:
        raise LayerError(f"{path}: the network layer has no CRS; add `crs:` to the layer")
    frame = frame.to_crs(CRS)
    kinds = set(shapely.get_type_id(frame.geometry.to_numpy()).tolist())
    if not kinds <= {1, 5}:  # LineString, MultiLineString
        raise LayerError(f"{path}: network features must be lines (found other geometry types)")
    if "highway" in frame.columns:
        keep = [usable(h if isinstance(h, str) else None, {}, profile) for h in frame["highway"]]
        frame = frame[keep]
    return frame.explode(index_parts=False).reset_index(drop=True)


def read_network(
    path: Path, *, profile: str = "walk", layer: str | None = None, crs: str | None = None
) -> gpd.GeoDataFrame:
    """Usable street lines (LineString, EPSG:28992) for a walking or cycling profile."""
    path = Path(path)
    if profile not in EXCLUDED:
        raise LayerError(f"network profile '{profile}' unknown; use one of {', '.join(PROFILES)}")
    if not path.is_file():
        raise LayerError(f"{path}: network file not found")
    name = path.name.lower()
    if name.endswith((".osm.pbf", ".pbf", ".osm", ".osm.bz2")):
        frame = _read_osm(path, profile)
    else:
        frame = _read_lines(path, profile, layer, crs)
    if frame.empty:
        raise LayerError(f"{path}: no usable street lines for profile '{profile}'")
    log.info("network: %d usable lines (%s) from %s", len(frame), profile, path.name)
    return gpd.GeoDataFrame(
        pd.DataFrame({"highway": frame.get("highway")}), geometry=frame.geometry.to_numpy(), crs=CRS
    )
