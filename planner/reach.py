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


Pairs = tuple[np.ndarray, np.ndarray, np.ndarray]
"""(plot, service, distance_m) arrays of the pairs of one service type."""

# At most this many plots are matched against a box filter before the services go into a tree:
# a re-run's few new plots then need no tree of every service of the type (one plot at 5,000
# national plots: 0.3 ms against 1.0 ms for the 8,000 huisartsen).
FEW_PLOTS = 32


def _near_boxes(plot_geoms: np.ndarray, service_geoms: np.ndarray, radius_m: float) -> np.ndarray:
    """Which services lie in some plot's bounding box widened by a bit more than the radius: a
    superset of those within the radius of a plot (the box is at most as far as the polygon)."""
    pad = radius_m * (1.0 + 1e-9) + 1.0
    boxes = shapely.bounds(plot_geoms)
    own = shapely.bounds(service_geoms)
    near = np.zeros(len(service_geoms), dtype=bool)
    for x0, y0, x1, y1 in boxes.tolist():
        near |= (
            (own[:, 2] >= x0 - pad)
            & (own[:, 0] <= x1 + pad)
            & (own[:, 3] >= y0 - pad)
            & (own[:, 1] <= y1 + pad)
        )
    return near


def _radius_pairs(
    plot_geoms: np.ndarray, service_geoms: np.ndarray, service_idx: np.ndarray, radius_m: float
) -> Pairs:
    """Pairs (plot, service) with polygon-to-point distance <= radius."""
    if 0 < len(plot_geoms) <= FEW_PLOTS and len(service_idx):
        service_idx = service_idx[_near_boxes(plot_geoms, service_geoms[service_idx], radius_m)]
    if len(service_idx) == 0 or len(plot_geoms) == 0:
        return _no_pairs()
    tree = STRtree(service_geoms[service_idx])
    plot_i, local_j = tree.query(plot_geoms, predicate="dwithin", distance=radius_m)
    services = service_idx[local_j]
    distance = shapely.distance(plot_geoms[plot_i], service_geoms[services])
    return plot_i, services, distance


def _catchment_pairs(
    plot_geoms: np.ndarray,
    plot_points: np.ndarray,
    service_geoms: np.ndarray,
    service_idx: np.ndarray,
    catchments: np.ndarray,
) -> Pairs:
    """Pairs (plot, service) where the plot's representative point lies in the catchment."""
    if len(service_idx) == 0 or len(plot_points) == 0:
        return _no_pairs()
    tree = STRtree(catchments)
    plot_i, local_j = tree.query(plot_points, predicate="covered_by")
    services = service_idx[local_j]
    distance = shapely.distance(plot_geoms[plot_i], service_geoms[services])
    return plot_i, services, distance


def _no_pairs() -> Pairs:
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=float)


def type_pairs(
    plot_geoms: np.ndarray,
    plot_points: np.ndarray,
    service_types: np.ndarray,
    service_geoms: np.ndarray,
    catchment_by_service: dict[int, object],
    kind: str,
    radius_m: float,
) -> Pairs:
    """The pairs of one service type as (plot, service, distance_m) arrays (int64, int64,
    float64), sorted by plot, distance and service: ``reach_pairs``'s rows of that type, as
    arrays (planner.nearby assembles them without a DataFrame per type)."""
    of_type = np.flatnonzero(service_types == kind)
    if catchment_by_service:
        listed = np.fromiter(catchment_by_service, dtype=np.int64, count=len(catchment_by_service))
        area = np.isin(of_type, listed)
        by_area, by_radius = of_type[area], of_type[~area]
    else:
        by_area, by_radius = of_type[:0], of_type
    parts = [
        _radius_pairs(plot_geoms, service_geoms, by_radius, radius_m),
        _catchment_pairs(
            plot_geoms,
            plot_points,
            service_geoms,
            by_area,
            np.array([catchment_by_service[j] for j in by_area.tolist()], dtype=object),
        ),
    ]
    plot, service, distance = (
        np.concatenate([part[i] for part in parts]).astype(dtype, copy=False)
        for i, dtype in enumerate((np.int64, np.int64, np.float64))
    )
    order = np.lexsort((service, distance, plot))  # total: a service is in one part only
    return plot[order], service[order], distance[order]


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
    kinds = sorted(reach_m)
    parts = [
        type_pairs(
            plot_geoms,
            plot_points,
            service_types,
            service_geoms,
            catchment_by_service,
            kind,
            reach_m[kind],
        )
        for kind in kinds
    ]
    plot, service, distance = (
        np.concatenate([part[i] for part in parts]) if parts else np.zeros(0, dtype=dtype)
        for i, dtype in enumerate((np.int64, np.int64, np.float64))
    )
    code = np.repeat(np.arange(len(kinds)), np.array([len(part[0]) for part in parts], dtype=int))
    order = np.argsort(plot, kind="stable")  # the types come in sorted order already
    pairs = pd.DataFrame(
        {
            "plot": plot[order],
            "service": service[order],
            "type": pd.Series(np.array(kinds, dtype=object)[code[order]], dtype=object),
            "distance_m": distance[order],
        }
    )
    log.info("reach: %d plot-service pairs for %d service types", len(pairs), len(reach_m))
    return pairs
