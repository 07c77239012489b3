"""``unitledger serve``: build the runtime, start the adapters, run uvicorn until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import uvicorn

from unitledger.adapters.alerts import SubjectAlertPublisher
from unitledger.adapters.http.app import create_app
from unitledger.adapters.nats.runtime import NatsRuntime
from unitledger.adapters.storage.engine import startup_lock
from unitledger.bootstrap import Runtime, build_service
from unitledger.config import Settings
from unitledger.service.auth import Role

__all__ = ["DrainingServer", "ensure_admin_token", "run", "serve"]

log = logging.getLogger("unitledger")


class DrainingServer(uvicorn.Server):
    """uvicorn's server, returning normally after a signal-triggered drain.

    On SIGTERM/SIGINT uvicorn stops accepting connections, waits for in-flight
    requests (each report waits for its batch to commit), then runs the lifespan
    shutdown that stops the batch writer once its queue is committed. Stock
    uvicorn then re-raises the signal, which would kill the process before
    ``serve`` closes NATS and the database pool; this server returns instead.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def ensure_admin_token(runtime: Runtime, echo: Callable[[str], None]) -> None:
    """Create the first admin token (or the one given by UNITLEDGER_ADMIN_TOKEN).

    The token is printed once and written to ``<data_dir>/admin-token`` (mode 0600) so
    the CLI on the same machine finds it; only its hash is stored in the database.
    """
    service = runtime.service
    wanted = runtime.settings.admin_token
    if wanted:
        try:
            service.authenticate(wanted)
            return
        except Exception:
            service.create_token(Role.ADMIN, "bootstrap-admin", token=wanted)
            return
    if service.has_admin_token():
        return
    token, _ = service.create_token(Role.ADMIN, "first-admin")
    path = runtime.settings.data_dir / "admin-token"
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(token + "\n")
    echo(f"First admin token (shown once, also saved to {path}):\n  {token}")


async def serve(
    settings: Settings,
    *,
    echo: Callable[[str], None] = print,
    ready: Callable[[Runtime], None] | None = None,
) -> None:
    """Run the server until SIGINT/SIGTERM; drains in-flight reports before exiting."""
    runtime = build_service(settings)
    # Replicas sharing a database start one at a time through the first-run steps.
    with startup_lock(runtime.engine):
        ensure_admin_token(runtime, echo)
        if settings.demo:
            from unitledger.demo import load_demo

            await asyncio.to_thread(load_demo, runtime, echo)
    stoppers: list[Callable[[], Awaitable[None]]] = []
    try:
        # NATS first, so the service's first enforcement evaluation is broadcast too.
        # Stopped in reverse: the NATS responder stops taking reports and answers those in
        # progress while the batch writer still commits; then the writer drains; then NATS.
        nats_runtime = NatsRuntime(
            settings, runtime.service, runtime.broadcaster, runtime.publisher
        )
        runtime.nats = nats_runtime
        runtime.heartbeats = nats_runtime.heartbeats
        stoppers.append(nats_runtime.stop)
        await nats_runtime.start()
        if runtime.chargeback is not None:
            # Soft-quota alerts also go out on NATS (unitledger.v1.alerts.quota).
            runtime.chargeback.alerts.add(SubjectAlertPublisher(nats_runtime.nc.publish))
        await runtime.service.start()
        stoppers.append(runtime.service.stop)
        stoppers.append(nats_runtime.responder.stop)
        app = create_app(runtime, manage_service=False)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            access_log=False,
            # h11, not httptools: httptools drops the body of any request that offers
            # an upgrade, and every stock JDK HttpClient offers `Upgrade: h2c` on
            # cleartext POSTs (uvicorn issue 2722). h11 declines the offer and reads
            # the body as RFC 9110 section 7.8 says.
            http="h11",
            lifespan="on",
            timeout_graceful_shutdown=10,
        )
        server = DrainingServer(config)
        echo(
            f"unitledger {runtime.service.deployment_id} serving "
            f"http://{settings.host}:{settings.port}/ (NATS {nats_runtime.url})"
        )
        if ready is not None:
            ready(runtime)
        await server.serve()
    finally:
        for stop in reversed(stoppers):
            await stop()
        runtime.engine.dispose()


def run(settings: Settings) -> None:
    """Blocking entry point used by the CLI."""
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(serve(settings))


def data_dir_token(data_dir: Path) -> str | None:
    path = data_dir / "admin-token"
    return path.read_text().strip() if path.exists() else None
