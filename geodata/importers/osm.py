"""OpenStreetMap -> the ``services`` and ``amenities`` contract layers, through a tag mapping.

Care and support are only partly mapped in OSM, and tagging varies (``amenity=doctors`` next to
``healthcare=doctor``; ``social_facility:for=homeless;drug_addicted``). So the translation from
tags to Flexplan service and amenity types is a list of plain rules (`DEFAULT_RULES`) that a
user can extend or replace with a YAML file, instead of code. docs/osm.md documents the rules and
the file format.

Inputs, all read element by element into `OsmElement` (type, id, tags, WGS84 or file geometry):

- ``.osm.pbf`` and ``.osm`` XML (also ``.osm.gz``/``.osm.bz2``) through pyosmium. Node
  locations are cached so ways get geometry; multipolygon relations are assembled into areas.
  pyosmium reads both formats, so one reader covers PBF and XML (pyrosm reads PBF only).
- Overpass JSON (``[out:json]``; ways and relations need ``out center`` or ``out geom``).
- A GeoPackage, GeoJSON, ... of OSM features whose columns are tags (e.g. a QGIS/ogr2ogr export
  such as ``osm_supermarkten_utrecht.gpkg``); ``addr_city`` is accepted for ``addr:city``.

Ways and areas become their representative point (a point guaranteed inside the polygon, or on
the line), computed in EPSG:28992 after ``make_valid`` so broken OSM polygons do not fail.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely
import yaml
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

from geodata.contract import TARGET_CRS, validate_layer
from geodata.readers import quote, read_file
from planner.errors import LayerError

logger = logging.getLogger(__name__)

#: The layers a rule can write to, with their id column.
LAYERS: dict[str, str] = {"services": "service_id", "amenities": "amenity_id"}

WGS84 = "EPSG:4326"
_OSMIUM_SUFFIXES = (".osm.pbf", ".pbf", ".osm", ".osm.gz", ".osm.bz2", ".xml")
_RULE_KEYS = {"match", "layer", "type"}
_MAPPING_KEYS = {"mode", "rules"}
_ATTRIBUTION = "© OpenStreetMap contributors (ODbL)"

#: The default tag mapping, in the same format as a ``--mapping`` YAML file. Rules are tried in
#: order and the first match wins, so the specific care rules come before the general ones.
#: A value ``None`` means "tag absent"; a list means "any of these"; ``"*"`` means "any value".
DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    # Shelter and outreach for homeless people: maatschappelijke opvang.
    {
        "match": {"amenity": "social_facility", "social_facility:for": "homeless"},
        "layer": "services",
        "type": "opvang",
    },
    {
        "match": {
            "amenity": "social_facility",
            "social_facility": "shelter",
            "social_facility:for": None,
        },
        "layer": "services",
        "type": "opvang",
    },
    # Addiction care.
    {
        "match": {"healthcare": "counselling", "counselling": "addiction"},
        "layer": "services",
        "type": "verslavingszorg",
    },
    {
        "match": {"healthcare": "counselling", "healthcare:counselling": "addiction"},
        "layer": "services",
        "type": "verslavingszorg",
    },
    {
        "match": {"amenity": "social_facility", "social_facility:for": "drug_addicted"},
        "layer": "services",
        "type": "verslavingszorg",
    },
    # Mental health care (GGZ).
    {
        "match": {"amenity": "social_facility", "social_facility:for": "mental_health"},
        "layer": "services",
        "type": "ggz",
    },
    {"match": {"healthcare": "psychotherapist"}, "layer": "services", "type": "ggz"},
    {"match": {"healthcare:speciality": "psychiatry"}, "layer": "services", "type": "ggz"},
    # General practitioners: doctors without a speciality, or with speciality general.
    {
        "match": {"amenity": "doctors", "healthcare:speciality": ["general", None]},
        "layer": "services",
        "type": "huisarts",
    },
    {
        "match": {"healthcare": "doctor", "healthcare:speciality": ["general", None]},
        "layer": "services",
        "type": "huisarts",
    },
    {"match": {"amenity": "community_centre"}, "layer": "services", "type": "buurthuis"},
    # Amenities that raise a plot's suitability.
    {"match": {"highway": "bus_stop"}, "layer": "amenities", "type": "transit_stop"},
    {
        "match": {"public_transport": ["platform", "stop_position", "station"]},
        "layer": "amenities",
        "type": "transit_stop",
    },
    {
        "match": {"railway": ["station", "halt", "tram_stop"]},
        "layer": "amenities",
        "type": "transit_stop",
    },
    {"match": {"amenity": "bus_station"}, "layer": "amenities", "type": "transit_stop"},
    {"match": {"shop": "supermarket"}, "layer": "amenities", "type": "supermarket"},
    {"match": {"leisure": "park"}, "layer": "amenities", "type": "park"},
)


@dataclass(frozen=True)
class Rule:
    """One mapping rule: when every condition in ``match`` holds, the element is ``layer/type``.

    ``match`` maps a tag key to the accepted values: ``None`` in the tuple means the tag may be
    absent, ``"*"`` any value. Multi-valued OSM tags (``a;b``) match when any part matches.
    """

    match: tuple[tuple[str, tuple[str | None, ...]], ...]
    layer: str
    type: str

    def matches(self, tags: Mapping[str, str]) -> bool:
        """Whether ``tags`` satisfy every condition of this rule."""
        return all(_condition_holds(tags.get(key), values) for key, values in self.match)

    def describe(self) -> str:
        """The rule as ``key=value`` text, for the ``osm_rule`` column and reports."""
        parts = []
        for key, values in self.match:
            shown = "|".join("<absent>" if v is None else v for v in values)
            parts.append(f"{key}={shown}")
        return " + ".join(parts)


@dataclass(frozen=True)
class TagMapping:
    """An ordered list of rules; the first rule that matches an element decides its type."""

    rules: tuple[Rule, ...]

    def classify(self, tags: Mapping[str, str]) -> Rule | None:
        """The first rule matching ``tags``, or None."""
        return next((rule for rule in self.rules if rule.matches(tags)), None)

    def keys(self) -> set[str]:
        """Every tag key some rule requires to be present (for pre-filtering the input)."""
        keys = set()
        for rule in self.rules:
            for key, values in rule.match:
                if None not in values:
                    keys.add(key)
        return keys

    def condition_keys(self) -> set[str]:
        """Every tag key any rule looks at, present or absent."""
        return {key for rule in self.rules for key, _ in rule.match}


@dataclass
class OsmElement:
    """One OSM element as read: ``geometry`` in the source CRS, or None when it had none."""

    osm_type: str
    osm_id: str
    tags: dict[str, str]
    geometry: BaseGeometry | None


@dataclass
class OsmImportReport:
    """What an import wrote and dropped, for the CLI to print."""

    source: Path
    written: dict[str, Path] = field(default_factory=dict)
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    dropped: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        lines = [f"read {self.source}"]
        for layer in LAYERS:
            counts = self.counts.get(layer, Counter())
            total = sum(counts.values())
            where = self.written.get(layer)
            detail = ", ".join(f"{t} {n}" for t, n in sorted(counts.items()))
            target = f" -> {where}" if where else " (nothing matched; file not written)"
            lines.append(f"{layer}: {total}{f' ({detail})' if detail else ''}{target}")
        for reason, n in sorted(self.dropped.items()):
            lines.append(f"dropped {n}: {reason}")
        return lines


# --- the mapping --------------------------------------------------------------------------


def default_mapping() -> TagMapping:
    """The documented default mapping (`DEFAULT_RULES`)."""
    return TagMapping(
        tuple(_parse_rule(r, i, "default mapping") for i, r in enumerate(DEFAULT_RULES, 1))
    )


def default_mapping_yaml() -> str:
    """The default mapping as a YAML file users can copy and edit."""
    header = (
        "# Flexplan OSM tag mapping (see docs/osm.md). mode: extend tries these rules before\n"
        "# the defaults; mode: replace uses only these. First matching rule wins.\n"
    )
    body = yaml.safe_dump(
        {"mode": "replace", "rules": [dict(r) for r in DEFAULT_RULES]},
        sort_keys=False,
        allow_unicode=True,
    )
    return header + body


def load_mapping(path: Path | None) -> TagMapping:
    """The default mapping, or the one in ``path`` (``mode: extend`` or ``replace``).

    With ``mode: extend`` (the default) the file's rules are tried first, so they can both add
    types and override the default type of a tag combination.
    """
    if path is None:
        return default_mapping()
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LayerError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = " ".join(str(exc).split())
        raise LayerError(f"{path}: cannot read the tag mapping: {reason}") from None
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise LayerError(f"{path}: a tag mapping needs a list 'rules:' (see docs/osm.md)")
    unknown = set(data) - _MAPPING_KEYS
    if unknown:
        raise LayerError(f"{path}: unknown key {quote(sorted(unknown)[0])}; allowed: mode, rules")
    mode = data.get("mode", "extend")
    if mode not in ("extend", "replace"):
        raise LayerError(f"{path}: mode {quote(mode)} must be 'extend' or 'replace'")
    rules = tuple(_parse_rule(r, i, str(path)) for i, r in enumerate(data["rules"], 1))
    if not rules:
        raise LayerError(f"{path}: 'rules:' is empty; give at least one rule")
    if mode == "extend":
        rules = rules + default_mapping().rules
    return TagMapping(rules)


def _parse_rule(raw: object, number: int, source: str) -> Rule:
    where = f"{source}: rule {number}"
    if not isinstance(raw, dict):
        raise LayerError(f"{where}: must be a mapping with match, layer and type")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise LayerError(
            f"{where}: unknown key {quote(sorted(unknown)[0])}; allowed: match, layer, type"
        )
    layer = raw.get("layer")
    if layer not in LAYERS:
        raise LayerError(f"{where}: layer {quote(layer)} must be 'services' or 'amenities'")
    kind = raw.get("type")
    if not isinstance(kind, str) or not kind.strip():
        raise LayerError(f"{where}: type must be a non-empty text such as 'huisarts'")
    match = raw.get("match")
    if not isinstance(match, dict) or not match:
        raise LayerError(f"{where}: match must map tag keys to values, e.g. {{amenity: doctors}}")
    conditions = tuple((str(k), _values(v, where, str(k))) for k, v in match.items())
    if all(None in values for _, values in conditions):
        raise LayerError(f"{where}: at least one condition must require a tag to be present")
    return Rule(conditions, layer, kind.strip().lower())


def _values(raw: object, where: str, key: str) -> tuple[str | None, ...]:
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise LayerError(f"{where}: {key}: the list of values is empty")
    values: list[str | None] = []
    for item in items:
        if item is None or isinstance(item, str):
            values.append(item)
        elif isinstance(item, bool):  # YAML reads `yes`/`no` as booleans
            values.append("yes" if item else "no")
        elif isinstance(item, int | float):
            values.append(str(item))
        else:
            raise LayerError(f"{where}: {key}: value {quote(item)} must be text, a list or null")
    return tuple(values)


def _condition_holds(value: str | None, accepted: tuple[str | None, ...]) -> bool:
    if value is None or value == "":
        return None in accepted
    parts = {part.strip() for part in value.split(";")}
    return any(a == "*" or a in parts for a in accepted if a is not None)


# --- reading ------------------------------------------------------------------------------


def read_elements(
    path: Path, mapping: TagMapping, dropped: Counter[str], *, layer: str | None = None
) -> tuple[list[OsmElement], str]:
    """All candidate elements of ``path`` and the CRS of their geometry.

    Elements that cannot be used at all (no geometry, unassembled relations) are counted in
    ``dropped`` with the reason and left out.
    """
    path = Path(path)
    if not path.is_file():
        raise LayerError(f"{path}: file not found")
    name = path.name.lower()
    if name.endswith(_OSMIUM_SUFFIXES):
        return list(_read_osmium(path, mapping, dropped)), WGS84
    if name.endswith(".json"):
        data = _read_json(path)
        if isinstance(data, dict) and "elements" in data:
            return list(_read_overpass(data, path, dropped)), WGS84
    return _read_table(path, mapping, dropped, layer)


def _read_osmium(path: Path, mapping: TagMapping, dropped: Counter[str]) -> Iterator[OsmElement]:
    import osmium
    import osmium.filter
    import osmium.geom

    wkb = osmium.geom.WKBFactory()
    processor = (
        osmium.FileProcessor(str(path))
        .with_locations()
        .with_areas()
        .with_filter(osmium.filter.KeyFilter(*sorted(mapping.keys())))
    )
    relations: set[int] = set()
    assembled: set[int] = set()
    try:
        for obj in processor:
            tags = {tag.k: tag.v for tag in obj.tags}
            if obj.is_node():
                yield OsmElement("node", str(obj.id), tags, _node_point(obj))
            elif obj.is_way():
                yield OsmElement("way", str(obj.id), tags, _way_geometry(obj))
            elif obj.is_relation():
                relations.add(obj.id)
            elif obj.is_area() and not obj.from_way():
                assembled.add(obj.orig_id())
                yield OsmElement("relation", str(obj.orig_id()), tags, _area(obj, wkb))
    except RuntimeError as exc:
        reason = " ".join(str(exc).split())
        raise LayerError(f"{path}: cannot read OSM data: {reason}") from None
    unassembled = len(relations - assembled)
    if unassembled:
        dropped["relation without area geometry (only multipolygons are read)"] += unassembled


def _node_point(node: Any) -> Point | None:
    location = node.location
    return Point(location.lon, location.lat) if location.valid() else None


def _way_geometry(way: Any) -> BaseGeometry | None:
    coords = [(n.lon, n.lat) for n in way.nodes if n.location.valid()]
    if len(coords) < len(way.nodes):
        return None  # nodes outside the extract: counted as "no geometry" later
    if len(coords) >= 4 and coords[0] == coords[-1]:
        return Polygon(coords)
    if len(coords) >= 2:
        return LineString(coords)
    return Point(coords[0]) if coords else None


def _area(area: Any, wkb: Any) -> BaseGeometry | None:
    try:
        return shapely.from_wkb(wkb.create_multipolygon(area))
    except RuntimeError:
        return None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LayerError(f"{path}: not valid JSON: {exc}") from None


def _read_overpass(data: dict[str, Any], path: Path, dropped: Counter[str]) -> Iterator[OsmElement]:
    remark = str(data.get("remark") or "")
    if "error" in remark.lower():
        logger.warning("%s: Overpass reported: %s (the answer may be incomplete)", path, remark)
    elements = data.get("elements")
    if not isinstance(elements, list):
        raise LayerError(f"{path}: 'elements' is not a list; is this an Overpass JSON answer?")
    for element in elements:
        if not isinstance(element, dict) or "type" not in element or "id" not in element:
            dropped["not an OSM element (no type or id)"] += 1
            continue
        tags = element.get("tags")
        tags = tags if isinstance(tags, dict) else {}
        yield OsmElement(
            str(element["type"]),
            str(element["id"]),
            {str(k): str(v) for k, v in tags.items()},
            _overpass_geometry(element),
        )


def _overpass_geometry(element: dict[str, Any]) -> BaseGeometry | None:
    if _is_lonlat(element):
        return Point(float(element["lon"]), float(element["lat"]))
    center = element.get("center")
    if isinstance(center, dict) and _is_lonlat(center):
        return Point(float(center["lon"]), float(center["lat"]))
    geometry = element.get("geometry")
    if isinstance(geometry, list):
        coords = [(float(p["lon"]), float(p["lat"])) for p in geometry if _is_lonlat(p)]
        if len(coords) >= 4 and coords[0] == coords[-1]:
            return Polygon(coords)
        if len(coords) >= 2:
            return LineString(coords)
        if coords:
            return Point(coords[0])
    return None


def _is_lonlat(item: object) -> bool:
    if not isinstance(item, dict):
        return False
    try:
        return math.isfinite(float(item["lon"])) and math.isfinite(float(item["lat"]))
    except (KeyError, TypeError, ValueError):
        return False


def _read_table(
    path: Path, mapping: TagMapping, dropped: Counter[str], layer: str | None
) -> tuple[list[OsmElement], str]:
    frame = read_file(path, layer=layer)
    if not isinstance(frame, gpd.GeoDataFrame) or frame.crs is None:
        raise LayerError(f"{path}: OSM features need geometry with a CRS (GeoPackage, GeoJSON)")
    columns = [c for c in frame.columns if c != frame.geometry.name]
    aliases = _tag_aliases(columns, mapping.condition_keys() | {"name"})
    elements = []
    for row_number, (record, geometry) in enumerate(
        zip(frame[columns].to_dict("records"), frame.geometry, strict=True), 1
    ):
        tags = {str(k): str(v).strip() for k, v in record.items() if not _blank(v)}
        for key, column in aliases.items():
            if column in tags and key not in tags:
                tags[key] = tags[column]
        osm_type, osm_id = _table_identity(tags, row_number)
        has_geometry = geometry is not None and not geometry.is_empty
        elements.append(OsmElement(osm_type, osm_id, tags, geometry if has_geometry else None))
    return elements, frame.crs.to_string()


def _tag_aliases(columns: Iterable[str], keys: set[str]) -> dict[str, str]:
    """Tag key -> column for exports that renamed ``addr:city`` to ``addr_city`` or upper-cased."""
    by_lower = {c.lower(): c for c in columns}
    aliases = {}
    for key in keys:
        for candidate in (key, key.replace(":", "_")):
            if candidate.lower() in by_lower and by_lower[candidate.lower()] != key:
                aliases[key] = by_lower[candidate.lower()]
                break
    return aliases


def _blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _table_identity(tags: Mapping[str, str], row_number: int) -> tuple[str, str]:
    """(type, id) from osm_type/osm_id, an ``@id``/``id`` like ``node/123``, or the row."""
    osm_type, osm_id = tags.get("osm_type"), tags.get("osm_id")
    if osm_type and osm_id:
        return osm_type.lower(), _integer_text(osm_id)
    for column in ("@id", "id", "full_id"):
        text = tags.get(column, "")
        kind, sep, number = text.partition("/")
        if sep and kind in ("node", "way", "relation") and number.isdigit():
            return kind, number
        prefix = {"n": "node", "w": "way", "r": "relation"}.get(text[:1])
        if prefix and text[1:].isdigit():
            return prefix, text[1:]
    if osm_id:
        return "element", _integer_text(osm_id)
    return "row", str(row_number)


def _integer_text(text: str) -> str:
    with contextlib.suppress(ValueError):
        number = float(text)
        if number.is_integer():
            return str(int(number))
    return text


# --- mapping elements to layers ----------------------------------------------------------


def classify_elements(
    elements: Iterable[OsmElement], crs: str, mapping: TagMapping, dropped: Counter[str]
) -> dict[str, gpd.GeoDataFrame]:
    """Map elements to raw ``services``/``amenities`` frames (points in EPSG:28992).

    Elements are dropped, with the reason counted, when no rule matches, they have no geometry,
    or their id was seen before (the same element twice in a table).
    """
    rows: dict[str, list[dict[str, Any]]] = {layer: [] for layer in LAYERS}
    geometries: dict[str, list[BaseGeometry]] = {layer: [] for layer in LAYERS}
    seen: set[str] = set()
    for element in elements:
        if not element.tags:
            dropped["no tags (e.g. way nodes)"] += 1
            continue
        rule = mapping.classify(element.tags)
        if rule is None:
            dropped["no matching rule"] += 1
            continue
        if element.geometry is None:
            dropped["no geometry (ways/relations need node locations, or `out center`)"] += 1
            continue
        element_id = f"osm-{element.osm_type}-{element.osm_id}"
        if element_id in seen:
            dropped["duplicate element"] += 1
            continue
        seen.add(element_id)
        rows[rule.layer].append(
            {
                LAYERS[rule.layer]: element_id,
                "type": rule.type,
                "name": element.tags.get("name"),
                "osm_rule": rule.describe(),
                "source": _ATTRIBUTION,
            }
        )
        geometries[rule.layer].append(element.geometry)
    return {layer: _points_in_rd(rows[layer], geometries[layer], crs, dropped) for layer in LAYERS}


def _points_in_rd(
    rows: list[dict[str, Any]], geometries: list[BaseGeometry], crs: str, dropped: Counter[str]
) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(rows, geometry=gpd.GeoSeries(geometries, crs=crs))
    if frame.empty:
        return frame
    frame = frame.to_crs(TARGET_CRS)
    points = [_representative(g) for g in frame.geometry]
    keep = [p is not None for p in points]
    if not all(keep):
        dropped["geometry could not be repaired"] += keep.count(False)
    frame = frame.set_geometry(gpd.GeoSeries(points, crs=TARGET_CRS, index=frame.index))
    return frame[keep].reset_index(drop=True)


def _representative(geometry: BaseGeometry) -> Point | None:
    """A point for a node, way or area: inside a polygon, on a line (after repair)."""
    if isinstance(geometry, Point):
        return geometry
    if not geometry.is_valid:
        repaired = shapely.make_valid(geometry, method="structure")
        if repaired.is_empty and isinstance(geometry, Polygon):
            repaired = geometry.exterior  # a closed way with no area: a point on its ring
        geometry = repaired
    if geometry.is_empty:
        return None
    return geometry.representative_point()


# --- the import ---------------------------------------------------------------------------


def import_osm(
    path: Path, out_dir: Path, *, mapping: TagMapping | None = None, layer: str | None = None
) -> OsmImportReport:
    """Read OSM data and write ``out_dir/services.gpkg`` and ``out_dir/amenities.gpkg``.

    Parameters
    ----------
    path
        ``.osm.pbf``, ``.osm`` XML, Overpass JSON, or a GeoPackage/GeoJSON of OSM features with
        tag columns.
    out_dir
        Folder for the two layers; created when missing. A layer nothing matched is not written.
    mapping
        The tag mapping; `default_mapping` when None.
    layer
        Layer of a multi-layer GeoPackage of OSM features.

    Returns
    -------
    What was written per layer and type, and what was dropped and why.
    """
    path = Path(path)
    out_dir = Path(out_dir)
    mapping = mapping or default_mapping()
    report = OsmImportReport(source=path)
    elements, crs = read_elements(path, mapping, report.dropped, layer=layer)
    frames = classify_elements(elements, crs, mapping, report.dropped)
    if all(frame.empty for frame in frames.values()):
        raise LayerError(
            f"{path}: no element matched the tag mapping ({len(elements)} read); "
            "check the file or give --mapping"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    for layer, frame in frames.items():
        report.counts[layer] = Counter(frame["type"]) if not frame.empty else Counter()
        if frame.empty:
            logger.warning("%s: no %s matched; %s.gpkg not written", path, layer, layer)
            continue
        target = out_dir / f"{layer}.gpkg"
        valid = validate_layer(layer, frame, source=str(target))
        write_gpkg(valid, target, layer)
        report.written[layer] = target
    logger.info("OSM import of %s: %s", path, "; ".join(report.lines()[1:]))
    return report


def write_gpkg(
    frame: gpd.GeoDataFrame, target: Path, layer: str, *, keep_other_layers: bool = False
) -> None:
    """Write one GeoPackage layer atomically: a temp file beside ``target``, then os.replace.

    With ``keep_other_layers`` the other layers of an existing ``target`` are copied along (so
    ``buurten`` and ``wijken`` can share one file); otherwise the file holds only ``layer``.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(
        prefix=f".{target.stem}.", suffix=".gpkg", dir=target.parent
    )
    os.close(handle)
    temp = Path(temp_name)
    try:
        temp.unlink()  # GDAL creates the GeoPackage itself
        if keep_other_layers and target.is_file():
            shutil.copyfile(target, temp)
        frame.to_file(temp, layer=layer, driver="GPKG")
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
