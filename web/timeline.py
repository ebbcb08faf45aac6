"""A phased run's years for the map: homes standing per year and plot, and the chart's geometry.

A run is phased when its folder holds ``timeline.csv`` (see planner.export.timeline_frame); the
standing totals and targets come from the ``phasing.per_year`` block of ``kpis.json``. Plain
runs have no timeline: :func:`timeline` returns None and the map page stays as it was.
"""

from __future__ import annotations

import csv
import functools
import math
from pathlib import Path
from typing import Any

from web.store import Run

CHART_W, CHART_H = 480, 180
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 8, 10, 22
_MAX_YEAR_LABELS = 8


def timeline(run: Run) -> dict[str, Any] | None:
    """``{years, standing, target, plots: {plot_id: [homes per year]}}``, or None when plain."""
    path = run.path / "timeline.csv"
    if not path.is_file():
        return None
    per_year = (run.kpis().get("phasing") or {}).get("per_year") or []
    rows = _read_timeline(str(path), path.stat().st_mtime_ns)
    return _assemble(rows, [r for r in per_year if isinstance(r, dict)])


@functools.lru_cache(maxsize=32)
def _read_timeline(path: str, _stamp: int) -> tuple[tuple[int, str, int], ...]:
    with Path(path).open(encoding="utf-8", newline="") as handle:
        return tuple(
            (int(row["year"]), str(row["plot_id"]), int(float(row["homes"] or 0)))
            for row in csv.DictReader(handle)
        )


def _assemble(rows: tuple[tuple[int, str, int], ...], per_year: list[dict[str, Any]]) -> dict:
    years = sorted({int(r["year"]) for r in per_year} | {year for year, _, _ in rows})
    index = {year: i for i, year in enumerate(years)}
    plots: dict[str, list[int]] = {}
    for year, plot_id, homes in rows:
        plots.setdefault(plot_id, [0] * len(years))[index[year]] = homes
    standing = [sum(series[i] for series in plots.values()) for i in range(len(years))]
    target: list[int | None] = [None] * len(years)
    for record in per_year:
        i = index[int(record["year"])]
        standing[i] = int(record.get("standing", standing[i]))
        if _number(record.get("target")):
            target[i] = int(record["target"])
    return {"years": years, "standing": standing, "target": target, "plots": plots}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def chart(data: dict[str, Any]) -> dict[str, Any]:
    """Bars (standing), target ticks and axis labels in SVG user units (see CHART_W, CHART_H)."""
    years, standing, target = data["years"], data["standing"], data["target"]
    top = _nice_max(max([*standing, *(t for t in target if t is not None), 1]))
    step = (CHART_W - _LEFT - _RIGHT) / max(1, len(years))
    base = CHART_H - _BOTTOM

    def y(value: float) -> float:
        return round(base - value / top * (base - _TOP), 1)

    every = math.ceil(len(years) / _MAX_YEAR_LABELS)
    bars = []
    for i, year in enumerate(years):
        x = _LEFT + i * step
        bar = {"year": year, "x": round(x + step * 0.2, 1), "w": round(step * 0.6, 1)}
        bar.update(y=y(standing[i]), h=round(base - y(standing[i]), 1), mid=round(x + step / 2, 1))
        bar["label"] = i % every == 0 or i == len(years) - 1
        bar["target_y"] = None if target[i] is None else y(target[i])
        bar["tick"] = (round(x + step * 0.05, 1), round(x + step * 0.95, 1))
        bars.append(bar)
    ticks = [{"value": v, "y": y(v)} for v in (0, top / 2, top)]
    return {
        "width": CHART_W,
        "height": CHART_H,
        "left": _LEFT,
        "base": base,
        "bars": bars,
        "ticks": ticks,
        "right": CHART_W - _RIGHT,
    }


def _nice_max(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above ``value``."""
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value)
