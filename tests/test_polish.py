"""solver.polish (on by default): beside the root check, an LP-guided restricted MIP looks for a
better allocation than the start; it must stay feasible, never get worse, keep a valid bound and
be repeatable."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import national
from planner.check import verify
from planner.instance import Instance, build_instance
from planner.model import AllocationModel, SolveOptions
from planner.pipeline import load_layers
from planner.result import Result
from planner.scenario import load_scenario

# On this instance (200 plots, seed 3) the greedy start is proven within 1% at the root but is
# not optimal: 1,118.373 against the optimum 1,119.015 (measured, both paths verified).
PLOTS, SEED, GAP = 200, 3, 0.01


@pytest.fixture(scope="module")
def inst(tmp_path_factory: pytest.TempPathFactory) -> Instance:
    path = national.generate(PLOTS, tmp_path_factory.mktemp("polish") / "n", seed=SEED)
    scenario = load_scenario(path)
    return build_instance(load_layers(scenario), scenario)


def _solve(inst: Instance, *, gap: float, polish: bool) -> Result:
    options = SolveOptions.from_scenario(inst, relative_gap=gap, polish=polish)
    return AllocationModel(inst, options).solve()


@pytest.fixture(scope="module")
def optimum(inst: Instance) -> Result:
    return _solve(inst, gap=0.0, polish=False)


def test_without_polish_the_gap_stops_short_of_the_optimum(inst: Instance, optimum: Result) -> None:
    plain = _solve(inst, gap=GAP, polish=False)
    assert plain.objective is not None and optimum.objective is not None
    assert plain.objective < optimum.objective - 0.1  # the case polish is for
    assert "polish" not in [p["phase"] for p in plain.phases]


def test_polish_reaches_the_optimum_with_a_valid_bound(inst: Instance, optimum: Result) -> None:
    plain = _solve(inst, gap=GAP, polish=False)
    polished = _solve(inst, gap=GAP, polish=True)
    assert polished.status == "OPTIMAL"
    assert verify(inst, polished) == []
    assert polished.objective == pytest.approx(optimum.objective, rel=1e-9)
    assert polished.best_bound is not None and plain.best_bound is not None
    assert optimum.objective <= polished.best_bound + 1e-6 <= plain.best_bound + 2e-6
    assert polished.gap is not None and plain.gap is not None and polished.gap < plain.gap
    phase = next(p for p in polished.phases if p["phase"] == "polish")
    assert 0 < phase["plots_kept"] < int(inst.plots["eligible"].sum())


def test_polish_is_repeatable(inst: Instance) -> None:
    first = _solve(inst, gap=GAP, polish=True)
    again = _solve(inst, gap=GAP, polish=True)
    assert (first.homes == again.homes).all() and (first.support == again.support).all()


def test_no_polish_when_the_solve_is_exact(inst: Instance, optimum: Result) -> None:
    exact = _solve(inst, gap=0.0, polish=True)
    assert "polish" not in [p["phase"] for p in exact.phases]
    assert exact.objective == pytest.approx(optimum.objective, rel=1e-9)


def test_it_is_on_by_default_and_scenario_files_switch_it_off(tmp_path: Path) -> None:
    path = national.generate(60, tmp_path / "tiny", seed=3)
    scenario = load_scenario(path)
    assert scenario.solver.polish is True
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("solver:\n", "solver:\n  polish: false\n", 1), encoding="utf-8")
    scenario = load_scenario(path)
    assert scenario.solver.polish is False
    inst = build_instance(load_layers(scenario), scenario)
    assert SolveOptions.from_scenario(inst).polish is False


def test_one_worker_polishes_after_the_root_check_to_the_same_allocation(tmp_path: Path) -> None:
    # 200 plots seed 3 has no greedy start (no root check); 400 plots seed 5 does (measured).
    path = national.generate(400, tmp_path / "w", seed=5)
    scenario = load_scenario(path)
    other = build_instance(load_layers(scenario), scenario)
    runs = [
        AllocationModel(
            other, SolveOptions.from_scenario(other, relative_gap=GAP, workers=workers)
        ).solve()
        for workers in (1, 2)
    ]
    for run in runs:
        assert [p["phase"] for p in run.phases] == ["root_check", "polish"]
        assert verify(other, run) == []
    assert (runs[0].homes == runs[1].homes).all()
    assert (runs[0].support == runs[1].support).all()


def test_a_failing_polish_leaves_the_solve_standing(
    inst: Instance, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import planner.model.polish as polish_module

    def broken(*_args: object) -> None:
        raise RuntimeError("HiGHS went away")

    monkeypatch.setattr(polish_module, "_run", broken)
    result = _solve(inst, gap=GAP, polish=True)
    assert result.status == "OPTIMAL"
    assert verify(inst, result) == []
    assert "polish" not in [p["phase"] for p in result.phases]
    assert "polish failed" in caplog.text and "HiGHS went away" in caplog.text
