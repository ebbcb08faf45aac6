"""The outcome of one allocation: what goes where, how good it is and how sure we are."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

STATUSES = ("OPTIMAL", "FEASIBLE", "SHORTFALL", "INFEASIBLE")


@dataclass(frozen=True)
class Result:
    """Homes and support homes per plot (aligned with ``Instance.plots``), the integral care
    assignments (plot, service, type, residents, distance_m) and region flows (region_id, plot,
    homes, cost_per_home), with the objective, the solver's best bound and the relative gap."""

    status: str
    homes: np.ndarray
    support: np.ndarray
    assignments: pd.DataFrame
    flows: pd.DataFrame
    objective: float | None
    best_bound: float | None
    gap: float | None
    solve_seconds: float
    solver: str
    phases: list[dict[str, Any]] = field(default_factory=list)
    explanation: list[str] = field(default_factory=list)
    binding: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total_homes(self) -> int:
        return int(self.homes.sum())

    @property
    def total_support(self) -> int:
        return int(self.support.sum())

    @property
    def plots_used(self) -> int:
        return int((self.homes > 0).sum())
