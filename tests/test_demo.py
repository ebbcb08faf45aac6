"""The committed demo scenarios run end to end and pass the independent checker."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from tests.checker import assert_valid_run
from tests.test_cli import flexplan

ROOT = Path(__file__).resolve().parent.parent


def test_default_scenario_places_exactly_10000_homes(tmp_path: Path) -> None:
    out = tmp_path / "default"
    proc = flexplan("run", ROOT / "scenarios" / "default.yaml", "--out", out)
    assert proc.returncode == 0, proc.stderr
    kpis = assert_valid_run(out)
    assert kpis["status"] == "OPTIMAL"
    assert kpis["homes"] == 10_000
    assert kpis["support_homes"] >= 2_000
    assert kpis["gap"] <= 0.001
    # The demo is tight enough that the rules bind somewhere.
    buurten = gpd.read_file(out / "allocation.gpkg", layer="buurten")
    assert ((buurten["homes"] > 0) & (buurten["homes"] >= buurten["cap"])).any()
    services = gpd.read_file(out / "allocation.gpkg", layer="services")
    assert (services["load"] >= services["capacity"]).any()
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Landelijk basis" in html


@pytest.mark.slow
def test_all_scenarios_in_one_batch(tmp_path: Path) -> None:
    out = tmp_path / "batch"
    proc = flexplan("batch", ROOT / "scenarios", "--out", out, "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out / "comparison.csv")
    assert set(table["scenario"]) >= {"default", "stricter_reach", "lower_buurt_share", "min_cost"}
    assert (table["status"] != "ERROR").all()
    for name in table["scenario"]:
        assert_valid_run(out / name)
    by_name = table.set_index("scenario")
    # Cost-minimising must not cost more than the suitability-maximising default.
    assert by_name.at["min_cost", "total_cost_eur"] <= by_name.at["default", "total_cost_eur"]
