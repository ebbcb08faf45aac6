"""`flexplan import bgt`: BGT terrain polygons as candidate `plots`.

Which BGT classes are kept by default, and why, is described in geodata/importers/bgt.py and
docs/importers.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from planner.commands._common import err, handle_errors, out

#: Copies of geodata.importers.bgt's defaults (kept in step by a test), so that building the CLI
#: does not import geopandas.
DEFAULT_CLASSES = ("onverhard", "half verhard", "grasland overig", "transitie")
DEFAULT_MIN_AREA_M2 = 1000.0
DEFAULT_HOMES_PER_HA = 30.0


def register(app: typer.Typer) -> None:
    """Add `bgt` to the `flexplan import` sub-app."""

    @app.command("bgt")
    @handle_errors
    def bgt(
        file: Annotated[
            Path, typer.Argument(help="BGT terreindeel polygons (GeoPackage or other polygons).")
        ],
        out_file: Annotated[
            Path, typer.Option("--out", "-o", help="Plots GeoPackage to write (replaced).")
        ],
        classes: Annotated[
            list[str] | None,
            typer.Option(
                help="BGT class or plus value to keep; repeat, or separate with commas. "
                f"Default: {', '.join(DEFAULT_CLASSES)}."
            ),
        ] = None,
        min_area_m2: Annotated[
            float, typer.Option(help="Drop polygons smaller than this (slivers).")
        ] = DEFAULT_MIN_AREA_M2,
        homes_per_ha: Annotated[
            float, typer.Option(help="Capacity = floor(area in ha x this).")
        ] = DEFAULT_HOMES_PER_HA,
        layer: Annotated[
            list[str] | None,
            typer.Option(help="Layer to read; repeat for several (default: every layer)."),
        ] = None,
    ) -> None:
        """Turn BGT onbegroeid/begroeid terreindeel polygons into candidate plots."""
        from geodata.importers.bgt import import_bgt

        wanted = [c for item in classes or [] for c in item.split(",") if c.strip()]
        report = import_bgt(
            file,
            out_file,
            layers=layer or (),
            classes=wanted or None,
            min_area_m2=min_area_m2,
            homes_per_ha=homes_per_ha,
        )
        for line in report.summary_lines():
            out.print(line, highlight=False, markup=False, soft_wrap=True)
        for warning in report.warnings:
            err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
