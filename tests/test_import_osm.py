"""The OSM importer: every default rule, the override file, geometry, the real Utrecht extract, CLI.

The OSM files are tiny ones written here with pyosmium (XML and PBF) or as Overpass JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import osmium
import pytest
import shapely
from osmium.osm.mutable import Node, Relation, Way
from shapely.geometry import LineString, Point, Polygon

from geodata.contract import load_layer
from geodata.importers.osm import (
    DEFAULT_RULES,
    default_mapping,
    default_mapping_yaml,
    import_osm,
    load_mapping,
)
from planner.errors import LayerError
from tests.test_cli import flexplan

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
UTRECHT_SUPERMARKETS = SHARED / "osm_supermarkten_utrecht.gpkg"

LON0, LAT0 = 5.1, 52.09  # Utrecht

#: One case per default rule (and a few that must not match): tags -> (layer, type) or None.
TAG_CASES: list[tuple[dict[str, str], tuple[str, str] | None]] = [
    ({"amenity": "social_facility", "social_facility:for": "homeless"}, ("services", "opvang")),
    (
        {
            "amenity": "social_facility",
            "social_facility": "outreach",
            "social_facility:for": "drug_addicted;homeless",
        },
        ("services", "opvang"),
    ),
    ({"amenity": "social_facility", "social_facility": "shelter"}, ("services", "opvang")),
    ({"healthcare": "counselling", "counselling": "addiction"}, ("services", "verslavingszorg")),
    (
        {"healthcare": "counselling", "healthcare:counselling": "addiction"},
        ("services", "verslavingszorg"),
    ),
    (
        {"amenity": "social_facility", "social_facility:for": "drug_addicted"},
        ("services", "verslavingszorg"),
    ),
    (
        {"amenity": "social_facility", "social_facility:for": "mental_health"},
        ("services", "ggz"),
    ),
    ({"healthcare": "psychotherapist"}, ("services", "ggz")),
    ({"healthcare": "clinic", "healthcare:speciality": "psychiatry"}, ("services", "ggz")),
    ({"amenity": "doctors", "name": "Huisartsenpraktijk De Linde"}, ("services", "huisarts")),
    ({"amenity": "doctors", "healthcare:speciality": "general"}, ("services", "huisarts")),
    ({"healthcare": "doctor"}, ("services", "huisarts")),
    ({"amenity": "community_centre"}, ("services", "buurthuis")),
    ({"highway": "bus_stop"}, ("amenities", "transit_stop")),
    ({"public_transport": "platform"}, ("amenities", "transit_stop")),
    ({"railway": "halt"}, ("amenities", "transit_stop")),
    ({"amenity": "bus_station"}, ("amenities", "transit_stop")),
    ({"shop": "supermarket"}, ("amenities", "supermarket")),
    ({"leisure": "park"}, ("amenities", "park")),
    # Not care or amenities: a specialist, a bus shelter, a shelter for seniors, a pharmacy.
    ({"amenity": "doctors", "healthcare:speciality": "dermatology"}, None),
    ({"amenity": "shelter"}, None),
    (
        {
            "amenity": "social_facility",
            "social_facility": "shelter",
            "social_facility:for": "senior",
        },
        None,
    ),
    ({"amenity": "pharmacy"}, None),
]


def _node_location(i: int) -> tuple[float, float]:
    return (LON0 + 0.001 * i, LAT0)


def write_osm(
    path: Path,
    nodes: list[tuple[int, dict[str, str], tuple[float, float]]],
    ways: list[tuple[int, list[int], dict[str, str]]] = (),  # type: ignore[assignment]
    relations: list[tuple[int, list[tuple[str, int, str]], dict[str, str]]] = (),  # type: ignore[assignment]
) -> Path:
    """A tiny OSM file (.osm XML or .osm.pbf, by suffix) written with pyosmium."""
    writer = osmium.SimpleWriter(str(path))
    try:
        for node_id, tags, location in nodes:
            writer.add_node(Node(id=node_id, location=location, tags=tags))
        for way_id, refs, tags in ways:
            writer.add_way(Way(id=way_id, nodes=refs, tags=tags))
        for rel_id, members, tags in relations:
            writer.add_relation(Relation(id=rel_id, members=members, tags=tags))
    finally:
        writer.close()
    return path


def overpass_json(path: Path, elements: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"version": 0.6, "elements": elements}), encoding="utf-8")
    return path


def _tag_case_file(tmp_path: Path, fmt: str) -> Path:
    if fmt == "json":
        elements = [
            {
                "type": "node",
                "id": i,
                "lat": _node_location(i)[1],
                "lon": _node_location(i)[0],
                "tags": tags,
            }
            for i, (tags, _) in enumerate(TAG_CASES, 1)
        ]
        return overpass_json(tmp_path / "cases.json", elements)
    nodes = [(i, tags, _node_location(i)) for i, (tags, _) in enumerate(TAG_CASES, 1)]
    return write_osm(tmp_path / f"cases.{fmt}", nodes)


def _read_out(out: Path) -> dict[str, gpd.GeoDataFrame]:
    frames = {}
    for layer in ("services", "amenities"):
        if (out / f"{layer}.gpkg").exists():
            frames[layer] = load_layer(layer, out / f"{layer}.gpkg")
    return frames


@pytest.mark.parametrize("fmt", ["osm", "osm.pbf", "json"])
def test_every_default_rule_maps_its_tags(tmp_path: Path, fmt: str) -> None:
    source = _tag_case_file(tmp_path, fmt)
    report = import_osm(source, tmp_path / "out")
    frames = _read_out(tmp_path / "out")
    found = {}
    for layer, frame in frames.items():
        id_column = "service_id" if layer == "services" else "amenity_id"
        for element_id, kind in zip(frame[id_column], frame["type"], strict=True):
            found[element_id] = (layer, kind)
    expected = {
        f"osm-node-{i}": want for i, (_, want) in enumerate(TAG_CASES, 1) if want is not None
    }
    assert found == expected
    assert report.dropped["no matching rule"] == sum(want is None for _, want in TAG_CASES)
    services = frames["services"].set_index("service_id")
    assert services.loc["osm-node-10", "name"] == "Huisartsenpraktijk De Linde"
    assert services.loc["osm-node-1", "name"] is None
    # Every default rule was exercised by some case, so a new rule needs a new case.
    used = set(services["osm_rule"]) | set(frames["amenities"]["osm_rule"])
    assert used == {rule.describe() for rule in default_mapping().rules}
    assert frames["services"].crs.to_epsg() == 28992


def test_points_are_placed_where_the_node_is(tmp_path: Path) -> None:
    source = write_osm(tmp_path / "one.osm.pbf", [(7, {"amenity": "doctors"}, (LON0, LAT0))])
    import_osm(source, tmp_path / "out")
    services = load_layer("services", tmp_path / "out" / "services.gpkg")
    expected = gpd.GeoSeries([Point(LON0, LAT0)], crs="EPSG:4326").to_crs(28992).iloc[0]
    assert services.geometry.iloc[0].distance(expected) < 0.01


def _rd(geometry: Any) -> Any:
    return gpd.GeoSeries([geometry], crs="EPSG:4326").to_crs(28992).iloc[0]


@pytest.mark.parametrize("suffix", ["osm", "osm.pbf"])
def test_ways_and_areas_become_representative_points(tmp_path: Path, suffix: str) -> None:
    d = 0.001
    # An L-shaped park whose centroid lies outside it, a bus-stop platform drawn as a line, a
    # multipolygon supermarket, a bow-tie (self-intersecting) park and a way with a missing node.
    l_shape = [(0, 0), (3, 0), (3, 1), (1, 1), (1, 3), (0, 3)]
    bow_tie = [(10, 0), (12, 2), (12, 0), (10, 2)]
    square = [(20, 0), (21, 0), (21, 1), (20, 1)]
    line = [(30, 0), (31, 0), (32, 1)]
    nodes = []
    refs: dict[str, list[int]] = {}
    next_id = 1
    for name, coords in {"l": l_shape, "bow": bow_tie, "square": square, "line": line}.items():
        refs[name] = []
        for x, y in coords:
            nodes.append((next_id, {}, (LON0 + x * d, LAT0 + y * d)))
            refs[name].append(next_id)
            next_id += 1
    ways = [
        (100, [*refs["l"], refs["l"][0]], {"leisure": "park", "name": "L-park"}),
        (101, refs["line"], {"public_transport": "platform"}),
        (102, [*refs["square"], refs["square"][0]], {}),
        (103, [*refs["bow"], refs["bow"][0]], {"leisure": "park"}),
        (104, [refs["line"][0], 999_999], {"shop": "supermarket"}),
    ]
    relations = [
        (200, [("w", 102, "outer")], {"type": "multipolygon", "shop": "supermarket"}),
        (201, [("n", 1, "")], {"type": "site", "amenity": "doctors"}),
    ]
    source = write_osm(tmp_path / f"ways.{suffix}", nodes, ways, relations)
    report = import_osm(source, tmp_path / "out")
    amenities = load_layer("amenities", tmp_path / "out" / "amenities.gpkg").set_index("amenity_id")
    assert set(amenities.index) == {"osm-way-100", "osm-way-101", "osm-way-103", "osm-relation-200"}

    def lonlat(coords: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(LON0 + x * d, LAT0 + y * d) for x, y in coords]

    park = _rd(Polygon(lonlat(l_shape)))
    assert not park.contains(park.centroid)  # so a centroid would be wrong here
    assert park.buffer(0.01).contains(amenities.geometry["osm-way-100"])
    assert amenities.loc["osm-way-100", "name"] == "L-park"
    assert _rd(LineString(lonlat(line))).distance(amenities.geometry["osm-way-101"]) < 0.01
    assert _rd(Polygon(lonlat(square))).contains(amenities.geometry["osm-relation-200"])
    assert (
        _rd(shapely.make_valid(Polygon(lonlat(bow_tie))))
        .buffer(0.01)
        .contains(amenities.geometry["osm-way-103"])
    )
    assert amenities.loc["osm-relation-200", "type"] == "supermarket"
    assert report.dropped["relation without area geometry (only multipolygons are read)"] == 1
    no_geometry = [n for r, n in report.dropped.items() if r.startswith("no geometry")]
    assert no_geometry == [1]  # the way with a node outside the extract


def test_overpass_json_centers_geometries_and_drops(tmp_path: Path) -> None:
    elements = [
        {
            "type": "way",
            "id": 5,
            "center": {"lat": LAT0, "lon": LON0},
            "tags": {"amenity": "community_centre", "name": "Buurthuis"},
        },
        {
            "type": "way",
            "id": 6,
            "tags": {"leisure": "park"},
            "geometry": [
                {"lat": LAT0, "lon": LON0},
                {"lat": LAT0, "lon": LON0 + 0.01},
                {"lat": LAT0 + 0.01, "lon": LON0 + 0.01},
                {"lat": LAT0, "lon": LON0},
            ],
        },
        {"type": "relation", "id": 7, "tags": {"leisure": "park"}},
        {"type": "node", "id": 8, "lat": LAT0, "lon": LON0},
        {"type": "node", "id": 9, "lat": LAT0, "lon": LON0, "tags": {"amenity": "bench"}},
    ]
    report = import_osm(overpass_json(tmp_path / "o.json", elements), tmp_path / "out")
    frames = _read_out(tmp_path / "out")
    assert list(frames["services"]["service_id"]) == ["osm-way-5"]
    assert frames["services"]["name"].iloc[0] == "Buurthuis"
    assert list(frames["amenities"]["amenity_id"]) == ["osm-way-6"]
    triangle = _rd(Polygon([(LON0, LAT0), (LON0 + 0.01, LAT0), (LON0 + 0.01, LAT0 + 0.01)]))
    assert triangle.contains(frames["amenities"].geometry.iloc[0])
    assert report.dropped == {
        "no geometry (ways/relations need node locations, or `out center`)": 1,
        "no tags (e.g. way nodes)": 1,
        "no matching rule": 1,
    }
    lines = report.lines()
    assert "services: 1 (buurthuis 1)" in lines[1]
    assert "dropped 1: no matching rule" in lines


def _mapping_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_mapping_file_extends_and_overrides_the_defaults(tmp_path: Path) -> None:
    mapping = load_mapping(
        _mapping_file(
            tmp_path,
            """
rules:
  - match: {amenity: pharmacy}
    layer: services
    type: Apotheek
  - match: {amenity: doctors, "healthcare:speciality": [general, null]}
    layer: services
    type: gp
""",
        )
    )
    nodes = [
        (1, {"amenity": "pharmacy"}, (LON0, LAT0)),
        (2, {"amenity": "doctors"}, (LON0, LAT0)),
        (3, {"shop": "supermarket"}, (LON0, LAT0)),
    ]
    import_osm(write_osm(tmp_path / "m.osm", nodes), tmp_path / "out", mapping=mapping)
    frames = _read_out(tmp_path / "out")
    assert dict(zip(frames["services"]["service_id"], frames["services"]["type"], strict=True)) == {
        "osm-node-1": "apotheek",
        "osm-node-2": "gp",
    }
    assert list(frames["amenities"]["type"]) == ["supermarket"]  # defaults still apply


def test_mapping_file_can_replace_the_defaults(tmp_path: Path) -> None:
    mapping = load_mapping(
        _mapping_file(
            tmp_path,
            """
mode: replace
rules:
  - match: {shop: [supermarket, convenience]}
    layer: amenities
    type: winkel
""",
        )
    )
    nodes = [(1, {"shop": "convenience"}, (LON0, LAT0)), (2, {"amenity": "doctors"}, (LON0, LAT0))]
    report = import_osm(write_osm(tmp_path / "m.osm.pbf", nodes), tmp_path / "out", mapping=mapping)
    assert not (tmp_path / "out" / "services.gpkg").exists()
    assert report.counts["amenities"] == {"winkel": 1}
    assert "services: 0" in report.lines()[1]


def test_default_mapping_yaml_round_trips(tmp_path: Path) -> None:
    path = _mapping_file(tmp_path, default_mapping_yaml())
    assert load_mapping(path) == default_mapping()
    assert len(default_mapping().rules) == len(DEFAULT_RULES)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [{match: {a: b}, layer: service, type: x}]", "rule 1: layer 'service'"),
        ("rules: [{match: {a: b}, layer: services, typ: x}]", "rule 1: unknown key 'typ'"),
        ("rules: [{match: {a: null}, layer: services, type: x}]", "must require a tag"),
        ("rules: [{match: {}, layer: services, type: x}]", "match must map"),
        ("rules: [{match: {a: b}, layer: services, type: ''}]", "type must be"),
        ("mode: merge\nrules: [{match: {a: b}, layer: services, type: x}]", "mode 'merge'"),
        ("rulez: []", "needs a list 'rules:'"),
        ("rules: [", "cannot read the tag mapping"),
    ],
)
def test_bad_mapping_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(LayerError, match=r"mapping\.yaml") as info:
        load_mapping(_mapping_file(tmp_path, text))
    assert message in str(info.value)


def test_nothing_matched_and_unreadable_files_are_errors(tmp_path: Path) -> None:
    source = write_osm(tmp_path / "none.osm", [(1, {"amenity": "bench"}, (LON0, LAT0))])
    with pytest.raises(LayerError, match="no element matched the tag mapping"):
        import_osm(source, tmp_path / "out")
    broken = tmp_path / "broken.osm.pbf"
    broken.write_bytes(b"\x00\x00\x00\x0dnot a pbf at all")
    with pytest.raises(LayerError, match=r"broken\.osm\.pbf: cannot read OSM data"):
        import_osm(broken, tmp_path / "out")
    with pytest.raises(LayerError, match="file not found"):
        import_osm(tmp_path / "missing.osm.pbf", tmp_path / "out")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{elements: ", encoding="utf-8")
    with pytest.raises(LayerError, match=r"bad\.json: not valid JSON"):
        import_osm(bad_json, tmp_path / "out")


def test_geojson_of_osm_features_with_tag_columns(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {
            "@id": ["node/11", "way/12", None],
            "amenity": ["doctors", None, None],
            "leisure": [None, "park", None],
            "social_facility_for": [None, None, "homeless"],
            "AMENITY_2": [None, None, None],
        },
        geometry=[
            Point(LON0, LAT0),
            Polygon([(LON0, LAT0), (LON0 + 0.01, LAT0), (LON0, LAT0 + 0.01)]),
            Point(LON0, LAT0),
        ],
        crs="EPSG:4326",
    )
    frame["amenity"] = frame["amenity"].astype(object)
    frame.loc[2, "amenity"] = "social_facility"
    source = tmp_path / "features.geojson"
    frame.to_file(source, driver="GeoJSON")
    import_osm(source, tmp_path / "out")
    frames = _read_out(tmp_path / "out")
    types = dict(zip(frames["services"]["service_id"], frames["services"]["type"], strict=True))
    assert types == {"osm-node-11": "huisarts", "osm-row-3": "opvang"}
    assert list(frames["amenities"]["amenity_id"]) == ["osm-way-12"]
    assert frames["amenities"].geom_type.tolist() == ["Point"]


@pytest.mark.realdata
def test_utrecht_supermarkets_become_75_amenities(tmp_path: Path) -> None:
    if not UTRECHT_SUPERMARKETS.exists():
        pytest.skip(f"{UTRECHT_SUPERMARKETS} is absent (shared data not available)")
    report = import_osm(UTRECHT_SUPERMARKETS, tmp_path / "out")
    assert report.counts["amenities"] == {"supermarket": 75}
    assert "services" not in report.written
    amenities = load_layer("amenities", tmp_path / "out" / "amenities.gpkg")
    assert len(amenities) == 75
    assert set(amenities["type"]) == {"supermarket"}
    assert amenities["amenity_id"].str.fullmatch(r"osm-node-\d+").all()
    assert amenities["amenity_id"].is_unique
    source = gpd.read_file(UTRECHT_SUPERMARKETS)
    assert amenities["name"].tolist() == [
        None if not isinstance(n, str) else n for n in source["name"]
    ]
    minx, miny, maxx, maxy = amenities.total_bounds  # city of Utrecht in RD
    assert 125_000 < minx < maxx < 145_000 and 448_000 < miny < maxy < 465_000


def test_cli_imports_osm_end_to_end(tmp_path: Path) -> None:
    source = write_osm(
        tmp_path / "city.osm.pbf",
        [
            (1, {"amenity": "doctors", "name": "Dr. Jansen"}, (LON0, LAT0)),
            (2, {"highway": "bus_stop"}, (LON0 + 0.001, LAT0)),
            (3, {"amenity": "bench"}, (LON0, LAT0)),
        ],
    )
    out = tmp_path / "layers"
    proc = flexplan("import", "osm", source, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "services: 1 (huisarts 1)" in proc.stdout
    assert "amenities: 1 (transit_stop 1)" in proc.stdout
    assert "dropped 1: no matching rule" in proc.stdout
    services = load_layer("services", out / "services.gpkg")
    amenities = load_layer("amenities", out / "amenities.gpkg")
    assert services["service_id"].tolist() == ["osm-node-1"]
    assert services["name"].tolist() == ["Dr. Jansen"]
    assert amenities["amenity_id"].tolist() == ["osm-node-2"]
    assert sorted(p.name for p in out.iterdir()) == ["amenities.gpkg", "services.gpkg"]


def test_cli_reports_bad_input_in_one_line(tmp_path: Path) -> None:
    proc = flexplan("import", "osm", tmp_path / "nope.osm.pbf", "--out", tmp_path / "o")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("error:")
    assert "nope.osm.pbf: file not found" in proc.stderr
    source = write_osm(tmp_path / "a.osm", [(1, {"shop": "supermarket"}, (LON0, LAT0))])
    mapping = _mapping_file(tmp_path, "rules: [{match: {shop: x}, layer: shops, type: y}]")
    proc = flexplan("import", "osm", source, "--out", tmp_path / "o", "--mapping", mapping)
    assert proc.returncode == 1
    assert "rule 1: layer 'shops' must be 'services' or 'amenities'" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_cli_prints_the_default_mapping() -> None:
    proc = flexplan("import", "osm-mapping")
    assert proc.returncode == 0, proc.stderr
    assert "type: huisarts" in proc.stdout
    assert "mode: replace" in proc.stdout
