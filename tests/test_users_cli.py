"""`flexplan users add|token|list|disable|enable|password`, through a tiny Typer app."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from planner.commands import users as users_command
from planner.proposals import (
    Store,
    authenticate_password,
    authenticate_token,
    list_users,
    user_audit_trail,
)
from tests.test_proposals_support import cheap_passwords

PASSWORD = "correct horse battery"


def _app() -> typer.Typer:
    app = typer.Typer()
    users_command.register(app)

    @app.callback()
    def _root() -> None:
        """Test app."""

    return app


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLEXPLAN_DATABASE_URL", raising=False)
    monkeypatch.delenv("FLEXPLAN_DATA", raising=False)
    cheap_passwords(monkeypatch)


def _users(data: Path, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(_app(), ["users", *args, "--data", str(data)], input=stdin)


def _add(data: Path, name: str, *options: str) -> Result:
    return _users(data, "add", name, *options, "--password-stdin", stdin=PASSWORD + "\n")


def test_add_token_list_disable(tmp_path: Path) -> None:
    data = tmp_path / "results"
    assert _add(data, "anna", "--role", "corporation", "--org", "Woonstad").exit_code == 0
    prompted = _users(data, "add", "piet", "--role", "planner", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert prompted.exit_code == 0, prompted.output
    assert "added planner 'piet'" in prompted.output
    assert (data / "flexplan.db").is_file()  # DATA/flexplan.db, as `flexplan serve --data`

    token = _users(data, "token", "anna")
    assert token.exit_code == 0, token.output
    value = token.stdout.strip()
    assert value.startswith("fp_") and len(value) > 40

    listed = _users(data, "list")
    assert listed.exit_code == 0
    rows = [line.split("\t") for line in listed.stdout.strip().splitlines()]
    assert rows == [
        ["anna", "corporation", "Woonstad", "active", "token"],
        ["piet", "planner", "-", "active", "-"],
    ]

    with Store(f"sqlite:///{data / 'flexplan.db'}") as store, store.session() as session:
        assert authenticate_token(session, value).name == "anna"  # type: ignore[union-attr]
        assert authenticate_password(session, "piet", PASSWORD) is not None
        assert all(value not in (u.token_hash or "") for u in list_users(session))

    disabled = _users(data, "disable", "anna")
    assert disabled.exit_code == 0 and "disabled 'anna'" in disabled.output
    listed = _users(data, "list")
    assert "anna\tcorporation\tWoonstad\tdisabled\t-" in listed.stdout
    with Store(f"sqlite:///{data / 'flexplan.db'}") as store, store.session() as session:
        assert authenticate_token(session, value) is None
        assert authenticate_password(session, "anna", PASSWORD) is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--role", "boss"), "role: must be one of corporation, planner, admin"),
        (("--role", "corporation"), "org: a corporation user needs an organisation (--org)"),
        (("--role", "planner", "--org", "Woonstad"), "org: a planner belongs to no organisation"),
        (("--role", "admin", "--org", "Woonstad"), "org: an admin belongs to no organisation"),
    ],
)
def test_add_refuses_bad_role_and_org_combinations(
    tmp_path: Path, options: tuple[str, ...], message: str
) -> None:
    result = _add(tmp_path, "anna", *options)
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())
    assert "no users" in _users(tmp_path, "list").stdout


def test_prompted_passwords_must_match_and_be_long_enough(tmp_path: Path) -> None:
    mismatch = _users(tmp_path, "add", "piet", "--role", "planner", stdin="abcdefghijk\nother\n")
    assert mismatch.exit_code != 0
    short = _users(tmp_path, "add", "piet", "--role", "planner", "--password-stdin", stdin="kort\n")
    assert short.exit_code == 1 and "at least 10 characters" in short.output
    assert "no users" in _users(tmp_path, "list").stdout


def test_a_name_is_taken_once_and_unknown_users_are_reported(tmp_path: Path) -> None:
    assert _add(tmp_path, "piet", "--role", "planner").exit_code == 0
    again = _add(tmp_path, "piet", "--role", "admin")
    assert again.exit_code == 1 and "already exists" in again.output
    for command in ("token", "disable", "enable"):
        missing = _users(tmp_path, command, "nobody")
        assert missing.exit_code == 1 and "no user 'nobody'" in missing.output


def test_enable_and_password_reset(tmp_path: Path) -> None:
    new_password = "a different passphrase"
    assert _add(tmp_path, "anna", "--role", "corporation", "--org", "Woonstad").exit_code == 0
    assert _users(tmp_path, "disable", "anna").exit_code == 0
    enabled = _users(tmp_path, "enable", "anna")
    assert enabled.exit_code == 0 and "enabled 'anna'" in enabled.output
    assert "anna\tcorporation\tWoonstad\tactive\t-" in _users(tmp_path, "list").stdout
    short = _users(tmp_path, "password", "anna", "--password-stdin", stdin="kort\n")
    assert short.exit_code == 1 and "at least 10 characters" in short.output
    reset = _users(tmp_path, "password", "anna", "--password-stdin", stdin=new_password + "\n")
    assert reset.exit_code == 0, reset.output
    with Store(f"sqlite:///{tmp_path / 'flexplan.db'}") as store, store.session() as session:
        assert authenticate_password(session, "anna", PASSWORD) is None
        assert authenticate_password(session, "anna", new_password) is not None
        actions = [e.action for e in user_audit_trail(session, "anna")]
    assert actions == ["user.password", "user.enable", "user.disable", "user.add"]


def test_the_database_url_overrides_the_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere.db"
    monkeypatch.setenv("FLEXPLAN_DATABASE_URL", f"sqlite:///{elsewhere}")
    data = tmp_path / "results"
    assert _add(data, "piet", "--role", "planner").exit_code == 0
    assert elsewhere.is_file()
    assert not (data / "flexplan.db").exists()
