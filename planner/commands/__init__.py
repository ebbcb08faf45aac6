"""Sub-commands of `flexplan`, one module each; `flexplan import ...` gathers the importers.

An importer module defines ``register(app)`` adding its command to ``import_app``; add it to
``_IMPORTERS`` below.
"""

from __future__ import annotations

import importlib

import typer

import_app = typer.Typer(
    help="Import real data (CBS, care locations, OSM, BGT, benchmarks) as contract layers.",
    no_args_is_help=True,
)

_IMPORTERS: tuple[str, ...] = ()

for _name in _IMPORTERS:
    importlib.import_module(f"planner.commands.{_name}").register(import_app)
