"""Prometheus metrics, correct across gunicorn workers (multiprocess mode)."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    """The service's metrics, in a registry of this app's own."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, shared_budget: bool = False):
        # gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR before workers start; each worker then
        # writes its values to files there, and any worker can render the sum at /metrics.
        self.multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
        r = self.registry = CollectorRegistry()
        self.token_requests = Counter(
            "gts_token_requests", "Token routes' answers by outcome", ["outcome"], registry=r
        )
        self._outcomes: dict[str, Counter] = {}  # labelled children, looked up once each
        self.workos_requests = Counter(
            "gts_workos_requests",
            "WorkOS calls by route and status",
            ["route", "status"],
            registry=r,
        )
        self.workos_latency = Histogram(
            "gts_workos_request_seconds",
            "WorkOS call latency",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.singleflight_waits = Counter(
            "gts_token_singleflight_waits",
            "Token requests that waited for another's mint",
            registry=r,
        )
        self.cache_entries = Gauge(
            "gts_token_cache_entries",
            "Tokens held in process",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.store_degraded = Gauge(
            "gts_token_store_degraded",
            "1 while Redis (tokens, sessions, rate limits) is unreachable",
            registry=r,
            multiprocess_mode="livemax",
        )

        self.budget_spent = Counter(
            "gts_workos_budget_spent",
            "WorkOS calls taken from the request budget, by kind",
            ["kind"],
            registry=r,
        )
        self.budget_left = Gauge(
            "gts_workos_budget_left",
            "Calls each kind may still make in the current window (sign-ins may use the reserve)",
            ["kind"],
            registry=r,
            # Shared through Redis every process sees the same count: the latest one holds.
            # Without Redis each process has its own share, and the shares add up.
            multiprocess_mode="mostrecent" if shared_budget else "livesum",
        )
        self.budget_refused = Counter(
            "gts_workos_budget_refused",
            "WorkOS calls not sent, by kind and reason: budget (spent) or paused (after a 429)",
            ["kind", "reason"],
            registry=r,
        )
        self.workos_throttled = Counter(
            "gts_workos_throttled",
            "WorkOS 429 answers, by kind of call",
            ["kind"],
            registry=r,
        )
        self.rate_limited = Counter(
            "gts_rate_limited",
            "Requests refused 429 rate_limited, by route",
            ["route"],
            registry=r,
        )

    def observe_budget(self, event: str, kind: str, **fields: Any) -> None:
        """Count what the WorkOS budget did with one call."""
        if event == "spent":
            self.budget_spent.labels(kind).inc()
        elif event == "refused":
            self.budget_refused.labels(kind, str(fields.get("reason"))).inc()
        elif event == "throttled":
            self.workos_throttled.labels(kind).inc()
        elif event == "left":
            for each in ("signin", "mint", "memberships", "events"):
                pool = "signin" if each == "signin" else "other"
                self.budget_left.labels(each).set(fields[pool])

    def observe_workos(self, route: str, status: int | str, seconds: float) -> None:
        """Count one WorkOS attempt and its latency."""
        self.workos_requests.labels(route, str(status)).inc()
        self.workos_latency.labels(route).observe(seconds)

    def observe_token(self, event: str, **fields: object) -> None:
        """Count the token broker's single-flight waits."""
        if event == "wait":
            self.singleflight_waits.inc()

    def count_token_answer(self, outcome: str) -> None:
        """One answer of a token route: hit, miss, or its error code."""
        child = self._outcomes.get(outcome)
        if child is None:
            # labels() validates and locks on every call; the token route answers often.
            child = self._outcomes[outcome] = self.token_requests.labels(outcome)
        child.inc()

    def render(self) -> bytes:
        """Prometheus text for this process, or for every worker in multiprocess mode."""
        if self.multiprocess_dir:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=self.multiprocess_dir)
            return generate_latest(registry)
        return generate_latest(self.registry)
