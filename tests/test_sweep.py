"""Sensitivity sweeps: grid parsing, the CLI end to end, and the same path on a Dask cluster."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from planner.errors import ScenarioError
from planner.sweep import grid_points, parse_params
from tests.checker import assert_valid_run
from tests.test_cli import flexplan
from tests.world import write_world


def test_parse_params_builds_the_grid() -> None:
    grid = parse_params(["support.reach_m.huisarts=700,900", "target_homes=100, 120"])
    assert grid == {"support.reach_m.huisarts": [700, 900], "target_homes": [100, 120]}
    assert grid_points(grid)[1] == {"support.reach_m.huisarts": 700, "target_homes": 120}
    assert len(grid_points(grid)) == 4


@pytest.mark.parametrize("bad", ["target_homes", "=1,2", "target_homes="])
def test_parse_params_rejects_malformed_items(bad: str) -> None:
    with pytest.raises(ScenarioError, match="KEY=V1,V2"):
        parse_params([bad])


def test_parse_params_rejects_a_key_given_twice() -> None:
    with pytest.raises(ScenarioError, match="given twice"):
        parse_params(["target_homes=1", "target_homes=2"])


def test_sweep_end_to_end_with_a_failing_point(tmp_path: Path) -> None:
    scenario = write_world(tmp_path / "w", target_homes=100)
    out = tmp_path / "sweep"
    proc = flexplan(
        "sweep", scenario, "--param", "support.min_share=0.05,0.1,5", "--out", out, "--workers", "2"
    )
    assert proc.returncode == 1  # the point with min_share 5 is invalid
    table = pd.read_csv(out / "sweep.csv")
    assert table["support.min_share"].tolist() == [0.05, 0.1, 5]
    assert table["status"].tolist()[:2] == ["OPTIMAL", "OPTIMAL"]
    assert table["status"].iloc[2] == "ERROR" and "min_share" in table["error"].iloc[2]
    for run_dir in table["run_dir"].iloc[:2]:
        kpis = assert_valid_run(Path(run_dir))
        assert kpis["homes"] == 100
    assert table["support_homes"].iloc[0] >= 5 and table["support_homes"].iloc[1] >= 10
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sweep_on_a_local_dask_cluster(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    scenario = write_world(tmp_path / "w", target_homes=100)
    out = tmp_path / "sweep"
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        proc = flexplan(
            "sweep",
            scenario,
            "--param",
            "target_homes=80,100",
            "--out",
            out,
            "--scheduler",
            cluster.scheduler_address,
        )
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out / "sweep.csv")
    assert table["homes"].tolist() == [80, 100]
    for run_dir in table["run_dir"]:
        assert_valid_run(Path(run_dir))


def test_unreachable_scheduler_is_one_clear_line(tmp_path: Path) -> None:
    scenario = write_world(tmp_path / "w")
    proc = flexplan(
        "sweep",
        scenario,
        "--param",
        "target_homes=80",
        "--out",
        tmp_path / "s",
        "--scheduler",
        "tcp://127.0.0.1:9",
    )
    assert proc.returncode == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in proc.stderr
    assert "Traceback" not in proc.stderr
