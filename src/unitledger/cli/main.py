"""Entry point of the ``unitledger`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from unitledger import __version__
from unitledger.cli import admin, attribution, extensions, licenses, usage
from unitledger.cli.client import ApiClient, resolve
from unitledger.cli.common import JsonFlag, client, friendly
from unitledger.cli.output import console, emit

app = typer.Typer(
    name="unitledger",
    help="Meter, enforce and attribute licensed capacity used by extensions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(licenses.app, name="license")
app.add_typer(admin.token_app, name="token")
app.add_typer(usage.app, name="usage")
app.add_typer(usage.quarantine_app, name="quarantine")
app.add_typer(admin.ledger_app, name="ledger")
app.add_typer(admin.db_app, name="db")
app.add_typer(admin.observability_app, name="observability")
app.add_typer(attribution.bu_app, name="bu")
app.add_typer(attribution.rules_app, name="rules")
app.add_typer(attribution.attribute_app, name="attribute")
app.add_typer(attribution.report_app, name="report")
app.add_typer(extensions.app, name="extension")


def _version(value: bool) -> None:
    if value:
        print(f"unitledger {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option(help="Server URL [env: UNITLEDGER_URL].")] = None,
    token: Annotated[str | None, typer.Option(help="API token [env: UNITLEDGER_TOKEN].")] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False,
) -> None:
    """Meter, enforce and attribute licensed capacity used by extensions."""
    final_url, final_token = resolve(url, token)
    ctx.obj = ApiClient(final_url, final_token)


@app.command()
@friendly
def serve(
    demo: Annotated[
        bool, typer.Option("--demo", help="Load demo licenses and 30 days of usage.")
    ] = False,
    host: Annotated[str | None, typer.Option(help="Bind address [env: UNITLEDGER_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port [env: UNITLEDGER_PORT].")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory [env: UNITLEDGER_DATA_DIR].")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL [env: UNITLEDGER_DATABASE_URL].")
    ] = None,
    nats_url: Annotated[
        str | None,
        typer.Option(help="External NATS; embedded when unset [env: UNITLEDGER_NATS_URL]."),
    ] = None,
    nats_port: Annotated[
        int | None, typer.Option(help="Embedded NATS port [env: UNITLEDGER_NATS_PORT].")
    ] = None,
) -> None:
    """Run the server: HTTP API, dashboard, and NATS (embedded unless --nats-url)."""
    from unitledger.config import Settings
    from unitledger.server import run

    settings = Settings().with_overrides(
        demo=demo or None,
        host=host,
        port=port,
        data_dir=data_dir,
        database_url=database_url,
        nats_url=nats_url,
        nats_port=nats_port,
    )
    run(settings)


@app.command()
@friendly
def demo(
    port: Annotated[int | None, typer.Option(help="HTTP port.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data directory.")] = None,
) -> None:
    """Same as `serve --demo`: a server with demo licenses and 30 days of usage."""
    from unitledger.config import Settings
    from unitledger.server import run

    run(Settings().with_overrides(demo=True, port=port, data_dir=data_dir))


@app.command()
@friendly
def info(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Server name, version, deployment id (needed to issue licenses) and NATS address."""
    data = client(ctx).get("/info")
    if not emit(data, as_json):
        for key, value in data.items():
            console.print(f"[bold]{key}[/bold]: {value}")


@app.command()
@friendly
def enforcement(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Current enforcement state, global and per extension."""
    data = client(ctx).get("/enforcement")
    if not emit(data, as_json):
        console.print(f"global: {data['state']} ({data['reason']})")
        for ext, item in data["extensions"].items():
            extra = (
                f" uncovered: {', '.join(item['uncovered_dimensions'])}"
                if item["uncovered_dimensions"]
                else ""
            )
            console.print(f"  {ext}: {item['state']}{extra}")


def main() -> None:
    app()
