"""CBS wijk- en buurtkaart -> `neighbourhoods` (buurten with dwellings) and `regions` (gemeenten).

Both CBS column schemes are read through one alias map: the older upper-case one (``BU_CODE``,
``GM_CODE``, ``AANT_INW``, ``AANTAL_HH``, ``WATER``) and the current lower-case one
(``buurtcode``, ``gemeentecode``, ``aantal_inwoners``, ``woningvoorraad``, ``water``), plus
StatLine's numbered names (``Woningvoorraad_31``: the number shifts yearly, so any ``_<n>`` is
accepted). CONVENTIONS §1 lists the pitfalls handled here:

- CBS "unknown/secret" codes (-99997, -99999999: any value <= -99990) become missing, counted.
- Water buurten (``water == 'JA'``) and pseudo-areas (codes ending 9997 groot binnenwater and 9998
  buitenwater, Buitenland ``BU09989999``/``GM0998``) hold no homes: dropped and counted.
- Dwelling stock arrives only in later releases; without it the number of households stands in
  (said in the report), and ``dwellings_table`` joins the stock from a CBS table by buurt code.
- A buurt whose dwellings stay unknown is **dropped** (reported with its codes): writing 0 would
  claim the buurt has no homes, and its cap would forbid any flex home there.

Regions are the gemeenten of the imported buurten, with population and dwellings summed over
those buurten; their outline comes from the file's ``gemeenten`` layer when it has one (land
rows, dissolved by code), else from the dissolved buurten. A gemeente-level file (no buurt codes,
e.g. kerncijfers per gemeente) gives regions only.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.contract import TARGET_CRS, validate_layer
from geodata.importers.common import (
    ImportReport,
    as_count,
    columns_found,
    drop_sentinels,
    list_layers,
    read_file_check,
    read_source,
    summarise_ids,
    to_numbers,
    to_rd,
    write_gpkg_atomic,
)
from geodata.readers import quote
from planner.errors import LayerError

logger = logging.getLogger(__name__)

BUURT_CODE = ("buurtcode", "BU_CODE", "buurt_code", "WijkenEnBuurten")
BUURT_NAME = ("buurtnaam", "BU_NAAM", "buurt_naam")
WIJK_CODE = ("wijkcode", "WK_CODE", "wijk_code")
GEMEENTE_CODE = ("gemeentecode", "GM_CODE", "gemeente_code")
GEMEENTE_NAME = ("gemeentenaam", "GM_NAAM", "gemeente_naam", "gm_naam")
WATER = ("water",)
POPULATION = ("aantal_inwoners", "AANT_INW", "AantalInwoners")
HOUSEHOLDS = ("aantal_huishoudens", "AANTAL_HH", "huishoudens", "HuishoudensTotaal")
DWELLINGS = ("woningvoorraad", "WONINGEN", "Woningvoorraad", "dwellings")
YEAR = ("jaarstatcode", "JRSTATCODE", "jaar")

#: Buurt code endings of CBS pseudo-areas.
PSEUDO_ENDINGS = {"9997": "groot binnenwater", "9998": "buitenwater"}
BUITENLAND_BUURT = "BU09989999"
BUITENLAND_GEMEENTE = "GM0998"

NEIGHBOURHOODS_FILE = "neighbourhoods.gpkg"
REGIONS_FILE = "regions.gpkg"

_YEAR_IN_NAME = re.compile(r"(?<!\d)(19[5-9]\d|20\d\d)(?!\d)")
_GEMEENTE = re.compile(r"(?:GM)?0*(\d{1,4})(?:\.0)?", re.IGNORECASE)


@dataclass(frozen=True)
class _Columns:
    """Which source column holds each CBS field (None when absent)."""

    buurt: str | None
    buurt_name: str | None
    wijk: str | None
    gemeente: str | None
    gemeente_name: str | None
    water: str | None
    population: str | None
    households: str | None
    dwellings: str | None
    year: str | None

    @classmethod
    def of(cls, frame: pd.DataFrame) -> _Columns:
        return cls(
            *(
                cbs_column(frame.columns, aliases)
                for aliases in (
                    BUURT_CODE,
                    BUURT_NAME,
                    WIJK_CODE,
                    GEMEENTE_CODE,
                    GEMEENTE_NAME,
                    WATER,
                    POPULATION,
                    HOUSEHOLDS,
                    DWELLINGS,
                    YEAR,
                )
            )
        )


def cbs_column(columns: Sequence[object], aliases: Sequence[str]) -> str | None:
    """The column named like one of ``aliases`` (any case), also with StatLine's ``_<n>``."""
    names = [str(c) for c in columns]
    for alias in aliases:
        pattern = re.compile(rf"{re.escape(alias)}(_\d+)?", re.IGNORECASE)
        exact = [n for n in names if n == alias]
        found = exact or [n for n in names if pattern.fullmatch(n.strip())]
        if found:
            return found[0]
    return None


def normalise_gemeente(value: object) -> str | None:
    """'GM0344', 'gm344', '344', 344 or 344.0 -> 'GM0344'; anything else -> None."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    match = _GEMEENTE.fullmatch(str(value).strip())
    return f"GM{int(match.group(1)):04d}" if match else None


def import_cbs(
    path: Path,
    out_dir: Path,
    *,
    gemeenten: Sequence[str] = (),
    year: int | None = None,
    dwellings_table: Path | None = None,
    layer: str | None = None,
) -> ImportReport:
    """Import a CBS wijk- en buurtkaart into ``out_dir``: neighbourhoods.gpkg and regions.gpkg.

    Parameters
    ----------
    path
        GeoPackage (layers ``buurten``/``gemeenten``), Shapefile or GeoJSON in either scheme.
    out_dir
        Folder for the two GeoPackages (created when missing; files replaced atomically).
    gemeenten
        Keep only these gemeenten (``GM0344`` or ``344``); empty keeps all.
    year
        Label for the ``cbs_year`` column; checked against the file's ``jaarstatcode`` (an
        error when different) or the year in its name (a warning when different).
    dwellings_table
        CSV (or any table) with a buurt code and ``woningvoorraad`` column, joined by code; it
        takes precedence over the file's own dwelling figures.
    layer
        The layer to read when the file has no ``buurten`` layer (e.g. a gemeente-level file).

    Returns
    -------
    ImportReport naming the files written, the rows dropped and why, and how dwellings were found.
    """
    path = Path(path)
    report = ImportReport(str(path))
    main_layer, gemeente_layer = _choose_layers(path, layer)
    frame = _read_polygons(path, main_layer, report)
    report.rows_in = len(frame)
    cols = _Columns.of(frame)
    label = _check_year(frame, cols, path, year, report)
    wanted = _wanted_gemeenten(gemeenten)
    out_dir = Path(out_dir)
    if cols.buurt is None:
        if cols.gemeente is None:
            raise LayerError(
                f"{path}: no buurt or gemeente code column; looked for "
                f"{', '.join(BUURT_CODE + GEMEENTE_CODE)} (columns found: {columns_found(frame)})"
            )
        regions = _gemeente_level(frame, cols, wanted, label, report, str(path))
        _write(report, out_dir / REGIONS_FILE, regions, "regions")
        report.note(f"{path} holds gemeenten, not buurten: wrote regions only, no neighbourhoods")
        return report
    buurten = _buurt_rows(frame, cols, wanted, report, str(path))
    _resolve_dwellings(buurten, cols, dwellings_table, report)
    outlines = _gemeente_outlines(path, gemeente_layer, set(buurten["gemeente_id"]), report)
    regions = _regions_from_buurten(buurten, outlines, label, report)
    neighbourhoods = _neighbourhoods(buurten, label, report, str(path))
    _write(report, out_dir / NEIGHBOURHOODS_FILE, neighbourhoods, "neighbourhoods")
    _write(report, out_dir / REGIONS_FILE, regions, "regions")
    return report


# --- reading -----------------------------------------------------------------------------------


def _choose_layers(path: Path, layer: str | None) -> tuple[str | None, str | None]:
    """(layer to read, gemeenten layer for outlines): ``buurten`` and ``gemeenten`` by name."""
    read_file_check(path)
    if path.suffix.lower() != ".gpkg":
        return layer, None
    names = list_layers(path)
    gemeente_layer = "gemeenten" if "gemeenten" in names else None
    if layer is not None:
        if layer not in names:
            raise LayerError(
                f"{path}: no layer {quote(layer)}; layers in this file: "
                f"{', '.join(map(quote, names))}; choose one with --layer"
            )
        return layer, gemeente_layer if layer != "gemeenten" else None
    if "buurten" in names:
        return "buurten", gemeente_layer
    if len(names) == 1:
        return names[0], None
    raise LayerError(
        f"{path}: holds layers {', '.join(map(quote, names))} and none is named 'buurten'; "
        "choose one with --layer"
    )


def _read_polygons(path: Path, layer: str | None, report: ImportReport) -> gpd.GeoDataFrame:
    frame = read_source(path, layer=layer, kind="buurten")
    if not isinstance(frame, gpd.GeoDataFrame):
        raise LayerError(
            f"{path}: no geometry; a wijk- en buurtkaart has buurt polygons "
            "(a table of figures goes in --dwellings-table)"
        )
    if layer:
        report.note(f"read layer {quote(layer)}: {len(frame)} rows")
    return to_rd(frame, str(path))


def _check_year(
    frame: pd.DataFrame, cols: _Columns, path: Path, year: int | None, report: ImportReport
) -> int | None:
    """The year label: ``year`` when given (checked), else what the file says, else None."""
    found: int | None = None
    if cols.year is not None:
        years = {str(v).strip()[:4] for v in frame[cols.year].dropna()}
        years = {y for y in years if y.isdigit()}
        if len(years) == 1:
            found = int(years.pop())
            if year is not None and year != found:
                raise LayerError(
                    f"{path}: --year {year} but column {cols.year} says {found}; "
                    f"use --year {found} or import the {year} file"
                )
    if found is None:
        match = _YEAR_IN_NAME.search(path.stem)
        if match:
            found = int(match.group(1))
            if year is not None and year != found:
                report.warn(f"--year {year} but the file name says {found}; labelled {year}")
    label = year if year is not None else found
    report.note(f"CBS year: {label if label is not None else 'unknown (not in file or name)'}")
    return label


def _wanted_gemeenten(values: Sequence[str]) -> list[str]:
    codes: list[str] = []
    for value in values:
        code = normalise_gemeente(value)
        if code is None:
            raise LayerError(
                f"--gemeente {quote(value)} is not a gemeente code; write it like GM0344 or 344"
            )
        if code not in codes:
            codes.append(code)
    return codes


def _codes(values: pd.Series) -> pd.Series:
    return values.astype(object).map(lambda v: None if pd.isna(v) else str(v).strip().upper())


def _numbers(
    frame: pd.DataFrame, column: str | None, source: str, sentinels: dict[str, int]
) -> pd.Series:
    """A CBS figure as float64 with sentinels set to missing (counted in ``sentinels``)."""
    if column is None:
        return pd.Series(np.nan, index=frame.index, dtype="float64")
    values = to_numbers(frame[column], column=column, source=source)
    values, count = drop_sentinels(values)
    if count:
        sentinels[column] = count
    return values


def _note_sentinels(sentinels: dict[str, int], report: ImportReport) -> None:
    if sentinels:
        detail = ", ".join(f"{column} {n}" for column, n in sentinels.items())
        report.note(
            f"{sum(sentinels.values())} CBS 'unknown' codes (<= -99990) set to missing: {detail}"
        )
    else:
        report.note("no CBS 'unknown' codes (<= -99990) in the figures used")


# --- filtering ---------------------------------------------------------------------------------


def _filter_gemeenten(
    frame: pd.DataFrame, wanted: list[str], report: ImportReport, source: str
) -> pd.DataFrame:
    if not wanted:
        return frame
    present = set(frame["gemeente_id"].dropna())
    absent = [code for code in wanted if code not in present]
    if absent:
        raise LayerError(
            f"{source}: no rows for --gemeente {', '.join(absent)}; the file holds "
            f"{len(present)} gemeenten (e.g. {summarise_ids(sorted(present), 3)})"
        )
    keep = frame["gemeente_id"].isin(wanted)
    report.drop("outside the --gemeente selection", int((~keep).sum()))
    return frame[keep]


def _drop_non_land(frame: pd.DataFrame, water: pd.Series | None, report: ImportReport) -> pd.Series:
    """Mask of rows that can hold homes; water and pseudo-areas are counted by reason."""
    code = frame["code"].fillna("")
    buitenland = (code == BUITENLAND_BUURT) | (frame["gemeente_id"] == BUITENLAND_GEMEENTE)
    keep = ~buitenland
    report.drop("pseudo-area Buitenland (BU09989999 / GM0998)", int(buitenland.sum()))
    if code.str.startswith("BU").any():
        for ending, what in PSEUDO_ENDINGS.items():
            hit = keep & code.str.endswith(ending)
            report.drop(f"pseudo-area {what} (buurt code ending {ending})", int(hit.sum()))
            keep &= ~hit
    if water is not None:
        wet = keep & (water.astype(object).map(lambda v: str(v).strip().upper()) == "JA")
        report.drop("water buurt (water = JA)", int(wet.sum()))
        keep &= ~wet
    return keep


def _buurt_rows(
    frame: gpd.GeoDataFrame,
    cols: _Columns,
    wanted: list[str],
    report: ImportReport,
    source: str,
) -> gpd.GeoDataFrame:
    """The land buurten of the selected gemeenten in a fixed shape, sentinels set to missing."""
    assert cols.buurt is not None
    rows = gpd.GeoDataFrame(
        {"code": _codes(frame[cols.buurt])}, geometry=frame.geometry, crs=TARGET_CRS
    )
    if cols.gemeente is not None:
        rows["gemeente_id"] = frame[cols.gemeente].map(normalise_gemeente)
    else:
        rows["gemeente_id"] = rows["code"].map(lambda c: f"GM{c[2:6]}" if c else None)
        report.note("no gemeente code column: gemeente taken from the buurt code")
    rows = _filter_gemeenten(rows, wanted, report, source)
    water = frame.loc[rows.index, cols.water] if cols.water else None
    rows = rows[_drop_non_land(rows, water, report)].copy()
    src = frame.loc[rows.index]
    rows["name"] = src[cols.buurt_name] if cols.buurt_name else None
    rows["wijk_id"] = _codes(src[cols.wijk]) if cols.wijk else None
    rows["gemeente_name"] = src[cols.gemeente_name] if cols.gemeente_name else None
    sentinels: dict[str, int] = {}
    rows["population"] = _numbers(src, cols.population, source, sentinels)
    rows["households"] = _numbers(src, cols.households, source, sentinels)
    rows["dwellings_file"] = _numbers(src, cols.dwellings, source, sentinels)
    _note_sentinels(sentinels, report)
    if rows.empty:
        raise LayerError(f"{source}: no land buurten left to import after filtering")
    return rows


# --- dwellings ---------------------------------------------------------------------------------


def _resolve_dwellings(
    rows: gpd.GeoDataFrame, cols: _Columns, table: Path | None, report: ImportReport
) -> None:
    """Fill ``dwellings`` and ``dwellings_source``: table, file's stock, then households."""
    rows["dwellings"] = np.nan
    rows["dwellings_source"] = None
    if table is not None:
        joined = _join_table(rows, Path(table), report)
        _take(rows, joined, "table")
    if cols.dwellings is not None:
        _take(rows, rows["dwellings_file"], cols.dwellings)
    else:
        report.note(
            f"no dwelling-stock column (looked for {', '.join(DWELLINGS)}): households "
            "used as a proxy where nothing else is known"
        )
    proxied = _take(rows, rows["households"], cols.households or "households")
    if proxied:
        report.note(
            f"households ({cols.households}) used as a proxy for dwellings in {proxied} buurten"
        )


def _take(rows: pd.DataFrame, values: pd.Series, label: str) -> int:
    """Fill still-missing dwellings from ``values``; returns how many were filled."""
    fill = rows["dwellings"].isna() & values.notna()
    rows.loc[fill, "dwellings"] = values[fill]
    rows.loc[fill, "dwellings_source"] = label
    return int(fill.sum())


def _join_table(rows: pd.DataFrame, path: Path, report: ImportReport) -> pd.Series:
    """Dwelling stock per buurt from a table, by buurt code; match figures go in the report."""
    table = read_source(path, kind="dwellings table")
    table = pd.DataFrame(table.drop(columns="geometry", errors="ignore"))
    code_col = cbs_column(table.columns, BUURT_CODE)
    stock_col = cbs_column(table.columns, DWELLINGS)
    if code_col is None or stock_col is None:
        raise LayerError(
            f"{path}: a dwellings table needs a buurt code column ({', '.join(BUURT_CODE)}) and "
            f"a dwellings column ({', '.join(DWELLINGS)}); columns found: {columns_found(table)}"
        )
    codes = _codes(table[code_col])
    duplicated = sorted(set(codes[codes.duplicated() & codes.notna()]))
    if duplicated:
        raise LayerError(
            f"{path}: buurt codes appear more than once: {summarise_ids(duplicated)}; "
            "keep one row per buurt"
        )
    stock, sentinels = drop_sentinels(
        to_numbers(table[stock_col], column=stock_col, source=str(path))
    )
    by_code = pd.Series(stock.to_numpy(), index=codes.to_numpy())
    joined = rows["code"].map(by_code).astype("float64")
    matched = int(rows["code"].isin(by_code.index).sum())
    unused = len(set(by_code.index) - set(rows["code"]))
    report.note(
        f"dwellings table {path.name}: {matched} of {len(rows)} buurten matched by buurt code, "
        f"{len(rows) - matched} unmatched; {unused} of {len(by_code)} table codes not in the import"
        + (f"; {sentinels} CBS 'unknown' codes in {stock_col} set to missing" if sentinels else "")
    )
    return joined


# --- outputs -----------------------------------------------------------------------------------


def _neighbourhoods(
    rows: gpd.GeoDataFrame, label: int | None, report: ImportReport, source: str
) -> gpd.GeoDataFrame:
    unknown = rows["dwellings"].isna()
    if unknown.any():
        codes = list(rows.loc[unknown, "code"])
        report.drop("dwellings unknown (no stock, households or table value)", len(codes))
        report.warn(
            f"{len(codes)} buurten dropped because their dwellings are unknown "
            f"({summarise_ids(codes)}); plots there get no buurt cap. "
            "Pass --dwellings-table to fill them"
        )
    kept = rows[~unknown]
    if kept.empty:
        raise LayerError(
            f"{source}: no buurt has a known number of dwellings or households; "
            "pass --dwellings-table with woningvoorraad per buurt code"
        )
    frame = gpd.GeoDataFrame(
        {
            "buurt_id": kept["code"],
            "dwellings": as_count(kept["dwellings"]),
            "population": as_count(kept["population"]),
            "gemeente_id": kept["gemeente_id"],
            "name": kept["name"],
            "wijk_id": kept["wijk_id"],
            "households": as_count(kept["households"]),
            "dwellings_source": kept["dwellings_source"],
            "cbs_year": pd.array([label] * len(kept), dtype="Int64"),
        },
        geometry=kept.geometry,
        crs=TARGET_CRS,
    ).reset_index(drop=True)
    validate_layer("neighbourhoods", frame, source=f"{source} (neighbourhoods)")
    return frame


def _gemeente_outlines(
    path: Path, layer: str | None, codes: set[str], report: ImportReport
) -> gpd.GeoDataFrame | None:
    """Land outlines of the wanted gemeenten from the file's ``gemeenten`` layer, by code."""
    if layer is None:
        return None
    frame = to_rd(read_source(path, layer=layer, kind="gemeenten"), str(path))
    code_col = cbs_column(frame.columns, GEMEENTE_CODE)
    if code_col is None:
        report.warn(f"layer {quote(layer)} has no gemeente code: outlines from the buurten")
        return None
    water_col = cbs_column(frame.columns, WATER)
    if water_col is not None:
        frame = frame[frame[water_col].astype(object).map(lambda v: str(v).upper()) == "NEE"]
    frame = frame.assign(region_id=frame[code_col].map(normalise_gemeente))
    frame = frame[frame["region_id"].isin(codes)]
    name_col = cbs_column(frame.columns, GEMEENTE_NAME)
    frame = frame.assign(name=frame[name_col] if name_col else None)
    return frame[["region_id", "name", "geometry"]].dissolve(by="region_id", as_index=False)


def _regions_from_buurten(
    rows: gpd.GeoDataFrame,
    outlines: gpd.GeoDataFrame | None,
    label: int | None,
    report: ImportReport,
) -> gpd.GeoDataFrame:
    """Gemeenten with population and dwellings summed over their imported buurten."""
    grouped = rows.groupby("gemeente_id", sort=True)
    totals = pd.DataFrame(
        {
            "name": grouped["gemeente_name"].first(),
            "population": grouped["population"].sum(min_count=1),
            "dwellings": grouped["dwellings"].sum(min_count=1),
            "buurten": grouped["dwellings"].count(),
        }
    )
    shapes = _region_shapes(rows, outlines, report)
    if outlines is not None:
        names = outlines.set_index("region_id")["name"]
        totals["name"] = totals["name"].fillna(names.reindex(totals.index))
    frame = gpd.GeoDataFrame(
        {
            "region_id": totals.index.to_numpy(),
            "name": totals["name"].to_numpy(),
            "population": as_count(totals["population"]).to_numpy(),
            "dwellings": as_count(totals["dwellings"]).to_numpy(),
            "buurten": totals["buurten"].to_numpy(),
            "cbs_year": pd.array([label] * len(totals), dtype="Int64"),
        },
        geometry=[shapes[code] for code in totals.index],
        crs=TARGET_CRS,
    )
    validate_layer("regions", frame, source=f"{report.source} (regions)")
    return frame


def _region_shapes(
    rows: gpd.GeoDataFrame, outlines: gpd.GeoDataFrame | None, report: ImportReport
) -> dict[str, shapely.Geometry]:
    shapes: dict[str, shapely.Geometry] = {}
    if outlines is not None:
        shapes = dict(zip(outlines["region_id"], outlines.geometry, strict=True))
    missing = sorted(set(rows["gemeente_id"]) - set(shapes))
    for code in missing:
        parts = rows.loc[rows["gemeente_id"] == code].geometry.to_numpy()
        shapes[code] = shapely.union_all(shapely.make_valid(parts, method="structure"))
    if outlines is not None:
        report.note(
            f"region outlines: {len(shapes) - len(missing)} from the gemeenten layer, "
            f"{len(missing)} dissolved from buurten"
        )
    else:
        report.note(f"region outlines: {len(missing)} dissolved from buurten")
    return shapes


def _gemeente_level(
    frame: gpd.GeoDataFrame,
    cols: _Columns,
    wanted: list[str],
    label: int | None,
    report: ImportReport,
    source: str,
) -> gpd.GeoDataFrame:
    """Regions straight from a gemeente-level file (one or more rows per gemeentecode)."""
    assert cols.gemeente is not None
    rows = gpd.GeoDataFrame(
        {"gemeente_id": frame[cols.gemeente].map(normalise_gemeente)},
        geometry=frame.geometry,
        crs=TARGET_CRS,
    )
    rows["code"] = rows["gemeente_id"]
    rows = _filter_gemeenten(rows, wanted, report, source)
    water = frame.loc[rows.index, cols.water] if cols.water else None
    rows = rows[_drop_non_land(rows, water, report)].copy()
    src = frame.loc[rows.index]
    sentinels: dict[str, int] = {}
    rows["name"] = src[cols.gemeente_name] if cols.gemeente_name else None
    rows["population"] = _numbers(src, cols.population, source, sentinels)
    households = _numbers(src, cols.households, source, sentinels)
    dwellings = _numbers(src, cols.dwellings, source, sentinels)
    _note_sentinels(sentinels, report)
    proxied = dwellings.isna() & households.notna()
    if proxied.any():
        report.note(f"households used as a proxy for dwellings in {int(proxied.sum())} gemeenten")
    rows["dwellings"] = dwellings.fillna(households)
    grouped = rows.dissolve(
        by="gemeente_id",
        aggfunc={"name": "first", "population": _sum_known, "dwellings": _sum_known},
        as_index=False,
    )
    result = gpd.GeoDataFrame(
        {
            "region_id": grouped["gemeente_id"],
            "name": grouped["name"],
            "population": as_count(grouped["population"]),
            "dwellings": as_count(grouped["dwellings"]),
            "cbs_year": pd.array([label] * len(grouped), dtype="Int64"),
        },
        geometry=grouped.geometry,
        crs=TARGET_CRS,
    )
    validate_layer("regions", result, source=f"{source} (regions)")
    return result


def _sum_known(values: pd.Series) -> float:
    """Sum that stays missing when every value is missing (0 would claim an empty region)."""
    return float(values.sum(min_count=1))


def _write(report: ImportReport, path: Path, frame: gpd.GeoDataFrame, layer: str) -> None:
    write_gpkg_atomic(frame, path, layer=layer)
    report.wrote(path, layer, len(frame))
