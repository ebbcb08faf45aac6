"""The benchmark scripts: the national generator is deterministic and valid, and the PuLP peer
solves the same model as Flexplan's MathOpt path."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyogrio
import pytest
import shapely

from benchmarks import national, peers
from geodata.contract import load_layer
from planner.scenario import load_scenario
from tests.checker import assert_valid_run
from tests.test_cli import flexplan

KINDS = ("plots", "services", "neighbourhoods", "regions")


def _read(folder: Path, kind: str) -> pd.DataFrame:
    """A written layer with its geometry as WKB, so frames compare exactly."""
    frame = pyogrio.read_dataframe(folder / f"{kind}.gpkg")
    wkb = shapely.to_wkb(frame.geometry.to_numpy())
    return pd.DataFrame(frame.drop(columns="geometry")).assign(wkb=wkb)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 200-plot national instance (scenario path)."""
    return national.generate(200, tmp_path_factory.mktemp("national") / "a", seed=7)


def test_same_seed_gives_identical_layers(small: Path, tmp_path: Path) -> None:
    again = national.generate(200, tmp_path / "b", seed=7)
    other = national.generate(200, tmp_path / "c", seed=8)
    for kind in KINDS:
        pd.testing.assert_frame_equal(_read(small.parent, kind), _read(again.parent, kind))
    assert again.read_text() == small.read_text()
    assert not _read(small.parent, "plots").equals(_read(other.parent, "plots"))


def test_sizes_scale_with_the_plots(small: Path) -> None:
    size = national.Size.for_plots(200)
    counts = {kind: len(load_layer(kind, small.parent / f"{kind}.gpkg")) for kind in KINDS}
    assert counts == {
        "plots": 200,
        "services": size.services,
        "neighbourhoods": size.buurten,
        "regions": size.gemeenten,
    }
    assert national.Size.for_plots(5_000) == national.Size(5_000, 20_000, 13_000, 342, 10_000)
    services = load_layer("services", small.parent / "services.gpkg")
    assert set(services["type"]) == set(national.SERVICE_MIX)


def test_output_validates_and_solves_with_the_cli(small: Path, tmp_path: Path) -> None:
    scenario = load_scenario(small)
    assert scenario.support.reach_m == {"huisarts": 1500.0, "wijkteam": 2500.0, "ggz": 5000.0}
    assert scenario.neighbourhood.max_share_of_dwellings == 0.05
    out = tmp_path / "run"
    proc = flexplan("run", small, "--out", out)
    assert proc.returncode == 0, proc.stderr
    kpis = assert_valid_run(out)
    assert kpis["status"] in ("OPTIMAL", "FEASIBLE")
    assert kpis["homes"] == scenario.target_homes == 2_000


def test_pulp_peer_agrees_with_the_mathopt_path(tmp_path: Path) -> None:
    scenario = load_scenario(national.generate(60, tmp_path / "tiny", seed=3))
    case = peers.Case("tiny", peers._instance(scenario, gap=0.0, time_limit=60.0))
    mathopt = peers.solve_mathopt(case, "highs", gap=0.0, time_limit=60.0)
    cbc = peers.solve_pulp(case, gap=0.0, time_limit=60.0, threads=1)
    assert mathopt.status == "OPTIMAL" and mathopt.problems == 0
    assert cbc.status == "Optimal" and cbc.problems == 0
    assert mathopt.objective is not None and cbc.objective is not None
    assert cbc.objective == pytest.approx(mathopt.objective, rel=1e-6)
    assert cbc.bound == pytest.approx(cbc.objective, rel=1e-6)
