"""Import the real public data in ../shared/data into the layers of the real scenarios.

    python scenarios/real/prepare.py [--shared ../shared/data] [--out data/real]

Runs the same `flexplan import ...` commands a user would (printed as they run), then adds two
planning choices that the public data does not contain, both labelled as such:

- regional fair-share bounds for the Utrecht gemeenten (half to twice a population-proportional
  share of the target);
- candidate sites for province Utrecht, where no public plot data is available here: one 2 ha
  site per suburban buurt (SYNTHETIC locations on real buurten, clearly named so).

Nothing from ../shared/data is copied into the repository; the output folder is ignored by git.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[2]
UTRECHT_GEMEENTEN = [
    "GM0307",
    "GM0308",
    "GM0310",
    "GM0312",
    "GM0313",
    "GM0317",
    "GM0321",
    "GM0327",
    "GM0331",
    "GM0335",
    "GM0339",
    "GM0340",
    "GM0342",
    "GM0344",
    "GM0345",
    "GM0351",
    "GM0352",
    "GM0353",
    "GM0355",
    "GM0356",
    "GM0589",
    "GM0620",
    "GM0632",
    "GM0736",
    "GM1581",
    "GM1904",
]
UTRECHT_TARGET = 1000  # keep in step with scenarios/real/utrecht.yaml
# (layer, service type, capacity rule): capacity = floor(field x ratio), a planning assumption:
# 2% of a GGZ provider's clients, 1 resident per 10 FTE of a home-care provider; asylum reception
# (azc) counts for suitability only, without a capacity.
CARE = (
    ("ggz", "ggz", "aantal_clienten_patienten_in_zorg_behandeling_op_31_december_2014_ggz:0.02"),
    ("vvt", "wijkverpleging", "fte_2014:0.1"),
    ("azc_opvang", "azc", None),
)
SITE_SIDE_M = 141.0  # a square of about 2 ha


def flexplan(*args: str | Path) -> None:
    """Run one flexplan command, showing it; stop on failure."""
    words = ["flexplan", *map(str, args)]
    print("$", " ".join(words), flush=True)
    subprocess.run([sys.executable, "-m", "planner", *map(str, args)], check=True)


def _care(shared: Path, services: Path) -> None:
    services.unlink(missing_ok=True)
    for layer, kind, capacity in CARE:
        extra = ["--capacity-per", capacity] if capacity else []
        flexplan(
            "import",
            "services",
            shared / "zorgvoorzieningen_2014_2016.gpkg",
            "--layer",
            layer,
            "--type",
            kind,
            *extra,
            "--out",
            services,
        )


def prepare_ede(shared: Path, out: Path) -> Path:
    """Gemeente Ede: BGT terrain of Otterlo as plots, CBS 2015 buurten, care locations."""
    out.mkdir(parents=True, exist_ok=True)
    flexplan(
        "import",
        "cbs",
        shared / "cbs_wijkbuurtkaart_2015.gpkg",
        "--gemeente",
        "GM0228",
        "--out",
        out,
    )
    flexplan("import", "bgt", shared / "bgt_otterlo_terreindelen.gpkg", "--out", out / "plots.gpkg")
    _care(shared, out / "services.gpkg")
    return out


def _fair_share(regions_path: Path, plots_path: Path, target: int) -> None:
    """Bounds per gemeente (a planning choice): at most twice its population share of the target,
    and at least half of it where that half is a whole project (15 homes) and the gemeente has
    three or more candidate sites."""
    regions = gpd.read_file(regions_path, layer="regions")
    plots = gpd.read_file(plots_path, layer="plots")
    inside = gpd.sjoin(
        gpd.GeoDataFrame(geometry=plots.geometry.representative_point(), crs=plots.crs),
        regions[["region_id", "geometry"]],
        predicate="within",
    )
    sites = inside.groupby("region_id").size().reindex(regions["region_id"]).fillna(0).to_numpy()
    share = regions["population"] / regions["population"].sum() * target
    half = np.floor(0.5 * share)
    regions["min_homes"] = np.where((sites >= 3) & (half >= 15), half, np.nan)
    regions["max_homes"] = np.ceil(2.0 * share).astype(int)
    _write(regions, regions_path, "regions")


def _sites(neighbourhoods_path: Path, plots_path: Path) -> int:
    """One SYNTHETIC 2 ha candidate site in each suburban buurt (30+ ha, 1,000-6,000 per km2)."""
    buurten = gpd.read_file(neighbourhoods_path, layer="neighbourhoods")
    area_km2 = buurten.geometry.area / 1e6
    density = buurten["population"] / area_km2
    chosen = buurten[(area_km2 >= 0.3) & density.between(1000, 6000)].sort_values("buurt_id")
    centres = chosen.geometry.representative_point()
    half = SITE_SIDE_M / 2
    sites = gpd.GeoDataFrame(
        {
            "plot_id": [f"SITE-{b}" for b in chosen["buurt_id"]],
            "name": [f"Zoeklocatie {n} (synthetic site)" for n in chosen["name"].fillna("")],
            "proposer": "synthetic",
        },
        geometry=[shapely.box(p.x - half, p.y - half, p.x + half, p.y + half) for p in centres],
        crs=buurten.crs,
    )
    _write(sites, plots_path, "plots")
    return len(sites)


def _write(frame: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp.gpkg")
    tmp.unlink(missing_ok=True)
    frame.to_file(tmp, layer=layer, driver="GPKG")
    tmp.replace(path)


def prepare_utrecht(shared: Path, out: Path) -> Path:
    """Province Utrecht: CBS 2015 buurten with 2020 dwellings, care, OSM supermarkets."""
    out.mkdir(parents=True, exist_ok=True)
    flexplan(
        "import",
        "cbs",
        shared / "cbs_wijkbuurtkaart_2015.gpkg",
        *[a for gm in UTRECHT_GEMEENTEN for a in ("--gemeente", gm)],
        "--dwellings-table",
        shared / "buurtkenmerken_provincie_utrecht_kwb2020.csv",
        "--out",
        out,
    )
    _care(shared, out / "services.gpkg")
    flexplan("import", "osm", shared / "osm_supermarkten_utrecht.gpkg", "--out", out / "osm")
    sites = _sites(out / "neighbourhoods.gpkg", out / "plots.gpkg")
    _fair_share(out / "regions.gpkg", out / "plots.gpkg", UTRECHT_TARGET)
    print(f"wrote {sites} synthetic candidate sites to {out / 'plots.gpkg'}")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "real")
    args = parser.parse_args(argv)
    if not args.shared.is_dir():
        sys.exit(f"{args.shared}: the shared public data folder is not there")
    prepare_ede(args.shared, args.out / "ede")
    prepare_utrecht(args.shared, args.out / "utrecht")
    print(f"done: layers in {args.out}; now run flexplan run scenarios/real/ede.yaml ...")


if __name__ == "__main__":
    main()
