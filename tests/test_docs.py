"""Documentation that cannot drift: the scenario reference and the README's commands."""

from __future__ import annotations

import re
from pathlib import Path

from planner.docs import scenario_reference

ROOT = Path(__file__).resolve().parent.parent


def test_scenario_reference_is_current() -> None:
    committed = (ROOT / "docs" / "scenario.md").read_text(encoding="utf-8")
    assert committed == scenario_reference(), "run `python -m planner.docs` and commit the result"


def test_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```(?:sh|bash|console)?\n(.*?)```", readme, flags=re.S)
    assert blocks, "README has no command block"
    assert blocks[0].split() == ["make", "demo", "make", "test"]


def test_readme_documents_every_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for command in ("validate", "schema", "run", "batch", "compare"):
        assert f"flexplan {command}" in readme, command


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
