"""One error hierarchy, so the CLI and the web app can turn any of them into one clear line.

Messages name the file, row and field and say what to do; the CLI maps ``FlexplanError`` to
exit code 1 (bad data) and never shows a traceback for it.
"""

from __future__ import annotations


class FlexplanError(ValueError):
    """Base class: a problem the user can fix in their input."""


class ScenarioError(FlexplanError):
    """The scenario file is missing, unreadable or fails validation."""


class LayerError(FlexplanError):
    """A data layer is missing, unreadable or breaks the data contract."""


class SolverError(FlexplanError):
    """The solver could not be run or returned no usable answer."""
