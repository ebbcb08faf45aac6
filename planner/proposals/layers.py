"""Proposals as a `plots` layer: for scenarios (``plots: "db:accepted"``) and exports.

A proposal becomes a contract-valid plot with ``plot_id = "PROP-<id>"`` and ``proposer`` = its
organisation, so a run's allocation can be summed per corporation.

Which database: ``FLEXPLAN_DATABASE_URL``, else ``DATA/flexplan.db`` with DATA from
``FLEXPLAN_DATA`` (default ``results``, as for ``flexplan serve --data``); see
`planner.proposals.db`.

A run does not read the database directly: it first writes a **snapshot** GeoPackage,
``DATA/snapshots/plots-accepted-<sha256 of the content, 12 hex>.gpkg`` (written once, then
reused while the accepted set is unchanged), and the scenario points at that file. So the run's
``scenario.resolved.yaml`` and manifest name and checksum exactly the plots that were used, and
the run can be repeated and checked after the proposals have changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import shapely

from planner.errors import LayerError
from planner.proposals.models import STATUSES, Proposal

if TYPE_CHECKING:
    import geopandas as gpd
    from sqlalchemy.orm import Session

    from planner.scenario import Scenario

DB_PREFIX = "db:"
SNAPSHOT_DIR = "snapshots"


def is_database_ref(path: object) -> bool:
    """True for a layer path such as ``db:accepted``."""
    return str(path).startswith(DB_PREFIX)


def _status_of(ref: str) -> str:
    status = ref.removeprefix(DB_PREFIX).strip()
    if status not in STATUSES:
        raise LayerError(
            f"layer '{ref}': unknown proposal status '{status}'; use db:accepted "
            f"(or db:{', db:'.join(s for s in STATUSES if s != 'accepted')} to try others)"
        )
    return status


def proposals_frame(session: Session, status: str = "accepted") -> gpd.GeoDataFrame:
    """Proposals of one status as plots rows (not yet checked against the contract)."""
    import geopandas as gpd
    from sqlalchemy import select

    query = select(Proposal).where(Proposal.status == status).order_by(Proposal.id)
    rows = [
        {
            "plot_id": p.plot_id,
            "name": p.name,
            "proposer": p.org,
            "capacity": float(p.capacity),
            "fixed_cost": p.fixed_cost,
            "cost_per_home": p.cost_per_home,
            "available_from": p.available_from,
            "available_until": p.available_until,
            "proposal_id": p.id,
            "status": p.status,
            "geometry": p.geom,
        }
        for p in session.scalars(query)
    ]
    columns = [
        "plot_id",
        "name",
        "proposer",
        "capacity",
        "fixed_cost",
        "cost_per_home",
        "available_from",
        "available_until",
        "proposal_id",
        "status",
        "geometry",
    ]
    frame = gpd.GeoDataFrame(rows, columns=columns, geometry="geometry", crs="EPSG:28992")
    for name in ("fixed_cost", "cost_per_home", "available_from", "available_until"):
        frame[name] = frame[name].astype(float)
    return frame


def load_proposals_layer(
    status: str = "accepted", *, data: str | Path | None = None, url: str | None = None
) -> gpd.GeoDataFrame:
    """The proposals of ``status`` as a contract-checked plots layer (EPSG:28992)."""
    from geodata.contract import validate_layer
    from planner.proposals.db import open_store, safe_url

    with open_store(data, url) as store, store.session(write=False) as session:
        frame = proposals_frame(session, status)
        source = f"database {safe_url(store.url)} ({status} proposals)"
    if frame.empty:
        raise LayerError(
            f"{source}: there are no {status} proposals; planners accept proposed plots first"
        )
    return validate_layer("plots", frame, source=source)


def load_database_layer(kind: str, ref: str) -> gpd.GeoDataFrame:
    """What `planner.pipeline.load_layers` calls for a ``db:`` layer."""
    if kind != "plots":
        raise LayerError(f"layer {kind}: '{ref}': only plots can come from the database")
    return load_proposals_layer(_status_of(ref))


def _digest(frame: gpd.GeoDataFrame) -> str:
    """A checksum of the layer's content (not of the GeoPackage bytes, which hold timestamps)."""
    digest = hashlib.sha256()
    for record in frame.drop(columns="geometry").to_dict(orient="records"):
        digest.update(json.dumps(record, sort_keys=True, default=str).encode("utf-8"))
    for geom in frame.geometry:
        digest.update(shapely.to_wkb(geom))
    return digest.hexdigest()[:12]


def write_gpkg(frame: gpd.GeoDataFrame, path: Path) -> None:
    """Write layer ``plots`` to ``path`` all at once: temp file, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex}.tmp.gpkg")
    try:
        frame.to_file(tmp, layer="plots", driver="GPKG")
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def snapshot_layer(
    status: str = "accepted", *, data: str | Path | None = None, url: str | None = None
) -> Path:
    """The snapshot GeoPackage of the proposals of ``status`` (written when new)."""
    from planner.proposals.db import data_dir

    frame = load_proposals_layer(status, data=data, url=url)
    path = (data_dir(data) / SNAPSHOT_DIR / f"plots-{status}-{_digest(frame)}.gpkg").resolve()
    if not path.is_file():
        write_gpkg(frame, path)
    return path


def snapshot_database_layers(scenario: Scenario) -> Scenario:
    """A copy of the scenario whose ``db:`` layers point at snapshot files."""
    from planner.scenario import LAYER_KINDS, LayerRef

    updates: dict[str, Any] = {}
    for kind in LAYER_KINDS:
        ref = getattr(scenario.layers, kind)
        if ref is None or not is_database_ref(ref.path):
            continue
        if kind != "plots":
            raise LayerError(f"layer {kind}: '{ref.path}': only plots can come from the database")
        updates[kind] = LayerRef(path=snapshot_layer(_status_of(str(ref.path))), layer="plots")
    if not updates:
        return scenario
    layers = scenario.layers.model_copy(update=updates)
    return scenario.model_copy(update={"layers": layers})


def export_layer(
    out: Path,
    status: str = "accepted",
    *,
    data: str | Path | None = None,
    url: str | None = None,
) -> int:
    """Write the proposals of ``status`` as a plots GeoPackage; returns the number of plots."""
    frame = load_proposals_layer(status, data=data, url=url)
    write_gpkg(frame, Path(out))
    return len(frame)
