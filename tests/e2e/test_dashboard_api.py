"""The API surface the dashboard relies on: its generated client, whoami, live usage events."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from support import ServerProcess

ROOT = Path(__file__).resolve().parents[2]


def test_committed_openapi_document_matches_the_app() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "openapi.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_whoami_names_the_role_of_the_calling_token(server: ServerProcess) -> None:
    viewer = server.token("viewer")
    with server.client(viewer) as c:
        body = c.get("/whoami").json()
    assert body["role"] == "viewer"
    assert body["token_id"] in viewer
    with server.client("ul_nope_wrong") as c:
        assert c.get("/whoami").status_code == 401


def test_stream_sends_a_usage_event_when_units_change_without_a_state_change(
    server: ServerProcess,
) -> None:
    server.install_license(capacity_units=1000)
    events: list[tuple[str, dict[str, object]]] = []
    with server.client() as c, c.stream("GET", "/enforcement/stream") as stream:
        lines = stream.iter_lines()
        event = ""
        reported_at = 0.0
        for line in lines:
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events.append((event, json.loads(line.split(":", 1)[1])))
                if event == "state":
                    report = {"extension_id": "oracle-cdc", "dimensions": {"tables_replicated": 5}}
                    assert c.post("/usage", json=report).status_code == 200
                    reported_at = time.monotonic()
                if event == "usage":
                    break
        elapsed = time.monotonic() - reported_at
    names = [name for name, _ in events]
    assert names[0] == "state"
    assert events[0][1]["used_units"] == 0
    usage = dict(events)["usage"]
    assert usage["used_units"] == 5.0
    assert usage["state"] == "OK"
    assert elapsed < 2.5
