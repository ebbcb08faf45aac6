"""BGT terrain polygons (onbegroeid/begroeid terreindeel) -> candidate `plots`.

The BGT (Basisregistratie Grootschalige Topografie) tiles the ground into terrain parts; the
ones a gemeente or corporation could put temporary homes on are open, unpaved or grassy. What
is imported, and why:

- **Current versions only.** A BGT extract with history holds every registered version of an
  object under the same ``lokaalID``; a row with ``eindRegistratie`` (or ``terminationDate``) set
  is superseded or ended, and a ``bgt_status`` other than ``bestaand`` is planned, not there.
- **Classes.** The class is ``bgt_fysiekVoorkomen`` (onbegroeid) or ``class`` (begroeid, as
  NLExtract names it); ``plus_fysiekVoorkomen`` refines it. A row is kept when its class or its
  plus value is in ``classes`` (any case). `DEFAULT_CLASSES` keeps open land that is neither a
  road, a built-on yard, forest, nature nor farmland in use: ``onverhard`` and ``half verhard``
  (unpaved, gravel), ``grasland overig`` (grass that is not farmland) and ``transitie`` (land
  being redeveloped). Left out by default: ``erf`` (the yard of an existing house or farm: in
  Otterlo 193 current polygons, median 4,800 m², which would add ~3,100 "homes" of private
  gardens; pass ``--classes erf`` to include them), ``gesloten verharding`` and
  ``open verharding`` (roads, pavements, car parks), forest and heath (``*bos``, ``heide``,
  mostly protected), farmland (``bouwland``, ``grasland agrarisch``, orchards), and small green
  (``groenvoorziening``, ``houtwal``, ``struiken``).
- **Repair.** Invalid polygons are repaired with ``make_valid(method="structure")`` (counted);
  a repair that leaves no polygon drops the row.
- **Slivers.** Polygons under ``min_area_m2`` are dropped (counted, with their total area), and
  so is any plot whose capacity rounds down to 0 homes.

Capacity is ``floor(area_ha x homes_per_ha)``, 30 homes/ha by default as in the scenario's
``defaults.homes_per_ha``. ``plot_id`` is the ``lokaalID`` (else ``bgt-<n>``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.contract import TARGET_CRS, validate_layer
from geodata.importers.common import (
    ImportReport,
    check_output,
    columns_found,
    find_column,
    list_layers,
    read_file_check,
    read_source,
    summarise_ids,
    to_rd,
    write_gpkg_atomic,
)
from geodata.readers import quote
from planner.errors import LayerError

logger = logging.getLogger(__name__)

DEFAULT_CLASSES = ("onverhard", "half verhard", "grasland overig", "transitie")
DEFAULT_MIN_AREA_M2 = 1000.0
DEFAULT_HOMES_PER_HA = 30.0
PLOTS_LAYER = "plots"

CLASS_COLUMNS = ("bgt_fysiekVoorkomen", "class", "fysiekVoorkomen", "bgt_fysiekvoorkomen")
PLUS_COLUMNS = ("plus_fysiekVoorkomen",)
ID_COLUMNS = ("lokaalID", "lokaal_id", "identificatie.lokaalID", "gml_id")
_UNKNOWN_PLUS = {"waardeonbekend", "", "nan", "none"}


def import_bgt(
    path: Path,
    out: Path,
    *,
    layers: Sequence[str] = (),
    classes: Sequence[str] | None = None,
    min_area_m2: float = DEFAULT_MIN_AREA_M2,
    homes_per_ha: float = DEFAULT_HOMES_PER_HA,
) -> ImportReport:
    """Turn BGT terreindeel polygons into a plots GeoPackage (replaced atomically).

    Parameters
    ----------
    path
        BGT GeoPackage (or any polygon file) with a class column.
    out
        Plots GeoPackage to write (layer ``plots``).
    layers
        Layers to read; empty reads every layer of a GeoPackage.
    classes
        Class or plus values to keep; None keeps `DEFAULT_CLASSES`.
    min_area_m2, homes_per_ha
        Smallest polygon kept, and homes per hectare for the capacity.

    Returns
    -------
    ImportReport with the plots written and the rows dropped per reason.
    """
    path, out = Path(path), check_output(Path(out))
    if min_area_m2 < 0 or not math.isfinite(min_area_m2):
        raise LayerError(f"--min-area-m2 {min_area_m2:g} must be 0 or more")
    if homes_per_ha <= 0 or not math.isfinite(homes_per_ha):
        raise LayerError(f"--homes-per-ha {homes_per_ha:g} must be more than 0")
    explicit = bool(classes)
    wanted = [c.strip().lower() for c in (classes or DEFAULT_CLASSES) if c.strip()]
    report = ImportReport(str(path))
    frame = _read_layers(path, layers, report)
    frame = _current(frame, report)
    frame = _filter_classes(frame, wanted, report, str(path), explicit=explicit)
    frame = _repair(frame, report)
    frame = _drop_small(frame, min_area_m2, homes_per_ha, report)
    plots = _plots(frame, homes_per_ha, str(path))
    write_gpkg_atomic(plots, out, layer=PLOTS_LAYER)
    report.wrote(out, PLOTS_LAYER, len(plots))
    report.note(
        f"{len(plots)} plots, {plots['area_m2'].sum() / 10_000:.1f} ha, capacity "
        f"{int(plots['capacity'].sum())} homes at {homes_per_ha:g} homes/ha"
    )
    return report


# --- reading -----------------------------------------------------------------------------------


def _layer_names(path: Path, layers: Sequence[str]) -> list[str | None]:
    read_file_check(path)
    if path.suffix.lower() != ".gpkg":
        return list(layers) or [None]
    names = list_layers(path)
    unknown = [n for n in layers if n not in names]
    if unknown:
        raise LayerError(
            f"{path}: no layer {', '.join(map(quote, unknown))}; layers in this file: "
            f"{', '.join(map(quote, names))}; choose with --layer"
        )
    return list(layers) or list(names)


def _read_layers(path: Path, layers: Sequence[str], report: ImportReport) -> gpd.GeoDataFrame:
    """All chosen layers in one frame with ``bgt_class``, ``plus`` and ``layer`` columns."""
    parts = []
    for name in _layer_names(path, layers):
        source = f"{path}:{name}" if name else str(path)
        frame = read_source(path, layer=name, kind=PLOTS_LAYER)
        if not isinstance(frame, gpd.GeoDataFrame):
            raise LayerError(f"{source}: no geometry; BGT terrain parts are polygons")
        frame = to_rd(frame, source)
        class_col = find_column(frame.columns, CLASS_COLUMNS)
        if class_col is None:
            raise LayerError(
                f"{source}: no BGT class column; looked for {', '.join(CLASS_COLUMNS)} "
                f"(columns found: {columns_found(frame)})"
            )
        plus_col = find_column(frame.columns, PLUS_COLUMNS)
        frame = frame.assign(
            bgt_class=_text(frame[class_col]),
            plus=_text(frame[plus_col]) if plus_col else None,
            layer=name or path.stem,
        )
        report.note(f"layer {name or path.name}: {len(frame)} rows, class from {class_col}")
        parts.append(frame)
    frame = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=TARGET_CRS)
    report.rows_in = len(frame)
    return frame


def _text(values: pd.Series) -> pd.Series:
    return values.astype(object).map(lambda v: None if pd.isna(v) else str(v).strip())


# --- filters -----------------------------------------------------------------------------------


def _current(frame: gpd.GeoDataFrame, report: ImportReport) -> gpd.GeoDataFrame:
    """Drop superseded, ended and planned versions (BGT keeps history under one lokaalID)."""
    keep = pd.Series(True, index=frame.index)
    for aliases, reason in (
        (("eindRegistratie",), "superseded version (eindRegistratie set)"),
        (("terminationDate",), "object ended (terminationDate set)"),
    ):
        column = find_column(frame.columns, aliases)
        if column is not None:
            ended = keep & frame[column].notna()
            report.drop(reason, int(ended.sum()))
            keep &= ~ended
    status = find_column(frame.columns, ("bgt_status",))
    if status is not None:
        planned = keep & frame[status].notna() & (frame[status].astype(str) != "bestaand")
        report.drop("not built yet (bgt_status is not 'bestaand')", int(planned.sum()))
        keep &= ~planned
    return frame[keep]


def _filter_classes(
    frame: gpd.GeoDataFrame,
    wanted: list[str],
    report: ImportReport,
    source: str,
    *,
    explicit: bool,
) -> gpd.GeoDataFrame:
    """Keep rows whose class or plus value is wanted; a typo in --classes is a warning."""
    classes = frame["bgt_class"].fillna("").str.lower()
    plus = frame["plus"].astype(object).fillna("").astype(str).str.lower()
    keep = classes.isin(wanted) | plus.isin(wanted)
    present = sorted(set(classes) | (set(plus) - _UNKNOWN_PLUS) - {""})
    unused = [c for c in wanted if c not in present]
    if not keep.any():
        raise LayerError(
            f"{source}: no terrain part has class {', '.join(map(quote, wanted))}; classes "
            f"present: {', '.join(present) or '(none)'}"
        )
    if unused and explicit:
        report.warn(f"--classes {', '.join(map(quote, unused))} match nothing in this file")
    elif unused:
        report.note(f"default classes not in this file: {', '.join(unused)}")
    report.note(f"classes kept: {', '.join(wanted)}" + ("" if explicit else " (the default)"))
    dropped = classes[~keep].value_counts()
    detail = ", ".join(f"{name or '(empty)'} {n}" for name, n in dropped.items())
    report.drop(f"class not selected ({detail})", int((~keep).sum()))
    return frame[keep]


def _repair(frame: gpd.GeoDataFrame, report: ImportReport) -> gpd.GeoDataFrame:
    """Make invalid polygons valid (structure method) and keep only their polygon parts."""
    geometry = shapely.force_2d(frame.geometry.to_numpy())
    invalid = ~shapely.is_valid(geometry)
    if invalid.any():
        fixed = shapely.make_valid(geometry[invalid], method="structure", keep_collapsed=False)
        geometry[invalid] = [_polygonal(g) for g in fixed]
        report.note(f"{int(invalid.sum())} invalid polygons repaired (make_valid, structure)")
    missing = np.array([g is None or g.is_empty for g in geometry])
    report.drop("no polygon (empty, or left nothing after repair)", int(missing.sum()))
    frame = frame.set_geometry(list(geometry), crs=TARGET_CRS)
    return frame[~missing]


def _polygonal(geometry: shapely.Geometry) -> shapely.Geometry | None:
    if geometry.geom_type in ("Polygon", "MultiPolygon"):
        return geometry
    parts = [
        g for g in getattr(geometry, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")
    ]
    return shapely.union_all(parts) if parts else None


def _drop_small(
    frame: gpd.GeoDataFrame, min_area_m2: float, homes_per_ha: float, report: ImportReport
) -> gpd.GeoDataFrame:
    """Drop slivers below ``min_area_m2`` and plots too small for one home; report their area."""
    area = frame.geometry.area
    small = area < min_area_m2
    if small.any():
        report.drop(
            f"sliver under {min_area_m2:g} m² ({area[small].sum():,.0f} m² in all)",
            int(small.sum()),
        )
    no_home = ~small & (np.floor(area / 10_000 * homes_per_ha + 1e-9) < 1)
    if no_home.any():
        report.drop(
            f"too small for one home at {homes_per_ha:g} homes/ha "
            f"({area[no_home].sum():,.0f} m² in all)",
            int(no_home.sum()),
        )
    return frame[~small & ~no_home]


# --- output ------------------------------------------------------------------------------------


def _plots(frame: gpd.GeoDataFrame, homes_per_ha: float, source: str) -> gpd.GeoDataFrame:
    if frame.empty:
        raise LayerError(f"{source}: no terrain part left after the filters; lower --min-area-m2")
    area = frame.geometry.area.to_numpy()
    ids = _plot_ids(frame, source)
    names = [
        cls if pd.isna(plus) or str(plus).lower() in _UNKNOWN_PLUS else f"{cls} ({plus})"
        for cls, plus in zip(frame["bgt_class"], frame["plus"], strict=True)
    ]
    bronhouder = find_column(frame.columns, ("bronhouder",))
    plots = gpd.GeoDataFrame(
        {
            "plot_id": ids,
            "capacity": np.floor(area / 10_000 * homes_per_ha + 1e-9).astype("int64"),
            "name": names,
            "proposer": None,
            "bgt_class": frame["bgt_class"].to_numpy(),
            "bgt_layer": frame["layer"].to_numpy(),
            "bronhouder": frame[bronhouder].to_numpy() if bronhouder else None,
            "area_m2": np.round(area, 1),
        },
        geometry=frame.geometry.to_numpy(),
        crs=TARGET_CRS,
    )
    validate_layer(PLOTS_LAYER, plots, source=f"{source} (plots)")
    return plots


def _plot_ids(frame: gpd.GeoDataFrame, source: str) -> list[str]:
    """``lokaalID`` where present, ``bgt-<n>`` for rows without; duplicates are an error."""
    column = find_column(frame.columns, ID_COLUMNS)
    values = frame[column] if column else pd.Series([None] * len(frame), index=frame.index)
    ids = [None if pd.isna(v) or not str(v).strip() else str(v).strip() for v in values]
    generated = iter(range(1, len(ids) + 1))
    ids = [i if i is not None else f"bgt-{next(generated)}" for i in ids]
    series = pd.Series(ids)
    duplicated = sorted(set(series[series.duplicated()]))
    if duplicated:
        raise LayerError(
            f"{source}: {column} repeats after dropping old versions: "
            f"{summarise_ids(duplicated)}; keep one current version per object"
        )
    return ids
