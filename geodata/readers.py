"""Read layer files in any supported format into (Geo)DataFrames, without judging their content.

Reading and the data contract are separate on purpose: this module only turns bytes into frames
with a CRS (GeoPackage, GeoJSON, Shapefile, zipped Shapefile, FlatGeobuf, GeoParquet, CSV with WKT
or lon/lat, plain tables), and `geodata.contract` checks columns, types and geometry and
reprojects to EPSG:28992. Every problem becomes a `LayerError` that names the file and says what
to do. Vector formats go through pyogrio (CONVENTIONS §2).
"""

from __future__ import annotations

import logging
import math
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow
import pyarrow.parquet as pq
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError as ProjCRSError

from planner.errors import LayerError

logger = logging.getLogger(__name__)

#: Suffix -> format name; ``.shp.zip`` and ``.zip`` are zipped Shapefiles.
FORMATS: dict[str, str] = {
    ".gpkg": "GeoPackage",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".shp": "Shapefile",
    ".zip": "zipped Shapefile",
    ".fgb": "FlatGeobuf",
    ".parquet": "GeoParquet / Parquet table",
    ".csv": "CSV (WKT `geometry`, `lon`/`lat`, or a plain table)",
}

#: At most this many row problems are spelled out in one error; the rest are counted.
MAX_LISTED_PROBLEMS = 10

_WGS84 = "EPSG:4326"
_GEOMETRY_NAMES = ("geometry", "wkt", "geom")
_LON_NAMES = ("lon", "lng", "longitude")
_LAT_NAMES = ("lat", "latitude")
_GDAL_HINT = re.compile(r";?\s*It might help to specify the correct driver.*$", re.DOTALL)


def raise_problems(problems: Sequence[str], *, limit: int = MAX_LISTED_PROBLEMS) -> None:
    """Raise one `LayerError` listing the problems, one per line, if there are any.

    Collecting first and raising once lets a user fix a whole file in one pass instead of one
    row per run. Each problem is already a complete line that names the file.
    """
    if not problems:
        return
    lines = list(problems[:limit])
    if len(problems) > limit:
        lines.append(f"... and {len(problems) - limit} more problems")
    raise LayerError("\n".join(lines))


def quote(value: object, *, limit: int = 40) -> str:
    """A cell value for a message: quoted, control characters escaped, long text shortened.

    Escaping keeps every problem on its own line whatever the file contains.
    """
    text = str(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return repr(text)


def read_file(
    path: Path,
    *,
    layer: str | None = None,
    crs: str | None = None,
    source_kind: str = "layer",
) -> gpd.GeoDataFrame | pd.DataFrame:
    """Read any supported file as it is, in its own CRS.

    Parameters
    ----------
    path
        The file. Only local regular files are opened, never GDAL virtual paths.
    layer
        Layer inside a GeoPackage or a zip with several Shapefiles.
    crs
        CRS for files that do not declare one (CSV WKT, Shapefile without ``.prj``); CSV lon/lat
        is WGS84 unless this is given. A file that declares a different CRS is an error.
    source_kind
        The layer kind being read (e.g. ``"plots"``): picks the same-named layer in a
        multi-layer file when ``layer`` is not given.

    Returns
    -------
    GeoDataFrame with a CRS for geometry layers (reprojection is the contract's job), DataFrame for
    tables. The index is 0..n-1 so row ``i`` is file row ``i + 1``.
    """
    path = Path(path)
    _check_exists(path)
    suffix = _suffix(path)
    given_crs = _parse_crs(crs, path) if crs is not None else None
    if suffix == ".csv":
        frame = _read_csv(path, given_crs)
    elif suffix == ".parquet":
        frame = _read_parquet(path, given_crs)
    else:
        frame = _read_vector(path, suffix, layer, given_crs, source_kind)
    frame = frame.reset_index(drop=True)
    logger.debug("read %d rows from %s", len(frame), path)
    return frame


def _check_exists(path: Path) -> None:
    """Refuse missing files, directories and GDAL virtual paths (/vsicurl/ etc.) up front."""
    if str(path).startswith("/vsi") or not path.exists():
        raise LayerError(f"{path}: file not found")
    if not path.is_file():
        raise LayerError(f"{path}: is a directory, not a file; point to the file itself")


def _suffix(path: Path) -> str:
    """Lower-case format suffix; unknown ones are a `LayerError` listing what is supported."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        supported = ", ".join(f"{s} ({name})" for s, name in FORMATS.items())
        raise LayerError(
            f"{path}: unsupported file type '{suffix or '(none)'}'; supported: {supported}"
        )
    return suffix


def _parse_crs(crs: str, path: Path) -> CRS:
    try:
        return CRS.from_user_input(crs)
    except ProjCRSError:
        raise LayerError(
            f"{path}: crs {quote(crs)} is not a known CRS; use an EPSG code such as EPSG:28992"
        ) from None


def _same_crs(a: CRS, b: CRS) -> bool:
    """Equal by EPSG code where both have one, else by definition (axis order ignored).

    Shapefile ``.prj`` files carry ESRI WKT that pyproj does not find *equal* to the EPSG
    definition, but does identify as the same EPSG code.
    """
    code_a, code_b = a.to_epsg(min_confidence=70), b.to_epsg(min_confidence=70)
    if code_a is not None and code_b is not None:
        return code_a == code_b
    return a.equals(b, ignore_axis_order=True)


def _crs_name(crs: CRS) -> str:
    code = crs.to_epsg(min_confidence=70)
    return f"EPSG:{code}" if code is not None else crs.name


def _apply_crs(frame: gpd.GeoDataFrame, given: CRS | None, path: Path) -> gpd.GeoDataFrame:
    """Settle the CRS: the file's own, the scenario's ``crs:``, or an error when neither/both."""
    own = frame.crs
    if own is None:
        if given is None:
            raise LayerError(
                f"{path}: the file declares no CRS; add `crs: EPSG:28992` (or the right code) "
                "to this layer in the scenario"
            )
        return frame.set_crs(given)
    if given is not None and not _same_crs(CRS.from_user_input(own), given):
        raise LayerError(
            f"{path}: the file declares CRS {_crs_name(CRS.from_user_input(own))} but the scenario "
            f"says crs: {_crs_name(given)}; remove `crs:` from this layer or fix the file"
        )
    return frame


def _gdal_reason(exc: Exception) -> str:
    """GDAL's message in one line, without its generic 'specify the driver' hint."""
    text = _GDAL_HINT.sub("", str(exc))
    return " ".join(text.split()).rstrip(".;") or type(exc).__name__


# --- GDAL formats ------------------------------------------------------------------------------


def _read_vector(
    path: Path, suffix: str, layer: str | None, given: CRS | None, kind: str
) -> gpd.GeoDataFrame | pd.DataFrame:
    if suffix == ".zip":
        _check_zip(path)
    chosen = _choose_layer(path, layer, kind) if suffix in (".gpkg", ".zip") else layer
    try:
        frame = gpd.read_file(path, layer=chosen, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise LayerError(f"{path}: cannot read this file: {_gdal_reason(exc)}") from None
    if not isinstance(frame, gpd.GeoDataFrame):
        return pd.DataFrame(frame)
    return _apply_crs(frame, given, path)


def _check_zip(path: Path) -> None:
    """A zipped Shapefile must be a real zip with a ``.shp`` inside and no escaping entry names."""
    if not zipfile.is_zipfile(path):
        raise LayerError(f"{path}: not a valid zip file; zip the .shp, .shx, .dbf and .prj files")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    unsafe = [n for n in names if n.startswith(("/", "\\")) or ".." in Path(n).parts]
    if unsafe:
        raise LayerError(
            f"{path}: zip entry {quote(unsafe[0])} points outside the archive; re-zip it"
        )
    if not any(n.lower().endswith(".shp") for n in names):
        raise LayerError(
            f"{path}: no .shp file inside the zip; zip the .shp, .shx, .dbf and .prj files"
        )


def _choose_layer(path: Path, layer: str | None, kind: str) -> str:
    """The requested layer, else the one named like the kind, else the only one."""
    try:
        names = [str(row[0]) for row in pyogrio.list_layers(path)]
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise LayerError(f"{path}: cannot read this file: {_gdal_reason(exc)}") from None
    listed = ", ".join(quote(n) for n in names) or "(none)"
    if layer is not None:
        if layer not in names:
            raise LayerError(
                f"{path}: no layer {quote(layer)}; layers in this file: {listed}; "
                "set `layer:` to one of them"
            )
        return layer
    if kind in names:
        return kind
    if len(names) == 1:
        return names[0]
    if not names:
        raise LayerError(f"{path}: the file holds no layers")
    raise LayerError(
        f"{path}: holds several layers ({listed}) and none is named '{kind}'; "
        "add `layer:` to this layer in the scenario"
    )


# --- Parquet -----------------------------------------------------------------------------------


def _read_parquet(path: Path, given: CRS | None) -> gpd.GeoDataFrame | pd.DataFrame:
    """GeoParquet (with ``geo`` metadata) as a GeoDataFrame, any other Parquet as a table."""
    try:
        metadata = pq.read_schema(path).metadata or {}
        frame = gpd.read_parquet(path) if b"geo" in metadata else pd.read_parquet(path)
    except (pyarrow.ArrowException, OSError, ValueError) as exc:
        raise LayerError(f"{path}: cannot read this Parquet file: {_gdal_reason(exc)}") from None
    if isinstance(frame, gpd.GeoDataFrame):
        return _apply_crs(frame, given, path)
    return frame


# --- CSV ---------------------------------------------------------------------------------------


def _read_csv(path: Path, given: CRS | None) -> gpd.GeoDataFrame | pd.DataFrame:
    """CSV with a WKT ``geometry`` column, ``lon``/``lat`` columns, or no geometry (a table).

    Every cell is read as text (ids such as ``0012`` keep their zeros); the contract converts
    numbers and reports bad cells by row.
    """
    table = _read_csv_text(path)
    lookup = {str(c).strip().lower(): c for c in table.columns}
    wkt_col = next((lookup[n] for n in _GEOMETRY_NAMES if n in lookup), None)
    lon_col = next((lookup[n] for n in _LON_NAMES if n in lookup), None)
    lat_col = next((lookup[n] for n in _LAT_NAMES if n in lookup), None)
    if wkt_col is not None:
        if given is None:
            raise LayerError(
                f"{path}: CSV geometry has no CRS; add `crs: EPSG:28992` (or the right code) to "
                "this layer in the scenario"
            )
        geometry = _wkt_geometry(table[wkt_col], path)
        return gpd.GeoDataFrame(table.drop(columns=[wkt_col]), geometry=geometry, crs=given)
    if lon_col is not None and lat_col is not None:
        geometry = _lonlat_geometry(table[lon_col], table[lat_col], path)
        return gpd.GeoDataFrame(table, geometry=geometry, crs=given or CRS(_WGS84))
    return table


def _read_csv_text(path: Path) -> pd.DataFrame:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header = handle.readline()
        sep = max((";", ",", "\t"), key=header.count)
        return pd.read_csv(
            path,
            sep=sep,
            dtype=object,
            keep_default_na=False,
            na_values=[""],
            encoding="utf-8-sig",
            skipinitialspace=True,
        )
    except UnicodeDecodeError:
        raise LayerError(f"{path}: not UTF-8 text; save the CSV as UTF-8") from None
    except pd.errors.EmptyDataError:
        raise LayerError(f"{path}: the CSV is empty; it needs at least a header row") from None
    except pd.errors.ParserError as exc:
        raise LayerError(f"{path}: cannot read this CSV: {' '.join(str(exc).split())}") from None


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value) == ""


def _wkt_geometry(values: pd.Series, path: Path) -> list[shapely.Geometry | None]:
    """Parse WKT per row; unreadable text is listed by row (blank cells stay None)."""
    geometries: list[shapely.Geometry | None] = []
    problems: list[str] = []
    for row, value in enumerate(values, start=1):
        if _is_blank(value):
            geometries.append(None)
            continue
        geometry = shapely.from_wkt(str(value), on_invalid="ignore")
        if geometry is None:
            problems.append(
                f"{path}: row {row}: geometry {quote(value)} is not valid WKT; "
                "write it like 'POLYGON ((x y, ...))'"
            )
        geometries.append(geometry)
    raise_problems(problems)
    return geometries


def _lonlat_geometry(lon: pd.Series, lat: pd.Series, path: Path) -> list[shapely.Geometry | None]:
    """Points from lon/lat text; rows with both blank stay None, other bad cells are listed."""
    geometries: list[shapely.Geometry | None] = []
    problems: list[str] = []
    for row, (x_text, y_text) in enumerate(zip(lon, lat, strict=True), start=1):
        if _is_blank(x_text) and _is_blank(y_text):
            geometries.append(None)
            continue
        coords: list[float] = []
        for name, text in (("lon", x_text), ("lat", y_text)):
            try:
                number = float(str(text).strip())
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                problems.append(
                    f"{path}: row {row}: {name} {quote('' if _is_blank(text) else text)} is not a "
                    "number; use decimal degrees with a point, e.g. 5.3872"
                )
            coords.append(number)
        geometries.append(shapely.Point(coords) if all(map(math.isfinite, coords)) else None)
    raise_problems(problems)
    return geometries
