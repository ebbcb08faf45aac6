"""Reach along the street network: route lengths from plots to services.

The graph is built from line segments (vertices shared by coordinate are junctions) as a sparse
matrix, and shortest routes come from ``scipy.sparse.csgraph.dijkstra`` with a distance limit,
from a batch of plot nodes at a time (measured fastest of scipy, igraph and networkx on this task:
``benchmarks/network_reach.py``). A plot enters the network at the node nearest to its polygon and
a service at the node nearest to its point; the network distance is

    d(plot polygon, plot node) + route(plot node, service node) + d(service node, service point)

which is never shorter than the straight line, so only the straight-line pairs within the reach
radius need routes: network reach is a filter on those pairs with a new distance.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import dijkstra
from shapely import STRtree

log = logging.getLogger(__name__)

BATCH = 64


@dataclass(frozen=True)
class StreetGraph:
    """Junction coordinates and a symmetric sparse matrix of segment lengths (m)."""

    xy: np.ndarray
    matrix: csr_matrix

    @property
    def node_count(self) -> int:
        return len(self.xy)


def build_graph(lines: np.ndarray) -> StreetGraph:
    """Graph of line vertices; a vertex shared by two lines (to the centimetre) is a junction."""
    coords, index = shapely.get_coordinates(lines, return_index=True)
    same_line = index[1:] == index[:-1]
    keys = np.round(coords, 2)
    xy, node = np.unique(keys, axis=0, return_inverse=True)
    node = node.ravel()
    a, b = node[:-1][same_line], node[1:][same_line]
    length = np.hypot(*(coords[1:][same_line] - coords[:-1][same_line]).T)
    keep = a != b
    a, b, length = a[keep], b[keep], length[keep]
    n = len(xy)
    matrix = _min_duplicates(a, b, length, n)
    log.info("network: %d junctions, %d segments", n, len(a))
    return StreetGraph(xy=xy, matrix=matrix)


def _min_duplicates(a: np.ndarray, b: np.ndarray, length: np.ndarray, n: int) -> csr_matrix:
    """Symmetric length matrix; of parallel segments between two junctions the shortest counts
    (a sparse matrix would add them up)."""
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    frame = pd.DataFrame({"lo": lo, "hi": hi, "length": length})
    best = frame.groupby(["lo", "hi"], sort=False)["length"].min().reset_index()
    rows = np.concatenate([best["lo"], best["hi"]])
    cols = np.concatenate([best["hi"], best["lo"]])
    data = np.concatenate([best["length"], best["length"]])
    return coo_matrix((data, (rows, cols)), shape=(n, n)).tocsr()


def snap(graph: StreetGraph, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest junction of each geometry and the distance to it."""
    points = shapely.points(graph.xy)
    (geom_i, node_j), dist = STRtree(points).query_nearest(
        geoms, return_distance=True, all_matches=False
    )
    nodes = np.full(len(geoms), -1)
    gap = np.full(len(geoms), np.inf)
    nodes[geom_i] = node_j
    gap[geom_i] = dist
    return nodes, gap


def network_distances(
    graph: StreetGraph,
    plot_geoms: np.ndarray,
    service_geoms: np.ndarray,
    pairs: pd.DataFrame,
    limit_m: float,
) -> np.ndarray:
    """Network distance of each (plot, service) pair; inf where beyond ``limit_m``."""
    result = np.full(len(pairs), np.inf)
    if pairs.empty:
        return result
    plot_node, plot_gap = snap(graph, plot_geoms)
    svc_node, svc_gap = snap(graph, service_geoms)
    plots = pairs["plot"].to_numpy()
    services = pairs["service"].to_numpy()
    source_of_pair = plot_node[plots]
    target_of_pair = svc_node[services]
    sources = np.unique(source_of_pair)
    for start in range(0, len(sources), BATCH):
        batch = sources[start : start + BATCH]
        dist = dijkstra(graph.matrix, directed=False, indices=batch, limit=limit_m)
        sel = np.flatnonzero(np.isin(source_of_pair, batch))
        rows = np.searchsorted(batch, source_of_pair[sel])
        route = dist[rows, target_of_pair[sel]]
        result[sel] = plot_gap[plots[sel]] + route + svc_gap[services[sel]]
    return result


def apply_network_reach(
    pairs: pd.DataFrame,
    graph: StreetGraph,
    plot_geoms: np.ndarray,
    service_geoms: np.ndarray,
    reach_m: dict[str, float],
    by_area: set[int],
) -> pd.DataFrame:
    """Keep the straight-line pairs whose route is within reach, with the route as distance.

    Services that work by area (``by_area``) keep their catchment rule and straight distance.
    """
    routed = pairs[~pairs["service"].isin(by_area)]
    kept_area = pairs[pairs["service"].isin(by_area)]
    distance = network_distances(
        graph, plot_geoms, service_geoms, routed, max(reach_m.values(), default=0.0)
    )
    radius = routed["type"].map(reach_m).to_numpy(dtype=float)
    within = distance <= radius + 1e-9
    routed = routed.assign(distance_m=distance)[within]
    out = pd.concat([routed, kept_area], ignore_index=True)
    out = out.sort_values(["plot", "type", "distance_m", "service"], kind="stable")
    log.info("network reach: %d of %d straight-line pairs remain", len(out), len(pairs))
    return out.reset_index(drop=True)
