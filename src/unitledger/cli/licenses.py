"""``unitledger license …``: vendor keys, issuing, installing, listing, revoking."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from unitledger.cli.common import JsonFlag, client, friendly
from unitledger.cli.output import console, emit, table
from unitledger.issuing import issue_license, load_spec
from unitledger.signing import KeyPair, key_id, load_private_key

app = typer.Typer(
    help="Create vendor keys, issue signed licenses, install and revoke them.", no_args_is_help=True
)

COLUMNS = [
    "license_id",
    "status",
    "customer",
    "capacity_units",
    "used_units",
    "remaining_units",
    "over_units",
    "period",
    "expires_at",
]


@app.command()
@friendly
def keygen(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Private key file; the .pub goes beside it.")
    ] = Path("vendor.key"),
    force: Annotated[bool, typer.Option(help="Overwrite an existing key.")] = False,
) -> None:
    """Create a vendor Ed25519 key pair for signing licenses."""
    if out.exists() and not force:
        raise typer.BadParameter(f"{out} exists; pass --force to overwrite", param_hint="--out")
    pair = KeyPair.generate()
    pub = out.with_suffix(".pub")
    pair.write(out, pub)
    console.print(
        f"private key: {out} (keep it secret)\npublic key:  {pub} (give it to servers as "
        f"UNITLEDGER_VENDOR_PUBLIC_KEY)\nkey id: {key_id(pair.public)}"
    )


@app.command()
@friendly
def issue(
    spec: Annotated[
        Path, typer.Argument(help="License spec in TOML (or JSON).", exists=True, dir_okay=False)
    ],
    key: Annotated[
        Path, typer.Option("--key", "-k", help="Vendor private key.", exists=True, dir_okay=False)
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write the signed file here instead of stdout."),
    ] = None,
    deployment: Annotated[
        str | None, typer.Option(help="Override deployment_id from the spec.")
    ] = None,
) -> None:
    """Sign a license spec with the vendor key; prints or writes the license file."""
    payload = load_spec(spec)
    if deployment:
        payload["deployment_id"] = deployment
    envelope = issue_license(payload, load_private_key(key))
    text = json.dumps(envelope, indent=2, sort_keys=True) + "\n"
    if out is None:
        print(text, end="")
    else:
        out.write_text(text)
        console.print(f"wrote {out} (license {payload['license_id']})")


@app.command()
@friendly
def install(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    as_json: JsonFlag = False,
) -> None:
    """Install a signed license file on the server."""
    view = client(ctx).post("/licenses", content=file.read_bytes())
    if not emit(view, as_json):
        console.print(
            f"installed license {view['license_id']}: {view['status']}, "
            f"{view['capacity_units']:,.0f} units, expires {view['expires_at']}"
        )


@app.command("list")
@friendly
def list_(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List installed licenses with their status and usage."""
    views = client(ctx).get("/licenses")
    if not emit(views, as_json):
        table("Licenses", views, COLUMNS)


@app.command()
@friendly
def show(ctx: typer.Context, license_id: str, as_json: JsonFlag = False) -> None:
    """Show one license in full."""
    view = client(ctx).get(f"/licenses/{license_id}")
    if not emit(view, as_json):
        for name, value in view.items():
            console.print(f"[bold]{name}[/bold]: {value}")


@app.command()
@friendly
def revoke(ctx: typer.Context, license_id: str, as_json: JsonFlag = False) -> None:
    """Revoke a license for good."""
    view = client(ctx).post(f"/licenses/{license_id}/revoke")
    if not emit(view, as_json):
        console.print(f"revoked license {view['license_id']}")
