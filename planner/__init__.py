"""Flexplan's planner: scenario, reach, scoring, the allocation model, results and exports.

Public API (imported lazily, so ``import planner.model`` stays free of file readers and maps):
``load_scenario``, ``run_scenario``, ``Result``, ``FlexplanError``.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["FlexplanError", "Result", "__version__", "load_scenario", "run_scenario"]


def __getattr__(name: str) -> Any:
    if name == "load_scenario":
        from planner.scenario import load_scenario

        return load_scenario
    if name == "run_scenario":
        from planner.pipeline import run_scenario

        return run_scenario
    if name == "Result":
        from planner.result import Result

        return Result
    if name == "FlexplanError":
        from planner.errors import FlexplanError

        return FlexplanError
    raise AttributeError(f"module 'planner' has no attribute {name!r}")
