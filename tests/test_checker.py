"""Tests of the independent run checker on a hand-made run folder.

One tiny valid world is written by hand (inputs in RD New near Amersfoort and a run folder with a
valid, not necessarily optimal, allocation). The checker must accept it; then each case breaks
one rule in one file and the checker must report exactly that kind of violation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
import yaml
from shapely.geometry import Point, box

from planner.scenario import LAYER_KINDS, scenario_from_dict
from tests.checker import assert_valid_run, check_run, tags

RD = "EPSG:28992"
X, Y = 155_000.0, 463_000.0


def _square(x: float, y: float, size: float = 100.0) -> Any:
    return box(X + x, Y + y, X + x + size, Y + y + size)


def _point(x: float, y: float) -> Point:
    return Point(X + x, Y + y)


# Candidate plots. P1-P2 and P6 are used; P3 is excluded, P4 is too small for its minimum, P5 is
# not yet available, P7 only touches the exclusion (so it stays eligible).
PLOTS = [
    # plot_id, geometry, capacity, min_homes, fixed_homes, fixed_cost, cost_per_home, from, until,
    # group
    ("P1", _square(0, 0), 40, None, None, None, None, 2024, 2030, "g1"),
    ("P2", _square(300, 0), None, 12, None, None, None, None, None, None),
    ("P3", _square(1000, 0), None, None, None, None, None, None, None, None),
    ("P4", _square(0, 500, 50), None, None, None, None, None, None, None, "g1"),
    ("P5", _square(600, 0), None, None, None, None, None, 2028, None, None),
    ("P6", _square(0, 200), None, 20, 10, 5000.0, 200.0, None, None, None),
    ("P7", _square(850, -50), None, None, None, None, None, None, None, None),
]
PLOT_SHAPES = {p[0]: p[1] for p in PLOTS}
PLOT_COLUMNS = [
    "plot_id",
    "geometry",
    "capacity",
    "min_homes",
    "fixed_homes",
    "fixed_cost",
    "cost_per_home",
    "available_from",
    "available_until",
    "group",
]

# The allocation by hand: (capacity, min_homes, eligible, reason, homes, support, buurt, region).
ALLOCATION = {
    "P1": (40, 10, True, None, 25, 6, "B1", "R1"),
    "P2": (30, 15, True, None, 15, 3, "B1", "R1"),
    "P3": (30, 10, False, "excluded (nature)", 0, 0, None, None),
    "P4": (5, 10, False, "capacity 5 below min_homes 10", 0, 0, None, "R1"),
    "P5": (30, 10, False, "available from 2028", 0, 0, None, "R1"),
    "P6": (30, 20, True, None, 10, 1, "B2", "R1"),
    "P7": (30, 10, True, None, 0, 0, None, None),
}

SERVICES = [
    # service_id, type, capacity, point
    ("H1", "huisarts", 100.0, _point(50, 300)),
    ("H2", "huisarts", math.nan, _point(5000, 0)),
    ("W1", "wijkteam", math.nan, _point(10_000, 7000)),  # far away, but works by catchment
    ("W2", "wijkteam", 4.0, _point(350, 150)),
    ("G1", "ggz", 5.0, _point(500, 100)),
]
LOADS = {"H1": 10, "H2": 0, "W1": 7, "W2": 3, "G1": 0}

ASSIGNMENTS = [
    # plot_id, service_id, residents
    ("P1", "H1", 6),
    ("P2", "H1", 3),
    ("P6", "H1", 1),
    ("P1", "W1", 6),
    ("P6", "W1", 1),
    ("P2", "W2", 3),
]

WEIGHTS = {"huisarts": 1.0, "wijkteam": 0.5, "supermarket": 1.0, "park": 0.5}
SUPERMARKET = _point(200, 50)

# Costs: P1 1000 + 25 x 100, P2 1000 + 15 x 100, P6 5000 + 10 x 200, flows 30 x 60.
TOTAL_COST = 3500.0 + 2500.0 + 7000.0 + 1800.0
BOUND = 14_700.0


def _suitability(plot: Any, features: dict[str, list[Point]]) -> float:
    """Brute-force suitability for building the fixture (the checker uses a spatial index)."""
    total, weight_sum = 0.0, 0.0
    decay = {"supermarket": 500.0}
    for type_, weight in WEIGHTS.items():
        if features.get(type_):
            nearest = min(plot.distance(p) for p in features[type_])
            total += weight * math.exp(-nearest / decay.get(type_, 1000.0))
            weight_sum += weight
    return total / weight_sum


@dataclass
class World:
    """The inputs and a valid run folder, held as frames so a case can break one thing."""

    root: Path
    scenario: dict[str, Any]
    inputs: dict[str, pd.DataFrame]
    plots: gpd.GeoDataFrame
    services: gpd.GeoDataFrame
    buurten: gpd.GeoDataFrame | None
    assignments: pd.DataFrame
    flows: pd.DataFrame
    kpis: dict[str, Any]

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    def write(self) -> Path:
        """Write inputs and run folder; return the run folder."""
        data_dir = self.root / "data"
        data_dir.mkdir(exist_ok=True)
        self.run_dir.mkdir(exist_ok=True)
        for kind, frame in self.inputs.items():
            if kind == "travel_costs":
                frame.to_csv(data_dir / "travel_costs.csv", index=False)
            else:
                frame.to_file(data_dir / f"{kind}.gpkg", layer=kind)
        scenario = scenario_from_dict(self.scenario, source="test", base_dir=data_dir)
        text = yaml.safe_dump(scenario.resolved_dict(), sort_keys=False)
        (self.run_dir / "scenario.resolved.yaml").write_text(text, encoding="utf-8")
        gpkg = self.run_dir / "allocation.gpkg"
        gpkg.unlink(missing_ok=True)
        self.plots.to_file(gpkg, layer="plots")
        self.services.to_file(gpkg, layer="services")
        if self.buurten is not None:
            self.buurten.to_file(gpkg, layer="buurten")
        self.assignments.to_csv(self.run_dir / "support_assignments.csv", index=False)
        self.flows.to_csv(self.run_dir / "region_flows.csv", index=False)
        (self.run_dir / "kpis.json").write_text(json.dumps(self.kpis, indent=2), encoding="utf-8")
        return self.run_dir

    def plot(self, plot_id: str, column: str, value: Any) -> None:
        """Set one cell of the output plots layer."""
        self.plots.loc[self.plots["plot_id"] == plot_id, column] = value

    def plot_input(self, plot_id: str, column: str, value: Any) -> None:
        """Set one cell of the input plots layer."""
        frame = self.inputs["plots"]
        frame.loc[frame["plot_id"] == plot_id, column] = value


def _inputs() -> dict[str, pd.DataFrame]:
    plots = gpd.GeoDataFrame(
        [dict(zip(PLOT_COLUMNS, row, strict=True)) for row in PLOTS], geometry="geometry", crs=RD
    )
    for column in ("capacity", "min_homes", "fixed_homes", "available_from", "available_until"):
        plots[column] = plots[column].astype("float64")
    services = gpd.GeoDataFrame(
        {
            "service_id": [s[0] for s in SERVICES],
            "type": [s[1] for s in SERVICES],
            "capacity": [s[2] for s in SERVICES],
        },
        geometry=[s[3] for s in SERVICES],
        crs=RD,
    )
    return {
        "plots": plots,
        "services": services,
        "service_areas": gpd.GeoDataFrame(
            {"service_id": ["W1"]}, geometry=[box(X - 100, Y - 100, X + 700, Y + 400)], crs=RD
        ),
        "exclusions": gpd.GeoDataFrame(
            {"reason": ["nature"]}, geometry=[_square(950, -50)], crs=RD
        ),
        "neighbourhoods": gpd.GeoDataFrame(
            {"buurt_id": ["B1", "B2"], "dwellings": [1000.0, 400.0]},
            geometry=[
                box(X - 100, Y - 100, X + 450, Y + 150),
                box(X - 100, Y + 150, X + 450, Y + 400),
            ],
            crs=RD,
        ),
        "regions": gpd.GeoDataFrame(
            {
                "region_id": ["R1", "R2"],
                "name": ["Regio Een", "Elders"],
                "min_homes": [20.0, math.nan],
                "max_homes": [60.0, math.nan],
                "demand": [30.0, math.nan],
            },
            geometry=[box(X - 200, Y - 200, X + 800, Y + 800), _square(2000, 0, 1000)],
            crs=RD,
        ),
        "amenities": gpd.GeoDataFrame({"type": ["supermarket"]}, geometry=[SUPERMARKET], crs=RD),
        "travel_costs": pd.DataFrame(
            {
                "region_id": ["R1", "R1", "R1"],
                "plot_id": ["P1", "P2", "P6"],
                "cost_per_home": [60.0, 60.0, 10.0],
            }
        ),
    }


def _output_plots() -> gpd.GeoDataFrame:
    features = {"supermarket": [SUPERMARKET]}
    for _, type_, _, point in SERVICES:
        features.setdefault(type_, []).append(point)
    rows = []
    for plot_id, geometry, *_ in PLOTS:
        cap, low, eligible, reason, homes, support, buurt, region = ALLOCATION[plot_id]
        rows.append(
            {
                "plot_id": plot_id,
                "name": f"Kavel {plot_id}",
                "homes": homes,
                "support_homes": support,
                "selected": homes > 0,
                "capacity": cap,
                "min_homes": low,
                "eligible": eligible,
                "reason": reason,
                "suitability": _suitability(geometry, features),
                "buurt_id": buurt,
                "region_id": region,
                "geometry": geometry,
            }
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=RD)


def _assignments() -> pd.DataFrame:
    services = {s[0]: s for s in SERVICES}
    return pd.DataFrame(
        [
            {
                "plot_id": plot_id,
                "service_id": service_id,
                "service_type": services[service_id][1],
                "residents": residents,
                "distance_m": PLOT_SHAPES[plot_id].distance(services[service_id][3]),
            }
            for plot_id, service_id, residents in ASSIGNMENTS
        ]
    )


def _kpis() -> dict[str, Any]:
    return {
        "status": "FEASIBLE",
        "target_homes": 50,
        "homes": 50,
        "support_homes": 10,
        "plots_used": 3,
        "objective": TOTAL_COST,
        "best_bound": BOUND,
        "gap": (TOTAL_COST - BOUND) / TOTAL_COST,
        "solve_seconds": 0.1,
        "total_cost_eur": TOTAL_COST,
        "per_region": [
            {
                "region_id": "R1",
                "name": "Regio Een",
                "homes": 50,
                "min_homes": 20,
                "max_homes": 60,
                "demand": 30,
            },
            {
                "region_id": "R2",
                "name": "Elders",
                "homes": 0,
                "min_homes": None,
                "max_homes": None,
                "demand": None,
            },
        ],
        "per_service_type": [
            {
                "type": "huisarts",
                "services": 2,
                "capacity": None,
                "load": 10,
                "support_homes_in_reach": 10,
            },
            {
                "type": "wijkteam",
                "services": 2,
                "capacity": None,
                "load": 10,
                "support_homes_in_reach": 10,
            },
            {"type": "ggz", "services": 1, "capacity": 5.0, "load": 0, "support_homes_in_reach": 0},
        ],
        "explanation": [],
    }


def _scenario() -> dict[str, Any]:
    return {
        "name": "tiny",
        "target_homes": 50,
        "plan_year": 2026,
        "layers": {
            kind: f"{kind}.{'csv' if kind == 'travel_costs' else 'gpkg'}" for kind in LAYER_KINDS
        },
        "defaults": {
            "homes_per_ha": 30,
            "min_homes": 10,
            "module_homes": 5,
            "fixed_cost_eur": 1000,
            "cost_per_home_eur": 100,
        },
        "support": {
            "min_share": 0.2,
            "max_share_per_plot": 0.25,
            "reach_m": {"huisarts": 1500, "wijkteam": 2500},
        },
        "neighbourhood": {"max_share_of_dwellings": 0.05},
        "objective": "min_cost",
        "weights": WEIGHTS,
        "suitability": {"decay_m": 1000, "decay_m_per_type": {"supermarket": 500}},
        "budget_eur": 100_000,
    }


@pytest.fixture
def world(tmp_path: Path) -> World:
    inputs = _inputs()
    services = inputs["services"].copy()
    services["name"] = services["service_id"]
    services["load"] = services["service_id"].map(LOADS)
    return World(
        root=tmp_path,
        scenario=_scenario(),
        inputs=inputs,
        plots=_output_plots(),
        services=services[["service_id", "type", "name", "capacity", "load", "geometry"]],
        buurten=gpd.GeoDataFrame(
            {
                "buurt_id": ["B1", "B2"],
                "dwellings": [1000.0, 400.0],
                "cap": [50, 20],
                "homes": [40, 10],
                "share": [0.04, 0.025],
            },
            geometry=inputs["neighbourhoods"].geometry,
            crs=RD,
        ),
        assignments=_assignments(),
        flows=pd.DataFrame(
            {
                "region_id": ["R1", "R1"],
                "plot_id": ["P1", "P2"],
                "homes": [20, 10],
                "cost": [1200.0, 600.0],
            }
        ),
        kpis=_kpis(),
    )


def test_valid_run_has_no_violations(world: World) -> None:
    assert check_run(world.write()) == []
    assert assert_valid_run(world.run_dir)["homes"] == 50


def test_fixture_suitability_matches_hand_computation() -> None:
    """P1: huisarts 200 m, wijkteam W2 sqrt(250^2 + 50^2) m, supermarket 100 m (decay 500)."""
    features = {"huisarts": [s[3] for s in SERVICES if s[1] == "huisarts"]}
    features["wijkteam"] = [s[3] for s in SERVICES if s[1] == "wijkteam"]
    features["supermarket"] = [SUPERMARKET]
    expected = (
        math.exp(-0.2) + 0.5 * math.exp(-math.hypot(250, 50) / 1000) + math.exp(-100 / 500)
    ) / 2.5
    assert _suitability(_square(0, 0), features) == pytest.approx(expected, abs=1e-12)


def test_assert_valid_run_lists_violations(world: World) -> None:
    world.kpis["homes"] = 49
    with pytest.raises(AssertionError, match=r"(?s)1 violation\(s\).*\[kpi\] homes is 49"):
        assert_valid_run(world.write())


def _without_neighbourhoods(w: World) -> None:
    del w.scenario["layers"]["neighbourhoods"]
    del w.inputs["neighbourhoods"]
    w.buurten = None
    w.plots["buurt_id"] = None


def test_run_without_neighbourhoods_is_valid(world: World) -> None:
    _without_neighbourhoods(world)
    assert check_run(world.write()) == []


def test_buurt_id_without_neighbourhoods_is_reported(world: World) -> None:
    _without_neighbourhoods(world)
    world.plot("P1", "buurt_id", "B1")
    assert tags(check_run(world.write())) == {"buurt"}


def test_missing_buurten_layer_is_reported(world: World) -> None:
    world.buurten = None
    assert tags(check_run(world.write())) == {"buurt"}


def test_missing_file_is_reported(world: World) -> None:
    (world.write() / "support_assignments.csv").unlink()
    assert tags(check_run(world.run_dir)) == {"files"}


# --- one broken rule per case ---------------------------------------------------------------------


def _set_kpi(key: str, value: Any) -> Callable[[World], None]:
    return lambda w: w.kpis.__setitem__(key, value)


def _move_assignment(plot_id: str, service_id: str, new_service: str) -> Callable[[World], None]:
    """Point one assignment row at another service, with its true distance."""

    def mutate(w: World) -> None:
        rows = (w.assignments["plot_id"] == plot_id) & (w.assignments["service_id"] == service_id)
        geometry = PLOT_SHAPES[plot_id]
        target = next(s for s in SERVICES if s[0] == new_service)
        w.assignments.loc[rows, "service_id"] = new_service
        w.assignments.loc[rows, "service_type"] = target[1]
        w.assignments.loc[rows, "distance_m"] = geometry.distance(target[3])

    return mutate


def _add_assignment(plot_id: str, service_id: str, residents: int) -> Callable[[World], None]:
    def mutate(w: World) -> None:
        target = next(s for s in SERVICES if s[0] == service_id)
        row = {
            "plot_id": plot_id,
            "service_id": service_id,
            "service_type": target[1],
            "residents": residents,
            "distance_m": PLOT_SHAPES[plot_id].distance(target[3]),
        }
        w.assignments = pd.concat([w.assignments, pd.DataFrame([row])], ignore_index=True)

    return mutate


def _cell(frame: str, match: dict[str, Any], column: str, value: Any) -> Callable[[World], None]:
    """Set one cell of an output frame (plots, services, assignments, flows, buurten)."""

    def mutate(w: World) -> None:
        table = getattr(w, frame)
        rows = pd.Series(True, index=table.index)
        for key, wanted in match.items():
            rows &= table[key] == wanted
        assert rows.sum() == 1
        table.loc[rows, column] = value

    return mutate


def _cells(*mutations: Callable[[World], None]) -> Callable[[World], None]:
    def mutate(w: World) -> None:
        for m in mutations:
            m(w)

    return mutate


def _scenario_key(path: str, value: Any) -> Callable[[World], None]:
    def mutate(w: World) -> None:
        *parents, key = path.split(".")
        node = w.scenario
        for part in parents:
            node = node[part]
        node[key] = value

    return mutate


def _input_cell(kind: str, match: dict[str, Any], column: str, value: Any) -> Callable:
    def mutate(w: World) -> None:
        frame = w.inputs[kind]
        rows = pd.Series(True, index=frame.index)
        for key, wanted in match.items():
            rows &= frame[key] == wanted
        frame.loc[rows, column] = value

    return mutate


def _move_exclusion_onto_p1(w: World) -> None:
    w.inputs["exclusions"] = w.inputs["exclusions"].set_geometry([_square(50, 50)], crs=RD)


def _shrink_catchment(w: World) -> None:
    w.inputs["service_areas"] = w.inputs["service_areas"].set_geometry(
        [box(X + 200, Y - 100, X + 700, Y + 400)], crs=RD
    )


def _move_p6_support_to_p1(w: World) -> None:
    """P1 gets 7 support homes (max floor(0.25 x 25) = 6); loads and totals stay the same."""
    w.plot("P1", "support_homes", 7)
    w.plot("P6", "support_homes", 0)
    a = w.assignments
    a.loc[(a["plot_id"] == "P1"), "residents"] = 7
    w.assignments = a[a["plot_id"] != "P6"].reset_index(drop=True)


def _drop_p7_from_output(w: World) -> None:
    w.plots = w.plots[w.plots["plot_id"] != "P7"].reset_index(drop=True)


CASES: dict[str, tuple[Callable[[World], None], set[str]]] = {
    # rule 1: resolved capacity and min_homes
    "capacity column wrong": (_cell("plots", {"plot_id": "P2"}, "capacity", 35), {"capacity"}),
    "min_homes not rounded up to a module": (
        _cell("plots", {"plot_id": "P2"}, "min_homes", 12),
        {"capacity"},
    ),
    # rule 2: eligibility
    "homes on an excluded plot": (_move_exclusion_onto_p1, {"eligibility"}),
    "homes on a plot outside its years": (
        _scenario_key("plan_year", 2031),
        {"eligibility"},
    ),
    "ineligible plot without reason": (
        _cell("plots", {"plot_id": "P3"}, "reason", None),
        {"eligibility"},
    ),
    "too-small plot marked eligible": (
        _cell("plots", {"plot_id": "P4"}, "eligible", True),
        {"eligibility"},
    ),
    # rule 3: homes per plot
    "a home too many on a plot": (
        _cells(
            _input_cell("plots", {"plot_id": "P1"}, "capacity", 20.0),
            _cell("plots", {"plot_id": "P1"}, "capacity", 20),
        ),
        {"homes"},
    ),
    "homes not whole modules": (
        _cells(
            _cell("plots", {"plot_id": "P1"}, "homes", 24),
            _cell("plots", {"plot_id": "P2"}, "homes", 16),
        ),
        {"homes"},
    ),
    "homes below min_homes": (
        _cells(
            _input_cell("plots", {"plot_id": "P2"}, "min_homes", 20.0),
            _cell("plots", {"plot_id": "P2"}, "min_homes", 20),
        ),
        {"homes"},
    ),
    "fixed homes not kept": (
        _input_cell("plots", {"plot_id": "P6"}, "fixed_homes", 15.0),
        {"homes"},
    ),
    "selected flag wrong": (_cell("plots", {"plot_id": "P7"}, "selected", True), {"homes"}),
    # rule 4: totals
    "target missed on OPTIMAL": (
        _cells(_scenario_key("target_homes", 55), _set_kpi("target_homes", 55)),
        {"total"},
    ),
    "SHORTFALL without explanation": (
        _cells(
            _scenario_key("target_homes", 55),
            _set_kpi("target_homes", 55),
            _set_kpi("status", "SHORTFALL"),
        ),
        {"total"},
    ),
    "homes on INFEASIBLE": (_set_kpi("status", "INFEASIBLE"), {"total"}),
    # rule 5: support mix
    "too many support homes on a plot": (_move_p6_support_to_p1, {"mix"}),
    "too few support homes overall": (_scenario_key("support.min_share", 0.25), {"mix"}),
    # rule 6: care reach
    "support home without assignment": (
        _cell("assignments", {"plot_id": "P2", "service_id": "W2"}, "residents", 2),
        {"reach", "load", "kpi"},
    ),
    "assignment to an out-of-reach service": (
        _move_assignment("P1", "H1", "H2"),
        {"reach", "load"},
    ),
    "plot outside the catchment": (_shrink_catchment, {"reach"}),
    "assignment with the wrong type": (
        _cell("assignments", {"plot_id": "P1", "service_id": "H1"}, "service_type", "wijkteam"),
        {"reach"},
    ),
    "assignment for a type without reach": (
        _add_assignment("P1", "G1", 1),
        {"reach", "load", "kpi"},
    ),
    "assignment with zero residents": (_add_assignment("P1", "H2", 0), {"reach"}),
    "wrong distance_m": (
        _cell("assignments", {"plot_id": "P1", "service_id": "H1"}, "distance_m", 250.0),
        {"distance"},
    ),
    # rule 7: service capacity and load
    "service over capacity": (
        _cells(
            _input_cell("services", {"service_id": "W2"}, "capacity", 2.0),
            _cell("services", {"service_id": "W2"}, "capacity", 2.0),
        ),
        {"service-capacity"},
    ),
    "services layer load wrong": (_cell("services", {"service_id": "H1"}, "load", 11), {"load"}),
    # rule 8: buurten
    "buurt cap exceeded": (
        _cells(
            _input_cell("neighbourhoods", {"buurt_id": "B2"}, "dwellings", 150.0),
            _cell("buurten", {"buurt_id": "B2"}, "cap", 7),
        ),
        {"buurt"},
    ),
    "buurt_id column wrong": (_cell("plots", {"plot_id": "P1"}, "buurt_id", "B2"), {"buurt"}),
    "buurten layer homes wrong": (_cell("buurten", {"buurt_id": "B1"}, "homes", 39), {"buurt"}),
    # rule 9: regions
    "region max exceeded": (
        _cells(
            _input_cell("regions", {"region_id": "R1"}, "max_homes", 45.0),
            lambda w: w.kpis["per_region"][0].__setitem__("max_homes", 45),
        ),
        {"region"},
    ),
    "region min not met": (
        _cells(
            _input_cell("regions", {"region_id": "R1"}, "min_homes", 55.0),
            lambda w: w.kpis["per_region"][0].__setitem__("min_homes", 55),
        ),
        {"region"},
    ),
    "region_id column wrong": (_cell("plots", {"plot_id": "P3"}, "region_id", "R1"), {"region"}),
    # rule 10: demand and travel
    "demand not met": (
        _cells(
            _input_cell("regions", {"region_id": "R1"}, "demand", 35.0),
            lambda w: w.kpis["per_region"][0].__setitem__("demand", 35),
        ),
        {"demand"},
    ),
    "flow over a pair without travel cost": (
        _cell("flows", {"plot_id": "P2"}, "plot_id", "P7"),
        {"demand"},
    ),
    "flow cost wrong": (_cell("flows", {"plot_id": "P1"}, "cost", 1300.0), {"demand"}),
    "flows exceed a plot's homes": (
        _cells(
            _cell("flows", {"plot_id": "P1"}, "homes", 10),
            _cell("flows", {"plot_id": "P1"}, "cost", 600.0),
            _cell("flows", {"plot_id": "P2"}, "homes", 20),
            _cell("flows", {"plot_id": "P2"}, "cost", 1200.0),
        ),
        {"demand"},
    ),
    # rule 11: groups
    "two plots of one group": (_input_cell("plots", {"plot_id": "P2"}, "group", "g1"), {"group"}),
    # rule 12: cost and budget
    "total cost wrong": (_set_kpi("total_cost_eur", 15_000.0), {"cost"}),
    "over budget": (_scenario_key("budget_eur", 14_000), {"budget"}),
    # rule 13: suitability
    "wrong suitability": (_cell("plots", {"plot_id": "P1"}, "suitability", 0.5), {"suitability"}),
    # rule 14: KPIs
    "kpi homes wrong": (_set_kpi("homes", 55), {"kpi"}),
    "kpi plots_used wrong": (_set_kpi("plots_used", 4), {"kpi"}),
    "kpi support_homes wrong": (_set_kpi("support_homes", 11), {"kpi"}),
    "objective of the wrong kind": (_scenario_key("objective", "max_suitability"), {"kpi"}),
    "gap wrong": (_set_kpi("gap", 0.0), {"kpi"}),
    "bound on the wrong side": (
        _cells(_set_kpi("best_bound", 15_000.0), _set_kpi("gap", 200.0 / TOTAL_COST)),
        {"kpi"},
    ),
    "per_region homes wrong": (
        lambda w: w.kpis["per_region"][0].__setitem__("homes", 45),
        {"kpi"},
    ),
    "per_proposer not in the inputs": (
        lambda w: w.kpis.__setitem__(
            "per_proposer", [{"proposer": "X", "plots": 1, "plots_used": 0, "homes": 0}]
        ),
        {"kpi"},
    ),
    "per_service_type load wrong": (
        lambda w: w.kpis["per_service_type"][0].__setitem__("load", 9),
        {"kpi"},
    ),
    "per_service_type capacity wrong": (
        lambda w: w.kpis["per_service_type"][2].__setitem__("capacity", None),
        {"kpi"},
    ),
    # files
    "plot missing from the output": (_drop_p7_from_output, {"files"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_checker_reports_the_broken_rule(world: World, case: str) -> None:
    mutate, expected = CASES[case]
    mutate(world)
    problems = check_run(world.write())
    assert tags(problems) == expected, "\n".join(problems)
