"""The ``Extension``: one running extension's connection to unitledger over NATS."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import random
import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import nats
import nats.errors
import nats.js.errors

from unitledger_sdk._buffer import OfflineBuffer
from unitledger_sdk._errors import (
    BufferFull,
    ExtensionDisabled,
    NotConnected,
    Unauthorized,
    Unavailable,
    UnitledgerError,
)
from unitledger_sdk._wire import (
    EnforcementChange,
    StateTracker,
    UsageResult,
    build_report,
    parse_reply,
)

__all__ = ["SDK_VERSION", "ChangeStream", "Extension"]

log = logging.getLogger("unitledger_sdk")

SDK_VERSION = "0.1.0"
DEFAULT_SERVERS = "nats://127.0.0.1:4222"
REPORT_PREFIX = "unitledger.v1.report."
ENFORCEMENT_PREFIX = "unitledger.v1.enforcement."
ENFORCEMENT_BUCKET = "unitledger_enforcement"
HEARTBEAT_BUCKET = "unitledger_heartbeats"
STATUSES = ("OK", "WARNING", "ERROR")

# The same words as the Java and Go SDKs (sdk/conformance/scenario.md, step 0).
CONNECT_REFUSALS = {
    "missing": "no token: pass a token or set UNITLEDGER_TOKEN to an extension token",
    "refused": "the server refused the token: use an extension token that exists and is not"
    " revoked (unitledger token create --role extension)",
}

Listener = Callable[[EnforcementChange], Awaitable[None] | None]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Extension:
    """An extension reporting usage to unitledger and following its enforcement state.

    Use it as an async context manager::

        async with Extension("Oracle CDC", "oracle-cdc", account="svc-etl@finance") as ext:
            result = await ext.report_usage({"tables_replicated": 5})
            print(result.units, ext.state)

    Args:
        name: a human name, shown as the NATS connection name.
        extension_id: the extension's stable id (``[a-z0-9][a-z0-9_-]{0,63}``).
        token: the extension token; defaults to ``UNITLEDGER_TOKEN``.
        account: the default account reports are made on behalf of.
        servers: NATS URL(s); defaults to ``UNITLEDGER_NATS_URL`` or ``nats://127.0.0.1:4222``.
        request_timeout: seconds to wait for each report's reply.
        buffer_size: how many reports the offline buffer holds before ``BufferFull``.
        buffer_path: a file that keeps the offline buffer across restarts.
        heartbeat_interval: seconds between heartbeats; by default half the bucket's TTL.
        fail_fast: raise ``ExtensionDisabled`` when a report comes back disabled.
        connect_timeout: seconds ``open()`` keeps trying to reach NATS before ``Unavailable``.
    """

    def __init__(
        self,
        name: str,
        extension_id: str,
        token: str | None = None,
        account: str | None = None,
        servers: str | Sequence[str] | None = None,
        *,
        request_timeout: float = 5.0,
        buffer_size: int = 10_000,
        buffer_path: str | os.PathLike[str] | None = None,
        heartbeat_interval: float | None = None,
        fail_fast: bool = False,
        connect_timeout: float = 10.0,
    ) -> None:
        from unitledger_sdk._wire import check_extension_id

        self.name = name
        self.extension_id = check_extension_id(extension_id)
        self.token = token or os.environ.get("UNITLEDGER_TOKEN")
        if not self.token:
            raise Unauthorized(CONNECT_REFUSALS["missing"])
        self.account = account
        if servers is None:
            servers = os.environ.get("UNITLEDGER_NATS_URL", DEFAULT_SERVERS)
        self.servers = (
            [s.strip() for s in servers.split(",")] if isinstance(servers, str) else list(servers)
        )
        self.request_timeout = request_timeout
        self.heartbeat_interval = heartbeat_interval
        self.fail_fast = fail_fast
        self.connect_timeout = connect_timeout
        self.instance_id = secrets.token_hex(8)
        self._buffer = OfflineBuffer(buffer_size, buffer_path)
        self._tracker = StateTracker(self.extension_id)
        self._listeners: list[Listener] = []
        self._queues: set[asyncio.Queue[EnforcementChange]] = set()
        self._status = "OK"
        self._last_report_at: str | None = None
        self._nc: Any = None
        self._hb_kv: Any = None
        self._state_kv: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._replay_wakeup = asyncio.Event()
        self._drained = asyncio.Event()
        self._closed = False
        self.failed: list[tuple[dict[str, Any], UnitledgerError]] = []

    @classmethod
    def connect(cls, name: str, extension_id: str, **options: Any) -> Extension:
        """Same as the constructor; reads well as ``async with Extension.connect(...) as ext``."""
        return cls(name, extension_id, **options)

    # -- lifecycle ------------------------------------------------------------
    async def __aenter__(self) -> Extension:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._nc is not None and bool(self._nc.is_connected)

    async def open(self) -> None:
        """Connect to NATS, read the current enforcement state, start heartbeats and replay.

        Raises:
            Unauthorized: NATS refused the token.
            Unavailable: no NATS server answered.
        """
        if self._nc is not None:
            return
        self._closed = False
        self._nc = await self._connect()
        try:
            await self._setup()
        except (TimeoutError, nats.errors.Error) as exc:
            # E.g. a cluster electing new leaders for the key-value buckets after losing a
            # node: connected, but the state and heartbeat buckets do not answer yet.
            nc, self._nc = self._nc, None
            with contextlib.suppress(Exception):
                await nc.close()
            raise Unavailable(
                f"connected to NATS but unitledger's state buckets did not answer "
                f"({type(exc).__name__}); retry shortly"
            ) from exc
        self._tasks = [
            asyncio.create_task(self._heartbeat_loop(), name="unitledger-heartbeat"),
            asyncio.create_task(self._replay_loop(), name="unitledger-replay"),
        ]
        if len(self._buffer):
            self._replay_wakeup.set()

    async def _setup(self) -> None:
        nc = self._nc
        await nc.subscribe(f"{ENFORCEMENT_PREFIX}global", cb=self._on_change)
        await nc.subscribe(f"{ENFORCEMENT_PREFIX}ext.{self.extension_id}", cb=self._on_change)
        js = nc.jetstream()
        self._state_kv = await js.key_value(ENFORCEMENT_BUCKET)
        await self._read_states()
        self._hb_kv = await js.key_value(HEARTBEAT_BUCKET)
        if self.heartbeat_interval is None:
            info = await js.stream_info(f"KV_{HEARTBEAT_BUCKET}")
            ttl = info.config.max_age or 60.0
            self.heartbeat_interval = ttl / 2
        await self._beat()

    async def _connect(self) -> Any:
        # nats-py retries a failed first connection forever when reconnecting is allowed;
        # give up on a refused token at once, and on unreachable servers after connect_timeout.
        refused: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()

        async def on_error(exc: Exception) -> None:
            if "authorization" in str(exc).lower() and not refused.done():
                refused.set_result(exc)
            await self._on_error(exc)

        attempt: asyncio.Future[Any] = asyncio.ensure_future(
            nats.connect(
                servers=self.servers,
                token=self.token,
                name=f"{self.name} ({self.extension_id}/{self.instance_id})",
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                connect_timeout=min(self.connect_timeout, 5.0),
                allow_reconnect=True,
                reconnected_cb=self._on_reconnected,
                error_cb=on_error,
            )
        )
        done, _ = await asyncio.wait(
            [attempt, refused], timeout=self.connect_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if attempt in done and attempt.exception() is None:
            return attempt.result()
        attempt.cancel()
        with contextlib.suppress(BaseException):
            await attempt
        if refused.done():
            raise Unauthorized(CONNECT_REFUSALS["refused"])
        raise Unavailable(f"cannot connect to unitledger over NATS at {','.join(self.servers)}")

    async def close(self, flush_timeout: float = 5.0) -> None:
        """Send what is buffered (waiting up to ``flush_timeout``), remove the heartbeat, disconnect.

        Reports still buffered after that are kept in ``buffer_path`` when one was
        given, and lost otherwise.
        """
        if self._nc is None:
            return
        if len(self._buffer) and self.connected:
            with contextlib.suppress(TimeoutError):
                await self.flush(flush_timeout)
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if len(self._buffer):
            log.warning("%d report(s) still buffered at close", len(self._buffer))
        with contextlib.suppress(Exception):
            if self.connected:
                await self._hb_kv.delete(self._heartbeat_key)
        with contextlib.suppress(Exception):
            await self._nc.close()
        self._nc = None
        for queue in list(self._queues):
            queue.put_nowait(_CLOSED)

    def _require_open(self) -> None:
        if self._nc is None or self._closed:
            raise NotConnected(
                "the extension is not connected: use `async with Extension(...) as ext` "
                "or `await ext.open()` first"
            )

    # -- reporting ------------------------------------------------------------
    async def report_usage(
        self,
        dimensions: Mapping[str, float],
        account: str | None = None,
        *,
        idempotency_key: str | None = None,
        occurred_at: datetime | str | None = None,
        fail_fast: bool | None = None,
    ) -> UsageResult:
        """Report work done since the last report; answered once it is durably stored.

        Args:
            dimensions: increments per dimension, e.g. ``{"tables_replicated": 5}``.
            account: on whose behalf; defaults to the extension's ``account``.
            idempotency_key: reuse to make a retry count once; generated when omitted.
            occurred_at: when the work happened (default: now).
            fail_fast: override the extension's ``fail_fast``.

        Returns:
            The server's answer, or a result with ``buffered=True`` when the server is
            unreachable and the report waits in the offline buffer.

        Raises:
            InvalidReport: the report breaks a rule; ``field`` names it (nothing was sent).
            ExtensionDisabled: with fail-fast, when this extension is disabled.
            BufferFull: the server is unreachable and the buffer is full.
            NotConnected: used before ``open()`` or after ``close()``.
            UnitledgerError: any other refusal by the server (typed by its code).
        """
        self._require_open()
        key = idempotency_key or secrets.token_hex(16)
        when = (
            occurred_at.isoformat().replace("+00:00", "Z")
            if isinstance(occurred_at, datetime)
            else occurred_at
        )
        body = build_report(
            self.extension_id,
            dimensions,
            key,
            account=account or self.account,
            occurred_at=when or _now(),
        )
        if len(self._buffer):
            return self._keep(body)  # keep order: nothing overtakes buffered reports
        try:
            result = await self._send(body)
        except UnitledgerError as exc:
            if exc.retryable:
                return self._keep(body)
            raise
        if (self.fail_fast if fail_fast is None else fail_fast) and not result.enabled:
            raise ExtensionDisabled(
                f"extension {self.extension_id} is {result.extension_state}: "
                f"{result.reason or 'see the enforcement state'}",
                result=result,
            )
        return result

    async def _send(self, body: dict[str, Any]) -> UsageResult:
        """One request; transport failures become retryable ``Unavailable``."""
        assert self._nc is not None
        payload = json.dumps(body, separators=(",", ":")).encode()
        try:
            msg = await self._nc.request(
                REPORT_PREFIX + self.extension_id,
                payload,
                timeout=self.request_timeout,
                headers={"Authorization": f"Bearer {self.token}"},
            )
        except nats.errors.NoRespondersError:
            raise Unavailable("no unitledger server is serving reports right now") from None
        except (TimeoutError, nats.errors.Error, OSError) as exc:
            raise Unavailable(f"the report could not be delivered: {type(exc).__name__}") from None
        result = parse_reply(msg.data, str(body["idempotency_key"]))
        self._last_report_at = _now()
        return result

    def _keep(self, body: dict[str, Any]) -> UsageResult:
        if self._buffer.full:
            raise BufferFull(
                f"the server is unreachable and the offline buffer holds {self._buffer.capacity} "
                "reports already; the report was not kept"
            )
        self._buffer.push(body)
        self._drained.clear()
        self._replay_wakeup.set()
        return UsageResult(
            record_id=None,
            units=0.0,
            units_by_dimension={},
            state=self._tracker.global_state,
            extension_state=self._tracker.state,
            buffered=True,
            idempotency_key=str(body["idempotency_key"]),
        )

    @property
    def buffered(self) -> int:
        """How many reports wait in the offline buffer."""
        return len(self._buffer)

    async def flush(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 - mirrors close(flush_timeout) and the other SDKs' Flush
        """Wait until the offline buffer is empty.

        Raises:
            TimeoutError: it was not empty after ``timeout`` seconds.
        """
        if not len(self._buffer):
            return
        self._replay_wakeup.set()
        await asyncio.wait_for(self._drained.wait(), timeout)

    async def _replay_loop(self) -> None:
        delay = 0.1
        while True:
            await self._replay_wakeup.wait()
            body = self._buffer.peek()
            if body is None:
                self._replay_wakeup.clear()
                self._drained.set()
                continue
            key = str(body["idempotency_key"])
            try:
                await self._send(body)
            except UnitledgerError as exc:
                if exc.retryable:
                    await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                    delay = min(delay * 2, 5.0)
                    continue
                log.error("buffered report %s was refused: %s", key, exc.detail)
                self.failed.append((body, exc))
            delay = 0.1
            self._buffer.done(key)

    # -- enforcement ------------------------------------------------------------
    @property
    def state(self) -> str:
        """This extension's effective state: DISABLED/UNLICENSED if it is, else the global state."""
        return self._tracker.state

    @property
    def global_state(self) -> str:
        return self._tracker.global_state

    @property
    def enabled(self) -> bool:
        """False while this extension is DISABLED or UNLICENSED."""
        return self._tracker.enabled

    def on_enforcement(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback(change)`` (plain or async) for every change; returns an unsubscribe."""
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback) if callback in self._listeners else None

    def enforcement_changes(self) -> ChangeStream:
        """Every change from this call on, until the extension is closed::

        async for change in ext.enforcement_changes():
            print(change.key, change.state)
        """
        return ChangeStream(self._queues)

    async def _on_change(self, msg: Any) -> None:
        try:
            change = EnforcementChange.from_dict(json.loads(msg.data))
        except (KeyError, ValueError, TypeError):
            log.warning("ignored a malformed enforcement change on %s", msg.subject)
            return
        await self._apply(change)

    async def _apply(self, change: EnforcementChange) -> None:
        if not self._tracker.apply(change):
            return
        for queue in list(self._queues):
            queue.put_nowait(change)
        for listener in list(self._listeners):
            try:
                outcome = listener(change)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                log.exception("an enforcement listener failed")

    async def _read_states(self) -> None:
        for key in ("global", f"ext.{self.extension_id}"):
            try:
                entry = await self._state_kv.get(key)
            except nats.js.errors.KeyNotFoundError:
                continue
            if entry.value:
                with contextlib.suppress(KeyError, ValueError, TypeError):
                    await self._apply(EnforcementChange.from_dict(json.loads(entry.value)))

    # -- heartbeats ---------------------------------------------------------------
    @property
    def status(self) -> str:
        """What the heartbeat reports: the status set by the author, WARNING while buffering."""
        if self._status == "OK" and len(self._buffer):
            return "WARNING"
        return self._status

    async def set_status(self, status: str) -> None:
        """Set ``OK``, ``WARNING`` or ``ERROR`` and send a heartbeat with it at once."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        self._status = status
        if self.connected:
            await self._beat()

    @property
    def _heartbeat_key(self) -> str:
        return f"{self.extension_id}.{self.instance_id}"

    def heartbeat(self) -> dict[str, Any]:
        """The heartbeat value as it is written to the bucket."""
        return {
            "v": 1,
            "extension_id": self.extension_id,
            "instance_id": self.instance_id,
            "status": self.status,
            "sdk": f"python/{SDK_VERSION}",
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "last_report_at": self._last_report_at,
            "at": _now(),
        }

    async def _beat(self) -> None:
        await self._hb_kv.put(self._heartbeat_key, json.dumps(self.heartbeat()).encode())

    async def _heartbeat_loop(self) -> None:
        assert self.heartbeat_interval is not None
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            try:
                await self._beat()
            except Exception as exc:  # the next beat will try again
                log.debug("heartbeat failed: %s", exc)

    # -- connection events ----------------------------------------------------------
    async def _on_reconnected(self) -> None:
        self._replay_wakeup.set()
        with contextlib.suppress(Exception):
            await self._read_states()  # changes made while we were away
            await self._beat()

    async def _on_error(self, exc: Exception) -> None:
        log.debug("NATS: %s", exc)


_CLOSED: Any = object()


class ChangeStream:
    """An async iterator of enforcement changes; registered when created, so none is missed."""

    def __init__(self, queues: set[asyncio.Queue[EnforcementChange]]) -> None:
        self._queues = queues
        self._queue: asyncio.Queue[EnforcementChange] = asyncio.Queue()
        queues.add(self._queue)

    def __aiter__(self) -> ChangeStream:
        return self

    async def __anext__(self) -> EnforcementChange:
        change = await self._queue.get()
        if change is _CLOSED:
            self.close()
            raise StopAsyncIteration
        return change

    def close(self) -> None:
        """Stop receiving changes."""
        self._queues.discard(self._queue)
