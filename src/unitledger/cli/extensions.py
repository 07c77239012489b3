"""``unitledger extension …``: which extensions exist and which are connected."""

from __future__ import annotations

import typer

from unitledger.cli.common import JsonFlag, client, friendly
from unitledger.cli.output import emit, table

app = typer.Typer(
    help="Extensions: connection, health and enforcement state.", no_args_is_help=True
)


@app.command("list")
@friendly
def list_extensions(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Every known extension: connected or inactive (by heartbeat), health, state, units."""
    rows = client(ctx).get("/extensions")
    if emit(rows, as_json):
        return
    for row in rows:
        row["instances"] = len(row["instances"])
    table(
        "Extensions",
        rows,
        [
            "extension_id",
            "connection",
            "health",
            "instances",
            "state",
            "units",
            "last_report_at",
            "last_heartbeat_at",
        ],
    )
