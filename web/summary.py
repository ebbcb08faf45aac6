"""Headline KPIs of a run for the list page and the API, read from the run folder's files.

The share of support homes with every required service type within reach is recomputed from
``support_assignments.csv`` (each support home is assigned, per required type, to a service in
reach) rather than trusted from one number, so a planner can defend it from the files alone.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import pandas as pd

from web.store import Run

HEADLINE = (
    "homes",
    "target_homes",
    "support_homes",
    "plots_used",
    "reach_share",
    "total_cost_eur",
    "gap",
)


def headline(run: Run) -> dict[str, Any]:
    """The KPIs shown per scenario: homes, support homes, plots, reach share, cost, gap."""
    kpis = run.kpis()
    out = {key: _number(kpis.get(key)) for key in HEADLINE if key != "reach_share"}
    out["status"] = kpis.get("status")
    out["reach_share"] = reach_share(run.path, kpis)
    return out


def required_types(kpis: dict[str, Any]) -> list[str]:
    rows = kpis.get("per_service_type") or []
    return sorted(str(r["type"]) for r in rows if isinstance(r, dict) and r.get("required"))


def reach_share(folder: Path, kpis: dict[str, Any]) -> float | None:
    """Share of support homes that have a service of every required type within reach."""
    support = _number(kpis.get("support_homes"))
    types = required_types(kpis)
    if not support:
        return None
    if not types:
        return 1.0
    path = folder / "support_assignments.csv"
    if path.is_file():
        covered = _covered(str(path), path.stat().st_mtime_ns, tuple(types))
        return min(1.0, covered / support)
    rows = [r for r in kpis.get("per_service_type") or [] if r.get("type") in types]
    in_reach = [_number(r.get("support_homes_in_reach")) or 0 for r in rows]
    return min(in_reach) / support if in_reach else None


@functools.lru_cache(maxsize=64)
def _covered(path: str, _mtime_ns: int, types: tuple[str, ...]) -> float:
    """Support residents per plot covered by all types: the minimum over the types' sums."""
    table = pd.read_csv(path, usecols=["plot_id", "service_type", "residents"])
    table = table[table["service_type"].isin(types)]
    if table.empty:
        return 0.0
    per_type = table.pivot_table(
        index="plot_id", columns="service_type", values="residents", aggfunc="sum", fill_value=0
    ).reindex(columns=list(types), fill_value=0)
    return float(per_type.min(axis=1).sum())


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None
