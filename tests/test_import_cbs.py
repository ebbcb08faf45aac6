"""`flexplan import cbs`: both CBS column schemes, sentinels, pseudo-areas, filters and the join."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from geodata.contract import load_layer
from geodata.importers.cbs import import_cbs, normalise_gemeente
from planner.errors import LayerError
from tests.test_cli import flexplan

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason="../shared/data not present (fresh clone)"
)
UTRECHT_2015 = [
    "GM0307",
    "GM0308",
    "GM0310",
    "GM0312",
    "GM0313",
    "GM0317",
    "GM0321",
    "GM0327",
    "GM0331",
    "GM0335",
    "GM0339",
    "GM0340",
    "GM0342",
    "GM0344",
    "GM0345",
    "GM0351",
    "GM0352",
    "GM0353",
    "GM0355",
    "GM0356",
    "GM0589",
    "GM0620",
    "GM0632",
    "GM0736",
    "GM1581",
    "GM1904",
]
X0, Y0 = 155_000.0, 463_000.0


def _cell(i: int) -> object:
    return box(X0 + 1000 * i, Y0, X0 + 1000 * i + 900, Y0 + 900)


def old_scheme(tmp_path: Path) -> Path:
    """Upper-case 2015-style file: buurten + gemeenten layers, no dwelling-stock column."""
    buurten = gpd.GeoDataFrame(
        {
            "BU_CODE": ["BU03440001", "BU03440002", "BU03449997", "BU02280001", "BU09989999"],
            "BU_NAAM": ["Centrum", "Oost", "Binnenwater", "Ede-Zuid", "Buitenland"],
            "WK_CODE": ["WK034400", "WK034400", "WK034499", "WK022800", "WK099899"],
            "GM_CODE": ["GM0344", "GM0344", "GM0344", "GM0228", "GM0998"],
            "GM_NAAM": ["Utrecht", "Utrecht", "Utrecht", "Ede", "Buitenland"],
            "AANT_INW": [1000, -99999999, 0, 500, 0],
            "AANTAL_HH": [600, 300, 0, 250, 0],
        },
        geometry=[_cell(i) for i in range(5)],
        crs="EPSG:28992",
    )
    gemeenten = gpd.GeoDataFrame(
        {"GM_CODE": ["GM0344", "GM0228"], "GM_NAAM": ["Utrecht", "Ede"]},
        geometry=[box(X0, Y0, X0 + 2900, Y0 + 900), _cell(3)],
        crs="EPSG:28992",
    )
    path = tmp_path / "wijkbuurtkaart_2015.gpkg"
    buurten.to_file(path, layer="buurten")
    gemeenten.to_file(path, layer="gemeenten")
    return path


def new_scheme(tmp_path: Path) -> Path:
    """Lower-case 2021-style GeoJSON in WGS84 with water flag and -99997 codes."""
    frame = gpd.GeoDataFrame(
        {
            "buurtcode": ["BU02330000", "BU02330001", "BU02330002", "BU02330003", "BU02339998"],
            "buurtnaam": ["Ermelo", "Oost", "West", "Meer", "Buitenwater"],
            "gemeentecode": ["GM0233"] * 5,
            "gemeentenaam": ["Ermelo"] * 5,
            "water": ["NEE", "NEE", "NEE", "JA", "JA"],
            "aantal_inwoners": [2000.0, 800.0, -99997.0, 0.0, 0.0],
            "aantal_huishoudens": [900.0, 350.0, -99997.0, 0.0, 0.0],
            "woningvoorraad": [950.0, -99997.0, np.nan, 0.0, 0.0],
            "jaarstatcode": [f"2021BU0233000{i}" for i in range(5)],
        },
        geometry=[_cell(i) for i in range(5)],
        crs="EPSG:28992",
    ).to_crs("EPSG:4326")
    path = tmp_path / "buurten.geojson"
    frame.to_file(path, driver="GeoJSON")
    return path


def test_old_scheme_households_proxy_sentinels_and_pseudo_areas(tmp_path: Path) -> None:
    src = old_scheme(tmp_path)
    proc = flexplan("import", "cbs", src, "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    buurten = load_layer("neighbourhoods", tmp_path / "out" / "neighbourhoods.gpkg")
    assert buurten.crs == "EPSG:28992"
    assert list(buurten["buurt_id"]) == ["BU03440001", "BU03440002", "BU02280001"]
    assert list(buurten["dwellings"]) == [600, 300, 250]
    assert list(buurten["dwellings_source"]) == ["AANTAL_HH"] * 3
    assert buurten["population"].isna().tolist() == [False, True, False]
    assert list(buurten["gemeente_id"]) == ["GM0344", "GM0344", "GM0228"]
    regions = load_layer("regions", tmp_path / "out" / "regions.gpkg")
    by_id = regions.set_index("region_id")
    assert by_id.loc["GM0344", "population"] == 1000
    assert by_id.loc["GM0344", "dwellings"] == 900
    assert by_id.loc["GM0344", "name"] == "Utrecht"
    assert by_id.loc["GM0344", "cbs_year"] == 2015
    assert by_id.loc["GM0344"].geometry.area == pytest.approx(2900 * 900)
    assert "GM0998" not in by_id.index
    assert "1 pseudo-area Buitenland" in proc.stdout
    assert "1 pseudo-area groot binnenwater (buurt code ending 9997)" in proc.stdout
    assert "1 CBS 'unknown' codes (<= -99990) set to missing: AANT_INW 1" in proc.stdout
    assert "households (AANTAL_HH) used as a proxy for dwellings in 3 buurten" in proc.stdout


def test_new_scheme_water_sentinels_fallback_and_drop(tmp_path: Path) -> None:
    report = import_cbs(new_scheme(tmp_path), tmp_path / "out", year=2021)
    buurten = load_layer("neighbourhoods", tmp_path / "out" / "neighbourhoods.gpkg")
    # BU...0002 has no stock, no households: dropped, not written as 0.
    assert list(buurten["buurt_id"]) == ["BU02330000", "BU02330001"]
    assert list(buurten["dwellings"]) == [950, 350]
    assert list(buurten["dwellings_source"]) == ["woningvoorraad", "aantal_huishoudens"]
    assert report.dropped["water buurt (water = JA)"] == 1
    assert report.dropped["pseudo-area buitenwater (buurt code ending 9998)"] == 1
    assert report.dropped["dwellings unknown (no stock, households or table value)"] == 1
    assert any("BU02330002" in w for w in report.warnings)
    assert any("3 CBS 'unknown' codes" in n for n in report.notes)  # in kept rows
    numbers = buurten[["dwellings", "population", "households"]].to_numpy(dtype=float)
    assert not (numbers <= -99990).any()


def test_gemeente_filter_accepts_both_spellings(tmp_path: Path) -> None:
    src = old_scheme(tmp_path)
    proc = flexplan("import", "cbs", src, "--out", tmp_path / "o", "--gemeente", "344")
    assert proc.returncode == 0, proc.stderr
    buurten = load_layer("neighbourhoods", tmp_path / "o" / "neighbourhoods.gpkg")
    assert set(buurten["gemeente_id"]) == {"GM0344"}
    regions = load_layer("regions", tmp_path / "o" / "regions.gpkg")
    assert list(regions["region_id"]) == ["GM0344"]
    assert normalise_gemeente("gm228") == normalise_gemeente(228.0) == "GM0228"
    assert normalise_gemeente("GMX") is None


def test_unknown_gemeente_is_one_clear_error(tmp_path: Path) -> None:
    proc = flexplan(
        "import", "cbs", old_scheme(tmp_path), "--out", tmp_path / "o", "--gemeente", "GM0999"
    )
    assert proc.returncode == 1
    assert "no rows for --gemeente GM0999" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_dwellings_table_join_reports_matches(tmp_path: Path) -> None:
    table = tmp_path / "kwb.csv"
    table.write_text("buurt_code,woningvoorraad\nBU03440001,640\nBU01230000,10\n")
    report = import_cbs(old_scheme(tmp_path), tmp_path / "out", dwellings_table=table)
    buurten = load_layer("neighbourhoods", tmp_path / "out" / "neighbourhoods.gpkg")
    assert list(buurten["dwellings"]) == [640, 300, 250]
    assert list(buurten["dwellings_source"]) == ["table", "AANTAL_HH", "AANTAL_HH"]
    assert any("1 of 3 buurten matched by buurt code, 2 unmatched" in n for n in report.notes)
    assert any("1 of 2 table codes not in the import" in n for n in report.notes)


def test_dwellings_table_without_needed_columns(tmp_path: Path) -> None:
    table = tmp_path / "kwb.csv"
    table.write_text("code,huizen\nBU03440001,640\n")
    with pytest.raises(LayerError, match="needs a buurt code column"):
        import_cbs(old_scheme(tmp_path), tmp_path / "out", dwellings_table=table)


def test_year_mismatch_with_jaarstatcode_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LayerError, match="--year 2020 but column jaarstatcode says 2021"):
        import_cbs(new_scheme(tmp_path), tmp_path / "out", year=2020)


def test_gemeente_level_file_gives_regions_only(tmp_path: Path) -> None:
    path = tmp_path / "gemeenten_2022.gpkg"
    gpd.GeoDataFrame(
        {
            "gemeentecode": ["GM0344", "GM0228"],
            "gemeentenaam": ["Utrecht", "Ede"],
            "aantal_inwoners": [361_924.0, 118_000.0],
            "huishoudens": [180_000.0, 50_000.0],
            "woningvoorraad": [160_000.0, -99997.0],
        },
        geometry=[_cell(0), _cell(1)],
        crs="EPSG:28992",
    ).to_file(path, layer="gemeenten_2022")
    report = import_cbs(path, tmp_path / "out")
    assert not (tmp_path / "out" / "neighbourhoods.gpkg").exists()
    regions = load_layer("regions", tmp_path / "out" / "regions.gpkg").set_index("region_id")
    assert regions.loc["GM0344", "dwellings"] == 160_000
    assert regions.loc["GM0228", "dwellings"] == 50_000  # households proxy for the sentinel
    assert regions.loc["GM0344", "cbs_year"] == 2022  # from the file name
    assert any("proxy for dwellings in 1 gemeenten" in n for n in report.notes)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p / "missing.gpkg", "file not found"),
        (lambda p: (p / "x.xlsx").write_text("x") and p / "x.xlsx", "unsupported file type"),
    ],
)
def test_unreadable_files_give_one_line(tmp_path: Path, make: object, expected: str) -> None:
    src = make(tmp_path)  # type: ignore[operator]
    proc = flexplan("import", "cbs", src, "--out", tmp_path / "o")
    assert proc.returncode == 1
    assert expected in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_file_without_codes_names_the_columns_looked_for(tmp_path: Path) -> None:
    path = tmp_path / "x.geojson"
    gpd.GeoDataFrame({"naam": ["a"]}, geometry=[_cell(0)], crs="EPSG:28992").to_file(path)
    proc = flexplan("import", "cbs", path, "--out", tmp_path / "o")
    assert proc.returncode == 1
    assert "no buurt or gemeente code column; looked for buurtcode, BU_CODE" in proc.stderr


# --- real data ---------------------------------------------------------------------------------


@pytest.mark.realdata
@needs_shared
def test_real_2015_ede(tmp_path: Path) -> None:
    src = SHARED / "cbs_wijkbuurtkaart_2015.gpkg"
    proc = flexplan("import", "cbs", src, "--out", tmp_path, "--gemeente", "GM0228")
    assert proc.returncode == 0, proc.stderr
    buurten = load_layer("neighbourhoods", tmp_path / "neighbourhoods.gpkg")
    regions = load_layer("regions", tmp_path / "regions.gpkg")
    assert len(buurten) == 71
    assert buurten.crs == regions.crs == "EPSG:28992"
    assert list(regions["region_id"]) == ["GM0228"]
    assert regions["population"].iloc[0] == buurten["population"].sum() == 111_450
    assert 40_000 < buurten["dwellings"].sum() < 55_000  # households proxy, Ede ~46,500
    assert "households (AANTAL_HH) used as a proxy for dwellings in 71 buurten" in proc.stdout


@pytest.mark.realdata
@needs_shared
def test_real_utrecht_with_dwellings_table(tmp_path: Path) -> None:
    report = import_cbs(
        SHARED / "cbs_wijkbuurtkaart_2015.gpkg",
        tmp_path,
        gemeenten=UTRECHT_2015,
        dwellings_table=SHARED / "buurtkenmerken_provincie_utrecht_kwb2020.csv",
    )
    buurten = load_layer("neighbourhoods", tmp_path / "neighbourhoods.gpkg")
    regions = load_layer("regions", tmp_path / "regions.gpkg")
    assert len(buurten) == 855
    assert len(regions) == 26
    assert (buurten["dwellings_source"] == "table").sum() == 728
    assert (buurten["dwellings_source"] == "AANTAL_HH").sum() == 127
    assert any("728 of 855 buurten matched" in n for n in report.notes)
    assert regions["dwellings"].sum() == buurten["dwellings"].sum()
    assert 500_000 < buurten["dwellings"].sum() < 650_000
    assert regions.set_index("region_id").loc["GM0344", "name"] == "Utrecht"


@pytest.mark.realdata
@needs_shared
def test_real_2015_national_has_no_sentinels(tmp_path: Path) -> None:
    import_cbs(SHARED / "cbs_wijkbuurtkaart_2015.gpkg", tmp_path)
    buurten = load_layer("neighbourhoods", tmp_path / "neighbourhoods.gpkg")
    regions = load_layer("regions", tmp_path / "regions.gpkg")
    assert len(buurten) == 11_709  # SOURCES.md: 11709 buurten, water already removed
    assert len(regions) == 379  # gemeenten with buurten (Twente left out)
    for frame in (buurten, regions):
        numbers = frame.select_dtypes("number").to_numpy(dtype=float)
        assert not (numbers <= -99990).any()
    assert not buurten["buurt_id"].str.endswith(("9997", "9998")).any()


@pytest.mark.realdata
@needs_shared
def test_real_ermelo_2021_needs_a_dwellings_table(tmp_path: Path) -> None:
    src = SHARED / "cbs_buurten_2021_ermelo.gpkg"
    proc = flexplan("import", "cbs", src, "--out", tmp_path / "a")
    assert proc.returncode == 1
    assert "pass --dwellings-table" in proc.stderr
    codes = gpd.read_file(src, columns=["buurtcode"], read_geometry=False)["buurtcode"]
    table = tmp_path / "ermelo.csv"
    pd.DataFrame({"buurtcode": codes, "woningvoorraad": 100}).to_csv(table, index=False)
    report = import_cbs(src, tmp_path / "b", dwellings_table=table, year=2021)
    buurten = load_layer("neighbourhoods", tmp_path / "b" / "neighbourhoods.gpkg")
    assert len(buurten) == 16  # 17 rows minus the 9997 water buurt
    assert report.rows_dropped == 1
    assert set(buurten["cbs_year"]) == {2021}


@pytest.mark.realdata
@needs_shared
def test_real_gemeenten_2022(tmp_path: Path) -> None:
    import_cbs(SHARED / "gemeenten_2022_cbs_kerncijfers.gpkg", tmp_path)
    regions = load_layer("regions", tmp_path / "regions.gpkg")
    assert len(regions) == 345
    assert 7_500_000 < regions["dwellings"].sum() < 8_500_000  # woningvoorraad 2022 ~8.0 M
    assert regions.crs == "EPSG:28992"
