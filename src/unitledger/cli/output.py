"""Printing results: Rich tables for people, ``--json`` for scripts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["console", "emit", "err_console", "table"]

console = Console()
err_console = Console(stderr=True)


def emit(data: Any, as_json: bool) -> bool:
    """Print ``data`` as JSON when asked; returns whether it did."""
    if as_json:
        print(json.dumps(data, indent=2, sort_keys=True))
    return as_json


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def table(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    grid = Table(title=title)
    for column in columns:
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*(fmt(row.get(c)) for c in columns))
    console.print(grid)
