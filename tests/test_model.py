"""The model on tiny hand-made instances whose optimum is known by hand.

Each constraint family gets a case where it shapes the optimum and a case where it makes the
target impossible (SHORTFALL with that family named in the explanation).
"""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.check import verify
from planner.explain import FAMILY_TEXT, _gain, explain_shortfall
from planner.model import AllocationModel, SolveOptions
from tests.factories import make_instance

REACH = {"min_share": 0.25, "max_share_per_plot": 0.5, "reach_m": {"huisarts": 1000}}


def solve(inst, **options):
    result = AllocationModel(inst, SolveOptions.from_scenario(inst, **options)).solve()
    assert verify(inst, result) == []
    return result


def test_picks_most_suitable_plots_and_fills_remainder():
    inst = make_instance(
        [
            {"capacity": 6, "suitability": 0.9},
            {"capacity": 6, "suitability": 0.5},
            {"capacity": 6, "suitability": 0.7},
        ],
        target_homes=10,
    )
    r = solve(inst)
    assert r.status == "OPTIMAL"
    assert r.homes.tolist() == [6, 0, 4]
    assert r.objective == pytest.approx(6 * 0.9 + 4 * 0.7)
    assert r.gap == pytest.approx(0.0)


def test_min_homes_forbids_small_remainders():
    # 10 homes: a 4-home remainder on plot 2 is below its minimum of 5, so 5 + 5 on plots 0/2.
    inst = make_instance(
        [
            {"capacity": 6, "suitability": 0.9},
            {"capacity": 6, "suitability": 0.1},
            {"capacity": 6, "suitability": 0.7, "min_homes": 5},
        ],
        target_homes=10,
    )
    r = solve(inst)
    assert r.homes.tolist() == [5, 0, 5]


def test_module_homes_rounds_to_multiples():
    inst = make_instance(
        [{"capacity": 10, "suitability": 0.9}, {"capacity": 10, "suitability": 0.5}],
        target_homes=12,
        defaults={"module_homes": 4, "min_homes": 4},
    )
    r = solve(inst)
    assert r.homes.tolist() == [8, 4]
    assert all(h % 4 == 0 for h in r.homes)


def test_fixed_homes_are_kept_even_on_worse_plots():
    inst = make_instance(
        [
            {"capacity": 10, "suitability": 0.9},
            {"capacity": 10, "suitability": 0.1, "fixed_homes": 3.0},
        ],
        target_homes=10,
    )
    assert solve(inst).homes.tolist() == [7, 3]


def test_support_homes_need_reach_and_respect_capacity_and_mix():
    inst = make_instance(
        [{"capacity": 8, "suitability": 0.9}, {"capacity": 8, "suitability": 0.5}],
        services=[{"type": "huisarts", "capacity": 2}, {"type": "huisarts"}],
        pairs=[(0, 0, "huisarts", 100.0), (1, 1, "huisarts", 50.0)],
        target_homes=12,
        support=REACH,
    )
    r = solve(inst)
    assert r.status == "OPTIMAL"
    # 3 support homes needed (25% of 12); plot 0 has a GP with room for 2 only.
    assert r.total_support >= 3
    assert r.support[0] <= 2
    assert r.support[1] <= r.homes[1] * 0.5
    assert r.homes.tolist() == [8, 4]
    assigned = r.assignments.groupby("plot")["residents"].sum().to_dict()
    assert assigned == {p: int(s) for p, s in enumerate(r.support) if s}


def test_care_reach_shortfall_is_explained():
    # Only plot 0 reaches a GP, with room for 1 resident: at most 4 homes keep the 25% share.
    inst = make_instance(
        [{"capacity": 8, "suitability": 0.9}, {"capacity": 8, "suitability": 0.5}],
        services=[{"type": "huisarts", "capacity": 1}],
        pairs=[(0, 0, "huisarts", 100.0)],
        target_homes=12,
        support=REACH,
    )
    r = solve(inst)
    assert r.status == "SHORTFALL"
    assert r.total_homes == 4
    lines, binding = explain_shortfall(inst, r, SolveOptions.from_scenario(inst))
    families = {b["family"] for b in binding}
    assert {"service_capacity", "support_share"} <= families
    assert "Only 4 of the 12 homes" in lines[0]


def test_buurt_cap_spreads_homes():
    inst = make_instance(
        [
            {"capacity": 10, "suitability": 0.9, "buurt_id": "B1"},
            {"capacity": 10, "suitability": 0.8, "buurt_id": "B1"},
            {"capacity": 10, "suitability": 0.5, "buurt_id": "B2"},
        ],
        buurten=[
            {"buurt_id": "B1", "name": None, "dwellings": 200, "cap": 12},
            {"buurt_id": "B2", "name": None, "dwellings": 400, "cap": 20},
        ],
        target_homes=18,
    )
    r = solve(inst)
    assert r.homes[:2].sum() == 12
    assert r.homes.tolist() == [10, 2, 6]


def test_buurt_cap_shortfall_names_the_buurt():
    inst = make_instance(
        [{"capacity": 10, "buurt_id": "B1"}, {"capacity": 10, "buurt_id": "B1"}],
        buurten=[{"buurt_id": "B1", "name": None, "dwellings": 200, "cap": 12}],
        target_homes=18,
    )
    r = solve(inst)
    assert r.status == "SHORTFALL"
    assert r.total_homes == 12
    _, binding = explain_shortfall(inst, r, SolveOptions.from_scenario(inst))
    assert binding == [
        {
            "family": "neighbourhood",
            "homes_added": 6,
            "homes_added_at_most": 6,
            "where": "buurten at their cap: B1",
            "in_smallest_set": True,
        }
    ]


def test_a_relaxations_homes_are_worded_as_the_solver_proved_them():
    assert _gain(6, 6) == "6"
    assert _gain(1067, 1150) == "at least 1067 (at most 1150)"
    assert _gain(1067, None) == "at least 1067"


def test_shortfall_figures_on_a_national_instance_are_proven_ranges(tmp_path):
    """Relaxation solves stop within the scenario's gap: each figure is what an allocation
    reached, with the solver's bound as its ceiling, and the sentence says which."""
    from benchmarks import national
    from planner.instance import build_instance
    from planner.pipeline import apply_overrides, load_layers
    from planner.scenario import load_scenario

    scenario = apply_overrides(
        load_scenario(national.generate(200, tmp_path, seed=2)), {"target_homes": 40000}
    )
    inst = build_instance(load_layers(scenario), scenario)
    r = solve(inst)
    assert r.status == "SHORTFALL"
    lines, binding = explain_shortfall(inst, r, SolveOptions.from_scenario(inst))
    assert binding
    for row in binding:
        low, high = row["homes_added"], row["homes_added_at_most"]
        assert high is None or 0 < low <= high
        relaxing = f"Relaxing {FAMILY_TEXT[row['family']]} would allow"
        sentence = next(line for line in lines if line.startswith(relaxing))
        assert f"would allow {_gain(low, high)} more homes" in sentence


def test_region_minimum_forces_homes_into_a_region():
    inst = make_instance(
        [
            {"capacity": 10, "suitability": 0.9, "region_id": "R1"},
            {"capacity": 10, "suitability": 0.2, "region_id": "R2"},
        ],
        regions=[{"region_id": "R1"}, {"region_id": "R2", "min_homes": 4}],
        target_homes=10,
    )
    assert solve(inst).homes.tolist() == [6, 4]


def test_region_maximum_too_low_is_a_shortfall():
    inst = make_instance(
        [{"capacity": 10, "region_id": "R1"}],
        regions=[{"region_id": "R1", "max_homes": 7}],
        target_homes=10,
    )
    r = solve(inst)
    assert (r.status, r.total_homes) == ("SHORTFALL", 7)


def test_groups_allow_one_alternative():
    inst = make_instance(
        [
            {"capacity": 10, "suitability": 0.9, "group": "G"},
            {"capacity": 10, "suitability": 0.8, "group": "G"},
            {"capacity": 10, "suitability": 0.1},
        ],
        target_homes=15,
    )
    assert solve(inst).homes.tolist() == [10, 0, 5]


def test_min_cost_uses_fixed_and_per_home_costs():
    inst = make_instance(
        [
            {"capacity": 10, "fixed_cost": 1000.0, "cost_per_home": 10.0},
            {"capacity": 10, "fixed_cost": 0.0, "cost_per_home": 50.0},
            {"capacity": 10, "fixed_cost": 100.0, "cost_per_home": 20.0},
        ],
        target_homes=12,
        objective="min_cost",
    )
    r = solve(inst)
    # plot 2 full (300) + plot 1 two homes (100) = 400 beats any use of plot 0 (>= 1000).
    assert r.homes.tolist() == [0, 2, 10]
    assert r.objective == pytest.approx(400.0)


def test_budget_limits_homes():
    inst = make_instance(
        [{"capacity": 10, "cost_per_home": 100.0}],
        target_homes=10,
        budget_eur=750.0,
    )
    r = solve(inst)
    assert (r.status, r.total_homes) == ("SHORTFALL", 7)


def test_demand_served_over_travel_pairs_at_least_cost():
    # Classic capacitated facility location: two customers, two facilities.
    inst = make_instance(
        [{"capacity": 10, "fixed_cost": 100.0}, {"capacity": 10, "fixed_cost": 100.0}],
        regions=[{"region_id": "C1", "demand": 6}, {"region_id": "C2", "demand": 6}],
        travel=[("C1", 0, 1.0), ("C1", 1, 5.0), ("C2", 0, 4.0), ("C2", 1, 1.0)],
        target_homes=12,
        objective="min_cost",
    )
    r = solve(inst)
    # Both open: 200 + 6 + 6 = 212; one open: 100 + capacity 10 < 12 impossible.
    assert r.objective == pytest.approx(212.0)
    assert sorted(r.flows[["region_id", "plot", "homes"]].itertuples(index=False, name=None)) == [
        ("C1", 0, 6),
        ("C2", 1, 6),
    ]


def test_ineligible_plots_get_no_homes():
    inst = make_instance(
        [
            {"capacity": 10, "suitability": 0.9, "eligible": False, "reason": "exclusion"},
            {"capacity": 10, "suitability": 0.1},
        ],
        target_homes=5,
    )
    assert solve(inst).homes.tolist() == [0, 5]


def test_target_above_all_capacity_is_shortfall_not_crash():
    inst = make_instance([{"capacity": 10}, {"capacity": 5}], target_homes=100)
    r = solve(inst)
    assert (r.status, r.total_homes) == ("SHORTFALL", 15)
    lines, _ = explain_shortfall(inst, r, SolveOptions.from_scenario(inst))
    assert any("hold only 15 homes" in line for line in lines)


@pytest.mark.parametrize("backend", ["highs", "scip", "cpsat"])
def test_same_model_on_every_backend(backend):
    inst = make_instance(
        [{"capacity": 8, "suitability": 0.9}, {"capacity": 8, "suitability": 0.5}],
        services=[{"type": "huisarts", "capacity": 2}, {"type": "huisarts"}],
        pairs=[(0, 0, "huisarts", 100.0), (1, 1, "huisarts", 50.0)],
        target_homes=12,
        support=REACH,
    )
    r = solve(inst, backend=backend)
    assert r.homes.tolist() == [8, 4]
    assert r.objective == pytest.approx(8 * 0.9 + 4 * 0.5)


def test_deterministic_with_ties():
    plots = [{"capacity": 5, "suitability": 0.5} for _ in range(6)]
    a = solve(make_instance(plots, target_homes=15))
    b = solve(make_instance(plots, target_homes=15))
    assert np.array_equal(a.homes, b.homes)


def test_model_import_loads_no_web_map_or_file_reader():
    code = (
        "import sys, planner.model, planner.explain, planner.check; "
        "bad = [m for m in ('flask', 'folium', 'pyogrio', 'fiona') if m in sys.modules]; "
        "assert not bad, bad"
    )
    import subprocess

    subprocess.run([sys.executable, "-c", code], check=True)


def _brute_force(caps, mins, scores, buurt, buurt_cap, target):
    """Best objective over every allocation (None when the target is out of reach)."""
    best = None
    ranges = [[0, *range(m, c + 1)] if m <= c else [0] for c, m in zip(caps, mins, strict=True)]
    for homes in itertools.product(*ranges):
        if sum(homes) != target:
            continue
        if sum(h for h, b in zip(homes, buurt, strict=True) if b) > buurt_cap:
            continue
        value = sum(h * s for h, s in zip(homes, scores, strict=True))
        best = value if best is None else max(best, value)
    return best


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.lists(
        st.tuples(st.integers(0, 7), st.integers(1, 4), st.integers(1, 9), st.booleans()),
        min_size=1,
        max_size=4,
    ),
    target=st.integers(0, 20),
    buurt_cap=st.integers(0, 12),
)
def test_matches_brute_force_on_random_tiny_instances(data, target, buurt_cap):
    caps, mins, scores, in_buurt = zip(*data, strict=True)
    scores = [s / 10 for s in scores]
    inst = make_instance(
        [
            {"capacity": c, "min_homes": m, "suitability": s, "buurt_id": "B" if b else None}
            for c, m, s, b in zip(caps, mins, scores, in_buurt, strict=True)
        ],
        buurten=[{"buurt_id": "B", "name": None, "dwellings": 100, "cap": buurt_cap}],
        target_homes=target,
    )
    # With the model's capacities: a plot whose capacity is below its minimum is ineligible.
    inst.plots["eligible"] = inst.plots["capacity"] >= inst.plots["min_homes"]
    result = solve(inst)
    best = _brute_force(caps, mins, scores, in_buurt, buurt_cap, target)
    if best is None:
        assert result.status == "SHORTFALL"
        assert result.total_homes < target
    else:
        assert result.status == "OPTIMAL"
        assert result.objective == pytest.approx(best, abs=1e-6)


def test_agreed_project_above_its_buurt_cap_is_infeasible_and_named():
    inst = make_instance(
        [{"capacity": 200, "fixed_homes": 120.0, "buurt_id": "B1"}, {"capacity": 50}],
        buurten=[{"buurt_id": "B1", "name": None, "dwellings": 3000, "cap": 90}],
        target_homes=150,
    )
    r = solve(inst)
    assert r.status == "INFEASIBLE"
    assert r.total_homes == 0
    lines, binding = explain_shortfall(inst, r, SolveOptions.from_scenario(inst))
    assert any("buurt B1 hold 120 homes, more than its cap of 90" in line for line in lines)
    assert [b["family"] for b in binding] == ["neighbourhood"]


def test_demand_without_listed_travel_pairs_is_not_a_crash():
    inst = make_instance(
        [{"capacity": 10}],
        regions=[{"region_id": "C1", "demand": 5}, {"region_id": "C2"}],
        travel=[("C2", 0, 1.0)],
        target_homes=5,
    )
    r = solve(inst)
    assert r.status == "INFEASIBLE"
    _, binding = explain_shortfall(inst, r, SolveOptions.from_scenario(inst))
    assert [b["family"] for b in binding] == ["demand"]


def test_smallest_set_of_families_that_restores_the_target():
    # Either rule alone costs 5 homes; only relaxing both places all 20.
    inst = make_instance(
        [{"capacity": 10, "buurt_id": "B1"}, {"capacity": 10, "region_id": "R1"}],
        buurten=[{"buurt_id": "B1", "name": None, "dwellings": 100, "cap": 5}],
        regions=[{"region_id": "R1", "max_homes": 5}],
        target_homes=20,
    )
    r = solve(inst)
    assert (r.status, r.total_homes) == ("SHORTFALL", 10)
    lines, binding = explain_shortfall(inst, r, SolveOptions.from_scenario(inst))
    assert {b["family"]: b["homes_added"] for b in binding} == {
        "neighbourhood": 5,
        "region_bounds": 5,
    }
    assert all(b["in_smallest_set"] for b in binding)
    assert lines[-1] == (
        "The smallest change that restores all 20 homes: relax the cap on flex homes per buurt "
        "and the regional minimum/maximum homes."
    )


def test_no_relaxation_restores_a_target_beyond_all_capacity():
    inst = make_instance([{"capacity": 10}], target_homes=50)
    r = solve(inst)
    lines, _ = explain_shortfall(inst, r, SolveOptions.from_scenario(inst))
    assert "more candidate plots or capacity are needed" in lines[-1]


def test_model_pairs_keep_only_the_nearest_unlimited_service():
    inst = make_instance(
        [{"capacity": 8}, {"capacity": 8}],
        services=[
            {"type": "huisarts", "capacity": 2},
            {"type": "huisarts"},
            {"type": "huisarts"},
            {"type": "ggz", "capacity": 5},
        ],
        pairs=[
            (0, 0, "huisarts", 50.0),
            (0, 2, "huisarts", 80.0),
            (0, 1, "huisarts", 90.0),
            (0, 3, "ggz", 10.0),
            (1, 0, "huisarts", 70.0),
            (1, 3, "ggz", 20.0),
        ],
        target_homes=16,
        support={
            "min_share": 0.25,
            "max_share_per_plot": 0.5,
            "reach_m": {"huisarts": 1000, "ggz": 1000},
        },
    )
    kept = inst.model_pairs()
    # plot 0 / huisarts: only the nearest unlimited service (row 1); capacitated rows stay.
    assert kept.index.tolist() == [1, 3, 4, 5]
    r = solve(inst)
    # The result still assigns to the nearest service with room (service 0 first).
    p0 = r.assignments[(r.assignments["plot"] == 0) & (r.assignments["type"] == "huisarts")]
    assert p0.sort_values("distance_m")["service"].iloc[0] == 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    caps=st.lists(st.one_of(st.none(), st.integers(0, 6)), min_size=2, max_size=5),
    reach=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 4)), min_size=1, max_size=12),
    target=st.integers(4, 24),
)
def test_pruning_pairs_never_changes_the_optimum(caps, reach, target):
    services = [{"type": "huisarts", "capacity": c if c is not None else np.nan} for c in caps]
    pairs = sorted({(p, s % len(caps)) for p, s in reach})
    inst_args = dict(
        plots=[{"capacity": 6, "suitability": 0.1 * (i + 1)} for i in range(4)],
        services=services,
        pairs=[(p, s, "huisarts", float(10 * s + p)) for p, s in pairs],
        target_homes=target,
        support={"min_share": 0.25, "max_share_per_plot": 0.5, "reach_m": {"huisarts": 500}},
    )
    pruned = AllocationModel(make_instance(**inst_args)).solve()
    full_inst = make_instance(**inst_args)
    full_inst._model_pairs = full_inst.pairs
    full = AllocationModel(full_inst).solve()
    assert pruned.status == full.status
    assert pruned.total_homes == full.total_homes
    if pruned.objective is not None:
        assert pruned.objective == pytest.approx(full.objective, abs=1e-6)
