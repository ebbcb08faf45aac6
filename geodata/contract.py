"""The data contract: which columns and geometry each layer must have, checked row by row.

`validate_layer` turns whatever a reader produced into the frame the planner relies on: known
columns present with fixed types (ids and text as plain ``str``/``None``, numbers as float64 with
NaN for empty), geometry of the right type in EPSG:28992, index 0..n-1. Every broken row is
collected and reported in one `LayerError` (row numbers are 1-based as in the file, with the id
when there is one), so a user fixes a whole file in one pass. Invalid polygons are repaired with
``make_valid(method="structure")`` and logged, because self-intersections from digitising are
common and the repair keeps shells and holes (CONVENTIONS §4). The user-facing version of this
contract is docs/data-contract.md; keep both in step.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon, Polygon

from geodata.kinds import LAYER_KINDS
from geodata.readers import quote, raise_problems, read_file
from planner.errors import LayerError

logger = logging.getLogger(__name__)


#: The CRS of every validated layer: RD New, metres (CONVENTIONS §1).
TARGET_CRS = "EPSG:28992"

#: Rough RD New extent of the Netherlands (m); geometry outside it is logged, not rejected.
NL_BOUNDS_RD = (-7_000.0, 289_000.0, 300_000.0, 629_000.0)

#: CBS marks unknown or secret figures with large negatives (-99997, -99999999).
_CBS_MISSING_BELOW = -99_990

ColumnKind = Literal["id", "text", "number", "year"]
GeometryKind = Literal["polygon", "point", "optional_polygon", "none"]


@dataclass(frozen=True)
class Column:
    """One contract column: its type, whether it is required, and its allowed minimum."""

    name: str
    kind: ColumnKind
    required: bool = False
    minimum: float | None = None
    default: str | None = None
    empty_hint: str = "fill it in"


@dataclass(frozen=True)
class LayerSpec:
    """The contract of one layer kind."""

    kind: str
    noun: str
    geometry: GeometryKind
    columns: tuple[Column, ...]
    id_column: str | None = None
    unique_id: bool = True

    def column(self, name: str) -> Column:
        """The column called ``name``."""
        return next(c for c in self.columns if c.name == name)


def _num(name: str, minimum: float | None = 0.0, **kw: Any) -> Column:
    return Column(name, "number", minimum=minimum, **kw)


LAYER_SPECS: dict[str, LayerSpec] = {
    "plots": LayerSpec(
        "plots",
        "plot",
        "polygon",
        (
            Column("plot_id", "id", required=True),
            _num("capacity"),
            _num("min_homes", 1.0),
            _num("fixed_cost"),
            _num("cost_per_home"),
            Column("available_from", "year"),
            Column("available_until", "year"),
            _num("fixed_homes"),
            Column("proposer", "text"),
            Column("group", "text"),
            Column("name", "text"),
        ),
        id_column="plot_id",
    ),
    "services": LayerSpec(
        "services",
        "service",
        "point",
        (
            Column("service_id", "id", required=True),
            Column("type", "text", required=True, empty_hint="give a type such as 'huisarts'"),
            _num("capacity"),
            Column("name", "text"),
            Column("open_from", "year"),
            Column("open_until", "year"),
        ),
        id_column="service_id",
    ),
    "service_areas": LayerSpec(
        "service_areas",
        "service area",
        "polygon",
        (Column("service_id", "id", required=True),),
        id_column="service_id",
        unique_id=False,
    ),
    "exclusions": LayerSpec(
        "exclusions",
        "exclusion",
        "polygon",
        (Column("reason", "text", default="excluded area"),),
    ),
    "neighbourhoods": LayerSpec(
        "neighbourhoods",
        "buurt",
        "polygon",
        (
            Column("buurt_id", "id", required=True),
            _num("dwellings", required=True, empty_hint="fill in the number of existing dwellings"),
            _num("population"),
            Column("gemeente_id", "text"),
            Column("name", "text"),
        ),
        id_column="buurt_id",
    ),
    "regions": LayerSpec(
        "regions",
        "region",
        "optional_polygon",
        (
            Column("region_id", "id", required=True),
            Column("name", "text"),
            _num("min_homes"),
            _num("max_homes"),
            _num("demand"),
        ),
        id_column="region_id",
    ),
    "amenities": LayerSpec(
        "amenities",
        "amenity",
        "point",
        (
            Column("amenity_id", "id"),
            Column("type", "text", required=True, empty_hint="give a type such as 'supermarket'"),
            Column("name", "text"),
        ),
        id_column="amenity_id",
    ),
    "travel_costs": LayerSpec(
        "travel_costs",
        "travel cost",
        "none",
        (
            Column("region_id", "id", required=True),
            Column("plot_id", "id", required=True),
            _num("cost_per_home", required=True, empty_hint="fill in a cost (0 or more)"),
        ),
        unique_id=False,
    ),
}

#: Pairs (low, high) whose order is checked on the same row.
_ORDERED_PAIRS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "plots": (("available_from", "available_until", "after"),),
    "services": (("open_from", "open_until", "after"),),
    "regions": (("min_homes", "max_homes", "above"),),
}

#: Text columns normalised by strip().lower() so 'Huisarts ' matches the scenario's 'huisarts'.
_LOWERCASE_COLUMNS = ("type",)

_POLYGON_TYPES = ("Polygon", "MultiPolygon")


class _Problems:
    """Row problems of one layer, each a complete line naming the file, row and field."""

    def __init__(self, source: str, spec: LayerSpec) -> None:
        self.source = source
        self.spec = spec
        self.ids: list[str | None] = []
        self.items: list[tuple[int, str]] = []

    def where(self, row: int) -> str:
        """``<source>: row N (plot_id 'P4')`` for 0-based position ``row``."""
        text = f"{self.source}: row {row + 1}"
        if self.spec.id_column and row < len(self.ids) and self.ids[row] is not None:
            text += f" ({self.spec.id_column} {quote(self.ids[row])})"
        return text

    def add(self, row: int, message: str) -> None:
        self.items.append((row, f"{self.where(row)}: {message}"))

    def add_layer(self, message: str, *, row: int = -1) -> None:
        self.items.append((row, f"{self.source}: {message}"))

    def raise_if_any(self) -> None:
        ordered = sorted(self.items, key=lambda item: item[0])
        raise_problems([text for _, text in ordered])


def load_layer(
    kind: str, path: Path, *, layer: str | None = None, crs: str | None = None
) -> gpd.GeoDataFrame | pd.DataFrame:
    """Read a layer file and check it against the contract (`read_file` + `validate_layer`)."""
    _spec(kind)
    frame = read_file(Path(path), layer=layer, crs=crs, source_kind=kind)
    source = f"{path}:{layer}" if layer else str(path)
    return validate_layer(kind, frame, source=source)


def validate_layer(
    kind: str, frame: gpd.GeoDataFrame | pd.DataFrame, *, source: str
) -> gpd.GeoDataFrame | pd.DataFrame:
    """Check a frame against the contract of ``kind`` and return it in the planner's shape.

    Parameters
    ----------
    kind
        One of `LAYER_KINDS`.
    frame
        A frame as read from a file; row ``i`` (by position) is reported as row ``i + 1``.
    source
        Name used in messages, normally the file path (plus ``:layer``).

    Returns
    -------
    GeoDataFrame in EPSG:28992 (DataFrame for travel_costs) with every contract column present,
    extra columns kept after them, geometry last and the index reset to 0..n-1.

    Raises
    ------
    LayerError
        Listing every broken row (the first ten, then a count).
    """
    spec = _spec(kind)
    frame = _prepare(frame, spec, source)
    problems = _Problems(source, spec)
    out: dict[str, pd.Series] = {}
    _check_ids(frame, spec, problems, out)
    _check_values(frame, spec, problems, out)
    if kind == "travel_costs":
        _check_pairs(out, problems)
    geometry = _check_geometry(frame, spec, problems)
    problems.raise_if_any()
    result = _assemble(frame, spec, out, geometry)
    if kind == "service_areas":
        result = _dissolve_areas(result, source)
    logger.info("%s: %d rows valid from %s", kind, len(result), source)
    return result


def _spec(kind: str) -> LayerSpec:
    if kind not in LAYER_SPECS:
        raise LayerError(f"unknown layer kind '{kind}'; expected one of {', '.join(LAYER_KINDS)}")
    return LAYER_SPECS[kind]


# --- columns -----------------------------------------------------------------------------------


def _prepare(
    frame: gpd.GeoDataFrame | pd.DataFrame, spec: LayerSpec, source: str
) -> gpd.GeoDataFrame | pd.DataFrame:
    """Copy, reset the index, name the geometry 'geometry', match column names case-blind."""
    frame = frame.reset_index(drop=True)
    if (
        isinstance(frame, gpd.GeoDataFrame)
        and frame.active_geometry_name not in (None, "geometry")
        and "geometry" not in frame.columns
    ):
        frame = frame.rename_geometry("geometry")
    renames = _case_renames([str(c) for c in frame.columns], spec, source)
    frame = frame.rename(columns=renames)
    missing = [c.name for c in spec.columns if c.required and c.name not in frame.columns]
    if missing:
        found = ", ".join(str(c) for c in frame.columns if c != "geometry") or "(none)"
        names = ", ".join(f"'{m}'" for m in missing)
        raise LayerError(
            f"{source}: missing required column {names} for {spec.kind} (columns found: {found}); "
            "add it or rename the column that holds it"
        )
    return frame


def _case_renames(columns: Sequence[str], spec: LayerSpec, source: str) -> dict[str, str]:
    """Map e.g. 'Plot_ID' to 'plot_id' when the exact name is absent; ambiguity is an error."""
    renames: dict[str, str] = {}
    for column in spec.columns:
        if column.name in columns:
            continue
        matches = [c for c in columns if c.strip().lower() == column.name]
        if len(matches) > 1:
            raise LayerError(
                f"{source}: columns {', '.join(matches)} all match '{column.name}'; "
                "keep or rename only one"
            )
        if matches:
            renames[matches[0]] = column.name
    return renames


def _is_blank(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _as_text(value: object) -> str | None:
    """Plain ``str`` or None; 12.0 from a float column becomes '12', not '12.0'."""
    if _is_blank(value):
        return None
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _show(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _as_number(value: object, kind: ColumnKind) -> tuple[float, str | None]:
    """A float (NaN when blank) and, for cells that are not numbers, a description of why."""
    if _is_blank(value):
        return math.nan, None
    if kind == "year" and isinstance(value, dt.date | pd.Timestamp):
        return float(value.year), None
    if isinstance(value, bool | np.bool_):
        return math.nan, f"{quote(value)} is not a number"
    if isinstance(value, numbers.Real):
        number = float(value)
    else:
        text = str(value).strip()
        if kind == "year" and re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", text):
            return float(text[:4]), None
        try:
            number = float(text)
        except ValueError:
            if re.fullmatch(r"-?\d+,\d+", text):
                return math.nan, f"{quote(text)} is not a number; use a decimal point, not a comma"
            return (
                math.nan,
                f"{quote(text)} is not a number; write digits such as 12 or 12.5",
            )
    if not math.isfinite(number):
        return math.nan, f"{quote(value)} is not a finite number"
    return number, None


def _check_ids(
    frame: pd.DataFrame, spec: LayerSpec, problems: _Problems, out: dict[str, pd.Series]
) -> None:
    """Id columns to str; empty ids and (where ids are unique) duplicates are problems."""
    id_columns = [c for c in spec.columns if c.kind == "id"]
    for column in id_columns:
        if column.name in frame.columns:
            values = [_as_text(v) for v in frame[column.name]]
        else:
            values = [None] * len(frame)
        if spec.kind == "amenities" and column.name == "amenity_id":
            values = [v if v is not None else f"A{row + 1}" for row, v in enumerate(values)]
        out[column.name] = pd.Series(values, index=frame.index, dtype=object)
        if column.name == spec.id_column:
            problems.ids = values
        for row, value in enumerate(values):
            if value is None:
                problems.add(row, f"{column.name} is empty; give every row a {column.name}")
    if spec.id_column and spec.unique_id:
        _check_unique(out[spec.id_column], spec.id_column, problems)


def _check_unique(ids: pd.Series, name: str, problems: _Problems) -> None:
    rows_by_id: dict[str, list[int]] = {}
    for row, value in enumerate(ids):
        if value is not None:
            rows_by_id.setdefault(value, []).append(row)
    for value, rows in rows_by_id.items():
        if len(rows) > 1:
            shown = ", ".join(str(r + 1) for r in rows[:10]) + (", ..." if len(rows) > 10 else "")
            problems.add_layer(
                f"{name} {quote(value)} appears more than once (rows {shown}); "
                f"give every row its own {name}",
                row=rows[0],
            )


def _check_values(
    frame: pd.DataFrame, spec: LayerSpec, problems: _Problems, out: dict[str, pd.Series]
) -> None:
    """Numbers to float64 with range checks; text to str/None with defaults and lower-casing."""
    for column in spec.columns:
        if column.kind in ("number", "year"):
            out[column.name] = _numbers(frame, column, problems)
        elif column.kind == "text":
            out[column.name] = _texts(frame, column, spec, problems, out)
    for low, high, word in _ORDERED_PAIRS.get(spec.kind, ()):
        for row, (a, b) in enumerate(zip(out[low], out[high], strict=True)):
            if a > b:
                problems.add(
                    row, f"{low} {_show(a)} is {word} {high} {_show(b)}; swap them or fix one"
                )


def _numbers(frame: pd.DataFrame, column: Column, problems: _Problems) -> pd.Series:
    raw = frame[column.name] if column.name in frame.columns else [None] * len(frame)
    clean = _clean_numbers(raw, column)
    if clean is not None:
        return pd.Series(clean, index=frame.index, dtype="float64")
    values: list[float] = []
    for row, cell in enumerate(raw):
        number, error = _as_number(cell, column.kind)
        if error is not None:
            problems.add(row, f"{column.name} {error}")
        elif math.isnan(number) and column.required:
            problems.add(row, f"{column.name} is empty; {column.empty_hint}")
        elif column.minimum is not None and number < column.minimum:
            problems.add(row, _below_minimum(column, number))
        values.append(number)
    return pd.Series(values, index=frame.index, dtype="float64")


def _clean_numbers(raw: Any, column: Column) -> np.ndarray | None:
    """A numeric column's values at once when no cell of it is a problem, else None (the cells
    are then read one by one, which words each problem). A plots file read from GeoPackage
    has numeric columns, and cell by cell they took most of its check (0.08 s at 5,000 plots)."""
    if not isinstance(raw, pd.Series):
        return None
    # integers and floats (also pandas' nullable ones); not booleans, which are refused
    if not (pd.api.types.is_integer_dtype(raw.dtype) or pd.api.types.is_float_dtype(raw.dtype)):
        return None
    values = raw.to_numpy(dtype="float64", na_value=np.nan)
    blank = np.isnan(values)
    bad = np.isinf(values) | (blank & column.required)
    if column.minimum is not None:
        bad |= values < column.minimum
    return None if bad.any() else values


def _below_minimum(column: Column, number: float) -> str:
    if number <= _CBS_MISSING_BELOW:
        return (
            f"{column.name} {_show(number)} is a CBS code for 'unknown'; "
            "fill in a number or remove the row"
        )
    if column.minimum == 0:
        fix = "use 0 or more" if column.required else "use 0 or leave empty"
        return f"{column.name} {_show(number)} is negative; {fix}"
    fix = f"use {_show(column.minimum or 0)} or more" + (
        "" if column.required else ", or leave empty"
    )
    return f"{column.name} {_show(number)} is below {_show(column.minimum or 0)}; {fix}"


def _texts(
    frame: pd.DataFrame,
    column: Column,
    spec: LayerSpec,
    problems: _Problems,
    out: dict[str, pd.Series],
) -> pd.Series:
    raw = frame[column.name] if column.name in frame.columns else [None] * len(frame)
    values = [_as_text(v) for v in raw]
    if column.name in _LOWERCASE_COLUMNS:
        values = [v.lower() if v is not None else None for v in values]
    if spec.kind == "regions" and column.name == "name":
        defaults = list(out["region_id"])
    else:
        defaults = [column.default] * len(values)
    values = [v if v is not None else d for v, d in zip(values, defaults, strict=True)]
    if column.required:
        for row, value in enumerate(values):
            if value is None:
                problems.add(row, f"{column.name} is empty; {column.empty_hint}")
    return pd.Series(values, index=frame.index, dtype=object)


# --- geometry ----------------------------------------------------------------------------------


def _check_geometry(
    frame: pd.DataFrame, spec: LayerSpec, problems: _Problems
) -> gpd.GeoSeries | None:
    """Geometry in EPSG:28992 of the right type, repaired where invalid; None for tables."""
    if spec.geometry == "none":
        return None
    has_geometry = isinstance(frame, gpd.GeoDataFrame) and "geometry" in frame.columns
    if spec.geometry == "optional_polygon" and (
        not has_geometry or frame.geometry.isna().all() or len(frame) == 0
    ):
        return gpd.GeoSeries([None] * len(frame), index=frame.index, crs=TARGET_CRS)
    if not has_geometry:
        raise LayerError(
            f"{problems.source}: no geometry; {spec.kind} need {_wanted(spec)} geometry "
            "(in a CSV: a WKT `geometry` column with `crs:`, or `lon`/`lat` columns)"
        )
    if frame.crs is None:
        raise LayerError(
            f"{problems.source}: the geometry has no CRS; add `crs: EPSG:28992` (or the right "
            "code) to this layer in the scenario"
        )
    geometry = frame.geometry.to_crs(TARGET_CRS)
    values = list(shapely.force_2d(geometry.to_numpy()))
    if spec.geometry == "point":
        values = _points(values, spec, problems)
    else:
        values = _polygons(values, spec, problems)
    _warn_outside_nl(values, problems)
    return gpd.GeoSeries(values, index=frame.index, crs=TARGET_CRS)


def _wanted(spec: LayerSpec) -> str:
    return "Point" if spec.geometry == "point" else "Polygon or MultiPolygon"


def _missing(geometry: Any) -> bool:
    return geometry is None or geometry.is_empty


def _polygons(values: list[Any], spec: LayerSpec, problems: _Problems) -> list[Any]:
    """Keep polygons, repair invalid ones (logged), and report missing or other types."""
    repaired: list[str] = []
    for row, geometry in enumerate(values):
        if _missing(geometry):
            problems.add(row, f"geometry is missing or empty; draw the {spec.noun} or drop the row")
            continue
        if geometry.geom_type not in _POLYGON_TYPES:
            problems.add(row, _wrong_polygon_type(geometry.geom_type, spec))
            continue
        if not geometry.is_valid:
            reason = shapely.is_valid_reason(geometry)
            fixed = shapely.make_valid(geometry, method="structure", keep_collapsed=False)
            if _missing(fixed) or fixed.geom_type not in _POLYGON_TYPES:
                problems.add(
                    row,
                    f"geometry is invalid ({reason}) and the repair left no polygon; "
                    "redraw the outline",
                )
                continue
            repaired.append(f"{problems.where(row)} ({reason})")
            values[row] = fixed
    if repaired:
        logger.warning(
            "repaired %d invalid geometries with make_valid(method='structure'): %s",
            len(repaired),
            "; ".join(repaired[:10])
            + (f"; and {len(repaired) - 10} more" if len(repaired) > 10 else ""),
        )
    return values


def _wrong_polygon_type(geom_type: str, spec: LayerSpec) -> str:
    what = {
        "Point": "points",
        "MultiPoint": "points",
        "LineString": "lines",
        "MultiLineString": "lines",
        "LinearRing": "lines",
    }.get(geom_type, "a mixed collection")
    return (
        f"geometry is a {geom_type}: {what} where polygons are needed; "
        f"give the {spec.noun} outline as a Polygon or MultiPolygon"
    )


def _points(values: list[Any], spec: LayerSpec, problems: _Problems) -> list[Any]:
    """Keep points; polygons become their representative point (logged); others are problems."""
    moved: list[str] = []
    for row, geometry in enumerate(values):
        if _missing(geometry):
            problems.add(row, f"geometry is missing or empty; give the {spec.noun} a location")
        elif geometry.geom_type in _POLYGON_TYPES:
            values[row] = geometry.representative_point()
            moved.append(problems.where(row))
        elif geometry.geom_type != "Point":
            problems.add(
                row,
                f"geometry is a {geometry.geom_type} where a Point is needed; "
                f"give each {spec.noun} one Point (one row per location)",
            )
        elif not np.isfinite(shapely.get_coordinates(geometry)).all():
            problems.add(
                row,
                "the point cannot be placed in EPSG:28992; check the CRS and the lon/lat order",
            )
    if moved:
        logger.warning(
            "%d %s polygons replaced by a point inside them: %s",
            len(moved),
            spec.noun,
            "; ".join(moved[:10]) + (f"; and {len(moved) - 10} more" if len(moved) > 10 else ""),
        )
    return values


def _warn_outside_nl(values: list[Any], problems: _Problems) -> None:
    """Log rows that fall outside the Netherlands: often a wrong CRS, but not always an error."""
    xmin, ymin, xmax, ymax = NL_BOUNDS_RD
    outside = []
    for row, geometry in enumerate(values):
        if _missing(geometry):
            continue
        gx0, gy0, gx1, gy1 = geometry.bounds
        if not (xmin <= gx0 and gx1 <= xmax and ymin <= gy0 and gy1 <= ymax):
            outside.append(problems.where(row))
    if outside:
        logger.warning(
            "%d rows lie outside the Netherlands in EPSG:28992 (check the CRS): %s",
            len(outside),
            "; ".join(outside[:5]) + ("; ..." if len(outside) > 5 else ""),
        )


# --- assembly and layer-level rules ------------------------------------------------------------


def _assemble(
    frame: pd.DataFrame,
    spec: LayerSpec,
    out: dict[str, pd.Series],
    geometry: gpd.GeoSeries | None,
) -> gpd.GeoDataFrame | pd.DataFrame:
    """Contract columns first, extra columns after, geometry last."""
    known = [c.name for c in spec.columns]
    extra = [c for c in frame.columns if c not in known and c != "geometry"]
    data = pd.DataFrame({name: out[name] for name in known}, index=frame.index)
    data = pd.concat([data, pd.DataFrame(frame[extra])], axis=1)
    if geometry is None:
        return data.reset_index(drop=True)
    return gpd.GeoDataFrame(data, geometry=geometry, crs=TARGET_CRS).reset_index(drop=True)


def _as_multipolygon(geometry: Any) -> MultiPolygon:
    if isinstance(geometry, MultiPolygon):
        return geometry
    if isinstance(geometry, Polygon):
        return MultiPolygon([geometry])
    parts = [g for g in getattr(geometry, "geoms", []) if isinstance(g, Polygon | MultiPolygon)]
    return _as_multipolygon(shapely.union_all(parts)) if parts else MultiPolygon()


def _dissolve_areas(frame: gpd.GeoDataFrame, source: str) -> gpd.GeoDataFrame:
    """One MultiPolygon per service_id; other columns keep the first row's value."""
    shapes = {
        service_id: _as_multipolygon(shapely.union_all(group.geometry.to_numpy()))
        for service_id, group in frame.groupby("service_id", sort=False)
    }
    first = frame.drop_duplicates("service_id", keep="first").reset_index(drop=True)
    first = first.set_geometry([shapes[s] for s in first["service_id"]], crs=TARGET_CRS)
    if len(first) < len(frame):
        logger.info(
            "%s: dissolved %d polygons into %d service areas", source, len(frame), len(first)
        )
    return first


def _check_pairs(out: dict[str, pd.Series], problems: _Problems) -> None:
    """Each (region_id, plot_id) pair at most once: two costs for one pair is ambiguous."""
    rows_by_pair: dict[tuple[str, str], list[int]] = {}
    for row, pair in enumerate(zip(out["region_id"], out["plot_id"], strict=True)):
        if None not in pair:
            rows_by_pair.setdefault(pair, []).append(row)
    for (region, plot), rows in rows_by_pair.items():
        if len(rows) > 1:
            shown = ", ".join(str(r + 1) for r in rows[:10]) + (", ..." if len(rows) > 10 else "")
            problems.add_layer(
                f"region_id {quote(region)} with plot_id {quote(plot)} appears more than once "
                f"(rows {shown}); keep one cost per pair",
                row=rows[0],
            )
