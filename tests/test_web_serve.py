"""`flexplan serve`: options reach the app factory; a missing scenarios folder is one error line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from planner.commands.serve import register


def _cli() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command keeps `serve` a sub-command, as in planner.cli
        """Placeholder."""

    return app


def test_serve_passes_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: dict[str, Any] = {}

    def fake_run(self: Any, **kwargs: Any) -> None:
        calls.update(kwargs, data=self.config["DATA_DIR"], scenarios=self.config["SCENARIOS_DIR"])

    monkeypatch.setattr("flask.Flask.run", fake_run)
    (tmp_path / "sc").mkdir()
    result = CliRunner().invoke(
        _cli(),
        [
            "serve",
            "--port",
            "5077",
            "--data",
            str(tmp_path / "d"),
            "--scenarios",
            str(tmp_path / "sc"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert calls["host"] == "127.0.0.1" and calls["port"] == 5077
    assert calls["data"] == str(tmp_path / "d") and calls["scenarios"] == str(tmp_path / "sc")
    assert calls["threaded"] is True and calls["use_reloader"] is False


def test_serve_without_scenarios_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(_cli(), ["serve", "--scenarios", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "no such folder of scenario files" in result.output
