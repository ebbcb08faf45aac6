"""What every command shares: the consoles and the error boundary."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from planner.errors import FlexplanError

out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])
state = {"debug": False}


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


def handle_errors(func: F) -> F:
    """Bad input -> one red line on stderr and exit 1; bugs -> one line and exit 3."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FlexplanError as exc:
            err.print(f"[bold red]error:[/] {_one_line(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if state["debug"]:
                raise
            err.print(
                f"[bold red]internal error:[/] {type(exc).__name__}: {_one_line(str(exc))} "
                "(rerun with --debug for the traceback, and please report it)",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(3) from None

    return wrapper  # type: ignore[return-value]
