"""``unitledger bu …``, ``rules …``, ``attribute …`` and ``report …``: attribution and chargeback."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TransferSpeedColumn,
)

from unitledger.cli.client import CliError, _problem_text
from unitledger.cli.common import JsonFlag, client, friendly
from unitledger.cli.output import console, emit, err_console, table

bu_app = typer.Typer(help="Business units usage is charged to.", no_args_is_help=True)
rules_app = typer.Typer(
    help="Attribution rules: (extension, account) patterns → business unit.", no_args_is_help=True
)
attribute_app = typer.Typer(
    help="Attribute records by hand, clear that, or re-apply rules.", no_args_is_help=True
)
report_app = typer.Typer(
    help="Allocation reports and exports (CSV, JSON, FOCUS, signed).", no_args_is_help=True
)

Start = Annotated[str | None, typer.Option("--start", help="Window start (ISO date or time, UTC).")]
End = Annotated[
    str | None, typer.Option("--end", help="Window end, exclusive (ISO date or time, UTC).")
]


# -- business units ---------------------------------------------------------------
def _unit_body(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


@bu_app.command("list")
@friendly
def bu_list(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List business units."""
    data = client(ctx).get("/business-units")
    if not emit(data, as_json):
        table(
            "Business units",
            data,
            ["business_unit_id", "name", "contact_email", "soft_quota_units", "rules"],
        )


@bu_app.command("show")
@friendly
def bu_show(ctx: typer.Context, business_unit_id: str, as_json: JsonFlag = False) -> None:
    """Show one business unit."""
    data = client(ctx).get(f"/business-units/{business_unit_id}")
    if not emit(data, as_json):
        for key, value in data.items():
            console.print(f"[bold]{key}[/bold]: {value}")


@bu_app.command("create")
@friendly
def bu_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name, e.g. 'Data Platform'.")],
    business_unit_id: Annotated[
        str | None, typer.Option("--id", help="Identifier; derived from the name.")
    ] = None,
    description: Annotated[str | None, typer.Option(help="What the unit is.")] = None,
    email: Annotated[str | None, typer.Option("--email", help="Contact email.")] = None,
    quota: Annotated[
        float | None, typer.Option("--quota", help="Advisory monthly quota in units.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a business unit."""
    body = _unit_body(
        name=name,
        business_unit_id=business_unit_id,
        description=description,
        contact_email=email,
        soft_quota_units=quota,
    )
    data = client(ctx).post("/business-units", json=body)
    if not emit(data, as_json):
        console.print(
            f"created business unit [bold]{data['business_unit_id']}[/bold] ({data['name']})"
        )


@bu_app.command("edit")
@friendly
def bu_edit(
    ctx: typer.Context,
    business_unit_id: str,
    name: Annotated[str | None, typer.Option(help="New name.")] = None,
    description: Annotated[str | None, typer.Option(help="New description.")] = None,
    email: Annotated[str | None, typer.Option("--email", help="New contact email.")] = None,
    quota: Annotated[
        float | None, typer.Option("--quota", help="New monthly quota in units.")
    ] = None,
    no_quota: Annotated[bool, typer.Option("--no-quota", help="Remove the quota.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Change a business unit's name, description, contact or quota."""
    body = _unit_body(
        name=name, description=description, contact_email=email, soft_quota_units=quota
    )
    if no_quota:
        body["soft_quota_units"] = None
    if not body:
        raise CliError(
            "nothing to change: pass --name, --description, --email, --quota or --no-quota", 2
        )
    data = client(ctx).request("PATCH", f"/business-units/{business_unit_id}", json=body)
    if not emit(data, as_json):
        console.print(f"updated business unit [bold]{business_unit_id}[/bold]")


@bu_app.command("delete")
@friendly
def bu_delete(
    ctx: typer.Context,
    business_unit_id: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Delete a business unit and its rules; its records become Unattributed."""
    if not yes and not typer.confirm(f"Delete business unit {business_unit_id} and its rules?"):
        raise typer.Exit(1)
    data = client(ctx).request("DELETE", f"/business-units/{business_unit_id}")
    if not emit(data, as_json):
        console.print(
            f"deleted {business_unit_id}: {data['records_unattributed']} records "
            f"({data['units_unattributed']:,.2f} units) are now Unattributed; "
            f"{len(data['rules_deleted'])} rule(s) deleted"
        )


@bu_app.command("alerts")
@friendly
def bu_alerts(
    ctx: typer.Context,
    business_unit_id: Annotated[str | None, typer.Argument()] = None,
    as_json: JsonFlag = False,
) -> None:
    """Soft-quota crossings (90 % and 100 % of a monthly quota)."""
    data = client(ctx).get("/attribution/alerts", business_unit_id=business_unit_id)
    if not emit(data, as_json):
        table(
            "Soft-quota alerts",
            data,
            [
                "crossed_at",
                "business_unit_id",
                "period",
                "threshold_percent",
                "used_units",
                "soft_quota_units",
            ],
        )


# -- rules --------------------------------------------------------------------------
RULE_COLUMNS = [
    "position",
    "rule_id",
    "priority",
    "extension_pattern",
    "account_pattern",
    "business_unit_id",
    "version",
    "description",
]


@rules_app.command("list")
@friendly
def rules_list(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Rules in the order they are tried (the first match wins)."""
    data = client(ctx).get("/attribution/rules")
    if not emit(data, as_json):
        table("Attribution rules", data, RULE_COLUMNS)


@rules_app.command("create")
@friendly
def rules_create(
    ctx: typer.Context,
    business_unit_id: Annotated[str, typer.Option("--bu", help="Business unit to charge.")],
    extension: Annotated[
        str, typer.Option("--extension", "-e", help="Extension name or glob.")
    ] = "*",
    account: Annotated[str, typer.Option("--account", "-a", help="Account name or glob.")] = "*",
    priority: Annotated[int, typer.Option(help="Higher wins.")] = 0,
    description: Annotated[str | None, typer.Option(help="Why the rule exists.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add a rule; records written from now on are attributed with it."""
    body = _unit_body(
        extension_pattern=extension,
        account_pattern=account,
        business_unit_id=business_unit_id,
        priority=priority,
        description=description,
    )
    data = client(ctx).post("/attribution/rules", json=body)
    if not emit(data, as_json):
        console.print(f"created rule [bold]{data['rule_id']}[/bold] at position {data['position']}")


@rules_app.command("edit")
@friendly
def rules_edit(
    ctx: typer.Context,
    rule_id: str,
    business_unit_id: Annotated[str | None, typer.Option("--bu")] = None,
    extension: Annotated[str | None, typer.Option("--extension", "-e")] = None,
    account: Annotated[str | None, typer.Option("--account", "-a")] = None,
    priority: Annotated[int | None, typer.Option()] = None,
    description: Annotated[str | None, typer.Option()] = None,
    as_json: JsonFlag = False,
) -> None:
    """Edit a rule (it gets a new version)."""
    body = _unit_body(
        extension_pattern=extension,
        account_pattern=account,
        business_unit_id=business_unit_id,
        priority=priority,
        description=description,
    )
    if not body:
        raise CliError(
            "nothing to change: pass --bu, --extension, --account, --priority or --description", 2
        )
    data = client(ctx).request("PATCH", f"/attribution/rules/{rule_id}", json=body)
    if not emit(data, as_json):
        console.print(f"rule {rule_id} is now version {data['version']}")


@rules_app.command("delete")
@friendly
def rules_delete(ctx: typer.Context, rule_id: str) -> None:
    """Delete a rule."""
    client(ctx).request("DELETE", f"/attribution/rules/{rule_id}")
    console.print(f"deleted rule {rule_id}")


@rules_app.command("reorder")
@friendly
def rules_reorder(
    ctx: typer.Context,
    rule_ids: Annotated[list[str], typer.Argument(help="Every rule id, first wins.")],
    as_json: JsonFlag = False,
) -> None:
    """Put all rules in the given order (priorities are set 10 apart)."""
    data = client(ctx).post("/attribution/rules/reorder", json={"rule_ids": rule_ids})
    if not emit(data, as_json):
        table("Attribution rules", data, RULE_COLUMNS)


@rules_app.command("test")
@friendly
def rules_test(
    ctx: typer.Context,
    extension: Annotated[
        str, typer.Option("--extension", "-e", help="Extension id of the record.")
    ],
    account: Annotated[
        str, typer.Option("--account", "-a", help="Account of the record.")
    ] = "unknown",
    as_json: JsonFlag = False,
) -> None:
    """Show which rule would attribute a record, and the matching rules in order."""
    data = client(ctx).get("/attribution/rules/test", extension_id=extension, account=account)
    if emit(data, as_json):
        return
    if data["rule_id"] is None:
        console.print(f"{extension} / {account}: [yellow]Unattributed[/yellow] (no rule matches)")
        return
    console.print(
        f"{extension} / {account} → [bold]{data['business_unit_id']}[/bold] by rule {data['rule_id']} "
        f"v{data['rule_version']}"
    )
    table(
        "Matching rules, best first",
        data["candidates"],
        [
            "position",
            "rule_id",
            "priority",
            "wildcards",
            "extension_pattern",
            "account_pattern",
            "business_unit_id",
            "outcome",
        ],
    )
    console.print(data["explanation"])


# -- attributing records ------------------------------------------------------------
def _selection(
    ids: list[int] | None,
    extension: str | None,
    account: str | None,
    start: str | None,
    end: str | None,
    unattributed: bool,
    from_bu: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "record_ids": ids or None,
        "extension_id": extension,
        "account": account,
        "start": start,
        "end": end,
        "unattributed": unattributed,
        "business_unit_id": from_bu,
    }
    return {k: v for k, v in body.items() if v not in (None, False)}


def _print_moves(data: dict[str, Any], verb: str) -> None:
    console.print(
        f"{verb} {data['moved']} record(s), {data['units_moved']:,.2f} units "
        f"({data['matched']} matched, {data['relabelled']} relabelled)"
    )
    for move in data["moves"]:
        console.print(
            f"  {move['from'] or 'Unattributed'} → {move['to'] or 'Unattributed'}: "
            f"{move['records']} records, {move['units']:,.2f} units"
        )


Ids = Annotated[list[int] | None, typer.Argument(help="Record ids (or use filters).")]
Ext = Annotated[str | None, typer.Option("--extension", "-e")]
Acct = Annotated[str | None, typer.Option("--account", "-a")]
Unattr = Annotated[
    bool, typer.Option("--unattributed", help="Only records that are Unattributed now.")
]
FromBu = Annotated[
    str | None, typer.Option("--from-bu", help="Only records charged to this unit now.")
]


@attribute_app.command("set")
@friendly
def attribute_set(
    ctx: typer.Context,
    business_unit_id: Annotated[str, typer.Option("--bu", help="Business unit to charge.")],
    ids: Ids = None,
    extension: Ext = None,
    account: Acct = None,
    start: Start = None,
    end: End = None,
    unattributed: Unattr = False,
    from_bu: FromBu = None,
    as_json: JsonFlag = False,
) -> None:
    """Charge records to a business unit by hand (overrides rules; audited)."""
    body = {
        **_selection(ids, extension, account, start, end, unattributed, from_bu),
        "to_business_unit_id": business_unit_id,
    }
    data = client(ctx).post("/attribution/manual", json=body)
    if not emit(data, as_json):
        _print_moves(data, "attributed")


@attribute_app.command("clear")
@friendly
def attribute_clear(
    ctx: typer.Context,
    ids: Ids = None,
    extension: Ext = None,
    account: Acct = None,
    start: Start = None,
    end: End = None,
    from_bu: FromBu = None,
    as_json: JsonFlag = False,
) -> None:
    """Return manually attributed records to rule-based attribution."""
    data = client(ctx).post(
        "/attribution/clear", json=_selection(ids, extension, account, start, end, False, from_bu)
    )
    if not emit(data, as_json):
        _print_moves(data, "re-attributed")


@attribute_app.command("reapply")
@friendly
def attribute_reapply(
    ctx: typer.Context,
    start: Annotated[str, typer.Option("--start", help="Window start (ISO, UTC).")],
    end: Annotated[str, typer.Option("--end", help="Window end, exclusive (ISO, UTC).")],
    apply: Annotated[
        bool, typer.Option("--apply", help="Apply; without it this is a dry run.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Re-attribute past records with today's rules (dry run unless --apply; manual ones stay)."""
    data = client(ctx).post(
        "/attribution/reapply", json={"start": start, "end": end, "dry_run": not apply}
    )
    if emit(data, as_json):
        return
    _print_moves(data, "moved" if apply else "would move")
    if not apply:
        console.print("dry run: nothing changed; run again with --apply to apply")


@attribute_app.command("audit")
@friendly
def attribute_audit(ctx: typer.Context, limit: int = 50, as_json: JsonFlag = False) -> None:
    """Who attributed what, when, from which unit to which."""
    data = client(ctx).get("/attribution/audit", limit=limit)
    if not emit(data, as_json):
        table(
            "Attribution audit",
            data,
            [
                "audit_id",
                "at",
                "actor",
                "action",
                "to_business_unit_id",
                "records",
                "units",
                "moves",
            ],
        )


# -- reports ------------------------------------------------------------------------
GroupBy = Annotated[
    str,
    typer.Option(
        "--group-by", "-g", help="business_unit, extension, business_unit_extension or time."
    ),
]
Bucket = Annotated[
    str | None, typer.Option("--bucket", help="day, week or month (with --group-by time).")
]
BuFilter = Annotated[str | None, typer.Option("--bu", help="Only this business unit.")]
ExtFilter = Annotated[str | None, typer.Option("--extension", "-e", help="Only this extension.")]


def _params(
    start: str | None,
    end: str | None,
    group_by: str,
    bucket: str | None,
    bu: str | None,
    extension: str | None,
    unattributed: bool,
) -> dict[str, Any]:
    params = {
        "period_start": start,
        "period_end": end,
        "group_by": group_by,
        "bucket": bucket,
        "business_unit_id": bu,
        "extension_id": extension,
        "unattributed": unattributed or None,
    }
    return {k: v for k, v in params.items() if v is not None}


@report_app.command("show")
@friendly
def report_show(
    ctx: typer.Context,
    start: Start = None,
    end: End = None,
    group_by: GroupBy = "business_unit",
    bucket: Bucket = None,
    bu: BuFilter = None,
    extension: ExtFilter = None,
    unattributed: Unattr = False,
    as_json: JsonFlag = False,
) -> None:
    """Units and cost per business unit, extension or time bucket (default: this month)."""
    data = client(ctx).get(
        "/reports/allocation", **_params(start, end, group_by, bucket, bu, extension, unattributed)
    )
    if emit(data, as_json):
        return
    rows = [
        {
            **r,
            "business_unit": r["business_unit_name"],
            "share": f"{r['share']:.1%}",
            "quota_used": f"{r['quota_used_ratio']:.0%}"
            if r["quota_used_ratio"] is not None
            else None,
        }
        for r in data["rows"]
    ]
    columns = {
        "business_unit": ["business_unit"],
        "extension": ["extension_id"],
        "business_unit_extension": ["business_unit", "extension_id"],
        "time": ["bucket_start"],
    }[data["group_by"]]
    columns += ["units", "share", "amount"]
    if data["group_by"] in ("business_unit", "business_unit_extension"):
        columns += ["soft_quota_units", "quota_used"]
    table(f"Allocation {data['period_start']} – {data['period_end']}", rows, columns)
    amount = f", {data['total_amount']:,.2f} {data['currency']}" if data["currency"] else ""
    console.print(f"total {data['total_units']:,.2f} units{amount}")
    if data["cost_per_unit"]:
        console.print(
            f"cost per unit: {data['cost_per_unit']} {data['currency']} (license cost / licensed units)"
        )
    for note in data["notes"]:
        console.print(f"[yellow]note:[/yellow] {note}")


SUFFIX = {"csv": ".csv", "json": ".json", "focus": ".focus.csv", "signed": ".signed.json"}


@report_app.command("export")
@friendly
def report_export(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv, json, focus or signed.")] = "csv",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write; '-' for stdout.")
    ] = None,
    start: Start = None,
    end: End = None,
    group_by: GroupBy = "business_unit",
    bucket: Bucket = None,
    bu: BuFilter = None,
    extension: ExtFilter = None,
    unattributed: Unattr = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Download a report; streams to the file with a progress bar."""
    if fmt not in SUFFIX:
        raise CliError(f"--format must be one of {', '.join(SUFFIX)}", 2)
    api = client(ctx)
    params = {**_params(start, end, group_by, bucket, bu, extension, unattributed), "format": fmt}
    target = output or Path(f"unitledger-report{SUFFIX[fmt]}")
    to_stdout = str(target) == "-"
    headers = {"Authorization": f"Bearer {api.token}"} if api.token else {}
    try:
        with (
            httpx.Client(base_url=api.url, timeout=api.timeout) as http,
            http.stream(
                "GET", "/api/v1/reports/allocation/export", params=params, headers=headers
            ) as response,
        ):
            if response.status_code >= 400:
                response.read()
                raise CliError(_problem_text(response))
            size = int(response.headers.get("content-length", 0)) or None
            sink = sys.stdout.buffer if to_stdout else target.open("wb")
            try:
                with Progress(
                    SpinnerColumn(),
                    TextColumn("{task.description}"),
                    BarColumn(),
                    DownloadColumn(),
                    TransferSpeedColumn(),
                    console=err_console,
                    disable=quiet or to_stdout or not err_console.is_terminal,
                ) as progress:
                    task = progress.add_task(f"exporting {fmt}", total=size)
                    written = 0
                    for chunk in response.iter_bytes():
                        sink.write(chunk)
                        written += len(chunk)
                        progress.update(task, completed=written)
            finally:
                if not to_stdout:
                    sink.close()
    except httpx.TransportError as exc:
        raise CliError(f"cannot reach the unitledger server at {api.url} ({exc})") from None
    if not to_stdout:
        err_console.print(f"wrote {written:,} bytes to {target}")


@report_app.command("verify")
@friendly
def report_verify(
    file: Annotated[Path, typer.Argument(help="A signed report (report export --format signed).")],
    public_key: Annotated[
        str | None,
        typer.Option(
            "--public-key",
            help="Expected deployment public key (PEM file or base64); default: the key in the file.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check a signed report offline: signature, deployment and every byte of the file."""
    from unitledger.errors import ValidationFailed
    from unitledger.service.exports import verify_signed_report

    key: str | bytes | None = None
    if public_key is not None:
        candidate = Path(public_key).expanduser()
        key = candidate.read_bytes() if candidate.exists() else public_key
    try:
        result = verify_signed_report(file.read_bytes(), key)
    except ValidationFailed as exc:
        if as_json:
            print(json.dumps({"valid": False, "problem": exc.detail, "field": exc.field}, indent=2))
            raise typer.Exit(1) from None
        raise
    if emit(result, as_json):
        return
    console.print(
        f"[green]valid[/green]: signed by deployment {result['deployment_id']} (key {result['key_id']})"
    )
    console.print(
        f"period {result['period_start']} – {result['period_end']}, {result['rows']} rows, "
        f"{result['total_units']:,.2f} units, generated {result['generated_at']}"
    )
