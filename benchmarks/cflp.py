"""OR-Library capacitated facility location through the whole Flexplan pipeline, against optima.

Each instance is converted to contract layers (geodata.importers.orlib) and run with
``planner.pipeline.run_scenario`` in a temporary folder, exactly as ``flexplan import orlib-cflp``
followed by ``flexplan run`` would. The table shows the objective, Beasley's published optimum
(optima.csv beside the files), their relative difference, the status, the solver's proven gap
and the stage seconds from the run's manifest.json.

    .venv/bin/python benchmarks/cflp.py                      # every instance in ../shared/data/cflp
    .venv/bin/python benchmarks/cflp.py --skip-large         # cap41..cap134 only
    .venv/bin/python benchmarks/cflp.py ../shared/data/cflp/cap41.txt capa.txt --time-limit 600

capa/capb/capc give the capacity as the word 'capacity'; each is run once per capacity listed in
optima.csv (``capa_8000``, ...). These 12 runs (1,000 customers x 100 facilities) take 0.4 to
5.4 minutes each on 2 cores, hence the default time limit of 900 s per solve.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import re
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from geodata.importers.orlib import read_orlib_cflp, write_instance  # noqa: E402
from planner.errors import FlexplanError  # noqa: E402
from planner.pipeline import run_scenario  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "cflp"
STAGES = ("load", "instance", "solve", "explain", "check", "write")
TOLERANCE = 1e-6


@dataclass(frozen=True)
class Case:
    """One run: a file, the capacity substituted (capa/b/c) and the published optimum."""

    label: str
    path: Path
    capacity: float | None
    optimum: float | None


def _natural_key(path: Path) -> tuple[int, int, str]:
    match = re.fullmatch(r"cap(\d+)", path.stem)
    return (0, int(match.group(1)), "") if match else (1, 0, path.stem)


def _instance_files(inputs: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        if item.is_dir():
            files.extend(p for p in item.glob("cap*.txt") if p.name != "capopt.txt")
        else:
            files.append(item)
    return sorted(dict.fromkeys(files), key=_natural_key)


def _optima(directory: Path) -> dict[str, float]:
    path = directory / "optima.csv"
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["instance"]: float(row["optimum"]) for row in csv.DictReader(handle)}


def _symbolic_capacity(path: Path) -> bool:
    tokens = path.read_text(encoding="utf-8").split(maxsplit=3)
    return len(tokens) > 2 and tokens[2].lower() == "capacity"


def cases(inputs: Sequence[Path], *, skip_large: bool) -> Iterator[Case]:
    """Every run to do, in file order; capa/b/c once per capacity listed in optima.csv."""
    for path in _instance_files(inputs):
        optima = _optima(path.parent)
        if not _symbolic_capacity(path):
            yield Case(path.stem, path, None, optima.get(path.stem))
            continue
        if skip_large:
            continue
        variants = sorted(
            (float(key.rsplit("_", 1)[1]), value)
            for key, value in optima.items()
            if key.startswith(f"{path.stem}_")
        )
        if not variants:
            print(f"{path}: symbolic capacity but no {path.stem}_<capacity> row in optima.csv")
        for capacity, optimum in variants:
            yield Case(f"{path.stem}_{capacity:g}", path, capacity, optimum)


def run_case(case: Case, time_limit_s: float) -> dict[str, object]:
    """Convert, run the pipeline in a temporary folder, and collect the figures."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"cflp-{case.label}-") as tmp:
        inst = read_orlib_cflp(case.path, capacity=case.capacity)
        write_instance(inst, Path(tmp) / "layers", time_limit_s=time_limit_s)
        convert = time.perf_counter() - started
        try:
            outcome = run_scenario(Path(tmp) / "layers" / "scenario.yaml", Path(tmp) / "run")
        except FlexplanError as exc:
            return {"label": case.label, "status": "ERROR", "error": str(exc), "convert": convert}
        manifest = json.loads((outcome.out_dir / "manifest.json").read_text(encoding="utf-8"))
        kpis = outcome.kpis
    objective = kpis.get("objective")
    rel = None
    if objective is not None and case.optimum:
        rel = abs(objective - case.optimum) / case.optimum
    return {
        "label": case.label,
        "objective": objective,
        "optimum": case.optimum,
        "rel": rel,
        "status": kpis["status"],
        "gap": kpis.get("gap"),
        "convert": convert,
        **{stage: manifest["stage_seconds"].get(stage, 0.0) for stage in STAGES},
    }


def _num(value: object, spec: str) -> str:
    return "-" if value is None else format(value, spec)


HEADER = (
    f"{'instance':<12} {'objective':>16} {'published':>16} {'rel diff':>9} {'status':<9} "
    f"{'gap':>8} " + " ".join(f"{s:>8}" for s in ("convert", *STAGES)) + f" {'total':>8}"
)


def format_row(row: dict[str, object]) -> str:
    if row["status"] == "ERROR":
        return f"{row['label']:<12} ERROR: {row['error']}"
    seconds = [float(row["convert"]), *(float(row[s]) for s in STAGES)]  # type: ignore[arg-type]
    return (
        f"{row['label']:<12} {_num(row['objective'], '16.3f')} {_num(row['optimum'], '16.3f')} "
        f"{_num(row['rel'], '9.1e')} {row['status']:<9} {_num(row['gap'], '8.1e')} "
        + " ".join(f"{s:8.2f}" for s in seconds)
        + f" {sum(seconds):8.2f}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit 1 when an instance misses its optimum or is not OPTIMAL."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="*", type=Path, default=[DEFAULT_DATA])
    parser.add_argument("--time-limit", type=float, default=900.0, help="seconds per solve")
    parser.add_argument("--skip-large", action="store_true", help="leave capa/capb/capc out")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    missing = [p for p in args.inputs if not p.exists()]
    if missing:
        parser.error(f"not found: {', '.join(map(str, missing))}")
    print(HEADER, flush=True)
    failures = 0
    for case in cases(args.inputs, skip_large=args.skip_large):
        row = run_case(case, args.time_limit)
        print(format_row(row), flush=True)
        rel = row.get("rel")
        if row["status"] != "OPTIMAL" or (rel is not None and rel >= TOLERANCE):  # type: ignore[operator]
            failures += 1
    print(f"{failures} instance(s) not OPTIMAL or off the published optimum by >= {TOLERANCE:g}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
