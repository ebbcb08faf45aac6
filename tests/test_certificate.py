"""Re-runs (``--hint-from``): an earlier run's LP prices bound the changed model (Lagrangian bound),
so a re-run whose start is within the gap of that bound needs no solve; and the validated layers
it kept spare a re-run reading and checking the files that did not change."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ortools.math_opt.python import mathopt

from benchmarks import national
from planner.check import verify
from planner.instance import build_instance
from planner.model import build
from planner.model.certificate import (
    Arrays,
    best_bound,
    by_name,
    lagrangian_bound,
    prices_by_row,
)
from planner.pipeline import apply_overrides, load_layers, run_scenario
from planner.rerun import read_earlier
from planner.scenario import load_scenario
from tests.reruns import first_national_run


def _lp(model: mathopt.Model) -> mathopt.SolveResult:
    for var in model.variables():
        var.integer = False
    res = mathopt.solve(model, mathopt.SolverType.HIGHS)
    assert res.termination.reason == mathopt.TerminationReason.OPTIMAL
    return res


def _duals(arrays: Arrays, res: mathopt.SolveResult) -> np.ndarray:
    by_id = {c.id: value for c, value in res.dual_values().items()}
    return np.array([by_id[int(i)] for i in arrays.row_ids])


def _tiny_facility_model(maximize: bool) -> mathopt.Model:
    """Three sites, two customers: open sites (fixed cost) and serve all demand."""
    model = mathopt.Model(name="tiny")
    opened = [model.add_binary_variable(name=f"open[{i}]") for i in range(3)]
    serve = {
        (i, j): model.add_variable(lb=0, name=f"x[{i},{j}]") for i in range(3) for j in range(2)
    }
    demand, capacity = [30, 50], [40, 45, 60]
    fixed, cost = [100, 120, 150], [[2, 5], [4, 1], [3, 3]]
    for j in range(2):
        model.add_linear_constraint(sum(serve[i, j] for i in range(3)) == demand[j], name=f"d[{j}]")
    for i in range(3):
        model.add_linear_constraint(
            sum(serve[i, j] for j in range(2)) <= capacity[i] * opened[i], name=f"c[{i}]"
        )
    total = sum(fixed[i] * opened[i] for i in range(3)) + sum(
        cost[i][j] * serve[i, j] for i in range(3) for j in range(2)
    )
    if maximize:
        model.maximize(-total)
    else:
        model.minimize(total)
    return model


@pytest.mark.parametrize("maximize", [False, True])
def test_the_lp_prices_give_back_the_lp_optimum(maximize: bool) -> None:
    model = _tiny_facility_model(maximize)
    res = _lp(model)
    arrays = Arrays.of(model.export_model())
    assert lagrangian_bound(arrays, _duals(arrays, res)) == pytest.approx(res.objective_value())


@pytest.mark.parametrize("maximize", [False, True])
def test_any_prices_bound_the_integer_optimum(maximize: bool) -> None:
    model = _tiny_facility_model(maximize)
    mip = mathopt.solve(model, mathopt.SolverType.HIGHS).objective_value()
    arrays = Arrays.of(model.export_model())
    lp_prices = _duals(arrays, _lp(_tiny_facility_model(maximize)))
    rng = np.random.default_rng(7)
    for _ in range(50):
        y = lp_prices * rng.uniform(0.0, 2.0, len(lp_prices)) + rng.normal(0, 3, len(lp_prices))
        bound = lagrangian_bound(arrays, y)
        if maximize:
            assert bound >= mip - 1e-6
        else:
            assert bound <= mip + 1e-6


def test_prices_follow_the_rows_by_name() -> None:
    arrays = Arrays.of(_tiny_facility_model(False).export_model())
    y = prices_by_row(arrays, {"d[1]": 4.0, "gone[7]": 9.0})
    assert y.tolist() == [0.0, 4.0, 0.0, 0.0, 0.0]


@settings(max_examples=200, deadline=None)
@given(
    names=st.lists(st.sampled_from(["", "a", "b", "c[1]", "ü[2]", "d"]), max_size=12),
    values=st.dictionaries(
        st.sampled_from(["", "a", "c[1]", "ü[2]", "e"]),
        st.one_of(st.floats(allow_nan=True), st.just(float("nan"))),
        max_size=5,
    ),
)
def test_values_by_name_are_a_dict_lookup(names: list[str], values: dict[str, float]) -> None:
    """Each name's value, 0 where there is none, it is NaN or the name is empty."""
    out = by_name(np.array(names, dtype=object), values)
    expected = [
        0.0 if not n or values.get(n) is None or math.isnan(values[n]) else values[n] for n in names
    ]
    assert out.tolist() == expected


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return first_national_run(tmp_path_factory.mktemp("rerun"), seed=2)


def test_every_model_row_is_named(first_run: tuple[Path, Path]) -> None:
    scenario = load_scenario(first_run[0])
    inst = build_instance(load_layers(scenario), scenario)
    names = list(build(inst).model.export_model().linear_constraints.names)
    assert all(names) and len(set(names)) == len(names)


def test_the_first_run_keeps_prices_that_bound_its_own_model(first_run: tuple[Path, Path]) -> None:
    scenario_path, first = first_run
    prices = read_earlier(first).prices
    assert prices and len(prices) == 2  # the LP relaxation's and the pricing LP's
    assert all(math.isfinite(v) for rows in prices for v in rows.values())
    scenario = load_scenario(scenario_path)
    inst = build_instance(load_layers(scenario), scenario)
    bound, maximize, _ = best_bound(build(inst).arrays(), prices)
    assert maximize
    lp = _lp(build(inst).model).objective_value()
    objective = _kpi(first, "objective")
    # a valid bound (>= the LP optimum >= the allocation), and as tight as the LP
    assert bound >= lp - 1e-6 >= objective - 1e-6
    assert bound == pytest.approx(lp, rel=1e-6)


def _kpi(run: Path, key: str) -> float:
    return json.loads((run / "kpis.json").read_text())[key]


def _phases(run: Path) -> list[str]:
    return [p["phase"] for p in json.loads((run / "manifest.json").read_text())["solver_phases"]]


def test_a_rerun_within_the_gap_needs_no_solve(
    first_run: tuple[Path, Path], tmp_path: Path
) -> None:
    scenario_path, first = first_run
    scenario = apply_overrides(load_scenario(scenario_path), {"support.reach_m.huisarts": 1400})
    warm = run_scenario(scenario, tmp_path / "warm", hint_from=first)
    cold = run_scenario(scenario, tmp_path / "cold")
    assert _phases(tmp_path / "warm") == ["certificate"]
    assert "certificate" not in _phases(tmp_path / "cold")
    gap = scenario.solver.relative_gap
    assert warm.kpis["status"] == "OPTIMAL" and 0 <= warm.kpis["gap"] <= gap
    # the proven bound holds for the cold run's allocation too
    assert cold.kpis["objective"] <= warm.kpis["best_bound"] + 1e-6
    assert warm.kpis["objective"] >= cold.kpis["objective"] * (1 - gap) - 1e-6


def test_a_rerun_beyond_the_gap_is_solved(first_run: tuple[Path, Path], tmp_path: Path) -> None:
    scenario_path, first = first_run
    strict = apply_overrides(load_scenario(scenario_path), {"solver.relative_gap": 1e-7})
    run_scenario(strict, tmp_path / "strict", hint_from=first)
    assert "certificate" not in _phases(tmp_path / "strict")


def test_a_run_folder_without_prices_still_serves_as_hint(
    first_run: tuple[Path, Path], tmp_path: Path
) -> None:
    scenario_path, first = first_run
    bare = tmp_path / "bare"
    shutil.copytree(first, bare)
    shutil.rmtree(bare / "reuse")
    out = run_scenario(load_scenario(scenario_path), tmp_path / "again", hint_from=bare)
    assert "certificate" not in _phases(tmp_path / "again")
    assert out.kpis["status"] == "OPTIMAL"


def test_a_start_that_breaks_a_rule_is_not_certified(first_run: tuple[Path, Path]) -> None:
    from planner.model import AllocationModel, SolveOptions
    from planner.pipeline import read_allocation

    scenario_path, first = first_run
    scenario = load_scenario(scenario_path)
    inst = build_instance(load_layers(scenario), scenario)
    earlier = read_allocation(first)
    # every support home moved onto one plot: the target still holds, the rules do not
    pid = next(iter(earlier))
    broken = {p: (h, 0) for p, (h, _) in earlier.items()}
    broken[pid] = (earlier[pid][0], sum(s for _, s in earlier.values()))
    options = SolveOptions.from_scenario(inst, hint=broken, prices=read_earlier(first).prices)
    result = AllocationModel(inst, options).solve()
    assert "certificate" not in [p["phase"] for p in result.phases]
    assert verify(inst, result) == []


# --- validated layers kept for a re-run -------------------------------------------------------


def test_a_rerun_reads_only_the_layers_that_changed(
    first_run: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import geodata.contract

    scenario_path, first = first_run
    kept = json.loads((first / "reuse" / "layers.json").read_text())
    assert set(kept) == {"plots", "services", "neighbourhoods", "regions"}
    # a copy of the instance with one plot less: only plots.gpkg differs
    changed = tmp_path / "instance"
    shutil.copytree(scenario_path.parent, changed)
    plots = gpd.read_file(changed / "plots.gpkg")
    (changed / "plots.gpkg").unlink()
    plots.iloc[1:].to_file(changed / "plots.gpkg", layer="plots", driver="GPKG")
    read: list[str] = []
    real = geodata.contract.load_layer

    def counting(kind: str, *args: object, **kwargs: object) -> object:
        read.append(kind)
        return real(kind, *args, **kwargs)

    monkeypatch.setattr(geodata.contract, "load_layer", counting)
    scenario = load_scenario(changed / scenario_path.name)
    warm = run_scenario(scenario, tmp_path / "warm", hint_from=first)
    assert read == ["plots"]
    # the unchanged layers' Parquet files are copied over, the changed one written anew
    for kind in kept:
        same = (tmp_path / "warm" / "reuse" / f"{kind}.parquet").read_bytes() == (
            first / "reuse" / f"{kind}.parquet"
        ).read_bytes()
        assert same == (kind != "plots"), kind
        linked = (tmp_path / "warm" / "reuse" / f"{kind}.parquet").stat().st_ino == (
            first / "reuse" / f"{kind}.parquet"
        ).stat().st_ino
        assert linked == (kind != "plots"), kind  # one file system here: hard links
    read.clear()
    cold = run_scenario(scenario, tmp_path / "cold")
    assert sorted(read) == sorted(kept)
    # the same inputs, whichever way they came (the allocations may differ: see above)
    outcome = ["homes", "support_homes", "selected", "reason", "load"]
    for name in ("plots", "services"):
        a = gpd.read_file(tmp_path / "warm" / "allocation.gpkg", layer=name)
        b = gpd.read_file(tmp_path / "cold" / "allocation.gpkg", layer=name)
        pd.testing.assert_frame_equal(
            a.drop(columns=outcome, errors="ignore"), b.drop(columns=outcome, errors="ignore")
        )
    assert warm.kpis["homes"] == cold.kpis["homes"]


def test_a_kept_layer_comes_back_exactly_as_validated(first_run: tuple[Path, Path]) -> None:
    from planner.pipeline import load_layers_keyed

    scenario = load_scenario(first_run[0])
    fresh, _ = load_layers_keyed(scenario)
    kept, _ = load_layers_keyed(scenario, first_run[1])
    for kind, frame in fresh.items():
        again = kept[kind]
        assert str(again.crs) == str(frame.crs) == "EPSG:28992"
        assert list(again.dtypes.astype(str)) == list(frame.dtypes.astype(str))
        for column in frame.columns.drop("geometry"):
            assert again[column].map(type).tolist() == frame[column].map(type).tolist()
            pd.testing.assert_series_equal(again[column], frame[column])
        assert again.geometry.geom_equals_exact(frame.geometry, 0).all()


def test_a_damaged_layer_cache_is_read_from_the_file(
    first_run: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from planner.pipeline import load_layers_keyed

    scenario_path, first = first_run
    damaged = tmp_path / "damaged"
    shutil.copytree(first, damaged)
    (damaged / "reuse" / "services.parquet").write_bytes(b"not parquet")
    with caplog.at_level(logging.WARNING, logger="planner.rerun"):
        layers, _ = load_layers_keyed(load_scenario(scenario_path), damaged)
    assert "services layer" in caplog.text and "unreadable" in caplog.text
    assert len(layers["services"]) > 0


# --- the pricing LP: derived from the solved model, kept on a re-run while still optimal -----


@pytest.mark.parametrize("seed", [2, 3])
def test_the_derived_pricing_lp_is_the_model_built_without_project_sizes(
    tmp_path: Path, seed: int
) -> None:
    """The pricing LP is derived from the solved model's arrays; it must be the LP of the model
    built with minimum project sizes relaxed (planner.model.build's own relax), every used plot
    open."""
    from planner.model import AllocationModel, SolveOptions
    from planner.why_unused import _derived_lp, why_unused_priced

    scenario = load_scenario(national.generate(200, tmp_path / "n", seed=seed))
    inst = build_instance(load_layers(scenario), scenario)
    model = AllocationModel(inst, SolveOptions.from_scenario(inst))
    result = model.solve()
    assert model.main is not None
    derived = _derived_lp(inst, result, model.main).arrays
    relaxed = build(inst, relax=frozenset({"min_homes"}))
    for p, used in relaxed.vars.used.items():
        if result.homes[p] > 0:
            used.lower_bound = 1.0
    expected = Arrays.of(relaxed.model.export_model())
    assert (derived.row_names == expected.row_names).all()
    assert (derived.var_names == expected.var_names).all()
    assert (derived.matrix != expected.matrix).nnz == 0
    for field in ("objective", "lx", "ux", "lr", "ur"):
        assert np.array_equal(getattr(derived, field), getattr(expected, field)), field
    # and it explains: every unused eligible plot gets a reason from it
    whys, _ = why_unused_priced(inst, result, model.main)
    unused = (result.homes == 0) & inst.plots["eligible"].to_numpy()
    assert all(whys[p] is not None for p in np.flatnonzero(unused)) and unused.sum() > 100


def test_the_lps_own_solution_is_still_optimal_and_a_changed_one_is_not() -> None:
    from planner.model.certificate import still_optimal

    model = _tiny_facility_model(False)
    res = _lp(model)
    arrays = Arrays.of(model.export_model())
    x = np.array([res.variable_values()[v] for v in model.variables()])
    y = _duals(arrays, res)
    keep = np.ones(len(x), dtype=bool)
    assert still_optimal(arrays, keep, x, y)
    cheaper = Arrays.of(model.export_model())
    cheaper.objective[np.flatnonzero(x == 0)[0]] -= 50.0  # an unused column now pays
    assert not still_optimal(cheaper, keep, x, y)
    moved = x.copy()
    moved[np.argmax(x)] += 1.0  # breaks a demand row
    assert not still_optimal(arrays, keep, moved, y)
    assert not still_optimal(arrays, keep, x, y * 0.5)  # prices no longer balance the costs


def test_a_rerun_keeps_the_earlier_pricing_lp_while_it_is_optimal(
    first_run: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    scenario_path, first = first_run
    with caplog.at_level(logging.INFO, logger="planner.why_unused"):
        run_scenario(load_scenario(scenario_path), tmp_path / "again", hint_from=first)
    assert "kept from the earlier run" in caplog.text
    # the same reasons; a certified re-run only mentions its (LP) gap where the gap matters
    reasons = [
        gpd.read_file(run / "allocation.gpkg", layer="plots")["reason"]
        .fillna("")
        .str.replace(r", or left out within the solver's optimality gap \(.*\)$", "", regex=True)
        .tolist()
        for run in (first, tmp_path / "again")
    ]
    assert reasons[0] == reasons[1]
    caplog.clear()
    # a shorter reach takes care pairs the earlier LP used: its solution no longer holds
    shorter = apply_overrides(load_scenario(scenario_path), {"support.reach_m.huisarts": 1000})
    with caplog.at_level(logging.INFO, logger="planner.why_unused"):
        run_scenario(shorter, tmp_path / "shorter", hint_from=first)
    assert "not optimal here; solving it" in caplog.text


def _changed(first_run: tuple[Path, Path], change: str, folder: Path) -> Any:
    """The first run's scenario after a small change: a plot added next to the most used one,
    that plot removed, or a shorter huisarts reach."""
    scenario_path, first = first_run
    busiest = national._removed_plot(first)
    if change == "added":
        return load_scenario(national._with_plot(scenario_path, busiest, folder)[0])
    if change == "removed":
        return load_scenario(national._without_plot(scenario_path, busiest, folder))
    return apply_overrides(load_scenario(scenario_path), {"support.reach_m.huisarts": 1000})


@pytest.mark.parametrize("change", ["added", "removed", "shorter reach"])
def test_a_rerun_solves_the_pricing_lp_from_the_earlier_prices(
    first_run: tuple[Path, Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    change: str,
) -> None:
    """Where the earlier pricing LP no longer holds, the re-run solves it over the columns the
    earlier prices leave in play (column generation) and gives the reasons the whole LP gives."""
    import logging

    from planner import why_unused

    scenario = _changed(first_run, change, tmp_path / "instance")
    with caplog.at_level(logging.INFO, logger="planner.why_unused"):
        run_scenario(scenario, tmp_path / "warm", hint_from=first_run[1])
    assert "solved from the earlier run's prices" in caplog.text
    monkeypatch.setattr(why_unused, "RESTRICTED_ROUNDS", 0)  # no rounds: the whole LP
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="planner.why_unused"):
        run_scenario(scenario, tmp_path / "whole", hint_from=first_run[1])
    assert "solved from the earlier run's prices" not in caplog.text
    reasons = [
        gpd.read_file(tmp_path / run / "allocation.gpkg", layer="plots")["reason"].tolist()
        for run in ("warm", "whole")
    ]
    assert reasons[0] == reasons[1]
    assert sum(r is not None for r in reasons[0]) > 100


def test_columns_that_pay_at_the_restricted_lps_prices_are_added_until_none_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Starting from prices that leave only a poor allocation's columns in play, the restricted
    LP takes more rounds and ends at the whole LP's optimum; out of rounds, it gives up."""
    from planner.model.certificate import solve_lp, still_optimal
    from planner.why_unused import _from_earlier_prices

    model = _tiny_facility_model(False)
    arrays = Arrays.of(model.export_model())
    whole = _lp(model).objective_value()
    names = arrays.var_names.tolist()
    # serve everyone from sites 1 and 2 (feasible, not optimal: the LP's best serves customer 0
    # from site 0); prices of 0 make nothing else pay at first
    allocated = np.array(["[0" not in name for name in names])
    keep = np.ones(len(names), dtype=bool)
    earlier = (np.zeros(len(names)), np.zeros(len(arrays.row_ids)))
    params = mathopt.SolveParameters(lp_algorithm=mathopt.LPAlgorithm.DUAL_SIMPLEX)
    solves = []

    def counted(*args: Any) -> Any:
        solves.append(1)
        return solve_lp(*args)

    monkeypatch.setattr("planner.why_unused.solve_lp", counted)
    solution = _from_earlier_prices(model.name, arrays, keep, allocated, earlier, params)
    assert solution is not None and len(solves) > 1
    assert still_optimal(arrays, keep, solution.x, solution.y)
    assert float(arrays.objective @ solution.x) == pytest.approx(whole)
    monkeypatch.setattr("planner.why_unused.RESTRICTED_ROUNDS", 1)
    assert _from_earlier_prices(model.name, arrays, keep, allocated, earlier, params) is None


def test_kept_prices_come_back_by_source_and_a_missing_one_is_refused(
    first_run: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Prices by source (sorted) and the pricing LP's values, as the files hold them; a missing
    value makes the file unreadable (logged): the solver then proves the gap."""
    import logging

    first = first_run[1]
    table = pd.read_parquet(first / "reuse" / "prices.parquet")
    expected = [
        dict(zip(group["row"].astype(str), group["price"].astype(float), strict=True))
        for _, group in table.groupby("source", sort=True)
    ]
    values = pd.read_parquet(first / "reuse" / "pricing.parquet")
    earlier = read_earlier(first)
    assert earlier.prices == expected and len(expected) == 2
    assert [list(prices) for prices in earlier.prices] == [list(prices) for prices in expected]
    assert earlier.pricing is not None and earlier.pricing.rows == expected[1]
    assert earlier.pricing.values == dict(
        zip(values["column"].astype(str), values["value"].astype(float), strict=True)
    )
    damaged = tmp_path / "damaged"
    shutil.copytree(first, damaged)
    table.assign(price=table["price"].where(table.index != 3)).to_parquet(
        damaged / "reuse" / "prices.parquet"
    )
    with caplog.at_level(logging.WARNING, logger="planner.rerun"):
        assert read_earlier(damaged).prices is None
    assert "unreadable" in caplog.text


def test_the_pricing_lp_finds_its_columns_by_the_builders_ids(first_run: tuple[Path, Path]) -> None:
    """_Columns (why_unused) reads column positions from PlotVars' id arrays: the same as the
    positions of the model's Variable objects."""
    from planner.why_unused import _Columns

    scenario = load_scenario(first_run[0])
    inst = build_instance(load_layers(scenario), scenario)
    built = build(inst)
    arrays = built.arrays()
    cols = _Columns.of(inst, built.vars, arrays)
    v = built.vars

    def at(variables: Any) -> np.ndarray:
        return np.searchsorted(arrays.var_ids, [var.id for var in variables])

    assert np.array_equal(cols.plots, list(v.used))
    assert np.array_equal(cols.used, at(v.used.values()))
    assert np.array_equal(cols.modules, at(v.modules[p] for p in v.used))
    assert np.array_equal(cols.support[list(v.support)], at(v.support.values()))
    assert (cols.support >= 0).sum() == len(v.support) > 0
    assert np.array_equal(cols.assign, at(v.assign.values())) and len(cols.assign) > 100
    assert np.array_equal(
        arrays.var_names[cols.used],
        [f"used[{p}]" for p in inst.plots["plot_id"].to_numpy()[list(v.used)]],
    )


def test_a_kept_file_is_copied_where_it_cannot_be_linked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from planner.rerun import _link_or_copy

    source = tmp_path / "a.parquet"
    source.write_bytes(b"kept")
    _link_or_copy(source, tmp_path / "linked.parquet")
    assert (tmp_path / "linked.parquet").stat().st_ino == source.stat().st_ino

    def refuse(*args: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", refuse)
    _link_or_copy(source, tmp_path / "copied.parquet")
    assert (tmp_path / "copied.parquet").read_bytes() == b"kept"
    assert (tmp_path / "copied.parquet").stat().st_ino != source.stat().st_ino
