"""`flexplan import cbs`: a CBS wijk- en buurtkaart as neighbourhoods and regions layers.

The mapping, the dropped rows and the dwellings proxy are described in geodata/importers/cbs.py
and docs/importers.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from planner.commands._common import err, handle_errors, out


def register(app: typer.Typer) -> None:
    """Add `cbs` to the `flexplan import` sub-app."""

    @app.command("cbs")
    @handle_errors
    def cbs(
        file: Annotated[
            Path,
            typer.Argument(help="CBS wijk- en buurtkaart: GeoPackage, Shapefile or GeoJSON."),
        ],
        out_dir: Annotated[
            Path,
            typer.Option("--out", "-o", help="Folder for neighbourhoods.gpkg and regions.gpkg."),
        ],
        gemeente: Annotated[
            list[str] | None,
            typer.Option(help="Keep only this gemeente (GM0344 or 344); repeat for several."),
        ] = None,
        year: Annotated[
            int | None,
            typer.Option(help="CBS year: labels the output and is checked against the file."),
        ] = None,
        dwellings_table: Annotated[
            Path | None,
            typer.Option(
                help="Table (CSV) with buurt code and woningvoorraad, joined by buurt code."
            ),
        ] = None,
        layer: Annotated[
            str | None,
            typer.Option(help="Layer to read when the file has no 'buurten' layer."),
        ] = None,
    ) -> None:
        """Import CBS buurten (dwellings, population) and their gemeenten as regions."""
        from geodata.importers.cbs import import_cbs

        report = import_cbs(
            file,
            out_dir,
            gemeenten=gemeente or (),
            year=year,
            dwellings_table=dwellings_table,
            layer=layer,
        )
        for line in report.summary_lines():
            out.print(line, highlight=False, markup=False, soft_wrap=True)
        for warning in report.warnings:
            err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
