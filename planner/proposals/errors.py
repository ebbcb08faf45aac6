"""Errors of the proposals store, each mapping to one HTTP status for the web layer.

All are `FlexplanError`s, so the CLI prints them as one line with exit code 1.
"""

from __future__ import annotations

from typing import Any

from planner.errors import FlexplanError


class StoreError(FlexplanError):
    """The database cannot be opened or migrated (HTTP 500); the base of the errors below."""


class PermissionDenied(StoreError):
    """The user's role may not do this at all (HTTP 403)."""


class NotFound(StoreError):
    """No such object, or one the user may not see (HTTP 404: do not reveal which)."""


class Conflict(StoreError):
    """Changed meanwhile, a state that forbids this change, or a name taken (HTTP 409)."""


class InvalidInput(StoreError):
    """Input that breaks the rules; ``problems`` lists ``{index, field, problem}`` (HTTP 422)."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        self.problems = problems
        shown = "; ".join(_describe(p) for p in problems[:10])
        more = f"; ... and {len(problems) - 10} more problems" if len(problems) > 10 else ""
        super().__init__(f"{len(problems)} problem(s): {shown}{more}")


def _describe(problem: dict[str, Any]) -> str:
    if problem.get("index") is None:
        return f"{problem['field']}: {problem['problem']}"
    return f"feature {problem['index']}: {problem['field']}: {problem['problem']}"
