"""From proposals to scenarios: ``plots: "db:accepted"`` end to end, and `flexplan plots export`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import typer
import yaml
from typer.testing import CliRunner

from geodata.contract import load_layer
from planner.commands import plots as plots_command
from planner.proposals import Store, create_proposals, update_proposal
from tests.checker import assert_valid_run
from tests.test_proposals_support import BACKENDS, cheap_passwords, empty_database, make_users
from tests.world import write_world

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with empty_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def world(tmp_path: Path) -> Path:
    """The small world of tests/world.py with ``plots: "db:accepted"`` in its scenario."""
    scenario = write_world(tmp_path / "world", target_homes=120)
    data = yaml.safe_load(scenario.read_text(encoding="utf-8"))
    data["layers"]["plots"] = "db:accepted"
    scenario.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return scenario


def _propose_world(url: str, world: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The world's 12 plots proposed by two corporations; all accepted except one rejected.

    Returns plot_id in the database -> the world's plot id it copies.
    """
    cheap_passwords(monkeypatch)
    plots = gpd.read_file(world.parent / "plots.gpkg", layer="plots")
    with Store(url) as store:
        users = make_users(store)
        copies: dict[str, str] = {}
        with store.session() as session:
            for org_user, rows in (("corp_a", plots.iloc[:6]), ("corp_b", plots.iloc[6:])):
                features = [
                    {
                        "geometry": row.geometry,
                        "properties": {
                            "name": row["name"],
                            "capacity": int(row["capacity"]),
                            "fixed_cost": row["fixed_cost"],
                            "cost_per_home": row["cost_per_home"],
                        },
                    }
                    for _, row in rows.iterrows()
                ]
                ids = create_proposals(session, users[org_user], features).ids
                pairs = zip(ids, rows["plot_id"], strict=True)
                copies.update({f"PROP-{i}": pid for i, pid in pairs})
        with store.session() as session:
            for plot_id in copies:
                pid = int(plot_id.removeprefix("PROP-"))
                status = "rejected" if pid == 1 else "accepted"
                update_proposal(
                    session, users["planner"], pid, {"status": status, "review_reason": "getoetst"}
                )
    return copies


def _flexplan(*args: str | Path, url: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLEXPLAN_DATABASE_URL": url, "FLEXPLAN_DATA": str(data)}
    return subprocess.run(
        [sys.executable, "-m", "planner", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )


def test_a_scenario_runs_on_the_accepted_proposals(
    db_url: str, world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copies = _propose_world(db_url, world, monkeypatch)
    data = tmp_path / "data"
    checked = _flexplan("validate", world, url=db_url, data=data)
    assert checked.returncode == 0, checked.stderr
    out = tmp_path / "run"
    proc = _flexplan("run", world, "--out", out, url=db_url, data=data)
    assert proc.returncode == 0, proc.stderr
    kpis = assert_valid_run(out)
    assert kpis["status"] == "OPTIMAL" and kpis["homes"] == 120

    allocation = pyogrio.read_dataframe(out / "allocation.gpkg", layer="plots")
    assert sorted(allocation["plot_id"]) == sorted(set(copies) - {"PROP-1"})  # 1 was rejected
    orgs = {"Woonstad" if int(p[5:]) <= 6 else "Eigen Haard" for p in allocation["plot_id"]}
    assert set(allocation["proposer"]) == orgs == {"Woonstad", "Eigen Haard"}
    per_proposer = allocation.groupby("proposer")["homes"].sum()
    assert per_proposer.sum() == 120

    resolved = yaml.safe_load((out / "scenario.resolved.yaml").read_text(encoding="utf-8"))
    snapshot = Path(resolved["layers"]["plots"]["path"])
    assert snapshot.parent == (data / "snapshots").resolve()
    assert snapshot.name.startswith("plots-accepted-") and snapshot.is_file()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["inputs"]["plots"]["path"] == str(snapshot)

    again = _flexplan("run", world, "--out", tmp_path / "run2", url=db_url, data=data)
    assert again.returncode == 0, again.stderr
    assert sorted((data / "snapshots").iterdir()) == [snapshot]  # unchanged set: reused


def test_no_accepted_proposals_is_one_clear_error(db_url: str, world: Path, tmp_path: Path) -> None:
    with Store(db_url):
        pass
    proc = _flexplan("run", world, "--out", tmp_path / "run", url=db_url, data=tmp_path / "d")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "there are no accepted proposals" in lines[0]
    assert "flexplan:flexplan" not in proc.stderr  # no password in messages
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ({"plots": "db:approved"}, "unknown proposal status 'approved'"),
        (
            {"plots": "plots.gpkg", "services": "db:accepted"},
            "only plots can come from the database",
        ),
    ],
)
def test_bad_database_layers_are_refused(
    world: Path, tmp_path: Path, layers: dict[str, str], message: str
) -> None:
    data = yaml.safe_load(world.read_text(encoding="utf-8"))
    data["layers"].update(layers)
    world.write_text(yaml.safe_dump(data), encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'x.db'}"
    proc = _flexplan("validate", world, url=url, data=tmp_path)
    assert proc.returncode == 1
    assert message in proc.stderr


def _app() -> typer.Typer:
    app = typer.Typer()
    plots_command.register(app)

    @app.callback()
    def _root() -> None:
        """Test app."""

    return app


def test_export_writes_a_contract_valid_plots_layer(
    db_url: str, world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copies = _propose_world(db_url, world, monkeypatch)
    monkeypatch.setenv("FLEXPLAN_DATABASE_URL", db_url)
    runner = CliRunner()
    out = tmp_path / "accepted.gpkg"
    result = runner.invoke(_app(), ["plots", "export", str(out), "--status", "accepted"])
    assert result.exit_code == 0, result.output
    assert "wrote 11 accepted plots" in result.output
    layer = load_layer("plots", out)
    assert len(layer) == 11 and set(layer["plot_id"]) == set(copies) - {"PROP-1"}
    assert set(layer["proposer"]) == {"Woonstad", "Eigen Haard"}
    assert layer.crs.to_epsg() == 28992
    rejected = tmp_path / "rejected.gpkg"
    result = runner.invoke(_app(), ["plots", "export", str(rejected), "--status", "rejected"])
    assert result.exit_code == 0, result.output
    assert list(load_layer("plots", rejected)["plot_id"]) == ["PROP-1"]
    bad = runner.invoke(_app(), ["plots", "export", str(out), "--status", "approved"])
    assert bad.exit_code == 1 and "unknown status 'approved'" in bad.output
