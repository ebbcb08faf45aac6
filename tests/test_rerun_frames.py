"""Kept layers read back column by column from Arrow (planner.rerun._read_frame): the very frame
the geopandas/pandas reading gives, which stays for the columns the Arrow path does not take."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely

from planner.rerun import KeptLayer, _from_arrow, _read_frame, _read_frame_pandas, write_layers


def _validated_like() -> gpd.GeoDataFrame:
    """Text with missing values (None), a text column with none at all, floats with NaN, ints,
    bools, and a missing and an empty geometry, as the contract leaves a layer."""
    frame = gpd.GeoDataFrame(
        {
            "plot_id": pd.Series(["a", "b", None, "d"], dtype=object),
            "note": pd.Series([None, None, None, None], dtype=object),
            "capacity": [1.5, np.nan, 3.0, 4.0],
            "population": np.array([1, 2, 3, 4], dtype=np.int64),
            "open": [True, False, True, True],
            "geometry": [shapely.box(0, 0, 1, 1), None, shapely.Point(), shapely.Point(5, 5)],
        },
        crs="EPSG:28992",
    )
    assert list(frame.dtypes.astype(str)) == [
        "object",
        "object",
        "float64",
        "int64",
        "bool",
        "geometry",
    ]
    return frame


def _kept(frame: pd.DataFrame, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    write_layers(tmp_path, {"plots": KeptLayer("key", frame)})
    dtypes = {str(c): str(t) for c, t in frame.dtypes.items()}
    return tmp_path / "reuse" / "plots.parquet", dtypes


def _same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert type(got) is type(expected)
    assert list(got.dtypes.astype(str)) == list(expected.dtypes.astype(str))
    for column in expected.columns.drop("geometry", errors="ignore"):
        assert got[column].map(type).tolist() == expected[column].map(type).tolist(), column
    if isinstance(expected, gpd.GeoDataFrame):
        assert str(got.crs) == str(expected.crs) == "EPSG:28992"
        assert got.geometry.name == expected.geometry.name
        assert got.geometry.to_wkb().tolist() == expected.geometry.to_wkb().tolist()
        got, expected = got.drop(columns="geometry"), expected.drop(columns="geometry")
    pd.testing.assert_frame_equal(pd.DataFrame(got), pd.DataFrame(expected))


def test_a_kept_layer_from_arrow_is_the_pandas_reading(tmp_path: Path) -> None:
    frame = _validated_like()
    path, dtypes = _kept(frame, tmp_path)
    assert _from_arrow(pq.read_table(path), dtypes) is not None
    _same(_read_frame(path, dtypes), _read_frame_pandas(path, dtypes))
    _same(_read_frame(path, dtypes), frame)


def test_a_table_without_geometry_is_a_plain_frame(tmp_path: Path) -> None:
    frame = pd.DataFrame(_validated_like().drop(columns="geometry"))
    path, dtypes = _kept(frame, tmp_path)
    assert _from_arrow(pq.read_table(path), dtypes) is not None
    _same(_read_frame(path, dtypes), _read_frame_pandas(path, dtypes))


@pytest.mark.parametrize(
    "column",
    [
        pd.Series(pd.to_datetime(["2024-01-01"] * 4)),  # no Arrow path for dates
        pd.Series([1, 2, 3, 4], dtype="int32"),  # nor for other numbers
        pd.Series([1, None, 3, 4], dtype="Int64"),  # nor for nullable ones
    ],
)
def test_columns_the_arrow_path_does_not_take_are_read_through_pandas(
    tmp_path: Path, column: pd.Series
) -> None:
    frame = _validated_like().assign(other=column)
    frame = frame[[*frame.columns.drop("geometry"), "geometry"]]
    path, dtypes = _kept(frame, tmp_path)
    assert _from_arrow(pq.read_table(path), dtypes) is None
    _same(_read_frame(path, dtypes), _read_frame_pandas(path, dtypes))


def test_columns_other_than_the_kept_ones_are_refused(tmp_path: Path) -> None:
    path, dtypes = _kept(_validated_like(), tmp_path)
    with pytest.raises(ValueError, match="are not the kept"):
        _read_frame(path, {k: v for k, v in dtypes.items() if k != "note"})
    with pytest.raises(KeyError):
        _read_frame(path, {**dtypes, "extra": "object"})
