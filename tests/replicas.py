"""Several ``unitledger serve`` replicas on one database, and load to drive through them.

Replicas share what a real deployment shares: the database URL, the identity
key (``UNITLEDGER_IDENTITY_KEY_FILE``), the vendor key and the bootstrap admin
token; each has its own data directory and HTTP port.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from support import ServerProcess
from unitledger.signing import KeyPair


def start_replicas(
    tmp_path: Path,
    vendor: KeyPair,
    database_url: str,
    count: int,
    extra_env: Mapping[str, str] | None = None,
) -> list[ServerProcess]:
    """Start ``count`` replicas at once (they race through start-up on purpose)."""
    key_file = tmp_path / "identity.key"
    KeyPair.generate().write(key_file)
    admin = f"ul_testadmin_{uuid.uuid4().hex}"
    env = {"UNITLEDGER_IDENTITY_KEY_FILE": str(key_file), **(extra_env or {})}
    replicas = [
        ServerProcess(
            tmp_path / f"replica-{n}",
            vendor,
            database_url=database_url,
            extra_env=env,
            admin_token=admin,
        )
        for n in range(count)
    ]
    errors: list[BaseException] = []

    def start(replica: ServerProcess) -> None:
        replica.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            replica.start(timeout=60)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(r,)) for r in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    if errors:
        for replica in replicas:
            replica.stop()
        raise errors[0]
    return replicas


@contextmanager
def running_replicas(
    tmp_path: Path,
    vendor: KeyPair,
    database_url: str,
    count: int,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[list[ServerProcess]]:
    replicas = start_replicas(tmp_path, vendor, database_url, count, extra_env)
    try:
        yield replicas
    finally:
        for replica in replicas:
            replica.stop()


@dataclass
class Acked:
    """A report the server acknowledged, and what it answered."""

    key: str
    extension_id: str
    units: float
    record_id: int | None
    duplicate: bool
    replica: int


@dataclass
class LoadResult:
    acked: list[Acked] = field(default_factory=list)
    refused: list[tuple[str, int, str]] = field(default_factory=list)
    transport_errors: int = 0

    def first_acks(self) -> dict[str, Acked]:
        """One acknowledgement per idempotency key (retries answer with the same record)."""
        found: dict[str, Acked] = {}
        for ack in self.acked:
            prior = found.get(ack.key)
            if prior is None:
                found[ack.key] = ack
            else:
                assert prior.record_id == ack.record_id, (prior, ack)
                assert prior.units == ack.units, (prior, ack)
        return found


def report_body(n: int, extensions: Sequence[str]) -> dict[str, Any]:
    return {
        "extension_id": extensions[n % len(extensions)],
        "account": f"svc-{n % 5}@load",
        "dimensions": {"tables_replicated": 1 + n % 4, "bytes_transferred_gb": (n % 3) * 0.5},
        "idempotency_key": f"load-{n}",
    }


def hammer(
    replicas: Sequence[ServerProcess],
    reports: int,
    *,
    workers: int = 12,
    resend_every: int = 7,
    extensions: Sequence[str] = ("oracle-cdc", "kafka-sink", "s3-export"),
    deadline_s: float = 120.0,
    alive: Sequence[bool] | None = None,
    on_ack: Callable[[int], None] | None = None,
) -> LoadResult:
    """Send ``reports`` distinct reports round-robin over the replicas, concurrently.

    Every ``resend_every``-th report is also sent again, at once, to the next replica,
    as a client would after a lost reply. A report that fails on one replica is
    retried on the next (same key) until acknowledged or the deadline passes.
    ``alive`` (optional, shared) tells which replicas to try; ``on_ack`` is called
    with the number of acknowledgements so far after each one (to inject failures).
    """
    result = LoadResult()
    lock = threading.Lock()
    clients = [
        httpx.Client(
            base_url=f"{r.url}/api/v1",
            headers={"Authorization": f"Bearer {r.admin_token}"},
            timeout=10,
        )
        for r in replicas
    ]
    stop_at = time.monotonic() + deadline_s

    def send(n: int, first: int) -> None:
        body = report_body(n, extensions)
        order = itertools.islice(itertools.cycle(range(len(replicas))), first, None)
        for index in order:
            if time.monotonic() > stop_at:
                return
            if alive is not None and not alive[index]:
                continue
            try:
                response = clients[index].post("/usage", json=body)
            except httpx.TransportError:
                with lock:
                    result.transport_errors += 1
                time.sleep(0.05 + random.random() * 0.1)
                continue
            if response.status_code == 200:
                answer = response.json()
                with lock:
                    result.acked.append(
                        Acked(
                            key=body["idempotency_key"],
                            extension_id=body["extension_id"],
                            units=answer["units"],
                            record_id=answer["record_id"],
                            duplicate=answer["duplicate"],
                            replica=index,
                        )
                    )
                    count = len(result.acked)
                if on_ack is not None:
                    on_ack(count)
                return
            with lock:
                result.refused.append(
                    (body["idempotency_key"], response.status_code, response.text)
                )
            if response.status_code not in (429, 503):
                return
            time.sleep(0.05)

    jobs: list[tuple[int, int]] = []
    for n in range(reports):
        jobs.append((n, n % len(replicas)))
        if resend_every and n % resend_every == 0:
            jobs.append((n, (n + 1) % len(replicas)))
    try:
        with ThreadPoolExecutor(workers) as pool:
            for future in [pool.submit(send, n, first) for n, first in jobs]:
                future.result()
    finally:
        for client in clients:
            client.close()
    return result


def all_records(replica: ServerProcess) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: int | None = None
    with replica.client() as c:
        while True:
            params: dict[str, Any] = {"limit": 1000}
            if cursor is not None:
                params["cursor"] = cursor
            page = c.get("/usage/records", params=params).json()
            items.extend(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                return items
