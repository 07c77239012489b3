"""Shared CLI plumbing: the client in the Typer context, JSON flag, error exit."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from unitledger.cli.client import ApiClient, CliError
from unitledger.cli.output import err_console
from unitledger.errors import UnitledgerError

P = ParamSpec("P")
R = TypeVar("R")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def client(ctx: typer.Context) -> ApiClient:
    obj = ctx.find_root().obj
    assert isinstance(obj, ApiClient)
    return obj


def friendly(func: Callable[P, R]) -> Callable[P, R]:
    """Turn CLI and domain errors into one red line and a non-zero exit."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except CliError as exc:
            err_console.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(exc.exit_code) from None
        except UnitledgerError as exc:
            where = f" [field: {exc.field}]" if exc.field else ""
            err_console.print(f"[red]error:[/red] {exc.detail}{where}", highlight=False)
            raise typer.Exit(1) from None
        except OSError as exc:
            err_console.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(1) from None

    return wrapper


def parse_pairs(pairs: list[str], what: str = "dimension") -> dict[str, Any]:
    """``name=value`` arguments into a dict of floats, with errors naming the bad pair."""
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise CliError(
                f"{what} {pair!r} must look like name=value (e.g. tables_replicated=5)", 2
            )
        try:
            values[name] = float(raw)
        except ValueError:
            raise CliError(f"{what} {name!r} has value {raw!r}, which is not a number", 2) from None
    return values
