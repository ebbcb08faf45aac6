"""Reach along the street network: routing against networkx, profiles, OSM input, end to end."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import osmium
import pandas as pd
import pytest
import shapely
import yaml
from shapely.geometry import LineString, Point, box

from geodata.network import read_network, usable
from planner.errors import LayerError
from planner.network import apply_network_reach, build_graph, network_distances
from tests.checker import assert_valid_run
from tests.test_cli import flexplan
from tests.world import X0, Y0, write_world

CRS = "EPSG:28992"


def _grid_lines(n: int = 5, step: float = 100.0) -> list[LineString]:
    lines = []
    for k in range(n):
        lines.append(LineString([(k * step, y * step) for y in range(n)]))
        lines.append(LineString([(x * step, k * step) for x in range(n)]))
    return lines


def test_routes_match_networkx_on_a_random_graph() -> None:
    rng = np.random.default_rng(3)
    pts = rng.uniform(0, 1000, size=(60, 2)).round(1)
    lines = [LineString([pts[i], pts[j]]) for i in range(60) for j in rng.choice(60, 3) if i != j]
    graph = build_graph(np.array(lines, dtype=object))
    g = nx.Graph()
    for line in lines:
        (ax, ay), (bx, by) = line.coords
        w = line.length
        a, b = (round(ax, 2), round(ay, 2)), (round(bx, 2), round(by, 2))
        if not g.has_edge(a, b) or g[a][b]["weight"] > w:
            g.add_edge(a, b, weight=w)
    plots = np.array([Point(p) for p in pts[:10]], dtype=object)
    services = np.array([Point(p) for p in pts[10:30]], dtype=object)
    pairs = pd.DataFrame(
        [(i, j) for i in range(10) for j in range(20)], columns=["plot", "service"]
    )
    got = network_distances(graph, plots, services, pairs, limit_m=5000)
    for (i, j), value in zip(pairs.itertuples(index=False, name=None), got, strict=True):
        a = (round(pts[i][0], 2), round(pts[i][1], 2))
        b = (round(pts[10 + j][0], 2), round(pts[10 + j][1], 2))
        try:
            want = nx.shortest_path_length(g, a, b, weight="weight")
        except nx.NetworkXNoPath:
            want = np.inf
        if want > 5000:
            assert value == np.inf
        else:
            assert value == pytest.approx(want, abs=1e-6)


def test_network_distance_is_never_shorter_than_straight() -> None:
    graph = build_graph(np.array(_grid_lines(), dtype=object))
    plots = np.array([box(-20, -20, 20, 20), box(180, 180, 260, 260)], dtype=object)
    services = np.array([Point(410, 390), Point(50, 120)], dtype=object)
    pairs = pd.DataFrame({"plot": [0, 0, 1, 1], "service": [0, 1, 0, 1]})
    routed = network_distances(graph, plots, services, pairs, limit_m=10_000)
    straight = shapely.distance(plots[pairs["plot"]], services[pairs["service"]])
    assert (routed >= straight - 1e-9).all()
    # plot 0 (node 0,0) to service 0 (node 400,400): 800 m along the grid + 10 m + 0 m snap
    assert routed[0] == pytest.approx(800 + np.hypot(10, 10))


def test_a_canal_without_bridge_takes_a_plot_out_of_reach() -> None:
    # West and east bank streets, joined only by a bridge 2 km to the north.
    lines = [
        LineString([(0, 0), (0, 2000)]),
        LineString([(200, 0), (200, 2000)]),
        LineString([(0, 2000), (200, 2000)]),
    ]
    graph = build_graph(np.array(lines, dtype=object))
    plots = np.array([box(-10, -10, 10, 10)], dtype=object)
    services = np.array([Point(200, 0), Point(0, 300)], dtype=object)
    pairs = pd.DataFrame(
        {
            "plot": [0, 0],
            "service": [0, 1],
            "type": ["huisarts", "wijkteam"],
            "distance_m": [190.0, 290.0],
        }
    )
    out = apply_network_reach(
        pairs, graph, plots, services, {"huisarts": 1500, "wijkteam": 1500}, by_area=set()
    )
    assert out["service"].tolist() == [1]
    assert out["distance_m"].iloc[0] == pytest.approx(300.0)


def test_profiles() -> None:
    assert usable("residential", {}, "walk") and usable("residential", {}, "bike")
    assert not usable("motorway", {}, "walk")
    assert usable("footway", {}, "walk") and not usable("footway", {}, "bike")
    assert usable("footway", {"bicycle": "yes"}, "bike")
    assert not usable("service", {"foot": "private"}, "walk")
    assert not usable(None, {}, "walk")


def test_read_network_from_lines_filters_by_profile(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"highway": ["residential", "motorway", "footway"]},
        geometry=[
            LineString([(0, 0), (100, 0)]),
            LineString([(0, 10), (100, 10)]),
            LineString([(0, 20), (100, 20)]),
        ],
        crs=CRS,
    )
    path = tmp_path / "streets.gpkg"
    frame.to_file(path)
    assert sorted(read_network(path, profile="walk")["highway"]) == ["footway", "residential"]
    assert list(read_network(path, profile="bike")["highway"]) == ["residential"]
    with pytest.raises(LayerError, match="profile 'car' unknown"):
        read_network(path, profile="car")
    with pytest.raises(LayerError, match="not found"):
        read_network(tmp_path / "nope.gpkg")


def test_read_network_from_osm_file(tmp_path: Path) -> None:
    path = tmp_path / "tiny.osm.pbf"
    writer = osmium.SimpleWriter(str(path))
    try:
        for i, (lon, lat) in enumerate([(5.38, 52.15), (5.39, 52.15), (5.40, 52.15)], start=1):
            writer.add_node(osmium.osm.mutable.Node(id=i, location=(lon, lat)))
        writer.add_way(osmium.osm.mutable.Way(id=10, nodes=[1, 2], tags={"highway": "residential"}))
        writer.add_way(osmium.osm.mutable.Way(id=11, nodes=[2, 3], tags={"highway": "motorway"}))
        writer.add_way(osmium.osm.mutable.Way(id=12, nodes=[1, 3], tags={"waterway": "canal"}))
    finally:
        writer.close()
    lines = read_network(path, profile="walk")
    assert list(lines["highway"]) == ["residential"]
    assert lines.crs.to_epsg() == 28992
    # 0.01 degree of longitude at 52.15 N is about 685 m.
    assert lines.geometry.length.iloc[0] == pytest.approx(685, rel=0.01)


def _street_grid(folder: Path) -> Path:
    xs = [X0 + 700 * i for i in range(4)]
    ys = [Y0 + 700 * j for j in range(3)]
    lines = [LineString([(x, Y0 - 500), (x, Y0 + 2000)]) for x in xs]
    lines += [LineString([(X0 - 500, y), (X0 + 2700, y)]) for y in ys]
    lines += [
        LineString([(X0 + 300, Y0 + 300), (X0 + 300, Y0)]),
        LineString([(X0 + 1800, Y0 + 900), (X0 + 1800, Y0 + 700)]),
        LineString([(X0 + 1000, Y0 + 1000), (X0 + 1000, Y0 + 700)]),
    ]
    # Split lines at every crossing so junctions exist where streets meet.
    noded = shapely.node(shapely.MultiLineString(lines))
    path = folder / "streets.gpkg"
    geoms = list(noded.geoms)
    gpd.GeoDataFrame({"highway": ["residential"] * len(geoms)}, geometry=geoms, crs=CRS).to_file(
        path
    )
    return path


def test_run_with_network_reach_end_to_end(tmp_path: Path) -> None:
    scenario = write_world(tmp_path / "w", target_homes=100)
    _street_grid(tmp_path / "w")
    data = yaml.safe_load(scenario.read_text())
    data["layers"]["network"] = "streets.gpkg"
    data["support"]["reach_mode"] = "network"
    scenario.write_text(yaml.safe_dump(data))
    out = tmp_path / "run"
    proc = flexplan("run", scenario, "--out", out)
    assert proc.returncode == 0, proc.stderr
    kpis = assert_valid_run(out)
    reach = kpis["reach"]
    assert reach["mode"] == "network"
    assert reach["pairs_network"] < reach["pairs_straight"]
    assert reach["plots_full_reach_network"] <= reach["plots_full_reach_straight"]
    assignments = pd.read_csv(out / "support_assignments.csv")
    assert (assignments["distance_m"] <= 5000).all()


def test_network_mode_needs_a_network(tmp_path: Path) -> None:
    scenario = write_world(tmp_path / "w", support={"reach_mode": "network"})
    proc = flexplan("validate", scenario)
    assert proc.returncode == 1
    assert "layers.network is missing" in proc.stderr
