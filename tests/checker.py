"""Independent checker of a finished run folder: every rule and KPI, recomputed from scratch.

The checker reads only the run folder and the input layers named in its resolved scenario. It
imports nothing from the planner's instance, reach, scoring, model or export code, so a bug there
shows up here as a violation instead of being repeated (the validation.py pattern of the CP-SAT
Primer). Geometry is recomputed with shapely directly: buurt and region membership from the
representative point, reach from polygon-to-point distances and catchments, suitability from
nearest features.

Every violation is one line starting with a ``[tag]`` naming the rule family, so tests and humans
can tell at a glance which rule broke.

A run with a ``horizon`` (a plan per year) is checked year by year from timeline.csv,
relocations.csv and the yearly support_assignments.csv: windows and permits, production,
conservation of homes and support homes through relocations, mix, care reach and capacity of the
services open that year, buurt caps, region bounds, groups, targets, costs and the objective.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
import yaml

from geodata.contract import load_layer
from geodata.network import read_network
from planner.scenario import Scenario, scenario_from_dict

RD_EPSG = 28992
REL_TOL = 1e-6
ABS_TOL = 1e-6
DISTANCE_TOL_M = 0.01
ROUND_TOL = 1e-9
STATUSES = ("OPTIMAL", "FEASIBLE", "SHORTFALL", "INFEASIBLE")
SOLVED = ("OPTIMAL", "FEASIBLE")

_ID_COLUMNS = ("plot_id", "service_id", "region_id", "buurt_id")


# --- small helpers -------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    """True for None, NaN, NA and NaT (scalars only)."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _id(value: Any) -> str | None:
    """Ids as plain text, so 12 (gpkg integer), 12.0 (CSV float) and '12' all compare equal."""
    if _missing(value):
        return None
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def _num(value: Any) -> float | None:
    """A float, or None for a missing value."""
    return None if _missing(value) else float(value)


def _int(value: Any) -> int | None:
    """An int when the value is integral, else None (a float home count is itself a fault)."""
    number = _num(value)
    if number is None or not number.is_integer():
        return None
    return int(number)


def _floor(value: float) -> int:
    """Floor that forgives float noise such as 0.05 * 400 = 19.999999999999996."""
    return math.floor(value + ROUND_TOL)


def _ceil(value: float) -> int:
    """Ceil that forgives float noise such as 0.2 * 50 = 10.000000000000002."""
    return math.ceil(value - ROUND_TOL)


def _close(a: float, b: float, *, rel: float = REL_TOL, abs_: float = ABS_TOL) -> bool:
    return abs(a - b) <= max(abs_, rel * max(abs(a), abs(b)))


def _same_optional(a: float | None, b: float | None) -> bool:
    """Equal numbers, or both missing."""
    if a is None or b is None:
        return a is None and b is None
    return _close(a, b)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dicts with ids normalised; geometry stays a shapely object."""
    rows = frame.to_dict(orient="records")
    for row in rows:
        for column in _ID_COLUMNS:
            if column in row:
                row[column] = _id(row[column])
    return rows


# --- the loaded run ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Facts:
    """What the inputs say about one plot, recomputed independently of the planner."""

    geometry: Any
    capacity: int
    min_homes: int
    fixed_homes: int | None
    ineligible: tuple[str, ...]
    fixed_cost_eur: float
    cost_per_home_eur: float
    group: str | None
    buurten: frozenset[str]
    regions: frozenset[str]
    suitability: float

    @property
    def eligible(self) -> bool:
        return not self.ineligible


@dataclass(frozen=True)
class _Run:
    """Everything the rules look at: scenario, input layers, recomputed facts and output files."""

    scenario: Scenario
    layers: dict[str, Any]
    facts: dict[str, _Facts]
    services: dict[str, dict[str, Any]]
    catchments: dict[str, Any]
    plots_out: dict[str, dict[str, Any]]
    services_out: dict[str, dict[str, Any]]
    buurten_out: list[dict[str, Any]] | None
    assignments: list[dict[str, Any]]
    flows: list[dict[str, Any]] | None
    kpis: dict[str, Any]
    routes: _Routes | None = None
    timeline: list[dict[str, Any]] | None = None
    relocations: list[dict[str, Any]] | None = None

    @property
    def status(self) -> str:
        return str(self.kpis.get("status"))

    def homes(self, plot_id: str) -> int:
        """Homes on a plot per the file; a malformed value counts as 0 (reported elsewhere)."""
        return _int(self.plots_out.get(plot_id, {}).get("homes")) or 0

    def support(self, plot_id: str) -> int:
        return _int(self.plots_out.get(plot_id, {}).get("support_homes")) or 0

    @property
    def total_homes(self) -> int:
        return sum(self.homes(p) for p in self.plots_out)

    @property
    def total_support(self) -> int:
        return sum(self.support(p) for p in self.plots_out)


def _load_inputs(scenario: Scenario) -> dict[str, Any]:
    """Every input layer through the data contract (EPSG:28992), None where not given."""
    layers: dict[str, Any] = {}
    for kind in type(scenario.layers).model_fields:
        ref = getattr(scenario.layers, kind)
        path = scenario.layer_path(kind)
        if kind == "network":
            layers[kind] = (
                None
                if ref is None
                else read_network(
                    path, profile=scenario.support.network_profile, layer=ref.layer, crs=ref.crs
                )
            )
            continue
        layers[kind] = None if ref is None else load_layer(kind, path, layer=ref.layer, crs=ref.crs)
    return layers


class _Routes:
    """Street routes recomputed with networkx (independent of planner.network's scipy code)."""

    def __init__(self, lines: gpd.GeoDataFrame) -> None:
        self.graph = nx.Graph()
        for line in lines.geometry:
            coords = [(round(x, 2), round(y, 2)) for x, y in line.coords]
            for a, b in itertools.pairwise(coords):
                if a == b:
                    continue
                weight = float(np.hypot(a[0] - b[0], a[1] - b[1]))
                if not self.graph.has_edge(a, b) or self.graph[a][b]["weight"] > weight:
                    self.graph.add_edge(a, b, weight=weight)
        self.nodes = list(self.graph.nodes)
        self.tree = shapely.STRtree(shapely.points(self.nodes))
        self._lengths: dict[Any, dict[Any, float]] = {}

    def _enter(self, geom: Any) -> tuple[Any, float]:
        j = int(self.tree.query_nearest(geom, all_matches=False)[0])
        node = self.nodes[j]
        return node, float(shapely.distance(geom, shapely.Point(node)))

    def distance(self, plot: Any, point: Any) -> float:
        a, gap_a = self._enter(plot)
        b, gap_b = self._enter(point)
        if a not in self._lengths:
            self._lengths[a] = nx.single_source_dijkstra_path_length(self.graph, a, weight="weight")
        return gap_a + self._lengths[a].get(b, float("inf")) + gap_b


def _read_csv(path: Path) -> list[dict[str, Any]]:
    frame = pd.read_csv(path, dtype={c: str for c in (*_ID_COLUMNS, "service_type")})
    return _records(frame)


def _load_outputs(run_dir: Path, problems: list[str]) -> dict[str, Any] | None:
    """The run folder's files; None (with [files] problems) when a required one is missing."""
    required = ["scenario.resolved.yaml", "allocation.gpkg", "support_assignments.csv", "kpis.json"]
    absent = [name for name in required if not (run_dir / name).is_file()]
    problems.extend(f"[files] {run_dir / name} is missing" for name in absent)
    if absent:
        return None
    gpkg = run_dir / "allocation.gpkg"
    layer_names = set(gpd.list_layers(gpkg)["name"])
    for name in ("plots", "services"):
        if name not in layer_names:
            problems.append(f"[files] {gpkg} has no layer '{name}'")
    if problems:
        return None
    plots = gpd.read_file(gpkg, layer="plots")
    if plots.crs is None or plots.crs.to_epsg() != RD_EPSG:
        problems.append(f"[files] {gpkg}:plots is in {plots.crs}, expected EPSG:{RD_EPSG}")
    flows_path = run_dir / "region_flows.csv"
    return {
        "plots": _records(plots),
        "services": _records(gpd.read_file(gpkg, layer="services")),
        "buurten": (
            _records(gpd.read_file(gpkg, layer="buurten")) if "buurten" in layer_names else None
        ),
        "assignments": _read_csv(run_dir / "support_assignments.csv"),
        "flows": _read_csv(flows_path) if flows_path.is_file() else None,
        "kpis": json.loads((run_dir / "kpis.json").read_text(encoding="utf-8")),
        "timeline": _optional_csv(run_dir / "timeline.csv"),
        "relocations": _optional_csv(run_dir / "relocations.csv"),
    }


def _optional_csv(path: Path) -> list[dict[str, Any]] | None:
    if not path.is_file():
        return None
    frame = pd.read_csv(path, dtype={c: str for c in ("plot_id", "from_plot", "to_plot")})
    return _records(frame)


def _by_id(rows: list[dict[str, Any]], key: str, what: str, problems: list[str]) -> dict:
    """Rows keyed by id; duplicates and empty ids are [files] problems."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        ident = row.get(key)
        if ident is None:
            problems.append(f"[files] {what} has a row without {key}")
        elif ident in out:
            problems.append(f"[files] {what} lists {key} '{ident}' more than once")
        else:
            out[ident] = row
    return out


def _load_run(run_dir: Path, problems: list[str]) -> _Run | None:
    outputs = _load_outputs(run_dir, problems)
    if outputs is None:
        return None
    path = run_dir / "scenario.resolved.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    scenario = scenario_from_dict(data, source=str(path), base_dir=run_dir)
    layers = _load_inputs(scenario)
    services = {_id(r["service_id"]): r for r in _records(layers["services"])}
    areas = layers["service_areas"]
    catchments: dict[str, Any] = {}
    if areas is not None:
        for service_id, group in areas.groupby("service_id", sort=False):
            catchments[_id(service_id)] = shapely.union_all(group.geometry.to_numpy())
    return _Run(
        scenario=scenario,
        layers=layers,
        facts=_plot_facts(scenario, layers),
        services=services,
        catchments=catchments,
        plots_out=_by_id(outputs["plots"], "plot_id", "allocation.gpkg:plots", problems),
        services_out=_by_id(
            outputs["services"], "service_id", "allocation.gpkg:services", problems
        ),
        buurten_out=outputs["buurten"],
        assignments=outputs["assignments"],
        flows=outputs["flows"],
        kpis=outputs["kpis"],
        timeline=outputs["timeline"],
        relocations=outputs["relocations"],
        routes=_Routes(layers["network"]) if scenario.support.reach_mode == "network" else None,
    )


# --- recomputation from the inputs ---------------------------------------------------------------


def _column(frame: pd.DataFrame, name: str) -> list[Any]:
    """A column as a list, or all-missing when the layer leaves it out."""
    return list(frame[name]) if name in frame.columns else [None] * len(frame)


def _year(value: Any) -> int | None:
    if _missing(value):
        return None
    if hasattr(value, "year"):
        return int(value.year)
    return int(float(str(value)[:4]) if isinstance(value, str) else float(value))


def _excluded(plots: np.ndarray, exclusions: gpd.GeoDataFrame | None) -> list[str | None]:
    """Reason of an exclusion whose interior meets the plot (merely touching is allowed)."""
    reasons: list[str | None] = [None] * len(plots)
    if exclusions is None or len(exclusions) == 0:
        return reasons
    shapes = exclusions.geometry.to_numpy()
    why = _column(exclusions, "reason")
    plot_idx, excl_idx = shapely.STRtree(shapes).query(plots, predicate="intersects")
    touching = shapely.touches(plots[plot_idx], shapes[excl_idx])
    for i, j in zip(plot_idx[~touching], excl_idx[~touching], strict=True):
        if reasons[i] is None:
            reasons[i] = "excluded area" if _missing(why[j]) else str(why[j])
    return reasons


def _covering(points: np.ndarray, frame: gpd.GeoDataFrame | None, key: str) -> list[frozenset]:
    """Ids of every polygon that covers each point; rows without geometry cover nothing."""
    if frame is None:
        return [frozenset()] * len(points)
    shapes = frame.geometry.to_numpy()
    keep = np.flatnonzero([s is not None and not s.is_empty for s in shapes])
    ids = [_id(v) for v in frame[key]]
    result: list[set[str]] = [set() for _ in points]
    point_idx, shape_idx = shapely.STRtree(shapes[keep]).query(points, predicate="covered_by")
    for i, j in zip(point_idx, shape_idx, strict=True):
        result[i].add(ids[keep[j]])
    return [frozenset(s) for s in result]


def _nearest_distance(plots: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Distance from each plot polygon to the nearest of the points."""
    (plot_idx, _), distance = shapely.STRtree(points).query_nearest(
        plots, return_distance=True, all_matches=False
    )
    out = np.full(len(plots), np.inf)
    out[plot_idx] = distance
    return out


def _suitability(plots: np.ndarray, scenario: Scenario, layers: dict[str, Any]) -> np.ndarray:
    """Weighted mean of exp(-d_t / decay_t) over weighted types that occur in the data."""
    points: dict[str, list[Any]] = defaultdict(list)
    for kind in ("services", "amenities"):
        frame = layers.get(kind)
        if frame is not None:
            for type_, geometry in zip(frame["type"], frame.geometry, strict=True):
                points[str(type_)].append(geometry)
    score = np.zeros(len(plots))
    weight_sum = 0.0
    for type_, weight in scenario.weights.items():
        if weight <= 0 or not points.get(type_):
            continue
        decay = scenario.suitability.decay_m_per_type.get(type_, scenario.suitability.decay_m)
        distance = _nearest_distance(plots, np.array(points[type_], dtype=object))
        score += weight * np.exp(-distance / decay)
        weight_sum += weight
    return score / weight_sum if weight_sum > 0 else score


def _sizes(area_m2: float, capacity: Any, min_homes: Any, scenario: Scenario) -> tuple[int, int]:
    """Resolved (capacity, min_homes): defaults filled in, then snapped to whole modules."""
    d = scenario.defaults
    if _missing(capacity):
        capacity = area_m2 / 10_000 * d.homes_per_ha
    raw_min = d.min_homes if _missing(min_homes) else _ceil(float(min_homes))
    module = d.module_homes
    return _floor(float(capacity)) // module * module, -(-raw_min // module) * module


def _or_default(value: Any, default: float) -> float:
    return default if _missing(value) else float(value)


def _plot_facts(scenario: Scenario, layers: dict[str, Any]) -> dict[str, _Facts]:
    plots = layers["plots"]
    shapes = plots.geometry.to_numpy()
    points = shapely.point_on_surface(shapes)
    excluded = _excluded(shapes, layers["exclusions"])
    buurten = _covering(points, layers["neighbourhoods"], "buurt_id")
    regions = _covering(points, layers["regions"], "region_id")
    suitability = _suitability(shapes, scenario, layers)
    columns = {
        name: _column(plots, name)
        for name in (
            "capacity",
            "min_homes",
            "fixed_homes",
            "available_from",
            "available_until",
            "fixed_cost",
            "cost_per_home",
            "group",
        )
    }
    facts: dict[str, _Facts] = {}
    for i, plot_id in enumerate(plots["plot_id"]):
        row = {name: values[i] for name, values in columns.items()}
        capacity, min_homes = _sizes(shapes[i].area, row["capacity"], row["min_homes"], scenario)
        fixed = _int(row["fixed_homes"])
        reasons = []
        if excluded[i] is not None:
            reasons.append(f"excluded ({excluded[i]})")
        reasons.extend(_unavailable(scenario.plan_year, row))
        if fixed is None and capacity < min_homes:
            reasons.append(f"capacity {capacity} below min_homes {min_homes}")
        d = scenario.defaults
        facts[_id(plot_id)] = _Facts(
            geometry=shapes[i],
            capacity=capacity,
            min_homes=min_homes,
            fixed_homes=fixed,
            ineligible=tuple(reasons),
            fixed_cost_eur=_num(row["fixed_cost"])
            if not _missing(row["fixed_cost"])
            else (d.fixed_cost_eur),
            cost_per_home_eur=(
                _num(row["cost_per_home"])
                if not _missing(row["cost_per_home"])
                else d.cost_per_home_eur
            ),
            group=_id(row["group"]),
            buurten=buurten[i],
            regions=regions[i],
            suitability=float(suitability[i]),
        )
    return facts


def _unavailable(plan_year: int | None, row: dict[str, Any]) -> list[str]:
    if plan_year is None:
        return []
    start, end = _year(row["available_from"]), _year(row["available_until"])
    if start is not None and plan_year < start:
        return [f"available from {start}, after plan_year {plan_year}"]
    if end is not None and plan_year > end:
        return [f"available until {end}, before plan_year {plan_year}"]
    return []


# --- the rules -----------------------------------------------------------------------------------


def _check_files(run: _Run) -> list[str]:
    """The output lists exactly the input plots and services."""
    problems = []
    for what, expected, found in (
        ("plot", set(run.facts), set(run.plots_out)),
        ("service", set(run.services), set(run.services_out)),
    ):
        for ident in sorted(expected - found):
            problems.append(f"[files] {what} '{ident}' of the input is missing from the output")
        for ident in sorted(found - expected):
            problems.append(f"[files] {what} '{ident}' in the output is not in the input")
    return problems


def _check_sizes(run: _Run) -> list[str]:
    """Rule 1: resolved capacity and min_homes columns."""
    problems = []
    for plot_id, row in run.plots_out.items():
        fact = run.facts.get(plot_id)
        if fact is None:
            continue
        for column, expected in (("capacity", fact.capacity), ("min_homes", fact.min_homes)):
            if _int(row.get(column)) != expected:
                problems.append(
                    f"[capacity] plot '{plot_id}': {column} is {row.get(column)} in the file, "
                    f"expected {expected} (defaults and module_homes applied)"
                )
    return problems


def _check_eligibility(run: _Run) -> list[str]:
    """Rule 2: eligible column, homes 0 and a reason on ineligible plots, fixed plots usable."""
    problems = []
    for plot_id, row in run.plots_out.items():
        fact = run.facts.get(plot_id)
        if fact is None:
            continue
        why = "; ".join(fact.ineligible)
        if bool(row.get("eligible")) != fact.eligible:
            expected = "eligible" if fact.eligible else f"ineligible ({why})"
            problems.append(
                f"[eligibility] plot '{plot_id}': eligible is {row.get('eligible')} in the file, "
                f"expected {expected}"
            )
        if not fact.eligible and run.homes(plot_id) > 0:
            problems.append(
                f"[eligibility] plot '{plot_id}' is ineligible ({why}) "
                f"but has {run.homes(plot_id)} homes"
            )
        reason = row.get("reason")
        if (not fact.eligible or not row.get("eligible")) and (
            _missing(reason) or not str(reason).strip()
        ):
            problems.append(f"[eligibility] plot '{plot_id}' is ineligible but has no reason")
        if fact.fixed_homes is not None and not fact.eligible:
            problems.append(
                f"[eligibility] plot '{plot_id}' has fixed_homes but is ineligible ({why})"
            )
    return problems


def _check_homes(run: _Run) -> list[str]:
    """Rule 3: 0 or min..capacity, whole modules, fixed homes exact."""
    problems = []
    module = run.scenario.defaults.module_homes
    for plot_id, row in run.plots_out.items():
        fact = run.facts.get(plot_id)
        homes = _int(row.get("homes"))
        where = f"[homes] plot '{plot_id}'"
        if homes is None or homes < 0:
            problems.append(f"{where}: homes {row.get('homes')} is not a whole number >= 0")
            continue
        if bool(row.get("selected")) != (homes > 0):
            problems.append(f"{where}: selected is {row.get('selected')} with {homes} homes")
        if fact is None:
            continue
        if fact.fixed_homes is not None:
            if homes != fact.fixed_homes and run.status != "INFEASIBLE":
                problems.append(f"{where}: {homes} homes, but fixed_homes is {fact.fixed_homes}")
        elif 0 < homes < fact.min_homes:
            problems.append(f"{where}: {homes} homes is below min_homes {fact.min_homes}")
        if homes > fact.capacity:
            problems.append(f"{where}: {homes} homes exceeds capacity {fact.capacity}")
        if homes % module:
            problems.append(f"{where}: {homes} homes is not a multiple of module_homes {module}")
    return problems


def _check_total(run: _Run) -> list[str]:
    """Rule 4: the target is met exactly unless the status says otherwise."""
    status, total, target = run.status, run.total_homes, run.scenario.target_homes
    if status not in STATUSES:
        return [f"[total] unknown status {status!r}; expected one of {', '.join(STATUSES)}"]
    if status in SOLVED and total != target:
        return [f"[total] status {status} but {total} homes placed for a target of {target}"]
    if status == "SHORTFALL":
        problems = []
        if total >= target:
            problems.append(f"[total] status SHORTFALL but {total} homes meet target {target}")
        if not run.kpis.get("explanation"):
            problems.append("[total] status SHORTFALL without an explanation")
        return problems
    if status == "INFEASIBLE" and total != 0:
        return [f"[total] status INFEASIBLE but {total} homes are placed"]
    return []


def _check_mix(run: _Run) -> list[str]:
    """Rule 5: per-plot share of support homes and the overall minimum share."""
    problems = []
    share = run.scenario.support.max_share_per_plot
    for plot_id, row in run.plots_out.items():
        support = _int(row.get("support_homes"))
        limit = _floor(share * run.homes(plot_id))
        if support is None or not 0 <= support <= limit:
            problems.append(
                f"[mix] plot '{plot_id}': {row.get('support_homes')} support homes, allowed 0.."
                f"{limit} (max_share_per_plot {share} of {run.homes(plot_id)} homes)"
            )
    need = _ceil(run.scenario.support.min_share * run.total_homes)
    if run.total_support < need:
        problems.append(
            f"[mix] {run.total_support} support homes in total, at least {need} needed "
            f"(min_share {run.scenario.support.min_share} of {run.total_homes})"
        )
    return problems


def _check_assignment_row(run: _Run, row: dict[str, Any]) -> list[str]:
    """Rule 6 for one support_assignments.csv row."""
    plot_id, service_id, type_ = row["plot_id"], row["service_id"], row.get("service_type")
    where = f"[reach] assignment plot '{plot_id}' -> service '{service_id}'"
    residents = _int(row.get("residents"))
    problems = []
    if residents is None or residents <= 0:
        problems.append(f"{where}: residents {row.get('residents')} is not a whole number > 0")
    fact, service = run.facts.get(plot_id), run.services.get(service_id)
    if fact is None or service is None:
        return [*problems, f"{where}: unknown plot or service"]
    if type_ != service["type"]:
        problems.append(f"{where}: service_type '{type_}' but the service is '{service['type']}'")
    reach = run.scenario.support.reach_m
    if service["type"] not in reach:
        return [*problems, f"{where}: type '{service['type']}' is not in support.reach_m"]
    distance = float(shapely.distance(fact.geometry, service["geometry"]))
    catchment = run.catchments.get(service_id)
    if catchment is None and run.routes is not None:
        distance = run.routes.distance(fact.geometry, service["geometry"])
    if catchment is not None:
        if not shapely.covers(catchment, fact.geometry.representative_point()):
            problems.append(f"{where}: the plot lies outside the service's catchment")
    elif distance > reach[service["type"]] + 1e-6:
        problems.append(
            f"{where}: {distance:.1f} m is beyond the {service['type']} reach of "
            f"{reach[service['type']]:g} m"
        )
    written = _num(row.get("distance_m"))
    if written is None or abs(written - distance) > DISTANCE_TOL_M:
        problems.append(
            f"[distance] assignment plot '{plot_id}' -> service '{service_id}': distance_m "
            f"{row.get('distance_m')} in the file, recomputed {distance:.3f}"
        )
    return problems


def _check_reach(run: _Run) -> list[str]:
    """Rule 6: each support home has one in-reach service of every reach type."""
    problems = []
    per_type: Counter[tuple[str, str]] = Counter()
    for row in run.assignments:
        problems.extend(_check_assignment_row(run, row))
        service = run.services.get(row["service_id"])
        type_ = service["type"] if service is not None else row.get("service_type")
        per_type[(row["plot_id"], type_)] += _int(row.get("residents")) or 0
    for plot_id in run.plots_out:
        support = run.support(plot_id)
        for type_ in run.scenario.support.reach_m:
            if per_type[(plot_id, type_)] != support:
                problems.append(
                    f"[reach] plot '{plot_id}': {support} support homes but "
                    f"{per_type[(plot_id, type_)]} residents assigned to a {type_}"
                )
    return problems


def _loads(run: _Run) -> Counter[str]:
    loads: Counter[str] = Counter()
    for row in run.assignments:
        loads[row["service_id"]] += _int(row.get("residents")) or 0
    return loads


def _check_services(run: _Run) -> list[str]:
    """Rule 7: service capacity, and the services layer's load, type and capacity columns."""
    problems = []
    loads = _loads(run)
    for service_id, service in run.services.items():
        capacity = _num(service.get("capacity"))
        if capacity is not None and loads[service_id] > capacity + 1e-6:
            problems.append(
                f"[service-capacity] service '{service_id}' serves {loads[service_id]} "
                f"residents, capacity {capacity:g}"
            )
        out = run.services_out.get(service_id)
        if out is None:
            continue
        if _int(out.get("load")) != loads[service_id]:
            problems.append(
                f"[load] service '{service_id}': load {out.get('load')} in the file, "
                f"{loads[service_id]} residents assigned"
            )
        if out.get("type") != service["type"] or not _same_optional(
            _num(out.get("capacity")), capacity
        ):
            problems.append(
                f"[load] service '{service_id}': type/capacity {out.get('type')}/"
                f"{out.get('capacity')} in the file, input says {service['type']}/{capacity}"
            )
    return problems


def _member(
    run: _Run, plot_id: str, column: str, options: frozenset[str], what: str
) -> tuple[str | None, list[str]]:
    """The plot's buurt or region: the file's id when it is a valid choice, else the recomputed."""
    written = _id(run.plots_out[plot_id].get(column))
    if written in options or (written is None and not options):
        return written, []
    expected = " or ".join(sorted(options)) or "none"
    chosen = min(options) if options else None
    return chosen, [
        f"[{what}] plot '{plot_id}': {column} is {written} in the file, expected {expected}"
    ]


def _sum_by(run: _Run, column: str, attr: str, what: str) -> tuple[Counter[str], list[str]]:
    """Homes per buurt or region, plus membership problems."""
    sums: Counter[str] = Counter()
    problems = []
    for plot_id in run.plots_out:
        fact = run.facts.get(plot_id)
        if fact is None:
            continue
        member, found = _member(run, plot_id, column, getattr(fact, attr), what)
        problems.extend(found)
        if member is not None:
            sums[member] += run.homes(plot_id)
    return sums, problems


def _check_buurten(run: _Run) -> list[str]:
    """Rule 8: homes per buurt within the share of its dwellings; buurten layer agrees."""
    sums, problems = _sum_by(run, "buurt_id", "buurten", "buurt")
    frame = run.layers["neighbourhoods"]
    if frame is None:
        return problems
    share = run.scenario.neighbourhood.max_share_of_dwellings
    caps = {}
    for row in _records(frame):
        dwellings = _num(row.get("dwellings")) or 0.0
        caps[row["buurt_id"]] = cap = _floor(share * dwellings)
        if sums[row["buurt_id"]] > cap:
            problems.append(
                f"[buurt] buurt '{row['buurt_id']}' has {sums[row['buurt_id']]} flex homes, "
                f"cap {cap} ({share} of {dwellings:g} dwellings)"
            )
    if run.buurten_out is None:
        return [*problems, "[buurt] allocation.gpkg has no 'buurten' layer"]
    listed = set()
    for row in run.buurten_out:
        buurt_id = row.get("buurt_id")
        listed.add(buurt_id)
        if buurt_id not in caps:
            problems.append(f"[buurt] buurten layer lists unknown buurt '{buurt_id}'")
        elif _int(row.get("cap")) != caps[buurt_id] or _int(row.get("homes")) != sums[buurt_id]:
            problems.append(
                f"[buurt] buurten layer '{buurt_id}': cap/homes {row.get('cap')}/"
                f"{row.get('homes')}, expected {caps[buurt_id]}/{sums[buurt_id]}"
            )
    for buurt_id in sorted(b for b, n in sums.items() if n > 0 and b not in listed):
        problems.append(f"[buurt] buurt '{buurt_id}' has homes but is not in the buurten layer")
    return problems


def _regions(run: _Run) -> dict[str, dict[str, Any]]:
    frame = run.layers["regions"]
    return {} if frame is None else {r["region_id"]: r for r in _records(frame)}


def _check_regions(run: _Run) -> list[str]:
    """Rule 9: membership by representative point; min/max homes per region (hard rules)."""
    sums, problems = _sum_by(run, "region_id", "regions", "region")
    if run.status == "INFEASIBLE":
        return problems
    for region_id, region in _regions(run).items():
        low, high = _num(region.get("min_homes")), _num(region.get("max_homes"))
        if low is not None and sums[region_id] < low - 1e-6:
            problems.append(f"[region] region '{region_id}': {sums[region_id]} homes < min {low:g}")
        if high is not None and sums[region_id] > high + 1e-6:
            problems.append(
                f"[region] region '{region_id}': {sums[region_id]} homes > max {high:g}"
            )
    return problems


def _travel_costs(run: _Run) -> dict[tuple[str, str], float]:
    frame = run.layers["travel_costs"]
    if frame is None:
        return {}
    return {(r["region_id"], r["plot_id"]): float(r["cost_per_home"]) for r in _records(frame)}


def _check_flow_row(
    run: _Run, row: dict[str, Any], demand: dict[str, float], costs: dict
) -> list[str]:
    region_id, plot_id = row["region_id"], row["plot_id"]
    where = f"[demand] flow region '{region_id}' -> plot '{plot_id}'"
    homes = _int(row.get("homes"))
    problems = []
    if homes is None or homes < 0:
        problems.append(f"{where}: homes {row.get('homes')} is not a whole number >= 0")
    if region_id not in demand:
        problems.append(f"{where}: the region has no demand")
    if plot_id not in run.facts:
        problems.append(f"{where}: unknown plot")
    per_home = costs.get((region_id, plot_id))
    if per_home is None:
        return [*problems, f"{where}: the pair is not listed in travel_costs"]
    cost = _num(row.get("cost"))
    if cost is None or not _close(cost, (homes or 0) * per_home):
        problems.append(f"{where}: cost {row.get('cost')}, expected {homes} x {per_home:g}")
    return problems


def _demand(run: _Run) -> dict[str, float]:
    return {
        region_id: demand
        for region_id, region in _regions(run).items()
        if (demand := _num(region.get("demand"))) is not None and demand > 0
    }


def _check_flows(run: _Run) -> list[str]:
    """Rule 10: region demand met by flows over listed pairs; flows fit inside plots' homes."""
    demand, costs = _demand(run), _travel_costs(run)
    if run.flows is None:
        if demand and run.status != "INFEASIBLE":
            return ["[demand] regions have demand but region_flows.csv is missing"]
        return []
    problems = []
    per_region: Counter[str] = Counter()
    per_plot: Counter[str] = Counter()
    for row in run.flows:
        problems.extend(_check_flow_row(run, row, demand, costs))
        homes = _int(row.get("homes")) or 0
        per_region[row["region_id"]] += homes
        per_plot[row["plot_id"]] += homes
    if run.status != "INFEASIBLE":
        for region_id, wanted in demand.items():
            got = per_region[region_id]
            if got > wanted + 1e-6 or (run.status != "SHORTFALL" and got < wanted - 1e-6):
                problems.append(f"[demand] region '{region_id}': flows {got}, demand {wanted:g}")
    for plot_id, flow in per_plot.items():
        if flow > run.homes(plot_id):
            problems.append(
                f"[demand] plot '{plot_id}': flows of {flow} homes exceed its "
                f"{run.homes(plot_id)} homes"
            )
    return problems


def _check_groups(run: _Run) -> list[str]:
    """Rule 11: at most one used plot per group."""
    used: dict[str, list[str]] = defaultdict(list)
    for plot_id in run.plots_out:
        fact = run.facts.get(plot_id)
        if fact is not None and fact.group is not None and run.homes(plot_id) > 0:
            used[fact.group].append(plot_id)
    return [
        f"[group] group '{group}' has {len(plots)} plots in use: {', '.join(sorted(plots))}"
        for group, plots in sorted(used.items())
        if len(plots) > 1
    ]


def _total_cost(run: _Run) -> float:
    """Fixed + per-home costs of used plots + travel costs (file cost where no pair is known)."""
    total = 0.0
    for plot_id, fact in run.facts.items():
        homes = run.homes(plot_id)
        if homes > 0:
            total += fact.fixed_cost_eur + homes * fact.cost_per_home_eur
    costs = _travel_costs(run)
    for row in run.flows or []:
        per_home = costs.get((row["region_id"], row["plot_id"]))
        homes = _int(row.get("homes")) or 0
        total += homes * per_home if per_home is not None else _num(row.get("cost")) or 0.0
    return total


def _check_cost(run: _Run) -> list[str]:
    """Rule 12: total cost and the budget."""
    expected = _total_cost(run)
    written = _num(run.kpis.get("total_cost_eur"))
    problems = []
    if written is None:
        if run.status != "INFEASIBLE":
            problems.append("[cost] kpis.json has no total_cost_eur")
    elif not _close(written, expected):
        problems.append(f"[cost] total_cost_eur {written:.2f} in kpis, recomputed {expected:.2f}")
    budget = run.scenario.budget_eur
    if budget is not None and expected > budget * (1 + REL_TOL) + ABS_TOL:
        problems.append(f"[budget] total cost {expected:.2f} exceeds budget_eur {budget:.2f}")
    return problems


def _check_suitability(run: _Run) -> list[str]:
    """Rule 13: the suitability column equals the independent recomputation."""
    problems = []
    for plot_id, row in run.plots_out.items():
        fact = run.facts.get(plot_id)
        written = _num(row.get("suitability"))
        if fact is not None and (written is None or not _close(written, fact.suitability)):
            problems.append(
                f"[suitability] plot '{plot_id}': {row.get('suitability')} in the file, "
                f"recomputed {fact.suitability:.6f}"
            )
    return problems


def _objective(run: _Run) -> float:
    if run.scenario.objective == "min_cost":
        return _total_cost(run)
    return sum(fact.suitability * run.homes(p) for p, fact in run.facts.items())


def _check_objective(run: _Run) -> list[str]:
    """Rule 14: objective, its bound and the gap."""
    objective, bound = _num(run.kpis.get("objective")), _num(run.kpis.get("best_bound"))
    if objective is None:
        return [] if run.status == "INFEASIBLE" else ["[kpi] kpis.json has no objective"]
    problems = []
    expected = _objective(run)
    if not _close(objective, expected):
        problems.append(f"[kpi] objective {objective} in kpis, recomputed {expected}")
    if bound is None:
        return problems
    slack = max(ABS_TOL, REL_TOL * abs(objective))
    maximise = run.scenario.objective == "max_suitability"
    if (maximise and bound < objective - slack) or (not maximise and bound > objective + slack):
        problems.append(f"[kpi] best_bound {bound} is on the wrong side of objective {objective}")
    gap = _num(run.kpis.get("gap"))
    expected_gap = abs(objective - bound) / max(1e-9, abs(objective))
    if gap is None or not _close(gap, expected_gap):
        problems.append(f"[kpi] gap {run.kpis.get('gap')} in kpis, recomputed {expected_gap:.6g}")
    return problems


def _check_counts(run: _Run) -> list[str]:
    """Rule 14: homes, support homes, plots used and the target as written in kpis.json."""
    expected = {
        "target_homes": run.scenario.target_homes,
        "homes": run.total_homes,
        "support_homes": run.total_support,
        "plots_used": sum(1 for p in run.plots_out if run.homes(p) > 0),
    }
    return [
        f"[kpi] {key} is {run.kpis.get(key)} in kpis, recomputed {value}"
        for key, value in expected.items()
        if _int(run.kpis.get(key)) != value
    ]


def _entries(run: _Run, key: str, ident: str, problems: list[str]) -> dict[str, dict[str, Any]]:
    rows = run.kpis.get(key) or []
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        name = _id(row.get(ident))
        if name in out:
            problems.append(f"[kpi] {key} lists {ident} '{name}' twice")
        out[name] = row
    return out


def _check_per_region(run: _Run) -> list[str]:
    problems: list[str] = []
    entries = _entries(run, "per_region", "region_id", problems)
    regions = _regions(run)
    sums, _ = _sum_by(run, "region_id", "regions", "region")
    for region_id in sorted(set(entries) - set(regions)):
        problems.append(f"[kpi] per_region lists unknown region '{region_id}'")
    for region_id, region in regions.items():
        entry = entries.get(region_id)
        if entry is None:
            problems.append(f"[kpi] per_region misses region '{region_id}'")
            continue
        if _int(entry.get("homes")) != sums[region_id]:
            problems.append(
                f"[kpi] per_region '{region_id}': homes {entry.get('homes')}, "
                f"recomputed {sums[region_id]}"
            )
        for key in ("min_homes", "max_homes", "demand"):
            if not _same_optional(_num(entry.get(key)), _num(region.get(key))):
                problems.append(
                    f"[kpi] per_region '{region_id}': {key} {entry.get(key)}, "
                    f"input says {region.get(key)}"
                )
    return problems


def _check_per_proposer(run: _Run) -> list[str]:
    """Plots, plots used and homes per corporation, from the input `proposer` column."""
    expected: dict[str, dict[str, int]] = defaultdict(
        lambda: {"plots": 0, "plots_used": 0, "homes": 0}
    )
    for row in _records(run.layers["plots"]):
        proposer = row.get("proposer")
        if isinstance(proposer, str) and proposer:
            homes = run.homes(_id(row["plot_id"]))
            expected[proposer]["plots"] += 1
            expected[proposer]["plots_used"] += int(homes > 0)
            expected[proposer]["homes"] += homes
    written = {e.get("proposer"): e for e in run.kpis.get("per_proposer", [])}
    problems = []
    for name in sorted(set(expected) | set(written)):
        got = written.get(name, {})
        for key in ("plots", "plots_used", "homes"):
            if _int(got.get(key)) != expected.get(name, {}).get(key):
                problems.append(
                    f"[kpi] per_proposer '{name}': {key} {got.get(key)}, "
                    f"recomputed {expected.get(name, {}).get(key)}"
                )
    return problems


def _service_type_totals(run: _Run) -> dict[str, dict[str, Any]]:
    loads = _loads(run)
    totals: dict[str, dict[str, Any]] = {}
    for service_id, service in run.services.items():
        entry = totals.setdefault(service["type"], {"services": 0, "capacity": 0.0, "load": 0})
        entry["services"] += 1
        capacity = _num(service.get("capacity"))
        entry["capacity"] = (
            None if capacity is None or entry["capacity"] is None else entry["capacity"] + capacity
        )
        entry["load"] += loads[service_id]
    return totals


def _check_per_service_type(run: _Run) -> list[str]:
    problems: list[str] = []
    entries = _entries(run, "per_service_type", "type", problems)
    totals = _service_type_totals(run)
    empty = {"services": 0, "capacity": 0.0, "load": 0}
    for type_ in sorted(set(totals) | set(entries), key=str):
        entry, total = entries.get(type_), totals.get(type_, empty)
        if entry is None:
            problems.append(f"[kpi] per_service_type misses type '{type_}'")
            continue
        written = (
            _int(entry.get("services")),
            _num(entry.get("capacity")),
            _int(entry.get("load")),
            _int(entry.get("support_homes_in_reach")),
        )
        ok = (
            written[0] == total["services"]
            and _same_optional(written[1], total["capacity"])
            and written[2] == written[3] == total["load"]
        )
        if not ok:
            problems.append(
                f"[kpi] per_service_type '{type_}': services/capacity/load/support_homes_in_reach "
                f"{'/'.join(map(str, written))}, recomputed {total['services']}/"
                f"{total['capacity']}/{total['load']}/{total['load']}"
            )
    return problems


_RULES: tuple[Callable[[_Run], list[str]], ...] = (
    _check_files,
    _check_sizes,
    _check_eligibility,
    _check_homes,
    _check_total,
    _check_mix,
    _check_reach,
    _check_services,
    _check_buurten,
    _check_regions,
    _check_flows,
    _check_groups,
    _check_cost,
    _check_suitability,
    _check_objective,
    _check_counts,
    _check_per_region,
    _check_per_service_type,
    _check_per_proposer,
)


# --- plans over a horizon: every rule in every year ----------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """timeline.csv and relocations.csv as plain numbers, keyed by (plot_id, year)."""

    years: list[int]
    homes: dict[tuple[str, int], int]
    built: dict[tuple[str, int], int]
    moved_in: dict[tuple[str, int], int]
    moved_out: dict[tuple[str, int], int]
    support: dict[tuple[str, int], int]
    moves: list[dict[str, Any]]

    def standing(self, year: int) -> int:
        return sum(h for (_, t), h in self.homes.items() if t == year)

    def plots(self) -> set[str]:
        return {p for (p, _), h in self.homes.items() if h > 0}


def _plan(run: _Run) -> tuple[_Plan, list[str]]:
    horizon = run.scenario.horizon
    assert horizon is not None
    years = list(range(horizon.start, horizon.end + 1))
    problems = []
    tables: dict[str, dict[tuple[str, int], int]] = {
        k: {} for k in ("homes", "built", "moved_in", "moved_out", "support_homes")
    }
    for row in run.timeline or []:
        year, plot_id = _int(row.get("year")), row.get("plot_id")
        if year not in years or plot_id not in run.facts:
            problems.append(f"[timeline] row {plot_id} {row.get('year')}: unknown plot or year")
            continue
        for key, table in tables.items():
            value = _int(row.get(key))
            if value is None or value < 0:
                problems.append(f"[timeline] {plot_id} {year}: {key} {row.get(key)} is not >= 0")
            elif (plot_id, year) in table:
                problems.append(f"[timeline] {plot_id} {year} is listed twice")
                break
            else:
                table[(plot_id, year)] = value
    moves = []
    for row in run.relocations or []:
        entry = {
            "year": _int(row.get("year")),
            "from": row.get("from_plot"),
            "to": row.get("to_plot"),
            "homes": _int(row.get("homes")),
            "support": _int(row.get("support_homes")),
        }
        if entry["homes"] is None or entry["homes"] <= 0 or entry["support"] is None:
            problems.append(f"[relocation] row {row}: homes must be whole and > 0")
            continue
        moves.append(entry)
    return (
        _Plan(
            years,
            tables["homes"],
            tables["built"],
            tables["moved_in"],
            tables["moved_out"],
            tables["support_homes"],
            moves,
        ),
        problems,
    )


def _window(run: _Run, plot_id: str) -> tuple[int, int] | None:
    """Years the plot may hold a project, from the input layer and the horizon."""
    horizon = run.scenario.horizon
    assert horizon is not None
    frame = run.layers["plots"]
    row = frame[frame["plot_id"].map(_id) == plot_id].iloc[0]
    start, end = _year(row.get("available_from")), _year(row.get("available_until"))
    lo = max(horizon.start, start if start is not None else horizon.start)
    hi = min(horizon.end, end if end is not None else horizon.end)
    return (lo, hi) if lo <= hi else None


def _check_phased_files(run: _Run) -> list[str]:
    return [
        f"[files] {name} is missing for a run with a horizon"
        for name, value in (("timeline.csv", run.timeline), ("relocations.csv", run.relocations))
        if value is None
    ]


def _check_projects(run: _Run) -> list[str]:
    """Windows, one project per plot standing from its start until its permit or window ends,
    0 or min..capacity homes in whole modules each year, fixed homes exact."""
    plan, problems = _plan(run)
    horizon = run.scenario.horizon
    assert horizon is not None
    module = run.scenario.defaults.module_homes
    for plot_id in sorted(plan.plots()):
        fact = run.facts[plot_id]
        years = [t for t in plan.years if plan.homes.get((plot_id, t), 0) > 0]
        where = f"[window] plot '{plot_id}'"
        window = _window(run, plot_id)
        if not fact.eligible:
            problems.append(f"{where} is ineligible ({'; '.join(fact.ineligible)}) but has homes")
        if window is None or years[0] < window[0] or years[-1] > window[1]:
            problems.append(f"{where}: homes in {years[0]}..{years[-1]}, available {window}")
            continue
        if len(years) != years[-1] - years[0] + 1:
            problems.append(f"[permit] plot '{plot_id}': more than one project ({years})")
        end = min(years[0] + horizon.permit_years - 1, window[1])
        if years[-1] != end:
            problems.append(
                f"[permit] plot '{plot_id}': stands {years[0]}..{years[-1]}; a project stands "
                f"until its permit ({horizon.permit_years} years) or its window ends: {end}"
            )
        for t in years:
            homes = plan.homes[(plot_id, t)]
            bad = homes % module or homes > fact.capacity
            if fact.fixed_homes is not None:
                bad = bad or homes != fact.fixed_homes
            elif homes < fact.min_homes:
                bad = True
            if bad:
                problems.append(
                    f"[homes] plot '{plot_id}' {t}: {homes} homes; allowed {fact.min_homes}.."
                    f"{fact.capacity} in modules of {module} (fixed {fact.fixed_homes})"
                )
    for plot_id, fact in run.facts.items():
        if fact.fixed_homes is not None and plot_id not in plan.plots():
            problems.append(f"[homes] plot '{plot_id}' has fixed_homes but no project")
    return problems


def _moves_by(plan: _Plan, key: str, what: str) -> Counter[tuple[str, int]]:
    sums: Counter[tuple[str, int]] = Counter()
    for move in plan.moves:
        sums[(move[key], move["year"])] += move[what]
    return sums


def _check_conservation(run: _Run) -> list[str]:
    """Homes and support homes add up year to year; homes leave a plot only when its project
    ends, all of them, to a plot of the same region that stands that year; production."""
    plan, problems = _plan(run)
    horizon = run.scenario.horizon
    assert horizon is not None
    out_h, in_h = _moves_by(plan, "from", "homes"), _moves_by(plan, "to", "homes")
    out_s, in_s = _moves_by(plan, "from", "support"), _moves_by(plan, "to", "support")
    for plot_id in run.facts:
        before, before_s = 0, 0
        for t in plan.years:
            key = (plot_id, t)
            homes, support = plan.homes.get(key, 0), plan.support.get(key, 0)
            built = plan.built.get(key, 0)
            if plan.moved_out.get(key, 0) != out_h[key] or plan.moved_in.get(key, 0) != in_h[key]:
                problems.append(
                    f"[relocation] plot '{plot_id}' {t}: timeline moved_in/out "
                    f"{plan.moved_in.get(key, 0)}/{plan.moved_out.get(key, 0)}, relocations.csv "
                    f"{in_h[key]}/{out_h[key]}"
                )
            if homes != before + built + in_h[key] - out_h[key]:
                problems.append(
                    f"[conservation] plot '{plot_id}' {t}: {homes} homes != {before} + {built} "
                    f"built + {in_h[key]} in - {out_h[key]} out"
                )
            if out_h[key] and (homes or out_h[key] != before or out_s[key] != before_s):
                problems.append(
                    f"[relocation] plot '{plot_id}' {t}: {out_h[key]} homes leave a project that "
                    f"goes on or keeps homes (had {before}, {before_s} support)"
                )
            new_support = support - before_s - in_s[key] + out_s[key]
            if not 0 <= new_support <= built:
                problems.append(
                    f"[conservation] plot '{plot_id}' {t}: support homes {before_s} -> {support} "
                    f"with {in_s[key]} in, {out_s[key]} out and {built} new homes"
                )
            before, before_s = homes, support
    for move in plan.moves:
        where = f"[relocation] {move['year']} '{move['from']}' -> '{move['to']}'"
        a, b = run.facts.get(move["from"]), run.facts.get(move["to"])
        if a is None or b is None:
            problems.append(f"{where}: unknown plot")
            continue
        if a.regions != b.regions:
            problems.append(f"{where}: leaves its region ({set(a.regions)} -> {set(b.regions)})")
        if move["support"] > move["homes"]:
            problems.append(f"{where}: {move['support']} support homes in {move['homes']} homes")
        if plan.homes.get((move["to"], move["year"]), 0) <= 0:
            problems.append(f"{where}: the new site has no project that year")
    for t in plan.years:
        built = sum(v for (_, y), v in plan.built.items() if y == t)
        if built > horizon.delivery_per_year:
            problems.append(
                f"[production] {t}: {built} new homes, delivery_per_year "
                f"{horizon.delivery_per_year}"
            )
    return problems


def _check_year_mix(run: _Run) -> list[str]:
    """Per plot and year at most max_share_per_plot support homes; per year at least min_share."""
    plan, problems = _plan(run)
    support = run.scenario.support
    for (plot_id, t), value in sorted(plan.support.items()):
        limit = _floor(support.max_share_per_plot * plan.homes.get((plot_id, t), 0))
        if value > limit:
            problems.append(f"[mix] plot '{plot_id}' {t}: {value} support homes, allowed {limit}")
    for t in plan.years:
        have = sum(v for (_, y), v in plan.support.items() if y == t)
        need = _ceil(support.min_share * plan.standing(t))
        if have < need:
            problems.append(f"[mix] {t}: {have} support homes, at least {need} needed")
    return problems


def _open(service: dict[str, Any], year: int) -> bool:
    start, end = _year(service.get("open_from")), _year(service.get("open_until"))
    return (start is None or start <= year) and (end is None or year <= end)


def _check_year_care(run: _Run) -> list[str]:
    """Per year: every support home has an in-reach, open service of each type, within capacity;
    the services layer's load is the peak yearly load."""
    plan, problems = _plan(run)
    per_type: Counter[tuple[str, int, str]] = Counter()
    loads: Counter[tuple[str, int]] = Counter()
    for row in run.assignments:
        year = _int(row.get("year"))
        problems.extend(_check_assignment_row(run, row))
        service = run.services.get(row["service_id"])
        if year not in plan.years or service is None:
            problems.append(f"[reach] assignment {row}: unknown year or service")
            continue
        if not _open(service, year):
            problems.append(
                f"[service-open] service '{row['service_id']}' serves plot '{row['plot_id']}' in "
                f"{year} but is open {service.get('open_from')}..{service.get('open_until')}"
            )
        residents = _int(row.get("residents")) or 0
        per_type[(row["plot_id"], year, service["type"])] += residents
        loads[(row["service_id"], year)] += residents
    for (plot_id, t), support in plan.support.items():
        for type_ in run.scenario.support.reach_m:
            if per_type[(plot_id, t, type_)] != support:
                problems.append(
                    f"[reach] plot '{plot_id}' {t}: {support} support homes but "
                    f"{per_type[(plot_id, t, type_)]} residents assigned to a {type_}"
                )
    for service_id, service in run.services.items():
        capacity = _num(service.get("capacity"))
        peak = max((v for (j, _), v in loads.items() if j == service_id), default=0)
        if capacity is not None and peak > capacity + 1e-6:
            problems.append(
                f"[service-capacity] service '{service_id}' serves {peak} residents in a year, "
                f"capacity {capacity:g}"
            )
        out = run.services_out.get(service_id)
        if out is not None and _int(out.get("load")) != peak:
            problems.append(
                f"[load] service '{service_id}': load {out.get('load')} in the file, peak yearly "
                f"load {peak}"
            )
    return problems


def _year_sums(run: _Run, plan: _Plan, column: str, attr: str, what: str) -> tuple[dict, list]:
    """Homes per (buurt or region, year), with membership problems once."""
    sums: Counter[tuple[str, int]] = Counter()
    problems: list[str] = []
    for plot_id in sorted(plan.plots()):
        member, found = _member(run, plot_id, column, getattr(run.facts[plot_id], attr), what)
        problems.extend(found)
        if member is not None:
            for t in plan.years:
                sums[(member, t)] += plan.homes.get((plot_id, t), 0)
    return sums, problems


def _check_year_areas(run: _Run) -> list[str]:
    """Per year: buurt caps, region maximum (minimum in the last year), one plot per group."""
    plan, problems = _plan(run)
    horizon = run.scenario.horizon
    assert horizon is not None
    sums, found = _year_sums(run, plan, "buurt_id", "buurten", "buurt")
    problems.extend(found)
    frame = run.layers["neighbourhoods"]
    share = run.scenario.neighbourhood.max_share_of_dwellings
    for row in _records(frame) if frame is not None else []:
        cap = _floor(share * (_num(row.get("dwellings")) or 0.0))
        for t in plan.years:
            if sums[(row["buurt_id"], t)] > cap:
                problems.append(
                    f"[buurt] buurt '{row['buurt_id']}' {t}: {sums[(row['buurt_id'], t)]} flex "
                    f"homes, cap {cap}"
                )
        written = next(
            (b for b in run.buurten_out or [] if b.get("buurt_id") == row["buurt_id"]), None
        )
        peak = max(sums[(row["buurt_id"], t)] for t in plan.years)
        if written is not None and _int(written.get("homes")) != peak:
            problems.append(
                f"[buurt] buurten layer '{row['buurt_id']}': homes {written.get('homes')}, "
                f"peak {peak}"
            )
    sums, found = _year_sums(run, plan, "region_id", "regions", "region")
    problems.extend(found)
    for region_id, region in _regions(run).items():
        low, high = _num(region.get("min_homes")), _num(region.get("max_homes"))
        for t in plan.years:
            value = sums[(region_id, t)]
            if high is not None and value > high + 1e-6:
                problems.append(f"[region] region '{region_id}' {t}: {value} homes > max {high:g}")
        final = sums[(region_id, horizon.end)]
        if low is not None and final < low - 1e-6 and run.status in SOLVED:
            problems.append(
                f"[region] region '{region_id}' {horizon.end}: {final} homes < min {low:g} "
                f"with status {run.status}"
            )
    for t in plan.years:
        used: dict[str, list[str]] = defaultdict(list)
        for plot_id in plan.plots():
            group = run.facts[plot_id].group
            if group is not None and plan.homes.get((plot_id, t), 0) > 0:
                used[group].append(plot_id)
        problems.extend(
            f"[group] group '{g}' {t}: {len(ps)} plots stand: {', '.join(sorted(ps))}"
            for g, ps in sorted(used.items())
            if len(ps) > 1
        )
    return problems


def _targets(run: _Run) -> dict[int, int]:
    horizon = run.scenario.horizon
    assert horizon is not None
    return dict(horizon.targets) or {horizon.end: run.scenario.target_homes}


def _check_targets(run: _Run) -> list[str]:
    """Exactly the target stands in a target year unless short (never more), target_homes caps
    every year; status, explanation and the per-year KPIs agree."""
    plan, problems = _plan(run)
    targets = _targets(run)
    short = {t: max(0, target - plan.standing(t)) for t, target in targets.items()}
    for t in plan.years:
        standing = plan.standing(t)
        if standing > run.scenario.target_homes:
            problems.append(
                f"[target] {t}: {standing} homes stand, target_homes is {run.scenario.target_homes}"
            )
        if t in targets and standing > targets[t]:
            problems.append(f"[target] {t}: {standing} homes stand, above the target {targets[t]}")
    missing = sum(short.values())
    status = run.status
    if status not in STATUSES:
        problems.append(f"[total] unknown status {status!r}")
    elif status in SOLVED and missing:
        problems.append(f"[total] status {status} but {missing} homes short of the targets")
    elif status == "SHORTFALL" and not (missing or _region_missing(run, plan)):
        problems.append("[total] status SHORTFALL but every target and regional minimum is met")
    elif status == "SHORTFALL" and not run.kpis.get("explanation"):
        problems.append("[total] status SHORTFALL without a shortfall or an explanation")
    phasing = run.kpis.get("phasing") or {}
    rows = {_int(r.get("year")): r for r in phasing.get("per_year") or []}
    for t in plan.years:
        expected = {
            "standing": plan.standing(t),
            "target": targets.get(t),
            "short": short.get(t, 0),
            "built": sum(v for (_, y), v in plan.built.items() if y == t),
            "moved": sum(v for (_, y), v in plan.moved_out.items() if y == t),
            "support_homes": sum(v for (_, y), v in plan.support.items() if y == t),
            "plots": sum(1 for (_, y), v in plan.homes.items() if y == t and v > 0),
        }
        row = rows.get(t) or {}
        for key, value in expected.items():
            if row.get(key) != value:
                problems.append(
                    f"[kpi] phasing.per_year {t} {key}: {row.get(key)}, expected {value}"
                )
    return problems


def _phased_cost(run: _Run, plan: _Plan) -> tuple[float, float, int]:
    """Total cost (fixed + new homes + relocation), relocation cost and homes moved."""
    horizon = run.scenario.horizon
    assert horizon is not None
    moved = sum(m["homes"] for m in plan.moves)
    relocation = moved * horizon.relocation_cost_per_home
    total = relocation + sum(run.facts[p].fixed_cost_eur for p in plan.plots())
    total += sum(v * run.facts[p].cost_per_home_eur for (p, _), v in plan.built.items())
    return total, relocation, moved


def _region_missing(run: _Run, plan: _Plan) -> int:
    """Homes missing against the regions' minimum in the last year (soft, penalised)."""
    horizon = run.scenario.horizon
    assert horizon is not None
    sums, _ = _year_sums(run, plan, "region_id", "regions", "region")
    return sum(
        max(0, _ceil(low) - sums[(region_id, horizon.end)])
        for region_id, region in _regions(run).items()
        if (low := _num(region.get("min_homes"))) is not None
    )


def _check_phased_kpis(run: _Run) -> list[str]:
    """Costs, budget, objective and bound, and the headline counts (the last year)."""
    plan, problems = _plan(run)
    horizon = run.scenario.horizon
    assert horizon is not None
    total, relocation, moved = _phased_cost(run, plan)
    phasing = run.kpis.get("phasing") or {}
    for key, value in (
        ("total_cost_eur", run.kpis.get("total_cost_eur")),
        ("relocation_cost_eur", phasing.get("relocation_cost_eur")),
        ("homes_moved", phasing.get("homes_moved")),
    ):
        expected = {"total_cost_eur": total, "relocation_cost_eur": relocation}.get(key, moved)
        if _num(value) is None or not _close(float(value), expected):
            problems.append(f"[cost] {key} {value} in kpis, recomputed {expected}")
    if run.scenario.budget_eur is not None and total > run.scenario.budget_eur * (1 + REL_TOL):
        problems.append(f"[budget] total cost {total:.2f} exceeds budget_eur")
    penalty = horizon.shortfall_penalty_per_home_year
    if penalty is None:
        penalty = _num(phasing.get("shortfall_penalty_per_home_year"))
        if penalty is None or penalty <= 0:
            problems.append("[kpi] phasing.shortfall_penalty_per_home_year missing")
            penalty = 0.0
    targets = _targets(run)
    missing = sum(max(0, target - plan.standing(t)) for t, target in targets.items())
    missing += _region_missing(run, plan)
    if run.scenario.objective == "min_cost":
        expected = total + penalty * missing
    else:
        value = sum(run.facts[p].suitability * h for (p, _), h in plan.homes.items())
        expected = value - horizon.relocation_weight * moved - penalty * missing
    objective = _num(run.kpis.get("objective"))
    if objective is None:
        if run.status != "INFEASIBLE":
            problems.append("[kpi] kpis.json has no objective")
    elif not _close(objective, expected):
        problems.append(f"[kpi] objective {objective} in kpis, recomputed {expected}")
    bound = _num(run.kpis.get("best_bound"))
    if objective is not None and bound is not None:
        slack = max(ABS_TOL, REL_TOL * abs(objective))
        maximise = run.scenario.objective == "max_suitability"
        if (maximise and bound < objective - slack) or (not maximise and bound > objective + slack):
            problems.append(f"[kpi] best_bound {bound} on the wrong side of objective {objective}")
    last = horizon.end
    counts = {
        "target_homes": run.scenario.target_homes,
        "homes": plan.standing(last),
        "support_homes": sum(v for (_, y), v in plan.support.items() if y == last),
        "plots_used": len(plan.plots()),
    }
    problems.extend(
        f"[kpi] {key} is {run.kpis.get(key)} in kpis, recomputed {value}"
        for key, value in counts.items()
        if _int(run.kpis.get(key)) != value
    )
    for plot_id, row in run.plots_out.items():
        series = [plan.homes.get((plot_id, t), 0) for t in plan.years]
        support = [plan.support.get((plot_id, t), 0) for t in plan.years]
        written = (
            _int(row.get("homes")),
            _int(row.get("support_homes")),
            bool(row.get("selected")),
        )
        if written != (max(series), max(support), max(series) > 0):
            problems.append(
                f"[homes] plot '{plot_id}': homes/support/selected {written} in allocation.gpkg, "
                f"peak over the years {max(series)}/{max(support)}"
            )
    return problems


_PHASED_RULES: tuple[Callable[[_Run], list[str]], ...] = (
    _check_files,
    _check_phased_files,
    _check_sizes,
    _check_eligibility,
    _check_projects,
    _check_conservation,
    _check_year_mix,
    _check_year_care,
    _check_year_areas,
    _check_targets,
    _check_phased_kpis,
    _check_suitability,
)


# --- public API ----------------------------------------------------------------------------------


def check_run(run_dir: Path) -> list[str]:
    """Every rule and KPI violation of a run folder, one line each; empty means valid.

    Input layers are read through `geodata.contract.load_layer`, as the planner reads them, so a
    contract change does not show up as a violation; everything after reading is recomputed here.
    """
    problems: list[str] = []
    run = _load_run(Path(run_dir), problems)
    if run is None:
        return problems
    rules = _RULES if run.scenario.horizon is None else _PHASED_RULES
    for rule in rules:
        problems.extend(rule(run))
    return problems


def assert_valid_run(run_dir: Path) -> dict[str, Any]:
    """Raise AssertionError listing every violation; return kpis.json of a valid run."""
    problems = check_run(run_dir)
    if problems:
        listed = "\n".join(f"  {p}" for p in problems)
        raise AssertionError(f"{len(problems)} violation(s) in run {run_dir}:\n{listed}")
    return json.loads((Path(run_dir) / "kpis.json").read_text(encoding="utf-8"))


def tags(problems: Iterable[str]) -> set[str]:
    """The rule tags ('capacity', 'reach', ...) of a list of violations."""
    return {p[1 : p.index("]")] for p in problems if p.startswith("[") and "]" in p}
