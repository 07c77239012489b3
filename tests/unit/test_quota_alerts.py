"""Soft-quota alert delivery: webhook retries with backoff, NATS subject publishing, fan-out."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from unitledger.adapters.alerts import SubjectAlertPublisher, WebhookAlertPublisher
from unitledger.service.allocation import QUOTA_SUBJECT, AlertFanout

ALERT = {"v": 1, "alert_id": 7, "business_unit_id": "finance", "threshold_percent": 90}


def transport(statuses: list[int], seen: list[bytes]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        return httpx.Response(statuses.pop(0))

    return httpx.MockTransport(answer)


async def test_webhook_retries_server_errors_then_delivers() -> None:
    seen: list[bytes] = []
    hook = WebhookAlertPublisher(
        "http://hook.invalid/x", first_delay=0.001, transport=transport([503, 429, 204], seen)
    )
    await hook.publish_alert(ALERT)
    assert len(seen) == 3
    assert json.loads(seen[-1]) == ALERT


async def test_webhook_gives_up_after_its_attempts() -> None:
    seen: list[bytes] = []
    hook = WebhookAlertPublisher(
        "http://hook.invalid/x",
        attempts=3,
        first_delay=0.001,
        transport=transport([500, 500, 500], seen),
    )
    with pytest.raises(ConnectionError, match="failed 3 times"):
        await hook.publish_alert(ALERT)
    assert len(seen) == 3


async def test_webhook_does_not_retry_a_refusal() -> None:
    seen: list[bytes] = []
    hook = WebhookAlertPublisher(
        "http://hook.invalid/x", first_delay=0.001, transport=transport([404], seen)
    )
    await hook.publish_alert(ALERT)
    assert len(seen) == 1


async def test_alerts_are_published_as_json_on_the_quota_subject() -> None:
    sent: list[tuple[str, bytes]] = []

    async def publish(subject: str, data: bytes) -> None:
        sent.append((subject, data))

    await SubjectAlertPublisher(publish).publish_alert(ALERT)
    assert sent == [(QUOTA_SUBJECT, json.dumps(ALERT, sort_keys=True).encode())]
    assert QUOTA_SUBJECT == "unitledger.v1.alerts.quota"


async def test_one_failing_publisher_does_not_stop_the_others() -> None:
    got: list[Any] = []

    class Broken:
        async def publish_alert(self, alert: Any) -> None:
            raise ConnectionError("down")

    class Working:
        async def publish_alert(self, alert: Any) -> None:
            got.append(alert)

    await AlertFanout(Broken(), Working()).publish_alert(ALERT)
    assert got == [ALERT]
