"""From validated layers to plain tables: the boundary between geometry and the model.

``build_instance`` resolves plot capacities, eligibility, buurt and region membership, reach pairs
and suitability, and checks the layers against each other (an unknown service type in
``reach_m``, a catchment of an unknown service, a travel cost for an unknown plot). The model only
ever sees the resulting numbers, so it can be tested on tiny hand-made tables.
"""

from __future__ import annotations

import difflib
import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely
from shapely import STRtree

from planner.arrays import flagged_before, run_starts
from planner.errors import LayerError, ScenarioError
from planner.nearby import KeptNearby, Nearby
from planner.nearby import compute as compute_nearby
from planner.scenario import Scenario
from planner.scoring import suitability_scores

if TYPE_CHECKING:
    import geopandas as gpd

log = logging.getLogger(__name__)

EPS = 1e-9


@dataclass
class Instance:
    """Everything the model needs, as plain tables indexed by position.

    plots: plot_id, name, proposer, group, capacity, min_homes, fixed_homes (NaN = none),
    fixed_cost, cost_per_home, eligible, reason, suitability, buurt_id, region_id.
    services: service_id, type, name, capacity (NaN = unlimited).
    pairs: plot, service (positions), type, distance_m.
    buurten: buurt_id, name, dwellings, cap. regions: region_id, name, min_homes, max_homes,
    demand. travel: region_id, plot (position), cost_per_home.
    """

    scenario: Scenario
    plots: pd.DataFrame
    services: pd.DataFrame
    pairs: pd.DataFrame
    buurten: pd.DataFrame
    regions: pd.DataFrame
    travel: pd.DataFrame
    distances: pd.DataFrame = field(default_factory=pd.DataFrame)
    weights_used: dict[str, float] = field(default_factory=dict)
    reach_stats: dict[str, Any] | None = None
    _model_pairs: pd.DataFrame | None = field(default=None, repr=False)
    nearby: Nearby | None = field(default=None, repr=False)
    geo: dict[str, Any] = field(default_factory=dict)

    @property
    def module(self) -> int:
        return self.scenario.defaults.module_homes

    @property
    def support_types(self) -> list[str]:
        return list(self.scenario.support.reach_m)

    def model_pairs(self) -> pd.DataFrame:
        """The reach pairs the model needs (original row labels kept).

        Where a plot reaches a service of some type without a capacity limit, that one pair can
        take every support resident of the type, so the other pairs of that plot and type can
        never be needed: only the nearest unlimited pair stays. The result's integral assignment
        still sees every pair, so residents go to the nearest service with room.
        """
        if self._model_pairs is None:
            pairs = self.pairs
            unlimited = np.isnan(self.services["capacity"].to_numpy(dtype=float))[
                pairs["service"].to_numpy(dtype=int)
            ]
            # pairs are sorted by distance within each plot and type
            keep = _needed(pairs["plot"].to_numpy(dtype=np.int64), pairs["type"], unlimited)
            self._model_pairs = pairs[keep]
            log.info("reach: %d of %d pairs needed by the model", keep.sum(), len(pairs))
        return self._model_pairs


def _needed(plot: np.ndarray, kind: pd.Series, unlimited: np.ndarray) -> np.ndarray:
    """Which pairs the model needs (``Instance.model_pairs``): every pair of a plot and type
    without an unlimited service, else the first unlimited one in row order. On arrays, group
    by group (the pairs come grouped by plot and type; else they are put so, stably)."""
    codes = pd.factorize(kind)[0].astype(np.int64)
    group = plot * (int(codes.max(initial=0)) + 1) + codes
    starts, order = run_starts(group), None
    if np.unique(group[starts]).size != starts.sum():
        order = np.argsort(group, kind="stable")  # a group's rows apart: bring them together
        group, unlimited = group[order], unlimited[order]
        starts = run_starts(group)
    ids = np.cumsum(starts) - 1
    covered = np.bincount(ids, weights=unlimited)[ids] > 0
    keep = ~covered | (unlimited & (flagged_before(starts, unlimited) == 0))
    if order is not None:
        keep[order] = keep.copy()
    return keep


def sum_by(keys: Any, values: Any) -> pd.Series:
    """Sum values per id, skipping missing ids (None or NaN, whatever the column dtype)."""
    keys = np.asarray(keys, dtype=object)
    mask = np.array([isinstance(k, str) and k != "" for k in keys], dtype=bool)
    return pd.Series(np.asarray(values)[mask]).groupby(keys[mask].astype(str)).sum()


def _ids(column: pd.Series) -> tuple[Any, np.ndarray]:
    """``column.astype(str)`` for a table, as its ``str`` array (the column a DataFrame makes of
    the strings, without converting them back from Python objects: 1.3 ms of 3.8 ms for the
    20,000 services' table), and as an object array; the object array for both where a value is
    missing or there is none."""
    text = column.astype(str)
    values = text.to_numpy()
    if len(text) and not text.hasnans and str(text.dtype) == "str":
        return text.array, values
    return values, values


def _floor(value: float) -> int:
    return math.floor(value + EPS)


def _source(scenario: Scenario, kind: str) -> str:
    path = scenario.layer_path(kind)
    return path.name if path is not None else kind


def _resolve_capacity(plots: gpd.GeoDataFrame, scenario: Scenario) -> pd.DataFrame:
    """Capacity, min_homes and costs per plot with the scenario defaults filled in."""
    d = scenario.defaults
    module = d.module_homes
    area_ha = plots.geometry.area.to_numpy() / 10_000.0
    given = plots["capacity"].to_numpy(dtype=float)
    raw_cap = np.where(np.isnan(given), np.floor(area_ha * d.homes_per_ha + EPS), np.floor(given))
    capacity = (raw_cap // module * module).astype(int)
    given_min = plots["min_homes"].to_numpy(dtype=float)
    raw_min = np.where(np.isnan(given_min), d.min_homes, np.ceil(given_min - EPS))
    min_homes = (np.ceil(raw_min / module - EPS) * module).astype(int)
    fixed_cost = plots["fixed_cost"].to_numpy(dtype=float)
    cost_per_home = plots["cost_per_home"].to_numpy(dtype=float)
    return pd.DataFrame(
        {
            "plot_id": _ids(plots["plot_id"])[0],
            "name": plots["name"].to_numpy(dtype=object),
            "proposer": plots["proposer"].to_numpy(dtype=object),
            "group": plots["group"].to_numpy(dtype=object),
            "area_ha": area_ha,
            "capacity": capacity,
            "min_homes": min_homes,
            "fixed_homes": plots["fixed_homes"].to_numpy(dtype=float),
            "fixed_cost": np.where(np.isnan(fixed_cost), d.fixed_cost_eur, fixed_cost),
            "cost_per_home": np.where(np.isnan(cost_per_home), d.cost_per_home_eur, cost_per_home),
            "available_from": plots["available_from"].to_numpy(dtype=float),
            "available_until": plots["available_until"].to_numpy(dtype=float),
        }
    )


def _exclusion_reasons(plot_geoms: np.ndarray, exclusions: gpd.GeoDataFrame | None) -> list[str]:
    """Reason text per plot whose interior overlaps an exclusion polygon ('' when none)."""
    reasons = [""] * len(plot_geoms)
    if exclusions is None or len(exclusions) == 0:
        return reasons
    ex_geoms = exclusions.geometry.to_numpy()
    tree = STRtree(ex_geoms)
    plot_i, ex_j = tree.query(plot_geoms, predicate="intersects")
    touching = shapely.touches(plot_geoms[plot_i], ex_geoms[ex_j])
    ex_reason = exclusions["reason"].astype(str).to_numpy()
    for i, j in zip(plot_i[~touching], ex_j[~touching], strict=True):
        if not reasons[i]:
            reasons[i] = f"lies in an exclusion zone ({ex_reason[j]})"
    return reasons


def _eligibility(
    table: pd.DataFrame, exclusion: list[str], scenario: Scenario, source: str
) -> None:
    """Set `eligible` and `reason`; a fixed project on an ineligible plot is a data conflict.

    Plots go by column, and only those a rule applies to one by one: 1 ms against 13 ms for a
    row by row pass over 5,000 plots."""
    year = scenario.plan_year
    module = scenario.defaults.module_homes
    reasons = list(exclusion)
    open_from = table["available_from"].to_numpy(dtype=float)
    open_until = table["available_until"].to_numpy(dtype=float)
    capacity = table["capacity"].to_numpy()
    min_homes = table["min_homes"].to_numpy()
    fixed = table["fixed_homes"].to_numpy(dtype=float)
    if year is not None:
        blank = np.array([not reason for reason in reasons], dtype=bool)
        early = blank & (year < open_from)  # NaN: no bound
        for i in np.flatnonzero(early).tolist():
            reasons[i] = f"not available until {int(open_from[i])} (plan year {year})"
        for i in np.flatnonzero(blank & ~early & (year > open_until)).tolist():
            reasons[i] = f"available only until {int(open_until[i])} (plan year {year})"
    conflicts: list[str] = []
    plot_ids = table["plot_id"]
    for i in np.flatnonzero(~np.isnan(fixed)).tolist():
        plot_id, homes, room = plot_ids.iat[i], fixed[i], capacity[i]
        if reasons[i]:
            conflicts.append(f"plot_id '{plot_id}' has fixed_homes but {reasons[i]}")
        elif homes > room:
            conflicts.append(
                f"plot_id '{plot_id}': fixed_homes {int(homes)} exceeds its capacity "
                f"{room}; raise capacity or lower fixed_homes"
            )
        elif homes % module:
            conflicts.append(
                f"plot_id '{plot_id}': fixed_homes {int(homes)} is not a multiple of "
                f"defaults.module_homes {module}"
            )
    if conflicts:
        raise LayerError(f"{source}: " + "; ".join(conflicts))
    blank = np.array([not reason for reason in reasons], dtype=bool)
    for i in np.flatnonzero(blank & np.isnan(fixed) & (capacity < min_homes)).tolist():
        reasons[i] = f"capacity {capacity[i]} is below the minimum project size {min_homes[i]}"
    table["reason"] = [r or None for r in reasons]
    table["eligible"] = [not r for r in reasons]


def _membership(
    points: np.ndarray,
    areas: gpd.GeoDataFrame | None,
    id_column: str,
    tree: STRtree | None = None,
) -> np.ndarray:
    """Id of the first area (lowest row) covering each point; None outside every area.

    The points are in the tree (``tree``, shared by the layers) and each area asks for the
    points it covers, prepared once: at 5,000 plots 5 ms for 13,000 buurten and 342 regions
    against 10.5 ms with the points asking a tree of the areas (covers(area, point) is
    covered_by(point, area), points on the edges included: tests/test_instance_tables.py)."""
    result = np.full(len(points), None, dtype=object)
    if areas is None or len(areas) == 0:
        return result
    valid = ~(areas.geometry.isna() | areas.geometry.is_empty).to_numpy()
    if not valid.any():
        return result
    rows = np.flatnonzero(valid)
    tree = tree if tree is not None else STRtree(points)
    area_j, point_i = tree.query(areas.geometry.to_numpy()[rows], predicate="covers")
    order = np.lexsort((area_j, point_i))
    point_i, area_j = point_i[order], area_j[order]
    first = np.ones(len(point_i), dtype=bool)
    first[1:] = point_i[1:] != point_i[:-1]
    result[point_i[first]] = areas[id_column].iloc[rows[area_j[first]]].astype(str).to_numpy()
    return result


def _check_reach_types(scenario: Scenario, services: gpd.GeoDataFrame) -> None:
    present = sorted(set(services["type"]))
    for kind in scenario.support.reach_m:
        if kind not in present:
            guess = difflib.get_close_matches(kind, present, n=1)
            hint = f"; did you mean '{guess[0]}'?" if guess else ""
            raise ScenarioError(
                f"support.reach_m: no service of type '{kind}' in "
                f"{_source(scenario, 'services')} (types present: {', '.join(present)}){hint}"
            )


def _catchments(
    service_ids: np.ndarray, areas: gpd.GeoDataFrame | None, scenario: Scenario
) -> dict[int, object]:
    if areas is None or len(areas) == 0:
        return {}
    position = {sid: i for i, sid in enumerate(service_ids)}
    unknown = sorted(set(areas["service_id"].astype(str)) - set(position))
    if unknown:
        raise LayerError(
            f"{_source(scenario, 'service_areas')}: service_id {', '.join(unknown[:10])} not in "
            f"{_source(scenario, 'services')}; every catchment must belong to a listed service"
        )
    return {
        position[str(sid)]: geom
        for sid, geom in zip(areas["service_id"], areas.geometry, strict=True)
    }


def _buurten(layer: gpd.GeoDataFrame | None, share: float) -> pd.DataFrame:
    if layer is None:
        return pd.DataFrame(columns=["buurt_id", "name", "dwellings", "cap"])
    dwellings = layer["dwellings"].to_numpy(dtype=float)
    names = layer["name"] if "name" in layer.columns else pd.Series([None] * len(layer))
    return pd.DataFrame(
        {
            "buurt_id": _ids(layer["buurt_id"])[0],
            "name": names.to_numpy(dtype=object),
            "dwellings": dwellings,
            "cap": np.floor(share * dwellings + EPS).astype(int),
        }
    )


def _regions(layer: gpd.GeoDataFrame | None) -> pd.DataFrame:
    cols = ["region_id", "name", "min_homes", "max_homes", "demand"]
    if layer is None:
        return pd.DataFrame(columns=cols)
    table = pd.DataFrame({"region_id": _ids(layer["region_id"])[0]})
    table["name"] = layer["name"].to_numpy(dtype=object) if "name" in layer else table["region_id"]
    for col in cols[2:]:
        table[col] = layer[col].to_numpy(dtype=float) if col in layer else np.nan
    return table


def _travel(
    layer: pd.DataFrame | None, plot_ids: np.ndarray, regions: pd.DataFrame, scenario: Scenario
) -> pd.DataFrame:
    if layer is None or len(layer) == 0:
        if regions["demand"].fillna(0).gt(0).any():
            raise LayerError(
                f"{_source(scenario, 'regions')}: regions have `demand` but the scenario has no "
                "travel_costs layer; add layers.travel_costs (region_id, plot_id, cost_per_home)"
            )
        return pd.DataFrame(columns=["region_id", "plot", "cost_per_home"])
    position = {pid: i for i, pid in enumerate(plot_ids)}
    src = _source(scenario, "travel_costs")
    bad_plots = sorted(set(layer["plot_id"].astype(str)) - set(position))
    bad_regions = sorted(set(layer["region_id"].astype(str)) - set(regions["region_id"]))
    if bad_plots:
        raise LayerError(f"{src}: plot_id {', '.join(bad_plots[:10])} not in the plots layer")
    if bad_regions:
        raise LayerError(f"{src}: region_id {', '.join(bad_regions[:10])} not in the regions layer")
    return pd.DataFrame(
        {
            "region_id": layer["region_id"].astype(str).to_numpy(),
            "plot": [position[p] for p in layer["plot_id"].astype(str)],
            "cost_per_home": layer["cost_per_home"].to_numpy(dtype=float),
        }
    )


def _features_by_type(
    services: gpd.GeoDataFrame, amenities: gpd.GeoDataFrame | None
) -> dict[str, np.ndarray]:
    frames = [services[["type", "geometry"]]]
    if amenities is not None and len(amenities):
        frames.append(amenities[["type", "geometry"]])
    pooled = pd.concat(frames, ignore_index=True)
    return {
        str(kind): group.geometry.to_numpy() for kind, group in pooled.groupby("type", sort=True)
    }


def _plots_with_all_types(pairs: pd.DataFrame, types: int) -> set[int]:
    counts = pairs.groupby("plot")["type"].nunique()
    return set(counts[counts == types].index.tolist())


def _network_reach(
    pairs: pd.DataFrame,
    network: gpd.GeoDataFrame,
    plot_geoms: np.ndarray,
    services_gdf: gpd.GeoDataFrame,
    catchments: dict[int, object],
    scenario: Scenario,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Filter straight-line pairs by route length; count plots whose care reach changes."""
    from planner.network import apply_network_reach, build_graph

    graph = build_graph(network.geometry.to_numpy())
    routed = apply_network_reach(
        pairs,
        graph,
        plot_geoms,
        services_gdf.geometry.to_numpy(),
        scenario.support.reach_m,
        set(catchments),
    )
    n_types = len(scenario.support.reach_m)
    before = _plots_with_all_types(pairs, n_types)
    after = _plots_with_all_types(routed, n_types)
    stats = {
        "mode": "network",
        "profile": scenario.support.network_profile,
        "junctions": graph.node_count,
        "pairs_straight": len(pairs),
        "pairs_network": len(routed),
        "plots_full_reach_straight": len(before),
        "plots_full_reach_network": len(after),
        "plots_losing_full_reach": len(before - after),
    }
    log.info(
        "network reach: %d plots reach every service type in a straight line, %d along streets",
        len(before),
        len(after),
    )
    return routed, stats


def build_instance(
    layers: dict[str, Any], scenario: Scenario, kept: KeptNearby | None = None
) -> Instance:
    """Turn validated layers (EPSG:28992) into the model's plain tables.

    ``kept``: an earlier run's reach pairs and distances (planner.nearby); only plots it has not
    seen are computed.
    """
    plots_gdf: gpd.GeoDataFrame = layers["plots"]
    services_gdf: gpd.GeoDataFrame = layers["services"]
    _check_reach_types(scenario, services_gdf)

    plot_geoms = plots_gdf.geometry.to_numpy()
    plot_points = shapely.point_on_surface(plot_geoms)
    plots = _resolve_capacity(plots_gdf, scenario)
    _eligibility(
        plots,
        _exclusion_reasons(plot_geoms, layers.get("exclusions")),
        scenario,
        _source(scenario, "plots"),
    )
    points = STRtree(plot_points)
    plots["buurt_id"] = _membership(plot_points, layers.get("neighbourhoods"), "buurt_id", points)
    plots["region_id"] = _membership(plot_points, layers.get("regions"), "region_id", points)

    service_column, service_ids = _ids(services_gdf["service_id"])
    type_column, service_types = _ids(services_gdf["type"])
    catchments = _catchments(service_ids, layers.get("service_areas"), scenario)
    nearby = compute_nearby(
        plot_geoms,
        plot_points,
        service_types,
        services_gdf.geometry.to_numpy(),
        _features_by_type(services_gdf, layers.get("amenities")),
        catchments,
        scenario.support.reach_m,
        kept=kept,
    )
    distances = nearby.distances
    s = scenario.suitability
    plots["suitability"], weights_used = suitability_scores(
        distances, scenario.weights, s.decay_m, s.decay_m_per_type
    )

    services = pd.DataFrame(
        {
            "service_id": service_column,
            "type": type_column,
            "name": services_gdf["name"].to_numpy(dtype=object),
            "capacity": services_gdf["capacity"].to_numpy(dtype=float),
        }
    )
    eligible = plots["eligible"].to_numpy()
    pairs = nearby.pairs
    pairs = pairs[eligible[pairs["plot"].to_numpy()]].reset_index(drop=True)
    reach_stats = None
    if scenario.support.reach_mode == "network":
        pairs, reach_stats = _network_reach(
            pairs, layers["network"], plot_geoms, services_gdf, catchments, scenario
        )
    regions = _regions(layers.get("regions"))
    instance = Instance(
        scenario=scenario,
        plots=plots,
        services=services,
        pairs=pairs,
        buurten=_buurten(
            layers.get("neighbourhoods"), scenario.neighbourhood.max_share_of_dwellings
        ),
        regions=regions,
        travel=_travel(layers.get("travel_costs"), plots["plot_id"].to_numpy(), regions, scenario),
        distances=distances,
        weights_used=weights_used,
        reach_stats=reach_stats,
        nearby=nearby,
        geo={
            "plots": plots_gdf.geometry,
            "services": services_gdf.geometry,
            "neighbourhoods": layers.get("neighbourhoods"),
            "regions": layers.get("regions"),
        },
    )
    log.info(
        "instance: %d plots (%d eligible), %d services, %d reach pairs, %d buurten, %d regions",
        len(plots),
        int(eligible.sum()),
        len(services),
        len(pairs),
        len(instance.buurten),
        len(regions),
    )
    return instance
