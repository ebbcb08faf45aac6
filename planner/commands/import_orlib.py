"""`flexplan import orlib-cflp`: an OR-Library capacitated facility location file as layers.

The benchmark's published optimum then checks the whole pipeline: `flexplan run` on the written
scenario must reach it (see geodata/importers/orlib.py for the mapping).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from planner.commands._common import handle_errors, out


def register(app: typer.Typer) -> None:
    """Add `orlib-cflp` to the `flexplan import` sub-app."""

    @app.command("orlib-cflp")
    @handle_errors
    def orlib_cflp(
        file: Annotated[Path, typer.Argument(help="OR-Library cap* file (e.g. cap41.txt).")],
        out_dir: Annotated[
            Path, typer.Option("--out", "-o", help="Folder for the layers and scenario.yaml.")
        ],
        capacity: Annotated[
            float | None,
            typer.Option(
                help="Capacity of every facility in capa/capb/capc, whose files give the word "
                "'capacity' (Beasley's Table 1: capa 8000-14000, capb and capc 5000-8000)."
            ),
        ] = None,
        time_limit_s: Annotated[
            float, typer.Option("--time-limit", help="solver.time_limit_s of the scenario.")
        ] = 900.0,
    ) -> None:
        """Convert an OR-Library capacitated facility location instance to contract layers."""
        from geodata.importers.orlib import integral_scale, read_orlib_cflp, write_instance

        inst = read_orlib_cflp(file, capacity=capacity)
        paths = write_instance(inst, out_dir, time_limit_s=time_limit_s)
        scale = integral_scale(inst)
        out.print(
            f"{inst.name}: {inst.n_facilities} facilities, {inst.n_customers} customers, "
            f"demand {inst.demand.sum():g}, capacity {inst.capacity.sum():g}"
            + (f" (scaled by {scale} to whole homes)" if scale != 1 else ""),
            highlight=False,
            soft_wrap=True,
        )
        for path in paths:
            out.print(f"  wrote {path}", highlight=False, soft_wrap=True)
        out.print(
            f"next: flexplan run {out_dir / 'scenario.yaml'} --out <run folder>",
            highlight=False,
            soft_wrap=True,
        )
