"""Constraint families, one module each with a ``build`` function.

Every family can be left out by name (``relax``), which the shortfall explanation uses to find the
rules that keep the target out of reach.
"""

from __future__ import annotations

FAMILIES = (
    "min_homes",
    "care_reach",
    "service_capacity",
    "support_share",
    "plot_mix",
    "neighbourhood",
    "region_bounds",
    "demand",
    "groups",
    "budget",
)
