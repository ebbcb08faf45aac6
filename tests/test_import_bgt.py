"""`flexplan import bgt`: current versions, class filter, slivers, repair and capacity."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Polygon, box

from geodata.contract import load_layer
from geodata.importers import bgt as bgt_lib
from geodata.importers.bgt import import_bgt
from planner.commands import import_bgt as bgt_command
from planner.errors import LayerError
from tests.test_cli import flexplan

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason="../shared/data not present (fresh clone)"
)
X0, Y0 = 180_000.0, 456_000.0


def _square(i: int, side: float) -> Polygon:
    return box(X0 + 1000 * i, Y0, X0 + 1000 * i + side, Y0 + side)


def bgt_file(tmp_path: Path) -> Path:
    """Two layers like NLExtract's: class in bgt_fysiekVoorkomen resp. class, with history."""
    ended = pd.Timestamp("2019-01-01")
    onbegroeid = gpd.GeoDataFrame(
        {
            "lokaalID": ["G1.a", "G1.b", "G1.c", "G1.d", "G1.e", "G1.e"],
            "bronhouder": ["G0228"] * 6,
            "bgt_status": ["bestaand"] * 6,
            "bgt_fysiekVoorkomen": [
                "onverhard",  # 100 x 100 m = 1 ha -> 30 homes
                "gesloten verharding",  # a road
                "onverhard",  # 20 x 20 m sliver
                "erf",  # a yard: not in the default classes
                "half verhard",  # an old version ...
                "half verhard",  # ... and the current one
            ],
            "plus_fysiekVoorkomen": ["zand", "asfalt", "waardeOnbekend", None, "grind", "grind"],
            "eindRegistratie": [None, None, None, None, ended, None],
        },
        geometry=[
            _square(0, 100),
            _square(1, 100),
            _square(2, 20),
            _square(3, 100),
            _square(4, 50),
            _square(4, 60),
        ],
        crs="EPSG:28992",
    )
    bow_tie = Polygon(
        [(X0, Y0 + 2000), (X0 + 100, Y0 + 2100), (X0 + 100, Y0 + 2000), (X0, Y0 + 2100)]
    )
    begroeid = gpd.GeoDataFrame(
        {
            "lokaalID": ["G1.f", "G1.g", "G1.h"],
            "bgt_status": ["bestaand", "bestaand", "plan"],
            "class": ["grasland overig", "naaldbos", "grasland overig"],
            "plus_fysiekVoorkomen": ["waardeOnbekend"] * 3,
        },
        geometry=[bow_tie, _square(5, 200), _square(6, 100)],
        crs="EPSG:28992",
    )
    path = tmp_path / "bgt.gpkg"
    onbegroeid.to_file(path, layer="onbegroeidterreindeel")
    begroeid.to_file(path, layer="begroeidterreindeel")
    return path


def test_default_classes_current_versions_and_slivers(tmp_path: Path) -> None:
    out = tmp_path / "plots.gpkg"
    proc = flexplan("import", "bgt", bgt_file(tmp_path), "--out", out)
    assert proc.returncode == 0, proc.stderr
    plots = load_layer("plots", out).set_index("plot_id")
    assert plots.crs == "EPSG:28992"
    assert sorted(plots.index) == ["G1.a", "G1.e", "G1.f"]
    assert plots.loc["G1.a", "capacity"] == 30  # 1 ha x 30
    assert plots.loc["G1.e", "capacity"] == 10  # current version: 0.36 ha x 30 = 10.8
    assert plots.loc["G1.a", "name"] == "onverhard (zand)"
    assert plots.loc["G1.f", "name"] == "grasland overig"
    assert plots["proposer"].isna().all()
    # the bow tie is repaired into two triangles of 2,500 m² each
    assert plots.loc["G1.f"].geometry.area == pytest.approx(5000)
    assert plots.loc["G1.f", "capacity"] == 15
    assert "1 superseded version (eindRegistratie set)" in proc.stdout
    assert "1 not built yet" in proc.stdout
    assert "1 sliver under 1000 m² (400 m² in all)" in proc.stdout
    assert "1 invalid polygons repaired" in proc.stdout


def test_classes_option_and_min_area(tmp_path: Path) -> None:
    src = bgt_file(tmp_path)
    report = import_bgt(src, tmp_path / "p.gpkg", classes=["erf", "ZAND"], min_area_m2=0)
    plots = load_layer("plots", tmp_path / "p.gpkg")
    assert sorted(plots["plot_id"]) == ["G1.a", "G1.d"]  # 'zand' matches the plus value
    assert report.rows_in == 9
    import_bgt(src, tmp_path / "q.gpkg", classes=["onverhard"], min_area_m2=300)
    plots = load_layer("plots", tmp_path / "q.gpkg")
    assert sorted(plots["plot_id"]) == ["G1.a", "G1.c"]
    assert plots.set_index("plot_id").loc["G1.c", "capacity"] == 1  # 400 m² x 30/ha = 1.2


def test_plots_too_small_for_one_home_are_dropped(tmp_path: Path) -> None:
    report = import_bgt(bgt_file(tmp_path), tmp_path / "p.gpkg", min_area_m2=0, homes_per_ha=20)
    plots = load_layer("plots", tmp_path / "p.gpkg").set_index("plot_id")
    assert "G1.c" not in plots.index  # 400 m² x 20/ha = 0.8 homes
    assert plots.loc["G1.a", "capacity"] == 20
    assert report.dropped["too small for one home at 20 homes/ha (400 m² in all)"] == 1


def test_one_layer_and_unknown_classes(tmp_path: Path) -> None:
    src = bgt_file(tmp_path)
    report = import_bgt(
        src, tmp_path / "p.gpkg", layers=["begroeidterreindeel"], classes=["grasland overig", "x"]
    )
    assert list(load_layer("plots", tmp_path / "p.gpkg")["plot_id"]) == ["G1.f"]
    assert report.warnings == ["--classes 'x' match nothing in this file"]
    with pytest.raises(LayerError, match="no terrain part has class 'heide'; classes present"):
        import_bgt(src, tmp_path / "p.gpkg", classes=["heide"])
    with pytest.raises(LayerError, match="no layer 'wegdeel'"):
        import_bgt(src, tmp_path / "p.gpkg", layers=["wegdeel"])


def test_missing_class_column_and_generated_ids(tmp_path: Path) -> None:
    path = tmp_path / "vlakken.geojson"
    gpd.GeoDataFrame({"soort": ["gras"]}, geometry=[_square(0, 100)], crs="EPSG:28992").to_file(
        path
    )
    proc = flexplan("import", "bgt", path, "--out", tmp_path / "p.gpkg")
    assert proc.returncode == 1
    assert "no BGT class column; looked for bgt_fysiekVoorkomen, class" in proc.stderr
    gpd.GeoDataFrame(
        {"class": ["grasland overig"] * 2}, geometry=[_square(0, 100), _square(1, 100)], crs=28992
    ).to_file(path)
    import_bgt(path, tmp_path / "p.gpkg")
    assert list(load_layer("plots", tmp_path / "p.gpkg")["plot_id"]) == ["bgt-1", "bgt-2"]


def test_command_defaults_match_the_library() -> None:
    assert bgt_command.DEFAULT_CLASSES == bgt_lib.DEFAULT_CLASSES
    assert bgt_command.DEFAULT_MIN_AREA_M2 == bgt_lib.DEFAULT_MIN_AREA_M2
    assert bgt_command.DEFAULT_HOMES_PER_HA == bgt_lib.DEFAULT_HOMES_PER_HA


@pytest.mark.realdata
@needs_shared
def test_real_otterlo(tmp_path: Path) -> None:
    src = SHARED / "bgt_otterlo_terreindelen.gpkg"
    proc = flexplan("import", "bgt", src, "--out", tmp_path / "plots.gpkg")
    assert proc.returncode == 0, proc.stderr
    assert "read 1998 rows" in proc.stdout  # 830 + 1168 in SOURCES.md
    assert "933 superseded version" in proc.stdout
    plots = load_layer("plots", tmp_path / "plots.gpkg")
    assert plots.crs == "EPSG:28992"
    assert plots["plot_id"].is_unique
    assert set(plots["bgt_class"]) <= set(bgt_lib.DEFAULT_CLASSES)
    assert (plots.geometry.area >= 1000).all()
    assert len(plots) == 26
    assert int(plots["capacity"].sum()) == 367
    with_erf = import_bgt(src, tmp_path / "erf.gpkg", classes=["erf"])
    assert with_erf.written[0].rows == 147
