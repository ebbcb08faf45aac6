"""``flexplan import osm|osm-mapping|fetch-cbs|fetch-osm``: OpenStreetMap and online sources.

``osm`` is offline: it turns an OSM file into the services and amenities layers. The two
``fetch-*`` commands are for users with internet; they save plain files (cached per request)
that ``flexplan import cbs`` and ``flexplan import osm`` then read offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from planner.commands._common import err, handle_errors, out

_CACHE_HELP = "Folder for cached answers (default ~/.cache/flexplan)."
_REFRESH_HELP = "Download again instead of reusing cached answers."
_TIMEOUT_HELP = "Seconds to wait for the server."


def register(app: typer.Typer) -> None:
    """Add the OSM and online commands to the ``flexplan import`` sub-app."""
    app.command("osm")(handle_errors(import_osm_command))
    app.command("osm-mapping")(handle_errors(osm_mapping_command))
    app.command("fetch-cbs")(handle_errors(fetch_cbs_command))
    app.command("fetch-osm")(handle_errors(fetch_osm_command))


def import_osm_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="OSM data: .osm.pbf, .osm XML, Overpass JSON, or a GeoPackage/GeoJSON of OSM "
            "features with tag columns."
        ),
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for services.gpkg and amenities.gpkg.")
    ],
    mapping: Annotated[
        Path | None,
        typer.Option(help="Tag mapping YAML that extends or replaces the default (docs/osm.md)."),
    ] = None,
    layer: Annotated[
        str | None, typer.Option(help="Layer of a GeoPackage with several layers.")
    ] = None,
) -> None:
    """Turn OSM data into the services and amenities layers through the tag mapping."""
    from geodata.importers.osm import import_osm, load_mapping

    err.print(f"reading {file} ...")
    report = import_osm(file, out_dir, mapping=load_mapping(mapping), layer=layer)
    for line in report.lines():
        out.print(line, highlight=False, soft_wrap=True)


def osm_mapping_command() -> None:
    """Print the default OSM tag mapping as YAML, to copy and edit for --mapping."""
    from geodata.importers.osm import default_mapping_yaml

    typer.echo(default_mapping_yaml(), nl=False)


def fetch_cbs_command(
    year: Annotated[int, typer.Option(help="Release year of the wijk- en buurtkaart.")],
    gemeente: Annotated[str, typer.Option(help="CBS gemeentecode, e.g. GM0344 (Utrecht).")],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for wijkenbuurten_<year>_<gemeente>.gpkg.")
    ],
    collection: Annotated[
        str, typer.Option(help="PDOK collection: buurten, wijken or gemeenten.")
    ] = "buurten",
    cache_dir: Annotated[Path | None, typer.Option(help=_CACHE_HELP)] = None,
    refresh: Annotated[bool, typer.Option(help=_REFRESH_HELP)] = False,
    timeout: Annotated[float, typer.Option(help=_TIMEOUT_HELP)] = 60.0,
) -> None:
    """Download a gemeente's CBS buurten from PDOK (needs internet) for `flexplan import cbs`."""
    from geodata.importers.online import Fetcher, default_cache_dir, fetch_cbs, new_session

    if collection not in ("buurten", "wijken", "gemeenten"):
        raise typer.BadParameter("choose buurten, wijken or gemeenten", param_hint="--collection")
    fetcher = Fetcher(new_session(), cache_dir or default_cache_dir(), refresh, timeout)
    err.print(f"downloading {collection} of {gemeente} ({year}) from PDOK ...")
    report = fetch_cbs(year, gemeente, out_dir, fetcher=fetcher, collection=collection)
    for line in report.lines():
        out.print(line, highlight=False, soft_wrap=True)


def fetch_osm_command(
    bbox: Annotated[
        str, typer.Option(help="minlon,minlat,maxlon,maxlat in degrees, e.g. 5.0,52.0,5.2,52.2.")
    ],
    out_file: Annotated[Path, typer.Option("--out", help="Overpass JSON file to write.")],
    query_preset: Annotated[
        str, typer.Option(help="What to ask for: care, amenities or all.")
    ] = "all",
    mapping: Annotated[
        Path | None, typer.Option(help="Tag mapping YAML the query is built from.")
    ] = None,
    endpoint: Annotated[str, typer.Option(help="Overpass API interpreter URL.")] = (
        "https://overpass-api.de/api/interpreter"
    ),
    show_query: Annotated[
        bool, typer.Option(help="Print the Overpass QL query and stop (no download).")
    ] = False,
    cache_dir: Annotated[Path | None, typer.Option(help=_CACHE_HELP)] = None,
    refresh: Annotated[bool, typer.Option(help=_REFRESH_HELP)] = False,
    timeout: Annotated[float, typer.Option(help=_TIMEOUT_HELP)] = 200.0,
) -> None:
    """Download mapped OSM features in a bbox from Overpass (needs internet) for `import osm`."""
    from geodata.importers.online import (
        Fetcher,
        default_cache_dir,
        fetch_osm,
        new_session,
        overpass_query,
        parse_bbox,
    )
    from geodata.importers.osm import load_mapping

    box = parse_bbox(bbox)
    tag_mapping = load_mapping(mapping)
    if show_query:
        typer.echo(overpass_query(tag_mapping, box, preset=query_preset))
        return
    fetcher = Fetcher(new_session(), cache_dir or default_cache_dir(), refresh, timeout)
    err.print(f"asking {endpoint} ...")
    report = fetch_osm(
        box, out_file, fetcher=fetcher, mapping=tag_mapping, preset=query_preset, endpoint=endpoint
    )
    for line in report.lines():
        out.print(line, highlight=False, soft_wrap=True)
