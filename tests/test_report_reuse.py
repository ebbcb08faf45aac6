"""The report's display geometry kept for a re-run (planner.report.Display): a re-run's report
computes only the features it has not drawn before, and is the very page a cold run writes."""

from __future__ import annotations

import logging
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import shapely
from shapely.geometry import Point, Polygon, box

from benchmarks import national
from planner import report
from planner.pipeline import run_scenario
from planner.report import Display, _display_frame, _wkb, read_display
from planner.rerun import read_earlier
from planner.scenario import load_scenario
from tests.reruns import changed, first_national_run

LAYERS = {
    "plots": "plots",
    "services": "services",
    "buurten": "neighbourhoods",
    "regions": "regions",
}


def _page(html: str) -> str:
    """The page without what differs between two renderings of the same run: folium's random
    element ids and the solver's seconds."""
    html = re.sub(r"_[0-9a-f]{32}(?![0-9a-f])", "_id", html)
    return re.sub(r"Rekentijd</dt><dd>[^<]*", "Rekentijd</dt><dd>", html)


@pytest.fixture
def computed(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many features of each layer had their display geometry computed."""
    counts: Counter[str] = Counter()
    real = report._display_geometry

    def counting(geoms: gpd.GeoSeries, layer: str) -> Any:
        counts[layer] += len(geoms)
        return real(geoms, layer)

    monkeypatch.setattr(report, "_display_geometry", counting)
    return counts


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return first_national_run(tmp_path_factory.mktemp("report_reuse"), seed=3)


@pytest.mark.parametrize("change", ["plot added", "parameter"])
def test_a_reruns_report_is_the_cold_runs_page(
    first_run: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    computed: Counter[str],
    change: str,
) -> None:
    """The cold run's report inputs drawn again with the first run's kept geometry: the same
    page, with only the new plot (if any) and newly drawn buurten computed."""
    scenario = changed(first_run, change, tmp_path / "instance")
    drawn: list[tuple[dict[str, Any], str]] = []
    real = report.build_report

    def recording(**kwargs: Any) -> str:
        html = real(**kwargs)
        drawn.append((kwargs, html))
        return html

    monkeypatch.setattr(report, "build_report", recording)
    run_scenario(scenario, tmp_path / "cold")
    ((inputs, cold),) = drawn
    assert (tmp_path / "cold" / "report.html").read_text(encoding="utf-8") == cold
    computed.clear()
    kept = read_display(first_run[1] / "reuse")
    assert set(kept.earlier) == set(LAYERS)
    warm = real(**{**inputs, "display": kept})
    assert _page(warm) == _page(cold)
    assert computed["plots"] == (1 if change == "plot added" else 0)
    assert computed["services"] == computed["regions"] == 0
    buurten = inputs["buurten"]
    assert computed["buurten"] < (buurten["homes"] > 0).sum() / 2


@pytest.mark.parametrize("change", ["plot added", "parameter"])
def test_a_rerun_writes_the_page_it_writes_without_kept_geometry(
    first_run: tuple[Path, Path], tmp_path: Path, computed: Counter[str], change: str
) -> None:
    """End to end: a re-run with the kept geometry and one whose hint keeps none (everything
    else the same) write the same report, and keep what they drew for the next run."""
    scenario = changed(first_run, change, tmp_path / "instance")
    bare = tmp_path / "bare"
    shutil.copytree(first_run[1], bare)
    for path in (bare / "reuse").glob("report_*.arrow"):
        path.unlink()
    run_scenario(scenario, tmp_path / "without", hint_from=bare)
    everything = sum(computed.values())
    computed.clear()
    run_scenario(scenario, tmp_path / "warm", hint_from=first_run[1])
    assert sum(computed.values()) < everything / 20
    pages = [(tmp_path / run / "report.html").read_text("utf-8") for run in ("without", "warm")]
    assert _page(pages[0]) == _page(pages[1])
    for run in ("without", "warm"):
        assert set(read_display(tmp_path / run / "reuse").earlier) == set(LAYERS)


def test_damaged_or_mismatched_kept_geometry_is_computed_again(
    first_run: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scenario_path, first = first_run
    damaged = tmp_path / "damaged"
    shutil.copytree(first, damaged)
    reuse = damaged / "reuse"
    (reuse / "report_plots.arrow").write_bytes(b"not arrow")
    data = (reuse / "report_services.arrow").read_bytes()
    (reuse / "report_services.arrow").write_bytes(data[: len(data) // 2])
    regions = read_display(first / "reuse").earlier["regions"]
    _write(reuse / "report_regions.arrow", regions.drop_columns(["east"]))
    buurten = read_display(first / "reuse").earlier["buurten"]
    boxless = buurten.set_column(2, "west", pa.array(np.full(len(buurten), np.nan)))
    _write(reuse / "report_buurten.arrow", boxless)
    with caplog.at_level(logging.WARNING, logger="planner.report"):
        assert read_earlier(damaged).display.earlier == {}
    for layer in LAYERS:
        assert f"kept {layer} display geometry in {reuse} unreadable" in caplog.text
    scenario = load_scenario(scenario_path)
    run_scenario(scenario, tmp_path / "from-damaged", hint_from=damaged)
    run_scenario(scenario, tmp_path / "from-first", hint_from=first)
    pages = [
        (tmp_path / r / "report.html").read_text("utf-8") for r in ("from-damaged", "from-first")
    ]
    assert _page(pages[0]) == _page(pages[1])


def test_kept_text_that_is_not_utf8_is_not_read(
    layers: dict[str, gpd.GeoDataFrame], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    display = Display()
    _display_frame(layers["regions"], "regions", display)
    table = display.drawn["regions"]
    text = table["text"].combine_chunks()
    data = bytearray(text.buffers()[2].to_pybytes())
    data[len(data) // 2] = 0xFF  # never valid in UTF-8
    broken = pa.Array.from_buffers(
        pa.string(), len(text), [None, text.buffers()[1], pa.py_buffer(bytes(data))]
    )
    _write(tmp_path / "report_regions.arrow", table.set_column(1, "text", broken))
    with caplog.at_level(logging.WARNING, logger="planner.report"):
        assert read_display(tmp_path).earlier == {}
    assert "kept regions display geometry" in caplog.text


def _write(path: Path, table: pa.Table) -> None:
    with pa.ipc.new_file(path, table.schema) as writer:
        writer.write_table(table)


# --- the display geometry by feature -----------------------------------------------------------


@pytest.fixture(scope="module")
def layers() -> dict[str, gpd.GeoDataFrame]:
    return national.build_layers(200, seed=5)


def _edited(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Rows 0-2 gone, row 3 moved, a new row, a missing and an empty geometry, and the rows in
    another order: what a re-run's layer (or buurten drawn) may look like."""
    edited = gdf.iloc[3:].copy()
    edited.loc[edited.index[0], "geometry"] = shapely.affinity.translate(gdf.geometry.iloc[3], 40)
    extra = gdf.iloc[[5, 6, 7]].copy()
    point = gdf.geom_type.iloc[0] == "Point"
    extra["geometry"] = [
        Point(150_000, 450_000) if point else box(150_000, 450_000, 150_100, 450_080),
        None,
        Point() if point else Polygon(),
    ]
    out = pd.concat([edited, extra])
    return out.iloc[np.random.default_rng(1).permutation(len(out))]


def _assert_same_view(a: report._View, b: report._View) -> None:
    pd.testing.assert_frame_equal(a.frame, b.frame)
    assert a.geometry.equals(b.geometry)
    assert a.bounds == b.bounds


@pytest.mark.parametrize("layer", list(LAYERS))
def test_kept_features_draw_as_computed_ones(
    layers: dict[str, gpd.GeoDataFrame], tmp_path: Path, computed: Counter[str], layer: str
) -> None:
    """Drawn from what an earlier report kept (written and read back), an edited layer is the
    view computed from scratch; only its new geometries are computed."""
    gdf = layers[LAYERS[layer]]
    first = Display()
    _display_frame(gdf, layer, first)
    first.write(tmp_path)
    edited = _edited(gdf)
    cold = _display_frame(edited, layer)
    computed.clear()
    warm = Display(earlier=read_display(tmp_path).earlier)
    _assert_same_view(_display_frame(edited, layer, warm), cold)
    assert computed[layer] == 4  # the moved, the new, the missing and the empty one
    # what the re-run keeps serves the next one, also for a subset (the buurten drawn)
    subset = edited[~shapely.is_missing(edited.geometry.to_numpy())].iloc[::2]
    computed.clear()
    view = _display_frame(subset, layer, Display(earlier=warm.drawn))
    assert computed[layer] == 0
    _assert_same_view(view, _display_frame(subset, layer))


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(lambda gdf: gdf.set_crs("EPSG:3857", allow_override=True), id="crs"),
        pytest.param(lambda gdf: gdf, id="code"),
    ],
)
def test_kept_geometry_under_another_key_is_not_used(
    layers: dict[str, gpd.GeoDataFrame],
    monkeypatch: pytest.MonkeyPatch,
    computed: Counter[str],
    other: Any,
) -> None:
    """The same WKB in another CRS, or after the report code changed, is computed again."""
    gdf = layers["regions"]
    first = Display()
    _display_frame(gdf, "regions", first)
    changed = other(gdf)
    if changed is gdf:
        key = report._display_key
        monkeypatch.setattr(report, "_display_key", lambda *a: key(*a) + "-changed")
    computed.clear()
    _assert_same_view(
        _display_frame(changed, "regions", Display(earlier=first.drawn)),
        _display_frame(changed, "regions"),
    )
    assert computed["regions"] == 2 * len(gdf)


@pytest.mark.parametrize(
    "shapes",
    [
        [Point(5.5, 52.1), Point(-0.0, 1e300), Point(136_000.25, 455_000.5)],
        [Point(1, 2), Point(1, 2, 3)],
        [Point(1, 2), Point()],
        [Point(1, 2), None],
        [Point(1, 2), box(0, 0, 1, 1)],
        [],
    ],
)
def test_wkb_is_what_shapely_writes(shapes: list[Any]) -> None:
    array = np.array(shapes, dtype=object)
    assert _wkb(array).equals(pa.array(shapely.to_wkb(array, byte_order=1), pa.binary()))
