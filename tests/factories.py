"""Tiny hand-made instances for model tests: plain tables, no geometry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from planner.instance import Instance
from planner.scenario import scenario_from_dict

PLOT_DEFAULTS: dict[str, Any] = {
    "name": None,
    "proposer": None,
    "group": None,
    "area_ha": 1.0,
    "capacity": 100,
    "min_homes": 1,
    "fixed_homes": np.nan,
    "fixed_cost": 0.0,
    "cost_per_home": 0.0,
    "available_from": np.nan,
    "available_until": np.nan,
    "eligible": True,
    "reason": None,
    "suitability": 0.5,
    "buurt_id": None,
    "region_id": None,
}


def make_scenario(**overrides: Any):
    """A valid scenario whose layer paths are never read (the instance is given directly)."""
    data: dict[str, Any] = {
        "name": "tiny",
        "target_homes": 10,
        "layers": {"plots": "plots.gpkg", "services": "services.gpkg"},
        "defaults": {"min_homes": 1},
        "support": {"min_share": 0.0, "max_share_per_plot": 0.25, "reach_m": {}},
        "solver": {"time_limit_s": 10},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return scenario_from_dict(data, source="tiny.yaml", base_dir=Path("."))


def make_instance(
    plots: list[dict[str, Any]],
    *,
    services: list[dict[str, Any]] | None = None,
    pairs: list[tuple[int, int, str, float]] | None = None,
    buurten: list[dict[str, Any]] | None = None,
    regions: list[dict[str, Any]] | None = None,
    travel: list[tuple[str, int, float]] | None = None,
    **scenario: Any,
) -> Instance:
    """Build an Instance from rows; plot ids default to P0, P1, ..."""
    rows = [{**PLOT_DEFAULTS, "plot_id": f"P{i}", **row} for i, row in enumerate(plots)]
    services = services or []
    svc = pd.DataFrame(
        [
            {"service_id": f"S{j}", "name": None, "capacity": np.nan, **row}
            for j, row in enumerate(services)
        ],
        columns=["service_id", "type", "name", "capacity"],
    )
    svc["capacity"] = svc["capacity"].astype(float)
    buurt = pd.DataFrame(buurten or [], columns=["buurt_id", "name", "dwellings", "cap"])
    reg = pd.DataFrame(
        [
            {"name": None, "min_homes": np.nan, "max_homes": np.nan, "demand": np.nan, **r}
            for r in regions or []
        ],
        columns=["region_id", "name", "min_homes", "max_homes", "demand"],
    )
    for col in ("min_homes", "max_homes", "demand"):
        reg[col] = reg[col].astype(float)
    return Instance(
        scenario=make_scenario(**scenario),
        plots=pd.DataFrame(rows),
        services=svc,
        pairs=pd.DataFrame(pairs or [], columns=["plot", "service", "type", "distance_m"]),
        buurten=buurt,
        regions=reg,
        travel=pd.DataFrame(travel or [], columns=["region_id", "plot", "cost_per_home"]),
    )
