"""Sub-commands of `flexplan`, one module each; `flexplan import ...` gathers the importers.

An importer module defines ``register(app)`` adding its command to ``import_app``; add it to
``_IMPORTERS`` below.
"""

from __future__ import annotations

import importlib
import importlib.util

import typer

import_app = typer.Typer(
    help="Import real data (CBS, care locations, OSM, BGT, benchmarks) as contract layers.",
    no_args_is_help=True,
)

_IMPORTERS: tuple[str, ...] = (
    "import_cbs",
    "import_services",
    "import_bgt",
    "import_osm",
    "import_orlib",
)

for _name in _IMPORTERS:
    if importlib.util.find_spec(f"planner.commands.{_name}") is not None:
        importlib.import_module(f"planner.commands.{_name}").register(import_app)
