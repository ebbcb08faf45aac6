"""Suitability of a plot: how close it lies to the services and amenities residents need.

For each type t with weight w_t > 0 that occurs in the data, d_t is the distance from the plot
polygon to the nearest feature of that type (services and amenities pooled). The score is

    suitability = sum_t w_t * exp(-d_t / decay_t) / sum_t w_t        (0..1)

so a plot next to everything scores 1 and the contribution of a type falls to 37% at its decay
distance. Types absent from the data are left out of the sum (with a log line), so a scenario's
weights do not silently penalise every plot alike.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from shapely import STRtree

log = logging.getLogger(__name__)


def nearest_distances(
    plot_geoms: np.ndarray, features_by_type: dict[str, np.ndarray]
) -> pd.DataFrame:
    """Distance (m) from each plot polygon to the nearest feature of each type."""
    columns: dict[str, np.ndarray] = {}
    for kind in sorted(features_by_type):
        geoms = features_by_type[kind]
        if len(geoms) == 0 or len(plot_geoms) == 0:
            continue
        tree = STRtree(geoms)
        (plot_i, _), dist = tree.query_nearest(plot_geoms, return_distance=True, all_matches=False)
        values = np.full(len(plot_geoms), np.inf)
        values[plot_i] = dist
        columns[kind] = values
    return pd.DataFrame(columns, index=pd.RangeIndex(len(plot_geoms)))


def suitability_scores(
    distances: pd.DataFrame,
    weights: dict[str, float],
    decay_m: float,
    decay_m_per_type: dict[str, float],
) -> tuple[np.ndarray, dict[str, float]]:
    """Weighted distance-decay score per plot and the weights actually used.

    Returns the scores and the {type: weight} that entered the sum (types with weight > 0 that
    occur in the data).
    """
    used = {t: w for t, w in sorted(weights.items()) if w > 0 and t in distances.columns}
    missing = sorted(t for t, w in weights.items() if w > 0 and t not in distances.columns)
    if missing:
        log.info("suitability: no features of type(s) %s in the data; left out", ", ".join(missing))
    scores = np.zeros(len(distances))
    total = sum(used.values())
    if total == 0:
        return scores, used
    for kind, weight in used.items():
        decay = decay_m_per_type.get(kind, decay_m)
        scores += weight * np.exp(-distances[kind].to_numpy() / decay)
    return scores / total, used
