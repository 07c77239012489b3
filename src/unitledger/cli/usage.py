"""``unitledger usage …`` and ``quarantine …``: report, summarise, list records."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from unitledger.cli.common import JsonFlag, client, friendly, parse_pairs
from unitledger.cli.output import console, emit, table

app = typer.Typer(help="Report usage and read it back.", no_args_is_help=True)
quarantine_app = typer.Typer(
    help="Reports held back because no license covered a dimension.", no_args_is_help=True
)


@app.command()
@friendly
def report(
    ctx: typer.Context,
    dimensions: Annotated[
        list[str], typer.Argument(help="name=value pairs, e.g. tables_replicated=5")
    ],
    extension: Annotated[str, typer.Option("--extension", "-e", help="Reporting extension id.")],
    account: Annotated[
        str | None, typer.Option("--account", "-a", help="Account the work was done for.")
    ] = None,
    key: Annotated[
        str | None, typer.Option("--idempotency-key", help="Reuse to retry safely.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Report usage as an extension would (over HTTP)."""
    body = {
        "extension_id": extension,
        "account": account,
        "dimensions": parse_pairs(dimensions),
        "idempotency_key": key or f"cli-{uuid.uuid4().hex}",
    }
    if account is None:
        body.pop("account")
    result = client(ctx).post("/usage", json=body)
    if emit(result, as_json):
        return
    if result.get("quarantine_id"):
        console.print(
            f"[red]not counted[/red]: {result['reason']} (quarantine #{result['quarantine_id']})"
        )
    else:
        console.print(
            f"record {result['record_id']}: {result['units']:,.2f} units "
            f"{result['units_by_dimension']}"
        )
    console.print(f"state {result['state']}, extension {result['extension_state']}")


@app.command()
@friendly
def summary(
    ctx: typer.Context, start: str | None = None, end: str | None = None, as_json: JsonFlag = False
) -> None:
    """Capacity, units used, remaining (or over), state, and units per extension."""
    data = client(ctx).get("/usage/summary", start=start, end=end)
    if emit(data, as_json):
        return
    colour = {"OK": "green", "WARNING": "yellow", "UNLICENSED": "red"}[data["state"]]
    console.print(f"Status: [{colour}]{data['state']}[/{colour}] ({data['reason']})")
    console.print(f"Available units: {data['available_units']:,.2f}")
    console.print(f"Units used:      {data['used_units']:,.2f}")
    if data["over_units"] > 0:
        console.print(f"[red]Units over:      {data['over_units']:,.2f}[/red]")
    else:
        console.print(f"Units remaining: {data['remaining_units']:,.2f}")
    table(
        "Units by extension",
        data["extensions"],
        ["extension_id", "state", "units", "share", "last_report_at"],
    )


@app.command()
@friendly
def records(
    ctx: typer.Context,
    extension: Annotated[str | None, typer.Option("--extension", "-e")] = None,
    account: Annotated[str | None, typer.Option("--account", "-a")] = None,
    start: str | None = None,
    end: str | None = None,
    limit: int = 50,
    cursor: int | None = None,
    as_json: JsonFlag = False,
) -> None:
    """Usage records, newest first; prints the cursor for the next page."""
    data = client(ctx).get(
        "/usage/records",
        extension_id=extension,
        account=account,
        start=start,
        end=end,
        limit=limit,
        cursor=cursor,
    )
    if emit(data, as_json):
        return
    table(
        "Usage records",
        data["items"],
        [
            "record_id",
            "occurred_at",
            "extension_id",
            "account",
            "units",
            "dimensions",
            "business_unit_id",
        ],
    )
    if data["next_cursor"]:
        console.print(f"more: --cursor {data['next_cursor']}")


@quarantine_app.command("list")
@friendly
def quarantine_list(ctx: typer.Context, status: str = "held", as_json: JsonFlag = False) -> None:
    """List quarantined reports and why they were not counted."""
    data = client(ctx).get("/quarantine", status=status)
    if not emit(data, as_json):
        table(
            "Quarantine", data, ["quarantine_id", "extension_id", "dimensions", "reason", "status"]
        )


@quarantine_app.command()
@friendly
def replay(
    ctx: typer.Context,
    ids: Annotated[list[int] | None, typer.Argument()] = None,
    extension: Annotated[str | None, typer.Option("--extension", "-e")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Count held reports that a license now covers."""
    data = client(ctx).post(
        "/quarantine/replay", json={"ids": ids or None, "extension_id": extension}
    )
    if not emit(data, as_json):
        console.print(f"replayed {data['replayed']}, still held {data['still_held']}")
