"""Prometheus metrics for one app (latency, counts and errors per model version, reloads, shadow scores),
and the one log line per request.

Each app owns its registry (not prometheus_client's process-wide default), so two apps in one process
(tests, benchmarks) never mix their numbers. Labels carry only route templates, model names and
versions taken from the served store, status codes and fixed reasons: never a request value, so
neither patient data nor a caller-chosen string can reach a label (or blow up the series count).
"""

from __future__ import annotations

import logging
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("pmed.serving")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STATE_KEY = "pmed_model"  # request.state entry the model dependency fills with (name, version)


class ServingMetrics:
    """The app's metric families, and the few verbs the serving code reports through."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("method", "route", "model", "version")
        self.latency = Histogram("pmed_http_request_duration_seconds", "Time to answer a request",
                                 labels, buckets=LATENCY_BUCKETS, registry=self.registry)
        self.requests = Counter("pmed_http_requests", "Requests answered, by status code",
                                (*labels, "status"), registry=self.registry)
        self.in_progress = Gauge("pmed_http_requests_in_progress", "Requests being answered now",
                                 ("method",), registry=self.registry)
        self.patients = Counter("pmed_predicted_patients", "Patients given a prediction",
                                ("model", "version"), registry=self.registry)
        self.served = Gauge("pmed_model_served_info", "1 for each (model, alias, version) served now",
                            ("model", "alias", "version"), registry=self.registry)
        self.reloads = Counter("pmed_model_reloads", "Registry polls that changed or refused a version",
                               ("model", "alias", "result"), registry=self.registry)
        self.rejected = Counter("pmed_rejected_requests", "Requests refused by a limit",
                                ("reason",), registry=self.registry)
        self.audit_failures = Counter("pmed_audit_failures", "Predictions withheld: audit not writable",
                                      registry=self.registry)
        self.shadow = Counter("pmed_shadow_predictions", "Patients also scored by the shadow alias",
                              ("model", "version", "shadow_alias", "shadow_version", "result"),
                              registry=self.registry)
        self.shadow_delta = Histogram("pmed_shadow_risk_abs_difference", "|served risk - shadow risk| per patient",
                                      ("model", "version", "shadow_version"), registry=self.registry,
                                      buckets=(0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0))

    def model_swapped(self, name: str, alias: str, old: str | None, new: str | None) -> None:
        if old is not None:
            self.served.remove(name, alias, old)
        if new is not None:
            self.served.labels(name, alias, new).set(1)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI middleware timing every HTTP request (cheaper than BaseHTTPMiddleware, streams intact)."""

    def __init__(self, app: ASGIApp, metrics: ServingMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        method = scope["method"]
        progress = self.metrics.in_progress.labels(method)
        progress.inc()
        try:
            await self.app(scope, receive, send_status)
        finally:
            progress.dec()
            elapsed = time.perf_counter() - started
            route = _route_path(scope)
            name, version = scope.get("state", {}).get(STATE_KEY, ("", ""))
            self.metrics.latency.labels(method, route, name, version).observe(elapsed)
            self.metrics.requests.labels(method, route, name, version, str(status[0])).inc()
            # one line per request: route template, status, time; no body, query, client address or ids
            log.info("%s %s -> %d in %.1f ms", method, route, status[0], 1000 * elapsed)


def _route_path(scope: Scope) -> str:
    """The matched route's template (``/v1/models/{name}/predict``), never the raw path."""
    route = scope.get("route")
    return getattr(route, "path", None) or "(unmatched)"
