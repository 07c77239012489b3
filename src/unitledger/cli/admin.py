"""``unitledger token …``, ``ledger …``, ``db …`` and ``observability …``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import Progress

from unitledger.cli.common import JsonFlag, client, friendly
from unitledger.cli.output import console, emit, table

token_app = typer.Typer(help="API tokens (admin, viewer, extension).", no_args_is_help=True)
ledger_app = typer.Typer(help="The tamper-evident usage ledger.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
observability_app = typer.Typer(
    help="Metrics, as the dashboard and Prometheus see them.", no_args_is_help=True
)


@token_app.command()
@friendly
def create(
    ctx: typer.Context,
    role: Annotated[str, typer.Option(help="admin, viewer or extension")],
    extension: Annotated[
        str | None, typer.Option("--extension", "-e", help="For extension tokens.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="A label for the token.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a token. It is printed once; only its hash is stored."""
    body = {"role": role, "extension_id": extension, "name": name or (extension or role)}
    data = client(ctx).post("/tokens", json=body)
    if not emit(data, as_json):
        console.print(f"token {data['token_info']['token_id']} ({role}); shown once:")
        print(data["token"])


@token_app.command("list")
@friendly
def list_tokens(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List tokens (never their secrets)."""
    data = client(ctx).get("/tokens")
    if not emit(data, as_json):
        table("Tokens", data, ["token_id", "role", "extension_id", "name", "created_at", "revoked"])


@token_app.command()
@friendly
def revoke(ctx: typer.Context, token_id: str) -> None:
    """Revoke a token by id."""
    client(ctx).request("DELETE", f"/tokens/{token_id}")
    console.print(f"revoked token {token_id}")


@ledger_app.command()
@friendly
def verify(
    ctx: typer.Context,
    database: Annotated[
        str | None, typer.Option(help="Check this database URL directly (offline).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Re-check the hash chain; names the first bad record. Exit code 1 when broken."""
    if database:
        from unitledger.adapters.storage.engine import make_engine
        from unitledger.adapters.storage.queries import SqlQueries
        from unitledger.service.verify import verify_chain

        queries = SqlQueries(make_engine(database))
        with (
            queries.ledger_snapshot() as (head, rows),
            Progress(console=console, transient=True, disable=as_json) as progress,
        ):
            task = progress.add_task("verifying", total=head[0] if head else None)
            report = verify_chain(rows, head, lambda n: progress.update(task, completed=n))
        data = report.to_dict()
    else:
        data = client(ctx).get("/ledger/verify")
    if not emit(data, as_json):
        if data["ok"]:
            console.print(f"[green]ledger ok[/green]: {data['records']} records chained")
        else:
            console.print(
                f"[red]ledger broken[/red] at record {data['first_bad_record']}: {data['problem']}"
            )
    if not data["ok"]:
        raise typer.Exit(1)


@db_app.command()
@friendly
def upgrade(
    database: Annotated[
        str | None, typer.Option(help="Database URL (default: from settings).")
    ] = None,
) -> None:
    """Apply database migrations up to the newest schema."""
    from unitledger.adapters.storage.engine import make_engine
    from unitledger.adapters.storage.migrate import upgrade as run_upgrade
    from unitledger.config import Settings

    url = database or Settings().sqlalchemy_url
    run_upgrade(make_engine(url))
    console.print(f"database at {url.split('@')[-1]} is up to date")


@observability_app.command("query_scalar_metrics")
@friendly
def query_scalar_metrics(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="e.g. licensing.usage.units")],
    extension: Annotated[str | None, typer.Option("--extension", "-e")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Print one scalar metric: licensing.usage.units, .units_available, .units_remaining,
    licensing.checks.total, licensing.enforcements.blocked."""
    data = client(ctx).get(f"/metrics/{name}", extension_id=extension)
    if not emit(data, as_json):
        print(f"{data['value']:g}")
