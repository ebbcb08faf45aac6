"""`flexplan import services`: appending, duplicate refusal, polygons, capacity and formats."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point, box

from geodata.contract import load_layer
from geodata.importers.services import CapacityPer, import_services
from planner.errors import FlexplanError, LayerError
from tests.test_cli import flexplan

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason="../shared/data not present (fresh clone)"
)
X0, Y0 = 155_000.0, 463_000.0


def points(tmp_path: Path, name: str = "ggz.gpkg", **columns: list[object]) -> Path:
    n = len(next(iter(columns.values()))) if columns else 3
    data = columns or {"naam": [f"Praktijk {i}" for i in range(n)]}
    path = tmp_path / name
    gpd.GeoDataFrame(
        data, geometry=[Point(X0 + 100 * i, Y0) for i in range(n)], crs="EPSG:28992"
    ).to_file(path, layer="locaties")
    return path


def test_generated_ids_and_append_across_runs(tmp_path: Path) -> None:
    out = tmp_path / "services.gpkg"
    first = points(tmp_path, "a.gpkg")
    proc = flexplan("import", "services", first, "--type", "GGZ", "--out", out)
    assert proc.returncode == 0, proc.stderr
    services = load_layer("services", out)
    assert list(services["service_id"]) == ["ggz-1", "ggz-2", "ggz-3"]
    assert list(services["name"]) == ["Praktijk 0", "Praktijk 1", "Praktijk 2"]
    assert services["capacity"].isna().all()
    assert services.crs == "EPSG:28992"
    proc = flexplan("import", "services", first, "--type", "wijkteam", "--out", out)
    assert proc.returncode == 0, proc.stderr
    proc = flexplan("import", "services", first, "--type", "ggz", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "now holds 9 services (ggz 6, wijkteam 3)" in proc.stdout
    services = load_layer("services", out)
    assert list(services["service_id"]) == [
        *("ggz-1", "ggz-2", "ggz-3", "wijkteam-1", "wijkteam-2", "wijkteam-3"),
        *("ggz-4", "ggz-5", "ggz-6"),
    ]
    assert set(services["source"]) == {"a.gpkg"}


def test_duplicate_ids_in_input_are_refused_by_name(tmp_path: Path) -> None:
    src = points(tmp_path, code=["A1", "B2", "A1"])
    proc = flexplan(
        "import",
        "services",
        src,
        "--type",
        "ggz",
        "--id-column",
        "code",
        "--out",
        tmp_path / "s.gpkg",
    )
    assert proc.returncode == 1
    assert "service_id 'A1' appears more than once (rows 1, 3)" in proc.stderr
    assert not (tmp_path / "s.gpkg").exists()


def test_ids_already_in_the_file_are_refused_and_the_file_kept(tmp_path: Path) -> None:
    out = tmp_path / "s.gpkg"
    import_services(points(tmp_path, code=["A1", "B2"]), out, service_type="ggz", id_column="code")
    before = out.read_bytes()
    src = points(tmp_path, "b.gpkg", code=["C3", "B2"])
    with pytest.raises(LayerError, match=r"service_id already in the file: B2"):
        import_services(src, out, service_type="vvt", id_column="code")
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_polygons_become_points_inside(tmp_path: Path) -> None:
    src = tmp_path / "wijkteams.geojson"
    shapes = [box(X0, Y0, X0 + 500, Y0 + 500), box(X0 + 1000, Y0, X0 + 1200, Y0 + 900)]
    gpd.GeoDataFrame({"name": ["Noord", "Zuid"]}, geometry=shapes, crs="EPSG:28992").to_file(src)
    report = import_services(src, tmp_path / "s.gpkg", service_type="wijkteam")
    services = load_layer("services", tmp_path / "s.gpkg")
    assert (services.geom_type == "Point").all()
    assert all(
        shape.contains(point) for shape, point in zip(shapes, services.geometry, strict=True)
    )
    assert "2 polygons taken at a point inside them" in report.notes


def test_capacity_column_and_capacity_per(tmp_path: Path) -> None:
    src = points(tmp_path, naam=["a", "b", "c"], clients=[268.0, None, 49.0], plaatsen=[10, 0, 5])
    import_services(src, tmp_path / "a.gpkg", service_type="ggz", capacity_column="plaatsen")
    assert list(load_layer("services", tmp_path / "a.gpkg")["capacity"]) == [10, 0, 5]
    report = import_services(
        src, tmp_path / "b.gpkg", service_type="ggz", capacity_per=CapacityPer.parse("clients:0.02")
    )
    capacity = load_layer("services", tmp_path / "b.gpkg")["capacity"]
    assert capacity.iloc[0] == 5  # floor(268 x 0.02) = floor(5.36)
    assert pd.isna(capacity.iloc[1])  # unknown -> empty (unlimited), and said so
    assert capacity.iloc[2] == 0  # floor(0.98)
    assert any("1 of 3 rows have no clients" in w for w in report.warnings)


@pytest.mark.parametrize("spec", ["clients", "clients:0", "clients:-1", ":2", "clients:abc"])
def test_bad_capacity_per_is_refused(spec: str) -> None:
    with pytest.raises(FlexplanError, match="must be FIELD:RATIO"):
        CapacityPer.parse(spec)


def test_both_capacity_options_and_unknown_columns(tmp_path: Path) -> None:
    src = points(tmp_path, naam=["a"], clients=[3.0])
    out = tmp_path / "s.gpkg"
    proc = flexplan(
        "import", "services", src, "--type", "ggz", "--out", out,
        "--capacity-column", "clients", "--capacity-per", "clients:1",
    )  # fmt: skip
    assert proc.returncode == 1
    assert "not both" in proc.stderr
    proc = flexplan("import", "services", src, "--type", "ggz", "--out", out, "--id-column", "kvk")
    assert proc.returncode == 1
    assert "--id-column 'kvk' is not a column (columns found: naam, clients)" in proc.stderr


def test_csv_lonlat_and_wkt(tmp_path: Path) -> None:
    lonlat = tmp_path / "huisartsen.csv"
    lonlat.write_text("id;naam;lon;lat\nH1;Dokter A;5.3872;52.1552\nH2;Dokter B;5.10;52.09\n")
    import_services(lonlat, tmp_path / "s.gpkg", service_type="huisarts", id_column="id")
    services = load_layer("services", tmp_path / "s.gpkg")
    assert services.geometry.iloc[0].distance(Point(155_000, 463_000)) < 5
    wkt = tmp_path / "wkt.csv"
    wkt.write_text('geometry,naam\n"POINT (155000 463000)",X\n')
    proc = flexplan("import", "services", wkt, "--type", "x", "--out", tmp_path / "w.gpkg")
    assert proc.returncode == 1
    assert "pass --crs EPSG:28992" in proc.stderr
    proc = flexplan(
        "import", "services", wkt, "--type", "x", "--out", tmp_path / "w.gpkg",
        "--crs", "EPSG:28992",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_table_without_locations_and_multilayer_file(tmp_path: Path) -> None:
    table = tmp_path / "lijst.csv"
    table.write_text("naam,adres\nA,Straat 1\n")
    with pytest.raises(LayerError, match="no locations"):
        import_services(table, tmp_path / "s.gpkg", service_type="x")
    multi = points(tmp_path, "m.gpkg")
    gpd.GeoDataFrame(geometry=[Point(X0, Y0)], crs="EPSG:28992").to_file(multi, layer="other")
    with pytest.raises(LayerError, match="choose one with --layer"):
        import_services(multi, tmp_path / "s.gpkg", service_type="x")
    with pytest.raises(LayerError, match=r"output must be a \.gpkg file"):
        import_services(multi, tmp_path / "s.csv", service_type="x", layer="locaties")


def test_rows_without_location_are_dropped_and_counted(tmp_path: Path) -> None:
    csv = tmp_path / "s.csv"
    csv.write_text("naam,lon,lat\nA,5.38,52.15\nB,,\n")
    report = import_services(csv, tmp_path / "s.gpkg", service_type="schuldhulp")
    assert report.dropped == {"no location (empty geometry)": 1}
    assert len(load_layer("services", tmp_path / "s.gpkg")) == 1


@pytest.mark.realdata
@needs_shared
def test_real_ggz_and_vvt_append(tmp_path: Path) -> None:
    src = SHARED / "zorgvoorzieningen_2014_2016.gpkg"
    out = tmp_path / "services.gpkg"
    clients = "aantal_clienten_patienten_in_zorg_behandeling_op_31_december_2014_ggz"
    proc = flexplan(
        "import", "services", src, "--layer", "ggz", "--type", "ggz", "--out", out,
        "--id-column", "kvk", "--capacity-per", f"{clients}:0.02",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "163 of 444 rows have no" in proc.stderr
    proc = flexplan(
        "import", "services", src, "--layer", "vvt", "--type", "vvt", "--out", out,
        "--capacity-per", "fte_2014:0.1",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    services = load_layer("services", out)
    assert services.crs == "EPSG:28992"
    assert services["type"].value_counts().to_dict() == {"vvt": 520, "ggz": 444}
    ggz = services[services["type"] == "ggz"]
    assert ggz["capacity"].notna().sum() == 281
    assert (ggz["capacity"].dropna() >= 0).all()
    assert services["service_id"].is_unique
    assert services.loc[services["type"] == "vvt", "service_id"].iloc[0] == "vvt-1"
