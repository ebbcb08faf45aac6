"""Readers: every format round-trips to the same validated frame; bad files give clear errors."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely import box

from geodata.contract import load_layer, validate_layer
from geodata.readers import read_file
from planner.errors import LayerError

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"

# Amersfoort, the origin of RD New: lon/lat of RD (155000, 463000).
AMERSFOORT_LONLAT = (5.38720621, 52.15517440)
AMERSFOORT_RD = (155_000.0, 463_000.0)


@pytest.fixture
def plots() -> gpd.GeoDataFrame:
    """Three plots near Amersfoort; column names fit in a Shapefile's 10 characters."""
    x, y = AMERSFOORT_RD
    return gpd.GeoDataFrame(
        {
            "plot_id": ["P1", "P2", "P3"],
            "capacity": [40.0, None, 12.0],
            "min_homes": [15.0, 20.0, None],
            "name": ["Weiland", None, "Hoek"],
        },
        geometry=[
            box(x, y, x + 100, y + 80),
            box(x + 500, y, x + 650, y + 100),
            box(x - 300, y - 300, x - 200, y - 250),
        ],
        crs="EPSG:28992",
    )


def assert_same(actual: gpd.GeoDataFrame, expected: gpd.GeoDataFrame, tol_m: float = 0.01) -> None:
    """Equal attributes (values and dtypes) and geometry within ``tol_m`` metres, both in RD."""
    assert actual.crs.to_epsg() == 28992
    assert list(actual.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(
        pd.DataFrame(actual.drop(columns="geometry")),
        pd.DataFrame(expected.drop(columns="geometry")),
    )
    # Shapefile and FlatGeobuf rewrite ring orientation: compare normalised shapes.
    same = actual.geometry.normalize().geom_equals_exact(expected.geometry.normalize(), tol_m)
    assert same.all()


def _write_shapefile(frame: gpd.GeoDataFrame, folder: Path) -> Path:
    folder.mkdir()
    path = folder / "plots.shp"
    frame.to_file(path, engine="pyogrio")
    return path


def _zip_folder(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for part in folder.iterdir():
            archive.write(part, part.name)
    return target


# --- round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".json", ".fgb", ".parquet"])
def test_single_file_formats_round_trip(tmp_path: Path, plots: gpd.GeoDataFrame, suffix: str):
    path = tmp_path / f"plots{suffix}"
    if suffix == ".parquet":
        plots.to_parquet(path)
    else:
        driver = {".json": "GeoJSON"}.get(suffix)
        plots.to_file(path, engine="pyogrio", driver=driver)
    expected = validate_layer("plots", plots, source="memory")
    loaded = load_layer("plots", path)
    if suffix == ".fgb":  # GDAL writes FlatGeobuf features in spatial-index order
        loaded = loaded.sort_values("plot_id", ignore_index=True)
    assert_same(loaded, expected)


def test_shapefile_and_zipped_shapefile_round_trip(tmp_path: Path, plots: gpd.GeoDataFrame):
    shp = _write_shapefile(plots, tmp_path / "shp")
    expected = validate_layer("plots", plots, source="memory")
    assert_same(load_layer("plots", shp), expected)
    for name in ("plots.zip", "plots.shp.zip"):
        zipped = _zip_folder(shp.parent, tmp_path / name)
        assert_same(load_layer("plots", zipped), expected)


def test_csv_wkt_with_crs_round_trips(tmp_path: Path, plots: gpd.GeoDataFrame):
    path = tmp_path / "plots.csv"
    table = pd.DataFrame(plots.drop(columns="geometry"))
    table["geometry"] = plots.geometry.to_wkt()
    table.to_csv(path, index=False)
    expected = validate_layer("plots", plots, source="memory")
    assert_same(load_layer("plots", path, crs="EPSG:28992"), expected)


def test_csv_semicolon_separated_is_read(tmp_path: Path, plots: gpd.GeoDataFrame):
    path = tmp_path / "plots.csv"
    table = pd.DataFrame(plots.drop(columns="geometry"))
    table["geometry"] = plots.geometry.to_wkt()
    table.to_csv(path, index=False, sep=";")
    expected = validate_layer("plots", plots, source="memory")
    assert_same(load_layer("plots", path, crs="EPSG:28992"), expected)


def test_csv_lonlat_lands_at_the_right_rd_coordinates(tmp_path: Path):
    path = tmp_path / "services.csv"
    lon, lat = AMERSFOORT_LONLAT
    path.write_text(f"service_id,type,lon,lat\nS1,Huisarts ,{lon},{lat}\n", encoding="utf-8")
    services = load_layer("services", path)
    point = services.geometry.iloc[0]
    assert services.crs.to_epsg() == 28992
    assert point.x == pytest.approx(AMERSFOORT_RD[0], abs=5)
    assert point.y == pytest.approx(AMERSFOORT_RD[1], abs=5)
    assert services["type"].iloc[0] == "huisarts"


def test_csv_lonlat_in_another_crs_when_given(tmp_path: Path):
    path = tmp_path / "services.csv"
    path.write_text("service_id,type,lon,lat\nS1,ggz,155000,463000\n", encoding="utf-8")
    services = load_layer("services", path, crs="EPSG:28992")
    assert services.geometry.iloc[0].coords[0] == AMERSFOORT_RD


def test_csv_keeps_leading_zeros_of_ids(tmp_path: Path):
    path = tmp_path / "travel_costs.csv"
    path.write_text("region_id,plot_id,cost_per_home\nGM0344,0012,150\n", encoding="utf-8")
    table = load_layer("travel_costs", path)
    assert table["plot_id"].tolist() == ["0012"]
    assert table["cost_per_home"].tolist() == [150.0]


def test_tables_come_back_as_dataframes(tmp_path: Path):
    table = pd.DataFrame(
        {"region_id": ["R1", "R2"], "plot_id": ["P1", "P1"], "cost_per_home": [1, 2]}
    )
    csv, parquet = tmp_path / "costs.csv", tmp_path / "costs.parquet"
    table.to_csv(csv, index=False)
    table.to_parquet(parquet)
    for path in (csv, parquet):
        raw = read_file(path, source_kind="travel_costs")
        assert not isinstance(raw, gpd.GeoDataFrame)
        loaded = load_layer("travel_costs", path)
        assert not isinstance(loaded, gpd.GeoDataFrame)
        assert loaded["cost_per_home"].dtype == "float64"
        assert loaded[["region_id", "plot_id"]].to_numpy().tolist() == [["R1", "P1"], ["R2", "P1"]]


@pytest.mark.parametrize("epsg", [4326, 3857])
def test_other_crs_is_reprojected_to_rd(tmp_path: Path, plots: gpd.GeoDataFrame, epsg: int):
    path = tmp_path / "plots.gpkg"
    plots.to_crs(epsg=epsg).to_file(path, engine="pyogrio")
    assert read_file(path).crs.to_epsg() == epsg
    expected = validate_layer("plots", plots, source="memory")
    assert_same(load_layer("plots", path), expected, tol_m=0.01)


# --- layers in multi-layer files -----------------------------------------------------------------


def test_gpkg_picks_the_layer_named_like_the_kind(tmp_path: Path, plots: gpd.GeoDataFrame):
    path = tmp_path / "all.gpkg"
    plots.iloc[:1].to_file(path, layer="other", engine="pyogrio")
    plots.to_file(path, layer="plots", engine="pyogrio")
    assert len(load_layer("plots", path)) == 3
    assert len(load_layer("plots", path, layer="other")) == 1


def test_gpkg_with_several_layers_and_no_match_lists_them(tmp_path: Path, plots: gpd.GeoDataFrame):
    path = tmp_path / "all.gpkg"
    plots.to_file(path, layer="a", engine="pyogrio")
    plots.to_file(path, layer="b", engine="pyogrio")
    with pytest.raises(LayerError, match=r"all\.gpkg: holds several layers \('a', 'b'\)") as err:
        load_layer("plots", path)
    assert "`layer:`" in str(err.value)


def test_gpkg_unknown_layer_lists_the_layers(tmp_path: Path, plots: gpd.GeoDataFrame):
    path = tmp_path / "p.gpkg"
    plots.to_file(path, layer="percelen", engine="pyogrio")
    with pytest.raises(
        LayerError, match=r"p\.gpkg: no layer 'plots'; layers in this file: 'percelen'"
    ):
        load_layer("plots", path, layer="plots")


# --- file-level errors ----------------------------------------------------------------------------


def test_missing_file(tmp_path: Path):
    path = tmp_path / "nope.gpkg"
    with pytest.raises(LayerError, match=r"nope\.gpkg: file not found"):
        read_file(path)


def test_gdal_virtual_paths_are_not_opened():
    with pytest.raises(LayerError, match="file not found"):
        read_file(Path("/vsicurl/http://example.org/plots.gpkg"))


def test_unknown_extension_names_the_supported_formats(tmp_path: Path):
    path = tmp_path / "plots.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(LayerError, match=r"plots\.xlsx: unsupported file type '\.xlsx'") as err:
        read_file(path)
    for suffix in (".gpkg", ".geojson", ".shp", ".zip", ".fgb", ".parquet", ".csv"):
        assert suffix in str(err.value)


def test_file_gdal_cannot_open_gives_its_reason_in_one_line(tmp_path: Path):
    path = tmp_path / "broken.gpkg"
    path.write_text("not a geopackage\n")
    with pytest.raises(LayerError) as err:
        read_file(path)
    message = str(err.value)
    assert message.startswith(f"{path}: cannot read this file: ")
    assert "not recognized" in message
    assert "\n" not in message


def test_zip_without_shapefile(tmp_path: Path):
    path = tmp_path / "plots.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(LayerError, match=r"plots\.zip: no \.shp file inside the zip"):
        read_file(path)


def test_zip_that_is_not_a_zip(tmp_path: Path):
    path = tmp_path / "plots.shp.zip"
    path.write_text("hello")
    with pytest.raises(LayerError, match=r"plots\.shp\.zip: not a valid zip file"):
        read_file(path)


def test_shapefile_without_prj_needs_crs(tmp_path: Path, plots: gpd.GeoDataFrame):
    shp = _write_shapefile(plots, tmp_path / "shp")
    shp.with_suffix(".prj").unlink()
    with pytest.raises(LayerError, match=r"plots\.shp: the file declares no CRS; add `crs: EPSG"):
        read_file(shp)
    loaded = load_layer("plots", shp, crs="EPSG:28992")
    assert_same(loaded, validate_layer("plots", plots, source="memory"))


def test_crs_given_for_a_file_with_its_own_crs(tmp_path: Path, plots: gpd.GeoDataFrame):
    path = tmp_path / "plots.gpkg"
    plots.to_file(path, engine="pyogrio")
    assert read_file(path, crs="EPSG:28992").crs.to_epsg() == 28992
    with pytest.raises(
        LayerError, match=r"declares CRS EPSG:28992 but the scenario says crs: EPSG:4326"
    ):
        read_file(path, crs="EPSG:4326")


def test_shapefile_prj_matches_its_epsg_code(tmp_path: Path, plots: gpd.GeoDataFrame):
    shp = _write_shapefile(plots, tmp_path / "shp")
    assert read_file(shp, crs="EPSG:28992").crs.to_epsg(min_confidence=70) == 28992


def test_unknown_crs_string(tmp_path: Path):
    path = tmp_path / "s.csv"
    path.write_text("service_id,type,lon,lat\nS1,ggz,5,52\n")
    with pytest.raises(LayerError, match=r"s\.csv: crs 'EPSG:999999' is not a known CRS"):
        read_file(path, crs="EPSG:999999")


def test_csv_wkt_without_crs(tmp_path: Path):
    path = tmp_path / "plots.csv"
    path.write_text('plot_id,geometry\nP1,"POLYGON ((0 0, 1 0, 1 1, 0 0))"\n')
    with pytest.raises(LayerError) as err:
        read_file(path)
    assert str(err.value) == (
        f"{path}: CSV geometry has no CRS; add `crs: EPSG:28992` (or the right code) to this "
        "layer in the scenario"
    )


def test_csv_bad_wkt_and_bad_lonlat_name_the_rows(tmp_path: Path):
    wkt = tmp_path / "plots.csv"
    wkt.write_text('plot_id,geometry\nP1,"POLYGON ((0 0, 1 0, 1 1, 0 0))"\nP2,POLYGN\n')
    with pytest.raises(LayerError, match=r"plots\.csv: row 2: geometry 'POLYGN' is not valid WKT"):
        read_file(wkt, crs="EPSG:28992")
    lonlat = tmp_path / "services.csv"
    lonlat.write_text("service_id,type,lon,lat\nS1,ggz,5.1,52.1\nS2,ggz,5.1,noord\n")
    with pytest.raises(LayerError, match=r"services\.csv: row 2: lat 'noord' is not a number"):
        read_file(lonlat)


def test_csv_not_utf8(tmp_path: Path):
    path = tmp_path / "t.csv"
    path.write_bytes("region_id,plot_id,cost_per_home\nR\xe9,P1,1\n".encode("utf-16"))
    with pytest.raises(LayerError, match=r"t\.csv: not UTF-8 text"):
        read_file(path)


# --- real data -----------------------------------------------------------------------------------


@pytest.mark.realdata
def test_real_geopackages_read_in_rd():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available at {SHARED_DATA}")
    ggz = read_file(SHARED_DATA / "zorgvoorzieningen_2014_2016.gpkg", layer="ggz")
    buurten = read_file(SHARED_DATA / "cbs_wijkbuurtkaart_2015.gpkg", layer="buurten")
    assert ggz.crs.to_epsg() == 28992
    assert buurten.crs.to_epsg() == 28992
    assert len(ggz) == 444  # SOURCES.md
    assert len(buurten) == 11709  # SOURCES.md
    assert set(ggz.geom_type) == {"Point"}
