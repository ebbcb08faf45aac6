"""Per-plot geometry work a re-run can take from the earlier run: reach pairs and nearest distances.

The services a plot reaches (planner.reach) and the distance to the nearest feature of each type
(planner.scoring) depend on the plot's own polygon and on the same things for every plot: the
service and amenity points and types, the catchments and the reach radii. So a run keeps them
per plot *geometry* (a digest of its WKB) under a key of everything else (``context_key``); a
re-run with the same key computes them only for plots whose polygon it has not seen (a plot
added or redrawn) and takes the rest. The rows are the very ones a full computation gives: each
is computed from its own plot alone, and ``reach_pairs``'s sort order is total.

At 5,000 plots this is about 0.3 s of the instance stage, most of what a re-run after a small
change would spend on geometry.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from planner.reach import PAIR_COLUMNS, reach_pairs
from planner.scoring import nearest_distances

log = logging.getLogger(__name__)

PAIRS = "nearby_pairs.parquet"
DISTANCES = "nearby_distances.parquet"
META = "nearby.json"


@dataclass
class Nearby:
    """Reach pairs (every plot, eligible or not) and nearest distances of one instance, with the
    plots' geometry digests and the key of everything else they depend on."""

    key: str
    digests: np.ndarray
    pairs: pd.DataFrame
    distances: pd.DataFrame


@dataclass
class KeptNearby:
    """What an earlier run kept, by plot geometry: ``distances`` has one row per digest (index),
    ``pairs`` the rows of those digests (column ``at``, the digest's row in ``distances``,
    instead of ``plot``)."""

    key: str
    pairs: pd.DataFrame
    distances: pd.DataFrame


@functools.cache
def _code() -> str:
    """The source of the computations kept: a kept row is only as valid as the code behind it."""
    import planner.reach
    import planner.scoring

    digest = hashlib.sha256()
    for module in (planner.reach, planner.scoring):
        digest.update(Path(module.__file__).read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


def digests(geoms: np.ndarray) -> np.ndarray:
    """A digest of each geometry's WKB (same polygon, same digest)."""
    blobs = shapely.to_wkb(geoms, byte_order=1)
    return np.array([hashlib.blake2b(b, digest_size=16).hexdigest() for b in blobs], dtype=object)


def _geometry_digest(digest: Any, geoms: np.ndarray) -> None:
    blobs = shapely.to_wkb(np.asarray(geoms, dtype=object), byte_order=1).tolist()
    digest.update(np.fromiter(map(len, blobs), dtype="<i8", count=len(blobs)).tobytes())
    digest.update(b"".join(blobs))


def context_key(
    service_types: np.ndarray,
    service_geoms: np.ndarray,
    features_by_type: dict[str, np.ndarray],
    catchments: dict[int, object],
    reach_m: dict[str, float],
) -> str:
    """Everything but the plot's own polygon that its reach pairs and distances depend on."""
    digest = hashlib.sha256(_code().encode())
    digest.update(json.dumps(sorted(reach_m.items())).encode())
    digest.update("\x1f".join(map(str, service_types)).encode())
    _geometry_digest(digest, service_geoms)
    for kind in sorted(features_by_type):
        digest.update(f"\x1e{kind}".encode())
        _geometry_digest(digest, features_by_type[kind])
    order = sorted(catchments)
    digest.update(json.dumps(order).encode())
    _geometry_digest(digest, np.array([catchments[j] for j in order], dtype=object))
    return digest.hexdigest()


def compute(
    plot_geoms: np.ndarray,
    plot_points: np.ndarray,
    service_types: np.ndarray,
    service_geoms: np.ndarray,
    features_by_type: dict[str, np.ndarray],
    catchments: dict[int, object],
    reach_m: dict[str, float],
    kept: KeptNearby | None = None,
) -> Nearby:
    """Reach pairs and nearest distances of every plot, taking what ``kept`` has (same key)."""
    key = context_key(service_types, service_geoms, features_by_type, catchments, reach_m)
    plot_digests = digests(plot_geoms)
    if kept is not None and kept.key != key:
        log.info("re-run: services, amenities or reach changed; reach pairs computed again")
        kept = None
    at = (
        kept.distances.index.get_indexer(plot_digests)
        if kept is not None
        else np.full(len(plot_digests), -1)
    )
    known = at >= 0
    todo = np.flatnonzero(~known)
    fresh_pairs = reach_pairs(
        plot_geoms[todo],
        plot_points[todo],
        service_types,
        service_geoms,
        catchments,
        reach_m,
    )
    fresh_pairs["plot"] = todo[fresh_pairs["plot"].to_numpy()]
    fresh_distances = nearest_distances(plot_geoms[todo], features_by_type)
    fresh_distances.index = pd.Index(todo)
    if kept is None:
        pairs, distances = fresh_pairs, fresh_distances
    else:
        log.info("re-run: reach and distances of %d of %d plots kept", known.sum(), len(known))
        pairs = _merged_pairs(kept, at, fresh_pairs)
        distances = _merged_distances(kept, plot_digests, known, fresh_distances)
    return Nearby(key=key, digests=plot_digests, pairs=pairs, distances=distances)


def _merged_pairs(kept: KeptNearby, at: np.ndarray, fresh: pd.DataFrame) -> pd.DataFrame:
    """Kept rows for the known plots (``at`` >= 0) and fresh ones for the others, in
    ``reach_pairs`` order: by plot, and within a plot as computed (both kept and fresh rows are
    in that order already, so a stable sort by plot is enough)."""
    rows = kept.pairs
    group = rows["at"].to_numpy()
    order = np.argsort(group, kind="stable")
    counts = np.bincount(group, minlength=len(kept.distances))
    starts = np.cumsum(counts) - counts
    plots = np.flatnonzero(at >= 0)
    n = counts[at[plots]]
    offsets = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    take = order[np.repeat(starts[at[plots]], n) + offsets]
    old = pd.DataFrame(
        {
            "plot": np.repeat(plots, n).astype("int64"),
            "service": rows["service"].to_numpy()[take],
            "type": rows["type"].to_numpy()[take],
            "distance_m": rows["distance_m"].to_numpy()[take],
        }
    )
    pairs = pd.concat([old, fresh[PAIR_COLUMNS]], ignore_index=True)
    pairs = pairs.astype({"plot": "int64", "service": "int64", "type": object})
    pairs = pairs.iloc[np.argsort(pairs["plot"].to_numpy(), kind="stable")]
    return pairs.reset_index(drop=True)


def _merged_distances(
    kept: KeptNearby, plot_digests: np.ndarray, known: np.ndarray, fresh: pd.DataFrame
) -> pd.DataFrame:
    """Kept distance rows for the known plots, fresh ones for the others, by plot position."""
    old = kept.distances.loc[plot_digests[known]]
    old.index = pd.Index(np.flatnonzero(known))
    distances = pd.concat([old, fresh]) if len(fresh) else old
    distances = distances.sort_index()
    distances.index = pd.RangeIndex(len(plot_digests))
    return distances[sorted(distances.columns)]


def write(folder: Path, nearby: Nearby) -> None:
    """Keep ``nearby`` by plot digest in ``folder`` (a run folder's ``reuse/``)."""
    folder.mkdir(exist_ok=True)
    distances = nearby.distances.set_axis(pd.Index(nearby.digests, name="digest"))
    distances = distances[~distances.index.duplicated()]
    at = distances.index.get_indexer(nearby.digests)  # a plot's row in the kept distances
    pairs = nearby.pairs.assign(at=at[nearby.pairs["plot"].to_numpy()].astype("int32"))
    pairs = pairs.astype({"service": "int32", "type": "category"})
    pairs[["at", "service", "type", "distance_m"]].to_parquet(folder / PAIRS, index=False)
    distances.to_parquet(folder / DISTANCES)
    (folder / META).write_text(json.dumps({"key": nearby.key}), encoding="utf-8")


def read(folder: Path) -> KeptNearby | None:
    """What ``write`` kept in ``folder``, or None (nothing kept, or unreadable: logged)."""
    if not (folder / META).is_file():
        return None
    try:
        key = json.loads((folder / META).read_text(encoding="utf-8"))["key"]
        pairs = pd.read_parquet(folder / PAIRS)
        distances = pd.read_parquet(folder / DISTANCES)
    except Exception as exc:  # a damaged cache costs speed, never the run
        log.warning("re-run: kept reach pairs in %s unreadable (%s); computing them", folder, exc)
        return None
    pairs = pairs.astype({"at": "int64", "service": "int64", "type": object})
    distances.index = distances.index.astype(object)
    return KeptNearby(key=str(key), pairs=pairs, distances=distances)
