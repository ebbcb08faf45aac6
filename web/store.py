"""Where scenarios and runs live on disk, reached only through names the server resolved itself.

A request never names a path: a scenario name is looked up among the files in SCENARIOS_DIR
(``default`` for ``default.yaml``), a run id among the folders under DATA_DIR/<name>/. Anything
else is :class:`NotFound`, which the app turns into a 404.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,99}$")
RUN_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")
PLAIN_RUN = "main"  # id of a plain DATA/<name>/ run folder (what `flexplan run --out` writes)
SUFFIXES = (".yaml", ".yml")


class NotFound(LookupError):
    """A name or id that does not resolve to a known file; shown as 404."""


@dataclass(frozen=True)
class Run:
    """A finished run folder of one scenario."""

    scenario: str
    run_id: str
    path: Path
    mtime: float

    def kpis(self) -> dict[str, Any]:
        return read_json(self.path / "kpis.json")


class Store:
    """Scenario files and run folders under the configured directories."""

    def __init__(self, scenarios_dir: Path, data_dir: Path) -> None:
        self.scenarios_dir = Path(scenarios_dir).resolve()
        self.data_dir = Path(data_dir).resolve()

    # --- scenarios ------------------------------------------------------------------------------

    def scenario_files(self) -> dict[str, Path]:
        """Name -> scenario file; files whose stem is not a safe name are skipped (and logged)."""
        found: dict[str, Path] = {}
        if not self.scenarios_dir.is_dir():
            return found
        for path in sorted(self.scenarios_dir.iterdir()):
            if path.suffix not in SUFFIXES or not path.is_file():
                continue
            if not NAME.match(path.stem):
                log.warning("web: scenario file %s skipped: name is not [A-Za-z0-9_-]", path.name)
                continue
            found.setdefault(path.stem, path)
        return found

    def scenario_path(self, name: str) -> Path:
        path = self.scenario_files().get(name) if NAME.match(name or "") else None
        if path is None:
            raise NotFound(f"no scenario named '{name}'")
        return path

    def scenario_title(self, name: str) -> str:
        """The scenario's own `name` field (free text, may hold anything), else the file name."""
        try:
            data = yaml.safe_load(self.scenario_path(name).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            return name
        title = data.get("name") if isinstance(data, dict) else None
        return str(title) if title else name

    # --- runs -----------------------------------------------------------------------------------

    def runs(self, name: str) -> list[Run]:
        """Finished runs of a scenario, newest first."""
        self.scenario_path(name)
        folder = self.data_dir / name
        if not folder.is_dir():
            return []
        found = []
        if _is_run(folder):
            found.append(Run(name, PLAIN_RUN, folder, _mtime(folder)))
        for sub in folder.iterdir():
            if sub.name != PLAIN_RUN and RUN_ID.match(sub.name) and _is_run(sub):
                found.append(Run(name, sub.name, sub, _mtime(sub)))
        return sorted(found, key=lambda r: (r.mtime, r.run_id), reverse=True)

    def run(self, name: str, run_id: str | None = None) -> Run:
        """One run by id, or the latest; NotFound when there is none."""
        runs = self.runs(name)
        if run_id is None:
            if not runs:
                raise NotFound(f"scenario '{name}' has no finished run yet")
            return runs[0]
        for run in runs:
            if run.run_id == run_id:
                return run
        raise NotFound(f"scenario '{name}' has no run '{run_id}'")

    def latest(self, name: str) -> Run | None:
        runs = self.runs(name)
        return runs[0] if runs else None

    def new_run_dir(self, name: str, run_id: str) -> Path:
        if not RUN_ID.match(run_id):
            raise ValueError(f"bad run id {run_id!r}")
        self.scenario_path(name)
        return self.data_dir / name / run_id

    @property
    def jobs_dir(self) -> Path:
        """Job records of runs started from the app (hidden: never a scenario name)."""
        return self.data_dir / ".jobs"


def _is_run(folder: Path) -> bool:
    return (folder / "kpis.json").is_file() and (folder / "allocation.gpkg").is_file()


def _mtime(folder: Path) -> float:
    return (folder / "kpis.json").stat().st_mtime


def read_json(path: Path) -> dict[str, Any]:
    return _read_json_cached(str(path), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _read_json_cached(path: str, _mtime_ns: int) -> dict[str, Any]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}
