"""`flexplan import services`: a list of care or support locations as `services` rows.

Several runs append to one file; see geodata/importers/services.py and docs/importers.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from planner.commands._common import err, handle_errors, out


def register(app: typer.Typer) -> None:
    """Add `services` to the `flexplan import` sub-app."""

    @app.command("services")
    @handle_errors
    def services(
        file: Annotated[
            Path,
            typer.Argument(
                help="Points or polygons: GeoPackage, GeoJSON, Shapefile, or CSV (lon/lat or WKT)."
            ),
        ],
        out_file: Annotated[
            Path,
            typer.Option("--out", "-o", help="Services GeoPackage; appended to when it exists."),
        ],
        service_type: Annotated[
            str, typer.Option("--type", help="Type of every row, e.g. ggz, wijkteam, huisarts.")
        ],
        layer: Annotated[
            str | None, typer.Option(help="Layer to read from a multi-layer file.")
        ] = None,
        crs: Annotated[
            str | None,
            typer.Option(help="CRS of a file that declares none (CSV with WKT), e.g. EPSG:28992."),
        ] = None,
        id_column: Annotated[
            str | None,
            typer.Option(help="Column with unique ids; without it ids are <type>-<n>."),
        ] = None,
        name_column: Annotated[
            str | None,
            typer.Option(help="Column with names (default: name, naam, naam_locatie, ...)."),
        ] = None,
        capacity_column: Annotated[
            str | None,
            typer.Option(help="Column with the capacity in support residents."),
        ] = None,
        capacity_per: Annotated[
            str | None,
            typer.Option(
                metavar="FIELD:RATIO",
                help="Capacity = floor(FIELD x RATIO), RATIO residents per unit of FIELD, "
                "e.g. fte_2014:0.5.",
            ),
        ] = None,
    ) -> None:
        """Append care or support locations of one type to a services layer."""
        from geodata.importers.services import CapacityPer, import_services

        report = import_services(
            file,
            out_file,
            service_type=service_type,
            layer=layer,
            crs=crs,
            id_column=id_column,
            name_column=name_column,
            capacity_column=capacity_column,
            capacity_per=CapacityPer.parse(capacity_per) if capacity_per else None,
        )
        for line in report.summary_lines():
            out.print(line, highlight=False, markup=False, soft_wrap=True)
        for warning in report.warnings:
            err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
