"""Plot files from the browser or the API turned into GeoJSON features for the proposals store.

Accepted: GeoJSON (Feature or FeatureCollection, WGS84 or a ``crs`` member), GeoPackage, KML
(``Name`` and ``description`` become name and note), a zipped Shapefile and CSV with a WKT column
(``wkt`` or ``geometry``, WGS84 unless a ``crs`` column says otherwise).

No name the user sent ever becomes a file path: an upload is written to a temporary file this
module names, and from a zip only the members of one Shapefile are copied out, under
fixed names, after the zip's entries were checked (no absolute or ``..`` paths, at most
`MAX_ZIP_ENTRIES` entries, at most `MAX_UNZIPPED_BYTES` unpacked, no extreme compression ratio).
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

WGS84 = "EPSG:4326"  # with the store's always_xy transform: longitude, latitude
MAX_ZIP_ENTRIES = 50
MAX_UNZIPPED_BYTES = 64 * 1024 * 1024
MAX_RATIO = 200  # unpacked / packed: beyond this a member is a decompression bomb
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
KML_NAMES = {"Name": "name", "description": "note"}
SUFFIXES = {
    "json": "geojson",
    "geojson": "geojson",
    "gpkg": "gpkg",
    "kml": "kml",
    "zip": "zip",
    "csv": "csv",
}


class UploadError(ValueError):
    """A file that cannot be read as plots; the message says why (shown to the user, 422)."""


def geojson_features(data: Any) -> tuple[list[Any], str]:
    """(features, crs) of a parsed GeoJSON Feature or FeatureCollection."""
    if not isinstance(data, Mapping):
        raise UploadError("send a GeoJSON Feature or FeatureCollection (a JSON object)")
    kind = data.get("type")
    if kind == "Feature":
        features = [data]
    elif kind == "FeatureCollection" and isinstance(data.get("features"), list):
        features = list(data["features"])
    else:
        raise UploadError("the JSON 'type' must be Feature or FeatureCollection with 'features'")
    return features, _crs_member(data.get("crs"))


def _crs_member(member: Any) -> str:
    """The CRS named by a GeoJSON 2008 ``crs`` member (``{"type": "name", ...}``), else WGS84."""
    if member is None:
        return WGS84
    name = member.get("properties", {}).get("name") if isinstance(member, Mapping) else None
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise UploadError("the 'crs' member must be {type: name, properties: {name: EPSG:...}}")
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        crs = CRS.from_user_input(name.strip())
    except CRSError:
        raise UploadError(f"unknown CRS {name.strip()!r} in the 'crs' member") from None
    if crs.to_epsg() == 4326 or name.strip().upper().endswith("CRS84"):
        return WGS84
    epsg = crs.to_epsg()
    if epsg is None:
        raise UploadError(f"the CRS {name.strip()!r} has no EPSG code; use EPSG:28992 or WGS84")
    return f"EPSG:{epsg}"


def kind_of(filename: str) -> str:
    """The upload's kind from its name's extension (the name is used for nothing else)."""
    suffix = PurePosixPath(filename.lower()).suffix.lstrip(".")
    if suffix not in SUFFIXES:
        raise UploadError("upload a .geojson, .gpkg, .kml, .zip (Shapefile) or .csv (WKT) file")
    return SUFFIXES[suffix]


def read_upload(data: bytes, filename: str) -> tuple[list[Any], str]:
    """(features, crs) of an uploaded file; `UploadError` when it cannot be read."""
    kind = kind_of(filename)
    if kind == "geojson":
        try:
            return geojson_features(json.loads(data))
        except (ValueError, UnicodeDecodeError) as exc:
            raise UploadError(f"not valid JSON: {exc}") from None
    if kind == "csv":
        return _read_csv(data)
    with tempfile.TemporaryDirectory(prefix="flexplan-upload-") as folder:
        if kind == "zip":
            path = _unpack_shapefile(data, Path(folder))
        else:
            path = Path(folder) / f"upload.{kind}"  # gpkg or kml: a name chosen here
            path.write_bytes(data)
        return _read_vector(path)


def check_zip(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The zip's entries, after refusing traversal paths, too many entries and bombs."""
    entries = archive.infolist()
    if len(entries) > MAX_ZIP_ENTRIES:
        raise UploadError(f"the zip has {len(entries)} entries; at most {MAX_ZIP_ENTRIES}")
    total = 0
    for info in entries:
        name = info.filename.replace("\\", "/")
        parts = PurePosixPath(name).parts
        if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
            raise UploadError("the zip has an entry with an unsafe path (absolute or '..')")
        total += info.file_size
        if info.file_size > MAX_RATIO * max(info.compress_size, 1) + 1024:
            raise UploadError("the zip is compressed suspiciously well (a zip bomb?)")
    if total > MAX_UNZIPPED_BYTES:
        raise UploadError(f"the zip unpacks to over {MAX_UNZIPPED_BYTES // 2**20} MB")
    return entries


def _unpack_shapefile(data: bytes, folder: Path) -> Path:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise UploadError("not a valid zip file") from None
    with archive:
        entries = check_zip(archive)
        shps = [e for e in entries if e.filename.lower().endswith(".shp")]
        if len(shps) != 1:
            raise UploadError("the zip must hold exactly one Shapefile (.shp with .shx, .dbf)")
        stem = shps[0].filename[: -len(".shp")]
        for info in entries:
            suffix = info.filename[len(stem) :].lower()
            if info.filename.startswith(stem) and suffix in SHAPEFILE_PARTS:
                with archive.open(info) as source:
                    (folder / f"upload{suffix}").write_bytes(source.read(MAX_UNZIPPED_BYTES + 1))
    return folder / "upload.shp"


def _read_vector(path: Path) -> tuple[list[Any], str]:
    import pyogrio

    try:
        frame = pyogrio.read_dataframe(path)
    except Exception as exc:  # pyogrio raises several kinds for a broken file
        raise UploadError(f"cannot read the file: {type(exc).__name__}") from None
    if frame.crs is None:
        raise UploadError("the file has no coordinate reference system (.prj)")
    from planner.proposals import FIELDS

    frame = frame.rename(columns={k: v for k, v in KML_NAMES.items() if v not in frame.columns})
    frame = frame[[c for c in frame.columns if c in FIELDS] + ["geometry"]].to_crs(WGS84)
    return json.loads(frame.to_json(drop_id=True, na="drop"))["features"], WGS84


def _read_csv(data: bytes) -> tuple[list[Any], str]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UploadError("the CSV must be UTF-8") from None
    sample = text[:4096]
    dialect = csv.Sniffer().sniff(sample, delimiters=",;\t") if sample.strip() else csv.excel
    rows = list(csv.DictReader(io.StringIO(text), dialect=dialect))
    if not rows:
        raise UploadError("the CSV has no rows")
    column = next((c for c in ("wkt", "WKT", "geometry", "geom") if c in rows[0]), None)
    if column is None:
        raise UploadError("the CSV needs a 'wkt' column with the plot outline as WKT")
    crs = rows[0].get("crs") or WGS84
    features = []
    for row in rows:
        props = {k: v for k, v in row.items() if k not in (column, "crs") and v not in ("", None)}
        geometry = row.get(column) or None
        features.append({"type": "Feature", "geometry": geometry, "properties": props})
    return features, _crs_member({"properties": {"name": crs}})
