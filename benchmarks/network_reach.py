"""Network reach for a city-sized region: routing libraries side by side.

A synthetic city of about 10 x 10 km: a street grid with 100 m blocks and jittered junctions
(~10,000 junctions, ~20,000 segments), 500 plots and 5,000 services. The script computes the
straight-line pairs within 1,500 m (STRtree) and then their route lengths with

- scipy.sparse.csgraph.dijkstra with a distance limit, batched (Flexplan's choice),
- igraph (distances from each plot node, no limit),
- networkx (single-source Dijkstra with a cutoff, per plot node),

checks that they agree and prints seconds for each. Run: ``python benchmarks/network_reach.py``.
"""

from __future__ import annotations

import argparse
import time

import igraph
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from planner.network import build_graph, network_distances, snap
from planner.reach import reach_pairs


def city(seed: int, size_m: float, block_m: float) -> np.ndarray:
    """Street lines of a jittered grid city."""
    rng = np.random.default_rng(seed)
    n = int(size_m / block_m) + 1
    xs, ys = np.meshgrid(np.arange(n) * block_m, np.arange(n) * block_m)
    jitter = rng.normal(0, block_m * 0.15, size=(n, n, 2))
    px, py = xs + jitter[..., 0], ys + jitter[..., 1]
    lines = []
    for i in range(n):
        for j in range(n):
            if i + 1 < n:
                lines.append(
                    shapely.LineString([(px[i, j], py[i, j]), (px[i + 1, j], py[i + 1, j])])
                )
            if j + 1 < n:
                lines.append(
                    shapely.LineString([(px[i, j], py[i, j]), (px[i, j + 1], py[i, j + 1])])
                )
    # Remove 10% of the segments: canals, railways and dead ends make detours.
    keep = rng.random(len(lines)) > 0.10
    return np.array(lines, dtype=object)[keep]


def _timed(label: str, func, *args):
    start = time.perf_counter()
    value = func(*args)
    seconds = time.perf_counter() - start
    print(f"{label:<38} {seconds:8.2f} s")
    return value, seconds


def _igraph_distances(graph, plots, services, pairs) -> np.ndarray:
    g = igraph.Graph(n=graph.node_count)
    coo = graph.matrix.tocoo()
    upper = coo.row < coo.col
    g.add_edges(list(zip(coo.row[upper], coo.col[upper], strict=True)))
    g.es["w"] = coo.data[upper]
    pn, pg = snap(graph, plots)
    sn, sg = snap(graph, services)
    out = np.full(len(pairs), np.inf)
    for node, group in pairs.groupby(pn[pairs["plot"].to_numpy()]):
        targets = sn[group["service"].to_numpy()]
        unique, back = np.unique(targets, return_inverse=True)
        found = g.distances(source=[int(node)], target=unique.tolist(), weights="w")[0]
        dist = np.array(found)[back]
        out[group.index] = pg[group["plot"].to_numpy()] + dist + sg[group["service"].to_numpy()]
    return out


def _networkx_distances(graph, plots, services, pairs, limit) -> np.ndarray:
    g = nx.from_scipy_sparse_array(graph.matrix)
    pn, pg = snap(graph, plots)
    sn, sg = snap(graph, services)
    out = np.full(len(pairs), np.inf)
    for node, group in pairs.groupby(pn[pairs["plot"].to_numpy()]):
        lengths = nx.single_source_dijkstra_path_length(g, int(node), cutoff=limit)
        dist = np.array([lengths.get(int(t), np.inf) for t in sn[group["service"].to_numpy()]])
        out[group.index] = pg[group["plot"].to_numpy()] + dist + sg[group["service"].to_numpy()]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plots", type=int, default=500)
    parser.add_argument("--services", type=int, default=5000)
    parser.add_argument("--size-m", type=float, default=10_000)
    parser.add_argument("--block-m", type=float, default=100)
    parser.add_argument("--reach-m", type=float, default=1500)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    lines = city(args.seed, args.size_m, args.block_m)
    centres = rng.uniform(0, args.size_m, size=(args.plots, 2))
    plots = shapely.buffer(shapely.points(centres), 40, quad_segs=2)
    services = shapely.points(rng.uniform(0, args.size_m, size=(args.services, 2)))
    graph, _ = _timed("build graph", build_graph, lines)
    print(
        f"  {graph.node_count} junctions, {graph.matrix.nnz // 2} segments, "
        f"{args.plots} plots, {args.services} services, reach {args.reach_m:g} m"
    )
    pairs, _ = _timed(
        "straight-line pairs (STRtree)",
        reach_pairs,
        plots,
        shapely.point_on_surface(plots),
        np.array(["t"] * args.services),
        services,
        {},
        {"t": args.reach_m},
    )
    pairs = pairs[["plot", "service"]]
    print(f"  {len(pairs)} pairs within {args.reach_m:g} m in a straight line")
    ours, _ = _timed(
        "scipy csgraph (batched, limit)",
        network_distances,
        graph,
        plots,
        services,
        pairs,
        args.reach_m,
    )
    ig, _ = _timed("igraph distances", _igraph_distances, graph, plots, services, pairs)
    nxd, _ = _timed(
        "networkx dijkstra (cutoff)",
        _networkx_distances,
        graph,
        plots,
        services,
        pairs,
        args.reach_m,
    )
    within = ours <= args.reach_m
    assert np.allclose(ours[within], ig[within]) and np.allclose(ours[within], nxd[within])
    print(
        f"  {int(within.sum())} of {len(pairs)} pairs within {args.reach_m:g} m along streets "
        f"({100 * within.mean():.0f}%); the three libraries agree"
    )
    plots_straight = pd.Series(pairs["plot"]).nunique()
    plots_network = pd.Series(pairs["plot"][within]).nunique()
    print(f"  plots with a service in reach: {plots_straight} straight, {plots_network} network")


if __name__ == "__main__":
    main()
