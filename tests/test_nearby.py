"""Reach pairs and distances kept per plot geometry (planner.nearby): a re-run computes only
the plots it has not seen, and gets exactly what a full computation gives."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from benchmarks import national
from planner import nearby
from planner.instance import build_instance
from planner.pipeline import apply_overrides, load_layers, run_scenario
from planner.rerun import read_earlier
from planner.scenario import load_scenario


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp("nearby")
    scenario = national.generate(200, base / "instance", seed=4)
    return scenario, load_layers(load_scenario(scenario))


def _kept(inst, folder: Path) -> nearby.KeptNearby:
    nearby.write(folder, inst.nearby)
    kept = nearby.read(folder)
    assert kept is not None
    return kept


def _changed_plots(plots: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Plot 0 removed, plot 5 redrawn, plot 7 doubled (a new id on the same polygon), one new
    plot next to plot 3, and the rows in another order."""
    redrawn = plots.copy()
    redrawn.loc[5, "geometry"] = shapely.affinity.translate(plots.geometry[5], 400, -250)
    twin = plots.iloc[[7]].assign(plot_id="twin-of-7")
    new = plots.iloc[[3]].assign(plot_id="new")
    new["geometry"] = new.geometry.translate(150, 150)
    out = pd.concat([redrawn.iloc[1:], twin, new], ignore_index=True)
    return out.iloc[np.random.default_rng(0).permutation(len(out))].reset_index(drop=True)


def _warm_and_cold(world: tuple[Path, dict], tmp_path: Path, mark: float = 0.0) -> tuple:
    """Instances of the changed plots built with the first instance's kept rows (their
    distances raised by ``mark``) and without; and the changed layers."""
    scenario_path, layers = world
    scenario = load_scenario(scenario_path)
    kept = _kept(build_instance(layers, scenario), tmp_path)
    kept.distances = kept.distances + mark
    changed = {**layers, "plots": _changed_plots(layers["plots"])}
    return build_instance(changed, scenario, kept), build_instance(changed, scenario), changed


def test_kept_rows_plus_the_new_plots_are_the_full_computation(
    world: tuple[Path, dict], tmp_path: Path
) -> None:
    warm, cold, _ = _warm_and_cold(world, tmp_path)
    assert len(warm.pairs) > 500
    pd.testing.assert_frame_equal(warm.pairs, cold.pairs)
    pd.testing.assert_frame_equal(warm.nearby.pairs, cold.nearby.pairs)
    pd.testing.assert_frame_equal(warm.distances, cold.distances)
    pd.testing.assert_frame_equal(warm.plots, cold.plots)


def test_the_kept_rows_are_used_for_known_plots_only(
    world: tuple[Path, dict], tmp_path: Path
) -> None:
    """Marked kept distances show up for the plots seen before, not for the redrawn one."""
    warm, cold, changed = _warm_and_cold(world, tmp_path, mark=1000.0)
    layers = world[1]
    shifted = (warm.distances - cold.distances).round(6).eq(1000.0).all(axis=1)
    plot_id = changed["plots"]["plot_id"]
    assert not shifted[plot_id.isin(["new"]) | (plot_id == layers["plots"]["plot_id"][5])].any()
    assert shifted[plot_id == "twin-of-7"].all()
    assert shifted.sum() == len(plot_id) - 2


@pytest.mark.parametrize("change", ["reach", "services"])
def test_a_change_for_every_plot_computes_the_parts_it_touches_again(
    world: tuple[Path, dict], tmp_path: Path, change: str
) -> None:
    """Kept rows marked (+1 km) show where they were used: a longer huisarts radius leaves the
    distances and the other types' pairs; a moved service redoes its type and the distances."""
    scenario_path, layers = world
    scenario = load_scenario(scenario_path)
    kept = _kept(build_instance(layers, scenario), tmp_path)
    kept.distances = kept.distances + 1000.0
    kept.pairs["distance_m"] += 1000.0
    if change == "reach":
        scenario = apply_overrides(scenario, {"support.reach_m.huisarts": 1800})
        redone, distances_kept = "huisarts", True
    else:
        services = layers["services"].copy()
        redone = str(services.loc[0, "type"])
        services.loc[0, "geometry"] = shapely.affinity.translate(services.geometry[0], 10, 0)
        layers = {**layers, "services": services}
        distances_kept = False
    warm = build_instance(layers, scenario, kept).nearby
    cold = build_instance(layers, scenario).nearby
    shift = (warm.distances - cold.distances).round(6)
    assert (shift == (1000.0 if distances_kept else 0.0)).all().all()
    pd.testing.assert_frame_equal(
        warm.pairs.drop(columns="distance_m"), cold.pairs.drop(columns="distance_m")
    )
    moved = (warm.pairs["distance_m"] - cold.pairs["distance_m"]).round(6)
    assert (moved[warm.pairs["type"] == redone] == 0).all()
    assert (moved[warm.pairs["type"] != redone] == 1000.0).all()
    assert set(warm.pairs["type"]) - {redone}


def test_a_rerun_keeps_them_and_a_damaged_copy_is_computed_again(
    world: tuple[Path, dict], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scenario_path, _ = world
    first = tmp_path / "first"
    run_scenario(load_scenario(scenario_path), first)
    reuse = first / "reuse"
    assert {nearby.META, nearby.PAIRS, nearby.DISTANCES} <= {p.name for p in reuse.iterdir()}
    assert read_earlier(first).nearby is not None
    damaged = tmp_path / "damaged"
    shutil.copytree(first, damaged)
    (damaged / "reuse" / nearby.PAIRS).write_bytes(b"not parquet")
    with caplog.at_level(logging.WARNING, logger="planner.nearby"):
        assert read_earlier(damaged).nearby is None
    assert "unreadable" in caplog.text
    mismatched = tmp_path / "mismatched"
    shutil.copytree(first, mismatched)
    pairs = pd.read_parquet(mismatched / "reuse" / nearby.PAIRS)
    pairs.assign(at=pairs["at"] + 10**6).to_parquet(mismatched / "reuse" / nearby.PAIRS)
    with caplog.at_level(logging.WARNING, logger="planner.nearby"):
        assert read_earlier(mismatched).nearby is None
    assert "do not match" in caplog.text
    again = run_scenario(load_scenario(scenario_path), tmp_path / "again", hint_from=damaged)
    assert again.kpis["homes"] > 0


def test_a_first_run_with_two_plots_on_one_polygon_keeps_their_rows_once(
    world: tuple[Path, dict], tmp_path: Path
) -> None:
    """A digest's rows are kept once: the twin's rows are not added to the original's."""
    scenario_path, layers = world
    scenario = load_scenario(scenario_path)
    plots = layers["plots"]
    twins = {**layers, "plots": pd.concat([plots, plots.iloc[[7]].assign(plot_id="twin")])}
    twins["plots"] = twins["plots"].reset_index(drop=True)
    cold = build_instance(twins, scenario)
    warm = build_instance(twins, scenario, _kept(cold, tmp_path))
    pd.testing.assert_frame_equal(warm.nearby.pairs, cold.nearby.pairs)
    pd.testing.assert_frame_equal(warm.pairs, cold.pairs)


def test_the_pairs_are_reach_pairs_rows_in_its_order(world: tuple[Path, dict]) -> None:
    """The assembled pairs are ``reach_pairs``'s, with ``type`` the ``str`` column a DataFrame
    makes of Python strings; ``reach_pairs`` against every pair checked one by one, for every
    plot and for a few (the box filter before the tree), with catchments for some services."""
    from planner.reach import FEW_PLOTS, reach_pairs

    scenario_path, layers = world
    scenario = load_scenario(scenario_path)
    inst = build_instance(layers, scenario)
    reach_m = scenario.support.reach_m
    geoms = layers["plots"].geometry.to_numpy()
    points = shapely.point_on_surface(geoms)
    types = layers["services"]["type"].astype(str).to_numpy()
    services = layers["services"].geometry.to_numpy()
    expected = reach_pairs(geoms, points, types, services, {}, reach_m)
    assert expected["type"].dtype == object
    assert inst.nearby.pairs.dtypes.astype(str).to_dict() == {
        "plot": "int64",
        "service": "int64",
        "type": "str",
        "distance_m": "float64",
    }
    pd.testing.assert_frame_equal(inst.nearby.pairs, expected.astype({"type": "str"}))
    rng = np.random.default_rng(1)
    areas = {int(j): shapely.buffer(services[j], 1500.0) for j in rng.choice(len(services), 40)}
    for chosen in (np.arange(len(geoms)), rng.choice(len(geoms), FEW_PLOTS), np.array([3])):
        got = reach_pairs(geoms[chosen], points[chosen], types, services, areas, reach_m)
        rows = []
        for i in range(len(chosen)):
            for kind, radius in sorted(reach_m.items()):
                for j in np.flatnonzero(types == kind):
                    inside = (
                        shapely.covered_by(points[chosen[i]], areas[j])
                        if j in areas
                        else shapely.dwithin(geoms[chosen[i]], services[j], radius)
                    )
                    if inside:
                        distance = shapely.distance(geoms[chosen[i]], services[j])
                        rows.append((i, int(j), kind, float(distance)))
        rows.sort(key=lambda row: (row[0], row[2], row[3], row[1]))
        assert len(rows) > len(chosen)
        assert list(got.itertuples(index=False, name=None)) == rows


def test_a_shorter_reach_takes_the_kept_pairs_within_it(
    world: tuple[Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """huisarts 1,500 -> 1,000 m: the kept huisarts pairs within 1,000 m, none computed for a
    plot seen before (only the new plots are); exactly the full computation's rows."""
    scenario_path, layers = world
    scenario = load_scenario(scenario_path)
    assert scenario.support.reach_m["huisarts"] == 1500
    kept = _kept(build_instance(layers, scenario), tmp_path)
    shorter = apply_overrides(scenario, {"support.reach_m.huisarts": 1000})
    changed = {**layers, "plots": _changed_plots(layers["plots"])}
    computed: list[tuple[str, int]] = []
    real = nearby.type_pairs

    def counting(plot_geoms: np.ndarray, *args: object) -> object:
        computed.append((str(args[4]), len(plot_geoms)))
        return real(plot_geoms, *args)

    monkeypatch.setattr(nearby, "type_pairs", counting)
    warm = build_instance(changed, shorter, kept)
    assert dict(computed)["huisarts"] == 2  # the new plot and the redrawn one
    monkeypatch.setattr(nearby, "type_pairs", real)
    cold = build_instance(changed, shorter)
    pd.testing.assert_frame_equal(warm.nearby.pairs, cold.nearby.pairs)
    pd.testing.assert_frame_equal(warm.pairs, cold.pairs)
    huisarts = warm.nearby.pairs[warm.nearby.pairs["type"] == "huisarts"]
    assert 0 < len(huisarts) < (kept.pairs["type"] == "huisarts").sum()
    assert warm.nearby.radii["huisarts"] == 1000.0


@pytest.mark.parametrize("step", [0.0, 1e-9, -1e-9, 1e-6])
def test_a_shorter_reach_decides_at_its_edge_as_the_query_does(step: float) -> None:
    """Services at the new radius from a plot, and a hair beside it: in or out exactly as the
    tree's dwithin query of a full computation puts them; a catchment service at any distance."""
    plot = shapely.box(0.0, 0.0, 10.0, 10.0)
    radius = 250.0
    xs = 10.0 + radius + np.array([step, 0.1, -0.1, 2000.0])
    services = shapely.points(xs, np.full(len(xs), 5.0))
    kinds = np.array(["huisarts"] * len(xs), dtype=object)
    areas = {3: shapely.box(-5.0, -5.0, 20.0, 20.0)}  # the far service works by area
    args = (np.array([plot]), shapely.point_on_surface([plot]), kinds, services, {})
    first = nearby.compute(*args, areas, {"huisarts": 400.0})
    kept = nearby.KeptNearby(
        keys=first.keys,
        pairs=first.pairs.assign(at=0, type=pd.Categorical(first.pairs["type"])).drop(
            columns="plot"
        )[["at", "service", "type", "distance_m"]],
        distances=first.distances.set_axis(pd.Index(first.digests, dtype=object)),
        radii=first.radii,
    )
    warm = nearby.compute(*args, areas, {"huisarts": radius}, kept)
    cold = nearby.compute(*args, areas, {"huisarts": radius})
    pd.testing.assert_frame_equal(warm.pairs, cold.pairs)
    assert 3 in set(warm.pairs["service"]) and 1 not in set(warm.pairs["service"])


def test_a_context_key_sees_any_change_of_a_geometry() -> None:
    """Keys digest coordinates, parts, kinds, dimensions and emptiness: a service moved by a
    micrometre, a polygon made a one-part multipolygon, an empty point or none at all, and
    points mixed with a polygon (WKB) each give another key; a copy gives the same."""
    points = shapely.points(np.arange(10.0), np.arange(10.0) * 2)
    square = shapely.box(0, 0, 100, 100)

    def key(services: np.ndarray, areas: dict[int, object] | None = None) -> dict[str, str]:
        kinds = np.array(["a"] * len(services), dtype=object)
        return nearby.context_keys(kinds, services, {"a": services}, areas or {}, {"a": 500.0})

    base = key(points)
    assert key(shapely.points(shapely.get_coordinates(points))) == base
    moved = points.copy()
    moved[3] = shapely.Point(3.000001, 6.0)
    empty = points.copy()
    empty[3] = shapely.Point()
    missing = points.copy()
    missing[3] = None
    three = shapely.points(np.c_[shapely.get_coordinates(points), np.zeros(10)])
    mixed = points.copy()
    mixed[3] = square
    variants = [key(v) for v in (moved, empty, missing, three, mixed)]
    variants += [key(points, {0: square}), key(points, {0: shapely.MultiPolygon([square])})]
    assert len({k["pairs:a"] for k in [base, *variants]}) == len(variants) + 1
    assert len({k["distances"] for k in [base, *variants[:5]]}) == 6


def test_kept_pairs_out_of_their_order_or_incomplete_are_computed_again(
    world: tuple[Path, dict], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A digest's rows of a type must be one block (``read`` checks the order), and no value
    may be missing; either way the kept pairs are dropped, logged."""
    scenario_path, layers = world
    _kept(build_instance(layers, load_scenario(scenario_path)), tmp_path)
    pairs = pd.read_parquet(tmp_path / nearby.PAIRS)
    shuffled = pairs.iloc[np.random.default_rng(0).permutation(len(pairs))]
    shuffled.to_parquet(tmp_path / nearby.PAIRS)
    with caplog.at_level(logging.WARNING, logger="planner.nearby"):
        assert nearby.read(tmp_path) is None
    assert "do not match" in caplog.text
    pairs.astype({"service": "float64"}).assign(service=np.nan).to_parquet(tmp_path / nearby.PAIRS)
    with caplog.at_level(logging.WARNING, logger="planner.nearby"):
        assert nearby.read(tmp_path) is None
    assert "unreadable" in caplog.text


def test_no_pairs_at_all_keep_the_columns_a_dataframe_makes(
    world: tuple[Path, dict], tmp_path: Path
) -> None:
    """Services out of every plot's reach: no pairs, with ``type`` the object column a
    DataFrame makes of no strings (as before), cold and kept alike."""
    scenario_path, layers = world
    scenario = load_scenario(scenario_path)
    services = layers["services"].copy()
    services["geometry"] = services.geometry.translate(10_000_000.0, 0.0)
    layers = {**layers, "services": services}
    cold = build_instance(layers, scenario)
    assert len(cold.nearby.pairs) == 0
    assert cold.nearby.pairs.dtypes.astype(str).tolist() == ["int64", "int64", "object", "float64"]
    warm = build_instance(layers, scenario, _kept(cold, tmp_path))
    pd.testing.assert_frame_equal(warm.nearby.pairs, cold.nearby.pairs)
    pd.testing.assert_frame_equal(warm.pairs, cold.pairs)
