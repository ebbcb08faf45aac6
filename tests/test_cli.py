"""The real `flexplan` command end to end, checked by the independent checker, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import yaml
from shapely.geometry import Point, box

from tests.checker import assert_valid_run
from tests.world import X0, Y0, write_world


def flexplan(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "planner", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture
def world(tmp_path: Path) -> Path:
    return write_world(tmp_path / "world", target_homes=120)


def test_run_writes_a_valid_run_folder(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = flexplan("run", world, "--out", out)
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "allocation.gpkg",
        "kpis.json",
        "manifest.json",
        "report.html",
        "reuse",
        "scenario.resolved.yaml",
        "support_assignments.csv",
    ]
    kpis = assert_valid_run(out)
    assert kpis["status"] == "OPTIMAL"
    assert kpis["homes"] == 120
    assert kpis["support_homes"] >= 12
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["stage_seconds"]) == {
        "load",
        "instance",
        "solve",
        "explain",
        "check",
        "write",
    }
    assert len(manifest["inputs"]["plots"]["sha256"]) == 64
    phases = manifest["solver_phases"]
    assert phases and all(p["termination"] in ("OPTIMAL", "FEASIBLE") for p in phases)
    plots = gpd.read_file(out / "allocation.gpkg", layer="plots")
    assert plots.crs.to_epsg() == 28992
    excluded = plots.set_index("plot_id").loc["P22"]
    assert not excluded["eligible"] and "geluidscontour" in excluded["reason"]
    assert "OPTIMAL" in proc.stdout


def test_python_dash_m_and_help() -> None:
    proc = flexplan("--help")
    assert proc.returncode == 0
    for command in ("validate", "schema", "run", "batch", "compare"):
        assert command in proc.stdout


def test_shortfall_is_explained_not_a_crash(tmp_path: Path) -> None:
    scenario = write_world(tmp_path / "w", target_homes=10_000)
    out = tmp_path / "run"
    proc = flexplan("run", scenario, "--out", out)
    assert proc.returncode == 0, proc.stderr
    kpis = assert_valid_run(out)
    assert kpis["status"] == "SHORTFALL"
    assert kpis["homes"] < 10_000
    assert "hold only" in " ".join(kpis["explanation"])


def test_same_scenario_same_allocation(world: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert flexplan("run", world, "--out", a).returncode == 0
    assert flexplan("run", world, "--out", b).returncode == 0
    pa = gpd.read_file(a / "allocation.gpkg", layer="plots")
    pb = gpd.read_file(b / "allocation.gpkg", layer="plots")
    assert pa[["plot_id", "homes", "support_homes"]].equals(
        pb[["plot_id", "homes", "support_homes"]]
    )
    assert (a / "support_assignments.csv").read_text() == (
        b / "support_assignments.csv"
    ).read_text()
    proc = flexplan("compare", a, b)
    assert proc.returncode == 0
    assert "0 plots differ" in proc.stdout


def test_set_override_and_compare(world: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert flexplan("run", world, "--out", a).returncode == 0
    proc = flexplan("run", world, "--out", b, "--set", "target_homes=100")
    assert proc.returncode == 0, proc.stderr
    assert assert_valid_run(b)["homes"] == 100
    diff = flexplan("compare", a, b)
    assert "homes" in diff.stdout and "-20" in diff.stdout


def test_rerun_replaces_the_folder_atomically(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert flexplan("run", world, "--out", out).returncode == 0
    (out / "stale.txt").write_text("old")
    assert flexplan("run", world, "--out", out).returncode == 0
    assert not (out / "stale.txt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_failed_run_leaves_nothing(tmp_path: Path) -> None:
    scenario = write_world(tmp_path / "w")
    (tmp_path / "w" / "services.gpkg").unlink()
    out = tmp_path / "run"
    proc = flexplan("run", scenario, "--out", out)
    assert proc.returncode == 1
    assert not out.exists()


def test_validate_and_schema(world: Path) -> None:
    proc = flexplan("validate", world)
    assert proc.returncode == 0, proc.stderr
    assert "valid" in proc.stdout and "reach pairs" in proc.stdout
    schema = json.loads(flexplan("schema").stdout)
    assert "target_homes" in schema["properties"]
    assert schema["properties"]["target_homes"]["description"]


def test_batch_runs_all_and_survives_a_failure(tmp_path: Path) -> None:
    good = write_world(tmp_path / "w", target_homes=120)
    folder = tmp_path / "scenarios"
    folder.mkdir()
    for name, target in (("a", 100), ("b", 120)):
        data = yaml.safe_load(good.read_text())
        data["target_homes"] = target
        data["name"] = name
        data["layers"] = {k: str(tmp_path / "w" / v) for k, v in data["layers"].items()}
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(data))
    (folder / "broken.yaml").write_text(
        "name: broken\ntarget_homes: 10\nlayers: {plots: nope.gpkg, services: nope.gpkg}\n"
    )
    out = tmp_path / "batch"
    proc = flexplan("batch", folder, "--out", out, "--workers", "2")
    assert proc.returncode == 1
    table = pd.read_csv(out / "comparison.csv")
    assert table["scenario"].tolist() == ["a", "b", "broken"]
    assert table["status"].tolist() == ["OPTIMAL", "OPTIMAL", "ERROR"]
    assert "nope.gpkg" in table.loc[2, "error"]
    assert assert_valid_run(out / "a")["homes"] == 100
    assert assert_valid_run(out / "b")["homes"] == 120
    assert "report.html" in (out / "comparison.html").read_text()


# --- bad input: one line naming the file/field, exit 1, no traceback -------------------------


def _edit_layer(folder: Path, kind: str, edit) -> None:
    path = folder / f"{kind}.gpkg"
    frame = gpd.read_file(path)
    frame = edit(frame)
    path.unlink()
    frame.to_file(path, layer=kind)


def _edit_scenario(path: Path, **changes) -> None:
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data))


def _duplicate_ids(f):
    f.loc[1, "plot_id"] = f.loc[0, "plot_id"]
    return f


def _negative_capacity(f):
    f.loc[2, "capacity"] = -5
    return f


def _points_for_polygons(f):
    return f.set_geometry([Point(X0, Y0)] * len(f), crs=f.crs)


def _empty_geometry(f):
    f.loc[0, "geometry"] = None
    return f


def _drop_plot_id(f):
    return f.drop(columns=["plot_id"])


BAD_LAYERS = [
    ("plots", _duplicate_ids, ["plots.gpkg", "plot_id", "P00"]),
    ("plots", _negative_capacity, ["plots.gpkg", "capacity", "negative"]),
    ("plots", _points_for_polygons, ["plots.gpkg", "polygon"]),
    ("plots", _empty_geometry, ["plots.gpkg", "geometry"]),
    ("plots", _drop_plot_id, ["plots.gpkg", "plot_id"]),
]


def _assert_one_line_error(proc: subprocess.CompletedProcess[str], expected: list[str]) -> None:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for word in expected:
        assert word.lower() in lines[0].lower(), (word, lines[0])


@pytest.mark.parametrize(
    ("kind", "edit", "expected"), BAD_LAYERS, ids=[e.__name__ for _, e, _ in BAD_LAYERS]
)
def test_bad_layer(tmp_path: Path, kind, edit, expected) -> None:
    scenario = write_world(tmp_path / "w")
    _edit_layer(tmp_path / "w", kind, edit)
    _assert_one_line_error(flexplan("validate", scenario), expected)
    _assert_one_line_error(flexplan("run", scenario, "--out", tmp_path / "o"), expected)
    assert not (tmp_path / "o").exists()


def test_missing_scenario_file(tmp_path: Path) -> None:
    _assert_one_line_error(flexplan("run", tmp_path / "nope.yaml"), ["nope.yaml", "not found"])


def test_missing_layer_file(tmp_path: Path) -> None:
    scenario = write_world(tmp_path / "w")
    (tmp_path / "w" / "regions.gpkg").unlink()
    _assert_one_line_error(flexplan("validate", scenario), ["regions.gpkg", "not found"])


def test_unknown_layer_format(tmp_path: Path) -> None:
    scenario = write_world(tmp_path / "w")
    (tmp_path / "w" / "plots.xyz").write_text("what")
    data = yaml.safe_load(scenario.read_text())
    data["layers"]["plots"] = "plots.xyz"
    scenario.write_text(yaml.safe_dump(data))
    _assert_one_line_error(flexplan("validate", scenario), ["plots.xyz", "gpkg"])


def test_csv_without_crs(tmp_path: Path) -> None:
    scenario = write_world(tmp_path / "w")
    pd.DataFrame({"plot_id": ["A"], "geometry": [box(X0, Y0, X0 + 100, Y0 + 100).wkt]}).to_csv(
        tmp_path / "w" / "plots.csv", index=False
    )
    data = yaml.safe_load(scenario.read_text())
    data["layers"]["plots"] = "plots.csv"
    scenario.write_text(yaml.safe_dump(data))
    _assert_one_line_error(flexplan("validate", scenario), ["plots.csv", "crs"])


def test_unknown_service_type_in_reach(tmp_path: Path) -> None:
    scenario = write_world(tmp_path / "w", support={"reach_m": {"huisarts": 900, "gzz": 3000}})
    _assert_one_line_error(flexplan("validate", scenario), ["reach_m", "gzz", "did you mean 'ggz'"])


def test_unknown_scenario_key_suggests(tmp_path: Path) -> None:
    scenario = write_world(tmp_path / "w")
    data = yaml.safe_load(scenario.read_text())
    data["support"]["min_shar"] = 0.2
    scenario.write_text(yaml.safe_dump(data))
    _assert_one_line_error(
        flexplan("validate", scenario),
        ["scenario.yaml", "support.min_shar", "did you mean 'min_share'"],
    )


def test_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed\n")
    _assert_one_line_error(flexplan("validate", path), ["bad.yaml", "yaml"])


def test_bad_override_value(world: Path, tmp_path: Path) -> None:
    _assert_one_line_error(
        flexplan("run", world, "--out", tmp_path / "o", "--set", "support.min_share=2"),
        ["support.min_share", "1"],
    )


def test_hint_from_previous_run(world: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    assert flexplan("run", world, "--out", first).returncode == 0
    proc = flexplan(
        "run", world, "--out", second, "--hint-from", first, "--set", "support.reach_m.huisarts=950"
    )
    assert proc.returncode == 0, proc.stderr
    kpis = assert_valid_run(second)
    assert kpis["status"] == "OPTIMAL"
    assert (
        yaml.safe_load((second / "scenario.resolved.yaml").read_text())["support"]["reach_m"][
            "huisarts"
        ]
        == 950
    )
    _assert_one_line_error(
        flexplan("run", world, "--out", tmp_path / "x", "--hint-from", tmp_path),
        ["not a run folder"],
    )
