"""Where soft-quota alerts go: a webhook (retried with backoff) and a NATS subject."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from unitledger.service.allocation import QUOTA_SUBJECT

__all__ = ["SubjectAlertPublisher", "WebhookAlertPublisher"]

log = logging.getLogger(__name__)


class WebhookAlertPublisher:
    """POSTs each alert as JSON; retries transport errors, 429 and 5xx with exponential backoff."""

    def __init__(
        self,
        url: str,
        *,
        attempts: int = 5,
        first_delay: float = 0.5,
        max_delay: float = 30.0,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.attempts = attempts
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.timeout = timeout
        self.transport = transport

    async def publish_alert(self, alert: Mapping[str, Any]) -> None:
        delay = self.first_delay
        body = json.dumps(dict(alert), sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "unitledger-alerts"}
        async with httpx.AsyncClient(timeout=self.timeout, transport=self.transport) as client:
            for attempt in range(1, self.attempts + 1):
                try:
                    response = await client.post(self.url, content=body, headers=headers)
                    if response.status_code < 400:
                        return
                    if response.status_code != 429 and response.status_code < 500:
                        log.warning(
                            "quota webhook refused the alert with %d; not retrying",
                            response.status_code,
                        )
                        return
                    problem = f"answered {response.status_code}"
                except httpx.TransportError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                if attempt == self.attempts:
                    raise ConnectionError(
                        f"quota webhook {self.url} failed {attempt} times; last: {problem}"
                    )
                log.info(
                    "quota webhook %s (attempt %d); retrying in %.1fs", problem, attempt, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_delay)


class SubjectAlertPublisher:
    """Publishes each alert as JSON on a subject through any ``publish(subject, data)``.

    The NATS runtime plugs its client's publish in here, so alerts work with or
    without NATS: ``chargeback.alerts.add(SubjectAlertPublisher(nc.publish))``.
    """

    def __init__(
        self, publish: Callable[[str, bytes], Awaitable[Any]], subject: str = QUOTA_SUBJECT
    ) -> None:
        self._publish = publish
        self.subject = subject

    async def publish_alert(self, alert: Mapping[str, Any]) -> None:
        await self._publish(self.subject, json.dumps(dict(alert), sort_keys=True).encode())
