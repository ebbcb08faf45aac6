"""Many scenarios in one go, and the comparison of runs.

Each scenario runs in its own worker process, so a crash or a bad file in one never stops the
others; the comparison table lists every scenario, failed ones with their error.
"""

from __future__ import annotations

import csv
import html
import json
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from planner.errors import FlexplanError, ScenarioError
from planner.kpis import HEADLINE

COLUMNS = ["scenario", "file", "status", *HEADLINE, "run_dir", "error"]


def collect_scenarios(inputs: list[Path]) -> list[Path]:
    """Scenario files from files and folders (``*.yaml``/``*.yml``, sorted)."""
    files: list[Path] = []
    for item in inputs:
        if item.is_dir():
            found = sorted([*item.glob("*.yaml"), *item.glob("*.yml")])
            if not found:
                raise ScenarioError(f"{item}: folder holds no *.yaml scenario files")
            files.extend(found)
        elif item.is_file():
            files.append(item)
        else:
            raise ScenarioError(f"{item}: no such scenario file or folder")
    return files


def _folder_names(files: list[Path]) -> list[str]:
    names: list[str] = []
    for path in files:
        name, n = path.stem, 2
        while name in names:
            name, n = f"{path.stem}-{n}", n + 1
        names.append(name)
    return names


def run_one(path: Path, out_dir: Path) -> dict[str, Any]:
    """Run one scenario; any failure becomes a row with status ERROR."""
    from planner.pipeline import run_scenario

    row: dict[str, Any] = {"scenario": out_dir.name, "file": str(path), "run_dir": str(out_dir)}
    try:
        outcome = run_scenario(path, out_dir)
    except FlexplanError as exc:
        return {**row, "status": "ERROR", "error": " ".join(str(exc).split())}
    except Exception as exc:  # a bug in one scenario must not stop the batch
        return {**row, "status": "ERROR", "error": f"internal error: {type(exc).__name__}: {exc}"}
    k = outcome.kpis
    return {
        **row,
        **{key: k.get(key) for key in COLUMNS if key in k},
        "scenario": out_dir.name,
        "error": "",
    }


def run_batch(
    files: list[Path], out_dir: Path, *, workers: int = 1, console: Console | None = None
) -> list[dict[str, Any]]:
    """Run scenarios in parallel processes with a progress bar; write the comparison files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = list(zip(files, (out_dir / n for n in _folder_names(files)), strict=True))
    rows: dict[str, dict[str, Any]] = {}
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("scenarios", total=len(jobs))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(run_one, path, folder): folder.name for path, folder in jobs}
            for future in as_completed(futures):
                row = future.result()
                rows[futures[future]] = row
                progress.update(task, advance=1, description=f"{row['scenario']}: {row['status']}")
    ordered = [rows[folder.name] for _, folder in jobs]
    write_comparison(ordered, out_dir)
    return ordered


def _atomic_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_comparison(rows: list[dict[str, Any]], out_dir: Path) -> None:
    """comparison.csv (one row per scenario) and comparison.html (the same, linked to reports)."""
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in COLUMNS})
    _atomic_text(out_dir / "comparison.csv", buffer.getvalue())
    _atomic_text(out_dir / "comparison.html", _comparison_html(rows))


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return html.escape(str(value))


def _comparison_html(rows: list[dict[str, Any]]) -> str:
    shown = [c for c in COLUMNS if c not in ("file", "run_dir")]
    head = "".join(f"<th scope='col'>{html.escape(c)}</th>" for c in shown)
    body = []
    for row in rows:
        cells = []
        for c in shown:
            if c == "scenario" and row.get("status") != "ERROR":
                name = html.escape(str(row["scenario"]))
                cells.append(f"<td><a href='{name}/report.html'>{name}</a></td>")
            else:
                cells.append(f"<td>{_cell(row.get(c))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<title>Flexplan scenario comparison</title><style>body{font-family:sans-serif;margin:2em}"
        "table{border-collapse:collapse}th,td{border:1px solid #999;padding:4px 8px;"
        "text-align:right}th{background:#eee}</style></head><body>"
        "<h1>Flexplan scenario comparison</h1><table><thead><tr>"
        + head
        + "</tr></thead><tbody>"
        + "".join(body)
        + "</tbody></table></body></html>\n"
    )


def _kpis(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "kpis.json"
    if not path.is_file():
        raise FlexplanError(f"{run_dir}: not a run folder (no kpis.json)")
    return json.loads(path.read_text(encoding="utf-8"))


def _plot_homes(run_dir: Path) -> dict[str, int]:
    import pyogrio

    table = pyogrio.read_dataframe(
        run_dir / "allocation.gpkg",
        layer="plots",
        columns=["plot_id", "homes"],
        read_geometry=False,
    )
    return dict(zip(table["plot_id"].astype(str), table["homes"].astype(int), strict=True))


def compare_runs(a: Path, b: Path) -> dict[str, list[dict[str, Any]]]:
    """KPI, region and plot differences between two run folders."""
    ka, kb = _kpis(a), _kpis(b)
    kpi_rows = []
    for key in ("status", *HEADLINE):
        va, vb = ka.get(key), kb.get(key)
        numeric = isinstance(va, int | float) and isinstance(vb, int | float)
        kpi_rows.append(
            {
                "kpi": key,
                "a": va,
                "b": vb,
                "difference": (vb - va) if numeric else ("" if va == vb else "changed"),
            }
        )
    ra = {r["region_id"]: r["homes"] for r in ka.get("per_region", [])}
    rb = {r["region_id"]: r["homes"] for r in kb.get("per_region", [])}
    regions = [
        {"region_id": r, "a": ra.get(r, 0), "b": rb.get(r, 0)}
        for r in sorted(set(ra) | set(rb))
        if ra.get(r, 0) != rb.get(r, 0)
    ]
    ha, hb = _plot_homes(a), _plot_homes(b)
    plots = [
        {"plot_id": p, "a": ha.get(p, 0), "b": hb.get(p, 0)}
        for p in sorted(set(ha) | set(hb))
        if ha.get(p, 0) != hb.get(p, 0)
    ]
    return {"kpis": kpi_rows, "regions": regions, "plots": plots}
