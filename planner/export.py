"""Write a run folder atomically: everything appears at once, or nothing does.

All files go to a temporary sibling folder first; only when every file is written and flushed is
it renamed to the requested name (a previous run there is replaced in the same step). A run that
fails halfway therefore never leaves a half result for the map app or a comparison to pick up.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import yaml

from planner.geopackage import KeptFile, Layer, write_geopackage
from planner.instance import Instance, sum_by
from planner.rerun import FOLDER
from planner.result import Result

if TYPE_CHECKING:
    from planner.phasing import PhasedResult
    from planner.report import Display
    from planner.rerun import Kept

log = logging.getLogger(__name__)

CRS = "EPSG:28992"
GPKG = "allocation.gpkg"


def plots_frame(inst: Instance, result: Result, reasons: list[str | None]) -> gpd.GeoDataFrame:
    """The `plots` layer of allocation.gpkg: every candidate plot with its outcome."""
    p = inst.plots
    frame = pd.DataFrame(
        {
            "plot_id": p["plot_id"],
            "name": p["name"],
            "proposer": p["proposer"],
            "group": p["group"],
            "homes": result.homes.astype("int64"),
            "support_homes": result.support.astype("int64"),
            "selected": result.homes > 0,
            "capacity": p["capacity"].astype("int64"),
            "min_homes": p["min_homes"].astype("int64"),
            "fixed_homes": p["fixed_homes"],
            "eligible": p["eligible"].astype(bool),
            "reason": reasons,
            "suitability": p["suitability"].astype(float),
            "buurt_id": p["buurt_id"],
            "region_id": p["region_id"],
            "fixed_cost": p["fixed_cost"],
            "cost_per_home": p["cost_per_home"],
        }
    )
    for kind in inst.distances.columns:
        frame[f"dist_{kind}_m"] = inst.distances[kind].replace(np.inf, np.nan).round(1)
    return gpd.GeoDataFrame(frame, geometry=inst.geo["plots"].to_numpy(), crs=CRS)


def _services_with_load(inst: Instance, load: pd.Series) -> gpd.GeoDataFrame:
    """The services layer with `load` (residents, by service position; missing = 0)."""
    frame = inst.services.copy()
    frame["load"] = load.reindex(range(len(frame))).fillna(0).astype("int64").to_numpy()
    return gpd.GeoDataFrame(frame, geometry=inst.geo["services"].to_numpy(), crs=CRS)


def _buurten_with_homes(inst: Instance, homes: pd.Series) -> gpd.GeoDataFrame | None:
    """The buurten layer with flex `homes` (by buurt_id) and their `share` of dwellings."""
    layer = inst.geo.get("neighbourhoods")
    if layer is None or inst.buurten.empty:
        return None
    frame = inst.buurten.copy()
    frame["homes"] = frame["buurt_id"].map(homes).fillna(0).astype("int64")
    frame["share"] = np.where(frame["dwellings"] > 0, frame["homes"] / frame["dwellings"], 0.0)
    return gpd.GeoDataFrame(frame, geometry=layer.geometry.to_numpy(), crs=CRS)


def services_frame(inst: Instance, result: Result) -> gpd.GeoDataFrame:
    return _services_with_load(inst, result.assignments.groupby("service")["residents"].sum())


def buurten_frame(inst: Instance, result: Result) -> gpd.GeoDataFrame | None:
    return _buurten_with_homes(inst, sum_by(inst.plots["buurt_id"], result.homes))


def regions_frame(inst: Instance, result: Result) -> gpd.GeoDataFrame | None:
    """Region outlines with their homes, for the report (only regions with geometry)."""
    layer = inst.geo.get("regions")
    if layer is None or inst.regions.empty:
        return None
    homes = sum_by(inst.plots["region_id"], result.homes)
    frame = inst.regions[["region_id", "name"]].copy()
    frame["homes"] = frame["region_id"].map(homes).fillna(0).astype("int64")
    regions = gpd.GeoDataFrame(frame, geometry=layer.geometry.to_numpy(), crs=CRS)
    return regions[~(regions.geometry.isna() | regions.geometry.is_empty)]


def assignments_frame(inst: Instance, result: Result) -> pd.DataFrame:
    a = result.assignments
    return pd.DataFrame(
        {
            "plot_id": inst.plots["plot_id"].to_numpy()[a["plot"].to_numpy(dtype=int)],
            "service_id": inst.services["service_id"].to_numpy()[a["service"].to_numpy(dtype=int)],
            "service_type": a["type"].to_numpy(),
            "residents": a["residents"].astype("int64").to_numpy(),
            "distance_m": a["distance_m"].round(3).to_numpy(),
        }
    )


def flows_frame(inst: Instance, result: Result) -> pd.DataFrame:
    f = result.flows
    return pd.DataFrame(
        {
            "region_id": f["region_id"].to_numpy(),
            "plot_id": inst.plots["plot_id"].to_numpy()[f["plot"].to_numpy(dtype=int)],
            "homes": f["homes"].astype("int64").to_numpy(),
            "cost": (f["homes"] * f["cost_per_home"]).to_numpy(),
        }
    )


def phased_snapshot(result: PhasedResult) -> Result:
    """The plan as one allocation for allocation.gpkg: each plot's peak homes and support."""
    return Result(
        status=result.status,
        homes=result.peak_homes,
        support=result.peak_support,
        assignments=result.assignments,
        flows=pd.DataFrame(columns=["region_id", "plot", "homes", "cost_per_home"]),
        objective=result.objective,
        best_bound=result.best_bound,
        gap=result.gap,
        solve_seconds=result.solve_seconds,
        solver=result.solver,
    )


def phased_plots_frame(
    inst: Instance, result: PhasedResult, reasons: list[str | None]
) -> gpd.GeoDataFrame:
    """plots with peak homes plus the project's first and last year standing (empty if none)."""
    frame = plots_frame(inst, phased_snapshot(result), reasons)
    standing = result.homes > 0
    years = np.array(result.years, dtype=float)
    first = np.where(standing.any(axis=1), years[standing.argmax(axis=1)], np.nan)
    last_index = standing.shape[1] - 1 - standing[:, ::-1].argmax(axis=1)
    last = np.where(standing.any(axis=1), years[last_index], np.nan)
    frame.insert(frame.columns.get_loc("selected") + 1, "first_year", first)
    frame.insert(frame.columns.get_loc("first_year") + 1, "last_year", last)
    return frame


def phased_services_frame(inst: Instance, result: PhasedResult) -> gpd.GeoDataFrame:
    """services with their peak load over the years (and open years when given)."""
    a = result.assignments
    per_year = a.groupby(["service", "year"])["residents"].sum() if len(a) else pd.Series()
    peak = per_year.groupby(level=0).max() if len(per_year) else pd.Series(dtype=int)
    return _services_with_load(inst, peak)


def phased_buurten_frame(inst: Instance, result: PhasedResult) -> gpd.GeoDataFrame | None:
    """buurten with their peak flex homes over the years."""
    homes = np.asarray(result.homes)
    # sum_by skips plots outside every buurt, whatever the id column's dtype (pandas 3).
    per_year = pd.concat(
        [sum_by(inst.plots["buurt_id"], homes[:, t]) for t in range(homes.shape[1])], axis=1
    )
    peak = per_year.max(axis=1) if per_year.shape[1] else pd.Series(dtype=int)
    return _buurten_with_homes(inst, peak)


def timeline_frame(inst: Instance, result: PhasedResult) -> pd.DataFrame:
    """timeline.csv: per year and plot with anything on it, homes standing, new and moved."""
    rows = []
    ids = inst.plots["plot_id"].to_numpy()
    for i, year in enumerate(result.years):
        active = (
            result.homes[:, i] + result.built[:, i] + result.moved_in[:, i] + result.moved_out[:, i]
        )
        for p in np.flatnonzero(active):
            rows.append(
                {
                    "year": year,
                    "plot_id": ids[p],
                    "homes": int(result.homes[p, i]),
                    "built": int(result.built[p, i]),
                    "moved_in": int(result.moved_in[p, i]),
                    "moved_out": int(result.moved_out[p, i]),
                    "support_homes": int(result.support[p, i]),
                }
            )
    columns = ["year", "plot_id", "homes", "built", "moved_in", "moved_out", "support_homes"]
    return pd.DataFrame(rows, columns=columns)


def relocations_frame(inst: Instance, result: PhasedResult) -> pd.DataFrame:
    """relocations.csv: year (first year at the new site), from_plot, to_plot, homes."""
    r = result.relocations
    ids = inst.plots["plot_id"].to_numpy()
    return pd.DataFrame(
        {
            "year": r["year"].astype("int64").to_numpy(),
            "from_plot": ids[r["from_plot"].to_numpy(dtype=int)],
            "to_plot": ids[r["to_plot"].to_numpy(dtype=int)],
            "homes": r["homes"].astype("int64").to_numpy(),
            "support_homes": r["support_homes"].astype("int64").to_numpy(),
        }
    )


def phased_assignments_frame(inst: Instance, result: PhasedResult) -> pd.DataFrame:
    """support_assignments.csv of a plan: the single-year columns with the year first."""
    frame = assignments_frame(inst, phased_snapshot(result))
    frame.insert(0, "year", result.assignments["year"].astype("int64").to_numpy())
    return frame


def report_timeline(inst: Instance, result: PhasedResult) -> dict[str, Any]:
    """Per-year data for the report's slider and chart (plot ids with their homes per year)."""
    ids = inst.plots["plot_id"].astype(str).to_numpy()
    years = []
    for i, year in enumerate(result.years):
        standing = np.flatnonzero(result.homes[:, i])
        years.append(
            {
                "year": year,
                "target": result.targets.get(year),
                "standing": int(result.homes[:, i].sum()),
                "plots": {ids[p]: int(result.homes[p, i]) for p in standing},
            }
        )
    return {"years": years}


def _json(path: Path, data: Any) -> None:
    path.write_text(
        json.dumps(data, indent=2, ensure_ascii=False, default=_default) + "\n", encoding="utf-8"
    )


def _default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _write_layer(frame: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    """Add ``layer`` to the GeoPackage at ``path``, through Arrow when that writes the same file.

    Arrow takes a quarter less time; it writes the same tables, except for an object column of
    non-strings (Arrow would type it, the row path writes its text), so such a frame takes the
    row path.
    """
    objects = [c for c, dtype in frame.dtypes.items() if dtype == np.dtype(object)]
    arrow = all(pd.api.types.infer_dtype(frame[c]) in ("string", "empty") for c in objects)
    with _unsynced_sqlite():
        frame.to_file(path, layer=layer, driver="GPKG", engine="pyogrio", use_arrow=arrow)


@contextlib.contextmanager
def _unsynced_sqlite() -> Iterator[None]:
    """GDAL's SQLite without a flush to disk at every commit (OGR_SQLITE_SYNCHRONOUS=OFF).

    A run folder is written in a temporary folder that is flushed as a whole (_fsync_tree) before
    it takes its name, so per-commit flushes add nothing to safety; they cost 0.02 s of the 0.14 s
    a national GeoPackage takes. GDAL's setting is process-wide, so the earlier value is put back.
    """
    import pyogrio

    before = pyogrio.get_gdal_config_option(_SYNCHRONOUS)
    pyogrio.set_gdal_config_options({_SYNCHRONOUS: "OFF"})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({_SYNCHRONOUS: before})


_SYNCHRONOUS = "OGR_SQLITE_SYNCHRONOUS"


@contextlib.contextmanager
def _flushing(folder: Path) -> Iterator[Callable[[Path], None]]:
    """``flush(path)`` sends a finished file to disk (fsync) in a worker thread, so that the
    GeoPackage and the report are flushed while what follows them is written; on leaving,
    the rest of ``folder`` is flushed and any error of the worker raised."""
    started: dict[Path, Future[None]] = {}
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="flexplan-fsync") as pool:

        def flush(path: Path) -> None:
            started[path] = pool.submit(_fsync_file, path)

        yield flush
        for future in started.values():
            future.result()
    _fsync_tree(folder, skip=set(started))


def _fsync_tree(folder: Path, skip: set[Path]) -> None:
    for path in folder.iterdir():
        if path.is_dir():
            _fsync_tree(path, skip)
        elif path not in skip:
            _fsync_file(path)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def write_run(
    out_dir: Path,
    *,
    inst: Instance,
    result: Result,
    kpis: dict[str, Any],
    reasons: list[str | None],
    manifest: dict[str, Any],
    phased: PhasedResult | None = None,
    kept: Kept | None = None,
) -> Path:
    """Write the run folder; returns its path. Replaces an earlier run folder of the same name.

    With ``phased`` (a plan over a horizon) allocation.gpkg holds each plot's peak, and
    timeline.csv and relocations.csv hold the years; ``result`` is then ignored. ``kept``
    goes to ``reuse/`` for a later re-run (planner.rerun), with the digests of the GeoPackage's
    layers (planner.geopackage); its ``gpkg`` is the earlier run's file to start from.
    """
    out_dir = Path(out_dir).resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        with _flushing(tmp) as flush:
            if phased is not None:
                gpkg = _write_phased(tmp, inst, phased, kpis, reasons, manifest, flush)
            else:
                display = kept.display if kept is not None else None
                earlier = kept.gpkg if kept is not None else None
                gpkg = _write_files(
                    tmp, inst, result, kpis, reasons, manifest, flush, display, earlier
                )
            if kept is not None:
                kept.write(tmp)
                gpkg.write(tmp / FOLDER, tmp / GPKG)
        _swap_into_place(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("export: run written to %s", out_dir)
    return out_dir


def _swap_into_place(tmp: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        os.replace(tmp, out_dir)
        return
    old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
    os.replace(out_dir, old)
    try:
        os.replace(tmp, out_dir)
    except BaseException:
        os.replace(old, out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


@dataclass
class _RunFiles:
    """What a run folder holds, whatever kind of run produced it."""

    plots: gpd.GeoDataFrame
    services: gpd.GeoDataFrame
    buurten: gpd.GeoDataFrame | None
    regions: gpd.GeoDataFrame | None
    tables: dict[str, pd.DataFrame]
    timeline: Any = None


def _write_files(
    folder: Path,
    inst: Instance,
    result: Result,
    kpis: dict[str, Any],
    reasons: list[str | None],
    manifest: dict[str, Any],
    flush: Callable[[Path], None],
    display: Display | None = None,
    earlier: KeptFile | None = None,
) -> KeptFile:
    started = time.perf_counter()
    tables = {"support_assignments.csv": assignments_frame(inst, result)}
    if inst.regions["demand"].fillna(0).gt(0).any():
        tables["region_flows.csv"] = flows_frame(inst, result)
    files = _RunFiles(
        plots=plots_frame(inst, result, reasons),
        services=services_frame(inst, result),
        buurten=buurten_frame(inst, result),
        regions=regions_frame(inst, result),
        tables=tables,
    )
    return _write_folder(folder, inst, files, kpis, manifest, started, flush, display, earlier)


def _write_phased(
    folder: Path,
    inst: Instance,
    result: PhasedResult,
    kpis: dict[str, Any],
    reasons: list[str | None],
    manifest: dict[str, Any],
    flush: Callable[[Path], None],
) -> KeptFile:
    """The run folder of a plan over a horizon (see README: timeline.csv, relocations.csv)."""
    started = time.perf_counter()
    files = _RunFiles(
        plots=phased_plots_frame(inst, result, reasons),
        services=phased_services_frame(inst, result),
        buurten=phased_buurten_frame(inst, result),
        regions=regions_frame(inst, phased_snapshot(result)),
        tables={
            "support_assignments.csv": phased_assignments_frame(inst, result),
            "timeline.csv": timeline_frame(inst, result),
            "relocations.csv": relocations_frame(inst, result),
        },
        timeline=report_timeline(inst, result),
    )
    return _write_folder(folder, inst, files, kpis, manifest, started, flush)


def _write_folder(
    folder: Path,
    inst: Instance,
    files: _RunFiles,
    kpis: dict[str, Any],
    manifest: dict[str, Any],
    started: float,
    flush: Callable[[Path], None],
    display: Display | None = None,
    earlier: KeptFile | None = None,
) -> KeptFile:
    """The files every run folder has; the manifest last, with the write stage's seconds.
    ``flush`` takes each big file to disk once it is written (``_flushing``); ``display``
    serves and collects the report's display geometry (planner.report.Display); ``earlier``
    is an earlier run's GeoPackage to start from (planner.geopackage). Returns what to keep of
    this run's GeoPackage."""
    from planner.report import build_report

    layers = {"services": Layer(files.services, ("load",))}
    if files.buurten is not None:
        layers["buurten"] = Layer(files.buurten, ("homes", "share"))
    layers["plots"] = Layer(files.plots)
    gpkg = write_geopackage(folder / GPKG, layers, earlier, _write_layer)
    flush(folder / GPKG)
    for name, table in files.tables.items():
        table.to_csv(folder / name, index=False)
    _json(folder / "kpis.json", kpis)
    (folder / "scenario.resolved.yaml").write_text(
        yaml.safe_dump(inst.scenario.resolved_dict(), sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    extra = {} if files.timeline is None else {"timeline": files.timeline}
    html = build_report(
        title=inst.scenario.name,
        plots=files.plots,
        services=files.services,
        buurten=files.buurten,
        kpis=kpis,
        regions=files.regions,
        display=display,
        **extra,
    )
    (folder / "report.html").write_text(html, encoding="utf-8")
    flush(folder / "report.html")
    manifest.setdefault("stage_seconds", {})["write"] = round(time.perf_counter() - started, 3)
    _json(folder / "manifest.json", manifest)
    return gpkg
