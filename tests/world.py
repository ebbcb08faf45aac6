"""A small geographic world written to disk: real files for end-to-end tests of the CLI.

Around Amersfoort (RD 155000, 463000): a grid of square plots, GPs, a wijkteam with a catchment,
GGZ, two buurten, two regions, an exclusion zone and a few amenities.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import yaml
from shapely.geometry import Point, box

X0, Y0 = 155_000.0, 463_000.0
CRS = "EPSG:28992"


def _square(cx: float, cy: float, side: float):
    return box(cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


def write_world(folder: Path, **scenario: Any) -> Path:
    """Write the layers and a scenario file; returns the scenario path."""
    folder.mkdir(parents=True, exist_ok=True)
    plots = []
    for i in range(4):
        for j in range(3):
            plots.append(
                {
                    "plot_id": f"P{i}{j}",
                    "name": f"Plot {i}-{j}",
                    "capacity": 20 + 5 * j,
                    "min_homes": 10,
                    "fixed_cost": 10_000.0 * (1 + i),
                    "cost_per_home": 1_000.0 * (3 - j),
                    "group": "G1" if (i, j) in ((3, 0), (3, 1)) else None,
                    "geometry": _square(X0 + 700 * i, Y0 + 700 * j, 120),
                }
            )
    gpd.GeoDataFrame(plots, crs=CRS).to_file(folder / "plots.gpkg", layer="plots")
    services = [
        {
            "service_id": "GP1",
            "type": "huisarts",
            "capacity": 8,
            "geometry": Point(X0 + 300, Y0 + 300),
        },
        {
            "service_id": "GP2",
            "type": "huisarts",
            "capacity": 6,
            "geometry": Point(X0 + 1800, Y0 + 900),
        },
        {
            "service_id": "WT1",
            "type": "wijkteam",
            "capacity": 30,
            "geometry": Point(X0 + 1000, Y0 + 700),
        },
        {
            "service_id": "GGZ1",
            "type": "ggz",
            "capacity": None,
            "geometry": Point(X0 + 1000, Y0 + 1000),
        },
    ]
    gpd.GeoDataFrame(services, crs=CRS).to_file(folder / "services.gpkg", layer="services")
    gpd.GeoDataFrame(
        [{"service_id": "WT1", "geometry": box(X0 - 500, Y0 - 500, X0 + 1700, Y0 + 2000)}], crs=CRS
    ).to_file(folder / "service_areas.gpkg", layer="service_areas")
    gpd.GeoDataFrame(
        [{"reason": "geluidscontour", "geometry": _square(X0 + 1400, Y0 + 1400, 200)}], crs=CRS
    ).to_file(folder / "exclusions.gpkg", layer="exclusions")
    gpd.GeoDataFrame(
        [
            {
                "buurt_id": "BU03070001",
                "name": "West",
                "dwellings": 600,
                "geometry": box(X0 - 500, Y0 - 500, X0 + 1000, Y0 + 2000),
            },
            {
                "buurt_id": "BU03070002",
                "name": "Oost",
                "dwellings": 2000,
                "geometry": box(X0 + 1000, Y0 - 500, X0 + 2700, Y0 + 2000),
            },
        ],
        crs=CRS,
    ).to_file(folder / "neighbourhoods.gpkg", layer="neighbourhoods")
    gpd.GeoDataFrame(
        [
            {
                "region_id": "GM0307",
                "name": "Amersfoort",
                "min_homes": 20,
                "max_homes": None,
                "geometry": box(X0 - 500, Y0 - 500, X0 + 1000, Y0 + 2000),
            },
            {
                "region_id": "GM0313",
                "name": "Bunschoten",
                "min_homes": None,
                "max_homes": 200,
                "geometry": box(X0 + 1000, Y0 - 500, X0 + 2700, Y0 + 2000),
            },
        ],
        crs=CRS,
    ).to_file(folder / "regions.gpkg", layer="regions")
    gpd.GeoDataFrame(
        [
            {"type": "supermarket", "name": "Super", "geometry": Point(X0 + 100, Y0 + 800)},
            {"type": "transit_stop", "name": "Halte", "geometry": Point(X0 + 1500, Y0 + 200)},
        ],
        crs=CRS,
    ).to_file(folder / "amenities.gpkg", layer="amenities")
    data: dict[str, Any] = {
        "name": "Kleine wereld",
        "target_homes": 150,
        "layers": {
            kind: f"{kind}.gpkg"
            for kind in (
                "plots",
                "services",
                "service_areas",
                "exclusions",
                "neighbourhoods",
                "regions",
                "amenities",
            )
        },
        "defaults": {"min_homes": 10},
        "support": {
            "min_share": 0.1,
            "max_share_per_plot": 0.25,
            "reach_m": {"huisarts": 900, "wijkteam": 1000, "ggz": 5000},
        },
        "neighbourhood": {"max_share_of_dwellings": 0.1},
        "solver": {"time_limit_s": 20},
    }
    for key, value in scenario.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path
