"""HTTP reporters that behave like SDK clients: retry with the same key until acknowledged.

Each reporter is a thread with its own connection and its own run of idempotency
keys. A report is resent (same key, same body) after a transport error, a 429 or
a 503, until the server acknowledges it with a 200. ``abandon`` makes a reporter
give up on a report after a transport error instead, the way a client that
crashed itself would: such a report may or may not be stored, but never twice.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from support import ServerProcess

RATES = {"tables_replicated": 1.0, "bytes_transferred_gb": 0.5}


def body_for(key: str, n: int, extension_id: str) -> dict[str, Any]:
    return {
        "extension_id": extension_id,
        "account": f"svc-{n % 3}@crash",
        "dimensions": {"tables_replicated": 1 + n % 5, "bytes_transferred_gb": (n % 4) * 0.25},
        "idempotency_key": key,
    }


def units_of(body: Mapping[str, Any]) -> float:
    return float(sum(RATES[name] * value for name, value in body["dimensions"].items()))


@dataclass
class Ledgerbook:
    """What the clients know: acknowledged reports, and the ones they gave up on."""

    acked: dict[str, dict[str, Any]] = field(default_factory=dict)
    abandoned: dict[str, dict[str, Any]] = field(default_factory=dict)
    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)
    resends: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self.lock:
            return dict(self.acked)


class Reporter(threading.Thread):
    """Sends reports one after another until ``stop`` is set, each until acknowledged."""

    def __init__(
        self,
        name: str,
        url: Callable[[], str],
        token: str,
        book: Ledgerbook,
        stop: threading.Event,
        *,
        extension_id: str = "oracle-cdc",
        abandon: float = 0.0,
        deadline: float = 300.0,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.url = url
        self.token = token
        self.book = book
        self.stop = stop
        self.extension_id = extension_id
        self.abandon = abandon
        self.deadline = time.monotonic() + deadline
        self.errors: list[str] = []
        self.rng = random.Random(name)

    def run(self) -> None:
        n = 0
        with httpx.Client(timeout=10, headers={"Authorization": f"Bearer {self.token}"}) as http:
            while not self.stop.is_set() and time.monotonic() < self.deadline:
                key = f"{self.name}-{n}"
                body = body_for(key, n, self.extension_id)
                with self.book.lock:
                    self.book.bodies[key] = body
                self._deliver(http, key, body)
                n += 1

    def _deliver(self, http: httpx.Client, key: str, body: dict[str, Any]) -> None:
        attempt = 0
        while time.monotonic() < self.deadline:
            if attempt:
                with self.book.lock:
                    self.book.resends += 1
                # Backs off like the SDKs, so a restarting server is not starved of CPU.
                time.sleep(min(0.5, 0.02 * 2**attempt) * (0.5 + self.rng.random()))
            attempt += 1
            try:
                response = http.post(f"{self.url()}/api/v1/usage", json=body)
            except httpx.TransportError:
                if self.abandon and self.rng.random() < self.abandon:
                    with self.book.lock:
                        self.book.abandoned[key] = body
                    return
                continue
            if response.status_code == 200:
                answer = response.json()
                with self.book.lock:
                    self.book.abandoned.pop(key, None)
                    self.book.acked[key] = answer
                return
            if response.status_code not in (429, 503):
                self.errors.append(f"{key}: {response.status_code} {response.text[:300]}")
                return
        self.errors.append(f"{key}: not acknowledged before the deadline")


def all_records(client: httpx.Client) -> list[dict[str, Any]]:
    """Every usage record, following the cursor (newest first)."""
    items: list[dict[str, Any]] = []
    cursor: int | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if cursor is not None:
            params["cursor"] = cursor
        page = client.get("/usage/records", params=params)
        assert page.status_code == 200, page.text
        data = page.json()
        items.extend(data["items"])
        cursor = data["next_cursor"]
        if cursor is None:
            return items


def check_exactly_once(
    records: Iterable[Mapping[str, Any]],
    acked: Mapping[str, Mapping[str, Any]],
    bodies: Mapping[str, Mapping[str, Any]],
) -> dict[str, Mapping[str, Any]]:
    """Each acknowledged report is stored once, as acknowledged; nothing unknown is stored.

    Returns the stored records by idempotency key.
    """
    by_key: dict[str, Mapping[str, Any]] = {}
    for record in records:
        key = record["idempotency_key"]
        assert key not in by_key, f"report {key} is stored twice: {by_key[key]} and {record}"
        assert key in bodies, f"record {record['record_id']} has a key no client sent: {key}"
        assert record["dimensions"] == bodies[key]["dimensions"], (record, bodies[key])
        by_key[key] = record
    for key, answer in acked.items():
        assert key in by_key, f"acknowledged report {key} (record {answer['record_id']}) is lost"
        assert by_key[key]["record_id"] == answer["record_id"], (by_key[key], answer)
        assert abs(by_key[key]["units"] - answer["units"]) < 1e-9, (by_key[key], answer)
    return by_key


def nats_server_pid(server: ServerProcess) -> int:
    """The embedded nats-server: a child of the serve process."""
    assert server.proc is not None
    pid = server.proc.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for child in children:
        if "nats-server" in Path(f"/proc/{child}/cmdline").read_text():
            return int(child)
    raise AssertionError(f"no nats-server child of {pid}")
