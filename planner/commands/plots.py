"""`flexplan plots`: the plots proposed by corporations, from the web app's database.

``flexplan plots export --status accepted OUT.gpkg`` writes them as a contract-valid `plots`
layer (``plot_id`` PROP-<id>, ``proposer`` the organisation), the same layer a scenario gets
from ``plots: "db:accepted"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from planner.commands._common import handle_errors, out

plots_app = typer.Typer(help="Plots proposed by corporations: export.", no_args_is_help=True)


@plots_app.command("export")
@handle_errors
def export(
    out_file: Annotated[Path, typer.Argument(help="GeoPackage to write (replaced); layer plots.")],
    status: Annotated[
        str, typer.Option(help="Which proposals: accepted, proposed or rejected.")
    ] = "accepted",
    data: Annotated[
        Path,
        typer.Option(
            help="Data folder of `flexplan serve --data`; the database is DATA/flexplan.db "
            "unless FLEXPLAN_DATABASE_URL is set."
        ),
    ] = Path("results"),
) -> None:
    """Write the proposals of one status as a plots GeoPackage."""
    from planner.errors import FlexplanError
    from planner.proposals import STATUSES
    from planner.proposals.layers import export_layer

    if status not in STATUSES:
        raise FlexplanError(f"--status: unknown status '{status}'; use {', '.join(STATUSES)}")
    if out_file.suffix.lower() != ".gpkg":
        raise FlexplanError(f"{out_file}: give a .gpkg file name to write")
    count = export_layer(out_file, status, data=data)
    out.print(f"wrote {count} {status} plots to {out_file} (layer plots)", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the `plots` command group."""
    app.add_typer(plots_app, name="plots")
