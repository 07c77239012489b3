"""SIGTERM drains: reports already received are committed and answered, then the process exits 0."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from replicas import all_records
from support import ServerProcess
from unitledger.signing import KeyPair

pytestmark = pytest.mark.slow


def test_sigterm_commits_and_answers_queued_reports_before_exiting_cleanly(
    tmp_path: Path, vendor_key: KeyPair, database_url: str
) -> None:
    # A long group-commit delay keeps reports queued when the signal arrives.
    env = {"UNITLEDGER_BATCH_MAX_DELAY_MS": "500"}
    server = ServerProcess(tmp_path / "data", vendor_key, database_url=database_url, extra_env=env)
    server.data_dir.mkdir(parents=True)
    server.start()
    server.install_license(capacity_units=1000)
    answers: dict[str, tuple[int | str, float]] = {}
    lock = threading.Lock()

    def send(n: int) -> None:
        body = {
            "extension_id": "oracle-cdc",
            "dimensions": {"tables_replicated": 1},
            "idempotency_key": f"drain-{n}",
        }
        headers = {"Authorization": f"Bearer {server.admin_token}"}
        try:
            response = httpx.post(
                f"{server.url}/api/v1/usage", json=body, headers=headers, timeout=20
            )
            outcome: int | str = response.status_code
        except httpx.TransportError as exc:
            outcome = type(exc).__name__
        with lock:
            answers[str(body["idempotency_key"])] = (outcome, time.monotonic())

    threads = [threading.Thread(target=send, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    time.sleep(0.25)
    assert server.proc is not None
    signalled = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(20) == 0
    for thread in threads:
        thread.join(20)

    acked = {key for key, (outcome, _) in answers.items() if outcome == 200}
    answered_after_signal = [at for outcome, at in answers.values() if outcome == 200]
    assert acked
    assert min(answered_after_signal) > signalled
    # Nothing but clean acknowledgements or refusals to connect: no 5xx for queued work.
    assert {o for o, _ in answers.values()} <= {200, "ConnectError", "ReadError"}

    server.start()
    stored = {r["idempotency_key"] for r in all_records(server)}
    assert acked <= stored
    # The unanswered ones are resent with their keys: each report ends up stored once.
    with server.client() as c:
        for key in sorted(set(answers) - acked):
            body = {
                "extension_id": "oracle-cdc",
                "dimensions": {"tables_replicated": 1},
                "idempotency_key": key,
            }
            assert c.post("/usage", json=body).status_code == 200
        assert c.get("/usage/summary").json()["used_units"] == 16.0
    assert len(all_records(server)) == 16
    server.stop()
