"""The `flexplan` command: validate, schema, run, batch, compare.

Only this module turns errors into one line and an exit code: 1 for bad data or scenario
(FlexplanError), 2 for wrong usage (Typer/Click), 3 for an internal error (rerun with --debug for
the traceback). Library code never prints.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from planner.commands import import_app, plots, serve, users
from planner.commands._common import err, handle_errors, out, state

app = typer.Typer(
    name="flexplan",
    help="Flexplan: allocate temporary flexible homes to plots near care and support.",
    add_completion=False,
    pretty_exceptions_enable=False,
)
if import_app.registered_commands:
    app.add_typer(import_app, name="import")
serve.register(app)
users.register(app)
plots.register(app)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )


@app.callback()
def _main(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log each stage and show the solver log.")
    ] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks of internal errors.")] = False,
) -> None:
    """Flexplan: allocate temporary flexible homes to plots near care and support."""
    state["debug"] = debug
    state["verbose"] = verbose
    _setup_logging(verbose)


def _parse_overrides(items: list[str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"'{item}' is not KEY=VALUE (e.g. support.min_share=0.3)")
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


@app.command()
@handle_errors
def validate(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
) -> None:
    """Check a scenario and all its layers without solving; prints what was found."""
    from planner.instance import build_instance
    from planner.pipeline import load_layers
    from planner.scenario import load_scenario

    sc = load_scenario(scenario)
    layers = load_layers(sc)
    inst = build_instance(layers, sc)
    plots = inst.plots
    table = Table(title=f"{sc.name}: valid", show_header=False)
    table.add_row("target homes", str(sc.target_homes))
    table.add_row("plots (eligible)", f"{len(plots)} ({int(plots['eligible'].sum())})")
    table.add_row(
        "capacity of eligible plots", str(int(plots.loc[plots["eligible"], "capacity"].sum()))
    )
    table.add_row("services", str(len(inst.services)))
    table.add_row("reach pairs", str(len(inst.pairs)))
    table.add_row("buurten / regions", f"{len(inst.buurten)} / {len(inst.regions)}")
    for kind, layer in layers.items():
        table.add_row(f"layer {kind}", f"{len(layer)} rows")
    out.print(table)


@app.command()
@handle_errors
def schema() -> None:
    """Print the JSON Schema of the scenario file (for editors and documentation)."""
    from planner.scenario import scenario_json_schema

    out.print_json(json.dumps(scenario_json_schema()))


@app.command()
@handle_errors
def run(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Run folder to write.")] = Path(
        "results/run"
    ),
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a scenario value, e.g. --set support.min_share=0.3"),
    ] = None,
    hint_from: Annotated[
        Path | None,
        typer.Option(
            "--hint-from",
            help=(
                "Re-run from an earlier run folder: start from its allocation (repaired where "
                "the change broke it) and, when its kept LP prices prove that start within "
                "solver.relative_gap, keep it without solving."
            ),
        ),
    ] = None,
) -> None:
    """Allocate the homes of one scenario and write the run folder (atomically)."""
    from planner.pipeline import apply_overrides, run_scenario
    from planner.scenario import load_scenario

    sc = load_scenario(scenario)
    if set_:
        sc = apply_overrides(sc, _parse_overrides(set_))
    with err.status("running") as status:
        outcome = run_scenario(
            sc,
            out_dir,
            verbose=state.get("verbose", False),
            progress=lambda msg: status.update(msg),
            hint_from=hint_from,
        )
    _print_summary(outcome.kpis, outcome.stage_seconds, outcome.out_dir)
    if outcome.kpis["status"] == "INFEASIBLE":
        raise typer.Exit(1)


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def _print_summary(kpis: dict[str, Any], seconds: dict[str, float], folder: Path) -> None:
    table = Table(title=f"{kpis['scenario']}: {kpis['status']}", show_header=False)
    from planner.kpis import HEADLINE

    for key in HEADLINE:
        table.add_row(key, _fmt(kpis.get(key), 6))
    table.add_row("stage seconds", ", ".join(f"{k} {v:.2f}" for k, v in seconds.items()))
    out.print(table)
    for line in kpis.get("explanation", []):
        out.print(f"- {line}", highlight=False)
    out.print(f"results: {folder}", highlight=False)
    out.print(f"report:  {folder / 'report.html'}", highlight=False)


@app.command()
@handle_errors
def batch(
    inputs: Annotated[
        list[Path], typer.Argument(help="Scenario files and/or folders of *.yaml scenarios.")
    ],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for all runs.")] = Path(
        "results/batch"
    ),
    workers: Annotated[int, typer.Option(min=1, help="Scenarios solved in parallel.")] = 1,
) -> None:
    """Run many scenarios; one folder each plus comparison.csv and comparison.html.

    A failing scenario is reported and does not stop the others; the exit code is 1 if any failed.
    """
    from planner.batch import collect_scenarios, run_batch

    files = collect_scenarios(inputs)
    rows = run_batch(files, out_dir, workers=workers, console=err)
    table = Table(title=f"batch: {len(rows)} scenarios -> {out_dir}")
    for col in ("scenario", "status", "homes", "support_homes", "plots_used", "objective", "gap"):
        table.add_column(col)
    for row in rows:
        table.add_row(
            *[
                _fmt(row.get(c))
                for c in (
                    "scenario",
                    "status",
                    "homes",
                    "support_homes",
                    "plots_used",
                    "objective",
                    "gap",
                )
            ]
        )
    out.print(table)
    failed = [r for r in rows if r["status"] == "ERROR"]
    for row in failed:
        err.print(f"[red]failed:[/] {row['scenario']}: {row['error']}", highlight=False)
    out.print(f"comparison: {out_dir / 'comparison.csv'}, {out_dir / 'comparison.html'}")
    if failed:
        raise typer.Exit(1)


@app.command()
@handle_errors
def sweep(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    param: Annotated[
        list[str],
        typer.Option(
            "--param",
            help="KEY=V1,V2,... to vary, e.g. support.reach_m.huisarts=1000,1500,2000; "
            "repeat for a grid.",
        ),
    ],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the sweep.")] = Path(
        "results/sweep"
    ),
    workers: Annotated[int, typer.Option(min=1, help="Points solved in parallel.")] = 2,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Dask scheduler address (tcp://HOST:8786) to run the points on."),
    ] = None,
) -> None:
    """Run a scenario over a grid of parameter values; writes sweep.csv and sweep.png."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from planner.sweep import grid_points, parse_params, run_sweep

    grid = parse_params(param)
    total = len(grid_points(grid))
    columns = (BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err) as progress:
        task = progress.add_task("sweep", total=total)
        table = run_sweep(
            scenario,
            grid,
            out_dir,
            workers=workers,
            scheduler=scheduler,
            on_done=lambda _row: progress.update(task, advance=1),
        )
    shown = Table(title=f"sweep: {total} points -> {out_dir}")
    cols = [*grid, "status", "homes", "support_homes", "plots_used", "objective", "gap"]
    for col in cols:
        shown.add_column(col)
    for row in table.to_dict("records"):
        shown.add_row(*[_fmt(row.get(c)) for c in cols])
    out.print(shown)
    out.print(f"table: {out_dir / 'sweep.csv'}  chart: {out_dir / 'sweep.png'}", highlight=False)
    failed = table[table["status"] == "ERROR"]
    for row in failed.to_dict("records"):
        err.print(f"[red]failed:[/] {row['run_dir']}: {row['error']}", highlight=False)
    if len(failed):
        raise typer.Exit(1)


@app.command()
@handle_errors
def compare(
    a: Annotated[Path, typer.Argument(help="First run folder.")],
    b: Annotated[Path, typer.Argument(help="Second run folder.")],
) -> None:
    """Print what differs between two runs: KPIs, region totals and plots."""
    from planner.batch import compare_runs

    diff = compare_runs(a, b)
    table = Table(title=f"{a.name} vs {b.name}")
    for col in ("KPI", a.name, b.name, "difference"):
        table.add_column(col)
    for row in diff["kpis"]:
        table.add_row(row["kpi"], _fmt(row["a"]), _fmt(row["b"]), _fmt(row["difference"]))
    out.print(table)
    if diff["regions"]:
        regions = Table(title="regions whose homes differ")
        for col in ("region_id", a.name, b.name):
            regions.add_column(col)
        for row in diff["regions"]:
            regions.add_row(row["region_id"], str(row["a"]), str(row["b"]))
        out.print(regions)
    plots = diff["plots"]
    out.print(f"{len(plots)} plots differ in homes", highlight=False)
    if plots:
        t = Table()
        for col in ("plot_id", a.name, b.name):
            t.add_column(col)
        for row in plots[:50]:
            t.add_row(row["plot_id"], str(row["a"]), str(row["b"]))
        out.print(t)
        if len(plots) > 50:
            out.print(f"... and {len(plots) - 50} more", highlight=False)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
