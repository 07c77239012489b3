"""Runs an SDK's live conformance tests against a real ``unitledger serve``.

    python sdk/conformance/harness.py run --extension-id conformance-go -- go test ./...

Starts the server (SQLite, embedded NATS) on free loopback ports with a throw-away
vendor key, installs the base license, creates an extension token, serves a small
control endpoint (install a license, stop and start the server), runs the command
with the variables listed in ``scenario.md``, and exits with the command's status.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from support import ServerProcess  # noqa: E402
from unitledger.signing import KeyPair  # noqa: E402

BASE_RATES = {"*": {"tables_replicated": 1, "bytes_transferred_gb": 0.5}}


class Harness:
    """One server and the operations the scenario's steps need."""

    def __init__(self, workdir: Path, extension_id: str) -> None:
        self.extension_id = extension_id
        self.server = ServerProcess(workdir / "data", KeyPair.generate())
        self.lock = threading.Lock()
        self.token = ""

    def start(self) -> None:
        self.server.start()
        self.server.install_license(rates=BASE_RATES, capacity_units=1000)
        self.token = self.server.token("extension", self.extension_id)

    def install(self, overrides: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            installed: dict[str, Any] = self.server.install_license(**overrides)
            return installed

    def stop_server(self) -> dict[str, Any]:
        with self.lock:
            self.server.stop()
            return {"running": False}

    def start_server(self) -> dict[str, Any]:
        with self.lock:
            self.server.start()
            return {"running": True}

    def env(self, control_url: str) -> dict[str, str]:
        return {
            **os.environ,
            "UNITLEDGER_NATS_URL": f"nats://127.0.0.1:{self.server.nats_port}",
            "UNITLEDGER_TOKEN": self.token,
            "UNITLEDGER_TEST_EXTENSION_ID": self.extension_id,
            "UNITLEDGER_TEST_HTTP_URL": f"{self.server.url}/api/v1",
            "UNITLEDGER_TEST_ADMIN_TOKEN": self.server.admin_token,
            "UNITLEDGER_TEST_CONTROL_URL": control_url,
        }


def control_handler(harness: Harness) -> type[BaseHTTPRequestHandler]:
    class Control(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}") if length else {}
            actions = {
                "/license": lambda: harness.install(body),
                "/stop": harness.stop_server,
                "/start": harness.start_server,
            }
            action = actions.get(self.path)
            if action is None:
                self._answer(404, {"error": f"no control action {self.path}"})
                return
            started = time.monotonic()
            try:
                self._answer(200, action())
            except Exception as exc:
                self._answer(500, {"error": f"{type(exc).__name__}: {exc}"})
            finally:
                # Visible in the test log, so a slow outage step shows which half was slow.
                elapsed = time.monotonic() - started
                sys.stderr.write(f"harness: {self.path} took {elapsed:.2f}s\n")

        def _answer(self, status: int, payload: object) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Control


def exit_on_sigterm(signum: int, frame: object) -> None:
    # `timeout` sends SIGTERM: unwind, so the command and the server are stopped too.
    raise SystemExit(128 + signum)


def run(extension_id: str, command: Sequence[str]) -> int:
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    with tempfile.TemporaryDirectory(prefix="unitledger-conformance-") as tmp:
        harness = Harness(Path(tmp), extension_id)
        harness.start()
        control = ThreadingHTTPServer(("127.0.0.1", 0), control_handler(harness))
        thread = threading.Thread(target=control.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{control.server_address[1]}"
            # The command is the caller's own argv, run like a shell would.
            result = subprocess.run(list(command), env=harness.env(url), check=False)  # noqa: S603
            return result.returncode
        finally:
            control.shutdown()
            harness.server.stop()
            if harness.server.proc is not None and harness.server.proc.returncode not in (0, None):
                sys.stderr.write(harness.server.log_text()[-4000:])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    run_parser = sub.add_parser("run", help="start a server and run COMMAND against it")
    run_parser.add_argument("--extension-id", default="conformance")
    run_parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    return run(args.extension_id, command)


if __name__ == "__main__":
    sys.exit(main())
