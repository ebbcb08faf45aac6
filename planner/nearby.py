"""Per-plot geometry work a re-run can take from the earlier run: reach pairs and nearest distances.

The services a plot reaches (planner.reach) and the distance to the nearest feature of each type
(planner.scoring) depend on the plot's own polygon and on things that are the same for every
plot: the service and amenity points and types, the catchments and the reach radii. So a run
keeps them per plot *geometry* (a digest of its WKB), in parts, each under a key of what else it
depends on (``context_keys``): the distances, and the pairs of each service type. A re-run
takes a part whose key is unchanged for every plot whose polygon it has seen, and computes the
rest: the plots added or redrawn, and every plot for a part that changed. A type's reach made
shorter is no such change: its pairs within the new radius are the kept ones that are within it
(``_Blocks.take_kept_within``). The rows are the very ones a full computation gives: each is
computed from its own plot alone, and ``reach_pairs``'s sort order is total.

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

from planner.arrays import spans
from planner.reach import type_pairs
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
    kinds: list[str] | None = None
    codes: np.ndarray | None = None  # each pair's type as its position in ``kinds``
    radii: dict[str, float] | None = None  # the reach radius of each type's pairs


@dataclass
class KeptNearby:
    """What an earlier run kept, by plot geometry: ``distances`` has one row per digest (index),
    ``pairs`` the rows of those digests (column ``at``, the digest's row in ``distances``,
    instead of ``plot``), sorted by ``at`` and type as ``reach_pairs`` sorts by plot and type
    (``read`` checks it); ``type`` a categorical with sorted categories."""

    keys: dict[str, str]
    pairs: pd.DataFrame
    distances: pd.DataFrame
    radii: dict[str, float] | None = None


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
    """Digest the geometries as exactly as their WKB. Points (services, most amenities) by
    their kinds, dimensions, emptiness and coordinates, without a bytes object per point
    (20,000 service points: 1.1 ms against 4.5 ms); anything else by its WKB."""
    geoms = np.asarray(geoms, dtype=object)
    digest.update(f"\x1f{len(geoms)}".encode())
    kinds, has_z = shapely.get_type_id(geoms), shapely.has_z(geoms)
    if len(geoms) and not kinds.any():  # all points
        for flags in (kinds, has_z, shapely.is_empty(geoms)):
            digest.update(np.ascontiguousarray(flags, dtype="<i1").tobytes())
        coords = shapely.get_coordinates(geoms, include_z=bool(has_z.any()))
        digest.update(f"\x1fpoints,{coords.shape[1]}".encode())
        digest.update(np.ascontiguousarray(coords, dtype="<f8").tobytes())
        return
    blobs = [blob or b"" for blob in shapely.to_wkb(geoms, byte_order=1).tolist()]
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
    (every feature by type) and ``pairs:<type>`` (that type's services and their catchments;
    its radius is kept beside it, ``Nearby.radii``), so a change to one type's services or a
    longer reach recomputes that type only."""
    keys = {"distances": _digest(features_by_type, {})}
    for kind in sorted(reach_m):
        of_type = np.flatnonzero(service_types == kind)
        areas = np.array([j for j in of_type.tolist() if j in catchments], dtype=np.int64)
        keys[f"pairs:{kind}"] = _digest(
            {
                "services": service_geoms[of_type],
                "areas": np.array([catchments[j] for j in areas], dtype=object),
            },
            {"index": of_type, "area_index": areas},
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
    old_radii = (kept.radii or {}) if kept is not None else {}
    kinds = sorted(reach_m)
    blocks = _Blocks(len(at), kinds, kept)
    by_area = np.zeros(len(service_types), dtype=bool)  # in reach by catchment, at any distance
    by_area[list(catchments)] = True
    reused = []
    for k, kind in enumerate(kinds):
        radius, was = float(reach_m[kind]), old_radii.get(kind)
        same = old_keys.get(f"pairs:{kind}") == keys[f"pairs:{kind}"] and was is not None
        use = at if same and radius <= was else np.full_like(at, -1)
        if radius == was:
            blocks.take_kept(k, use)
        elif (use >= 0).any():
            blocks.take_kept_within(k, use, radius, by_area, plot_geoms, service_geoms)
        reused.append(same and radius <= was)
        todo = np.flatnonzero(use < 0)
        fresh = type_pairs(
            plot_geoms[todo],
            plot_points[todo],
            service_types,
            service_geoms,
            catchments,
            kind,
            radius,
        )
        blocks.add_fresh(k, todo, *fresh)
    pairs, codes = blocks.pairs()
    use = at if old_keys.get("distances") == keys["distances"] else np.full_like(at, -1)
    todo = np.flatnonzero(use < 0)
    distances = nearest_distances(plot_geoms[todo], features_by_type)
    distances.index = pd.Index(todo)
    if kept is not None:
        distances = _merged_distances(kept, use, distances)
        reused.append(old_keys.get("distances") == keys["distances"])
        log.info(
            "re-run: %d of %d plots seen before; %d of %d parts (distances, pairs per type) kept",
            int((at >= 0).sum()),
            len(at),
            sum(reused),
            len(keys),
        )
    return Nearby(
        keys=keys,
        digests=plot_digests,
        pairs=pairs,
        distances=distances,
        kinds=kinds,
        codes=codes,
        radii={kind: float(reach_m[kind]) for kind in kinds},
    )


def _within(
    plots: np.ndarray, points: np.ndarray, distance: np.ndarray, radius: float
) -> np.ndarray:
    """Which kept pairs (plot, service point, their distance) are within ``radius`` as the
    tree's ``dwithin`` query decides it (``reach``): by the distance where it is clearly in or
    out, by that very predicate within a hair of the radius, where two of GEOS's ways to
    measure may differ in the last bits."""
    margin = 1e-9 * max(radius, 1.0)
    inside = distance <= radius - margin
    close = np.flatnonzero(~inside & (distance <= radius + margin))
    if len(close):
        shapely.prepare(plots[close])  # the query tests prepared plots
        inside[close] = shapely.dwithin(plots[close], points[close], radius)
    return inside


class _Blocks:
    """The pairs of each (plot, type) as a block of rows in a pool: the kept pairs first, then
    the fresh ones type by type. ``pairs`` lays the blocks out plot by plot and type by type in
    sorted order, which is ``reach_pairs``'s order (each block is sorted by distance and
    service already), with one gather per column: at 5,000 plots with one added, 4 ms where
    filtering the kept rows per type and sorting them all by plot took 22 ms."""

    def __init__(self, plots: int, kinds: list[str], kept: KeptNearby | None) -> None:
        self.kinds = kinds
        self.starts = np.zeros((plots, len(kinds)), dtype=np.int64)
        self.counts = np.zeros((plots, len(kinds)), dtype=np.int64)
        self.services: list[np.ndarray] = []
        self.distances: list[np.ndarray] = []
        self.pooled = 0
        self.kept_starts = self.kept_counts = np.zeros((0, len(kinds)), dtype=np.int64)
        if kept is not None:
            self._pool_kept(kept)

    def _pool_kept(self, kept: KeptNearby) -> None:
        """Where the kept rows of each (digest, type) start and how many there are: ``read``
        made sure they come sorted by digest row and type."""
        types = kept.pairs["type"].cat
        width = max(len(types.categories), 1)
        group = kept.pairs["at"].to_numpy() * width + types.codes.to_numpy()
        counts = np.bincount(group, minlength=len(kept.distances) * width)
        counts = counts.reshape(len(kept.distances), width)
        starts = (np.cumsum(counts) - counts.ravel()).reshape(counts.shape)
        column = types.categories.get_indexer(self.kinds)
        self.kept_starts = np.where(column >= 0, starts[:, column], 0)
        self.kept_counts = np.where(column >= 0, counts[:, column], 0)
        self.services.append(kept.pairs["service"].to_numpy())
        self.distances.append(kept.pairs["distance_m"].to_numpy())
        self.pooled = len(group)

    def take_kept(self, k: int, at: np.ndarray) -> None:
        """The kept rows of type ``k`` for the plots with ``at`` >= 0 (their kept digest row)."""
        known = np.flatnonzero(at >= 0)
        self.starts[known, k] = self.kept_starts[at[known], k]
        self.counts[known, k] = self.kept_counts[at[known], k]

    def take_kept_within(
        self,
        k: int,
        at: np.ndarray,
        radius: float,
        by_area: np.ndarray,
        plot_geoms: np.ndarray,
        service_geoms: np.ndarray,
    ) -> None:
        """The kept rows of type ``k`` for the plots with ``at`` >= 0 that are in reach at a
        ``radius`` shorter than theirs: those within it (``_within``) and those in reach by
        catchment (``by_area``, by service). A block keeps its order (by distance, service)."""
        known = np.flatnonzero(at >= 0)
        counts = self.kept_counts[at[known], k]
        rows = spans(self.kept_starts[at[known], k], counts)
        owner = np.repeat(np.arange(len(known)), counts)  # each row's plot, in ``known``
        service, distance = self.services[0][rows], self.distances[0][rows]
        points = service_geoms[service]
        keep = _within(plot_geoms[known[owner]], points, distance, radius) | by_area[service]
        self.add_fresh(k, known, owner[keep], service[keep], distance[keep])

    def add_fresh(
        self, k: int, todo: np.ndarray, plot: np.ndarray, service: np.ndarray, distance: np.ndarray
    ) -> None:
        """New rows of type ``k`` for the plots ``todo`` (``plot`` indexes ``todo``, sorted)."""
        counts = np.bincount(plot, minlength=len(todo))
        self.starts[todo, k] = self.pooled + np.cumsum(counts) - counts
        self.counts[todo, k] = counts
        self.services.append(service)
        self.distances.append(distance)
        self.pooled += len(service)

    def pairs(self) -> tuple[pd.DataFrame, np.ndarray]:
        """The pairs DataFrame (plot, service, type, distance_m: int64, int64, str, float64) and
        each row's type code (its position in ``kinds``)."""
        counts = self.counts.ravel()
        rows = spans(self.starts.ravel(), counts)
        service, distance = (
            np.concatenate(pool).astype(dtype, copy=False)[rows]
            if pool
            else np.zeros(0, dtype=dtype)
            for pool, dtype in ((self.services, np.int64), (self.distances, np.float64))
        )
        plots, width = self.counts.shape
        codes = np.repeat(np.tile(np.arange(width, dtype=np.int32), plots), counts)
        plot = np.repeat(np.arange(plots, dtype=np.int64), self.counts.sum(axis=1))
        pairs = pd.DataFrame(
            {
                "plot": plot,
                "service": service,
                "type": _text(self.kinds, codes),
                "distance_m": distance,
            }
        )
        return pairs, codes


def _text(kinds: list[str], codes: np.ndarray) -> pd.Series:
    """``kinds[codes]`` as the column a DataFrame makes of the Python strings (``str``), built
    in Arrow: 1.4 ms against 7 ms for 220,000 pairs. No pairs: the DataFrame's own (object)."""
    import pyarrow as pa

    dtype = pd.StringDtype(na_value=np.nan)
    if not len(codes) or dtype.storage != "pyarrow":
        return pd.DataFrame({"type": np.array(kinds, dtype=object)[codes]})["type"]
    names = pa.array(kinds, type=pa.large_string())
    return pd.Series(pd.array(names.take(pa.array(codes)), dtype=dtype))


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
    """Keep ``nearby`` by plot digest in ``folder`` (a run folder's ``reuse/``): the pairs of
    the first plot of each digest only (a second plot on the same polygon has the same rows), in
    ``reach_pairs``'s order, so a digest's rows of one type are one block of rows. Written with
    pyarrow from the type codes (dictionary-encoding the type only, no column statistics): for
    the 220,000 pairs of 5,000 plots about 10 ms against 22 ms through pandas."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(exist_ok=True)
    distances = nearby.distances.set_axis(pd.Index(nearby.digests, name="digest"))
    first = ~distances.index.duplicated()
    distances = distances[first]
    at = distances.index.get_indexer(nearby.digests)  # a plot's row in the kept distances
    plot = nearby.pairs["plot"].to_numpy()
    if nearby.codes is not None and nearby.kinds is not None:
        codes, kinds = nearby.codes, list(nearby.kinds)
    else:
        codes, names = pd.factorize(nearby.pairs["type"], sort=True)
        kinds = [str(kind) for kind in names]
    rows = first[plot]
    table = pa.table(
        {
            "at": pa.array(at[plot[rows]].astype(np.int32)),
            "service": pa.array(nearby.pairs["service"].to_numpy()[rows].astype(np.int32)),
            "type": pa.DictionaryArray.from_arrays(
                pa.array(codes[rows].astype(np.int32)), pa.array(kinds, type=pa.string())
            ),
            "distance_m": pa.array(nearby.pairs["distance_m"].to_numpy(dtype=np.float64)[rows]),
        }
    )
    pq.write_table(table, folder / PAIRS, use_dictionary=["type"], write_statistics=False)
    distances = pa.Table.from_pandas(distances, preserve_index=True)
    pq.write_table(distances, folder / DISTANCES, write_statistics=False)
    meta = {"keys": nearby.keys, "radii": nearby.radii}
    (folder / META).write_text(json.dumps(meta), encoding="utf-8")


def read(folder: Path) -> KeptNearby | None:
    """What ``write`` kept in ``folder``, or None (nothing kept, or unreadable or not in
    ``write``'s order: logged)."""
    import pyarrow.parquet as pq

    if not (folder / META).is_file():
        return None
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        keys, radii = meta["keys"], meta.get("radii")
        pairs = _read_pairs(folder / PAIRS)
        distances = pq.read_table(folder / DISTANCES).to_pandas()
    except Exception as exc:  # a damaged cache costs speed, never the run
        log.warning("re-run: kept reach pairs in %s unreadable (%s); computing them", folder, exc)
        return None
    distances.index = distances.index.astype(object)
    at = pairs["at"].to_numpy()
    codes = pairs["type"].cat.codes.to_numpy()
    group = at * max(len(pairs["type"].cat.categories), 1) + codes
    if len(at) and not (
        at.min() >= 0
        and at.max() < len(distances)
        and codes.min() >= 0
        and bool(np.all(group[1:] >= group[:-1]))
    ):
        log.warning(
            "re-run: kept reach pairs in %s do not match their plots; computing them", folder
        )
        return None
    return KeptNearby(
        keys={str(k): str(v) for k, v in keys.items()},
        pairs=pairs,
        distances=distances,
        radii=None if radii is None else {str(k): float(v) for k, v in radii.items()},
    )


def _read_pairs(path: Path) -> pd.DataFrame:
    """The kept pairs (at, service: int64; type: categorical; distance_m: float64) in a frame
    of one block per column (consolidating them would copy 220,000 rows again); missing values
    make them unreadable."""
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["at", "service", "type", "distance_m"])
    table = table.unify_dictionaries()  # one dictionary for every row group
    if any(column.null_count for column in table.columns):
        raise ValueError("missing values")
    kinds = table.column("type").combine_chunks()
    return pd.DataFrame(
        {
            "at": table.column("at").to_numpy().astype(np.int64),
            "service": table.column("service").to_numpy().astype(np.int64),
            "type": pd.Categorical.from_codes(
                kinds.indices.to_numpy(zero_copy_only=False),
                categories=pd.Index(kinds.dictionary.to_pylist(), dtype=str),
            ),
            "distance_m": table.column("distance_m").to_numpy().astype(np.float64),
        },
        copy=False,
    )
