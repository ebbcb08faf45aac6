"""`flexplan users`: the accounts of the web app (corporations, planners, admins).

The same store functions serve the app's admin pages (``/admin/users``, `web.admin`).

The database is the one `flexplan serve --data DIR` uses: ``DIR/flexplan.db``, or
``FLEXPLAN_DATABASE_URL`` when set (see planner/proposals/db.py). Passwords are stored as argon2
hashes and API tokens as SHA-256 hashes; a token is shown once, when it is made.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from planner.commands._common import handle_errors, out

DataOption = Annotated[
    Path,
    typer.Option(
        help="Data folder of `flexplan serve --data`; the database is DATA/flexplan.db "
        "unless FLEXPLAN_DATABASE_URL is set."
    ),
]

users_app = typer.Typer(
    help="Manage the web app's users: add, token, list, disable, enable, password.",
    no_args_is_help=True,
)


def _read_password(from_stdin: bool) -> str:
    """One line from stdin (for scripts), or a hidden prompt asked twice."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@users_app.command("add")
@handle_errors
def add(
    name: Annotated[str, typer.Argument(help="Sign-in name (letters, digits, . _ @ -).")],
    role: Annotated[str, typer.Option(help="corporation, planner or admin.")],
    org: Annotated[
        str | None,
        typer.Option(help="Organisation of a corporation user (required for that role only)."),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin, one line.")
    ] = False,
    data: DataOption = Path("results"),
) -> None:
    """Add a user; asks for the password unless --password-stdin."""
    from planner.proposals import add_user, open_store

    password = _read_password(password_stdin)
    with open_store(data) as store, store.session() as session:
        user = add_user(session, name, role, password, org=org)
        where = f" of {user.org}" if user.org else ""
        out.print(f"added {user.role} '{user.name}'{where}", highlight=False, markup=False)


@users_app.command("token")
@handle_errors
def token(
    name: Annotated[str, typer.Argument(help="The user.")],
    data: DataOption = Path("results"),
) -> None:
    """Print a new personal API token (replaces the user's earlier token)."""
    from planner.proposals import issue_token, open_store

    with open_store(data) as store, store.session() as session:
        value = issue_token(session, name)
    # printed only after the commit, so a printed token always works
    typer.echo(value)


@users_app.command("list")
@handle_errors
def list_(data: DataOption = Path("results")) -> None:
    """List every user: name, role, organisation, active or disabled, whether a token is set."""
    from planner.proposals import list_users, open_store

    with open_store(data) as store, store.session(write=False) as session:
        users = list_users(session)
        if not users:
            out.print("no users; add one with `flexplan users add`", highlight=False, markup=False)
        for user in users:
            state = "disabled" if user.disabled else "active"
            has_token = "token" if user.token_hash else "-"
            # tab-separated plain text, for scripts (names are never read as markup)
            typer.echo(f"{user.name}\t{user.role}\t{user.org or '-'}\t{state}\t{has_token}")


@users_app.command("disable")
@handle_errors
def disable(
    name: Annotated[str, typer.Argument(help="The user.")],
    data: DataOption = Path("results"),
) -> None:
    """Disable a user and revoke their API token (their proposals stay)."""
    from planner.proposals import disable_user, open_store

    with open_store(data) as store, store.session() as session:
        disable_user(session, name)
    out.print(f"disabled '{name}'", highlight=False, markup=False)


@users_app.command("enable")
@handle_errors
def enable(
    name: Annotated[str, typer.Argument(help="The user.")],
    data: DataOption = Path("results"),
) -> None:
    """Let a disabled user sign in again (issue a new token with `flexplan users token`)."""
    from planner.proposals import enable_user, open_store

    with open_store(data) as store, store.session() as session:
        enable_user(session, name)
    out.print(f"enabled '{name}'", highlight=False, markup=False)


@users_app.command("password")
@handle_errors
def password(
    name: Annotated[str, typer.Argument(help="The user.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin, one line.")
    ] = False,
    data: DataOption = Path("results"),
) -> None:
    """Set a new password for a user; asks for it unless --password-stdin."""
    from planner.proposals import open_store, set_password

    value = _read_password(password_stdin)
    with open_store(data) as store, store.session() as session:
        set_password(session, name, value)
    out.print(f"new password set for '{name}'", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    """Add the `users` command group."""
    app.add_typer(users_app, name="users")
