"""Which services each plot can reach: the pairs the care constraints are built on.

Pairs come from a spatial index (shapely STRtree), never from an all-pairs distance matrix, so the
work grows with the number of pairs in reach, not with plots x services. A service that works by
area (a catchment in ``service_areas``) is in reach when the plot's representative point lies in
its catchment, whatever the distance; any other service when the straight-line distance from the
plot polygon to the service point is at most the reach radius for its type.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import shapely
from shapely import STRtree

log = logging.getLogger(__name__)

PAIR_COLUMNS = ["plot", "service", "type", "distance_m"]


def _radius_pairs(
    plot_geoms: np.ndarray, service_geoms: np.ndarray, service_idx: np.ndarray, radius_m: float
) -> pd.DataFrame:
    """Pairs (plot, service) with polygon-to-point distance <= radius."""
    if len(service_idx) == 0 or len(plot_geoms) == 0:
        return pd.DataFrame({"plot": [], "service": [], "distance_m": []})
    tree = STRtree(service_geoms[service_idx])
    plot_i, local_j = tree.query(plot_geoms, predicate="dwithin", distance=radius_m)
    services = service_idx[local_j]
    distance = shapely.distance(plot_geoms[plot_i], service_geoms[services])
    return pd.DataFrame({"plot": plot_i, "service": services, "distance_m": distance})


def _catchment_pairs(
    plot_geoms: np.ndarray,
    plot_points: np.ndarray,
    service_geoms: np.ndarray,
    service_idx: np.ndarray,
    catchments: np.ndarray,
) -> pd.DataFrame:
    """Pairs (plot, service) where the plot's representative point lies in the catchment."""
    if len(service_idx) == 0 or len(plot_points) == 0:
        return pd.DataFrame({"plot": [], "service": [], "distance_m": []})
    tree = STRtree(catchments)
    plot_i, local_j = tree.query(plot_points, predicate="covered_by")
    services = service_idx[local_j]
    distance = shapely.distance(plot_geoms[plot_i], service_geoms[services])
    return pd.DataFrame({"plot": plot_i, "service": services, "distance_m": distance})


def reach_pairs(
    plot_geoms: np.ndarray,
    plot_points: np.ndarray,
    service_types: np.ndarray,
    service_geoms: np.ndarray,
    catchment_by_service: dict[int, object],
    reach_m: dict[str, float],
) -> pd.DataFrame:
    """All (plot, service) pairs in reach, for the service types listed in ``reach_m``.

    Parameters
    ----------
    plot_geoms, plot_points
        Plot polygons and their representative points (EPSG:28992), aligned arrays.
    service_types, service_geoms
        Service type and point per service index.
    catchment_by_service
        Service index -> catchment polygon, for services that work by area.
    reach_m
        Radius per service type.

    Returns
    -------
    DataFrame with columns plot, service (integer positions), type and distance_m (plot polygon
    to service point), sorted by plot, type and distance so downstream order is deterministic.
    """
    frames = []
    for kind, radius in reach_m.items():
        of_type = np.flatnonzero(service_types == kind)
        by_area = np.array([j for j in of_type if j in catchment_by_service], dtype=int)
        by_radius = np.setdiff1d(of_type, by_area)
        radius_df = _radius_pairs(plot_geoms, service_geoms, by_radius, radius)
        area_df = _catchment_pairs(
            plot_geoms,
            plot_points,
            service_geoms,
            by_area,
            np.array([catchment_by_service[j] for j in by_area], dtype=object),
        )
        for df in (radius_df, area_df):
            if len(df):
                frames.append(df.assign(type=kind))
    if not frames:
        return pd.DataFrame(
            {
                c: pd.Series(dtype=t)
                for c, t in zip(PAIR_COLUMNS, ["int64", "int64", "object", "float64"], strict=True)
            }
        )
    pairs = pd.concat(frames, ignore_index=True)[PAIR_COLUMNS]
    pairs["plot"] = pairs["plot"].astype("int64")
    pairs["service"] = pairs["service"].astype("int64")
    pairs["type"] = pairs["type"].astype(object)
    pairs = pairs.sort_values(["plot", "type", "distance_m", "service"], kind="stable")
    log.info("reach: %d plot-service pairs for %d service types", len(pairs), len(reach_m))
    return pairs.reset_index(drop=True)
