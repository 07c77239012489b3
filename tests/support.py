"""Test support: a real ``unitledger serve`` process on free loopback ports.

Tests import this module directly (``pythonpath = ["tests"]`` in pyproject).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from unitledger.issuing import issue_license
from unitledger.signing import KeyPair

BIN = Path(sys.executable).parent
UNITLEDGER = str(BIN / "unitledger")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stamp(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def license_spec(deployment_id: str, **overrides: Any) -> dict[str, Any]:
    """A valid license spec for ``deployment_id``; override any field."""
    now = datetime.now(UTC)
    spec: dict[str, Any] = {
        "license_id": f"LIC-{uuid.uuid4().hex[:8]}",
        "customer": "Acme Data",
        "deployment_id": deployment_id,
        "issued_at": stamp(now - timedelta(days=1)),
        "valid_from": stamp(now - timedelta(days=1)),
        "expires_at": stamp(now + timedelta(days=90)),
        "grace_days": 7,
        "capacity_units": 1000,
        "period": "term",
        "rates": {"*": {"tables_replicated": 1, "bytes_transferred_gb": 0.5}},
    }
    spec.update(overrides)
    return spec


@dataclass
class ServerProcess:
    """``unitledger serve`` in a subprocess, with its data directory and tokens."""

    data_dir: Path
    vendor: KeyPair
    database_url: str | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    nats_port: int = field(default_factory=free_port)
    admin_token: str = field(default_factory=lambda: f"ul_testadmin_{uuid.uuid4().hex}")
    proc: subprocess.Popen[bytes] | None = None
    deployment_id: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        vendor_pub = self.data_dir / "vendor.pub"
        if not vendor_pub.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            vendor_pub.write_bytes(self.vendor.public_pem())
        env = {
            **os.environ,
            "UNITLEDGER_DATA_DIR": str(self.data_dir),
            "UNITLEDGER_PORT": str(self.port),
            "UNITLEDGER_NATS_PORT": str(self.nats_port),
            "UNITLEDGER_ADMIN_TOKEN": self.admin_token,
            "UNITLEDGER_VENDOR_PUBLIC_KEY": str(vendor_pub),
            "UNITLEDGER_URL": self.url,
            "UNITLEDGER_TOKEN": self.admin_token,
            "UNITLEDGER_ENFORCEMENT_TICK_SECONDS": "0.5",
            "UNITLEDGER_LOG_LEVEL": "warning",
            **self.extra_env,
        }
        if self.database_url:
            env["UNITLEDGER_DATABASE_URL"] = self.database_url
        return env

    def start(self, *args: str, timeout: float = 30.0) -> ServerProcess:
        log = open(self.data_dir.parent / f"server-{self.port}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [UNITLEDGER, "serve", *args], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode}: {self.log_text()[-3000:]}"
                )
            try:
                response = httpx.get(f"{self.url}/api/v1/ready", timeout=1)
                if response.status_code == 200:
                    self.deployment_id = httpx.get(f"{self.url}/api/v1/info").json()[
                        "deployment_id"
                    ]
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout}s: {self.log_text()[-3000:]}")

    def log_text(self) -> str:
        path = self.data_dir.parent / f"server-{self.port}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def client(self, token: str | None = None) -> httpx.Client:
        token = self.admin_token if token is None else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=f"{self.url}/api/v1", headers=headers, timeout=30)

    def license_file(self, **overrides: Any) -> str:
        spec = license_spec(self.deployment_id, **overrides)
        return json.dumps(issue_license(spec, self.vendor))

    def install_license(self, **overrides: Any) -> dict[str, Any]:
        with self.client() as c:
            response = c.post("/licenses", content=self.license_file(**overrides))
            assert response.status_code == 201, response.text
            result: dict[str, Any] = response.json()
            return result

    def token(self, role: str, extension_id: str | None = None) -> str:
        with self.client() as c:
            response = c.post(
                "/tokens", json={"role": role, "name": role, "extension_id": extension_id}
            )
            assert response.status_code == 201, response.text
            return str(response.json()["token"])

    def cli(
        self, *args: str, check: bool = False, token: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = self.env
        if token is not None:
            env["UNITLEDGER_TOKEN"] = token
        result = subprocess.run(
            [UNITLEDGER, *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"unitledger {' '.join(args)} failed: {result.stderr}{result.stdout}"
            )
        return result
