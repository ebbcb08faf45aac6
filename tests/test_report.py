"""Static checks of the HTML run report: offline, escaped, correct data in the map and tables.

A browser check (no dialog fires, the map draws) belongs with the ``browser`` tests; these tests
read the HTML and the GeoJSON embedded in it.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from planner.report import (
    _collection,
    _collection_json,
    _decimal_texts,
    _display_frame,
    _geojson_texts,
    _int_ramp,
    _Numbers,
    _Texts,
    _View,
    build_report,
    leaflet_assets,
)

PAYLOAD = "<img src=x onerror=alert(1)>${alert(2)}"
TITLE_PAYLOAD = "<script>alert(3)</script>"
BREAKOUT = "</script><script>alert(4)</script>"
PDOK = "https://service.pdok.nl/brt/achtergrondkaart/wmts/v2_0/standaard/EPSG:3857/{z}/{x}/{y}.png"

# RD New (EPSG:28992) around Utrecht.
X0, Y0 = 136_000.0, 455_000.0


def _plots(name: str = "Kavel A") -> gpd.GeoDataFrame:
    """Three plots: two used (10 and 120 homes), one unused with a reason; one is round."""
    return gpd.GeoDataFrame(
        {
            "plot_id": ["P1", "P2", "P3"],
            "name": [name, None, "Kavel C"],
            "homes": [10, 120, 0],
            "support_homes": [2, 20, 0],
            "selected": [True, True, False],
            "capacity": [40, 150, 30],
            "suitability": [0.81234, 0.5, 0.25],
            "buurt_id": ["BU1", "BU1", "BU2"],
            "region_id": ["R1", "R1", "R1"],
            "reason": [None, None, "buiten bereik van huisarts"],
        },
        geometry=[
            box(X0, Y0, X0 + 100, Y0 + 80),
            Point(X0 + 500, Y0 + 300).buffer(60, quad_segs=64),  # 257 vertices before simplify
            box(X0 + 1_000, Y0 + 1_000, X0 + 1_050, Y0 + 1_040),
        ],
        crs="EPSG:28992",
    )


def _services(name: str = "Huisartsenpraktijk") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "service_id": ["S1", "S2", "S3"],
            "type": ["huisarts", "huisarts", "wijkteam"],
            "name": [name, "Praktijk Oost", "Wijkteam Noord"],
            "capacity": [np.nan, 80.0, 25.0],
            "load": [12, 40, 7],
        },
        geometry=[Point(X0 + 200, Y0 + 200), Point(X0 + 900, Y0 + 100), Point(X0, Y0 + 900)],
        crs="EPSG:28992",
    )


def _buurten(name: str = "Binnenstad") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "buurt_id": ["BU1", "BU2"],
            "name": [name, "Buitengebied"],
            "dwellings": [1_300, 200],
            "homes": [130, 0],
            "cap": [150, 10],
        },
        geometry=[
            box(X0 - 100, Y0 - 100, X0 + 800, Y0 + 800),
            box(X0 + 800, Y0, X0 + 2_000, Y0 + 2_000),
        ],
        crs="EPSG:28992",
    )


KPIS: dict[str, Any] = {
    "status": "OPTIMAL",
    "target_homes": 10_000,
    "homes": 10_000,
    "support_homes": 2_000,
    "plots_used": 120,
    "objective": 1234.5,
    "best_bound": 1235.0,
    "gap": 0.0004,
    "solve_seconds": 12.3,
    "per_region": [
        {"region_id": "R1", "name": "Regio Utrecht", "homes": 6_000, "min_homes": 5_000},
        {"region_id": "R2", "name": "Regio Zwolle", "homes": 4_000, "min_homes": 3_000},
    ],
    "per_service_type": [
        {
            "type": "huisarts",
            "services": 2,
            "capacity": float("nan"),
            "load": 52,
            "support_homes_in_reach": 22,
        }
    ],
    "explanation": ["P3 ligt buiten bereik van een huisarts."],
}


def _report(**overrides: Any) -> str:
    args: dict[str, Any] = {
        "title": "Scenario basis",
        "plots": _plots(),
        "services": _services(),
        "buurten": _buurten(),
        "kpis": KPIS,
    }
    args.update(overrides)
    return build_report(**args)


def _without_leaflet(html: str) -> str:
    """The page minus the inlined Leaflet, whose own text mentions leafletjs.com and w3.org."""
    js, css = leaflet_assets()
    assert js in html and css in html
    return html.replace(js, "").replace(css, "")


def _layers(html: str) -> dict[str, dict[str, Any]]:
    """Layer-control name -> the GeoJSON embedded for that layer."""
    names = dict(
        (var, json.loads(f'"{name}"'))
        for name, var in re.findall(r'^\s*"(.*)" : (geo_json_[0-9a-f]+),$', html, re.MULTILINE)
    )
    return {
        names[var]: json.loads(data)
        for var, data in re.findall(r"(geo_json_[0-9a-f]+)_add\((\{.*?\})\);\n", html, re.DOTALL)
    }


def _layer(html: str, prefix: str) -> dict[str, Any]:
    (match,) = [data for name, data in _layers(html).items() if name.startswith(prefix)]
    return match


class _Tags(HTMLParser):
    """Collect start tags and their attributes as a browser would parse them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def _coords(geometry: dict[str, Any]) -> list[float]:
    flat = np.asarray(geometry["coordinates"], dtype=object)
    return [float(v) for v in np.hstack([np.ravel(np.asarray(part)) for part in flat.ravel()])]


# --- offline --------------------------------------------------------------------------------------


def test_leaflet_assets_are_inlinable_and_complete() -> None:
    js, css = leaflet_assets()
    assert 't.version="1.9.3"' in js and "sourceMappingURL" not in js
    assert ".leaflet-control-layers-toggle" in css
    assert "url(images/" not in css and "url(data:image/png;base64," in css


def test_report_loads_nothing_from_the_network() -> None:
    html = _report()
    rest = _without_leaflet(html)
    assert re.findall(r"https?://|//cdn|@import", rest) == []
    for tag, attrs in _tags(html):
        assert tag != "link", "no external stylesheets"
        assert not (attrs.get("src") or attrs.get("href")), f"{tag} loads {attrs}"
    assert "L.map(" in rest and "L.tileLayer" not in rest
    assert "L.control.scale({imperial: false})" in rest and "L.control.layers(" in rest


def test_tiles_url_is_the_only_remote_resource_when_given() -> None:
    rest = _without_leaflet(_report(tiles_url=PDOK, tiles_attribution="Kadaster <PDOK>"))
    assert re.findall(r"https?://[^\s\"']+", rest) == [PDOK]
    assert "L.tileLayer(" in rest
    assert "Kadaster \\u0026lt;PDOK\\u0026gt;" in rest  # HTML-escaped, Leaflet uses innerHTML


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)//{z}/{x}/{y}",
        "https://tiles.example/no-placeholders.png",
        'https://t.example/{z}/{x}/{y}.png"onload=alert(1)',
    ],
)
def test_tiles_url_must_be_an_http_xyz_template(url: str) -> None:
    with pytest.raises(ValueError, match="tiles_url"):
        _report(tiles_url=url)


# --- security -------------------------------------------------------------------------------------


def test_user_strings_are_text_never_markup_or_code() -> None:
    html = _report(
        title=TITLE_PAYLOAD,
        plots=_plots(name=PAYLOAD),
        services=_services(name=BREAKOUT).assign(type=["<b>ggz</b>", "<b>ggz</b>", "wijkteam"]),
        buurten=_buurten(name=BREAKOUT),
        kpis={**KPIS, "explanation": [PAYLOAD, TITLE_PAYLOAD]},
    )
    for raw in (PAYLOAD, "<img src=x", TITLE_PAYLOAD, BREAKOUT, "<b>ggz</b>"):
        assert raw not in html
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in html  # title, h1 and explanation as text
    # No markup can have been injected: the report has no images and no event-handler attributes.
    tags = _tags(html)
    assert [t for t, _ in tags if t == "img"] == []
    assert [a for _, attrs in tags for a in attrs if a.startswith("on")] == []
    # Without template literals in the page, "${...}" in data can never be evaluated.
    assert "`" not in html
    # The names travel as data, unchanged, for the popups to show with textContent.
    plot = _layer(html, "Gebruikte kavels")["features"][0]["properties"]
    assert plot["nm"] == PAYLOAD
    # Layer names are HTML-escaped because Leaflet's layer control inserts them as HTML.
    assert "Voorziening: &lt;b&gt;ggz&lt;/b&gt; (2)" in _layers(html)


def test_popups_are_built_with_text_content_not_inner_html() -> None:
    html = _without_leaflet(_report())
    assert "innerHTML" not in html and "textContent" in html
    # Only our helper binds popups and tooltips (folium's GeoJsonPopup/Tooltip would add more).
    assert html.count("bindPopup(") == 2 and html.count("bindTooltip(") == 2


# --- map content ----------------------------------------------------------------------------------


def test_plot_layers_carry_only_popup_fields_in_lon_lat() -> None:
    html = _report()
    used = _layer(html, "Gebruikte kavels (2)")["features"]
    unused = _layer(html, "Ongebruikte kavels (1)")["features"]
    assert [f["properties"]["pid"] for f in used] == ["P1", "P2"]
    assert set(used[0]["properties"]) == {"pid", "nm", "c", "q", "h", "s"}
    assert used[0]["properties"] == {
        "pid": "P1",
        "nm": "Kavel A",
        "c": 40,
        "q": 0.812,
        "h": 10,
        "s": 2,
    }
    assert unused[0]["properties"]["r"] == "buiten bereik van huisarts"
    coords = _coords(used[0]["geometry"])
    lons, lats = coords[0::2], coords[1::2]
    assert all(5.0 < x < 5.3 for x in lons) and all(51.9 < y < 52.2 for y in lats)
    assert all(abs(v * 1e6 - round(v * 1e6)) < 1e-6 for v in coords)


def test_plot_geometry_is_simplified_for_display() -> None:
    round_plot = _layer(_report(), "Gebruikte kavels")["features"][1]["geometry"]
    vertices = len(round_plot["coordinates"][0])
    assert 5 < vertices < 60  # 257 before a 5 m simplification of a 60 m radius circle


def test_fit_bounds_are_lat_lon_around_the_plots() -> None:
    (south, west, north, east) = map(
        float,
        re.search(r"fitBounds\(\s*\[\[(\S+), (\S+)\], \[(\S+), (\S+)\]\]", _report()).groups(),
    )
    assert 51.9 < south < north < 52.2 and 5.0 < west < east < 5.3
    assert north - south < 0.02  # the plots, not the larger buurt polygons


def test_one_service_layer_per_type_with_unlimited_capacity_as_null() -> None:
    layers = _layers(_report())
    huisarts = layers["Voorziening: huisarts (2)"]["features"]
    assert "Voorziening: wijkteam (1)" in layers
    assert huisarts[0]["properties"] == {
        "sid": "S1",
        "nm": "Huisartsenpraktijk",
        "t": "huisarts",
        "ld": 12,
        "cap": None,
    }
    assert huisarts[0]["geometry"]["type"] == "Point"


def _shown(html: str) -> set[str]:
    """Names of the layers added to the map at load (the others wait in the layer control)."""
    var_names = re.findall(r'^\s*"(.*)" : (geo_json_[0-9a-f]+),$', html, re.MULTILINE)
    return {json.loads(f'"{name}"') for name, var in var_names if f"{var}.addTo(" in html}


def test_many_services_start_hidden_so_plots_stay_visible() -> None:
    assert "Voorziening: huisarts (2)" in _shown(_report())
    n = 1_001
    many = gpd.GeoDataFrame(
        {
            "service_id": [f"S{i}" for i in range(n)],
            "type": ["huisarts"] * n,
            "name": ["Praktijk"] * n,
            "capacity": [10.0] * n,
            "load": [1] * n,
        },
        geometry=[Point(X0 + i, Y0) for i in range(n)],
        crs="EPSG:28992",
    )
    html = _report(services=many)
    assert "Voorziening: huisarts (1001)" in _layers(html)
    assert _shown(html) == {
        "Buurten met flexwoningen (1)",
        "Ongebruikte kavels (1)",
        "Gebruikte kavels (2)",
    }


def test_only_buurten_with_homes_are_drawn_with_their_share() -> None:
    html = _report()
    (feature,) = _layer(html, "Buurten met flexwoningen")["features"]
    assert feature["properties"]["bid"] == "BU1" and feature["properties"]["sh"] == 0.1
    assert "Buurt: flexaandeel" in html
    no_buurten = _report(buurten=None)
    assert "Buurten met flexwoningen" not in no_buurten and "Buurt: flexaandeel" not in no_buurten


def test_homes_ramp_colours_the_largest_plot_darkest() -> None:
    ramp = _int_ramp(120, ("a", "b", "c", "d", "e"))
    assert ramp.uppers == (24, 48, 72, 96, 120)
    assert ramp.color(1) == "a" and ramp.color(25) == "b" and ramp.color(120) == "e"
    small = _int_ramp(2, ("a", "b", "c", "d", "e"))
    assert small.uppers == (1, 2) and small.colors == ("d", "e")
    html = _report()
    assert "1-24" in html and "97-120" in html  # legend


# --- tables ---------------------------------------------------------------------------------------


def test_kpis_render_in_dutch_number_format() -> None:
    html = _report()
    for text in (
        "<dd>OPTIMAL</dd>",
        "<dd>10.000 van 10.000</dd>",
        "<dd>2.000</dd>",
        "<dd>1.234,50</dd>",
        "<dd>0,04%</dd>",
        "<dd>12,3 s</dd>",
        "Regio Zwolle",
        "P3 ligt buiten bereik van een huisarts.",
    ):
        assert text in html
    assert '<td class="n">5.000</td>' in html and '<td class="n">-</td>' in html  # no max_homes


def test_used_plots_table_is_the_text_alternative() -> None:
    html = _report()
    table = html[html.index('id="fp-plots"') :]
    assert table.index(">P2<") < table.index(">P1<")  # most homes first
    assert ">P3<" not in table and "0,81" in table


def test_missing_kpis_render_as_dashes() -> None:
    html = _report(kpis={"per_region": "not a list", "per_service_type": [None, {"type": "x"}]})
    assert "<dd>- van -</dd>" in html and html.count("<dd>-</dd>") == 7
    assert "<td>x</td>" in html and "fp-regions" in html
    assert "Toelichting" not in html


def test_partial_layers_still_render() -> None:
    plots = _plots().drop(columns=["name", "reason", "suitability", "support_homes"])
    services = _services().iloc[0:0]
    html = _report(plots=plots, services=services, buurten=None)
    props = _layer(html, "Gebruikte kavels")["features"][0]["properties"]
    assert props["nm"] is None and props["q"] is None
    assert not any(name.startswith("Voorziening") for name in _layers(html))


def test_layer_without_crs_is_refused() -> None:
    with pytest.raises(ValueError, match="plots has no CRS"):
        _report(plots=_plots().set_crs(None, allow_override=True))


def _regions(name: str = "Regio Utrecht") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"region_id": ["R1", "R2"], "name": [name, "Regio Zwolle"], "homes": [130, 0]},
        geometry=[
            box(X0 - 5_000, Y0 - 5_000, X0 + 1_000, Y0 + 5_000),
            box(X0 + 1_000, Y0 - 5_000, X0 + 9_000, Y0 + 5_000),
        ],
        crs="EPSG:28992",
    )


def test_region_outlines_give_the_map_context_and_escape_names() -> None:
    html = _report(regions=_regions(name=PAYLOAD))
    assert PAYLOAD not in html
    layer = _layer(html, "Regiogrenzen (2)")
    assert [f["properties"]["rid"] for f in layer["features"]] == ["R1", "R2"]
    assert layer["features"][0]["properties"]["nm"] == PAYLOAD
    assert layer["features"][0]["properties"]["h"] == 130
    assert "Regiogrenzen" not in _report()


def test_per_corporation_table_shows_when_plots_have_proposers() -> None:
    rows = [{"proposer": PAYLOAD, "plots": 3, "plots_used": 2, "homes": 120}]
    html = _report(kpis={**KPIS, "per_proposer": rows})
    assert "Per corporatie" in html and PAYLOAD not in html
    assert "Per corporatie" not in _report()


# --- the JSON text written without json.dumps per feature ---------------------------------------


def _shapes() -> list[Any]:
    ring = [(0.5, 0.5), (0.5, 1.5), (1.5, 1.5), (0.5, 0.5)]
    holed = Polygon([(0, 0), (0, 3), (3, 3), (3, 0), (0, 0)], [ring])
    return [
        Point(5.123456, 52.1),
        box(4.1, 51.2, 4.3, 51.25),
        holed,
        MultiPolygon([holed, box(10, 10, 11, 11)]),
        MultiPolygon([box(-1.5, -0.25, -1, 0), Polygon()]),
        LineString([(1, 2), (3, 4.000001)]),
    ]


@pytest.mark.parametrize(
    "kinds", [slice(0, 1), slice(1, 5), slice(4, 5), slice(0, 6), slice(5, 6), slice(0, 0)]
)
def test_geojson_texts_are_what_json_dumps_writes_for_mapping(kinds: slice) -> None:
    shapes = np.array(_shapes()[kinds], dtype=object)
    xy = np.round(shapely.get_coordinates(shapes) * 1.000003, 6)  # new coordinates, in order
    texts = _geojson_texts(shapes, xy).to_pylist()
    moved = shapely.set_coordinates(shapes.copy(), xy)
    assert texts == [json.dumps(shapely.geometry.mapping(shape)) for shape in moved]


def test_collection_json_is_what_json_dumps_writes_for_the_collection() -> None:
    strings = [PAYLOAD, BREAKOUT, None, 'quote " back \\ tab \t nul \x00 é € \u2028', ""]
    view = _View(
        frame=pd.DataFrame(index=range(5)),
        geometry=_geojson_texts(np.array([Point(i, i) for i in range(5)]), np.eye(5, 2)),
    )
    props = {
        "pid": _Texts(strings),
        "nm": strings,
        "t": 'kind "<b>"',
        "c": _Numbers([1, None, -3, 2**40, 0]),
        "q": _Numbers([0.812, None, 1e-7, 2.0, -0.0]),
        "b": _Numbers([True, False, None, True, False]),
        "mixed": ["a, b", 1, None, 2.5, True],
    }
    expected = json.dumps(_collection(view, props), ensure_ascii=False, allow_nan=False)
    assert _collection_json(view, props) == expected


@given(st.lists(st.floats(min_value=-1e10, max_value=1e10), min_size=1, max_size=20))
def test_decimal_texts_are_repr_of_the_rounded_values(values: list[float]) -> None:
    edges = [5.0, -5.0, 0.0001, -0.000123, 52.1, 999_999_999.999999, 1e9, 5e-05, 0.0, -0.0]
    rounded = np.round(np.array(values + edges), 6)
    assert _decimal_texts(rounded).to_pylist() == [repr(v) for v in rounded.tolist()]
    inside = rounded[(np.abs(rounded) >= 1e-4) & (np.abs(rounded) < 1e9)]  # the Arrow path
    assert _decimal_texts(inside).to_pylist() == [repr(v) for v in inside.tolist()]


def _display_as_geopandas_does(gdf: gpd.GeoDataFrame, layer: str) -> list[str]:
    """What the report drew before it wrote GeoJSON itself: to_crs, round, mapping, json.dumps."""
    geoms = gdf.geometry.to_crs("EPSG:28992")
    if layer == "services":
        geoms = geoms.where(geoms.geom_type == "Point", geoms.representative_point())
    else:
        geoms = geoms.simplify(5.0, preserve_topology=True)
    rounded = shapely.transform(geoms.to_crs("EPSG:4326").values, lambda xy: np.round(xy, 6))
    rounded = rounded[~(shapely.is_missing(rounded) | shapely.is_empty(rounded))]
    return [json.dumps(shapely.geometry.mapping(shape)) for shape in rounded]


@pytest.mark.parametrize("crs", ["EPSG:28992", "EPSG:3857"])
@pytest.mark.parametrize("layer", ["plots", "services"])
def test_display_geometry_is_what_geopandas_gives(layer: str, crs: str) -> None:
    flat = box(X0, Y0, X0 + 100, Y0 + 80)
    raised = Polygon([(x, y, 7.5) for x, y in flat.exterior.coords])  # 3D: heights transform too
    shapes = [flat, raised, MultiPolygon([flat, box(X0 + 200, Y0, X0 + 260, Y0 + 50)]), None]
    shapes += [Polygon(), Point(X0 + 1, Y0 + 2).buffer(30, quad_segs=16), Point(X0, Y0)]
    gdf = gpd.GeoDataFrame(
        {"plot_id": [f"P{i}" for i in range(len(shapes))]}, geometry=shapes, crs="EPSG:28992"
    ).to_crs(crs)
    for frame in (gdf, gdf.iloc[[0, 4, 5]]):  # mixed 2D and 3D, and 2D only
        expected = _display_as_geopandas_does(frame, layer)
        assert _display_frame(frame, layer).geometry.to_pylist() == expected
