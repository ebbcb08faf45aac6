"""OR-Library capacitated facility location (Beasley's ``cap*`` files) as contract layers.

Capacitated facility location is a special case of Flexplan's model: facilities are plots with
``capacity`` and ``fixed_cost``, customers are regions with ``demand``, and the cost of serving a
customer from a facility is a travel cost per home. Converting a benchmark with a published
optimum into the regular layers lets ``flexplan run`` be checked against that optimum through the
whole pipeline (readers, contract, instance, model, check, export), not just the model.

File format (OR-Library ``capinfo``): ``m n``; m lines ``capacity fixed_cost``; then per customer
``demand`` followed by m numbers, the cost of serving ALL of the customer's demand from each
facility (these may wrap over several lines). In capa/capb/capc the capacity is the literal word
``capacity``; the caller supplies the value (Beasley's Table 1).

Mapping (demand may be split between facilities, as in the published optima):

- plots: F1..Fm, square polygons on a grid in EPSG:28992, ``capacity``, ``fixed_cost``,
  ``min_homes`` 1. An opened plot needs at least one home; opening an unused facility never pays
  (fixed costs are >= 0), so this does not change the optimum.
- regions: C1..Cn, ``demand``, square polygons on a separate grid that holds no plot's
  representative point (so no plot belongs to a region and no regional bound applies).
- travel_costs: every (customer, facility) pair, ``cost_per_home`` = cost / demand, so serving
  the whole demand costs exactly the instance's figure.
- services: one dummy service far away (the contract requires the layer); the scenario asks for
  no support homes (``min_share`` 0, ``max_share_per_plot`` 0, ``reach_m`` empty) and has no
  neighbourhood layer, so no care or buurt rule applies.

Homes are whole numbers in the model. Every instance in OR-Library has integral demands and
capacities; for files that do not, demands and capacities are multiplied by the smallest power of
ten (up to 10^6) that makes them whole, so one "home" is then 1/scale of a demand unit. Costs per
home are divided accordingly, so the objective is unchanged.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import yaml
from shapely.geometry import Point, box

from planner.errors import LayerError

log = logging.getLogger(__name__)

CRS = "EPSG:28992"
#: Plots start here (near Amersfoort), customers to the east of the plot grid.
ORIGIN_RD = (155_000.0, 463_000.0)
SQUARE_M = 100.0
SPACING_M = 200.0
#: The dummy service: far from every plot and customer, still inside the Netherlands.
DUMMY_SERVICE_RD = (20_000.0, 300_000.0)
MAX_SCALE_EXPONENT = 6
FILES = ("plots.gpkg", "regions.gpkg", "services.gpkg", "travel_costs.csv", "scenario.yaml")


@dataclass(frozen=True)
class CflpInstance:
    """One capacitated facility location instance, as read from the file.

    capacity, fixed_cost: per facility (m); demand: per customer (n); cost[j, i]: cost of
    serving all of customer j's demand from facility i.
    """

    name: str
    capacity: np.ndarray
    fixed_cost: np.ndarray
    demand: np.ndarray
    cost: np.ndarray

    @property
    def n_facilities(self) -> int:
        return len(self.capacity)

    @property
    def n_customers(self) -> int:
        return len(self.demand)


class _Tokens:
    """Whitespace-separated tokens with their line numbers, for errors that name the line."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self._items: Iterator[tuple[int, str]] = (
            (number, token)
            for number, line in enumerate(text.splitlines(), start=1)
            for token in line.split()
        )
        self.line = 0

    def error(self, message: str, line: int | None = None) -> LayerError:
        return LayerError(f"{self.path}: line {line or self.line}: {message}")

    def next(self, what: str) -> str:
        item = next(self._items, None)
        if item is None:
            raise LayerError(
                f"{self.path}: line {self.line}: the file ends where {what} was expected; "
                "the file is truncated or m/n on line 1 are wrong"
            )
        self.line, token = item
        return token

    def number(self, what: str) -> float:
        return _as_number(self, self.next(what), what)

    def count(self, what: str) -> int:
        token = self.next(what)
        if not token.isdigit() or int(token) == 0:
            raise self.error(f"{what} {token[:40]!r} is not a whole number >= 1")
        return int(token)

    def rest(self) -> tuple[int, str] | None:
        return next(self._items, None)


def _facilities(tokens: _Tokens, m: int, capacity: float | None) -> tuple[np.ndarray, np.ndarray]:
    caps, fixed = np.empty(m), np.empty(m)
    for i in range(m):
        token = tokens.next(f"the capacity of facility {i + 1}")
        if token.lower() == "capacity":
            if capacity is None:
                raise tokens.error(
                    "the capacity is the word 'capacity' (capa/capb/capc); give its value "
                    "(Beasley's Table 1, e.g. --capacity 8000 for capa)"
                )
            caps[i] = capacity
        elif capacity is not None:
            raise tokens.error(
                f"capacity {token[:40]!r} is given in the file, but a capacity was passed too; "
                "a capacity value is only for files with the word 'capacity'"
            )
        else:
            caps[i] = _as_number(tokens, token, f"the capacity of facility {i + 1}")
        fixed[i] = tokens.number(f"the fixed cost of facility {i + 1}")
    return caps, fixed


def _as_number(tokens: _Tokens, token: str, what: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise tokens.error(f"{what} {token[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise tokens.error(f"{what} {token[:40]!r} is not a finite number")
    if value < 0:
        raise tokens.error(f"{what} {token[:40]!r} is negative")
    return value


def read_orlib_cflp(path: str | Path, *, capacity: float | None = None) -> CflpInstance:
    """Read an OR-Library ``cap*`` file; ``capacity`` replaces the word 'capacity' (capa/b/c).

    Raises LayerError naming the file and the line of the first problem.
    """
    path = Path(path)
    if not path.is_file():
        raise LayerError(f"{path}: file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LayerError(f"{path}: cannot read this file: {exc}") from None
    tokens = _Tokens(path, text)
    m = tokens.count("the number of facilities m")
    n = tokens.count("the number of customers n")
    caps, fixed = _facilities(tokens, m, capacity)
    demand = np.empty(n)
    cost = np.empty((n, m))
    for j in range(n):
        demand[j] = tokens.number(f"the demand of customer {j + 1}")
        if demand[j] == 0:
            raise tokens.error(
                f"customer {j + 1} has demand 0; a cost per home cannot express the cost of "
                "serving no demand, so drop the customer"
            )
        for i in range(m):
            cost[j, i] = tokens.number(f"the cost of customer {j + 1} at facility {i + 1}")
    extra = tokens.rest()
    if extra is not None:
        raise tokens.error(
            f"unexpected {extra[1][:40]!r} after the last customer; check m and n on line 1",
            line=extra[0],
        )
    name = path.name.removesuffix(".txt")
    return CflpInstance(name=name, capacity=caps, fixed_cost=fixed, demand=demand, cost=cost)


def integral_scale(inst: CflpInstance) -> int:
    """Smallest power of ten that makes every demand and capacity a whole number of homes."""
    values = np.concatenate([inst.demand, inst.capacity])
    for exponent in range(MAX_SCALE_EXPONENT + 1):
        scaled = values * 10**exponent
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-9 * np.maximum(1.0, scaled)):
            return 10**exponent
    raise LayerError(
        f"{inst.name}: demands or capacities have more than {MAX_SCALE_EXPONENT} decimals; "
        "round them first (homes are whole numbers)"
    )


def _squares(count: int, x0: float, y0: float) -> list[Any]:
    columns = max(1, math.ceil(math.sqrt(count)))
    return [
        box(
            x0 + (k % columns) * SPACING_M,
            y0 + (k // columns) * SPACING_M,
            x0 + (k % columns) * SPACING_M + SQUARE_M,
            y0 + (k // columns) * SPACING_M + SQUARE_M,
        )
        for k in range(count)
    ]


def build_layers(inst: CflpInstance, scale: int = 1) -> dict[str, pd.DataFrame]:
    """The contract layers of an instance: plots, regions, services and travel_costs."""
    m, n = inst.n_facilities, inst.n_customers
    x0, y0 = ORIGIN_RD
    plot_columns = max(1, math.ceil(math.sqrt(m)))
    customers_x0 = x0 + plot_columns * SPACING_M + 1_000.0
    plot_ids = [f"F{i + 1}" for i in range(m)]
    region_ids = [f"C{j + 1}" for j in range(n)]
    demand = np.round(inst.demand * scale)
    plots = gpd.GeoDataFrame(
        {
            "plot_id": plot_ids,
            "capacity": np.round(inst.capacity * scale),
            "fixed_cost": inst.fixed_cost,
            "min_homes": np.ones(m),
            "name": [f"{inst.name} facility {i + 1}" for i in range(m)],
        },
        geometry=_squares(m, x0, y0),
        crs=CRS,
    )
    regions = gpd.GeoDataFrame(
        {"region_id": region_ids, "name": [f"{inst.name} customer {j + 1}" for j in range(n)]}
        | {"demand": demand},
        geometry=_squares(n, customers_x0, y0),
        crs=CRS,
    )
    services = gpd.GeoDataFrame(
        {"service_id": ["DUMMY"], "type": ["dummy"], "name": ["no care rules (OR-Library)"]},
        geometry=[Point(*DUMMY_SERVICE_RD)],
        crs=CRS,
    )
    travel = pd.DataFrame(
        {
            "region_id": np.repeat(region_ids, m),
            "plot_id": np.tile(plot_ids, n),
            "cost_per_home": (inst.cost / demand[:, None]).ravel(),
        }
    )
    return {"plots": plots, "regions": regions, "services": services, "travel_costs": travel}


def scenario_dict(inst: CflpInstance, scale: int, *, time_limit_s: float) -> dict[str, Any]:
    """A min-cost scenario that makes the model exactly the instance's facility location."""
    unit = "" if scale == 1 else f" One home is 1/{scale} of a demand unit."
    return {
        "name": f"orlib-{inst.name}",
        "description": (
            f"OR-Library capacitated facility location {inst.name} (Beasley 1988): "
            f"{inst.n_facilities} facilities, {inst.n_customers} customers.{unit}"
        ),
        "target_homes": int(np.round(inst.demand * scale).sum()),
        "layers": {
            "plots": "plots.gpkg",
            "services": "services.gpkg",
            "regions": "regions.gpkg",
            "travel_costs": "travel_costs.csv",
        },
        "defaults": {"min_homes": 1, "module_homes": 1},
        "support": {"min_share": 0.0, "max_share_per_plot": 0.0, "reach_m": {}},
        "objective": "min_cost",
        "weights": {},
        "solver": {"backend": "highs", "relative_gap": 0.0, "time_limit_s": time_limit_s},
    }


def _replace_atomically(path: Path, write: Any) -> None:
    """Write through a temporary file beside ``path``, then rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        tmp_path.unlink()
        write(tmp_path)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_instance(
    inst: CflpInstance, out_dir: str | Path, *, time_limit_s: float = 900.0
) -> list[Path]:
    """Write the four layers and scenario.yaml to ``out_dir``; returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    scale = integral_scale(inst)
    if scale != 1:
        log.warning("%s: demands and capacities scaled by %d to whole homes", inst.name, scale)
    if inst.capacity.sum() < inst.demand.sum():
        log.warning("%s: total capacity is below total demand; the run will be short", inst.name)
    layers = build_layers(inst, scale)
    for kind in ("plots", "regions", "services"):
        frame = layers[kind]
        _replace_atomically(
            out / f"{kind}.gpkg",
            lambda p, f=frame, k=kind: pyogrio.write_dataframe(f, p, layer=k, driver="GPKG"),
        )
    travel = layers["travel_costs"]
    _replace_atomically(out / "travel_costs.csv", lambda p: travel.to_csv(p, index=False))
    scenario = scenario_dict(inst, scale, time_limit_s=time_limit_s)
    text = yaml.safe_dump(scenario, sort_keys=False, allow_unicode=True)
    _replace_atomically(out / "scenario.yaml", lambda p: p.write_text(text, encoding="utf-8"))
    log.info("%s: wrote %s", inst.name, ", ".join(FILES))
    return [out / name for name in FILES]
