"""Scenario file to run folder: load, build, solve, explain, check, write.

Each stage is timed; the manifest records the seconds per stage, input checksums and versions so
any run can be reproduced and audited.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gc
import logging
import math
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from planner.errors import SolverError
from planner.scenario import LAYER_KINDS, Scenario, load_scenario

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass
class RunOutcome:
    """What a finished run returns to the CLI, batch runner and web app."""

    out_dir: Path
    kpis: dict[str, Any]
    stage_seconds: dict[str, float]


def load_layers(scenario: Scenario) -> dict[str, Any]:
    """Read and validate every layer the scenario names (EPSG:28992)."""
    return load_layers_keyed(scenario)[0]


def load_layers_keyed(
    scenario: Scenario, earlier: Path | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``load_layers``, and each file layer under its cache key (planner.rerun.layer_key).

    With ``earlier`` (a run folder), a layer it kept under the same key is taken from there
    instead of being read and checked again: a re-run after a small change reads only what
    changed.
    """
    from geodata.contract import load_layer
    from planner.rerun import KeptLayer, cached_layer, layer_key

    layers: dict[str, Any] = {}
    keyed: dict[str, KeptLayer] = {}
    for kind in LAYER_KINDS:
        ref = getattr(scenario.layers, kind)
        if ref is not None and _from_database(ref):
            from planner.proposals.layers import load_database_layer

            layers[kind] = load_database_layer(kind, str(ref.path))
        elif ref is not None:
            path = scenario.layer_path(kind)
            # a missing file (or a folder) is left to load_layer, which says what is wrong
            key = layer_key(path, ref.layer, ref.crs) if path.is_file() else None
            kept = cached_layer(earlier, kind, key) if key else None
            if kept is None:
                layers[kind] = load_layer(kind, path, layer=ref.layer, crs=ref.crs)
            else:
                log.info("re-run: %s layer unchanged, taken from %s", kind, earlier)
                layers[kind] = kept.frame
            if key:
                keyed[kind] = kept or KeptLayer(key, layers[kind])
    if scenario.support.reach_mode == "network":
        from geodata.network import read_network

        ref = scenario.layers.network
        assert ref is not None  # the scenario validator guarantees it
        layers["network"] = read_network(
            scenario.layer_path("network"),
            profile=scenario.support.network_profile,
            layer=ref.layer,
            crs=ref.crs,
        )
    return layers, keyed


def _from_database(ref: Any) -> bool:
    """A layer such as ``plots: "db:accepted"``: proposals from the database (planner.proposals)."""
    return ref is not None and str(ref.path).startswith("db:")


def _snapshot_database_layers(scenario: Scenario) -> Scenario:
    """Point ``db:`` layers at a snapshot file, so the run folder names the exact plots used."""
    if not any(_from_database(getattr(scenario.layers, kind)) for kind in LAYER_KINDS):
        return scenario
    from planner.proposals.layers import snapshot_database_layers

    return snapshot_database_layers(scenario)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def build_manifest(scenario: Scenario, stage_seconds: dict[str, float]) -> dict[str, Any]:
    from planner.rerun import sha256_file

    inputs = {}
    for kind in (*LAYER_KINDS, "network"):
        path = scenario.layer_path(kind)
        if path is not None:
            inputs[kind] = {
                "path": str(path),
                "sha256": sha256_file(path),
                "bytes": path.stat().st_size,
            }
    packages = [
        "flexplan",
        "ortools",
        "geopandas",
        "shapely",
        "pyogrio",
        "pyproj",
        "pandas",
        "numpy",
        "pydantic",
        "folium",
    ]
    return {
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "scenario": scenario.name,
        "inputs": inputs,
        "versions": {"python": platform.python_version(), **{p: _version(p) for p in packages}},
        "solver": scenario.solver.model_dump(),
        "seed": scenario.solver.seed,
        "stage_seconds": stage_seconds,
    }


def apply_overrides(scenario: Scenario, overrides: dict[str, Any]) -> Scenario:
    """A copy of the scenario with dotted-key overrides (``support.min_share=0.3``), validated."""
    from planner.scenario import scenario_from_dict

    data = scenario.model_dump(mode="json")
    for key, value in overrides.items():
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                from planner.errors import ScenarioError

                raise ScenarioError(f"override {key}: '{part}' is not a section")
        node[parts[-1]] = value
    return scenario_from_dict(
        data, source=f"{scenario.name} (with overrides)", base_dir=scenario.base_dir
    )


def read_allocation(run_dir: Path) -> dict[str, tuple[int, int]]:
    """plot_id -> (homes, support homes) of an earlier run folder (for a warm start)."""
    import pyogrio

    from planner.errors import FlexplanError

    path = Path(run_dir) / "allocation.gpkg"
    if not path.is_file():
        raise FlexplanError(f"{run_dir}: not a run folder (no allocation.gpkg) to start from")
    table = pyogrio.read_dataframe(
        path, layer="plots", columns=["plot_id", "homes", "support_homes"], read_geometry=False
    )
    return {
        str(pid): (int(h), int(s))
        for pid, h, s in zip(table["plot_id"], table["homes"], table["support_homes"], strict=True)
    }


@contextlib.contextmanager
def _spaced_collections() -> Iterator[None]:
    """Python's cyclic garbage collector runs less often during a run (gen 0 every 50,000
    allocations instead of 700): a run makes many short-lived objects while holding a large
    heap, and the collections they set off cost about 0.3 s of a 2.85 s first run at 5,000
    plots and 0.14 s of a 1.33 s re-run. The thresholds are put back afterwards."""
    before = gc.get_threshold()
    gc.set_threshold(50_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def run_scenario(
    scenario: Scenario | str | Path,
    out_dir: str | Path,
    *,
    verbose: bool = False,
    progress: Progress | None = None,
    hint_from: Path | None = None,
) -> RunOutcome:
    """Run one scenario end to end and write its run folder atomically."""
    with _spaced_collections():
        return _run_scenario(scenario, out_dir, verbose, progress, hint_from)


def _run_scenario(
    scenario: Scenario | str | Path,
    out_dir: str | Path,
    verbose: bool,
    progress: Progress | None,
    hint_from: Path | None,
) -> RunOutcome:
    from planner.check import verify
    from planner.explain import explain_shortfall, priced_plot_reasons
    from planner.export import write_run
    from planner.instance import build_instance
    from planner.kpis import compute_kpis
    from planner.model import AllocationModel, SolveOptions
    from planner.report import Display
    from planner.rerun import Earlier, Kept, read_earlier

    say = progress or (lambda _msg: None)
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = round(now - clock, 3)
        clock = now

    say("loading layers")
    scenario = _snapshot_database_layers(scenario)
    layers, keyed = load_layers_keyed(scenario, hint_from)
    lap("load")
    say("building instance (reach pairs, scores)")
    earlier = read_earlier(hint_from) if hint_from is not None else Earlier()
    inst = build_instance(layers, scenario, earlier.nearby)
    lap("instance")
    if scenario.horizon is not None:
        return _run_phased(inst, layers, out_dir, say, lap, seconds, verbose)
    say("solving")
    hint = read_allocation(hint_from) if hint_from is not None else None
    options = SolveOptions.from_scenario(inst, verbose=verbose, hint=hint, prices=earlier.prices)
    model = AllocationModel(inst, options)
    result = model.solve()
    lap("solve")
    if result.status in ("SHORTFALL", "INFEASIBLE"):
        say("explaining the shortfall")
        lines, binding = explain_shortfall(inst, result, options)
        result = dataclasses.replace(result, explanation=lines, binding=binding)
    reasons, pricing = priced_plot_reasons(inst, result, model.main, earlier.pricing)
    lap("explain")
    # a certified re-run's result was checked already, before it was taken (model._certified)
    problems = [] if result is model.verified else verify(inst, result)
    if problems:
        raise SolverError(
            f"the solver's allocation breaks {len(problems)} rule(s), first: {problems[0]}"
        )
    lap("check")
    kpis = compute_kpis(inst, result)
    manifest = build_manifest(scenario, seconds)
    manifest["solver_phases"] = _plain_phases(result.phases)  # how the allocation was found
    say("writing results")
    out = write_run(
        Path(out_dir),
        inst=inst,
        result=result,
        kpis=kpis,
        reasons=reasons,
        manifest=manifest,
        kept=Kept(
            prices={"guide": model.lp_prices, "pricing": pricing.rows if pricing else None},
            layers=keyed,
            pricing=pricing,
            nearby=inst.nearby,
            display=earlier.display if earlier.display is not None else Display(),
            gpkg=earlier.gpkg,
        ),
    )
    return RunOutcome(out_dir=out, kpis=kpis, stage_seconds=manifest["stage_seconds"])


def _plain_phases(phases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The solver's phases for the manifest; an infinite bound (none found) becomes null."""

    def plain(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    return [{key: plain(value) for key, value in phase.items()} for phase in phases]


def _run_phased(
    inst: Any,
    layers: dict[str, Any],
    out_dir: str | Path,
    say: Progress,
    lap: Callable[[str], None],
    seconds: dict[str, float],
    verbose: bool,
) -> RunOutcome:
    """The scenario has a horizon: plan per year (planner.phasing), verify, write."""
    from planner.export import write_run
    from planner.kpis import compute_phased_kpis
    from planner.model import SolveOptions
    from planner.phasing import phased_reasons, solve_phasing

    services = layers["services"]
    for column in ("open_from", "open_until"):
        if column in services.columns:
            inst.services[column] = services[column].to_numpy(dtype=float)
    say("solving the plan per year")
    result = solve_phasing(inst, SolveOptions.from_scenario(inst, verbose=verbose))
    lap("solve")
    reasons = phased_reasons(inst, result)
    lap("check")
    kpis = compute_phased_kpis(inst, result)
    manifest = build_manifest(inst.scenario, seconds)
    say("writing results")
    out = write_run(
        Path(out_dir),
        inst=inst,
        result=None,  # type: ignore[arg-type]
        kpis=kpis,
        reasons=reasons,
        manifest=manifest,
        phased=result,
    )
    return RunOutcome(out_dir=out, kpis=kpis, stage_seconds=manifest["stage_seconds"])
