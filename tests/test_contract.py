"""Data contract: types after validation, repairs, and one clear message per broken row."""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely import MultiPoint, Point, Polygon, box

from geodata.contract import LAYER_KINDS, LAYER_SPECS, load_layer, validate_layer
from geodata.readers import MAX_LISTED_PROBLEMS
from planner.errors import LayerError
from planner.scenario import LAYER_KINDS as SCENARIO_LAYER_KINDS

DOCS = Path(__file__).resolve().parents[1] / "docs" / "data-contract.md"
X, Y = 155_000.0, 463_000.0  # Amersfoort in RD


def square(i: int, size: float = 100.0) -> Polygon:
    return box(X + 1000 * i, Y, X + 1000 * i + size, Y + size)


def bow_tie() -> Polygon:
    return Polygon([(X, Y), (X + 100, Y + 100), (X + 100, Y), (X, Y + 100)])


def frame(geometry: list, crs: str | int = 28992, **columns: list) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(columns, geometry=geometry, crs=crs)


def plots(n: int = 3, **columns: list) -> gpd.GeoDataFrame:
    ids = columns.pop("plot_id", [f"P{i + 1}" for i in range(n)])
    return frame([square(i) for i in range(n)], plot_id=ids, **columns)


def error_of(kind: str, data: pd.DataFrame, source: str = "plots.gpkg") -> str:
    with pytest.raises(LayerError) as err:
        validate_layer(kind, data, source=source)
    return str(err.value)


# --- shape of valid output ---------------------------------------------------------------


def test_layer_kinds_match_the_scenario():
    assert LAYER_KINDS == SCENARIO_LAYER_KINDS
    assert set(LAYER_SPECS) == set(LAYER_KINDS)


def test_plots_get_every_optional_column_with_fixed_types():
    raw = plots(2, capacity=["40", None], proposer=["Corp A", None], extra=[1, 2])
    raw.index = [10, 20]
    out = validate_layer("plots", raw, source="plots.gpkg")
    spec = LAYER_SPECS["plots"]
    assert list(out.columns) == [c.name for c in spec.columns] + ["extra", "geometry"]
    assert list(out.index) == [0, 1]
    assert out.crs.to_epsg() == 28992
    for column in spec.columns:
        if column.kind in ("number", "year"):
            assert out[column.name].dtype == "float64", column.name
        else:
            assert out[column.name].dtype == object, column.name
    assert out["capacity"].tolist()[0] == 40.0
    assert math.isnan(out["capacity"].tolist()[1])
    assert out["proposer"].tolist() == ["Corp A", None]
    assert out["name"].tolist() == [None, None]
    assert type(out["plot_id"].iloc[0]) is str


def test_pandas_string_dtype_becomes_plain_str_or_none():
    raw = plots(2, name=pd.array(["Weiland", None], dtype="string"))
    out = validate_layer("plots", raw, source="p")
    assert out["name"].tolist() == ["Weiland", None]
    assert type(out["name"].iloc[0]) is str


def test_numeric_ids_become_text_without_decimals():
    out = validate_layer("plots", plots(2, plot_id=[12.0, 7.0]), source="p")
    assert out["plot_id"].tolist() == ["12", "7"]


def test_columns_match_case_insensitively():
    raw = frame([square(0)], Plot_ID=["P1"], CAPACITY=[5])
    out = validate_layer("plots", raw, source="p")
    assert out[["plot_id", "capacity"]].iloc[0].tolist() == ["P1", 5.0]


def test_years_accept_dates():
    raw = plots(1, available_from=["2026-05-01"], available_until=[pd.Timestamp("2031-01-01")])
    out = validate_layer("plots", raw, source="p")
    assert out[["available_from", "available_until"]].iloc[0].tolist() == [2026.0, 2031.0]


def test_services_types_normalised_and_capacity_nan_is_unlimited():
    raw = frame([Point(X, Y), Point(X + 10, Y)], service_id=["S1", "S2"], type=[" Huisarts", "GGZ"])
    out = validate_layer("services", raw, source="s")
    assert out["type"].tolist() == ["huisarts", "ggz"]
    assert out["capacity"].isna().all()


def test_service_polygon_becomes_a_point_inside_it(caplog: pytest.LogCaptureFixture):
    raw = frame([square(0)], service_id=["S1"], type=["wijkteam"])
    with caplog.at_level(logging.WARNING, logger="geodata.contract"):
        out = validate_layer("services", raw, source="s.gpkg")
    assert out.geom_type.tolist() == ["Point"]
    assert out.geometry.iloc[0].within(square(0))
    assert "s.gpkg: row 1 (service_id 'S1')" in caplog.text


def test_service_areas_dissolve_per_service():
    raw = frame(
        [square(0), square(1), square(2)], service_id=["S1", "S2", "S1"], team=["a", "b", "c"]
    )
    out = validate_layer("service_areas", raw, source="a")
    assert out["service_id"].tolist() == ["S1", "S2"]
    assert set(out.geom_type) == {"MultiPolygon"}
    assert out.geometry.iloc[0].area == pytest.approx(2 * 100 * 100)
    assert out["team"].tolist() == ["a", "b"]


def test_exclusions_get_a_default_reason():
    raw = frame([square(0), square(1)], reason=["natura 2000", None])
    out = validate_layer("exclusions", raw, source="e")
    assert out["reason"].tolist() == ["natura 2000", "excluded area"]


def test_regions_table_without_geometry_becomes_a_geodataframe():
    table = pd.DataFrame({"region_id": ["GM0344", "GM0363"], "name": [None, "Amsterdam"]})
    out = validate_layer("regions", table, source="r.csv")
    assert isinstance(out, gpd.GeoDataFrame)
    assert out.crs.to_epsg() == 28992
    assert out.geometry.isna().all()
    assert out["name"].tolist() == ["GM0344", "Amsterdam"]
    assert out["max_homes"].dtype == "float64"


def test_amenities_get_default_ids():
    raw = frame(
        [Point(X, Y), Point(X + 1, Y)], type=["Supermarket", "park"], amenity_id=[None, "x"]
    )
    out = validate_layer("amenities", raw, source="a")
    assert out["amenity_id"].tolist() == ["A1", "x"]
    assert out["type"].tolist() == ["supermarket", "park"]


def test_travel_costs_from_a_geodataframe_drop_geometry():
    raw = frame([None], region_id=["R1"], plot_id=["P1"], cost_per_home=[3])
    out = validate_layer("travel_costs", raw, source="t")
    assert not isinstance(out, gpd.GeoDataFrame)
    assert list(out.columns) == ["region_id", "plot_id", "cost_per_home"]


@pytest.mark.parametrize("epsg", [4326, 3857])
def test_any_crs_is_reprojected(epsg: int):
    raw = plots(1).to_crs(epsg=epsg)
    out = validate_layer("plots", raw, source="p")
    assert out.crs.to_epsg() == 28992
    assert out.geometry.iloc[0].equals_exact(square(0), 0.01)


def test_z_coordinates_are_dropped():
    raw = frame([Point(X, Y, 3.0)], service_id=["S1"], type=["ggz"])
    out = validate_layer("services", raw, source="s")
    assert not out.geometry.iloc[0].has_z


def test_bow_tie_is_repaired_with_a_warning(caplog: pytest.LogCaptureFixture):
    raw = frame([square(0), bow_tie()], plot_id=["P1", "P2"])
    assert not raw.geometry.iloc[1].is_valid
    with caplog.at_level(logging.WARNING, logger="geodata.contract"):
        out = validate_layer("plots", raw, source="plots.gpkg")
    fixed = out.geometry.iloc[1]
    assert fixed.is_valid
    assert fixed.geom_type in ("Polygon", "MultiPolygon")
    assert fixed.area == pytest.approx(5000)
    assert "plots.gpkg: row 2 (plot_id 'P2') (Self-intersection" in caplog.text


def test_outside_the_netherlands_is_logged(caplog: pytest.LogCaptureFixture):
    raw = frame([Point(52.1, 5.3)], crs=4326, service_id=["S1"], type=["ggz"])  # lat/lon swapped
    with caplog.at_level(logging.WARNING, logger="geodata.contract"):
        validate_layer("services", raw, source="s")
    assert "outside the Netherlands" in caplog.text


def test_load_layer_names_file_and_layer(tmp_path: Path):
    path = tmp_path / "all.gpkg"
    plots(2, plot_id=["P1", "P1"]).to_file(path, layer="percelen", engine="pyogrio")
    with pytest.raises(LayerError, match=re.escape(f"{path}:percelen: plot_id 'P1' appears")):
        load_layer("plots", path, layer="percelen")


# --- errors ---------------------------------------------------------------------------------------


def test_negative_capacity_message_is_exact():
    raw = plots(4, capacity=[1, 2, 3, -5])
    assert error_of("plots", raw) == (
        "plots.gpkg: row 4 (plot_id 'P4'): capacity -5 is negative; use 0 or leave empty"
    )


def test_all_bad_rows_are_listed_in_row_order():
    raw = plots(
        4,
        plot_id=["P1", "P2", "P3", ""],
        capacity=["abc", 3, "12,5", 1],
        min_homes=[1, 0, 1, 1],
        available_from=[2030, None, None, None],
        available_until=[2025, None, None, None],
    )
    lines = error_of("plots", raw).splitlines()
    assert lines == [
        "plots.gpkg: row 1 (plot_id 'P1'): capacity 'abc' is not a number; "
        "write digits such as 12 or 12.5",
        "plots.gpkg: row 1 (plot_id 'P1'): available_from 2030 is after available_until 2025; "
        "swap them or fix one",
        "plots.gpkg: row 2 (plot_id 'P2'): min_homes 0 is below 1; use 1 or more, or leave empty",
        "plots.gpkg: row 3 (plot_id 'P3'): capacity '12,5' is not a number; "
        "use a decimal point, not a comma",
        "plots.gpkg: row 4: plot_id is empty; give every row a plot_id",
    ]


def test_duplicate_ids_list_the_rows():
    message = error_of("plots", plots(4, plot_id=["P1", "P2", "P1", "P1"]))
    assert message == (
        "plots.gpkg: plot_id 'P1' appears more than once (rows 1, 3, 4); "
        "give every row its own plot_id"
    )


def test_missing_required_column_names_what_was_found():
    raw = frame([square(0)], id=["P1"])
    message = error_of("plots", raw)
    assert message == (
        "plots.gpkg: missing required column 'plot_id' for plots (columns found: id); "
        "add it or rename the column that holds it"
    )


def test_points_where_polygons_are_needed():
    raw = frame([square(0), Point(X, Y)], plot_id=["P1", "P2"])
    message = error_of("plots", raw)
    assert message.startswith(
        "plots.gpkg: row 2 (plot_id 'P2'): geometry is a Point: points where polygons are needed"
    )


def test_empty_and_missing_geometry_name_the_rows():
    raw = frame([Polygon(), None], plot_id=["P1", "P2"])
    lines = error_of("plots", raw).splitlines()
    assert [line.split(": geometry")[0] for line in lines] == [
        "plots.gpkg: row 1 (plot_id 'P1')",
        "plots.gpkg: row 2 (plot_id 'P2')",
    ]
    assert all("missing or empty" in line for line in lines)


def test_multipoint_service_is_an_error():
    raw = frame([MultiPoint([(X, Y), (X + 1, Y)])], service_id=["S1"], type=["ggz"])
    message = error_of("services", raw, source="s.gpkg")
    assert message.startswith("s.gpkg: row 1 (service_id 'S1'): geometry is a MultiPoint")


def test_service_without_type():
    raw = frame([Point(X, Y)], service_id=["S1"], type=["  "])
    assert error_of("services", raw, source="s") == (
        "s: row 1 (service_id 'S1'): type is empty; give a type such as 'huisarts'"
    )


def test_unrepairable_geometry_is_an_error():
    flat = Polygon([(X, Y), (X + 10, Y), (X + 20, Y), (X, Y)])  # zero area: repair leaves nothing
    message = error_of("plots", frame([flat], plot_id=["P1"]))
    assert message.startswith("plots.gpkg: row 1 (plot_id 'P1'): geometry is invalid (")
    assert "redraw the outline" in message


def test_neighbourhood_dwellings_required_per_row():
    geometry = [square(0), square(1), square(2)]
    raw = frame(geometry, buurt_id=["BU1", "BU2", "BU3"], dwellings=[100, None, -99997])
    lines = error_of("neighbourhoods", raw, source="buurten.gpkg").splitlines()
    assert lines == [
        "buurten.gpkg: row 2 (buurt_id 'BU2'): dwellings is empty; "
        "fill in the number of existing dwellings",
        "buurten.gpkg: row 3 (buurt_id 'BU3'): dwellings -99997 is a CBS code for 'unknown'; "
        "fill in a number or remove the row",
    ]


def test_region_bounds_in_order():
    table = pd.DataFrame({"region_id": ["R1"], "min_homes": [50], "max_homes": [20]})
    assert error_of("regions", table, source="r.csv") == (
        "r.csv: row 1 (region_id 'R1'): min_homes 50 is above max_homes 20; swap them or fix one"
    )


def test_region_geometry_missing_on_some_rows():
    raw = frame([square(0), None], region_id=["R1", "R2"])
    assert "row 2 (region_id 'R2'): geometry is missing" in error_of("regions", raw, source="r")


def test_travel_costs_duplicate_pairs_and_negative_costs():
    table = pd.DataFrame(
        {
            "region_id": ["R1", "R1", "R2"],
            "plot_id": ["P1", "P1", "P1"],
            "cost_per_home": [1, 2, -3],
        }
    )
    lines = error_of("travel_costs", table, source="t.csv").splitlines()
    assert lines == [
        "t.csv: region_id 'R1' with plot_id 'P1' appears more than once (rows 1, 2); "
        "keep one cost per pair",
        "t.csv: row 3: cost_per_home -3 is negative; use 0 or more",
    ]


def test_geometry_layer_without_geometry():
    table = pd.DataFrame({"service_id": ["S1"], "type": ["ggz"]})
    message = error_of("services", table, source="s.csv")
    assert message.startswith("s.csv: no geometry; services need Point geometry")


def test_frame_without_crs():
    raw = plots(1).set_crs(None, allow_override=True)
    assert "the geometry has no CRS; add `crs: EPSG:28992`" in error_of("plots", raw)


def test_more_than_ten_problems_are_capped():
    raw = plots(14, capacity=[-1] * 14)
    lines = error_of("plots", raw).splitlines()
    assert len(lines) == 11
    assert lines[-1] == "... and 4 more problems"


def test_unknown_kind():
    with pytest.raises(LayerError, match="unknown layer kind 'plot'; expected one of plots"):
        validate_layer("plot", plots(1), source="p")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=8), st.floats()), min_size=1, max_size=5))
def test_any_capacity_text_is_accepted_or_reported_by_row(values: list):
    raw = plots(len(values), capacity=values)
    try:
        out = validate_layer("plots", raw, source="p")
    except LayerError as err:
        assert all(
            re.match(r"p: row \d+ \(plot_id 'P\d+'\): capacity ", line)
            for line in str(err).splitlines()
        )
    else:
        assert out["capacity"].dtype == "float64"
        assert ((out["capacity"] >= 0) | out["capacity"].isna()).all()


# --- docs cannot drift -------------------------------------------------------------------


def test_docs_describe_every_layer_and_column():
    text = DOCS.read_text(encoding="utf-8")
    sections = re.split(r"^## ", text, flags=re.MULTILINE)
    for kind, spec in LAYER_SPECS.items():
        section = next((s for s in sections if s.startswith(f"`{kind}`")), None)
        assert section is not None, f"docs/data-contract.md has no section '## `{kind}`'"
        for column in spec.columns:
            assert f"`{column.name}`" in section, f"{kind}.{column.name} missing from the docs"
    assert f"first {MAX_LISTED_PROBLEMS}" in text


_NUMBER_CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.integers(min_value=-(2**40), max_value=2**40).map(float),
    st.sampled_from([0.0, -1.0, -99997.0, 0.5, math.nan]),
)


@settings(max_examples=150, deadline=None)
@given(
    cells=st.lists(_NUMBER_CELLS, min_size=0, max_size=8),
    column=st.sampled_from(
        [c for spec in LAYER_SPECS.values() for c in spec.columns if c.kind in ("number", "year")]
    ),
    dtype=st.sampled_from(["float64", "Float64", "int64", "Int64", "object"]),
)
def test_a_numeric_column_checked_at_once_reads_as_cell_by_cell(
    cells: list[float], column: object, dtype: str
) -> None:
    """The values of a numeric column without problems are taken at once; they, and where a
    cell is a problem its words, are those the cell-by-cell reading gives."""
    import numpy as np

    from geodata import contract

    if dtype in ("int64", "Int64"):
        ints = [int(c) if math.isfinite(c) and abs(c) < 2**53 else None for c in cells]
        if dtype == "int64":  # numpy integers have no blank
            ints = [i for i in ints if i is not None]
        raw = pd.Series(ints, dtype=dtype)
    else:
        raw = pd.Series(cells, dtype=dtype)
    frame = pd.DataFrame({column.name: raw})
    spec = next(s for s in LAYER_SPECS.values() if column in s.columns)

    def read(fast: bool) -> tuple[list[float], list[str]]:
        problems = contract._Problems("f.gpkg", spec)
        if not fast:
            original = contract._clean_numbers
            contract._clean_numbers = lambda raw, column: None
        try:
            values = contract._numbers(frame, column, problems).tolist()
        finally:
            if not fast:
                contract._clean_numbers = original
        return values, [text for _, text in problems.items]

    fast, slow = read(True), read(False)
    assert np.array_equal(np.array(fast[0]), np.array(slow[0]), equal_nan=True)
    assert fast[1] == slow[1]
    assert (contract._clean_numbers(raw, column) is None) == bool(slow[1]) or dtype == "object"


def test_a_boolean_column_is_not_taken_as_numbers() -> None:
    from geodata import contract

    column = next(c for c in LAYER_SPECS["plots"].columns if c.name == "capacity")
    assert contract._clean_numbers(pd.Series([True, False]), column) is None
