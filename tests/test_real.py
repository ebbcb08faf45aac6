"""The real scenarios on the public data in ../shared/data: import, run, check, plausibility."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import yaml

from tests.checker import assert_valid_run
from tests.test_cli import flexplan

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data not present (fresh clone)"),
]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = importlib.util.spec_from_file_location("prepare", ROOT / "scenarios/real/prepare.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path_factory.mktemp("real")
    module.main(["--shared", str(SHARED), "--out", str(out)])
    return out


def _scenario(name: str, prepared: Path, tmp_path: Path) -> Path:
    """The committed scenario, pointed at the freshly prepared layers."""
    data = yaml.safe_load((ROOT / "scenarios" / "real" / f"{name}.yaml").read_text())
    for kind, ref in data["layers"].items():
        data["layers"][kind] = ref.replace("../../data/real", str(prepared))
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _run(name: str, prepared: Path, tmp_path: Path) -> tuple[Path, dict]:
    out = tmp_path / name
    proc = flexplan("run", _scenario(name, prepared, tmp_path), "--out", out)
    assert proc.returncode == 0, proc.stderr
    return out, assert_valid_run(out)


def test_ede_on_otterlo_bgt_terrain(prepared: Path, tmp_path: Path) -> None:
    out, kpis = _run("ede", prepared, tmp_path)
    assert kpis["status"] == "OPTIMAL"
    assert kpis["homes"] == 30 and kpis["support_homes"] >= 6
    plots = gpd.read_file(out / "allocation.gpkg", layer="plots")
    assert len(plots) == 26  # the open BGT terrain of Otterlo
    assert set(plots.loc[plots["homes"] > 0, "region_id"]) == {"GM0228"}
    assert plots.loc[plots["homes"] > 0, "buurt_id"].str.startswith("BU0228").all()
    assignments = pd.read_csv(out / "support_assignments.csv")
    assert set(assignments["service_type"]) == {"ggz", "wijkverpleging"}
    assert (assignments["distance_m"] <= 12_000).all()
    buurten = gpd.read_file(out / "allocation.gpkg", layer="buurten")
    assert (buurten["homes"] <= 0.05 * buurten["dwellings"]).all()


def test_utrecht_province_with_joined_dwellings(prepared: Path, tmp_path: Path) -> None:
    out, kpis = _run("utrecht", prepared, tmp_path)
    assert kpis["status"] == "OPTIMAL"
    assert kpis["homes"] == 1000 and kpis["support_homes"] >= 200
    regions = {r["region_id"]: r for r in kpis["per_region"]}
    assert len(regions) == 26
    assert any(
        r["max_homes"] is not None and r["homes"] == r["max_homes"] for r in regions.values()
    )
    assert all(r["homes"] >= (r["min_homes"] or 0) for r in regions.values())
    buurten = gpd.read_file(prepared / "utrecht" / "neighbourhoods.gpkg")
    assert (buurten["dwellings_source"] == "table").sum() >= 700  # 2020 stock joined by code
    assignments = pd.read_csv(out / "support_assignments.csv")
    limits = {"ggz": 5000, "wijkverpleging": 3000}
    assert (assignments["distance_m"] <= assignments["service_type"].map(limits)).all()
    services = gpd.read_file(out / "allocation.gpkg", layer="services")
    assert (services["load"] <= services["capacity"].fillna(float("inf"))).all()
    assert kpis["objective"] > 0
