"""allocation.gpkg, and a re-run's reuse of the layers an earlier run wrote the same.

A re-run after a small change writes 20,000 services and 13,000 buurten again that differ
from the earlier run's only in their outcome columns (a service's ``load``, a buurt's ``homes``
and ``share``); GDAL takes most of the re-run's write stage for them. So each run keeps, in
``reuse/gpkg.json``, a digest of every layer's other columns and geometry (``layer_digest``),
a key of the code and GDAL that wrote it (``writer_key``) and the size and modification time
of its allocation.gpkg. A re-run whose layers have the digests kept there, of a file not
touched since and written the same way, starts from a copy of that file: it sets the
outcome cells that changed, in place (SQL UPDATE of plain attribute columns, which leaves the
features, their geometry and the spatial index as GDAL wrote them), and writes the plots layer
anew through GDAL. Anything else, or anything unexpected on the way, writes the file whole.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import logging
import shutil
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

log = logging.getLogger(__name__)

KEPT = "gpkg.json"
# The layer GDAL writes anew on every run: each plot's outcome and reason.
REWRITTEN = "plots"
# GDAL's GeoPackage triggers name these SQL functions (spatial index upkeep); SQLite resolves
# them when it prepares an UPDATE, though they run only when a geometry or feature id changes,
# which an update of outcome cells never does. Here they exist and refuse to run.
_GPKG_FUNCTIONS = ("ST_IsEmpty", "ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY")


@dataclass(frozen=True)
class Layer:
    """A layer to write: its frame and the columns that are the run's outcome (the rest,
    geometry included, is what ``layer_digest`` covers)."""

    frame: gpd.GeoDataFrame
    outcome: tuple[str, ...] = ()


@dataclass
class KeptFile:
    """What a run keeps of its allocation.gpkg for a re-run: each layer's digest
    (``reuse/gpkg.json``, with the file's size and modification time) and its outcome columns
    as written (``reuse/gpkg_<layer>.arrow``); ``path`` is the file, once read back."""

    layers: dict[str, str] = field(default_factory=dict)  # layer -> layer_digest
    outcome: dict[str, pa.Table] = field(default_factory=dict)
    path: Path | None = None
    writer: str = ""  # ``writer_key()`` of the code and libraries that wrote the file

    def write(self, folder: Path, gpkg: Path) -> None:
        """Keep this in ``folder`` (a run folder's ``reuse/``) with ``gpkg``'s size and time."""
        folder.mkdir(exist_ok=True)
        for name, table in self.outcome.items():
            with pa.ipc.new_file(folder / _OUTCOME.format(name), table.schema) as writer:
                writer.write_table(table)
        stat = gpkg.stat()
        data = {
            "layers": self.layers,
            "writer": self.writer,
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
        }
        (folder / KEPT).write_text(json.dumps(data, indent=1), encoding="utf-8")


_OUTCOME = "gpkg_{}.arrow"


def read_kept(folder: Path, gpkg: Path) -> KeptFile | None:
    """What ``KeptFile.write`` kept in ``folder``, if ``gpkg`` is still the file it describes
    (same size and modification time); None otherwise (logged)."""
    try:
        data = json.loads((folder / KEPT).read_text(encoding="utf-8"))
        stat = gpkg.stat()
        if (data["size"], data["mtime_ns"]) != (stat.st_size, stat.st_mtime_ns):
            log.info("re-run: %s changed since its run; it is written whole", gpkg)
            return None
        outcome = {}
        for name in data["layers"]:
            with pa.OSFile(str(folder / _OUTCOME.format(name))) as source:
                outcome[name] = pa.ipc.open_file(source).read_all()
    except FileNotFoundError:
        return None
    except Exception as exc:  # a damaged cache costs speed, never the run
        log.warning("re-run: %s unreadable (%s); allocation.gpkg written whole", folder, exc)
        return None
    return KeptFile(layers=data["layers"], outcome=outcome, path=gpkg, writer=data["writer"])


@functools.cache
def writer_key() -> str:
    """What a layer's table in the file depends on besides its rows: the code that writes it
    (this module and planner.export) and the versions of GDAL and pyogrio."""
    import pyogrio

    import planner.export

    digest = hashlib.sha256()
    for source in (Path(planner.export.__file__), Path(__file__)):
        digest.update(source.read_bytes())
    digest.update(f"{pyogrio.__version__}|{pyogrio.__gdal_version_string__}".encode())
    return digest.hexdigest()[:16]


def layer_digest(layer: Layer) -> str:
    """sha256 of the layer's columns other than its outcome, with their names and types, and
    of its geometry, row by row in order."""
    frame = layer.frame
    attrs = frame.drop(columns=[frame.geometry.name, *layer.outcome])
    table = pa.Table.from_pandas(pd.DataFrame(attrs), preserve_index=False)
    digest = hashlib.sha256()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    digest.update(sink.getvalue())
    for part in _geometry_parts(frame.geometry.to_numpy()):
        digest.update(part)
    return digest.hexdigest()


def _geometry_parts(shapes: np.ndarray) -> list[bytes]:
    """The geometries as bytes for a digest: 2D points by their coordinates (a quarter of the
    time at 20,000 services), anything else by its little-endian WKB and which are missing."""
    points = len(shapes) and (shapely.get_type_id(shapes) == 0).all()
    if points and not shapely.has_z(shapes).any():
        xy = shapely.get_coordinates(shapes)
        if len(xy) == len(shapes):  # no empty point
            return [b"2D points", xy.tobytes()]
    wkb = pa.array(shapely.to_wkb(shapes, byte_order=1), pa.binary())
    parts = [b"WKB", wkb.is_null().to_numpy(zero_copy_only=False).tobytes()]
    # offsets and bytes (a missing geometry has none)
    return parts + [bytes(b) if b is not None else b"" for b in wkb.buffers()[1:]]


def write_geopackage(
    path: Path, layers: Mapping[str, Layer], earlier: KeptFile | None, write_layer: Any
) -> KeptFile:
    """Write ``layers`` (in order) to ``path`` with ``write_layer(frame, path, name)``; from a
    copy of the earlier run's file where that is the same but for outcome cells (see the module
    docstring). Returns what to keep for a later re-run."""
    reused = {name: layer for name, layer in layers.items() if name != REWRITTEN}
    kept = KeptFile(
        layers={name: layer_digest(layer) for name, layer in reused.items()},
        outcome={
            name: pa.Table.from_pandas(pd.DataFrame(layer.frame[list(layer.outcome)]))
            for name, layer in reused.items()
        },
        writer=writer_key(),
    )
    if earlier is not None and _from_earlier(path, layers, kept, earlier):
        write_layer(layers[REWRITTEN].frame, path, REWRITTEN)
        return kept
    for name, layer in layers.items():
        write_layer(layer.frame, path, name)
    return kept


def _from_earlier(
    path: Path, layers: Mapping[str, Layer], kept: KeptFile, earlier: KeptFile
) -> bool:
    """Copy the earlier file to ``path`` and set its changed outcome cells; False (and no file
    at ``path``) where the earlier file holds other layers than these or a layer that differs
    beyond its outcome, or where anything fails."""
    if REWRITTEN not in layers or not kept.layers or earlier.layers != kept.layers:
        return False
    if earlier.writer != kept.writer:
        log.info("re-run: the earlier allocation.gpkg was written by other code; written whole")
        return False
    assert earlier.path is not None  # read_kept sets it
    try:
        shutil.copyfile(earlier.path, path)
        with _connection(path) as con:
            changed = {
                name: _set_outcome(con, name, layers[name], earlier.outcome[name])
                for name in kept.layers
            }
    except Exception as exc:  # the copy is only a shortcut: write the file whole instead
        log.warning("re-run: earlier allocation.gpkg not reusable (%s); written whole", exc)
        path.unlink(missing_ok=True)
        return False
    log.info("re-run: allocation.gpkg from the earlier run's, cells changed: %s", changed)
    return True


@contextlib.contextmanager
def _connection(path: Path) -> Iterator[sqlite3.Connection]:
    """SQLite on ``path`` in one transaction, without a flush per commit (the run folder is
    flushed as a whole before it takes its name), with GDAL's trigger functions declared."""
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA synchronous = OFF")
        for name in _GPKG_FUNCTIONS:
            con.create_function(name, 1, _not_expected)
        with con:
            yield con
    finally:
        con.close()


def _not_expected(_geometry: Any) -> Any:
    raise RuntimeError("a geometry changed in a GeoPackage update of outcome columns")


def _set_outcome(con: sqlite3.Connection, name: str, layer: Layer, old: pa.Table) -> int:
    """Set the layer's outcome cells that differ from ``old`` (the earlier run's, as kept);
    the number of features set. Features are matched by position: GDAL numbered them 1..n in
    the frame's order."""
    n = len(layer.frame)
    count, first, last = con.execute(
        f"SELECT count(*), min(fid), max(fid) FROM {_quoted(name)}"
    ).fetchone()
    if (count, first or 1, last or 0) != (n, 1, n) or old.num_rows != n:
        raise ValueError(f"layer {name} has {count} features, not 1..{n}")
    new = [layer.frame[column].to_numpy() for column in layer.outcome]
    changed = np.zeros(n, dtype=bool)
    for now, column in zip(new, layer.outcome, strict=True):
        was = old[column].to_numpy(zero_copy_only=False)
        changed |= ~((now == was) | (pd.isna(now) & pd.isna(was)))
    rows = np.flatnonzero(changed)
    if len(rows):
        cells = [_cells(now[rows]) for now in new]
        updates = list(zip(*cells, (rows + 1).tolist(), strict=True))
        sets = ", ".join(f"{_quoted(c)} = ?" for c in layer.outcome)
        con.executemany(f"UPDATE {_quoted(name)} SET {sets} WHERE fid = ?", updates)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        con.execute(
            "UPDATE gpkg_contents SET last_change = ? WHERE lower(table_name) = lower(?)",
            (stamp, name),
        )
    return len(rows)


def _cells(values: np.ndarray) -> list[Any]:
    """Values as GDAL stores them: Python numbers, missing as NULL."""
    return [None if pd.isna(v) else v for v in values.tolist()]


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
