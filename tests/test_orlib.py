"""OR-Library capacitated facility location through the data contract and the real CLI.

A hand-made instance whose optimum needs a split demand checks the converter and the mapping;
the realdata tests check that `flexplan run` reaches Beasley's published optima.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import yaml

from geodata.contract import load_layer
from geodata.importers.orlib import integral_scale, read_orlib_cflp, write_instance
from planner.errors import LayerError
from tests.checker import assert_valid_run
from tests.test_cli import flexplan

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CFLP = SHARED / "cflp"

# 3 facilities (capacity, fixed cost), 2 customers (demand, then the cost of serving ALL of the
# demand from F1, F2, F3). F1 alone is too small (6 < 8); F2 alone costs 20 + 40 + 12 = 72;
# F1 + F2 with whole customers costs 30 + 8 + 12 = 50; the optimum splits C2: F1 takes C1 (4 x 2)
# and 2 of C2 (2 x 2), F2 the other 2 of C2 (2 x 3): 30 + 8 + 4 + 6 = 48. F3 is never worth it.
TINY = """\
3 2
 6 10.
 10 20.
 100 1000.
4
 8. 40. 400.
4
 8. 12.
 400.
"""
TINY_OPTIMUM = 48.0


def _write(tmp_path: Path, text: str, name: str = "tiny.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _needs_shared() -> None:
    if not CFLP.is_dir():
        pytest.skip(f"OR-Library instances not available at {CFLP}")


def _published(name: str) -> float:
    with open(CFLP / "optima.csv", newline="", encoding="utf-8") as handle:
        return {row["instance"]: float(row["optimum"]) for row in csv.DictReader(handle)}[name]


# --- the converter --------------------------------------------------------------------------


def test_reader_keeps_wrapped_cost_lines(tmp_path: Path) -> None:
    inst = read_orlib_cflp(_write(tmp_path, TINY))
    assert inst.name == "tiny"
    assert inst.capacity.tolist() == [6, 10, 100]
    assert inst.fixed_cost.tolist() == [10, 20, 1000]
    assert inst.demand.tolist() == [4, 4]
    assert inst.cost.tolist() == [[8, 40, 400], [8, 12, 400]]


def test_converter_writes_contract_layers(tmp_path: Path) -> None:
    out = tmp_path / "layers"
    write_instance(read_orlib_cflp(_write(tmp_path, TINY)), out, time_limit_s=30)
    plots = load_layer("plots", out / "plots.gpkg")
    regions = load_layer("regions", out / "regions.gpkg")
    services = load_layer("services", out / "services.gpkg")
    travel = load_layer("travel_costs", out / "travel_costs.csv")
    assert plots["plot_id"].tolist() == ["F1", "F2", "F3"]
    assert plots["capacity"].tolist() == [6, 10, 100]
    assert plots["fixed_cost"].tolist() == [10, 20, 1000]
    assert plots["min_homes"].tolist() == [1, 1, 1]
    assert plots.crs.to_epsg() == 28992
    assert regions["region_id"].tolist() == ["C1", "C2"]
    assert regions["demand"].tolist() == [4, 4]
    # No plot belongs to a customer's polygon, so no regional bound could touch a plot.
    points = shapely.point_on_surface(plots.geometry.to_numpy())
    assert not shapely.covered_by(points[:, None], regions.geometry.to_numpy()[None, :]).any()
    assert len(services) == 1
    assert services.distance(plots.union_all()).min() > 50_000
    # cost_per_home x demand gives back the instance's cost of serving the whole demand.
    table = travel.set_index(["region_id", "plot_id"])["cost_per_home"]
    assert table[("C1", "F2")] * 4 == pytest.approx(40)
    assert table[("C2", "F3")] * 4 == pytest.approx(400)
    assert len(travel) == 6
    scenario = yaml.safe_load((out / "scenario.yaml").read_text(encoding="utf-8"))
    assert scenario["target_homes"] == 8
    assert scenario["objective"] == "min_cost"
    assert scenario["defaults"]["min_homes"] == 1
    assert scenario["support"] == {"min_share": 0.0, "max_share_per_plot": 0.0, "reach_m": {}}
    assert scenario["solver"]["relative_gap"] == 0
    assert not list(out.glob(".*")), "temporary files left behind"


def test_fractional_demand_is_scaled_to_whole_homes(tmp_path: Path) -> None:
    text = "1 2\n 10.5 7.\n 2.25 9.\n 1.5 3.\n"
    inst = read_orlib_cflp(_write(tmp_path, text))
    assert integral_scale(inst) == 100
    out = tmp_path / "layers"
    write_instance(inst, out)
    plots = gpd.read_file(out / "plots.gpkg")
    regions = gpd.read_file(out / "regions.gpkg")
    travel = pd.read_csv(out / "travel_costs.csv")
    assert plots["capacity"].tolist() == [1050]
    assert regions["demand"].tolist() == [225, 150]
    # The objective is unchanged: the whole scaled demand still costs the instance's figure.
    np.testing.assert_allclose(travel["cost_per_home"] * regions["demand"], [9.0, 3.0])
    assert yaml.safe_load((out / "scenario.yaml").read_text())["target_homes"] == 375


def test_symbolic_capacity_needs_a_value(tmp_path: Path) -> None:
    path = _write(tmp_path, "2 1\n capacity 5.\n capacity 6.\n 3\n 1. 2.\n", "capx.txt")
    with pytest.raises(LayerError, match=r"capx\.txt: line 2: .*'capacity'.*--capacity"):
        read_orlib_cflp(path)
    inst = read_orlib_cflp(path, capacity=7)
    assert inst.capacity.tolist() == [7, 7]
    with pytest.raises(LayerError, match=r"tiny\.txt: line 2: .*only for files"):
        read_orlib_cflp(_write(tmp_path, TINY), capacity=7)


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("", 0, "ends where the number of facilities"),
        ("2 x\n", 1, "number of customers n 'x' is not a whole number"),
        ("1 1\n 5 abc\n 3\n 1.\n", 2, "fixed cost of facility 1 'abc' is not a number"),
        ("1 1\n 5 1.\n -3\n 1.\n", 3, "demand of customer 1 '-3' is negative"),
        ("1 1\n 5 1.\n 0\n 1.\n", 3, "demand 0"),
        ("1 2\n 5 1.\n 3\n 1.\n 2\n", 5, "ends where the cost of customer 2 at facility 1"),
        ("1 1\n 5 1.\n 3\n 1.\n 7\n", 5, "unexpected '7' after the last customer"),
        ("1 1\n 5 1.\n 3\n nan\n", 4, "'nan' is not a finite number"),
    ],
)
def test_malformed_file_names_file_and_line(
    tmp_path: Path, text: str, line: int, what: str
) -> None:
    path = _write(tmp_path, text, "bad.txt")
    with pytest.raises(LayerError) as caught:
        read_orlib_cflp(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: line {line}: ")
    assert what in message
    assert "\n" not in message


def test_cli_malformed_file_is_one_line_exit_1(tmp_path: Path) -> None:
    path = _write(tmp_path, "1 1\n 5 abc\n 3\n 1.\n", "bad.txt")
    out = tmp_path / "out"
    proc = flexplan("import", "orlib-cflp", path, "--out", out)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and "bad.txt: line 2:" in lines[0]
    assert not out.exists()


# --- end to end on the hand-made instance -----------------------------------------------------


def test_cli_reaches_hand_computed_optimum(tmp_path: Path) -> None:
    layers, run = tmp_path / "layers", tmp_path / "run"
    proc = flexplan("import", "orlib-cflp", _write(tmp_path, TINY), "--out", layers)
    assert proc.returncode == 0, proc.stderr
    assert "scenario.yaml" in proc.stdout
    proc = flexplan("run", layers / "scenario.yaml", "--out", run)
    assert proc.returncode == 0, proc.stderr
    kpis = assert_valid_run(run)
    assert kpis["status"] == "OPTIMAL"
    assert kpis["objective"] == pytest.approx(TINY_OPTIMUM, rel=1e-9)
    plots = gpd.read_file(run / "allocation.gpkg", layer="plots").set_index("plot_id")
    assert plots["homes"].to_dict() == {"F1": 6, "F2": 2, "F3": 0}
    flows = pd.read_csv(run / "region_flows.csv")
    split = flows[flows["region_id"] == "C2"].set_index("plot_id")["homes"].to_dict()
    assert split == {"F1": 2, "F2": 2}


# --- published optima (OR-Library) ------------------------------------------------------------


def _import_and_run(tmp_path: Path, name: str) -> dict[str, object]:
    layers, run = tmp_path / "layers", tmp_path / "run"
    proc = flexplan("import", "orlib-cflp", CFLP / f"{name}.txt", "--out", layers)
    assert proc.returncode == 0, proc.stderr
    proc = flexplan("run", layers / "scenario.yaml", "--out", run)
    assert proc.returncode == 0, proc.stderr
    return assert_valid_run(run)


def _assert_optimum(kpis: dict[str, object], name: str) -> None:
    published = _published(name)
    assert kpis["status"] == "OPTIMAL"
    assert abs(float(kpis["objective"]) - published) / published < 1e-6  # type: ignore[arg-type]


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["cap41", "cap71", "cap101", "cap131"])
def test_flexplan_reaches_published_optimum(tmp_path: Path, name: str) -> None:
    _needs_shared()
    _assert_optimum(_import_and_run(tmp_path, name), name)


OTHER_SMALL = [
    *(f"cap{k}" for k in (42, 43, 44, 51, 61, 62, 63, 64, 72, 73, 74, 81, 82, 83, 84)),
    *(f"cap{k}" for k in (91, 92, 93, 94, 102, 103, 104, 111, 112, 113, 114)),
    *(f"cap{k}" for k in (121, 122, 123, 124, 132, 133, 134)),
]


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("name", OTHER_SMALL)
def test_flexplan_reaches_published_optimum_all_small(tmp_path: Path, name: str) -> None:
    _needs_shared()
    _assert_optimum(_import_and_run(tmp_path, name), name)


@pytest.mark.realdata
def test_benchmark_script_prints_the_table(tmp_path: Path) -> None:
    _needs_shared()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cflp.py"), str(CFLP / "cap41.txt")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    header, row = proc.stdout.splitlines()[:2]
    assert header.split()[:5] == ["instance", "objective", "published", "rel", "diff"]
    fields = row.split()
    assert fields[0] == "cap41" and fields[4] == "OPTIMAL"
    assert float(fields[1]) == pytest.approx(_published("cap41"), rel=1e-6)


# --- the large instances: capa, capb, capc (100 facilities x 1,000 customers) -----------------


def _large_variants() -> list[str]:
    """Every capacity variant of capa/capb/capc listed in optima.csv (capa_8000, ...)."""
    if not (CFLP / "optima.csv").is_file():
        return ["capa_8000"]  # skipped by _needs_shared
    with open(CFLP / "optima.csv", newline="", encoding="utf-8") as handle:
        names = [row["instance"] for row in csv.DictReader(handle)]
    return [name for name in names if name.split("_")[0] in ("capa", "capb", "capc")]


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.large  # 24 s to 5.4 min each, about 30 min in all: `make test-large`
@pytest.mark.parametrize("name", _large_variants())
def test_flexplan_reaches_published_optimum_large(tmp_path: Path, name: str) -> None:
    """1,000 customers x 100 facilities, through `flexplan import` and `flexplan run`."""
    _needs_shared()
    stem, capacity = name.split("_")
    layers, run = tmp_path / "layers", tmp_path / "run"
    command = [sys.executable, "-m", "planner"]
    source = str(CFLP / f"{stem}.txt")
    limit = ["--capacity", capacity, "--time-limit", "1800"]
    proc = subprocess.run(
        [*command, "import", "orlib-cflp", source, "--out", str(layers), *limit],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run(
        [*command, "run", str(layers / "scenario.yaml"), "--out", str(run)],
        capture_output=True,
        text=True,
        timeout=2400,
    )
    assert proc.returncode == 0, proc.stderr
    _assert_optimum(assert_valid_run(run), name)
