"""allocation.gpkg is the same file whichever way pyogrio writes a layer (Arrow or row by row)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from planner.export import _write_layer


def _tables(path: Path) -> dict[str, Any]:
    """Every table's schema and rows, without the time stamp GDAL sets per layer."""
    with sqlite3.connect(path) as con:
        schema = con.execute("select type, name, sql from sqlite_master order by name").fetchall()
        rows = {
            name: con.execute(f'select * from "{name}"').fetchall()
            for kind, name, _ in schema
            if kind == "table" and not name.startswith("sqlite_")
        }
    rows["gpkg_contents"] = [row[:4] + row[5:] for row in rows["gpkg_contents"]]
    return {"schema": schema, "rows": rows}


def _frame(**extra: Any) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "plot_id": pd.array(["P1", "P2", None], dtype="str"),
            "group": np.array([None, "G1", None], dtype=object),
            "reason": np.array([None, None, None], dtype=object),
            "homes": [3, 0, 12],
            "selected": [True, False, True],
            "fixed_homes": [np.nan, 2.0, np.inf],
            **extra,
        },
        geometry=[box(0, 0, 10, 10), None, box(20, 0, 30, 5)],
        crs="EPSG:28992",
    )


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"code": np.array([1, None, 3], dtype=object)},
        {"mixed": np.array([1, "a", 2.5], dtype=object)},
    ],
    ids=["usual", "object-ints", "object-mixed"],
)
def test_layers_are_written_as_the_row_path_writes_them(tmp_path: Path, extra: Any) -> None:
    services = gpd.GeoDataFrame(
        {"service_id": ["S1", "S2"], "capacity": [np.nan, 8.0]},
        geometry=[Point(1, 2), Point(3, 4)],
        crs="EPSG:28992",
    )
    ours, rows = tmp_path / "ours.gpkg", tmp_path / "rows.gpkg"
    for name, frame in (("plots", _frame(**extra)), ("services", services)):
        _write_layer(frame, ours, name)
        frame.to_file(rows, layer=name, driver="GPKG", engine="pyogrio")
    assert _tables(ours) == _tables(rows)


def test_layers_are_written_without_a_flush_per_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GDAL's SQLite runs unsynced while a layer is written (the run folder is flushed as a
    whole), and the process's earlier setting is back afterwards."""
    import pyogrio

    seen = []
    write = gpd.GeoDataFrame.to_file

    def spy(self: gpd.GeoDataFrame, *args: Any, **kwargs: Any) -> None:
        seen.append(pyogrio.get_gdal_config_option("OGR_SQLITE_SYNCHRONOUS"))
        write(self, *args, **kwargs)

    monkeypatch.setattr(gpd.GeoDataFrame, "to_file", spy)
    pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": "NORMAL"})
    try:
        _write_layer(_frame(), tmp_path / "a.gpkg", "plots")
        after = pyogrio.get_gdal_config_option("OGR_SQLITE_SYNCHRONOUS")
    finally:
        pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": None})
    assert seen == [False]  # pyogrio reads "OFF" back as False
    assert after == "NORMAL"
    assert len(gpd.read_file(tmp_path / "a.gpkg", layer="plots")) == 3


def test_every_file_is_flushed_once_the_big_ones_while_the_rest_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``_flushing``: files handed to ``flush`` go to disk in the worker thread, every other
    file in the folder (subfolders too) on leaving; each file once."""
    import os
    import threading

    from planner import export

    flushed: list[tuple[str, str]] = []
    real = os.fsync

    def spy(fd: int) -> None:
        flushed.append(
            (Path(os.readlink(f"/proc/self/fd/{fd}")).name, threading.current_thread().name)
        )
        real(fd)

    monkeypatch.setattr(export.os, "fsync", spy)
    (tmp_path / "reuse").mkdir()
    with export._flushing(tmp_path) as flush:
        (tmp_path / "big.gpkg").write_bytes(b"x" * 1000)
        flush(tmp_path / "big.gpkg")
        (tmp_path / "kpis.json").write_text("{}")
        (tmp_path / "reuse" / "kept.parquet").write_bytes(b"y")
    by_file = dict(flushed)
    assert sorted(by_file) == ["big.gpkg", "kept.parquet", "kpis.json"]
    assert len(flushed) == 3
    assert by_file["big.gpkg"].startswith("flexplan-fsync")
    assert by_file["kpis.json"] == threading.current_thread().name


def test_a_failed_flush_fails_the_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from planner import export

    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(export.os, "fsync", broken)
    with pytest.raises(OSError, match="Input/output"), export._flushing(tmp_path) as flush:
        (tmp_path / "big.gpkg").write_bytes(b"x")
        flush(tmp_path / "big.gpkg")
