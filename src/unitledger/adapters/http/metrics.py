"""Prometheus metrics: ``licensing.*`` names with dots as underscores, plus request latency."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

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

    async def middleware(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        # The router records the matched route in the scope; label by its template, not the raw
        # path (ids would explode the label set). API routes are stored without their prefix.
        route = getattr(request.scope.get("route"), "path", "unmatched")
        if request.url.path.startswith(API_PREFIX) and not route.startswith(API_PREFIX):
            route = API_PREFIX + route
        self.latency.labels(request.method, route, str(response.status_code)).observe(
            time.perf_counter() - start
        )
        return response
