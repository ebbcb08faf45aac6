"""What the CBS, services and BGT importers share: the report, column lookup, CBS sentinels,
reading with command-line hints, and atomic writing.

Importers are run from the command line, so the readers' scenario-worded hints ("add `crs:` to
this layer in the scenario") are reworded to the matching option (``--crs``, ``--layer``).
Outputs are written to a temporary file in the target folder, flushed to disk and renamed over
the target with `os.replace`, so a failed or interrupted import never leaves half a file and a
rerun replaces the old file in one step (CONVENTIONS §4, "nothing lost").
"""

from __future__ import annotations

import logging
import math
import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from geodata.contract import TARGET_CRS
from geodata.readers import quote, raise_problems, read_file
from planner.errors import LayerError

logger = logging.getLogger(__name__)

#: CBS marks unknown or secret figures with large negatives (-99997, -99999999, ...).
CBS_MISSING_AT_OR_BELOW = -99_990.0

#: Reader hints written for scenario files -> the same advice as command-line options.
_CLI_HINTS = {
    "add `crs: EPSG:28992` (or the right code) to this layer in the scenario": (
        "pass --crs EPSG:28992 (or the right code)"
    ),
    "add `layer:` to this layer in the scenario": "choose one with --layer",
    "set `layer:` to one of them": "choose one with --layer",
}


@dataclass(frozen=True)
class Written:
    """One layer written by an importer."""

    path: Path
    layer: str
    rows: int


@dataclass
class ImportReport:
    """What an import read, wrote and dropped (and why), for the command to print.

    ``dropped`` maps a reason to a row count, in the order the reasons arose; ``notes`` are
    facts worth knowing (a proxy used, a join's match rate) and ``warnings`` need attention.
    """

    source: str
    rows_in: int = 0
    written: list[Written] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def drop(self, reason: str, count: int) -> None:
        """Count ``count`` rows dropped for ``reason`` (zero counts are not listed)."""
        if count:
            self.dropped[reason] = self.dropped.get(reason, 0) + int(count)
            logger.info("%s: dropped %d rows: %s", self.source, count, reason)

    def note(self, message: str) -> None:
        """Record (and log) a fact about the import."""
        self.notes.append(message)
        logger.info("%s: %s", self.source, message)

    def warn(self, message: str) -> None:
        """Record something the user should check (logged at INFO: the command prints it)."""
        self.warnings.append(message)
        logger.info("%s: warning: %s", self.source, message)

    def wrote(self, path: Path, layer: str, rows: int) -> None:
        """Record a written layer."""
        self.written.append(Written(Path(path), layer, int(rows)))

    @property
    def rows_dropped(self) -> int:
        """All dropped rows together."""
        return sum(self.dropped.values())

    def summary_lines(self) -> list[str]:
        """The report as plain lines for a console (warnings are left to the caller)."""
        lines = [f"read {self.rows_in} rows from {self.source}"]
        lines += [f"wrote {w.rows} rows to {w.path} (layer {w.layer})" for w in self.written]
        if self.dropped:
            lines.append(f"dropped {self.rows_dropped} rows:")
            lines += [f"  - {count} {reason}" for reason, count in self.dropped.items()]
        else:
            lines.append("dropped no rows")
        lines += [f"note: {note}" for note in self.notes]
        return lines


# --- columns -----------------------------------------------------------------------------------


def find_column(columns: Iterable[object], aliases: Sequence[str]) -> str | None:
    """The first column matching one of ``aliases`` (exact first, then ignoring case)."""
    names = [str(c) for c in columns]
    for alias in aliases:
        if alias in names:
            return alias
    lower = {n.strip().lower(): n for n in names}
    for alias in aliases:
        if alias.lower() in lower:
            return lower[alias.lower()]
    return None


def require_column(frame: pd.DataFrame, aliases: Sequence[str], *, what: str, source: str) -> str:
    """The column holding ``what``, or a `LayerError` naming the file and the names tried."""
    column = find_column(frame.columns, aliases)
    if column is None:
        raise LayerError(
            f"{source}: no column for {what}; looked for {', '.join(aliases)} "
            f"(columns found: {columns_found(frame)})"
        )
    return column


def columns_found(frame: pd.DataFrame, limit: int = 15) -> str:
    """The frame's column names for a message, shortened after ``limit``."""
    names = [str(c) for c in frame.columns if c != "geometry"]
    shown = ", ".join(names[:limit]) or "(none)"
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def to_numbers(values: pd.Series, *, column: str, source: str) -> pd.Series:
    """A column as float64 (NaN when empty); text that is not a number is a `LayerError` by row.

    CSV cells arrive as text, GeoPackage columns as numbers; both end up the same.
    """
    if pd.api.types.is_bool_dtype(values.dtype):
        raise LayerError(f"{source}: column {column} holds yes/no values, not numbers")
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.astype("float64")
    text = values.astype(object).map(lambda v: None if _blank(v) else str(v).strip())
    numbers = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = [
        f"{source}: row {row}: {column} {quote(value)} is not a number; write digits such as 12"
        for row, (value, number) in enumerate(zip(text, numbers, strict=True), start=1)
        if value is not None and math.isnan(number)
    ]
    raise_problems(bad)
    return numbers


def _blank(value: object) -> bool:
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def drop_sentinels(values: pd.Series) -> tuple[pd.Series, int]:
    """CBS 'unknown/secret' codes (any value <= -99990) -> NaN, and how many there were."""
    mask = values <= CBS_MISSING_AT_OR_BELOW
    return values.mask(mask), int(mask.sum())


def as_count(values: pd.Series) -> pd.Series:
    """Whole numbers as nullable Int64 (so files show 1290, not 1290.0); others stay float."""
    finite = values.dropna()
    if len(finite) and not np.allclose(finite, np.round(finite)):
        return values
    return values.round().astype("Int64")


# --- reading -----------------------------------------------------------------------------------


def cli_hint(message: str) -> str:
    """A reader message with its scenario hints replaced by the command-line options."""
    for scenario_hint, option_hint in _CLI_HINTS.items():
        message = message.replace(scenario_hint, option_hint)
    return message


def list_layers(path: Path) -> list[str]:
    """Layer names of a GDAL file (checked to exist first); unreadable files are a LayerError."""
    try:
        read_file_check(path)
        return [str(row[0]) for row in pyogrio.list_layers(path)]
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        reason = " ".join(str(exc).split())
        raise LayerError(f"{path}: cannot read this file: {reason}") from None


def read_file_check(path: Path) -> None:
    """Refuse a missing file or a directory with the readers' wording."""
    if str(path).startswith("/vsi") or not Path(path).exists():
        raise LayerError(f"{path}: file not found")
    if not Path(path).is_file():
        raise LayerError(f"{path}: is a directory, not a file; point to the file itself")


def read_source(
    path: Path, *, layer: str | None = None, crs: str | None = None, kind: str = "layer"
) -> gpd.GeoDataFrame | pd.DataFrame:
    """`geodata.readers.read_file` with command-line hints in its errors."""
    try:
        return read_file(Path(path), layer=layer, crs=crs, source_kind=kind)
    except LayerError as exc:
        raise LayerError(cli_hint(str(exc))) from None


def to_rd(frame: gpd.GeoDataFrame, source: str) -> gpd.GeoDataFrame:
    """The frame in EPSG:28992 (RD New, metres), the CRS every layer is stored in."""
    if frame.crs is None:
        raise LayerError(
            f"{source}: the file declares no CRS; pass --crs EPSG:28992 (or the right code)"
        )
    return frame.to_crs(TARGET_CRS)


def check_output(path: Path, suffixes: Sequence[str] = (".gpkg",)) -> Path:
    """An output path with a supported suffix whose folder can be created."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise LayerError(
            f"{path}: output must be a {' or '.join(suffixes)} file; "
            f"name it like {path.with_suffix(suffixes[0]).name}"
        )
    if path.exists() and not path.is_file():
        raise LayerError(f"{path}: is a directory; give a file name")
    return path


# --- writing -----------------------------------------------------------------------------------


def _temp_beside(path: Path) -> Path:
    return path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")


def _fsync(path: Path) -> None:
    with path.open("rb+") as handle:
        os.fsync(handle.fileno())


def write_gpkg_atomic(frame: gpd.GeoDataFrame, path: Path, *, layer: str) -> Path:
    """Write one layer as a new GeoPackage replacing ``path`` in one step.

    The temporary file sits in the same folder so `os.replace` is an atomic rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_beside(path)
    try:
        frame.to_file(temp, layer=layer, driver="GPKG", engine="pyogrio")
        _fsync(temp)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    logger.info("wrote %d rows to %s (layer %s)", len(frame), path, layer)
    return path


def write_csv_atomic(frame: pd.DataFrame, path: Path) -> Path:
    """Write a table as UTF-8 CSV replacing ``path`` in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_beside(path)
    try:
        frame.to_csv(temp, index=False, encoding="utf-8")
        _fsync(temp)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    logger.info("wrote %d rows to %s", len(frame), path)
    return path


def summarise_ids(ids: Sequence[object], limit: int = 5) -> str:
    """A few ids for a message: 'BU1, BU2, ... (12 in all)'."""
    shown = ", ".join(str(i) for i in list(ids)[:limit])
    return shown + (f", ... ({len(ids)} in all)" if len(ids) > limit else "")
