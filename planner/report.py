"""Standalone HTML report of one allocation run: a Leaflet map plus KPI tables.

The report is opened from a run folder, often without internet, so it must not fetch anything:
folium's CDN links (Leaflet, jQuery, Bootstrap, awesome-markers) are switched off on the Map and
Leaflet itself is inlined from the XStatic-Leaflet package. Only ``GeoJson`` layers with
``CircleMarker`` points are used (no icon images) and a tile layer is added only when asked for.

Every user-provided string (plot, service and buurt names and ids, the title, explanations) is
treated as text. folium's ``GeoJsonTooltip``/``GeoJsonPopup`` insert values with ``innerHTML`` and
``folium.Tooltip`` evaluates ``${...}`` in a JS template literal (CONVENTIONS §2), so neither is
used: feature properties travel as JSON (folium's ``tojson``, or for the layers added after
folium's script JSON text with strings from ``json``'s own encoder, made safe by
``_script_safe``; both escape ``<``, ``>`` and ``&``) and popups are built by a small script with
``textContent``. Layer names and the tile attribution, which Leaflet inserts as HTML, are
HTML-escaped; the page template autoescapes.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import jinja2
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyproj
import shapely
from markupsafe import Markup, escape
from xstatic.pkg import leaflet as _xstatic_leaflet

log = logging.getLogger(__name__)

__all__ = ["Display", "build_report", "leaflet_assets", "read_display"]

_WORK_CRS = "EPSG:28992"
_DISPLAY_CRS = "EPSG:4326"  # lon/lat axis order: geopandas transforms with always_xy
_SIMPLIFY_M = 5.0
_DECIMALS = 6
_SHOW_SERVICES_MAX = 1_000
# Fallback view when there is nothing to fit: the European Netherlands (lat/lon).
_NL_BOUNDS = ((50.75, 3.35), (53.55, 7.23))

# ColorBrewer ramps, light to dark; fewer classes take the darker end so small fills stay visible.
_HOMES_COLORS = ("#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c")  # Blues
_SHARE_COLORS = ("#f2f0f7", "#cbc9e2", "#9e9ac8", "#756bb1", "#54278f")  # Purples
_SERVICE_COLORS = (  # Dark2 (categorical), cycled when there are more types
    "#1b9e77",
    "#d95f02",
    "#e7298a",
    "#66a61e",
    "#e6ab02",
    "#a6761d",
    "#7570b3",
    "#666666",
)
_UNUSED_STYLE = {
    "color": "#636363",
    "weight": 1,
    "dashArray": "4 3",
    "fillColor": "#bdbdbd",
    "fillOpacity": 0.35,
}

_SOURCE_MAP = re.compile(r"^//# sourceMappingURL=.*$", re.MULTILINE)
_CSS_IMAGE = re.compile(r"url\((images/[\w.-]+\.png)\)")
_TILE_URL = re.compile(r"^https?://[^\s\"'<>`]+$")

_HELPER_JS = """
var flexplan = (function () {
  "use strict";
  var num = new Intl.NumberFormat("nl-NL", {maximumFractionDigits: 2});
  var pct = new Intl.NumberFormat("nl-NL", {style: "percent", maximumFractionDigits: 2});
  function fmt(v) {
    if (v === null || v === undefined || v === "") { return "-"; }
    if (typeof v === "number") { return isFinite(v) ? num.format(v) : "-"; }
    return String(v);
  }
  function share(v) { return typeof v === "number" ? pct.format(v) : "-"; }
  function box(title, rows) {
    var div = document.createElement("div");
    var head = document.createElement("strong");
    head.textContent = fmt(title);
    div.appendChild(head);
    var table = document.createElement("table");
    table.className = "fp-popup";
    rows.forEach(function (row) {
      var tr = table.insertRow();
      var th = document.createElement("th");
      th.scope = "row";
      th.textContent = row[0];
      tr.appendChild(th);
      tr.insertCell().textContent = row[1];
    });
    div.appendChild(table);
    return div;
  }
  var plots = [];
  function plot(feature, layer) {
    var p = feature.properties;
    plots.push([p.pid, layer]);
    layer.bindPopup(function () {
      var rows = [["Kavel", fmt(p.pid)], ["Naam", fmt(p.nm)]];
      if (p.h !== undefined) {
        rows.push(["Woningen", fmt(p.h)], ["Met begeleiding", fmt(p.s)]);
      }
      rows.push(["Capaciteit", fmt(p.c)], ["Geschiktheid", fmt(p.q)]);
      if (p.r !== undefined) { rows.push(["Reden niet gebruikt", fmt(p.r)]); }
      return box(p.nm || p.pid, rows);
    });
  }
  function service(feature, layer) {
    var p = feature.properties;
    layer.bindPopup(function () {
      var cap = p.cap === null ? "onbeperkt" : fmt(p.cap);
      return box(p.nm || p.sid, [
        ["Voorziening", fmt(p.sid)], ["Type", fmt(p.t)],
        ["Belasting / capaciteit", fmt(p.ld) + " / " + cap]
      ]);
    });
  }
  function buurt(feature, layer) {
    var p = feature.properties;
    layer.bindTooltip(function () {
      return box(p.nm || p.bid, [
        ["Buurt", fmt(p.bid)], ["Woningvoorraad", fmt(p.d)], ["Flexwoningen", fmt(p.h)],
        ["Maximum", fmt(p.cap)], ["Flexaandeel", share(p.sh)]
      ]);
    }, {sticky: true});
  }
  function region(feature, layer) {
    var p = feature.properties;
    layer.bindTooltip(function () {
      return box(p.nm || p.rid, [["Regio", fmt(p.rid)], ["Flexwoningen", fmt(p.h)]]);
    }, {sticky: true});
  }
  return {plot: plot, service: service, buurt: buurt, region: region, plots: plots, fmt: fmt};
})();
"""

# The year slider of a plan over a horizon: plots without a project in the chosen year fade,
# the chart's marker moves. Data comes from a JSON script block, ids are only compared.
_TIMELINE_JS = """
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("fp-timeline-data").textContent);
  var slider = document.getElementById("fp-year");
  var label = document.getElementById("fp-year-label");
  var marker = document.getElementById("fp-chart-marker");
  var ever = new Set();
  data.years.forEach(function (entry) {
    entry.plots.forEach(function (pair) { ever.add(pair[0]); });
  });
  function show(index) {
    var entry = data.years[index];
    var standing = new Map(entry.plots);
    var text = entry.year + ": " + flexplan.fmt(entry.standing) + " woningen staan";
    if (entry.target !== null) { text += " (doel " + flexplan.fmt(entry.target) + ")"; }
    label.textContent = text + ", " + entry.plots.length + " projecten";
    flexplan.plots.forEach(function (item) {
      if (!ever.has(item[0])) { return; }
      var on = standing.has(item[0]);
      item[1].setStyle({fillOpacity: on ? 0.85 : 0.08, opacity: on ? 1 : 0.35});
    });
    marker.setAttribute("x1", String(data.xs[index]));
    marker.setAttribute("x2", String(data.xs[index]));
  }
  slider.addEventListener("input", function () { show(Number(slider.value)); });
  show(Number(slider.value));
})();
"""

_PAGE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """<!DOCTYPE html>
<html lang="nl">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="Flexplan; Leaflet {{ leaflet_version }}">
<title>{{ title }} - Flexplan</title>
<style>{{ leaflet_css }}</style>
{{ map_header }}
<style>
html, body { height: 100%; margin: 0; }
body { display: flex; flex-direction: column; font: 15px/1.4 system-ui, sans-serif;
  color: #1a1a1a; }
.fp-top { padding: 0.5rem 1rem; border-bottom: 1px solid #ccc; }
.fp-top h1 { margin: 0; font-size: 1.3rem; }
.fp-main { flex: 1; min-height: 0; display: grid; grid-template-columns: minmax(0, 1fr) 32rem; }
.fp-scroll { overflow-x: auto; }
.fp-map { position: relative; min-height: 24rem; background: #f4f4f0; }
.fp-map .folium-map { position: absolute; inset: 0; background: #f4f4f0; }
.fp-panel { overflow-y: auto; padding: 0 1rem 1rem; border-left: 1px solid #ccc; }
.fp-panel h2 { font-size: 1.05rem; margin: 1rem 0 0.4rem; }
.fp-kpis { display: grid; grid-template-columns: auto 1fr; gap: 0.15rem 1rem; margin: 0; }
.fp-kpis dt { color: #444; }
.fp-kpis dd { margin: 0; font-weight: 600; }
.fp-table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
.fp-table th, .fp-table td { border-bottom: 1px solid #ddd; padding: 0.2rem 0.4rem;
  text-align: left; }
.fp-table td.n, .fp-table th.n { text-align: right; font-variant-numeric: tabular-nums; }
.fp-legend { position: absolute; right: 10px; bottom: 24px; z-index: 1000; max-width: 16rem;
  background: rgba(255, 255, 255, 0.92); border: 1px solid #999; border-radius: 4px;
  padding: 0.4rem 0.6rem; font-size: 0.8rem; }
.fp-legend h3 { font-size: 0.8rem; margin: 0.3rem 0 0.1rem; }
.fp-legend ul { list-style: none; margin: 0; padding: 0; }
.fp-sw { display: inline-block; width: 1rem; height: 0.8rem; margin-right: 0.4rem;
  vertical-align: middle; border: 1px solid #555; }
.fp-dot { border-radius: 50%; width: 0.7rem; height: 0.7rem; }
.fp-unused { background: #bdbdbd; border: 1px dashed #636363; }
.fp-chart { width: 100%; height: auto; font-size: 11px; }
#fp-year { width: 100%; }
table.fp-popup th { text-align: left; padding-right: 0.6rem; font-weight: normal; color: #444; }
@media (max-width: 60rem) {
  body { display: block; height: auto; }
  .fp-main { display: block; }
  .fp-map { height: 65vh; }
  .fp-panel { border-left: 0; }
}
</style>
<script>{{ leaflet_js }}</script>
<script>{{ helper_js }}</script>
</head>
<body>
<header class="fp-top"><h1>{{ title }}</h1></header>
<main class="fp-main">
<section class="fp-map" aria-label="Kaart">
{{ map_html }}
<div class="fp-legend" role="region" aria-label="Legenda">
{%- if homes_legend %}
<h3>Gebruikte kavels: woningen</h3>
<ul>{% for color, label in homes_legend %}
<li><span class="fp-sw" style="background: {{ color }}"></span>{{ label }}</li>{% endfor %}
</ul>
{%- endif %}
<ul><li><span class="fp-sw fp-unused"></span>Ongebruikte kavel</li></ul>
{%- if service_legend %}
<h3>Voorzieningen</h3>
<ul>{% for color, label in service_legend %}
<li><span class="fp-sw fp-dot" style="background: {{ color }}"></span>{{ label }}</li>
{%- endfor %}
</ul>
{%- endif %}
{%- if share_legend %}
<h3>Buurt: flexaandeel</h3>
<ul>{% for color, label in share_legend %}
<li><span class="fp-sw" style="background: {{ color }}"></span>{{ label }}</li>{% endfor %}
</ul>
{%- endif %}
</div>
</section>
<aside class="fp-panel">
<h2>Kerncijfers</h2>
<dl class="fp-kpis">{% for label, value in headline %}
<dt>{{ label }}</dt><dd>{{ value }}</dd>{% endfor %}
</dl>
{%- if chart %}
<h2 id="fp-timeline">Per jaar</h2>
<label for="fp-year">Jaar</label>
<input type="range" id="fp-year" min="0" max="{{ chart.last }}" value="{{ chart.last }}" step="1">
<p id="fp-year-label" aria-live="polite"></p>
<svg class="fp-chart" viewBox="0 0 {{ chart.width }} {{ chart.height }}" role="img"
 aria-labelledby="fp-chart-title">
<title id="fp-chart-title">Woningen die staan per jaar, tegen het doel</title>
<line x1="{{ chart.left }}" y1="{{ chart.bottom }}" x2="{{ chart.right }}" y2="{{ chart.bottom }}"
 stroke="#555"/>
<line x1="{{ chart.left }}" y1="{{ chart.top }}" x2="{{ chart.left }}" y2="{{ chart.bottom }}"
 stroke="#555"/>
<text x="{{ chart.left - 4 }}" y="{{ chart.top + 4 }}" text-anchor="end">
{{- chart.max_label }}</text>
<text x="{{ chart.left - 4 }}" y="{{ chart.bottom }}" text-anchor="end">0</text>
<text x="{{ chart.left }}" y="{{ chart.height - 4 }}">{{ chart.first_year }}</text>
<text x="{{ chart.right }}" y="{{ chart.height - 4 }}" text-anchor="end">
{{- chart.last_year }}</text>
<polyline fill="none" stroke="#08519c" stroke-width="2" points="{{ chart.points }}"/>
{%- for x, y in chart.targets %}
<circle cx="{{ x }}" cy="{{ y }}" r="3.5" fill="#d95f02"/>{% endfor %}
<line id="fp-chart-marker" x1="{{ chart.right }}" y1="{{ chart.top }}" x2="{{ chart.right }}"
 y2="{{ chart.bottom }}" stroke="#999" stroke-dasharray="3 2"/>
</svg>
<p class="fp-chart-key"><span class="fp-sw" style="background: #08519c"></span>staan
<span class="fp-sw fp-dot" style="background: #d95f02"></span>doel</p>
<script type="application/json" id="fp-timeline-data">{{ timeline_json }}</script>
{%- endif %}
{%- if explanation %}
<h2>Toelichting</h2>
<ul>{% for sentence in explanation %}<li>{{ sentence }}</li>{% endfor %}</ul>
{%- endif %}
{%- for table in tables %}
<h2 id="{{ table.key }}">{{ table.caption }}</h2>
{%- if table.rows %}
<div class="fp-scroll"><table class="fp-table" aria-labelledby="{{ table.key }}">
<thead><tr>{% for head, numeric in table.columns %}
<th scope="col"{% if numeric %} class="n"{% endif %}>{{ head }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in table.rows %}
<tr>{% for cell in row %}<td{% if table.columns[loop.index0][1] %} class="n"{% endif %}>
{{- cell }}</td>{% endfor %}</tr>{% endfor %}
</tbody>
</table></div>
{%- else %}
<p>-</p>
{%- endif %}
{%- endfor %}
</aside>
</main>
<script>{{ map_script }}</script>
{%- if chart %}
<script>{{ timeline_js }}</script>
{%- endif %}
</body>
</html>
"""
)


@dataclass(frozen=True)
class _Table:
    """One KPI table for the side panel: headings, which columns are numeric, formatted rows."""

    key: str
    caption: str
    columns: tuple[tuple[str, bool], ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class _Ramp:
    """A classed colour ramp: ``uppers[i]`` is the inclusive upper bound of class ``i``."""

    uppers: tuple[float, ...]
    colors: tuple[str, ...]

    def color(self, value: float) -> str:
        for upper, color in zip(self.uppers, self.colors, strict=True):
            if value <= upper:
                return color
        return self.colors[-1]


@dataclass(frozen=True)
class _View:
    """One layer as drawn: its shown columns and, per row, its GeoJSON geometry as JSON text.

    Rows without geometry are left out. ``bounds`` (west, south, east, north) spans the whole
    layer, ``None`` when it is empty or a subset (only whole layers are fitted).
    """

    frame: pd.DataFrame
    geometry: pa.StringArray
    bounds: tuple[float, float, float, float] | None = None

    def __len__(self) -> int:
        return len(self.frame)

    def rows(self, mask: np.ndarray) -> _View:
        return _View(self.frame[mask], self.geometry.filter(pa.array(mask)))


@functools.cache
def leaflet_assets() -> tuple[str, str]:
    """Return Leaflet's ``(js, css)`` from XStatic-Leaflet, ready to inline in a page.

    Inlining keeps reports and the web app working offline without committing third-party code.
    The source-map comment is dropped (it points at a file that is not there) and the control
    images referenced by the CSS become data URIs, so nothing is fetched at all.

    Returns
    -------
    tuple of str
        The minified leaflet.js (with its licence header) and leaflet.css.
    """
    base = Path(_xstatic_leaflet.BASE_DIR)
    js = _SOURCE_MAP.sub("", (base / "leaflet.js").read_text(encoding="utf-8"))
    css = (base / "leaflet.css").read_text(encoding="utf-8")
    css = _CSS_IMAGE.sub(lambda m: f"url({_data_uri(base / m.group(1))})", css)
    for text, tag in ((js, "script"), (css, "style")):
        if f"</{tag}" in text.lower():
            raise RuntimeError(f"Leaflet asset contains '</{tag}' and cannot be inlined")
    return js, css


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def build_report(
    *,
    title: str,
    plots: gpd.GeoDataFrame,
    services: gpd.GeoDataFrame,
    buurten: gpd.GeoDataFrame | None,
    kpis: Mapping[str, Any],
    tiles_url: str | None = None,
    tiles_attribution: str = "Kaartgegevens © Kadaster (PDOK)",
    regions: gpd.GeoDataFrame | None = None,
    timeline: Mapping[str, Any] | None = None,
    display: Display | None = None,
) -> str:
    """Render one allocation run as a self-contained HTML page (map, legend, KPI tables).

    Parameters
    ----------
    title
        Scenario or run title; shown as text.
    plots
        Candidate plots (EPSG:28992) with ``plot_id``, ``homes`` and ``selected``; ``name``,
        ``support_homes``, ``capacity``, ``suitability`` and ``reason`` are shown when present.
    services
        Care and support services (points) with ``service_id``, ``type``, ``name``,
        ``capacity`` (NaN = unlimited) and ``load``; one toggleable layer per type.
    buurten
        Optional buurt polygons with ``buurt_id``, ``name``, ``dwellings``, ``homes``, ``cap``;
        only buurten with homes are drawn, shaded by flex share ``homes / dwellings``.
    kpis
        Run KPIs (see module tests for the shape); missing keys render as "-".
    tiles_url
        Optional XYZ tile URL (``{z}/{x}/{y}``) for a background map; without it the page makes
        no network request at all.
    tiles_attribution
        Attribution shown for ``tiles_url``.
    regions
        Optional region polygons (``region_id``, ``name``, ``homes``) drawn as thin outlines:
        without a background map they are what makes the country recognisable.
    timeline
        Optional plan over a horizon: ``{"years": [{"year", "target", "standing",
        "plots": {plot_id: homes}}]}``. Adds a year slider that fades the plots without a
        project in that year, and a chart of homes standing per year against the target.
    display
        Optional display geometry an earlier run kept (a re-run's report takes the features it
        drew before from there); it collects this report's for the next run (``Display``).

    Returns
    -------
    str
        The complete HTML document.
    """
    plot_view = _display_frame(plots, "plots", display)
    service_view = _display_frame(services, "services", display)
    buurt_view = (
        None if buurten is None else _display_frame(_with_homes(buurten), "buurten", display)
    )

    fmap = _new_map(tiles_url, tiles_attribution)
    deferred: list[tuple[folium.GeoJson, str]] = []
    if regions is not None and len(regions):
        _add_regions(fmap, _display_frame(regions, "regions", display), deferred)
    share_ramp = _add_buurten(fmap, buurt_view) if buurt_view is not None else None
    # Services below plots; a national run has thousands, which would hide the plots until the
    # user zooms in, so then they start switched off (the layer control turns them on).
    service_colors = _add_services(
        fmap, service_view, deferred, show=len(service_view) <= _SHOW_SERVICES_MAX
    )
    homes_ramp = _add_plots(fmap, plot_view, deferred)
    folium.LayerControl(collapsed=False).add_to(fmap)
    fmap.fit_bounds(_bounds(plot_view, service_view, buurt_view))

    header, body, script = _map_parts(fmap)
    # The deferred layers' data (megabytes at national scale) joins the page after rendering, at
    # this random mark: through the template it was copied and scanned four times more.
    slot = f"/*{uuid.uuid4().hex}*/"
    js, css = leaflet_assets()
    page = _PAGE.render(
        title=str(title),
        leaflet_version=_xstatic_leaflet.VERSION,
        leaflet_css=Markup(css),
        leaflet_js=Markup(js),
        helper_js=Markup(_HELPER_JS),
        map_header=Markup(header),
        map_html=Markup(body),
        map_script=Markup(script + slot),
        homes_legend=_homes_legend(homes_ramp),
        share_legend=_share_legend(share_ramp),
        service_legend=[(color, f"{kind} ({n})") for kind, (color, n) in service_colors.items()],
        headline=_headline(kpis),
        explanation=[str(s) for s in _as_list(kpis.get("explanation"))],
        tables=[
            *([_year_table(timeline)] if timeline else []),
            _region_table(kpis),
            _service_table(kpis),
            *([_proposer_table(kpis)] if kpis.get("per_proposer") else []),
            _plot_table(plots),
        ],
        chart=_chart(timeline) if timeline else None,
        timeline_json=Markup(_script_json(_timeline_data(timeline))) if timeline else "",
        timeline_js=Markup(_TIMELINE_JS),
    )
    before, after = page.split(slot)
    html = "".join([before, *_deferred_data(deferred), after])
    log.info(
        "report %r: %d plots, %d services, %d buurten drawn, %.0f kB",
        title,
        len(plot_view),
        len(service_view),
        0 if buurt_view is None else len(buurt_view),
        len(html) / 1000,
    )
    return html


# --- map -----------------------------------------------------------------------------------------


def _new_map(tiles_url: str | None, tiles_attribution: str) -> folium.Map:
    """A folium Map that loads nothing from CDNs and draws vectors on one canvas.

    ``prefer_canvas`` keeps a national run (thousands of plots and services) responsive.
    """
    fmap = folium.Map(tiles=None, control_scale=False, prefer_canvas=True, zoom_control=True)
    fmap.default_js = []  # instance attributes: folium's add_js_link mutates the class lists
    fmap.default_css = []
    if tiles_url is not None:
        if not _TILE_URL.match(tiles_url) or not all(k in tiles_url for k in ("{z}", "{x}", "{y}")):
            raise ValueError(
                f"tiles_url must be an http(s) XYZ URL with {{z}}/{{x}}/{{y}}: {tiles_url!r}"
            )
        folium.TileLayer(
            tiles=tiles_url,
            attr=str(escape(tiles_attribution)),  # Leaflet inserts attributions as HTML
            name="Achtergrondkaart",
            max_zoom=19,
        ).add_to(fmap)
    return fmap


def _map_parts(fmap: folium.Map) -> tuple[str, str, str]:
    """Render the map into (head, body, script) fragments for our own page.

    folium's viewport meta forbids zooming (``user-scalable=no``, a WCAG 1.4.4 failure); the page
    template sets its own, so it is dropped here. The scale bar is added here, metric only.
    """
    root = fmap.get_root()
    root.render()
    header = re.sub(r'<meta name="viewport"[^>]*>', "", root.header.render())
    # A metric-only scale bar (folium's control_scale=True adds miles too).
    scale = f"\nL.control.scale({{imperial: false}}).addTo({fmap.get_name()});\n"
    return header, root.html.render(), root.script.render() + scale


def _add_plots(
    fmap: folium.Map, view: _View, deferred: list[tuple[folium.GeoJson, str]]
) -> _Ramp | None:
    """Add unused (grey, dashed) and selected (coloured by homes) plot layers."""
    selected = view.frame["selected"].eq(True).to_numpy(dtype=bool, na_value=False)
    unused, used = view.rows(~selected), view.rows(selected)
    if len(unused):
        _deferred_geojson(
            deferred,
            _collection_json(unused, _plot_props(unused, with_homes=False)),
            name=f"Ongebruikte kavels ({len(unused)})",
            style=_UNUSED_STYLE,
            on_each_feature="flexplan.plot",
        ).add_to(fmap)
    if not len(used):
        return None
    homes = pd.to_numeric(used.frame["homes"], errors="coerce").fillna(0)
    ramp = _int_ramp(float(homes.max()), _HOMES_COLORS)
    _geojson(
        _collection(used, _plot_props(used, with_homes=True)),
        name=f"Gebruikte kavels ({len(used)})",
        style=lambda feature: {
            "color": "#08306b",
            "weight": 1.5,
            "fillColor": ramp.color(feature["properties"]["h"] or 0),
            "fillOpacity": 0.85,
        },
        on_each_feature="flexplan.plot",
    ).add_to(fmap)
    return ramp


def _add_services(
    fmap: folium.Map,
    view: _View,
    deferred: list[tuple[folium.GeoJson, str]],
    *,
    show: bool,
) -> dict[str, tuple[str, int]]:
    """Add one toggleable circle-marker layer per service type; return type -> (colour, count)."""
    kinds = np.array(["onbekend" if k is None else k for k in _text(view.frame["type"])], object)
    legend: dict[str, tuple[str, int]] = {}
    for i, kind in enumerate(sorted(set(kinds))):
        group = view.rows(kinds == kind)
        color = _SERVICE_COLORS[i % len(_SERVICE_COLORS)]
        props = {
            "sid": _text(group.frame["service_id"]),
            "nm": _text(group.frame["name"]),
            "t": kind,
            "ld": _values(group.frame["load"]),
            "cap": _values(group.frame["capacity"]),
        }
        _deferred_geojson(
            deferred,
            _collection_json(group, props),
            name=f"Voorziening: {kind} ({len(group)})",
            on_each_feature="flexplan.service",
            # one style for the whole layer, in the marker (folium's CircleMarker options
            # default to fill=False)
            marker=folium.CircleMarker(
                radius=4, color="#ffffff", weight=1, fill=True, fill_color=color, fill_opacity=0.95
            ),
            show=show,
        ).add_to(fmap)
        legend[kind] = (color, len(group))
    return legend


def _add_regions(fmap: folium.Map, view: _View, deferred: list[tuple[folium.GeoJson, str]]) -> None:
    """Region outlines (no fill) with their homes in a tooltip."""
    props = {
        "rid": _text(view.frame["region_id"]),
        "nm": _text(view.frame["name"]),
        "h": _values(view.frame["homes"]),
    }
    _deferred_geojson(
        deferred,
        _collection_json(view, props),
        name=f"Regiogrenzen ({len(view)})",
        style={"color": "#777777", "weight": 1, "fill": False},
        on_each_feature="flexplan.region",
    ).add_to(fmap)


def _add_buurten(fmap: folium.Map, view: _View) -> _Ramp | None:
    """Add buurten with flex homes, shaded by flex share (homes per existing dwelling)."""
    if not len(view):
        return None
    dwellings = pd.to_numeric(view.frame["dwellings"], errors="coerce")
    homes = pd.to_numeric(view.frame["homes"], errors="coerce")
    share = (homes / dwellings.where(dwellings > 0)).round(5)
    max_share = float(share.max()) if share.notna().any() else 0.0
    ramp = _Ramp(
        uppers=tuple(max_share * k / len(_SHARE_COLORS) for k in range(1, len(_SHARE_COLORS) + 1)),
        colors=_SHARE_COLORS,
    )
    props = {
        "bid": _text(view.frame["buurt_id"]),
        "nm": _text(view.frame["name"]),
        "d": _values(dwellings),
        "h": _values(homes),
        "cap": _values(view.frame["cap"]),
        "sh": _values(share),
    }
    _geojson(
        _collection(view, props),
        name=f"Buurten met flexwoningen ({len(view)})",
        style=lambda feature: {
            "color": "#54278f",
            "weight": 0.8,
            "fillColor": "#ffffff"
            if feature["properties"]["sh"] is None
            else ramp.color(feature["properties"]["sh"]),
            "fillOpacity": 0.45,
        },
        on_each_feature="flexplan.buurt",
    ).add_to(fmap)
    return ramp


def _geojson(
    data: dict[str, Any],
    *,
    name: str,
    style: Callable[[dict[str, Any]], dict[str, Any]],
    on_each_feature: str,
    marker: folium.CircleMarker | None = None,
    show: bool = True,
) -> folium.GeoJson:
    """A GeoJson layer whose name is HTML-escaped (Leaflet's layer control uses innerHTML)."""
    return folium.GeoJson(
        data,
        name=str(escape(name)),
        style_function=style,
        on_each_feature=folium.JsCode(on_each_feature),
        marker=marker,
        show=show,
    )


def _deferred_geojson(
    deferred: list[tuple[folium.GeoJson, str]],
    data: str,
    *,
    name: str,
    on_each_feature: str,
    style: dict[str, Any] | None = None,
    marker: folium.CircleMarker | None = None,
    show: bool = True,
) -> folium.GeoJson:
    """A GeoJson layer with one style for all its features, whose data is added after folium's
    script (``_deferred_data``) rather than through it.

    folium evaluates a style function per feature and wraps every rendered script in a new
    jinja template, so the data of a layer is parsed as template source once more: at national
    scale (20,000 services) that was most of the report's time. The layer name is HTML-escaped
    as in ``_geojson``; the data (JSON text) is escaped for a script element by ``_script_safe``.
    """
    layer = folium.GeoJson(
        {"type": "FeatureCollection", "features": []},
        name=str(escape(name)),
        on_each_feature=folium.JsCode(on_each_feature),
        marker=marker,
        show=show,
        **({"style": style} if style is not None else {}),
    )
    deferred.append((layer, data))
    return layer


def _deferred_data(deferred: list[tuple[folium.GeoJson, str]]) -> list[str]:
    """The script lines that add each deferred layer's features, in the order of the layers."""
    return [
        piece
        for layer, data in deferred
        for piece in (f"{layer.get_name()}_add(", _script_safe(data), ");\n")
    ]


def _plot_props(view: _View, *, with_homes: bool) -> dict[str, list[Any]]:
    """Short-keyed popup properties per plot; only what the popup shows, to keep pages small."""
    frame = view.frame
    props = {
        "pid": _text(frame["plot_id"]),
        "nm": _text(frame["name"]),
        "c": _values(frame["capacity"]),
        "q": _values(pd.to_numeric(frame["suitability"], errors="coerce").round(3)),
    }
    if with_homes:
        props |= {"h": _values(frame["homes"]), "s": _values(frame["support_homes"])}
    else:
        props["r"] = _text(frame["reason"])
    return props


def _collection(view: _View, props: Mapping[str, list[Any] | str]) -> dict[str, Any]:
    """A FeatureCollection with integer ids (folium's style switch keys) and rounded coordinates.

    A ``str`` in ``props`` is that property's value for every feature.
    """
    geometries = json.loads("[" + ", ".join(view.geometry.to_pylist()) + "]")
    keys = list(props)
    columns = [[v] * len(view) if isinstance(v, str) else v for v in props.values()]
    features = [
        {
            "type": "Feature",
            "id": i,
            "geometry": geometry,
            "properties": dict(zip(keys, values, strict=True)),
        }
        for i, (geometry, *values) in enumerate(zip(geometries, *columns, strict=True))
    ]
    return {"type": "FeatureCollection", "features": features}


def _collection_json(view: _View, props: Mapping[str, list[Any] | str]) -> str:
    """``_collection`` as the text ``json.dumps(..., ensure_ascii=False)`` writes for it.

    Assembled from each column's value texts and the geometry texts by Arrow string kernels:
    encoding 25,000 feature dicts took a fifth of a national report's time.
    """
    pieces: list[str | pa.Array] = [
        '{"type": "Feature", "id": ',
        pc.cast(pa.array(np.arange(len(view))), pa.string()),
        ', "geometry": ',
        view.geometry,
    ]
    head = ', "properties": {'
    for key, values in props.items():
        field = f"{head}{json.dumps(key)}: "
        if isinstance(values, str):
            pieces.append(field + encode_basestring(values))
        else:
            pieces += [field, _json_values(values)]
        head = ", "
    features = _concat(*pieces, "}}")
    text = _join(features, np.array([len(features)]), ", ")[0].as_py()
    return '{"type": "FeatureCollection", "features": [' + text + "]}"


def _json_values(values: list[Any]) -> pa.StringArray:
    """Each value's JSON text as ``json.dumps`` writes it within a document (see _collection_json).

    User strings are encoded one by one (``ensure_ascii=False``'s encoder), a column of numbers
    in one call; anything else value by value.
    """
    if isinstance(values, _Texts):
        texts = ["null" if v is None else encode_basestring(v) for v in values]
    elif isinstance(values, _Numbers) and values:
        texts = json.dumps(values, allow_nan=False)[1:-1].split(", ")
    else:
        texts = [json.dumps(v, ensure_ascii=False, allow_nan=False) for v in values]
    return pa.array(texts, pa.string())


def _bounds(*views: _View | None) -> list[list[float]]:
    """Fit to the plots; fall back to services, buurten, then the whole country."""
    for view in views:
        if view is not None and view.bounds is not None:
            west, south, east, north = view.bounds
            pad = 0.002 if (east - west) < 0.002 and (north - south) < 0.002 else 0.0  # one point
            return [[south - pad, west - pad], [north + pad, east + pad]]
    return [list(_NL_BOUNDS[0]), list(_NL_BOUNDS[1])]


# --- data preparation ----------------------------------------------------------------------------

_COLUMNS: dict[str, tuple[str, ...]] = {
    "plots": (
        "plot_id",
        "name",
        "homes",
        "support_homes",
        "selected",
        "capacity",
        "suitability",
        "reason",
    ),
    "services": ("service_id", "type", "name", "capacity", "load"),
    "buurten": ("buurt_id", "name", "dwellings", "homes", "cap"),
    "regions": ("region_id", "name", "homes"),
}


def _display_frame(gdf: gpd.GeoDataFrame, layer: str, display: Display | None = None) -> _View:
    """Reduce a layer to the shown columns and display geometry (simplified, WGS84, rounded).

    Missing optional columns become empty so a partial layer still renders; geometry is
    simplified in metres (RD New) before reprojection so the tolerance means the same everywhere.
    With ``display`` the geometry of features drawn before is taken from there (``Display``);
    the columns always come from ``gdf``.
    """
    if gdf.crs is None:
        raise ValueError(f"{layer} has no CRS; expected {_WORK_CRS}")
    columns = _COLUMNS[layer]
    frame = pd.DataFrame(
        {
            c: gdf[c] if c in gdf.columns else pd.Series(None, index=gdf.index, dtype=object)
            for c in columns
        }
    )
    geoms = gdf.geometry
    drawn = _display_geometry(geoms, layer) if display is None else display.draw(geoms, layer)
    keep = drawn.keep
    if not keep.all():
        log.warning("report: %d %s without geometry are not drawn", int((~keep).sum()), layer)
    bounds = None
    if len(drawn.boxes):
        west, south = drawn.boxes[:, :2].min(axis=0).tolist()
        east, north = drawn.boxes[:, 2:].max(axis=0).tolist()
        bounds = (west, south, east, north)
    return _View(frame[keep], drawn.texts, bounds)


@dataclass(frozen=True)
class _Drawn:
    """The display geometry of a layer's features: which are drawn (not empty once simplified)
    and, for those in order, their GeoJSON text and (west, south, east, north) box."""

    keep: np.ndarray
    texts: pa.StringArray
    boxes: np.ndarray


def _display_geometry(geoms: gpd.GeoSeries, layer: str) -> _Drawn:
    """Each feature's display geometry, computed from that feature alone (so a kept one is
    as good as a new one): services as points, others simplified; WGS84, rounded."""
    work = geoms.to_crs(_WORK_CRS)
    shapes = work.to_numpy()
    if layer == "services":
        points = shapely.get_type_id(shapes) == 0
        shapes = np.where(points, shapes, shapely.point_on_surface(shapes))
    else:
        tolerance = _SIMPLIFY_M * (10 if layer == "regions" else 1)  # outlines only
        shapes = shapely.simplify(shapes, tolerance, preserve_topology=True)
    keep = ~(shapely.is_missing(shapes) | shapely.is_empty(shapes))
    shapes = shapes[keep]
    xy = _display_xy(shapes, work.crs)
    boxes = np.zeros((0, 4))
    if len(xy):  # a drawn feature has at least one coordinate
        counts = shapely.get_num_coordinates(shapes)
        starts = np.cumsum(counts) - counts
        lows, highs = np.minimum.reduceat(xy, starts), np.maximum.reduceat(xy, starts)
        boxes = np.hstack([lows, highs])
    return _Drawn(keep, _geojson_texts(shapes, xy), boxes)


# --- display geometry kept for a re-run ----------------------------------------------------------

_KEPT_FILE = "report_{}.arrow"
_KEPT_SCHEMA = pa.schema(
    [
        ("wkb", pa.binary()),
        ("text", pa.string()),  # null: not drawn (empty once simplified)
        *((side, pa.float64()) for side in ("west", "south", "east", "north")),
    ]
)


@dataclass
class Display:
    """The report's display geometry per layer, by each feature's exact input geometry (WKB):
    what an earlier run kept (``earlier``) and what this report drew (``drawn``, kept in turn).

    A feature's display geometry depends on its own geometry alone, given the layer's CRS and
    treatment, this module's code and the geometry libraries (``_display_key``), and a re-run
    after a small change draws nearly the same features: it computes only the new ones. A kept
    table is used only under the same key, a row only for the same WKB.
    """

    earlier: dict[str, pa.Table] = field(default_factory=dict)
    drawn: dict[str, pa.Table] = field(default_factory=dict)

    def draw(self, geoms: gpd.GeoSeries, layer: str) -> _Drawn:
        """``_display_geometry`` of ``geoms``, computed for the features not kept."""
        key = _display_key(layer, geoms.crs)
        wkb = _wkb(geoms.to_numpy())
        kept = self.earlier.get(layer)
        if kept is not None and (kept.schema.metadata or {}).get(b"key") != key.encode():
            log.info("re-run: kept %s display geometry is for other code or CRS; not used", layer)
            kept = None
        kept = _KEPT_SCHEMA.empty_table() if kept is None else kept.replace_schema_metadata()
        found = pc.index_in(wkb, value_set=kept["wkb"], skip_nulls=True)
        at = pc.fill_null(found, -1).to_numpy().astype(np.int64)
        todo = np.flatnonzero(at < 0)
        at[todo] = len(kept) + np.arange(len(todo))
        fresh = _display_geometry(geoms.iloc[todo], layer)
        rows = pa.concat_tables([kept, _kept_table(wkb.take(todo), fresh)]).take(at)
        self.drawn[layer] = rows.filter(wkb.is_valid()).replace_schema_metadata({"key": key})
        text = rows["text"].combine_chunks()
        keep = text.is_valid().to_numpy(zero_copy_only=False)
        sides = [rows[side].to_numpy()[keep] for side in ("west", "south", "east", "north")]
        return _Drawn(keep, text.filter(keep), np.column_stack(sides))

    def write(self, folder: Path) -> None:
        """Keep the drawn tables in ``folder`` (a run folder's ``reuse/``), uncompressed Arrow:
        written and read in a few milliseconds."""
        folder.mkdir(exist_ok=True)
        for layer, table in self.drawn.items():
            with pa.ipc.new_file(folder / _KEPT_FILE.format(layer), table.schema) as writer:
                writer.write_table(table)


_POINT_WKB = np.dtype([("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])


def _wkb(shapes: np.ndarray) -> pa.BinaryArray:
    """Each geometry's little-endian WKB (null where missing), as ``shapely.to_wkb`` writes it.

    A layer of 2D points (the services) is written from its coordinates: byte order, type 1, x
    and y; a fifth of ``to_wkb``'s time at 20,000 points.
    """
    types = shapely.get_type_id(shapes)
    if len(shapes) and (types == 0).all():
        flat = ~(shapely.has_z(shapes) | shapely.has_m(shapes) | shapely.is_empty(shapes))
        if flat.all():
            xy = shapely.get_coordinates(shapes)
            points = np.empty(len(shapes), dtype=_POINT_WKB)
            points["order"], points["type"], points["x"], points["y"] = 1, 1, xy[:, 0], xy[:, 1]
            data = pa.py_buffer(points.view(np.uint8))
            size = _POINT_WKB.itemsize
            fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(size), len(points), [None, data])
            return fixed.cast(pa.binary())
    return pa.array(shapely.to_wkb(shapes, byte_order=1), pa.binary())


def read_display(folder: Path) -> Display:
    """What ``Display.write`` kept in ``folder``; a table that is unreadable is left out
    (logged): its features are computed again."""
    earlier = {}
    for layer in _COLUMNS:
        path = folder / _KEPT_FILE.format(layer)
        if not path.is_file():
            continue
        try:
            with pa.OSFile(str(path)) as source:
                table = pa.ipc.open_file(source).read_all()
            _check_kept(table)
        except Exception as exc:  # a damaged cache costs speed, never the report
            log.warning(
                "re-run: kept %s display geometry in %s unreadable (%s)", layer, folder, exc
            )
            continue
        earlier[layer] = table
    return Display(earlier=earlier)


def _check_kept(table: pa.Table) -> None:
    """A kept table is sound Arrow (offsets, UTF-8) with the columns ``Display`` writes, a key,
    and a box for every drawn row."""
    table.validate(full=True)
    if not table.schema.remove_metadata().equals(_KEPT_SCHEMA):
        raise ValueError(f"columns {table.schema.names} are not the kept {_KEPT_SCHEMA.names}")
    if b"key" not in (table.schema.metadata or {}):
        raise ValueError("no key")
    drawn = table.filter(pc.is_valid(table["text"]))
    boxes = np.column_stack([drawn[s].to_numpy() for s in ("west", "south", "east", "north")])
    if table["wkb"].null_count or not np.isfinite(boxes).all():
        raise ValueError("rows without geometry or box")


def _kept_table(wkb: pa.Array, drawn: _Drawn) -> pa.Table:
    """``drawn`` as rows of the kept table, one per feature (text null where not drawn)."""
    keep = drawn.keep
    index = np.cumsum(keep) - 1
    boxes = np.full((len(keep), 4), np.nan)
    boxes[keep] = drawn.boxes
    texts = drawn.texts.take(pa.array(index, mask=~keep))
    return pa.Table.from_arrays([wkb, texts, *map(pa.array, boxes.T)], schema=_KEPT_SCHEMA)


@functools.lru_cache(maxsize=16)
def _display_key(layer: str, crs: pyproj.CRS) -> str:
    """What a feature's display geometry depends on besides its geometry: the layer (its
    treatment), the CRS and the transformations made from it, this module's code and the
    libraries that simplify, transform and write."""
    import geopandas

    work = pyproj.CRS(_WORK_CRS)
    # A transformer takes a few milliseconds to make; validated layers are in RD New already
    to_work = (
        "" if crs == work else pyproj.Transformer.from_crs(crs, work, always_xy=True).definition
    )
    parts = [
        layer,
        crs.to_wkt(),
        to_work,
        _to_display(work).definition,
        hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
        *(shapely.__version__, shapely.geos_version_string, pyproj.__version__),
        *(pyproj.proj_version_str, pa.__version__, np.__version__, geopandas.__version__),
    ]
    return hashlib.sha256("\x1e".join(parts).encode()).hexdigest()


def _display_xy(shapes: np.ndarray, crs: pyproj.CRS) -> np.ndarray:
    """Every coordinate of ``shapes`` in WGS84 (lon, lat), rounded, as one (n, 2) array.

    The same numbers geopandas' ``to_crs`` gives, without building new geometries; 3D input goes
    through ``to_crs`` itself (its heights take part in the transformation). A coordinate that
    has no WGS84 position (not finite) cannot be written as JSON and is refused.
    """
    if shapely.has_z(shapes).any():
        xy = shapely.get_coordinates(gpd.GeoSeries(shapes, crs=crs).to_crs(_DISPLAY_CRS).to_numpy())
    else:
        xy = shapely.get_coordinates(shapes)
        xy = np.column_stack(_to_display(crs).transform(xy[:, 0], xy[:, 1]))
    xy = np.round(xy, _DECIMALS)
    if not np.isfinite(xy).all():
        raise ValueError(f"geometry without a WGS84 position (from {crs.to_string()})")
    return xy


@functools.lru_cache(maxsize=4)
def _to_display(crs: pyproj.CRS) -> pyproj.Transformer:
    """The transformer geopandas' ``to_crs`` uses, made once rather than per layer."""
    return pyproj.Transformer.from_crs(crs, _DISPLAY_CRS, always_xy=True)


def _geojson_texts(shapes: np.ndarray, xy: np.ndarray) -> pa.StringArray:
    """Each geometry's GeoJSON as ``json.dumps(shapely.geometry.mapping(g))`` writes it.

    ``xy`` holds the coordinates to write, in ``shapes``' order. Points and (multi)polygons, all
    our layers have, are assembled from their coordinate texts by Arrow string kernels
    (``mapping`` and ``json.dumps`` per geometry took a fifth of a national report's time);
    other kinds take ``mapping``.
    """
    types = shapely.get_type_id(shapes)
    if (types == 0).all():
        return _concat('{"type": "Point", "coordinates": [', _pair_texts(xy), "]}")
    if np.isin(types, (3, 6)).all():
        return _polygon_texts(shapes, types, _pair_texts(xy))
    rounded = shapely.set_coordinates(shapes.copy(), xy)
    return pa.array([json.dumps(shapely.geometry.mapping(s)) for s in rounded], pa.string())


def _polygon_texts(shapes: np.ndarray, types: np.ndarray, pairs: pa.StringArray) -> pa.StringArray:
    """GeoJSON of (multi)polygons from their coordinate texts: rings, then parts, then shapes."""
    parts, owner = shapely.get_parts(shapes, return_index=True)  # a polygon is its only part
    rings, ring_part = shapely.get_rings(parts, return_index=True)  # exterior first
    sizes = shapely.get_num_coordinates(rings)
    ring_texts = _concat("[[", _join(pairs, sizes, "], ["), "]]")
    part_rings = _join(ring_texts, np.bincount(ring_part, minlength=len(parts)), ", ")
    # mapping() writes an empty polygon inside a multipolygon as [[]]
    part_texts = _concat("[", pc.if_else(pc.equal(part_rings, ""), "[]", part_rings), "]")
    coordinates = _join(part_texts, np.bincount(owner, minlength=len(shapes)), ", ")
    polygon = _concat('{"type": "Polygon", "coordinates": ', coordinates, "}")
    multi = _concat('{"type": "MultiPolygon", "coordinates": [', coordinates, "]}")
    return pc.if_else(types == 3, polygon, multi)


def _pair_texts(xy: np.ndarray) -> pa.StringArray:
    """``x, y`` per coordinate, as ``json.dumps`` writes a coordinate pair's numbers."""
    return pc.binary_join_element_wise(_decimal_texts(xy[:, 0]), _decimal_texts(xy[:, 1]), ", ")


def _decimal_texts(values: np.ndarray) -> pa.StringArray:
    """Each value (rounded to ``_DECIMALS``) as ``repr`` writes it, by Arrow string kernels.

    For 1e-4 <= |v| < 1e9, ``repr`` (shortest round trip) of ``k / 10**6`` is the integer part,
    a point and the six decimals of ``k`` without trailing zeros (at least one digit); it takes
    other values (an exponent below 1e-4, and zero) itself. A third of the time of ``repr``.
    """
    size = np.abs(values)
    if not ((size >= 1e-4) & (size < 1e9)).all():
        return pa.array([repr(v) for v in values.tolist()], pa.string())
    scale = 10**_DECIMALS
    units = np.rint(size * scale).astype(np.int64)
    whole = pc.cast(pa.array(units // scale), pa.string())
    whole = pc.if_else(values < 0, _concat("-", whole), whole)
    digits = pc.utf8_lpad(pc.cast(pa.array(units % scale), pa.string()), _DECIMALS, "0")
    decimals = pc.utf8_rtrim(digits, "0")
    decimals = pc.if_else(pc.equal(decimals, ""), "0", decimals)
    return pc.binary_join_element_wise(whole, decimals, ".")


def _concat(*pieces: str | pa.Array) -> pa.StringArray:
    """Element-wise concatenation of string arrays and (broadcast) strings."""
    return pc.binary_join_element_wise(*pieces, "")


def _join(texts: pa.StringArray, sizes: np.ndarray, separator: str) -> pa.StringArray:
    """``texts`` joined in consecutive groups of ``sizes`` (an empty group gives "")."""
    offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int32)
    return pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), texts), separator)


def _with_homes(buurten: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Only buurten that receive homes are drawn: a national map has ~13,000 buurten."""
    if "homes" not in buurten.columns:
        return buurten.iloc[0:0]
    return buurten[pd.to_numeric(buurten["homes"], errors="coerce").fillna(0) > 0]


class _Texts(list[str | None]):
    """A column of user strings, ``None`` where missing (what ``_text`` gives)."""


class _Numbers(list[Any]):
    """A column of Python numbers and bools, ``None`` where missing or not finite."""


def _text(series: pd.Series) -> _Texts:
    """User strings as ``str`` (ids may be numbers), missing values as ``None``."""
    if isinstance(series.dtype, pd.StringDtype):  # the usual case, converted in one step
        return _Texts(series.to_numpy(dtype=object, na_value=None).tolist())
    present = series.notna().to_numpy()
    values = series.to_numpy(object)
    return _Texts(str(v) if ok else None for v, ok in zip(values, present, strict=True))


def _values(series: pd.Series) -> list[Any]:
    """``_plain`` of each value; numpy columns converted whole (20,000 rows at national scale)."""
    values = series.to_numpy()
    if values.dtype.kind in "biu":
        return _Numbers(values.tolist())
    if values.dtype.kind == "f":
        plain = values.astype(object)
        plain[~np.isfinite(values)] = None
        return _Numbers(plain.tolist())
    return [_plain(v) for v in values]


def _plain(value: Any) -> Any:
    """A JSON-safe scalar: numpy numbers to Python, NaN/inf/NA to ``None``."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return str(value)


# --- legend and tables ---------------------------------------------------------------------------


def _int_ramp(max_value: float, palette: tuple[str, ...]) -> _Ramp:
    """Equal-interval integer classes from 1 to ``max_value``, at most ``len(palette)`` of them."""
    step = max(1, math.ceil(max_value / len(palette)))
    count = max(1, min(len(palette), math.ceil(max_value / step)))
    return _Ramp(
        uppers=tuple(float(step * k) for k in range(1, count + 1)),
        colors=palette[len(palette) - count :],
    )


def _homes_legend(ramp: _Ramp | None) -> list[tuple[str, str]]:
    if ramp is None:
        return []
    lowers = [1.0, *(u + 1 for u in ramp.uppers[:-1])]
    return [
        (color, _fmt(int(lo)) if lo == up else f"{_fmt(int(lo))}-{_fmt(int(up))}")
        for color, lo, up in zip(ramp.colors, lowers, ramp.uppers, strict=True)
    ]


def _share_legend(ramp: _Ramp | None) -> list[tuple[str, str]]:
    if ramp is None:
        return []
    digits = 1 if ramp.uppers[-1] >= 0.01 else 2
    lowers = [0.0, *ramp.uppers[:-1]]
    return [
        (color, f"{_pct(lo, digits)} - {_pct(up, digits)}")
        for color, lo, up in zip(ramp.colors, lowers, ramp.uppers, strict=True)
    ]


def _headline(kpis: Mapping[str, Any]) -> list[tuple[str, str]]:
    homes = _fmt(kpis.get("homes"))
    target = _fmt(kpis.get("target_homes"))
    seconds = _fmt(kpis.get("solve_seconds"), digits=1)
    return [
        ("Status", _fmt(kpis.get("status"))),
        ("Flexwoningen", f"{homes} van {target}"),
        ("Met begeleiding", _fmt(kpis.get("support_homes"))),
        ("Kavels gebruikt", _fmt(kpis.get("plots_used"))),
        ("Doelwaarde", _fmt(kpis.get("objective"), digits=2)),
        ("Beste grens", _fmt(kpis.get("best_bound"), digits=2)),
        ("Optimaliteitsgat", _pct(kpis.get("gap"), 2)),
        ("Rekentijd", seconds if seconds == "-" else f"{seconds} s"),
    ]


def _region_table(kpis: Mapping[str, Any]) -> _Table:
    return _kpi_table(
        kpis.get("per_region"),
        key="fp-regions",
        caption="Per regio",
        columns=(
            ("region_id", "Regio", False),
            ("name", "Naam", False),
            ("homes", "Woningen", True),
            ("min_homes", "Minimum", True),
            ("max_homes", "Maximum", True),
        ),
    )


def _proposer_table(kpis: Mapping[str, Any]) -> _Table:
    """Per corporation: how many of its proposed plots and homes the allocation uses."""
    return _kpi_table(
        kpis.get("per_proposer"),
        key="fp-proposers",
        caption="Per corporatie",
        columns=(
            ("proposer", "Corporatie", False),
            ("plots", "Kavels voorgesteld", True),
            ("plots_used", "Kavels gebruikt", True),
            ("homes", "Woningen", True),
        ),
    )


def _service_table(kpis: Mapping[str, Any]) -> _Table:
    return _kpi_table(
        kpis.get("per_service_type"),
        key="fp-services",
        caption="Per type voorziening",
        columns=(
            ("type", "Type", False),
            ("services", "Aantal", True),
            ("capacity", "Capaciteit", True),
            ("load", "Belasting", True),
            ("support_homes_in_reach", "Begeleide woningen in bereik", True),
        ),
    )


def _kpi_table(
    rows: Any, *, key: str, caption: str, columns: tuple[tuple[str, str, bool], ...]
) -> _Table:
    """Format a list of KPI dicts; rows that are not dicts are skipped, missing cells are "-"."""
    body = tuple(
        tuple(_fmt(row.get(field)) for field, _head, _numeric in columns)
        for row in _as_list(rows)
        if isinstance(row, Mapping)
    )
    return _Table(key, caption, tuple((head, numeric) for _f, head, numeric in columns), body)


def _plot_table(plots: gpd.GeoDataFrame) -> _Table:
    """The used plots as a table: the map's text alternative (WCAG 1.1.1)."""
    fields = (
        ("plot_id", "Kavel", False),
        ("name", "Naam", False),
        ("homes", "Woningen", True),
        ("support_homes", "Begeleid", True),
        ("capacity", "Capaciteit", True),
        ("suitability", "Geschiktheid", True),
    )
    shown = pd.DataFrame(plots[[f for f, _h, _n in fields if f in plots.columns]])
    used = shown[plots["selected"].eq(True)] if "selected" in plots.columns else shown.iloc[0:0]
    if "homes" in used.columns:
        used = used.sort_values("homes", ascending=False, kind="stable")
    rows = tuple(
        tuple(
            _fmt(row.get(field), digits=2 if field == "suitability" else 0)
            for field, _h, _n in fields
        )
        for row in used.to_dict("records")
    )
    return _Table("fp-plots", "Gebruikte kavels", tuple((h, n) for _f, h, n in fields), rows)


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        return []
    return list(value)


def _fmt(value: Any, *, digits: int = 0) -> str:
    """Dutch number formatting (``12.345,6``); missing or unusable values become "-"."""
    if value is None or value is pd.NA:
        return "-"
    if isinstance(value, bool | np.bool_):
        return "ja" if value else "nee"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}".replace(",", ".")
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return "-"
        if math.isinf(value):
            return "onbeperkt"
        if digits == 0 and float(value).is_integer():
            return _fmt(int(value))
        return f"{float(value):,.{max(digits, 1)}f}".translate(str.maketrans(",.", ".,"))
    text = str(value)
    return text if text else "-"


def _pct(value: Any, digits: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        return "-"
    if not math.isfinite(value):
        return "-"
    return f"{_fmt(float(value) * 100, digits=digits)}%"


# --- the years of a plan -------------------------------------------------------------------------

_CHART = {"width": 480, "height": 190, "left": 52, "right": 470, "top": 10, "bottom": 168}


def _timeline_years(timeline: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [y for y in _as_list(timeline.get("years")) if isinstance(y, Mapping)]


def _chart(timeline: Mapping[str, Any]) -> dict[str, Any] | None:
    """Coordinates of the per-year chart (inline SVG: no script library, works offline)."""
    years = _timeline_years(timeline)
    if not years:
        return None
    c = _CHART
    standing = [float(y.get("standing") or 0) for y in years]
    targets = [(i, float(y["target"])) for i, y in enumerate(years) if y.get("target") is not None]
    top = max([*standing, *(t for _, t in targets), 1.0])
    xs = _xs(len(years))

    def y_of(value: float) -> float:
        return round(c["bottom"] - (c["bottom"] - c["top"]) * value / top, 1)

    return {
        **c,
        "last": len(years) - 1,
        "first_year": str(years[0].get("year")),
        "last_year": str(years[-1].get("year")),
        "max_label": _fmt(top),
        "points": " ".join(f"{x},{y_of(v)}" for x, v in zip(xs, standing, strict=True)),
        "targets": [(xs[i], y_of(t)) for i, t in targets],
    }


def _xs(n: int) -> list[float]:
    c = _CHART
    step = (c["right"] - c["left"]) / max(n - 1, 1)
    return [round(c["left"] + step * i, 1) for i in range(n)]


def _timeline_data(timeline: Mapping[str, Any]) -> dict[str, Any]:
    """What the slider script needs: per year the standing plots as [id, homes] pairs."""
    years = _timeline_years(timeline)
    return {
        "xs": _xs(len(years)),
        "years": [
            {
                "year": _plain(y.get("year")),
                "standing": _plain(y.get("standing")),
                "target": _plain(y.get("target")),
                "plots": [[str(pid), _plain(h)] for pid, h in (y.get("plots") or {}).items()],
            }
            for y in years
        ],
    }


def _script_json(data: Any) -> str:
    """JSON safe inside a script element: no '<', '>' or '&' can end or open a tag."""
    return _script_safe(json.dumps(data, ensure_ascii=False, allow_nan=False))


def _script_safe(text: str) -> str:
    """JSON text made safe inside a script element (see ``_script_json``)."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _year_table(timeline: Mapping[str, Any]) -> _Table:
    """Homes standing against the target per year: the chart's text alternative."""
    rows = tuple(
        (
            str(y.get("year")),
            _fmt(y.get("standing")),
            _fmt(y.get("target")),
            _fmt(len(y.get("plots") or {})),
        )
        for y in _timeline_years(timeline)
    )
    columns = (("Jaar", False), ("Staan", True), ("Doel", True), ("Projecten", True))
    return _Table("fp-years", "Woningen per jaar", columns, rows)
