"""Eligibility and buurt/region membership (planner.instance) by column: the same reasons,
conflicts and ids as the row-by-row and point-by-point readings they replace."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely import STRtree

from planner.errors import LayerError
from planner.instance import _eligibility, _membership, _needed
from tests.factories import make_scenario


def _row_by_row(table: pd.DataFrame, exclusion: list[str], year: int | None, module: int) -> None:
    """The earlier reading, plot by plot (itertuples), kept as the reference."""
    reasons: list[str] = []
    conflicts: list[str] = []
    for row, ex_reason in zip(table.itertuples(index=False), exclusion, strict=True):
        reason = ex_reason
        if not reason and year is not None:
            if not np.isnan(row.available_from) and year < row.available_from:
                reason = f"not available until {int(row.available_from)} (plan year {year})"
            elif not np.isnan(row.available_until) and year > row.available_until:
                reason = f"available only until {int(row.available_until)} (plan year {year})"
        fixed = row.fixed_homes
        if not np.isnan(fixed):
            if reason:
                conflicts.append(f"plot_id '{row.plot_id}' has fixed_homes but {reason}")
            elif fixed > row.capacity:
                conflicts.append(
                    f"plot_id '{row.plot_id}': fixed_homes {int(fixed)} exceeds its capacity "
                    f"{row.capacity}; raise capacity or lower fixed_homes"
                )
            elif fixed % module:
                conflicts.append(
                    f"plot_id '{row.plot_id}': fixed_homes {int(fixed)} is not a multiple of "
                    f"defaults.module_homes {module}"
                )
        elif not reason and row.capacity < row.min_homes:
            reason = f"capacity {row.capacity} is below the minimum project size {row.min_homes}"
        reasons.append(reason)
    if conflicts:
        raise LayerError("plots.gpkg: " + "; ".join(conflicts))
    table["reason"] = [r or None for r in reasons]
    table["eligible"] = [not r for r in reasons]


years = st.one_of(st.just(np.nan), st.sampled_from([2024.0, 2025.0, 2026.0, 2030.0]))
plot_rows = st.lists(
    st.tuples(
        st.integers(0, 60),  # capacity
        st.sampled_from([5, 15, 30]),  # min_homes
        st.one_of(st.just(np.nan), st.sampled_from([0.0, 5.0, 7.0, 15.0, 20.0, 45.0, 70.0])),
        years,
        years,
        st.sampled_from(["", "", "", "lies in an exclusion zone (water)"]),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(
    rows=plot_rows,
    year=st.one_of(st.none(), st.sampled_from([2024, 2025, 2027])),
    module=st.sampled_from([1, 5]),
)
def test_eligibility_by_column_is_the_row_by_row_reading(
    rows: list[tuple], year: int | None, module: int
) -> None:
    table = pd.DataFrame(
        {
            "plot_id": pd.Series([f"P{i}" for i in range(len(rows))], dtype=str),
            "capacity": np.array([r[0] for r in rows], dtype=np.int64),
            "min_homes": np.array([r[1] for r in rows], dtype=np.int64),
            "fixed_homes": np.array([r[2] for r in rows], dtype=float),
            "available_from": np.array([r[3] for r in rows], dtype=float),
            "available_until": np.array([r[4] for r in rows], dtype=float),
        }
    )
    exclusion = [r[5] for r in rows]
    scenario = make_scenario(plan_year=year, defaults={"min_homes": 1, "module_homes": module})
    expected, got = table.copy(), table.copy()
    try:
        _row_by_row(expected, exclusion, year, module)
    except LayerError as error:
        with pytest.raises(LayerError) as raised:
            _eligibility(got, exclusion, scenario, "plots.gpkg")
        assert str(raised.value) == str(error)
        return
    _eligibility(got, exclusion, scenario, "plots.gpkg")
    pd.testing.assert_frame_equal(got, expected)


def _point_by_point(points: np.ndarray, areas: pd.DataFrame, id_column: str) -> np.ndarray:
    """The earlier reading: each point asks a tree of the areas, the lowest row wins."""
    result = np.full(len(points), None, dtype=object)
    valid = ~(areas.geometry.isna() | areas.geometry.is_empty).to_numpy()
    geoms = areas.geometry.to_numpy()[valid]
    ids = areas[id_column].astype(str).to_numpy()[valid]
    point_i, area_j = STRtree(geoms).query(points, predicate="covered_by")
    order = np.lexsort((area_j, point_i))
    for i, j in zip(point_i[order][::-1], area_j[order][::-1], strict=True):
        result[i] = ids[j]
    return result


def test_membership_is_the_point_by_point_reading_on_edges_and_overlaps() -> None:
    """Overlapping squares (the lowest row wins), an empty and a missing area, and points
    inside, outside, on vertices, on edges and a hair beside them."""
    import geopandas as gpd

    rng = np.random.default_rng(5)
    corners = rng.uniform(0, 1000, size=(60, 2))
    sizes = rng.uniform(20, 300, size=60)
    squares = [shapely.box(x, y, x + s, y + s) for (x, y), s in zip(corners, sizes, strict=True)]
    squares[10] = shapely.Polygon()
    squares[20] = None
    squares[30] = shapely.Polygon([(0, 0), (400, 30), (350, 420), (20, 380)])
    areas = gpd.GeoDataFrame(
        {"buurt_id": [f"B{i}" for i in range(60)], "geometry": squares}, crs="EPSG:28992"
    )
    edges = shapely.get_coordinates(areas.geometry.dropna().to_numpy())
    pts = np.vstack(
        [
            rng.uniform(-50, 1350, size=(400, 2)),
            edges,
            (edges[:-1] + edges[1:]) / 2,
            edges[:-1] + (edges[1:] - edges[:-1]) / 3,
            edges + rng.normal(0, 1e-9, edges.shape),
        ]
    )
    points = shapely.points(pts)
    expected = _point_by_point(points, areas, "buurt_id")
    got = _membership(points, areas, "buurt_id")
    assert got.tolist() == expected.tolist()
    assert sum(v is not None for v in got) > 400
    assert _membership(points, areas, "buurt_id", STRtree(points)).tolist() == got.tolist()


@pytest.mark.parametrize(
    "values", [["a", "b", "c"], ["a", None, "c"], [1, 2.5, "x"], [], [None, None]]
)
def test_id_columns_make_the_table_the_strings_would(values: list) -> None:
    """``_ids`` gives the column a DataFrame makes of ``astype(str)``'s strings, and those."""
    from planner.instance import _ids

    column = pd.Series(values, dtype=object)
    strings = column.astype(str).to_numpy()
    for_table, objects = _ids(column)
    assert objects.dtype == object and objects.tolist() == strings.tolist()
    got, expected = pd.DataFrame({"id": for_table}), pd.DataFrame({"id": strings})
    pd.testing.assert_frame_equal(got, expected)
    assert got["id"].map(type).tolist() == expected["id"].map(type).tolist()


def _needed_by_groupby(pairs: pd.DataFrame, unlimited: np.ndarray) -> np.ndarray:
    """The pairs the model needs, as pandas' groupby says it (the oracle of ``_needed``)."""
    flag = pd.Series(unlimited, index=pairs.index)
    groups = [pairs["plot"], pairs["type"]]
    covered = flag.groupby(groups).transform("any")
    first = flag & (flag.astype(int).groupby(groups).cumsum() == 1)
    return (~covered | first).to_numpy()


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 6), st.sampled_from(["ggz", "huisarts", "wijkteam"]), st.booleans()
        ),
        max_size=40,
    ),
    grouped=st.booleans(),
)
def test_the_needed_pairs_are_groupbys(rows: list[tuple[int, str, bool]], grouped: bool) -> None:
    """Per plot and type: every pair without an unlimited service, else the first unlimited
    one in row order; whether the rows come grouped (as reach pairs do) or not."""
    if grouped:  # by plot and type, keeping the row order within each
        rows = sorted(rows, key=lambda row: (row[0], row[1]))
    pairs = pd.DataFrame(
        {"plot": [r[0] for r in rows], "type": pd.Series([r[1] for r in rows], dtype=str)}
    )
    unlimited = np.array([r[2] for r in rows], dtype=bool)
    got = _needed(pairs["plot"].to_numpy(dtype=np.int64), pairs["type"], unlimited)
    assert got.tolist() == _needed_by_groupby(pairs, unlimited).tolist()
