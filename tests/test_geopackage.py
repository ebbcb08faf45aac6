"""allocation.gpkg from the earlier run's file (planner.geopackage): a re-run sets the outcome
cells that changed and writes the plots anew, and its file reads back as a cold run's does."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import Point, Polygon, box

from planner import geopackage
from planner.export import _write_layer
from planner.geopackage import KeptFile, Layer, layer_digest, read_kept, write_geopackage
from planner.pipeline import run_scenario
from planner.scenario import load_scenario
from tests.reruns import CHANGES, changed, first_national_run

CRS = "EPSG:28992"
REUSED = "allocation.gpkg from the earlier run's"


def _read(path: Path) -> dict[str, gpd.GeoDataFrame]:
    return {
        name: pyogrio.read_dataframe(path, layer=name, fid_as_index=True)
        for name, _ in pyogrio.list_layers(path)
    }


def _same_file(a: Path, b: Path) -> None:
    """Same layers in the same order, same features (ids, columns, types, geometry), a sound
    SQLite file, and a spatial index that finds the same features."""
    assert pyogrio.list_layers(a).tolist() == pyogrio.list_layers(b).tolist()
    left, right = _read(a), _read(b)
    for name in left:
        assert_geodataframe_equal(left[name], right[name], check_less_precise=False)
        west, south, east, north = left[name].total_bounds
        middle = (west + (east - west) / 3, south, east, south + (north - south) / 2)
        found = [
            pyogrio.read_dataframe(p, layer=name, bbox=middle, fid_as_index=True).index.tolist()
            for p in (a, b)
        ]
        assert found[0] == found[1]
    for path in (a, b):
        with sqlite3.connect(path) as con:
            assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


# --- end to end: a re-run's file is a cold run's --------------------------------------------


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return first_national_run(tmp_path_factory.mktemp("gpkg_reuse"), seed=5)


@pytest.mark.parametrize("change", CHANGES)
def test_a_reruns_geopackage_reads_as_one_written_whole(
    first_run: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture, change: str
) -> None:
    """The same re-run from the first run folder and from a copy that keeps no digests (so
    its file is written whole by GDAL): the two files read the same."""
    scenario = changed(first_run, change, tmp_path / "instance")
    bare = tmp_path / "bare"
    shutil.copytree(first_run[1], bare)
    (bare / "reuse" / "gpkg.json").unlink()
    with caplog.at_level(logging.INFO, logger="planner.geopackage"):
        run_scenario(scenario, tmp_path / "whole", hint_from=bare)
        assert REUSED not in caplog.text
        run_scenario(scenario, tmp_path / "warm", hint_from=first_run[1])
        assert REUSED in caplog.text
    warm, whole = tmp_path / "warm" / "allocation.gpkg", tmp_path / "whole" / "allocation.gpkg"
    _same_file(warm, whole)
    if change != "parameter":  # the plot changes move support residents: cells were set
        before = pyogrio.read_dataframe(first_run[1] / "allocation.gpkg", layer="services")
        assert (before["load"] != _read(warm)["services"]["load"].to_numpy()).any()
    assert pyogrio.list_layers(warm)[:, 0].tolist() == ["services", "buurten", "plots"]
    # and the re-run keeps what the next one needs
    kept = read_kept(tmp_path / "warm" / "reuse", warm)
    assert kept is not None and set(kept.layers) == {"services", "buurten"}


def test_an_earlier_file_changed_since_its_run_is_not_copied(
    first_run: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scenario_path, first = first_run
    edited = tmp_path / "edited"
    shutil.copytree(first, edited)
    gpkg = edited / "allocation.gpkg"
    with geopackage._connection(gpkg) as con:  # a user's edit: a service renamed
        con.execute("UPDATE services SET name = 'renamed' WHERE fid = 1")
    stat = (first / "allocation.gpkg").stat()
    if gpkg.stat().st_size == stat.st_size:
        os.utime(gpkg, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    with caplog.at_level(logging.INFO, logger="planner.geopackage"):
        assert read_kept(edited / "reuse", gpkg) is None
        run_scenario(load_scenario(scenario_path), tmp_path / "warm", hint_from=edited)
    assert "changed since its run" in caplog.text
    assert REUSED not in caplog.text
    services = pyogrio.read_dataframe(tmp_path / "warm" / "allocation.gpkg", layer="services")
    assert "renamed" not in set(services["name"])


# --- the writer on small layers ----------------------------------------------------------------


def _services(load: list[int], names: tuple[str, ...] = ("a", "b", "c")) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"service_id": ["s1", "s2", "s3"], "name": list(names), "load": load},
        geometry=[Point(150_000, 450_000), Point(151_000, 450_500), Point(152_000, 451_000)],
        crs=CRS,
    )


def _buurten(share: list[float]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"buurt_id": ["b1", "b2"], "homes": [1, 2], "share": share},
        geometry=[box(150_000, 450_000, 151_000, 451_000), box(151_000, 450_000, 152_000, 451_000)],
        crs=CRS,
    )


def _plots(homes: list[int]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"plot_id": [f"p{i}" for i in range(len(homes))], "homes": homes},
        geometry=[box(150_000 + 100 * i, 450_000, 150_050 + 100 * i, 450_050) for i in homes],
        crs=CRS,
    )


def _layers(services: gpd.GeoDataFrame, buurten: gpd.GeoDataFrame | None, plots: Any) -> Any:
    layers = {"services": Layer(services, ("load",))}
    if buurten is not None:
        layers["buurten"] = Layer(buurten, ("homes", "share"))
    layers["plots"] = Layer(plots)
    return layers


def _run(folder: Path, layers: dict[str, Layer], earlier: KeptFile | None = None) -> KeptFile:
    """Write ``layers`` as a run folder's allocation.gpkg and its kept digests; read back."""
    folder.mkdir()
    kept = write_geopackage(folder / "allocation.gpkg", layers, earlier, _write_layer)
    kept.write(folder / "reuse", folder / "allocation.gpkg")
    again = read_kept(folder / "reuse", folder / "allocation.gpkg")
    assert again is not None
    return again


@pytest.fixture
def earlier(tmp_path: Path) -> KeptFile:
    return _run(
        tmp_path / "first", _layers(_services([0, 5, 7]), _buurten([0.1, 0.2]), _plots([1, 2]))
    )


def _rerun(tmp_path: Path, earlier: KeptFile, layers: dict[str, Layer], caplog: Any) -> bool:
    """Write ``layers`` from ``earlier`` and from scratch; the files read the same. True when
    the earlier file was copied."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="planner.geopackage"):
        _run(tmp_path / "warm", layers, earlier)
    _run(tmp_path / "cold", layers)
    _same_file(tmp_path / "warm" / "allocation.gpkg", tmp_path / "cold" / "allocation.gpkg")
    return REUSED in caplog.text


def test_changed_outcome_cells_are_set_in_the_copy(
    tmp_path: Path, earlier: KeptFile, caplog: pytest.LogCaptureFixture
) -> None:
    layers = _layers(_services([3, 5, 0]), _buurten([0.1, np.nan]), _plots([4, 0, 9]))
    assert _rerun(tmp_path, earlier, layers, caplog)
    assert "'services': 2, 'buurten': 1" in caplog.text
    services = pyogrio.read_dataframe(tmp_path / "warm" / "allocation.gpkg", layer="services")
    assert services["load"].tolist() == [3, 5, 0]
    with sqlite3.connect(tmp_path / "warm" / "allocation.gpkg") as con:
        assert con.execute("SELECT share FROM buurten WHERE fid = 2").fetchone() == (None,)


@pytest.mark.parametrize(
    "layers",
    [
        pytest.param(
            lambda: _layers(
                _services([0, 5, 7], ("a", "B", "c")), _buurten([0.1, 0.2]), _plots([1])
            ),
            id="a name changed",
        ),
        pytest.param(
            lambda: _layers(
                _services([0, 5, 7]).set_geometry(
                    [Point(150_000, 450_000), Point(151_000, 450_501), Point(152_000, 451_000)]
                ),
                _buurten([0.1, 0.2]),
                _plots([1]),
            ),
            id="a point moved",
        ),
        pytest.param(
            lambda: _layers(
                _services([0, 5, 7]),
                _buurten([0.1, 0.2]).set_geometry(
                    [
                        Polygon([(150_000, 450_000), (151_000, 450_000), (151_000, 451_000)]),
                        box(151_000, 450_000, 152_000, 451_000),
                    ]
                ),
                _plots([1]),
            ),
            id="a polygon changed",
        ),
        pytest.param(lambda: _layers(_services([0, 5, 7]), None, _plots([1])), id="no buurten"),
        pytest.param(
            lambda: _layers(_services([0, 5, 7]).iloc[::-1], _buurten([0.1, 0.2]), _plots([1])),
            id="rows in another order",
        ),
    ],
)
def test_layers_that_differ_beyond_their_outcome_are_written_whole(
    tmp_path: Path, earlier: KeptFile, caplog: pytest.LogCaptureFixture, layers: Any
) -> None:
    assert not _rerun(tmp_path, earlier, layers(), caplog)


def test_a_file_written_by_other_code_or_libraries_is_written_whole(
    tmp_path: Path, earlier: KeptFile, caplog: pytest.LogCaptureFixture
) -> None:
    assert earlier.writer == geopackage.writer_key()
    earlier.writer = "another GDAL"
    layers = _layers(_services([3, 5, 0]), _buurten([0.1, 0.2]), _plots([4]))
    assert not _rerun(tmp_path, earlier, layers, caplog)
    assert "written by other code" in caplog.text


def test_a_failing_update_leaves_no_copy_behind(
    tmp_path: Path, earlier: KeptFile, caplog: pytest.LogCaptureFixture
) -> None:
    """Kept outcome cells that do not fit the file (here one row short) stop the copy: the
    file is written whole."""
    earlier.outcome["services"] = earlier.outcome["services"].slice(0, 2)
    layers = _layers(_services([3, 5, 0]), _buurten([0.1, 0.2]), _plots([4]))
    with caplog.at_level(logging.WARNING, logger="planner.geopackage"):
        assert not _rerun(tmp_path, earlier, layers, caplog)
    assert "not reusable" in caplog.text


def test_the_connection_sets_cells_and_refuses_a_geometry_change(
    tmp_path: Path, earlier: KeptFile
) -> None:
    """GDAL's spatial-index triggers call the functions ``_connection`` declares only when a
    geometry changes: an update of outcome cells runs, one of a geometry fails and leaves the
    file as it was rather than the index out of date."""
    gpkg = tmp_path / "first" / "allocation.gpkg"
    before = pyogrio.read_dataframe(gpkg, layer="services")
    with geopackage._connection(gpkg) as con:
        con.execute('UPDATE services SET "load" = 9 WHERE fid = 1')
    moved = "UPDATE services SET geom = (SELECT geom FROM services WHERE fid = 2) WHERE fid = 1"
    with pytest.raises(sqlite3.OperationalError), geopackage._connection(gpkg) as con:
        con.execute(moved)
    after = pyogrio.read_dataframe(gpkg, layer="services")
    assert after["load"].tolist() == [9, 5, 7]
    assert after.geometry.geom_equals_exact(before.geometry, tolerance=0).all()


def test_damaged_kept_digests_are_not_used(
    tmp_path: Path, earlier: KeptFile, caplog: pytest.LogCaptureFixture
) -> None:
    reuse = tmp_path / "first" / "reuse"
    (reuse / "gpkg.json").write_text("{not json", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="planner.geopackage"):
        assert read_kept(reuse, tmp_path / "first" / "allocation.gpkg") is None
    assert "unreadable" in caplog.text
    (reuse / "gpkg.json").unlink()
    assert read_kept(reuse, tmp_path / "first" / "allocation.gpkg") is None


def test_the_digest_covers_columns_types_and_geometry() -> None:
    services = _services([0, 1, 2])
    base = layer_digest(Layer(services, ("load",)))
    assert layer_digest(Layer(_services([7, 8, 9]), ("load",))) == base
    assert layer_digest(Layer(services, ())) != base
    renamed = services.rename(columns={"name": "naam"})
    assert layer_digest(Layer(renamed, ("load",))) != base
    as_text = services.assign(load=services["load"].astype(str))
    assert layer_digest(Layer(as_text.drop(columns="load").assign(n=1), ())) != layer_digest(
        Layer(services.drop(columns="load").assign(n=1.0), ())
    )
    empty = services.set_geometry([Point(150_000, 450_000), Point(151_000, 450_500), Point()])
    assert layer_digest(Layer(empty, ("load",))) != base
    missing = services.set_geometry([Point(150_000, 450_000), Point(151_000, 450_500), None])
    assert layer_digest(Layer(missing, ("load",))) not in (
        base,
        layer_digest(Layer(empty, ("load",))),
    )
    rings = _buurten([0.1, 0.2])
    holed = rings.set_geometry(
        [
            Polygon(
                [(150_000, 450_000), (151_000, 450_000), (151_000, 451_000), (150_000, 451_000)],
                [[(150_100, 450_100), (150_200, 450_100), (150_200, 450_200)]],
            ),
            rings.geometry.iloc[1],
        ]
    )
    assert layer_digest(Layer(holed, ("share",))) != layer_digest(Layer(rings, ("share",)))
    pd.testing.assert_frame_equal(services, _services([0, 1, 2]))  # the digest changed nothing
