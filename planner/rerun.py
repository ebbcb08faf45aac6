"""What a run folder keeps so that a re-run after a small change is quick (``--hint-from``).

``reuse/`` in the run folder holds, beside the allocation a re-run starts from
(allocation.gpkg):

- ``layers.json`` and ``<kind>.parquet``: each input layer as validated (GeoParquet), under a
  key made of the file's sha256, the layer and CRS asked for and the data contract's own code.
  A re-run whose input has the same key reads it from here instead of reading and checking the
  file again; a changed file (another sha256) is read and checked as always.
- ``pricing.parquet`` and ``pricing.json``: the final pricing LP's nonzero column values and
  the unused plots it let take support homes. With its row prices (in ``prices.parquet``) a
  re-run checks whether that solution is still optimal for its own pricing LP (the KKT
  conditions, planner.model.certificate.still_optimal) and then solves no LP for the reasons.
- ``nearby.json``, ``nearby_pairs.parquet`` and ``nearby_distances.parquet``: the reach pairs
  and nearest distances per plot geometry (planner.nearby); a re-run computes them only for
  plots whose polygon is new, as long as services, amenities and reach are the same.
- ``report_<layer>.arrow``: the report's display geometry (GeoJSON text and box) of each
  feature it drew, by the feature's WKB, under a key of the report code, CRS and geometry
  libraries (planner.report.Display); a re-run's report computes only the features it has not
  drawn before.
- ``gpkg.json`` and ``gpkg_<layer>.arrow``: a digest of each layer of allocation.gpkg but for
  its outcome columns, those columns as written, a key of the code and GDAL that wrote the file,
  and its size and modification time (planner.geopackage); a re-run whose layers are the same
  starts from a copy of that file and sets only the outcome cells that changed.
- ``prices.parquet``: LP prices per named model row (``source`` the LP they come from: the
  polish's guiding LP, planner.model.polish, and the pricing LP, planner.why_unused). Any
  prices bound any later version of the model (planner.model.certificate), so a re-run whose
  earlier allocation is still within the gap of the tighter bound needs no solver at all.

Everything in it is derived from the run's own inputs and can be deleted; a run folder without
it still serves as a hint (the solver then proves the gap itself).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)

FOLDER = "reuse"
PRICES = "prices.parquet"
LAYERS = "layers.json"
PRICING = "pricing.parquet"
PRICING_META = "pricing.json"


def sha256_file(path: Path) -> str:
    """The file's sha256, computed once per version of the file (path, modification time and
    size): the layer keys here and the run's manifest both need it."""
    stat = Path(path).stat()
    return _sha256(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _sha256(path: str, _mtime_ns: int, _size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@functools.cache
def _contract_code() -> str:
    """The data contract's and readers' source: a cached layer is only as valid as they are."""
    import geodata.contract
    import geodata.readers

    digest = hashlib.sha256()
    for module in (geodata.contract, geodata.readers):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:16]


def layer_key(path: Path, layer: str | None, crs: str | None) -> str:
    """What a validated layer depends on: the file's bytes, the layer and CRS asked for, and the
    contract's code."""
    return f"{sha256_file(path)}|{layer or ''}|{crs or ''}|{_contract_code()}"


@dataclass
class KeptLayer:
    """A validated layer under its key; ``source`` the earlier run's copy it was read from (a
    later run copies that file rather than writing the frame again)."""

    key: str
    frame: Any
    source: Path | None = None


def cached_layer(run_dir: Path | None, kind: str, key: str) -> KeptLayer | None:
    """The validated layer an earlier run folder kept under ``key``, or None."""
    if run_dir is None:
        return None
    folder = Path(run_dir) / FOLDER
    try:
        kept = json.loads((folder / LAYERS).read_text(encoding="utf-8")).get(kind) or {}
        if kept.get("key") != key:
            return None
        path = folder / f"{kind}.parquet"
        return KeptLayer(key, _read_frame(path, kept["dtypes"]), path)
    except FileNotFoundError:
        return None
    except Exception as exc:  # a damaged cache costs speed, never the run
        log.warning(
            "re-run: cached %s layer in %s unreadable (%s); reading the file", kind, run_dir, exc
        )
        return None


def _read_frame(path: Path, dtypes: dict[str, str]) -> Any:
    """A kept layer as it was validated: Parquet reads text back as ``str`` columns, the
    contract leaves them ``object`` (missing = None); validated layers are in EPSG:28992."""
    import geopandas as gpd
    import pyarrow.parquet as pq

    if b"geo" in (pq.read_schema(path).metadata or {}):
        frame = gpd.read_parquet(path).set_crs("EPSG:28992", allow_override=True)
    else:
        frame = pd.read_parquet(path)
    for column, dtype in dtypes.items():
        if dtype == "object" and str(frame[column].dtype) != "object":
            text = frame[column].astype(object)
            frame[column] = text.where(frame[column].notna(), None)
    if list(frame.columns) != list(dtypes):
        raise ValueError(f"columns {list(frame.columns)} are not the kept {list(dtypes)}")
    return frame


def write_layers(folder: Path, layers: dict[str, KeptLayer]) -> None:
    """Keep each validated layer in ``folder/reuse`` (a copy of the file it came from, if any)."""
    if not layers:
        return
    target = Path(folder) / FOLDER
    target.mkdir(exist_ok=True)
    for kind, layer in layers.items():
        path = target / f"{kind}.parquet"
        if layer.source is not None and layer.source.is_file():
            _link_or_copy(layer.source, path)
        else:
            layer.frame.to_parquet(path, index=False)
    kept = {
        kind: {"key": layer.key, "dtypes": {str(c): str(t) for c, t in layer.frame.dtypes.items()}}
        for kind, layer in layers.items()
    }
    (target / LAYERS).write_text(json.dumps(kept, indent=1), encoding="utf-8")


def _link_or_copy(source: Path, path: Path) -> None:
    """``path`` as a hard link to ``source`` (no bytes written or flushed again; run folders
    never change a file once written, they are replaced whole), else a copy: another file
    system, or one without links."""
    try:
        os.link(source, path)
    except OSError:
        shutil.copyfile(source, path)


def write_prices(folder: Path, prices: dict[str, dict[str, float] | None]) -> None:
    """Write the row prices (source -> row -> price) into ``folder/reuse`` (nothing when there
    are none)."""
    sets = {source: rows for source, rows in prices.items() if rows}
    if not sets:
        return
    target = Path(folder) / FOLDER
    target.mkdir(exist_ok=True)
    table = pd.DataFrame(
        {
            "source": [source for source, rows in sets.items() for _ in rows],
            "row": [row for rows in sets.values() for row in rows],
            "price": [price for rows in sets.values() for price in rows.values()],
        }
    )
    table.to_parquet(target / PRICES, index=False)


def write_pricing(folder: Path, pricing: Any | None) -> None:
    """Keep the final pricing LP's column values and support plots (its row prices go with
    ``write_prices``)."""
    if pricing is None:
        return
    target = Path(folder) / FOLDER
    target.mkdir(exist_ok=True)
    table = pd.DataFrame({"column": list(pricing.values), "value": list(pricing.values.values())})
    table.to_parquet(target / PRICING, index=False)
    meta = {"support_on": pricing.support_on}
    (target / PRICING_META).write_text(json.dumps(meta), encoding="utf-8")


@dataclass
class Earlier:
    """What an earlier run folder kept for this re-run: its sets of row prices (one per LP)
    and its final pricing LP (planner.why_unused.Pricing); None where it kept none."""

    prices: list[dict[str, float]] | None = None
    pricing: Any | None = None
    nearby: Any | None = None
    display: Any | None = None
    gpkg: Any | None = None


def read_earlier(run_dir: Path) -> Earlier:
    """The prices, pricing LP, reach pairs, report display geometry and GeoPackage digests
    ``run_dir/reuse`` holds (logged when it holds none)."""
    from planner import nearby
    from planner.geopackage import read_kept
    from planner.report import read_display

    folder = Path(run_dir) / FOLDER
    earlier = _read_prices(run_dir, folder)
    earlier.nearby = nearby.read(folder)
    earlier.display = read_display(folder)
    earlier.gpkg = read_kept(folder, Path(run_dir) / "allocation.gpkg")
    return earlier


def _read_prices(run_dir: Path, folder: Path) -> Earlier:
    from planner.why_unused import Pricing

    if not (folder / PRICES).is_file():
        log.info("re-run: %s keeps no LP prices; the solver proves the gap", run_dir)
        return Earlier()
    try:
        table = _complete(pd.read_parquet(folder / PRICES, columns=["source", "row", "price"]))
    except Exception as exc:  # a damaged cache costs speed, never the run
        log.warning("re-run: %s unreadable (%s); the solver proves the gap", folder / PRICES, exc)
        return Earlier()
    sets = {
        str(source): dict(zip(group["row"].astype(str), group["price"].astype(float), strict=True))
        for source, group in table.groupby("source", sort=True)
    }
    earlier = Earlier(prices=list(sets.values()))
    if not (folder / PRICING).is_file():
        return earlier
    try:
        values = _complete(pd.read_parquet(folder / PRICING, columns=["column", "value"]))
        support_on = json.loads((folder / PRICING_META).read_text(encoding="utf-8"))["support_on"]
    except Exception as exc:  # a damaged cache costs speed, never the run
        log.warning("re-run: the kept pricing LP in %s is unreadable (%s)", run_dir, exc)
        return earlier
    earlier.pricing = Pricing(
        rows=sets.get("pricing", {}),
        values=dict(zip(values["column"].astype(str), values["value"].astype(float), strict=True)),
        support_on=None if support_on is None else [str(pid) for pid in support_on],
    )
    return earlier


def _complete(table: pd.DataFrame) -> pd.DataFrame:
    """``table``, refused (ValueError) where a value is missing: a price of NaN is no price."""
    if table.isna().any().any():
        raise ValueError("missing values")
    return table


@dataclass
class Kept:
    """What a run keeps in ``reuse/`` for a later re-run: row prices by source, validated
    layers by kind, the final pricing LP, the reach pairs and distances (planner.nearby) and
    the report's display geometry (planner.report.Display, filled as the report is drawn).
    ``gpkg`` is the earlier run's GeoPackage a re-run starts from (planner.geopackage), if any:
    the digests of this run's are kept by the writer (planner.export.write_run)."""

    prices: dict[str, dict[str, float] | None]
    layers: dict[str, KeptLayer]
    pricing: Any | None
    nearby: Any | None = None
    display: Any | None = None
    gpkg: Any | None = None

    def write(self, folder: Path) -> None:
        from planner import nearby

        write_prices(folder, self.prices)
        write_layers(folder, self.layers)
        write_pricing(folder, self.pricing)
        if self.nearby is not None:
            nearby.write(Path(folder) / FOLDER, self.nearby)
        if self.display is not None:
            self.display.write(Path(folder) / FOLDER)
