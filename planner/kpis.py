"""Headline figures of a run; every one can be recomputed from the run folder's files."""

from __future__ import annotations

from typing import Any

import numpy as np

from planner.instance import Instance, sum_by
from planner.model import total_cost
from planner.result import Result


def _num(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value


def per_region(inst: Instance, result: Result) -> list[dict[str, Any]]:
    if inst.regions.empty:
        return []
    homes = sum_by(inst.plots["region_id"], result.homes)
    return [
        {
            "region_id": row.region_id,
            "name": row.name,
            "homes": int(homes.get(row.region_id, 0)),
            "min_homes": _num(row.min_homes),
            "max_homes": _num(row.max_homes),
            "demand": _num(row.demand),
        }
        for row in inst.regions.itertuples(index=False)
    ]


def per_service_type(inst: Instance, result: Result) -> list[dict[str, Any]]:
    rows = []
    services = inst.services
    load = result.assignments.groupby("type")["residents"].sum()
    for kind, group in services.groupby("type", sort=True):
        capacity = group["capacity"]
        rows.append(
            {
                "type": kind,
                "services": len(group),
                "capacity": None if capacity.isna().any() else float(capacity.sum()),
                "load": int(load.get(kind, 0)),
                "support_homes_in_reach": int(load.get(kind, 0)),
                "required": kind in inst.scenario.support.reach_m,
            }
        )
    return rows


def compute_kpis(inst: Instance, result: Result) -> dict[str, Any]:
    """The kpis.json content."""
    homes = result.total_homes
    return {
        "scenario": inst.scenario.name,
        "status": result.status,
        "objective_kind": inst.scenario.objective,
        "target_homes": inst.scenario.target_homes,
        "homes": homes,
        "support_homes": result.total_support,
        "support_share": result.total_support / homes if homes else None,
        "plots_used": result.plots_used,
        "plots_eligible": int(inst.plots["eligible"].sum()),
        "plots_total": len(inst.plots),
        "objective": result.objective,
        "best_bound": result.best_bound,
        "gap": result.gap,
        "solve_seconds": round(result.solve_seconds, 3),
        "solver": result.solver,
        "total_cost_eur": total_cost(inst, result.homes, result.flows),
        "per_region": per_region(inst, result),
        "per_service_type": per_service_type(inst, result),
        "reach": inst.reach_stats or {"mode": "straight"},
        "explanation": list(result.explanation),
        "binding": list(result.binding),
    }
