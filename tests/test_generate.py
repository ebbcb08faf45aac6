"""The synthetic demo generator: deterministic, on contract, and the committed files match it."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest

from geodata import generate
from planner.scenario import LAYER_KINDS, load_scenario

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "geodata" / "demo"
SCENARIOS = ("default", "stricter_reach", "lower_buurt_share", "min_cost")
SMALL_TOWNS = 3

CONTRACT: dict[str, tuple[list[str], set[str]]] = {
    "plots": (
        [
            "plot_id",
            "name",
            "capacity",
            "min_homes",
            "fixed_homes",
            "fixed_cost",
            "cost_per_home",
            "available_from",
            "available_until",
            "proposer",
            "group",
        ],
        {"Polygon"},
    ),
    "services": (["service_id", "type", "capacity", "name"], {"Point"}),
    "service_areas": (["service_id"], {"MultiPolygon"}),
    "neighbourhoods": (
        ["buurt_id", "dwellings", "population", "gemeente_id", "name"],
        {"Polygon"},
    ),
    "regions": (["region_id", "name", "min_homes", "max_homes", "population"], {"MultiPolygon"}),
    "amenities": (["amenity_id", "type", "name"], {"Point"}),
    "exclusions": (["reason"], {"Polygon"}),
}


def _read_all(folder: Path) -> dict[str, gpd.GeoDataFrame]:
    return {kind: gpd.read_file(folder / f"{kind}.gpkg", layer=kind) for kind in CONTRACT}


def _assert_same(
    left: dict[str, gpd.GeoDataFrame], right: dict[str, gpd.GeoDataFrame], tol_m: float
) -> None:
    """Same attribute tables exactly; same geometries within ``tol_m`` metres."""
    for kind in CONTRACT:
        a, b = left[kind], right[kind]
        pd.testing.assert_frame_equal(
            pd.DataFrame(a.drop(columns="geometry")), pd.DataFrame(b.drop(columns="geometry"))
        )
        same = a.geometry.geom_equals_exact(b.geometry, tolerance=tol_m)
        assert same.all(), f"{kind}: {int((~same).sum())} geometries differ"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small instance (the three largest towns) written once for the contract tests."""
    folder = tmp_path_factory.mktemp("small")
    generate.generate(folder, n_towns=SMALL_TOWNS)
    return folder


def test_same_seed_same_data_other_seed_other_data(small: Path, tmp_path: Path) -> None:
    generate.generate(tmp_path / "again", n_towns=SMALL_TOWNS)
    first, again = _read_all(small), _read_all(tmp_path / "again")
    assert len(first["plots"]) > 50
    _assert_same(first, again, tol_m=0.0)

    other = generate.build_layers(seed=generate.DEFAULT_SEED + 1, n_towns=SMALL_TOWNS)
    n = min(len(other["plots"]), len(first["plots"]))
    mine = first["plots"].geometry.iloc[:n].reset_index(drop=True)
    theirs = other["plots"].geometry.iloc[:n].reset_index(drop=True)
    assert not theirs.geom_equals_exact(mine, tolerance=1.0).all()


@pytest.mark.parametrize("kind", sorted(CONTRACT))
def test_layer_on_contract(small: Path, kind: str) -> None:
    path = small / f"{kind}.gpkg"
    assert [name for name, _ in pyogrio.list_layers(path)] == [kind]
    info = pyogrio.read_info(path, layer=kind)
    assert info["layer_metadata"]["DESCRIPTION"].startswith("SYNTHETIC")
    frame = gpd.read_file(path, layer=kind)
    columns, geom_types = CONTRACT[kind]
    assert list(frame.columns) == [*columns, "geometry"]
    assert frame.crs.to_epsg() == 28992
    assert set(frame.geom_type) == geom_types
    assert frame.is_valid.all()
    id_column = columns[0]
    if id_column.endswith("_id") and kind != "service_areas":
        assert frame[id_column].is_unique


def test_plausible_values(small: Path) -> None:
    layers = _read_all(small)
    plots, buurten = layers["plots"], layers["neighbourhoods"]
    assert plots["plot_id"].str.fullmatch(r"GM\d{4}-P\d{4}").all()
    area_ha = plots.area / 10_000
    assert area_ha.between(0.4, 17).all()
    given = plots["capacity"].dropna()
    assert given.between(15, 500).all()
    assert 0.3 < plots["capacity"].isna().mean() < 0.7
    # realistic project sizes (DOMAIN.md): typically 50-250 homes, a minority of 15-30 infill
    capacity = (
        plots["capacity"]
        .astype(float)
        .fillna((area_ha * generate.HOMES_PER_HA).apply(int).astype(float))
    )
    assert (capacity >= 15).all()
    assert 50 <= capacity.median() <= 150
    assert 0.03 < capacity.between(15, 30).mean() < 0.3
    assert capacity.between(30, 250).mean() > 0.7
    assert set(plots["min_homes"].dropna()) <= {30, 50}
    assert 0.05 < plots["min_homes"].notna().mean() < 0.4
    fixed = plots.dropna(subset=["fixed_homes"])
    assert 2 <= len(fixed) <= 4
    assert (fixed["capacity"] >= fixed["fixed_homes"]).all()
    assert plots["cost_per_home"].between(60_000, 110_000).all()
    assert plots["group"].value_counts().between(2, 3).all()
    assert all(re.search(r"\((synthetic|fictional)\)$", n) for n in plots["name"])
    assert (buurten["buurt_id"].str[2:6] == buurten["gemeente_id"].str[2:]).all()
    assert buurten["buurt_id"].str.fullmatch(r"BU\d{8}").all()
    assert buurten["dwellings"].between(200, 7_000).all()
    assert (buurten["dwellings"] >= 3_000).any()  # some buurten can hold a 150-home project
    assert set(layers["services"]["type"]) == set(generate.SERVICE_TYPES)
    assert set(layers["amenities"]["type"]) == set(generate.AMENITY_TYPES)
    wijkteams = layers["services"].query("type == 'wijkteam'")["service_id"]
    assert set(layers["service_areas"]["service_id"]) == set(wijkteams)
    regions = layers["regions"]
    assert (regions["min_homes"] < regions["max_homes"]).all()


def test_small_instance_has_room(small: Path) -> None:
    summary = generate.summarise(_read_all(small))
    assert summary["plots_outside_buurten"] == 0
    assert summary["regions_short_of_min"] == 0
    assert summary["buurt_capped_capacity"] < summary["total_capacity"]
    assert summary["plots_hit_by_exclusions"] > 0


@pytest.mark.parametrize("name", SCENARIOS)
def test_committed_scenario_validates(name: str) -> None:
    scenario = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    assert scenario.description
    for kind in LAYER_KINDS:
        path = scenario.layer_path(kind)
        if kind != "travel_costs":
            assert path is not None and path.is_file(), f"{name}: {kind} -> {path}"


def test_scenario_variants_differ_from_default() -> None:
    base = load_scenario(ROOT / "scenarios" / "default.yaml")
    strict = load_scenario(ROOT / "scenarios" / "stricter_reach.yaml")
    share = load_scenario(ROOT / "scenarios" / "lower_buurt_share.yaml")
    cost = load_scenario(ROOT / "scenarios" / "min_cost.yaml")
    assert base.target_homes == 10_000 and base.objective == "max_suitability"
    assert all(
        strict.support.reach_m[k] < v for k, v in base.support.reach_m.items() if k != "wijkteam"
    )
    assert share.neighbourhood.max_share_of_dwellings < base.neighbourhood.max_share_of_dwellings
    assert cost.objective == "min_cost"


def test_committed_demo_equals_fresh_generation(tmp_path: Path) -> None:
    """Nobody edits the demo by hand: regenerate with `python -m geodata.generate` instead."""
    generate.generate(tmp_path)
    _assert_same(_read_all(DEMO), _read_all(tmp_path), tol_m=0.01)
