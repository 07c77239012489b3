"""Report exports: CSV, JSON, FOCUS-style CSV and the signed report (SPEC §4).

Exports are generators of text chunks so the HTTP layer can stream them. The
signed report is the report JSON in a ``unitledger-signed/1`` envelope signed
with the deployment's Ed25519 identity key; :func:`verify_signed_report` checks
one offline, with nothing but the file.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from unitledger.domain import canonical_json
from unitledger.domain.allocation import UNATTRIBUTED, Bucket, CostRate, UsageSlice, bucket_start
from unitledger.domain.attribution import BusinessUnit
from unitledger.errors import InvalidLicense, ValidationFailed
from unitledger.service.attribution import iso
from unitledger.signing import (
    SIGNED_FORMAT,
    KeyPair,
    deployment_id_for,
    key_id,
    load_public_key,
    open_envelope,
    sign_envelope,
)

__all__ = [
    "CSV_COLUMNS",
    "FOCUS_COLUMNS",
    "FocusContext",
    "csv_lines",
    "focus_lines",
    "json_text",
    "sign_report",
    "verify_signed_report",
]

CSV_COLUMNS = (
    "period_start",
    "period_end",
    "bucket_start",
    "bucket_end",
    "business_unit_id",
    "business_unit_name",
    "extension_id",
    "units",
    "share",
    "amount",
    "currency",
    "soft_quota_units",
    "quota_used_ratio",
)

# FOCUS 1.0 columns, then the names focus-validator 1.0.0 checks in their place
# (InvoiceIssuer, Provider, Publisher, ResourceID, ChargeType), then our x_ columns.
FOCUS_COLUMNS = (
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "SkuId",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "Tags",
    "InvoiceIssuer",
    "Provider",
    "Publisher",
    "ResourceID",
    "ChargeType",
    "x_BusinessUnit",
    "x_BusinessUnitName",
    "x_Dimension",
    "x_DeploymentId",
)
# ISO 4217 "no currency": used when no license carries a cost.
NO_CURRENCY = "XXX"
PROVIDER = "unitledger"


def _csv_line(values: Sequence[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def _number(value: float | Decimal | None, places: int = 6) -> str:
    # Always with a decimal point, so CSV readers type the column as decimal.
    if value is None:
        return ""
    return f"{float(value):.{places}f}"


def json_text(report: Mapping[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=True) + "\n"


def csv_lines(report: Mapping[str, Any]) -> Iterator[str]:
    """One CSV line per report row, header first."""
    yield _csv_line(CSV_COLUMNS)
    for row in report["rows"]:
        yield _csv_line(
            [
                report["period_start"],
                report["period_end"],
                row["bucket_start"] or "",
                row["bucket_end"] or "",
                row["business_unit_id"] or "",
                row["business_unit_name"] or "",
                row["extension_id"] or "",
                _number(row["units"]),
                _number(row["share"]),
                _number(row["amount"]),
                report["currency"] or "",
                _number(row["soft_quota_units"]),
                _number(row["quota_used_ratio"]),
            ]
        )


@dataclass(frozen=True, slots=True)
class FocusContext:
    """Everything a FOCUS row needs besides the usage itself."""

    start_us: int
    end_us: int
    deployment_id: str
    billing_account_name: str
    rate: CostRate | None
    business_units: Mapping[str, BusinessUnit]


def focus_lines(slices: Iterable[UsageSlice], ctx: FocusContext) -> Iterator[str]:
    """FOCUS rows: one per day, business unit, extension and dimension.

    ConsumedQuantity/ConsumedUnit are the dimension's value and name;
    PricingQuantity/PricingUnit are the units charged for it; the costs are
    units times the cost per unit (zero, in currency XXX, when no license has a cost).
    """
    grouped: dict[tuple[int, str | None, str, str], list[list[float]]] = defaultdict(
        lambda: [[], []]
    )
    for s in slices:
        bu = s.business_unit_id if s.business_unit_id in ctx.business_units else None
        at = s.at_us if s.at_us is not None else ctx.start_us
        day = max(bucket_start(at, Bucket.DAY), ctx.start_us)
        acc = grouped[(day, bu, s.extension_id, s.dimension)]
        acc[0].append(s.value)
        acc[1].append(s.units)
    yield _csv_line(FOCUS_COLUMNS)
    price = ctx.rate.cost_per_unit if ctx.rate else Decimal(0)
    currency = ctx.rate.currency if ctx.rate else NO_CURRENCY
    for (day, bu, ext, dim), (values, units_list) in sorted(
        grouped.items(), key=lambda kv: (kv[0][0], kv[0][1] or "\uffff", kv[0][2], kv[0][3])
    ):
        units = math.fsum(units_list)
        cost = ctx.rate.amount(units) if ctx.rate else Decimal(0)
        unit = ctx.business_units.get(bu) if bu else None
        bu_name = unit.name if unit else UNATTRIBUTED
        day_end = min(day + 86_400_000_000 - day % 86_400_000_000, ctx.end_us)
        sku = f"{ext}/{dim}"
        row = {
            "BilledCost": _number(cost),
            "BillingAccountId": ctx.deployment_id,
            "BillingAccountName": ctx.billing_account_name,
            "BillingCurrency": currency,
            "BillingPeriodEnd": iso(ctx.end_us),
            "BillingPeriodStart": iso(ctx.start_us),
            "ChargeCategory": "Usage",
            "ChargeDescription": f"{units:.6f} units for {math.fsum(values):.6f} {dim} by {ext}, "
            f"charged to {bu_name}",
            "ChargeFrequency": "Usage-Based",
            "ChargePeriodEnd": iso(day_end),
            "ChargePeriodStart": iso(day),
            "ConsumedQuantity": _number(math.fsum(values)),
            "ConsumedUnit": dim,
            "ContractedCost": _number(cost),
            "ContractedUnitPrice": _number(price, 10),
            "EffectiveCost": _number(cost),
            "InvoiceIssuerName": ctx.billing_account_name,
            "ListCost": _number(cost),
            "ListUnitPrice": _number(price, 10),
            "PricingCategory": "Standard",
            "PricingQuantity": _number(units),
            "PricingUnit": "units",
            "ProviderName": PROVIDER,
            "PublisherName": PROVIDER,
            "ResourceId": ext,
            "ResourceName": ext,
            "ResourceType": "Extension",
            "ServiceCategory": "Integration",
            "ServiceName": ext,
            "SkuId": sku,
            "SkuPriceId": sku,
            "SubAccountId": bu or "",
            "SubAccountName": bu_name,
            "Tags": json.dumps({"business_unit": bu or "unattributed"}, sort_keys=True),
            "InvoiceIssuer": ctx.billing_account_name,
            "Provider": PROVIDER,
            "Publisher": PROVIDER,
            "ResourceID": ext,
            "ChargeType": "Usage",
            "x_BusinessUnit": bu or "",
            "x_BusinessUnitName": bu_name,
            "x_Dimension": dim,
            "x_DeploymentId": ctx.deployment_id,
        }
        yield _csv_line([row.get(column, "") for column in FOCUS_COLUMNS])


def sign_report(report: Mapping[str, Any], identity: KeyPair) -> str:
    """The report in a signed envelope, as the text of a ``.signed.json`` file.

    The file is the envelope's canonical JSON, so verification can insist on every
    byte: a file that differs anywhere from what was signed does not verify.
    """
    return canonical_json(sign_envelope(dict(report), identity, SIGNED_FORMAT)) + "\n"


def verify_signed_report(
    data: bytes | str, public_key: str | bytes | None = None
) -> dict[str, Any]:
    """Check a signed report offline; raises ValidationFailed naming what is wrong.

    The signature must verify under the key in the file (or ``public_key`` when
    given), and the report's ``deployment_id`` must be the one that key derives,
    so a report cannot be re-signed under another deployment's name.
    """
    trusted: list[Ed25519PublicKey] | None = (
        None if public_key is None else [load_public_key(public_key)]
    )
    try:
        document = open_envelope(data, trusted, SIGNED_FORMAT)
        envelope = json.loads(data)
    except InvalidLicense as exc:
        raise ValidationFailed(
            exc.detail.replace("signed document", "signed report"), field=exc.field
        ) from None
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    if text.removesuffix("\n") != canonical_json(envelope):
        raise ValidationFailed(
            "the signed report was altered: its bytes are not the ones that were written when it was signed",
            field="file",
        )
    signer = trusted[0] if trusted else load_public_key(str(envelope.get("public_key", "")))
    derived = deployment_id_for(signer)
    if document.get("deployment_id") != derived:
        raise ValidationFailed(
            f"the report names deployment {document.get('deployment_id')!r} but was signed by the key of "
            f"{derived}",
            field="deployment_id",
        )
    return {
        "valid": True,
        "deployment_id": derived,
        "key_id": key_id(signer),
        "report": document.get("report"),
        "period_start": document.get("period_start"),
        "period_end": document.get("period_end"),
        "generated_at": document.get("generated_at"),
        "total_units": document.get("total_units"),
        "total_amount": document.get("total_amount"),
        "currency": document.get("currency"),
        "rows": len(document.get("rows", [])),
    }
