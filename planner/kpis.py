"""Headline figures of a run; every one can be recomputed from the run folder's files.

A run with a horizon reports the last year in the headline figures and every year under
``phasing.per_year``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from planner.instance import Instance, sum_by
from planner.model import total_cost
from planner.result import Result

if TYPE_CHECKING:
    from planner.phasing import PhasedResult


# The headline figures every summary shows (CLI, batch table, compare), in this order.
HEADLINE = (
    "target_homes",
    "homes",
    "support_homes",
    "plots_used",
    "objective",
    "best_bound",
    "gap",
    "total_cost_eur",
    "solve_seconds",
)


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


def per_proposer(inst: Instance, result: Result) -> list[dict[str, Any]]:
    """Per corporation (plot `proposer`): candidate plots, plots used and homes placed."""
    proposer = inst.plots["proposer"]
    known = proposer.map(lambda v: isinstance(v, str) and v != "")
    if not known.any():
        return []
    frame = pd.DataFrame({"proposer": proposer[known], "homes": result.homes[known.to_numpy()]})
    rows = []
    for name, group in frame.groupby("proposer", sort=True):
        rows.append(
            {
                "proposer": name,
                "plots": len(group),
                "plots_used": int((group["homes"] > 0).sum()),
                "homes": int(group["homes"].sum()),
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
        "per_proposer": per_proposer(inst, result),
        "reach": inst.reach_stats or {"mode": "straight"},
        "explanation": list(result.explanation),
        "binding": list(result.binding),
    }


def _last(values: np.ndarray) -> np.ndarray:
    """The last year's column of a (plots x years) array."""
    return values[:, -1] if values.size else np.zeros(len(values), dtype=int)


def phased_per_year(inst: Instance, result: PhasedResult) -> list[dict[str, Any]]:
    """Homes standing against the target, new and moved homes, support homes, per year."""
    short = result.short()
    return [
        {
            "year": year,
            "standing": int(result.homes[:, i].sum()),
            "target": result.targets.get(year),
            "short": short.get(year, 0),
            "built": int(result.built[:, i].sum()),
            "moved": int(result.moved_out[:, i].sum()),
            "support_homes": int(result.support[:, i].sum()),
            "plots": int((result.homes[:, i] > 0).sum()),
        }
        for i, year in enumerate(result.years)
    ]


def compute_phased_kpis(inst: Instance, result: PhasedResult) -> dict[str, Any]:
    """The kpis.json of a plan with a horizon: headline figures are those of the last year."""
    from planner.phasing import region_shortfall, relocation_cost, total_cost_phased

    horizon = inst.scenario.horizon
    assert horizon is not None
    homes, support = _last(result.homes), _last(result.support)
    last = result.years[-1]
    last_assignments = result.assignments[result.assignments["year"] == last]
    snapshot = Result(
        status=result.status,
        homes=homes,
        support=support,
        assignments=last_assignments,
        flows=result.assignments.iloc[0:0],
        objective=result.objective,
        best_bound=result.best_bound,
        gap=result.gap,
        solve_seconds=result.solve_seconds,
        solver=result.solver,
        explanation=list(result.explanation),
    )
    # The headline of the last year is that of a single-year result, except for what spans years.
    kpis = compute_kpis(inst, snapshot)
    kpis["plots_used"] = int((~np.isnan(result.start_year)).sum())
    kpis["total_cost_eur"] = total_cost_phased(inst, result)
    kpis["binding"] = []
    kpis["phasing"] = {
        "start": horizon.start,
        "end": horizon.end,
        "permit_years": horizon.permit_years,
        "delivery_per_year": horizon.delivery_per_year,
        "homes_moved": result.homes_moved,
        "relocations": len(result.relocations),
        "relocation_cost_eur": relocation_cost(inst, result),
        "shortfall_penalty_per_home_year": result.penalty,
        "homes_short": sum(result.short().values()),
        "region_short": {k: v for k, v in region_shortfall(inst, result).items() if v},
        "model_size": dict(result.model_size),
        "per_year": phased_per_year(inst, result),
    }
    return kpis
