"""Per-plot geometry work a re-run can take from the earlier run: reach pairs and nearest distances.

The services a plot reaches (planner.reach) and the distance to the nearest feature of each type
(planner.scoring) depend on the plot's own polygon and on things that are the same for every
plot: the service and amenity points and types, the catchments and the reach radii. So a run
keeps them per plot *geometry* (a digest of its WKB), in parts, each under a key of what else it
depends on (``context_keys``): the distances, and the pairs of each service type. A re-run
takes a part whose key is unchanged for every plot whose polygon it has seen, and computes the
rest: the plots added or redrawn, and every plot for a part that changed (one type's reach).
The rows are the very ones a full computation gives: each is computed from its own plot alone,
and ``reach_pairs``'s sort order is total.

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

from planner.reach import reach_pairs
from planner.scoring import nearest_distances

log = logging.getLogger(__name__)

PAIRS = "nearby_pairs.parquet"
DISTANCES = "nearby_distances.parquet"
META = "nearby.json"


@dataclass
class Nearby:
    """Reach pairs (every plot, eligible or not) and nearest distances of one instance, with the
    plots' geometry digests and the keys of everything else they depend on."""

    keys: dict[str, str]
    digests: np.ndarray
    pairs: pd.DataFrame
    distances: pd.DataFrame


@dataclass
class KeptNearby:
    """What an earlier run kept, by plot geometry: ``distances`` has one row per digest (index),
    ``pairs`` the rows of those digests (column ``at``, the digest's row in ``distances``,
    instead of ``plot``)."""

    keys: dict[str, str]
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


def context_keys(
    service_types: np.ndarray,
    service_geoms: np.ndarray,
    features_by_type: dict[str, np.ndarray],
    catchments: dict[int, object],
    reach_m: dict[str, float],
) -> dict[str, str]:
    """Everything but the plot's own polygon that its rows depend on, per part: ``distances``
    (every feature by type) and ``pairs:<type>`` (that type's services, their catchments and
    radius), so a change to one type's reach recomputes that type only."""
    keys = {"distances": _digest(features_by_type, {})}
    for kind, radius in sorted(reach_m.items()):
        of_type = np.flatnonzero(service_types == kind)
        areas = np.array([j for j in of_type.tolist() if j in catchments], dtype=np.int64)
        keys[f"pairs:{kind}"] = _digest(
            {
                "services": service_geoms[of_type],
                "areas": np.array([catchments[j] for j in areas], dtype=object),
            },
            {"radius": np.array([radius], dtype=float), "index": of_type, "area_index": areas},
        )
    return keys


def _digest(geometries: dict[str, np.ndarray], numbers: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256(_code().encode())
    for name in sorted(geometries):
        digest.update(f"\x1e{name}".encode())
        _geometry_digest(digest, geometries[name])
    for name in sorted(numbers):
        digest.update(f"\x1d{name}".encode())
        digest.update(np.ascontiguousarray(numbers[name], dtype="<f8").tobytes())
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
    """Reach pairs and nearest distances of every plot, taking from ``kept`` each part whose key
    is unchanged for the plots it has seen."""
    keys = context_keys(service_types, service_geoms, features_by_type, catchments, reach_m)
    plot_digests = digests(plot_geoms)
    at = (
        kept.distances.index.get_indexer(plot_digests)
        if kept is not None
        else np.full(len(plot_digests), -1)
    )
    old_keys = kept.keys if kept is not None else {}
    parts = []
    for kind in sorted(reach_m):
        use = at if old_keys.get(f"pairs:{kind}") == keys[f"pairs:{kind}"] else np.full_like(at, -1)
        todo = np.flatnonzero(use < 0)
        fresh = reach_pairs(
            plot_geoms[todo],
            plot_points[todo],
            service_types,
            service_geoms,
            catchments,
            {kind: reach_m[kind]},
        )
        if kept is not None:
            parts.append(_kept_rows(kept, kind, use))
        parts.append(
            (
                todo[fresh["plot"].to_numpy()],
                fresh["service"].to_numpy(),
                fresh["distance_m"].to_numpy(),
                np.full(len(fresh), kind, dtype=object),
            )
        )
    pairs = _by_plot(parts)
    use = at if old_keys.get("distances") == keys["distances"] else np.full_like(at, -1)
    todo = np.flatnonzero(use < 0)
    distances = nearest_distances(plot_geoms[todo], features_by_type)
    distances.index = pd.Index(todo)
    if kept is not None:
        distances = _merged_distances(kept, use, distances)
        reused = sum(old_keys.get(k) == v for k, v in keys.items())
        log.info(
            "re-run: %d of %d plots seen before; %d of %d parts (distances, pairs per type) kept",
            int((at >= 0).sum()),
            len(at),
            reused,
            len(keys),
        )
    return Nearby(keys=keys, digests=plot_digests, pairs=pairs, distances=distances)


def _by_plot(parts: list[tuple[np.ndarray, ...]]) -> pd.DataFrame:
    """The pairs as ``reach_pairs`` orders them (plot, type, distance, service) from parts of
    (plot, service, distance, type) arrays: the parts come type by type in sorted order, each
    in that order for its plots, and a plot is in one part per type, so a stable sort by plot
    is enough."""
    plot, service, distance, kind = (
        np.concatenate([part[i] for part in parts]) if parts else np.zeros(0) for i in range(4)
    )
    order = np.argsort(plot, kind="stable")
    return pd.DataFrame(
        {
            "plot": plot[order].astype("int64"),
            "service": service[order].astype("int64"),
            "type": kind[order].astype(object),
            "distance_m": distance[order].astype("float64"),
        }
    )


def _kept_rows(kept: KeptNearby, kind: str, at: np.ndarray) -> tuple[np.ndarray, ...]:
    """Kept rows of type ``kind`` for the plots with ``at`` >= 0 (their row in the kept
    distances), as (plot, service, distance, type) arrays in plot order."""
    types = kept.pairs["type"]
    code = types.cat.categories.get_loc(kind) if kind in types.cat.categories else -1
    rows = kept.pairs[types.cat.codes.to_numpy() == code]
    group = rows["at"].to_numpy()
    order = np.argsort(group, kind="stable")
    counts = np.bincount(group, minlength=len(kept.distances))
    starts = np.cumsum(counts) - counts
    plots = np.flatnonzero(at >= 0)
    n = counts[at[plots]]
    offsets = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    take = order[np.repeat(starts[at[plots]], n) + offsets]
    return (
        np.repeat(plots, n),
        rows["service"].to_numpy()[take],
        rows["distance_m"].to_numpy()[take],
        np.full(len(take), kind, dtype=object),
    )


def _merged_distances(kept: KeptNearby, at: np.ndarray, fresh: pd.DataFrame) -> pd.DataFrame:
    """Kept distance rows for the plots with ``at`` >= 0, fresh ones for the others, by plot."""
    known = np.flatnonzero(at >= 0)
    old = kept.distances.iloc[at[known]]
    old.index = pd.Index(known)
    distances = pd.concat([old, fresh]) if len(fresh) else old
    distances = distances.sort_index()
    distances.index = pd.RangeIndex(len(at))
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
    (folder / META).write_text(json.dumps({"keys": nearby.keys}), encoding="utf-8")


def read(folder: Path) -> KeptNearby | None:
    """What ``write`` kept in ``folder``, or None (nothing kept, or unreadable: logged)."""
    if not (folder / META).is_file():
        return None
    try:
        keys = json.loads((folder / META).read_text(encoding="utf-8"))["keys"]
        pairs = pd.read_parquet(folder / PAIRS)
        distances = pd.read_parquet(folder / DISTANCES)
    except Exception as exc:  # a damaged cache costs speed, never the run
        log.warning("re-run: kept reach pairs in %s unreadable (%s); computing them", folder, exc)
        return None
    pairs = pairs.astype({"at": "int64", "service": "int64", "type": "category"})
    distances.index = distances.index.astype(object)
    at = pairs["at"].to_numpy()
    if len(at) and not (at.min() >= 0 and at.max() < len(distances)):
        log.warning(
            "re-run: kept reach pairs in %s do not match their plots; computing them", folder
        )
        return None
    return KeptNearby(
        keys={str(k): str(v) for k, v in keys.items()}, pairs=pairs, distances=distances
    )
