"""The Python SDK replays the shared conformance vectors (sdk/conformance/vectors)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import unitledger_sdk
from unitledger_sdk import UnitledgerError
from unitledger_sdk._buffer import OfflineBuffer
from unitledger_sdk._wire import EnforcementChange, StateTracker, build_report, parse_reply

VECTORS = Path(__file__).resolve().parents[2] / "sdk" / "conformance" / "vectors"

BY_CODE: dict[str, type[UnitledgerError]] = {
    "error": unitledger_sdk.UnitledgerError,
    "invalid": unitledger_sdk.ValidationFailed,
    "invalid_report": unitledger_sdk.InvalidReport,
    "not_found": unitledger_sdk.NotFound,
    "conflict": unitledger_sdk.Conflict,
    "idempotency_conflict": unitledger_sdk.IdempotencyConflict,
    "unauthorized": unitledger_sdk.Unauthorized,
    "forbidden": unitledger_sdk.Forbidden,
    "unavailable": unitledger_sdk.Unavailable,
    "overloaded": unitledger_sdk.Overloaded,
}


def cases(name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads((VECTORS / name).read_text())["cases"]
    return found


def local(request: dict[str, Any]) -> dict[str, Any]:
    return build_report(
        request["extension_id"],
        request["dimensions"],
        request["idempotency_key"],
        account=request.get("account"),
        occurred_at=request.get("occurred_at"),
    )


@pytest.mark.parametrize(
    "case", [c for c in cases("report-requests.json") if c.get("local")], ids=lambda c: c["name"]
)
def test_request_vectors_are_encoded_or_refused_like_the_server(case: dict[str, Any]) -> None:
    if case["valid"]:
        assert local(case["request"]) == case["request"]
        return
    with pytest.raises(unitledger_sdk.InvalidReport) as caught:
        local(case["request"])
    assert (caught.value.code, caught.value.field, caught.value.detail) == (
        case["error"]["code"],
        case["error"]["field"],
        case["error"]["detail"],
    )


@pytest.mark.parametrize("case", cases("report-replies.json"), ids=lambda c: c["name"])
def test_reply_vectors_become_results_or_typed_errors(case: dict[str, Any]) -> None:
    data = json.dumps(case["reply"]).encode()
    if "result" in case:
        result = parse_reply(data)
        expected = case["result"]
        assert result.record_id == expected["record_id"]
        assert result.units == expected["units"]
        assert dict(result.units_by_dimension) == expected["units_by_dimension"]
        assert (result.state, result.extension_state) == (
            expected["state"],
            expected["extension_state"],
        )
        assert list(result.license_ids) == expected["license_ids"]
        assert result.duplicate == expected["duplicate"]
        assert (result.quarantine_id, result.reason) == (
            expected["quarantine_id"],
            expected["reason"],
        )
        return
    with pytest.raises(UnitledgerError) as caught:
        parse_reply(data)
    want = case["error"]
    for code in want["is"]:
        assert isinstance(caught.value, BY_CODE[code]), code
    assert caught.value.retryable == want["retryable"]
    assert caught.value.field == want["field"]
    if want["detail"] is not None:
        assert caught.value.detail == want["detail"]


@pytest.mark.parametrize("case", cases("state-changes.json"), ids=lambda c: c["name"])
def test_state_change_vectors_end_in_the_expected_state(case: dict[str, Any]) -> None:
    tracker = StateTracker("oracle-cdc")
    for body in case["changes"]:
        tracker.apply(EnforcementChange.from_dict(body))
    assert (tracker.state, tracker.enabled) == (case["state"], case["enabled"])


def test_offline_buffer_file_keeps_undelivered_reports_in_order(tmp_path: Path) -> None:
    path = tmp_path / "buffer.jsonl"
    first = OfflineBuffer(10, path)
    for key in ("a1", "b2", "c3"):
        first.push({"idempotency_key": key, "extension_id": "x", "dimensions": {"d": 1}})
    first.done("a1")
    again = OfflineBuffer(10, path)
    assert len(again) == 2
    assert again.peek() == {"idempotency_key": "b2", "extension_id": "x", "dimensions": {"d": 1}}
    again.done("b2")
    again.done("c3")
    assert path.read_text() == "" and len(OfflineBuffer(10, path)) == 0


def test_public_surface_is_curated() -> None:
    assert set(unitledger_sdk.__all__) >= {
        "Extension",
        "UsageResult",
        "InvalidReport",
        "ExtensionDisabled",
        "NotConnected",
        "EnforcementChange",
    }
    assert all(hasattr(unitledger_sdk, name) for name in unitledger_sdk.__all__)
