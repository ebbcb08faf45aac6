"""National-scale SYNTHETIC instances, and the real pipeline measured on them.

The demo (``geodata.generate``) has ~900 plots in 43 regions; the solver choice in
CONVENTIONS §6 was made on an instance about five times larger. This script makes such
instances on demand, deterministically from a seed, as ordinary contract layers and a scenario,
so every figure comes from the same code path a user runs (``run_scenario``):

- 342 gemeenten (the 43 centrumgemeenten of the demo with their real centres and populations,
  the rest drawn inside the rough outline of the Netherlands), with fair-share bounds;
- per 1,000 plots: 4,000 services of six types with capacities and 2,600 buurten with dwellings
  (5,000 plots: 20,000 services, 13,000 buurten), concentrated around each gemeente's centre;
- plots like the demo's (0.5-8 ha, capacity 15-250), target 10,000 homes, the default support,
  mix and reach rules.

Commands::

    python benchmarks/national.py generate --plots 5000 --out DIR --seed 1
    python benchmarks/national.py run --plots 5000 --sizes 1000,5000,20000
    python benchmarks/national.py rerun --plots 5000

Every run happens in a fresh child process (``measure``), so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
import yaml
from shapely.geometry import Point, Polygon

from geodata.generate import (
    NL_OUTLINE,
    SERVICE_TYPES,
    TOWNS,
    Town,
    _largest_part,
    _quadrilateral,
    _voronoi_cells,
)

log = logging.getLogger("national")

CRS = "EPSG:28992"
SYNTHETIC = "SYNTHETIC national benchmark instance (benchmarks/national.py); not real data"
CACHE = Path("/tmp/flexplan-national")
GENERATOR_VERSION = "1"  # bump when the layers change, so cached instances are rebuilt

GEMEENTEN = 342
SERVICES_PER_PLOT = 4.0
BUURTEN_PER_PLOT = 2.6
TARGET = 10_000
NL_POPULATION = 17_900_000
# Share of the services per type and the support residents one can take (low, high).
# Assumptions, in the demo's ranges; 10% of services have no stated capacity (unlimited).
SERVICE_MIX = {
    "huisarts": (0.40, (10, 40)),
    "wijkteam": (0.20, (20, 80)),
    "ggz": (0.12, (30, 120)),
    "verslavingszorg": (0.08, (20, 60)),
    "schuldhulp": (0.10, (30, 150)),
    "opvang": (0.10, (10, 40)),
}
UNLIMITED_SHARE = 0.1
URBAN_BUURT_SHARE = 0.85
RURAL_PLOT_SHARE = 0.15
MIN_PROJECT = 15  # the scenario default min_homes
REGION_MIN, REGION_MAX = 0.5, 2.0  # bounds as multiples of the population fair share
SCENARIO = {
    "support": {
        "min_share": 0.2,
        "max_share_per_plot": 0.25,
        "reach_m": {"huisarts": 1500.0, "wijkteam": 2500.0, "ggz": 5000.0},
    },
    "neighbourhood": {"max_share_of_dwellings": 0.05},
    "objective": "max_suitability",
    "solver": {"backend": "highs", "time_limit_s": 120.0, "relative_gap": 0.005, "seed": 1},
}
STAGES = ("load", "instance", "solve", "explain", "check", "write")


@dataclass(frozen=True)
class Size:
    """How big one instance is; everything scales with the number of plots."""

    plots: int
    services: int
    buurten: int
    gemeenten: int
    target: int

    @classmethod
    def for_plots(cls, plots: int) -> Size:
        """Services and buurten in proportion; 342 gemeenten and 10,000 homes from 1,000 plots
        up (smaller test instances get fewer gemeenten and 10 homes per plot, so they stay
        feasible)."""
        small = plots < 1_000
        return cls(
            plots=plots,
            services=round(SERVICES_PER_PLOT * plots),
            buurten=round(BUURTEN_PER_PLOT * plots),
            gemeenten=max(8, round(GEMEENTEN * plots / 1_000)) if small else GEMEENTEN,
            target=10 * plots if small else TARGET,
        )


# --------------------------------------------------------------------------- gemeenten


def _urban_radius(population: float) -> float:
    """Radius (m) of the built-up disc: 2,800 to 5,800 inhabitants/km2 (as the demo)."""
    return Town("", "", 0.0, 0.0, int(population)).urban_radius_m


def _gemeenten(rng: np.random.Generator, n: int, outline: Polygon) -> pd.DataFrame:
    """The demo's centrumgemeenten (real centres) plus smaller ones drawn inside the outline."""
    towns = TOWNS[: min(n, len(TOWNS))]
    rows = [{"code": c, "name": name, "x": x, "y": y, "pop": pop} for c, name, x, y, pop in towns]
    minx, miny, maxx, maxy = outline.bounds
    shapely.prepare(outline)
    while len(rows) < n:
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        near = min(math.hypot(x - r["x"], y - r["y"]) - 1.2 * _urban_radius(r["pop"]) for r in rows)
        if outline.contains(Point(x, y)) and near > 2_500:
            pop = int(np.clip(rng.lognormal(math.log(28_000), 0.6), 5_000, 110_000))
            i = len(rows) + 1
            rows.append(
                {"code": f"GM{2000 + i:04d}", "name": f"Gemeente {i}", "x": x, "y": y, "pop": pop}
            )
    frame = pd.DataFrame(rows)
    frame[["x", "y"]] = frame[["x", "y"]].round(2)
    frame["radius"] = [_urban_radius(p) for p in frame["pop"]]
    return frame


def _split(total: int, weight: np.ndarray, minimum: int) -> np.ndarray:
    """Integer shares of ``total`` in proportion to ``weight`` (largest remainder), each >= min."""
    counts = np.full(len(weight), minimum)
    rest = total - counts.sum()
    if rest <= 0:
        return counts
    raw = rest * weight / weight.sum()
    base = np.floor(raw).astype(int)
    order = np.argsort(-(raw - base), kind="stable")
    base[order[: rest - base.sum()]] += 1
    return counts + base


# --------------------------------------------------------------------------- buurten


def _buurt_seeds(
    rng: np.random.Generator, g: pd.Series, cell: Polygon, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Seeds of a gemeente's buurten: most in the urban disc, the rest anywhere in the cell."""
    shapely.prepare(cell)
    n_urban = max(1, round(URBAN_BUURT_SHARE * n))
    xy: list[tuple[float, float]] = []
    minx, miny, maxx, maxy = cell.bounds
    tries = 0
    while len(xy) < n:
        tries += 1
        if len(xy) < n_urban and tries < 50 * n:
            angle, r = rng.uniform(0, 2 * math.pi), g["radius"] * rng.random() ** 0.6
            x, y = g["x"] + r * math.cos(angle), g["y"] + r * math.sin(angle)
        else:
            x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if cell.contains(Point(x, y)):
            xy.append((round(x, 2), round(y, 2)))
    urban = np.arange(n) < n_urban
    return np.array(xy), urban


def _buurten_of(
    rng: np.random.Generator, g: pd.Series, cell: Polygon, n: int, gm: int
) -> dict[str, Any]:
    """Buurt polygons tiling one gemeente, with dwellings that fall off from the centre."""
    xy, urban = _buurt_seeds(rng, g, cell, n)
    cells = [_largest_part(c) for c in _voronoi_cells(xy, cell)]
    dist = np.hypot(xy[:, 0] - g["x"], xy[:, 1] - g["y"]) / g["radius"]
    weight = rng.lognormal(0, 0.6, n) * np.exp(-0.6 * np.clip(dist, 0, 3))
    households = g["pop"] / 2.2
    rural = rng.integers(100, 800, n)
    urban_total = max(households - rural[~urban].sum(), 0.5 * households)
    dwellings = np.where(urban, urban_total * weight / weight[urban].sum(), rural)
    dwellings = np.clip(np.round(dwellings), 50, 7_000).astype(int)
    return {
        "buurt_id": [f"BU{gm:04d}{k + 1:04d}" for k in range(n)],
        "dwellings": dwellings,
        "population": np.round(dwellings * 2.2).astype(int),
        "gemeente_id": [g["code"]] * n,
        "name": [f"Buurt {k + 1} {g['name']} (synthetic)" for k in range(n)],
        "urban": urban,
        "seed_x": xy[:, 0],
        "seed_y": xy[:, 1],
        "geometry": cells,
    }


def _buurten(
    rng: np.random.Generator, gemeenten: pd.DataFrame, cells: list[Polygon], total: int
) -> gpd.GeoDataFrame:
    counts = _split(total, gemeenten["pop"].to_numpy(dtype=float) ** 0.9, 2)
    parts = [
        pd.DataFrame(_buurten_of(rng, g, cell, int(n), gm))
        for gm, ((_, g), cell, n) in enumerate(
            zip(gemeenten.iterrows(), cells, counts, strict=True), start=1
        )
    ]
    frame = pd.concat(parts, ignore_index=True)
    frame = frame[~shapely.is_empty(frame["geometry"].to_numpy())].reset_index(drop=True)
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=CRS)


# --------------------------------------------------------------------------- services, plots


def _near_seeds(
    rng: np.random.Generator, buurten: gpd.GeoDataFrame, picks: np.ndarray, spread: float
) -> np.ndarray:
    """A point near the seed of each picked buurt (normal spread, at most 800 m)."""
    area = buurten.geometry.area.to_numpy()[picks]
    sigma = np.minimum(spread * np.sqrt(area), 800.0)
    x = buurten["seed_x"].to_numpy()[picks] + rng.normal(0, 1, len(picks)) * sigma
    y = buurten["seed_y"].to_numpy()[picks] + rng.normal(0, 1, len(picks)) * sigma
    return np.round(np.column_stack([x, y]), 2)


def _services(
    rng: np.random.Generator, buurten: gpd.GeoDataFrame, gemeenten: pd.DataFrame, total: int
) -> gpd.GeoDataFrame:
    """GPs and wijkteams follow dwellings; regional services prefer the larger gemeenten."""
    dwellings = buurten["dwellings"].to_numpy(dtype=float)
    pop_of = dict(zip(gemeenten["code"], gemeenten["pop"], strict=True))
    gm_pop = buurten["gemeente_id"].map(pop_of).to_numpy(dtype=float)
    weights = {
        "huisarts": dwellings,
        "wijkteam": dwellings**0.7,
    }
    counts = _split(total, np.array([SERVICE_MIX[t][0] for t in SERVICE_TYPES]), 1)
    frames = []
    for kind, n in zip(SERVICE_TYPES, counts, strict=True):
        weight = weights.get(kind, dwellings * np.sqrt(gm_pop))
        picks = rng.choice(len(buurten), size=int(n), p=weight / weight.sum())
        xy = _near_seeds(rng, buurten, picks, 0.3)
        low, high = SERVICE_MIX[kind][1]
        capacity = rng.integers(low, high + 1, int(n)).astype(float)
        capacity[rng.random(int(n)) < UNLIMITED_SHARE] = np.nan
        frames.append(
            pd.DataFrame(
                {
                    "type": kind,
                    "capacity": capacity,
                    "gemeente_id": buurten["gemeente_id"].to_numpy()[picks],
                    "x": xy[:, 0],
                    "y": xy[:, 1],
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True)
    ids = [f"S{i:06d}" for i in range(1, len(frame) + 1)]
    return gpd.GeoDataFrame(
        {
            "service_id": ids,
            "type": frame["type"],
            "capacity": pd.array(
                [None if np.isnan(c) else int(c) for c in frame["capacity"]], dtype="Int64"
            ),
            "name": [f"{t} {i} (synthetic)" for t, i in zip(frame["type"], ids, strict=True)],
        },
        geometry=shapely.points(frame["x"].to_numpy(), frame["y"].to_numpy()),
        crs=CRS,
    )


def _plot_sites(rng: np.random.Generator, buurten: gpd.GeoDataFrame, n: int) -> np.ndarray:
    """Plot centres inside buurten: most in urban buurten (by dwellings), some in rural ones."""
    urban = buurten["urban"].to_numpy()
    weight = np.where(urban, buurten["dwellings"].to_numpy(dtype=float) ** 0.7, 0.0)
    rural_weight = (~urban).astype(float)
    n_rural = round(RURAL_PLOT_SHARE * n) if rural_weight.sum() else 0
    picks = np.concatenate(
        [
            rng.choice(len(buurten), size=n - n_rural, p=weight / weight.sum()),
            rng.choice(len(buurten), size=n_rural, p=rural_weight / max(rural_weight.sum(), 1)),
        ]
    )
    geoms = buurten.geometry.to_numpy()[picks]
    xy = _near_seeds(rng, buurten, picks, 0.25)
    for _ in range(20):  # redraw the points that fell outside their buurt
        outside = ~shapely.contains_xy(geoms, xy[:, 0], xy[:, 1])
        if not outside.any():
            break
        xy[outside] = _near_seeds(rng, buurten, picks[outside], 0.15)
    outside = ~shapely.contains_xy(geoms, xy[:, 0], xy[:, 1])
    inner = shapely.point_on_surface(geoms[outside])
    xy[outside] = np.round(shapely.get_coordinates(inner), 2)
    return xy


def _plots(rng: np.random.Generator, buurten: gpd.GeoDataFrame, n: int) -> gpd.GeoDataFrame:
    """Plots of 0.5-8 ha; half give a capacity (30-250), the rest take 30 homes/ha."""
    xy = _plot_sites(rng, buurten, n)
    area_ha = np.clip(rng.lognormal(math.log(2.5), 0.5, n), 0.5, 8.0)
    explicit = rng.random(n) < 0.5
    density = rng.uniform(20.0, 60.0, n)
    capacity = np.where(explicit, np.clip(np.round(area_ha * density), 30, 250), np.nan)
    homes = np.where(explicit, capacity, np.floor(area_ha * 30))
    draw = rng.random(n)
    min_homes = np.where(
        (draw < 0.1) & (homes >= 150), 50.0, np.where((draw < 0.3) & (homes >= 80), 30.0, np.nan)
    )
    cost = 75_000 + rng.normal(0, 8_000, n)
    cost_per_home = np.clip(np.round(cost / 500) * 500, 60_000, 110_000)
    fixed = np.clip(
        np.round((40_000 + 35_000 * area_ha + rng.uniform(0, 80_000, n)) / 1e3) * 1e3,
        50_000,
        700_000,
    )
    geoms = [
        _quadrilateral(rng, x, y, a * 10_000, jitter=bool(j))
        for (x, y), a, j in zip(xy, area_ha, rng.random(n) < 0.4, strict=True)
    ]
    ids = [f"P{i:06d}" for i in range(1, n + 1)]

    def nullable(values: np.ndarray) -> pd.arrays.IntegerArray:
        return pd.array([None if np.isnan(v) else int(v) for v in values], dtype="Int64")

    return gpd.GeoDataFrame(
        {
            "plot_id": ids,
            "name": [f"Kavel {i} (synthetic)" for i in ids],
            "capacity": nullable(capacity),
            "min_homes": nullable(min_homes),
            "fixed_cost": fixed,
            "cost_per_home": cost_per_home,
            "proposer": [
                f"Woonstichting Synthetisch {'ABCDEFGHIJKL'[k]} (fictional)"
                for k in rng.integers(0, 12, n)
            ],
        },
        geometry=geoms,
        crs=CRS,
    )


# --------------------------------------------------------------------------- regions


def _region_room(plots: gpd.GeoDataFrame, buurten: gpd.GeoDataFrame, share: float) -> pd.Series:
    """Homes each gemeente could hold at most: capacity of plots whose minimum project fits
    their buurt cap, capped per buurt."""
    points = gpd.GeoDataFrame(geometry=plots.geometry.representative_point(), crs=CRS)
    hit = gpd.sjoin(points, buurten[["buurt_id", "geometry"]], predicate="covered_by")
    hit = hit[~hit.index.duplicated(keep="first")]
    area = plots.geometry.area.to_numpy() / 10_000
    cap = plots["capacity"].astype("Float64").fillna(pd.Series(np.floor(area * 30), plots.index))
    low = plots["min_homes"].astype("Float64").fillna(MIN_PROJECT)
    info = buurten.set_index("buurt_id")
    limit = np.floor(share * info.loc[hit["buurt_id"], "dwellings"].to_numpy() + 1e-9)
    fits = low.loc[hit.index].to_numpy(dtype=float) <= limit
    frame = pd.DataFrame(
        {"buurt_id": hit["buurt_id"].to_numpy(), "cap": cap.loc[hit.index].to_numpy(float) * fits}
    )
    per_buurt = frame.groupby("buurt_id")["cap"].sum()
    limit = np.floor(share * info.loc[per_buurt.index, "dwellings"].to_numpy() + 1e-9)
    room = np.minimum(per_buurt.to_numpy(), limit)
    gm = info.loc[per_buurt.index, "gemeente_id"].to_numpy()
    return pd.Series(room, index=per_buurt.index).groupby(gm).sum()


def _regions(
    gemeenten: pd.DataFrame, cells: list[Polygon], room: pd.Series, target: int
) -> gpd.GeoDataFrame:
    """Fair shares by population; the minimum never above half of what a gemeente can hold,
    and none where it would be smaller than one project (15 homes)."""
    pop = gemeenten["pop"].to_numpy(dtype=float)
    share = target * pop / pop.sum()
    holds = room.reindex(gemeenten["code"]).fillna(0).to_numpy()
    low = np.floor(np.minimum(REGION_MIN * share, 0.5 * holds)).astype(int)
    low[low < MIN_PROJECT] = 0  # a minimum below one project cannot be a fair share
    high = np.maximum(np.ceil(REGION_MAX * share), low + 1).astype(int)
    return gpd.GeoDataFrame(
        {
            "region_id": gemeenten["code"].to_numpy(),
            "name": [f"{n} (synthetic extent)" for n in gemeenten["name"]],
            "min_homes": low,
            "max_homes": high,
            "population": pop.astype(int),
        },
        geometry=cells,
        crs=CRS,
    )


# --------------------------------------------------------------------------- assembly, I/O


def build_layers(plots: int, seed: int = 1) -> dict[str, gpd.GeoDataFrame]:
    """All layers of one national instance (EPSG:28992), from one seeded generator."""
    size = Size.for_plots(plots)
    rng = np.random.default_rng(seed)
    outline = Polygon(NL_OUTLINE)
    gemeenten = _gemeenten(rng, size.gemeenten, outline)
    cells = [_largest_part(c) for c in _voronoi_cells(gemeenten[["x", "y"]].to_numpy(), outline)]
    buurten = _buurten(rng, gemeenten, cells, size.buurten)
    services = _services(rng, buurten, gemeenten, size.services)
    plot_frame = _plots(rng, buurten, size.plots)
    share = SCENARIO["neighbourhood"]["max_share_of_dwellings"]
    room = _region_room(plot_frame, buurten, share)
    return {
        "plots": plot_frame,
        "services": services,
        "neighbourhoods": buurten[
            ["buurt_id", "dwellings", "population", "gemeente_id", "name", "geometry"]
        ],
        "regions": _regions(gemeenten, cells, room, size.target),
    }


def scenario_dict(plots: int) -> dict[str, Any]:
    """The benchmark scenario: default rules written out, solver gap 0.5%, 120 s."""
    size = Size.for_plots(plots)
    return {
        "name": f"National benchmark {plots} plots (SYNTHETIC)",
        "description": SYNTHETIC,
        "target_homes": size.target,
        "layers": {k: f"{k}.gpkg" for k in ("plots", "services", "neighbourhoods", "regions")},
        **SCENARIO,
    }


def generate(plots: int, out: Path, seed: int = 1) -> Path:
    """Write the layers and scenario.yaml to ``out``; returns the scenario path."""
    layers = build_layers(plots, seed)
    out.mkdir(parents=True, exist_ok=True)
    for kind, frame in layers.items():
        path = out / f"{kind}.gpkg"
        path.unlink(missing_ok=True)
        pyogrio.write_dataframe(
            frame,
            path,
            layer=kind,
            driver="GPKG",
            promote_to_multi=kind == "regions",
            layer_options={"DESCRIPTION": SYNTHETIC},
        )
    scenario = out / "scenario.yaml"
    scenario.write_text(yaml.safe_dump(scenario_dict(plots), sort_keys=False), encoding="utf-8")
    stamp = {
        "plots": plots,
        "seed": seed,
        "version": GENERATOR_VERSION,
        **asdict(Size.for_plots(plots)),
    }
    (out / "generator.json").write_text(json.dumps(stamp), encoding="utf-8")
    return scenario


def cached_instance(plots: int, seed: int = 1, cache: Path = CACHE) -> Path:
    """The scenario of a cached instance, generated on first use (or after a generator change)."""
    folder = cache / f"plots{plots}-seed{seed}"
    stamp = folder / "generator.json"
    if stamp.is_file():
        data = json.loads(stamp.read_text(encoding="utf-8"))
        if data.get("version") == GENERATOR_VERSION:
            return folder / "scenario.yaml"
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    path = generate(plots, folder, seed)
    print(f"generated {plots} plots in {time.perf_counter() - started:.1f} s: {folder}")
    return path


# --------------------------------------------------------------------------- measuring one run


def _peak_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@contextlib.contextmanager
def _probe() -> Iterator[dict[str, Any]]:
    """Observe the instance and the models ``run_scenario`` builds (and time the builds) without
    changing them: the manifest has stage seconds but not the model size."""
    import planner.instance
    import planner.model

    seen: dict[str, Any] = {"builds": []}
    build_instance, build = planner.instance.build_instance, planner.model.build

    def observed_instance(*args: Any, **kwargs: Any) -> Any:
        seen["instance"] = build_instance(*args, **kwargs)
        return seen["instance"]

    def observed_build(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        built = build(*args, **kwargs)
        seen["builds"].append((built, time.perf_counter() - started))
        return built

    planner.instance.build_instance = observed_instance
    planner.model.build = observed_build
    try:
        yield seen
    finally:
        planner.instance.build_instance = build_instance
        planner.model.build = build


def model_size(model: Any) -> dict[str, int]:
    """Columns, integer columns, rows and non-zeros of a MathOpt model."""
    proto = model.export_model()
    return {
        "variables": len(proto.variables.ids),
        "integers": int(sum(proto.variables.integers)),
        "constraints": len(proto.linear_constraints.ids),
        "nonzeros": len(proto.linear_constraint_matrix.row_ids),
    }


PIPELINE_MODULES = (
    "planner.pipeline",
    "planner.instance",
    "planner.model",
    "planner.model.certificate",
    "planner.explain",
    "planner.why_unused",
    "planner.check",
    "planner.kpis",
    "planner.export",
    "planner.report",
    "planner.rerun",
    "planner.greedy",
    "planner.geopackage",
    "geodata.contract",
    # imported by the libraries when first used: the solution's assignment problems, and the
    # Parquet files of a re-run's reuse/ folder
    "ortools.graph.python.min_cost_flow",
    "pyarrow.dataset",
)


def measure(
    scenario: Path,
    out: Path,
    *,
    hint_from: Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the real pipeline once; seconds per stage, peak RSS after each, model size, KPIs.

    The modules a run uses are imported before the clock starts (``PIPELINE_MODULES``): a
    process's imports are the same for every run and no stage of it (a batch, a sweep or the
    web app imports them once); ``measure_in_child`` also gives the whole process's seconds.
    """
    for module in PIPELINE_MODULES:
        importlib.import_module(module)
    from planner.pipeline import apply_overrides, run_scenario
    from planner.scenario import load_scenario

    loaded = load_scenario(scenario)
    if overrides:
        loaded = apply_overrides(loaded, overrides)
    rss: dict[str, float] = {}
    # progress announces a stage as it starts: the peak so far belongs to the stage before
    before = {"building instance": "load", "solving": "instance", "writing results": "check"}

    def progress(message: str) -> None:
        for prefix, stage in before.items():
            if message.startswith(prefix):
                rss[stage] = _peak_rss_mib()

    started = time.perf_counter()
    with _probe() as seen:
        outcome = run_scenario(loaded, out, progress=progress, hint_from=hint_from)
    wall = time.perf_counter() - started
    rss["write"] = _peak_rss_mib()
    built, build_seconds = seen["builds"][0]
    kpis = outcome.kpis
    return {
        "plots": len(seen["instance"].plots),
        "services": len(seen["instance"].services),
        "buurten": len(seen["instance"].buurten),
        "pairs": len(seen["instance"].pairs),
        **model_size(built.model),
        "build_seconds": round(build_seconds, 3),
        "stage_seconds": outcome.stage_seconds,
        "peak_rss_mib": rss,
        "wall_seconds": round(wall, 3),
        **{k: kpis.get(k) for k in ("status", "homes", "objective", "best_bound", "gap")},
        "solver_seconds": kpis.get("solve_seconds"),
    }


def measure_in_child(
    scenario: Path, out: Path, *, hint_from: Path | None = None, sets: Sequence[str] = ()
) -> dict[str, Any]:
    """``measure`` in a fresh Python process, so peak memory and caches are the run's own."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "measure", str(scenario), str(out)]
    if hint_from is not None:
        cmd += ["--hint-from", str(hint_from)]
    for item in sets:
        cmd += ["--set", item]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"measure failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "process_seconds": seconds}


# --------------------------------------------------------------------------- tables


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A Markdown table (pastes straight into benchmarks/README.md)."""
    cells = [[_fmt(c) if not isinstance(c, str) else c for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")


def _gap(m: dict[str, Any]) -> str:
    return "-" if m["gap"] is None else f"{100 * m['gap']:.3f}%"


def print_run(m: dict[str, Any]) -> None:
    """Stages with their peak memory, then the model and the result of one run."""
    print(f"\n{m['plots']:,} plots, {m['services']:,} services, {m['buurten']:,} buurten")
    rows = [
        [stage, m["stage_seconds"].get(stage), m["peak_rss_mib"].get(stage, "(in next row)")]
        for stage in STAGES
    ]
    rows.append(["(model build, inside solve)", m["build_seconds"], None])
    rows.append(["total (wall)", m["wall_seconds"], max(m["peak_rss_mib"].values())])
    print_table(["stage", "seconds", "peak RSS so far (MiB)"], rows)
    print()
    print_table(
        ["reach pairs", "variables", "integer", "constraints", "non-zeros"],
        [[m["pairs"], m["variables"], m["integers"], m["constraints"], m["nonzeros"]]],
    )
    print()
    print_table(
        ["status", "homes", "objective", "best bound", "gap", "solver s"],
        [
            [
                m["status"],
                m["homes"],
                f"{m['objective']:.3f}",
                f"{m['best_bound']:.3f}",
                _gap(m),
                m["solver_seconds"],
            ]
        ],
    )


def print_scaling(results: Sequence[dict[str, Any]]) -> None:
    rows = [
        [
            m["plots"],
            m["services"],
            m["buurten"],
            m["pairs"],
            m["variables"],
            m["integers"],
            m["constraints"],
            m["nonzeros"],
            m["stage_seconds"]["load"],
            m["stage_seconds"]["instance"],
            m["build_seconds"],
            m["stage_seconds"]["solve"],
            m["wall_seconds"],
            max(m["peak_rss_mib"].values()),
            m["status"],
            _gap(m),
        ]
        for m in results
    ]
    headers = [
        "plots",
        "services",
        "buurten",
        "pairs",
        "vars",
        "int",
        "rows",
        "nnz",
        "load s",
        "instance s",
        "build s",
        "solve s",
        "total s",
        "peak MiB",
        "status",
        "gap",
    ]
    print_table(headers, rows)


# --------------------------------------------------------------------------- commands


def cmd_run(args: argparse.Namespace) -> int:
    sizes = sorted({args.plots, *(int(s) for s in args.sizes.split(",") if s)})
    results: dict[int, dict[str, Any]] = {}
    for plots in [args.plots, *(s for s in sizes if s != args.plots)]:
        scenario = cached_instance(plots, args.seed, args.cache)
        results[plots] = measure_in_child(scenario, args.cache / "runs" / f"run{plots}")
        if plots == args.plots:
            print_run(results[plots])
            ok = results[plots]["wall_seconds"] < 60 and (results[plots]["gap"] or 0) <= 0.005
            print(f"\ngoal (< 60 s end to end, proven gap <= 0.5%): {'met' if ok else 'NOT met'}")
        else:
            print(f"  measured {plots:,} plots: {results[plots]['wall_seconds']:.1f} s")
    print("\nscaling")
    print_scaling([results[s] for s in sizes])
    return 0


def _removed_plot(run_dir: Path) -> str:
    """The selected plot with the most homes: the change that disturbs the hint the most."""
    table = pyogrio.read_dataframe(
        run_dir / "allocation.gpkg",
        layer="plots",
        columns=["plot_id", "homes"],
        read_geometry=False,
    )
    table = table.sort_values(["homes", "plot_id"], ascending=[False, True], kind="stable")
    return str(table["plot_id"].iloc[0])


def _edited_copy(
    scenario: Path, folder: Path, edit: Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame]
) -> Path:
    """A copy of the instance folder with plots.gpkg changed by ``edit``; its scenario path."""
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(scenario.parent, folder)
    plots = edit(pyogrio.read_dataframe(folder / "plots.gpkg"))
    (folder / "plots.gpkg").unlink()
    pyogrio.write_dataframe(plots, folder / "plots.gpkg", layer="plots", driver="GPKG")
    return folder / "scenario.yaml"


def _without_plot(scenario: Path, plot_id: str, folder: Path) -> Path:
    """A copy of the instance folder with one plot removed from plots.gpkg."""
    return _edited_copy(scenario, folder, lambda plots: plots[plots["plot_id"] != plot_id])


def _with_plot(scenario: Path, plot_id: str, folder: Path) -> tuple[Path, str]:
    """A copy of the instance folder with one plot added: ``plot_id`` copied 300 m east under a
    new id (as when a corporation proposes one more site next to a good one)."""
    new_id = f"{plot_id}-NEW"

    def add(plots: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        copy = plots[plots["plot_id"] == plot_id].copy()
        copy["plot_id"] = new_id
        copy["geometry"] = copy.geometry.translate(xoff=300.0)
        return pd.concat([plots, copy], ignore_index=True)

    return _edited_copy(scenario, folder, add), new_id


def cmd_rerun(args: argparse.Namespace) -> int:
    scenario = cached_instance(args.plots, args.seed, args.cache)
    runs = args.cache / "runs"
    first_dir = runs / f"first{args.plots}"
    first = measure_in_child(scenario, first_dir)
    print(
        f"first run: {first['wall_seconds']:.2f} s ({first['process_seconds']:.2f} s with the "
        f"process start and imports), {first['status']}, gap {_gap(first)}"
    )
    plot_id = _removed_plot(first_dir)
    removed = _without_plot(scenario, plot_id, args.cache / f"plots{args.plots}-minus-one")
    added, new_id = _with_plot(scenario, plot_id, args.cache / f"plots{args.plots}-plus-one")
    changes = [
        (f"plot {new_id} added", added, []),
        (f"plot {plot_id} removed", removed, []),
        ("support.reach_m.huisarts 1500 -> 1400", scenario, ["support.reach_m.huisarts=1400"]),
    ]
    rows, stages = [], []
    for label, path, sets in changes:
        pairs = []
        for _ in range(args.repeat):  # alternating, so a slow spell of the machine hits both
            cold = measure_in_child(path, runs / "cold", sets=sets)
            warm = measure_in_child(path, runs / "warm", hint_from=first_dir, sets=sets)
            pairs.append((cold, warm))
        cold, warm = _median([c for c, _ in pairs]), _median([w for _, w in pairs])
        ratios = sorted(c["wall_seconds"] / w["wall_seconds"] for c, w in pairs)
        stages += [(label, "cold", cold["stage_seconds"]), (label, "warm", warm["stage_seconds"])]
        rows.append(
            [
                label,
                cold["wall_seconds"],
                warm["wall_seconds"],
                f"{cold['wall_seconds'] / warm['wall_seconds']:.2f}x",
                f"{ratios[0]:.2f}-{ratios[-1]:.2f}x",
                round(cold["process_seconds"], 2),
                round(warm["process_seconds"], 2),
                f"{cold['process_seconds'] / warm['process_seconds']:.2f}x",
                cold["solver_seconds"],
                warm["solver_seconds"],
                f"{cold['solver_seconds'] / warm['solver_seconds']:.2f}x",
                f"{cold['objective']:.3f}",
                f"{warm['objective']:.3f}",
                _gap(cold),
                _gap(warm),
            ]
        )
    print()
    print_table(
        [
            "change",
            "cold s",
            "warm s",
            "speed-up",
            "pairs",
            "cold process s",
            "warm process s",
            "process speed-up",
            "cold solver s",
            "warm solver s",
            "solver speed-up",
            "cold objective",
            "warm objective",
            "cold gap",
            "warm gap",
        ],
        rows,
    )
    print()
    for label, kind, seconds in stages:
        print(f"{label}, {kind}: " + ", ".join(f"{k} {v:.2f}" for k, v in seconds.items()))
    return 0


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time (the lower middle one of an even number), whole: its
    stages, objective and gap belong to the seconds shown."""
    ordered = sorted(runs, key=lambda run: run["wall_seconds"])
    return ordered[(len(ordered) - 1) // 2]


def cmd_generate(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    path = generate(args.plots, args.out, args.seed)
    size = Size.for_plots(args.plots)
    print(f"{path} ({time.perf_counter() - started:.1f} s): {size}")
    return 0


def cmd_measure(args: argparse.Namespace) -> int:
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = yaml.safe_load(value)
    result = measure(args.scenario, args.out, hint_from=args.hint_from, overrides=overrides)
    print(json.dumps(result))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks/national.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write one instance (layers + scenario.yaml)")
    gen.add_argument("--plots", type=int, default=5_000)
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--seed", type=int, default=1)
    for name, help_text in (
        ("run", "end-to-end stages and a scaling table"),
        ("rerun", "a small change solved cold and warm-started"),
    ):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--plots", type=int, default=5_000)
        cmd.add_argument("--seed", type=int, default=1)
        cmd.add_argument("--cache", type=Path, default=CACHE, help="instances and run folders")
        if name == "run":
            cmd.add_argument("--sizes", default="1000,5000,20000", help="comma-separated plots")
        if name == "rerun":
            cmd.add_argument(
                "--repeat",
                type=int,
                default=7,
                help="cold and warm runs per change, alternating; the tables show the median "
                "run and the range of the pairs' speed-ups",
            )
    one = sub.add_parser("measure", help="one run, JSON on stdout (used in a child process)")
    one.add_argument("scenario", type=Path)
    one.add_argument("out", type=Path)
    one.add_argument("--hint-from", type=Path, default=None)
    one.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    commands = {
        "generate": cmd_generate,
        "run": cmd_run,
        "rerun": cmd_rerun,
        "measure": cmd_measure,
    }
    return commands[args.command](args)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
