"""Sensitivity sweeps: one scenario over a grid of parameter values, in parallel.

Every grid point is an ordinary run (its own run folder, checked like any other) with dotted-key
overrides. Points run on a local process pool, or on a Dask distributed cluster when a scheduler
address is given: Dask's ``Client.get_executor()`` is a ``concurrent.futures.Executor`` too, so
both take exactly the same code path. The sweep writes ``sweep.csv`` (one row per point: the
parameter values and the KPIs) and ``sweep.png`` (the KPIs against the first parameter, a line
per value of the second).
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from planner.batch import _atomic_text
from planner.errors import FlexplanError, ScenarioError

KPI_COLUMNS = [
    "status",
    "homes",
    "support_homes",
    "plots_used",
    "objective",
    "gap",
    "total_cost_eur",
    "solve_seconds",
]
CHART_KPIS = [
    ("homes", "homes placed"),
    ("support_homes", "support homes"),
    ("plots_used", "plots used"),
    ("objective", "objective"),
]


def parse_params(items: list[str]) -> dict[str, list[Any]]:
    """``key=v1,v2,...`` strings -> {key: [values]} (values parsed as YAML scalars)."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not key or not values.strip():
            raise ScenarioError(
                f"--param '{item}': expected KEY=V1,V2,... e.g. support.reach_m.huisarts=1000,1500"
            )
        if key in grid:
            raise ScenarioError(f"--param {key} is given twice; list all its values once")
        grid[key] = [yaml.safe_load(v.strip()) for v in values.split(",") if v.strip()]
    if not grid:
        raise ScenarioError("a sweep needs at least one --param KEY=V1,V2,...")
    return grid


def grid_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination, in the order the values were given."""
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def _slug(point: dict[str, Any]) -> str:
    text = "_".join(f"{k.split('.')[-1]}-{v}" for k, v in point.items())
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text)[:120]


def run_point(scenario_path: str, point: dict[str, Any], out_dir: str) -> dict[str, Any]:
    """One grid point as a normal run; failures come back as a row, never as an exception."""
    from planner.pipeline import apply_overrides, run_scenario
    from planner.scenario import load_scenario

    row: dict[str, Any] = {**point, "run_dir": out_dir}
    try:
        scenario = apply_overrides(load_scenario(scenario_path), point)
        outcome = run_scenario(scenario, out_dir)
    except FlexplanError as exc:
        return {**row, "status": "ERROR", "error": " ".join(str(exc).split())}
    except Exception as exc:  # one bad point must not stop the sweep
        return {**row, "status": "ERROR", "error": f"internal error: {type(exc).__name__}: {exc}"}
    return {**row, **{k: outcome.kpis.get(k) for k in KPI_COLUMNS}, "error": ""}


@contextlib.contextmanager
def executor_for(workers: int, scheduler: str | None) -> Iterator[Executor]:
    """A local process pool, or a Dask cluster's executor: the same interface for both."""
    if scheduler is None:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            yield pool
        return
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - a declared dependency
        raise FlexplanError("--scheduler needs the 'distributed' package") from None
    try:
        client = Client(scheduler, timeout="10s")
    except OSError as exc:
        raise FlexplanError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    try:
        yield client.get_executor()
    finally:
        client.close()


def run_sweep(
    scenario_path: Path,
    grid: dict[str, list[Any]],
    out_dir: Path,
    *,
    workers: int = 2,
    scheduler: str | None = None,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> pd.DataFrame:
    """Run every grid point; write sweep.csv and sweep.png; return the table."""
    from planner.scenario import load_scenario

    load_scenario(scenario_path)  # fail fast on a bad scenario, before starting workers
    points = grid_points(grid)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: dict[int, dict[str, Any]] = {}
    with executor_for(workers, scheduler) as pool:
        futures = {
            pool.submit(
                run_point,
                str(scenario_path.resolve()),
                point,
                str((out_dir / _slug(point)).resolve()),
            ): i
            for i, point in enumerate(points)
        }
        for future in as_completed(futures):
            rows[futures[future]] = future.result()
            if on_done is not None:
                on_done(rows[futures[future]])
    table = pd.DataFrame([rows[i] for i in range(len(points))])
    _atomic_text(out_dir / "sweep.csv", table.to_csv(index=False))
    write_chart(table, list(grid), out_dir / "sweep.png")
    return table


def write_chart(table: pd.DataFrame, params: list[str], path: Path) -> None:
    """KPIs against the first parameter; one line per value of the second, if any."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = table[table["status"] != "ERROR"]
    x, series = params[0], params[1] if len(params) > 1 else None
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), constrained_layout=True)
    for ax, (kpi, label) in zip(axes.ravel(), CHART_KPIS, strict=True):
        groups = ok.groupby(series, sort=False) if series else [(None, ok)]
        for value, group in groups:
            ax.plot(
                group[x].astype(str) if not _numeric(group[x]) else group[x],
                pd.to_numeric(group[kpi], errors="coerce"),
                marker="o",
                label=None if series is None else f"{series} = {value}",
            )
        ax.set_title(label)
        ax.set_xlabel(x)
        ax.grid(True, alpha=0.3)
        if series is not None:
            ax.legend(fontsize="small")
    failed = len(table) - len(ok)
    fig.suptitle(f"Sweep over {', '.join(params)}" + (f" ({failed} failed)" if failed else ""))
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)


def _numeric(values: pd.Series) -> bool:
    return pd.to_numeric(values, errors="coerce").notna().all()
