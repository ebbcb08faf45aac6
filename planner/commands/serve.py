"""`flexplan serve`: the planners' map app on a local address.

The web package is imported only when the command runs, so the rest of the CLI (and
``planner`` as a library) never needs Flask.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from planner.commands._common import handle_errors, out


def register(app: typer.Typer) -> None:
    """Add the top-level `serve` command."""

    @app.command()
    @handle_errors
    def serve(
        host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 5000,
        data: Annotated[
            Path, typer.Option(help="Folder with the runs: DATA/<scenario>/<run-id>/.")
        ] = Path("results"),
        scenarios: Annotated[
            Path, typer.Option(help="Folder with the scenario files (<name>.yaml).")
        ] = Path("scenarios"),
    ) -> None:
        """Serve the map app: scenarios, maps, runs, downloads and the JSON API."""
        from planner.errors import FlexplanError

        if not scenarios.is_dir():
            raise FlexplanError(f"{scenarios}: no such folder of scenario files (--scenarios)")
        from web import create_app

        flask_app = create_app({"DATA_DIR": str(data), "SCENARIOS_DIR": str(scenarios)})
        out.print(f"Flexplan map app on http://{host}:{port}/ (Ctrl+C stops it)", highlight=False)
        try:
            flask_app.run(host=host, port=port, threaded=True, use_reloader=False)
        finally:
            flask_app.extensions["flexplan"].runs.shutdown()
