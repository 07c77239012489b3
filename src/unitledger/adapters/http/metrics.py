"""Prometheus metrics: ``licensing.*`` names with dots as underscores, plus request latency."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from unitledger.service.ingest import BLOCKED, CHECKS
from unitledger.service.service import UnitledgerService

__all__ = ["API_PREFIX", "MetricsRegistry"]

API_PREFIX = "/api/v1"


class LicensingCollector(Collector):
    """Reads the ledger on each scrape, so every replica reports the same exact figures."""

    def __init__(self, service: UnitledgerService) -> None:
        self.service = service

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        summary = self.service.summary()
        yield GaugeMetricFamily(
            "licensing_usage_units",
            "Units used in the current license period",
            value=summary["used_units"],
        )
        per_ext = GaugeMetricFamily(
            "licensing_usage_units_by_extension",
            "Units used in the current license period, per extension",
            labels=["extension"],
        )
        for ext in summary["extensions"]:
            per_ext.add_metric([ext["extension_id"]], ext["units"])
        yield per_ext
        yield GaugeMetricFamily(
            "licensing_usage_units_available",
            "Licensed capacity of valid licenses",
            value=summary["available_units"],
        )
        yield GaugeMetricFamily(
            "licensing_usage_units_remaining",
            "Capacity left; negative when over",
            value=summary["available_units"] - summary["used_units"],
        )
        state = GaugeMetricFamily(
            "licensing_enforcement_state", "1 for the current global state", labels=["state"]
        )
        for name in ("OK", "WARNING", "UNLICENSED"):
            state.add_metric([name], 1.0 if summary["state"] == name else 0.0)
        yield state
        for name, help_text in (
            (CHECKS, "Usage reports checked"),
            (BLOCKED, "Reports answered with a disabled state"),
        ):
            base = name.replace(".", "_").removesuffix("_total")
            by_extension = self.service.queries.counters_by_extension(name)
            yield CounterMetricFamily(base, help_text, value=sum(by_extension.values()))
            family = CounterMetricFamily(
                f"{base}_by_extension", f"{help_text}, per extension", labels=["extension"]
            )
            for ext, value in sorted(by_extension.items()):
                family.add_metric([ext], value)
            yield family


class MetricsRegistry:
    """One registry per app: the licensing collector plus request latency."""

    def __init__(self, service: UnitledgerService) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(LicensingCollector(service))
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """Pure ASGI middleware timing each HTTP request by route template."""

        async def timed(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            start = time.perf_counter()
            status = 500

            async def capture(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await app(scope, receive, capture)
            finally:
                self.observe(scope, status, time.perf_counter() - start)

        return timed

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        # The router records the matched route in the scope; label by its template, not the
        # raw path (ids would explode the label set). API routes are stored without their prefix.
        route = getattr(scope.get("route"), "path", "unmatched")
        path = scope.get("path", "")
        if path.startswith(API_PREFIX) and not route.startswith(API_PREFIX):
            route = API_PREFIX + route
        self.latency.labels(scope["method"], route, str(status)).observe(seconds)
