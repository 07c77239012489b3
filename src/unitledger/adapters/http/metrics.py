"""Prometheus metrics: ``licensing.*`` names with dots as underscores, plus request latency."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

from unitledger.service.ingest import BLOCKED, CHECKS
from unitledger.service.service import UnitledgerService

__all__ = ["MetricsRegistry"]


class LicensingCollector(Collector):
    """Reads the ledger on each scrape, so every replica reports the same exact figures."""

    def __init__(self, service: UnitledgerService) -> None:
        self.service = service

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        summary = self.service.summary()
        units = GaugeMetricFamily(
            "licensing_usage_units",
            "Units used in the current license period",
            labels=["extension"],
        )
        units.add_metric([""], summary["used_units"])
        for ext in summary["extensions"]:
            units.add_metric([ext["extension_id"]], ext["units"])
        yield units
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
            metric_name = name.replace(".", "_").removesuffix("_total")
            family = CounterMetricFamily(metric_name, help_text, labels=["extension"])
            for ext, value in sorted(self.service.queries.counters_by_extension(name).items()):
                family.add_metric([ext], value)
            yield family


class MetricsRegistry:
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
        route = "unmatched"
        for candidate in request.app.router.routes:
            match, _ = candidate.matches(request.scope)
            if match is Match.FULL:
                route = getattr(candidate, "path", "unmatched")
                break
        self.latency.labels(request.method, route, str(response.status_code)).observe(
            time.perf_counter() - start
        )
        return response
