"""Phasing over the years: hand-made plans with a known optimum, and the checker on real runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import yaml

from geodata.contract import validate_layer
from planner import phasing
from planner.errors import LayerError, ScenarioError
from planner.model import solve_built
from planner.phasing import PhasingModel, solve_phasing, verify_phased
from planner.pipeline import run_scenario
from planner.report import build_report
from planner.scenario import load_scenario
from tests.checker import assert_valid_run, check_run, tags
from tests.factories import make_instance
from tests.world import write_world

HORIZON = {"start": 2027, "end": 2031, "delivery_per_year": 20, "relocation_weight": 0.5}


def plan(plots, **scenario):
    inst = make_instance(plots, **scenario)
    result = solve_phasing(inst)
    assert verify_phased(inst, result) == []
    return inst, result


def test_forced_relocation_known_optimum():
    # P0 closes after 2029, P1 and P2 open in 2030: the 20 homes must move. P2 (0.7) takes its
    # 15, P1 the other 5: 54 (P0, 3 years) + 2 x (15 x 0.7 + 5 x 0.5) - 0.5 x 20 moved = 70.
    _, r = plan(
        [
            {"capacity": 20, "suitability": 0.9, "available_until": 2029},
            {"capacity": 20, "suitability": 0.5, "available_from": 2030},
            {"capacity": 15, "suitability": 0.7, "available_from": 2030},
        ],
        target_homes=20,
        horizon={**HORIZON, "targets": {2027: 20, 2031: 20}},
    )
    assert r.status == "OPTIMAL"
    assert r.homes.tolist() == [[20, 20, 20, 0, 0], [0, 0, 0, 5, 5], [0, 0, 0, 15, 15]]
    assert r.built[:, 0].tolist() == [20, 0, 0] and r.built[:, 1:].sum() == 0
    assert r.relocations.to_dict("records") == [
        {"year": 2030, "from_plot": 0, "to_plot": 1, "homes": 5, "support_homes": 0},
        {"year": 2030, "from_plot": 0, "to_plot": 2, "homes": 15, "support_homes": 0},
    ]
    assert r.objective == pytest.approx(70.0)
    assert r.gap == pytest.approx(0.0, abs=1e-6)


def test_permit_length_ends_a_project_and_moves_it():
    # Permit of 3 years in a 6-year horizon: no plot can hold the homes throughout.
    _, r = plan(
        [{"capacity": 20, "suitability": 0.9}, {"capacity": 20, "suitability": 0.5}],
        target_homes=20,
        horizon={**HORIZON, "end": 2032, "permit_years": 3},
    )
    standing = (r.homes > 0).sum(axis=1)
    assert standing.tolist() == [3, 3]
    assert r.homes_moved == 20 and r.homes.sum(axis=0).tolist()[0] == 20
    assert r.objective == pytest.approx(3 * 20 * 0.9 + 3 * 20 * 0.5 - 0.5 * 20)


def test_production_limit_leaves_an_early_target_short():
    _, r = plan(
        [{"capacity": 40, "suitability": 0.9}],
        target_homes=30,
        horizon={**HORIZON, "delivery_per_year": 10, "targets": {2027: 20, 2029: 30}},
    )
    assert r.status == "SHORTFALL"
    assert r.standing()[2027] == 10 and r.standing()[2029] == 30
    assert r.short() == {2027: 10, 2029: 0}
    assert r.built.sum(axis=0).tolist() == [10, 10, 10, 0, 0]
    assert "production allows at most 10 new homes by 2027" in r.explanation[0]


def test_support_moves_with_its_residents_and_services_open_and_close():
    # 20 homes, a quarter with support. S0 (near P0) closes after 2029; at P1 only S1 is in reach.
    services = [
        {"type": "huisarts", "capacity": 10, "open_until": 2029},
        {"type": "huisarts", "capacity": 5},
    ]
    pairs = [(0, 0, "huisarts", 100.0), (1, 1, "huisarts", 200.0)]
    plots = [
        {"capacity": 20, "suitability": 0.9, "available_until": 2029},
        {"capacity": 20, "suitability": 0.5},
    ]
    support = {"min_share": 0.25, "max_share_per_plot": 0.25, "reach_m": {"huisarts": 1000}}
    inst = make_instance(
        plots,
        services=services,
        pairs=pairs,
        target_homes=20,
        support=support,
        horizon={**HORIZON, "targets": {2027: 20, 2031: 20}},
    )
    inst.services["open_until"] = [2029.0, np.nan]
    r = solve_phasing(inst)
    assert r.status == "OPTIMAL"
    assert r.support.tolist() == [[5, 5, 5, 0, 0], [0, 0, 0, 5, 5]]
    assert r.relocations.to_dict("records") == [
        {"year": 2030, "from_plot": 0, "to_plot": 1, "homes": 20, "support_homes": 5}
    ]
    by_year = r.assignments.groupby("year")["service"].unique().map(list).to_dict()
    assert by_year == {2027: [0], 2028: [0], 2029: [0], 2030: [1], 2031: [1]}
    # With room for 4 at S1 only 16 homes (4 support) can follow: the target falls short.
    inst.services["capacity"] = [10.0, 4.0]
    r = solve_phasing(inst)
    assert r.status == "SHORTFALL" and r.standing()[2031] == 16
    assert verify_phased(inst, r) == []


STAGED_CASES = [
    (
        [
            {"capacity": 20, "suitability": 0.9, "available_until": 2029},
            {"capacity": 20, "suitability": 0.5, "available_from": 2030},
            {"capacity": 15, "suitability": 0.7, "available_from": 2030},
        ],
        {"target_homes": 20, "horizon": {**HORIZON, "targets": {2027: 20, 2031: 20}}},
    ),
    (
        [
            {"capacity": 20, "suitability": 0.9, "available_until": 2029},
            {"capacity": 20, "suitability": 0.5, "available_from": 2030},
            {"capacity": 15, "suitability": 0.7, "available_from": 2030},
            {"capacity": 20, "suitability": 0.1},  # no year wants it: left out of the restriction
        ],
        {"target_homes": 20, "horizon": {**HORIZON, "targets": {2027: 20, 2031: 20}}},
    ),
    (
        [{"capacity": 20, "suitability": 0.9}, {"capacity": 20, "suitability": 0.5}],
        {"target_homes": 20, "horizon": {**HORIZON, "end": 2032, "permit_years": 3}},
    ),
    (
        [
            {"capacity": 20, "suitability": 0.9, "available_until": 2029, "fixed_homes": 10},
            {"capacity": 20, "suitability": 0.5},
            {"capacity": 15, "suitability": 0.7, "available_from": 2029},
        ],
        {"target_homes": 20, "horizon": {**HORIZON, "targets": {2028: 10, 2031: 20}}},
    ),
    (
        [{"capacity": 40, "suitability": 0.9}],
        {
            "target_homes": 30,
            "horizon": {**HORIZON, "delivery_per_year": 10, "targets": {2027: 20, 2029: 30}},
        },
    ),
]


@pytest.mark.parametrize(("plots", "scenario"), STAGED_CASES)
def test_staged_solve_matches_the_full_mip(monkeypatch, plots, scenario):
    # The staged solve (years alone, restricted MIP, full MIP from its plan) only changes where
    # HiGHS starts: same optimum, a valid plan, and the years alone bound the optimum.
    inst = make_instance(plots, **scenario)
    direct = solve_phasing(inst)
    assert "restricted" not in [p["phase"] for p in direct.phases]
    bound, chosen, _ = PhasingModel(inst).year_bounds(30.0)
    assert bound is not None and bound >= direct.objective - 1e-6
    assert chosen
    monkeypatch.setattr(phasing, "STAGED_ABOVE_PLOT_YEARS", 0)
    monkeypatch.setattr(phasing, "WIDEN", 1.0)
    staged = solve_phasing(inst)
    names = [p["phase"] for p in staged.phases]
    assert "restricted" in names
    # the restriction holds the plots the years use and those of the constructive plan
    restricted = next(p["plots"] for p in staged.phases if p["phase"] == "restricted build")
    assert restricted >= len(chosen)
    assert ("full" in names) == (restricted < len(plots))
    assert staged.status == direct.status
    assert staged.objective == pytest.approx(direct.objective)
    assert staged.best_bound >= staged.objective - 1e-6
    assert verify_phased(inst, staged) == []


def test_staged_solve_falls_back_to_the_full_mip(monkeypatch):
    # The fixed project on P0 must move in 2030 and only P1 can take it; with P1 left out of
    # the restriction the restricted model is infeasible, which says nothing of the full one.
    inst = make_instance(
        [
            {"capacity": 20, "suitability": 0.9, "available_until": 2029, "fixed_homes": 20},
            {"capacity": 20, "suitability": 0.5, "available_from": 2030},
        ],
        target_homes=20,
        horizon={**HORIZON, "targets": {2027: 20, 2031: 20}},
    )
    direct = solve_phasing(inst)
    monkeypatch.setattr(phasing, "STAGED_ABOVE_PLOT_YEARS", 0)
    monkeypatch.setattr(PhasingModel, "_widen", lambda self, chosen, v: {0})
    staged = solve_phasing(inst)
    assert [p["phase"] for p in staged.phases][-2:] == ["restricted", "full"]
    assert staged.phases[-2]["termination"] == "INFEASIBLE"
    assert staged.status == direct.status == "OPTIMAL"
    assert staged.objective == pytest.approx(direct.objective)


def test_without_a_horizon_phasing_refuses():
    inst = make_instance([{"capacity": 20}])
    with pytest.raises(ScenarioError, match="no horizon"):
        solve_phasing(inst)


@pytest.mark.parametrize(
    ("horizon", "extra", "message"),
    [
        ({"targets": {2029: 30, 2030: 20}}, {}, "targets may not fall"),
        ({"targets": {2040: 10}}, {}, "outside 2027..2031"),
        ({"targets": {2030: 99}}, {}, "exceeds target_homes"),
        ({}, {"plan_year": 2028}, "exclude each other"),
        ({"end": 2020}, {}, "before start"),
    ],
)
def test_horizon_is_validated(horizon, extra, message):
    with pytest.raises(ScenarioError, match=message):
        make_instance([{}], target_homes=30, horizon={**HORIZON, **horizon}, **extra)


def test_service_open_years_are_in_the_contract():
    from shapely.geometry import Point

    raw = gpd.GeoDataFrame(
        {"service_id": ["S1"], "type": ["ggz"], "open_from": [2031], "open_until": [2030]},
        geometry=[Point(155_000, 463_000)],
        crs="EPSG:28992",
    )
    with pytest.raises(LayerError, match="open_from 2031 is after open_until 2030"):
        validate_layer("services", raw, source="s.gpkg")
    raw["open_from"] = [2028]
    assert validate_layer("services", raw, source="s.gpkg")["open_until"].tolist() == [2030.0]


# --- end to end: the test world over ten years ---------------------------------------------------


def _world(folder: Path) -> Path:
    """tests/world with plot windows, a closing GP and a ten-year horizon."""
    scenario = write_world(
        folder,
        target_homes=140,
        horizon={
            "start": 2027,
            "end": 2036,
            "delivery_per_year": 60,
            "permit_years": 6,
            "targets": {2029: 60, 2032: 120, 2036: 140},
        },
    )
    plots = gpd.read_file(folder / "plots.gpkg")
    plots["available_from"] = [
        None,
        2030,
        None,
        None,
        None,
        2029,
        None,
        None,
        None,
        None,
        None,
        None,
    ]
    plots["available_until"] = [
        2031,
        None,
        None,
        2033,
        None,
        None,
        None,
        None,
        None,
        2030,
        None,
        None,
    ]
    plots.to_file(folder / "plots.gpkg", layer="plots")
    services = gpd.read_file(folder / "services.gpkg")
    services["open_until"] = [None, None, None, None]
    services["open_from"] = [None, 2030, None, None]
    services.to_file(folder / "services.gpkg", layer="services")
    return scenario


@pytest.fixture(scope="module")
def world_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("phased")
    return run_scenario(_world(folder), folder / "run").out_dir


def test_world_plan_is_valid_in_every_year(world_run: Path):
    kpis = assert_valid_run(world_run)
    assert kpis["status"] == "OPTIMAL"
    per_year = {row["year"]: row for row in kpis["phasing"]["per_year"]}
    assert [per_year[t]["standing"] for t in (2029, 2032, 2036)] == [60, 120, 140]
    assert kpis["phasing"]["homes_moved"] > 0  # P00, P30 and P10's windows force moves
    moves = pd.read_csv(world_run / "relocations.csv")
    assert list(moves.columns) == ["year", "from_plot", "to_plot", "homes", "support_homes"]
    assert kpis["phasing"]["relocation_cost_eur"] == 5000.0 * moves["homes"].sum()
    timeline = pd.read_csv(world_run / "timeline.csv")
    assert list(timeline.columns) == [
        "year",
        "plot_id",
        "homes",
        "built",
        "moved_in",
        "moved_out",
        "support_homes",
    ]
    gp2 = pd.read_csv(world_run / "support_assignments.csv").query("service_id == 'GP2'")
    assert gp2.empty or gp2["year"].min() >= 2030  # GP2 opens in 2030
    html = (world_run / "report.html").read_text(encoding="utf-8")
    assert 'id="fp-year"' in html and "<polyline" in html and "Woningen per jaar" in html


def _copy(run: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(run, out)
    return out


def test_checker_catches_broken_years(world_run: Path, tmp_path: Path):
    run = _copy(world_run, tmp_path)
    timeline = pd.read_csv(run / "timeline.csv", dtype={"plot_id": str})
    changed = timeline.copy()
    changed.loc[changed.index[-1], "homes"] += 5  # five homes appear from nowhere
    changed.to_csv(run / "timeline.csv", index=False)
    assert {"conservation", "target"} <= tags(check_run(run))

    timeline.to_csv(run / "timeline.csv", index=False)
    scenario = yaml.safe_load((run / "scenario.resolved.yaml").read_text())
    scenario["horizon"]["delivery_per_year"] = 30
    scenario["horizon"]["permit_years"] = 3
    (run / "scenario.resolved.yaml").write_text(yaml.safe_dump(scenario))
    assert {"production", "permit"} <= tags(check_run(run))


def test_checker_catches_bad_relocations_and_missing_files(world_run: Path, tmp_path: Path):
    run = _copy(world_run, tmp_path)
    moves = pd.read_csv(run / "relocations.csv", dtype={"from_plot": str, "to_plot": str})
    assert len(moves)
    moves.loc[0, "to_plot"] = "P32"  # Bunschoten, not the region it leaves; no project there
    moves.to_csv(run / "relocations.csv", index=False)
    problems = check_run(run)
    assert "relocation" in tags(problems)
    (run / "relocations.csv").unlink()
    assert "files" in tags(check_run(run))


def test_checker_catches_a_closed_service(world_run: Path, tmp_path: Path):
    run = _copy(world_run, tmp_path)
    path = run / "support_assignments.csv"
    rows = pd.read_csv(path, dtype={"plot_id": str, "service_id": str})
    gp1 = rows["service_id"] == "GP1"
    assert gp1.any()
    services = gpd.read_file(
        Path(load_scenario(run / "scenario.resolved.yaml").layer_path("services"))
    )
    assert services.loc[services["service_id"] == "GP1", "open_until"].isna().all()
    rows.loc[gp1, "service_id"] = "GP2"  # GP2 only opens in 2030
    rows.to_csv(path, index=False)
    found = tags(check_run(run))
    assert "service-open" in found or "reach" in found


def test_report_year_data_is_text_not_markup():
    from shapely.geometry import box

    payload = "</script><b>x</b>"
    plots = gpd.GeoDataFrame(
        {"plot_id": [payload], "homes": [10], "selected": [True], "support_homes": [0]},
        geometry=[box(155_000, 463_000, 155_100, 463_100)],
        crs="EPSG:28992",
    )
    services = gpd.GeoDataFrame(
        {"service_id": [], "type": [], "name": [], "capacity": [], "load": []},
        geometry=[],
        crs="EPSG:28992",
    )
    timeline = {
        "years": [
            {"year": 2027, "target": None, "standing": 0, "plots": {}},
            {"year": 2028, "target": 10, "standing": 10, "plots": {payload: 10}},
        ]
    }
    html = build_report(
        title="t", plots=plots, services=services, buurten=None, kpis={}, timeline=timeline
    )
    assert payload not in html and "`" not in html
    data = html.split('id="fp-timeline-data">')[1].split("</script>")[0]
    assert json.loads(data)["years"][1]["plots"] == [[payload, 10]]
    assert "<td>2028</td>" in html  # the chart's text alternative, years unformatted


# --- the constructive start (planner.phasing_start) ----------------------------------------------


@pytest.mark.parametrize(("plots", "scenario"), STAGED_CASES)
def test_constructive_plan_is_valid_and_never_beats_the_optimum(plots, scenario):
    from planner.phasing_start import STARTS, phased_start

    inst = make_instance(plots, **scenario)
    direct = solve_phasing(inst)
    for slack, regions in STARTS:
        start = phased_start(inst, slack, regions)
        assert start is not None
        model = PhasingModel(inst)
        built, v = model.build()
        plan = model._from_start(start, v, {}, [], 0.0, direct.best_bound)
        assert verify_phased(inst, plan) == []
        assert plan.objective <= direct.objective + 1e-6
        if plots == STAGED_CASES[0][0]:
            assert plan.objective <= 70.0 + 1e-6  # the known optimum of the forced relocation
        # as a hint it is a plan of the model: HiGHS completes it and finds the optimum from it
        res = solve_built(built, model.options, hint=phasing._hint_of(start, v, 1))
        assert res.objective_value() == pytest.approx(direct.objective, abs=1e-6)


def test_constructive_plan_passes_the_checker(tmp_path: Path, monkeypatch):
    # The staged solve with the constructive plan kept as the result: a valid run folder.
    monkeypatch.setattr(phasing, "STAGED_ABOVE_PLOT_YEARS", 0)

    def keep_start(self, found, start, plan, v, size, phases, started, bound):
        assert start is not None and plan is not None
        return self._from_start(start, v, size, phases, started, bound)

    monkeypatch.setattr(PhasingModel, "_best", keep_start)
    run = run_scenario(_world(tmp_path), tmp_path / "run").out_dir
    assert check_run(run) == []
    kpis = json.loads((run / "kpis.json").read_text(encoding="utf-8"))
    assert kpis["status"] in ("OPTIMAL", "FEASIBLE", "SHORTFALL")
    assert kpis["best_bound"] >= kpis["objective"] - 1e-6
