"""Any list of care or support locations -> `services` rows of one type, appended to one file.

A file per source and type is the normal case (a gemeente's wijkteam list, DigiMV GGZ
providers, COA locations), so several runs add to one ``services`` GeoPackage: the existing
rows are read back, the new ones appended and the whole file replaced atomically. Ids must stay
unique across runs, because care assignments are reported by ``service_id``: duplicates within
the input or against the file are refused with their names. Without an id column, ids are
``<type>-<n>`` numbered on from the highest ``<type>-<n>`` already in the file, so a rerun of
another type or a second list of the same type never clashes.

Capacity is in support residents (the contract's unit). ``capacity_column`` takes it as is;
``capacity_per=(FIELD, RATIO)`` derives it as ``floor(FIELD x RATIO)``: RATIO residents per
unit of FIELD, e.g. 0.02 residents per GGZ client in care (2% extra caseload). A row without a
FIELD value keeps an empty capacity, which the planner reads as *unlimited*; the report counts
those rows so the user can decide.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.contract import TARGET_CRS, load_layer, validate_layer
from geodata.importers.common import (
    ImportReport,
    check_output,
    columns_found,
    drop_sentinels,
    find_column,
    list_layers,
    read_file_check,
    read_source,
    summarise_ids,
    to_numbers,
    to_rd,
    write_gpkg_atomic,
)
from geodata.readers import quote
from planner.errors import FlexplanError, LayerError

logger = logging.getLogger(__name__)

#: Name columns tried, in order, when ``name_column`` is not given.
NAME_COLUMNS = ("name", "naam", "naam_locatie", "loc_naam", "organisatie")
SERVICES_LAYER = "services"
_TYPE = re.compile(r"[a-z0-9][a-z0-9_\-]*")
_POLYGONS = ("Polygon", "MultiPolygon")


@dataclass(frozen=True)
class CapacityPer:
    """Capacity = floor(value of ``field`` x ``ratio``)."""

    field: str
    ratio: float

    @classmethod
    def parse(cls, text: str) -> CapacityPer:
        """``'FIELD:RATIO'`` (e.g. ``fte_2014:0.5``); a bad spec is a clear error."""
        field, sep, ratio_text = text.rpartition(":")
        try:
            ratio = float(ratio_text)
        except ValueError:
            ratio = math.nan
        if not sep or not field.strip() or not math.isfinite(ratio) or ratio <= 0:
            raise FlexplanError(
                f"--capacity-per {quote(text)} must be FIELD:RATIO with RATIO > 0, "
                "e.g. fte_2014:0.5 (capacity = floor(fte_2014 x 0.5))"
            )
        return cls(field.strip(), ratio)


def import_services(
    path: Path,
    out: Path,
    *,
    service_type: str,
    layer: str | None = None,
    crs: str | None = None,
    id_column: str | None = None,
    name_column: str | None = None,
    capacity_column: str | None = None,
    capacity_per: CapacityPer | None = None,
) -> ImportReport:
    """Append the locations in ``path`` as services of ``service_type`` to ``out``.

    Parameters
    ----------
    path
        Points (or polygons, taken at a point inside them): GeoPackage, GeoJSON, Shapefile,
        FlatGeobuf, GeoParquet, or CSV with ``lon``/``lat`` or a WKT ``geometry`` (needs ``crs``).
    out
        The services GeoPackage; created, or appended to when it exists.
    service_type
        The ``type`` of every new row (lower-cased), as used in the scenario's ``reach_m``.
    layer, crs
        Layer of a multi-layer file; CRS of a file that declares none.
    id_column, name_column
        Source columns for ``service_id`` and ``name``; without an id column ids are generated.
    capacity_column, capacity_per
        At most one: capacity taken from a column, or derived as floor(FIELD x RATIO).

    Returns
    -------
    ImportReport with the rows appended, the rows dropped (no location) and capacity notes.
    """
    path, out = Path(path), check_output(Path(out))
    if capacity_column is not None and capacity_per is not None:
        raise FlexplanError("use --capacity-column or --capacity-per, not both")
    kind = _type(service_type)
    report = ImportReport(str(path))
    frame = _read_points(path, layer, crs, report)
    existing = _existing(out, report)
    rows = gpd.GeoDataFrame(
        {
            "service_id": _ids(frame, id_column, kind, existing, str(path)),
            "type": kind,
            "capacity": _capacity(frame, capacity_column, capacity_per, report, str(path)),
            "name": _names(frame, name_column, report, str(path)),
            "source": f"{path.name}:{layer}" if layer else path.name,
        },
        geometry=frame.geometry.to_numpy(),
        crs=TARGET_CRS,
    )
    rows = validate_layer("services", rows, source=str(path))
    _refuse_clashes(rows, existing, out)
    combined = rows if existing is None else pd.concat([existing, rows], ignore_index=True)
    combined = validate_layer(
        "services", gpd.GeoDataFrame(combined, crs=TARGET_CRS), source=str(out)
    )
    write_gpkg_atomic(combined, out, layer=SERVICES_LAYER)
    report.wrote(out, SERVICES_LAYER, len(rows))
    report.note(f"{out} now holds {len(combined)} services ({_type_counts(combined)})")
    return report


def _type(text: str) -> str:
    kind = text.strip().lower()
    if not _TYPE.fullmatch(kind):
        raise FlexplanError(
            f"--type {quote(text)} is not a usable type; use letters, digits, '-' or '_' "
            "such as 'ggz' or 'wijkteam' (the key used in the scenario's reach_m)"
        )
    return kind


def _choose_layer(path: Path, layer: str | None) -> str | None:
    """The given layer; else the only layer of a GeoPackage; else an error listing them."""
    read_file_check(path)
    if layer is not None or path.suffix.lower() != ".gpkg":
        return layer
    names = list_layers(path)
    if len(names) == 1:
        return names[0]
    raise LayerError(
        f"{path}: holds several layers ({', '.join(map(quote, names))}); choose one with --layer"
    )


def _read_points(
    path: Path, layer: str | None, crs: str | None, report: ImportReport
) -> gpd.GeoDataFrame:
    """Point rows in EPSG:28992: polygons at a point inside them, rows without location dropped."""
    layer = _choose_layer(path, layer)
    frame = read_source(path, layer=layer, crs=crs, kind=SERVICES_LAYER)
    if not isinstance(frame, gpd.GeoDataFrame):
        raise LayerError(
            f"{path}: no locations; give point geometry, or in a CSV `lon`/`lat` columns or a "
            f"WKT `geometry` column with --crs (columns found: {columns_found(frame)})"
        )
    report.rows_in = len(frame)
    frame = to_rd(frame, str(path))
    missing = frame.geometry.isna() | frame.geometry.is_empty
    report.drop("no location (empty geometry)", int(missing.sum()))
    frame = frame[~missing].reset_index(drop=True)
    polygons = frame.geometry.geom_type.isin(_POLYGONS)
    if polygons.any():
        points = shapely.point_on_surface(frame.geometry[polygons].to_numpy())
        frame.loc[polygons, "geometry"] = points
        report.note(f"{int(polygons.sum())} polygons taken at a point inside them")
    frame = frame.set_geometry(shapely.force_2d(frame.geometry.to_numpy()), crs=TARGET_CRS)
    if frame.empty:
        raise LayerError(f"{path}: no rows with a location to import")
    return frame


def _existing(out: Path, report: ImportReport) -> gpd.GeoDataFrame | None:
    if not out.exists():
        return None
    frame = load_layer(SERVICES_LAYER, out, layer=SERVICES_LAYER)
    report.note(f"appending to {out} ({len(frame)} services already there)")
    return frame


def _column(frame: pd.DataFrame, name: str, option: str, source: str) -> str:
    column = find_column(frame.columns, (name,))
    if column is None:
        raise LayerError(
            f"{source}: {option} {quote(name)} is not a column (columns found: "
            f"{columns_found(frame)})"
        )
    return column


def _ids(
    frame: pd.DataFrame,
    id_column: str | None,
    kind: str,
    existing: pd.DataFrame | None,
    source: str,
) -> list[str | None]:
    """Ids from ``id_column``, or ``<type>-<n>`` continuing after the file's highest n."""
    if id_column is not None:
        column = _column(frame, id_column, "--id-column", source)
        return [_id_text(v) for v in frame[column]]
    taken = set() if existing is None else set(existing["service_id"])
    pattern = re.compile(rf"{re.escape(kind)}-(\d+)")
    numbers = [int(m.group(1)) for i in taken if (m := pattern.fullmatch(str(i)))]
    start = max(numbers, default=0) + 1
    return [f"{kind}-{n}" for n in range(start, start + len(frame))]


def _id_text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value).strip() or None


def _names(
    frame: pd.DataFrame, name_column: str | None, report: ImportReport, source: str
) -> list[str | None]:
    if name_column is not None:
        column = _column(frame, name_column, "--name-column", source)
    else:
        column = find_column(frame.columns, NAME_COLUMNS)
        if column is None:
            report.note(f"no name column (looked for {', '.join(NAME_COLUMNS)}): names empty")
            return [None] * len(frame)
    report.note(f"names from column {column}")
    return [None if pd.isna(v) else str(v).strip() or None for v in frame[column]]


def _capacity(
    frame: pd.DataFrame,
    capacity_column: str | None,
    capacity_per: CapacityPer | None,
    report: ImportReport,
    source: str,
) -> pd.Series:
    """Capacity per row in support residents; NaN (unlimited) where unknown, counted."""
    if capacity_column is None and capacity_per is None:
        report.note("no capacity option: capacity empty (unlimited) for every row")
        return pd.Series(np.nan, index=frame.index)
    name = capacity_column if capacity_column is not None else capacity_per.field  # type: ignore[union-attr]
    option = "--capacity-column" if capacity_column is not None else "--capacity-per"
    column = _column(frame, name, option, source)
    values, sentinels = drop_sentinels(to_numbers(frame[column], column=column, source=source))
    if sentinels:
        report.note(f"{sentinels} CBS-style 'unknown' codes (<= -99990) in {column} set to missing")
    if capacity_per is not None:
        values = np.floor(values * capacity_per.ratio + 1e-9)
        report.note(f"capacity = floor({column} x {capacity_per.ratio:g})")
    else:
        report.note(f"capacity from column {column}")
    unknown = int(values.isna().sum())
    if unknown:
        report.warn(
            f"{unknown} of {len(values)} rows have no {column}: capacity left empty, "
            "which the planner reads as unlimited"
        )
    return values


def _refuse_clashes(rows: pd.DataFrame, existing: pd.DataFrame | None, out: Path) -> None:
    if existing is None:
        return
    clashes = sorted(set(rows["service_id"]) & set(existing["service_id"]))
    if clashes:
        raise LayerError(
            f"{out}: service_id already in the file: {summarise_ids(clashes)}; "
            "use other ids (or another --id-column), or leave --id-column out to generate ids"
        )


def _type_counts(frame: pd.DataFrame) -> str:
    counts = frame["type"].value_counts().sort_index()
    return ", ".join(f"{kind} {n}" for kind, n in counts.items())
