"""The national SYNTHETIC benchmark (benchmarks/national.py) planned over 15 years.

The national instance is copied and given a horizon (2027..2041), production per year, rising
targets and plot windows: a third of the plots close before the horizon ends (their homes must
move), a fifth open later. Windows are drawn deterministically from the seed. The run goes
through the real pipeline (``run_scenario``), so the figures are those a user gets.

    python benchmarks/phasing.py --plots 1000 [--time-limit 300] [--gap 0.01]

It prints the model size (variables, integers, constraints, non-zeros), the pipeline's stage
times and the solve's own stages (build, relaxation, restricted MIP), the peak memory (RSS of this
process), status, objective, bound and gap, the homes per target year and the homes moved. With
``--check`` the run folder also goes through the independent checker (tests/checker.py); with
``--keep-start`` the run keeps the constructive plan (planner/phasing_start.py), to check that.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.national import CACHE, cached_instance

START, YEARS = 2027, 15


def phased_instance(plots: int, seed: int, folder: Path) -> Path:
    """A copy of the national instance with plot windows and a 15-year horizon."""
    source = cached_instance(plots, seed).parent
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(source, folder)
    frame = pyogrio.read_dataframe(folder / "plots.gpkg")
    rng = np.random.default_rng(seed)
    closes = rng.random(len(frame)) < 1 / 3
    opens = ~closes & (rng.random(len(frame)) < 0.3)
    until = START + rng.integers(4, 12, len(frame))
    since = START + rng.integers(2, 8, len(frame))
    frame["available_until"] = np.where(closes, until, np.nan)
    frame["available_from"] = np.where(opens, since, np.nan)
    pyogrio.write_dataframe(frame, folder / "plots.gpkg", layer="plots", driver="GPKG")
    scenario = yaml.safe_load((folder / "scenario.yaml").read_text(encoding="utf-8"))
    target = int(scenario["target_homes"])
    end = START + YEARS - 1
    scenario["name"] += f", {YEARS} years"
    scenario["horizon"] = {
        "start": START,
        "end": end,
        "delivery_per_year": target // 4,
        "targets": {START + 2: target // 4, START + 5: target * 3 // 4, end: target},
        "permit_years": 10,
    }
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False), encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plots", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=300.0)
    parser.add_argument("--gap", type=float, default=0.01)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--check", action="store_true", help="run tests/checker.py on the run")
    parser.add_argument(
        "--keep-start",
        action="store_true",
        help="keep the constructive plan (planner/phasing_start.py) as the result, to check it",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.keep_start:
        _keep_start()
    from planner.pipeline import apply_overrides, run_scenario
    from planner.scenario import load_scenario

    folder = args.cache / f"phasing-plots{args.plots}-seed{args.seed}"
    scenario = load_scenario(phased_instance(args.plots, args.seed, folder / "instance"))
    scenario = apply_overrides(
        scenario, {"solver.time_limit_s": args.time_limit, "solver.relative_gap": args.gap}
    )
    phases = _record_phases()
    started = time.perf_counter()
    outcome = run_scenario(scenario, folder / "run")
    seconds = time.perf_counter() - started
    kpis = outcome.kpis
    phasing = kpis["phasing"]
    report = {
        "plots": args.plots,
        "years": YEARS,
        "model_size": phasing["model_size"],
        "status": kpis["status"],
        "objective": kpis["objective"],
        "best_bound": kpis["best_bound"],
        "gap": kpis["gap"],
        "solve_seconds": kpis["solve_seconds"],
        "end_to_end_seconds": round(seconds, 1),
        "stage_seconds": outcome.stage_seconds,
        "solve_stages": _stages(phases),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "homes_per_target_year": {
            str(row["year"]): [row["standing"], row["target"]]
            for row in phasing["per_year"]
            if row["target"] is not None
        },
        "homes_last_year": kpis["homes"],
        "homes_short": phasing["homes_short"],
        "region_short": sum(phasing["region_short"].values()),
        "plots_used": kpis["plots_used"],
        "homes_moved": phasing["homes_moved"],
        "relocation_cost_eur": phasing["relocation_cost_eur"],
    }
    if args.check:
        from tests.checker import check_run

        clock = time.perf_counter()
        problems = check_run(outcome.out_dir)
        report["checker"] = {
            "violations": len(problems),
            "first": problems[:5],
            "seconds": round(time.perf_counter() - clock, 1),
        }
    print(json.dumps(report, indent=2, default=str))
    return 0


def _stages(phases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The solve's stages, the years alone summed into one row, seconds rounded."""
    years = [p for p in phases if str(p["phase"]).startswith("year ")]
    out: list[dict[str, Any]] = []
    for phase in phases:
        if phase in years:
            if phase is years[0]:
                out.append(
                    {
                        "phase": f"years alone ({len(years)})",
                        "seconds": sum(p["seconds"] + p.get("build_seconds", 0) for p in years),
                        "terminations": sorted({p["termination"] for p in years}),
                        "bound": sum(p["dual_bound"] for p in years),
                    }
                )
            continue
        out.append({k: v for k, v in phase.items() if v is not None})
    for row in out:
        row["seconds"] = round(float(row["seconds"]), 1)
    return out


def _keep_start() -> None:
    """The staged solve returns its constructive plan whenever it has one."""
    from planner.phasing import PhasingModel

    def keep(self: Any, found: Any, start: Any, plan: Any, *rest: Any) -> Any:
        return found if start is None else self._from_start(start, plan, *rest)

    PhasingModel._best = keep  # type: ignore[method-assign]


def _record_phases() -> list[dict[str, Any]]:
    """The solve's own stages (PhasedResult.phases), kept from the pipeline's call."""
    import planner.phasing as phasing

    phases: list[dict[str, Any]] = []
    solve = phasing.solve_phasing

    def recording(*args: Any, **kwargs: Any) -> Any:
        result = solve(*args, **kwargs)
        phases.extend(result.phases)
        return result

    phasing.solve_phasing = recording  # type: ignore[assignment]
    return phases


if __name__ == "__main__":
    raise SystemExit(main())
