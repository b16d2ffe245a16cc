"""Prometheus metrics of one controller replica (own registry: tests run several)."""

from __future__ import annotations

from collections import deque

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

RAW_SAMPLES_KEPT = 20_000
"""Newest report-to-store latencies kept raw (under 1 MiB of floats)."""


class ControllerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reports = Counter(
            "numaplane_reports_total", "Reports received from agents", registry=self.registry
        )
        self.reports_refused = Counter(
            "numaplane_reports_refused_total", "Agent messages refused by validation",
            registry=self.registry,
        )
        self.store_writes = Counter(
            "numaplane_store_writes_total", "Keys written to etcd by report ingestion",
            registry=self.registry,
        )
        self.report_to_store = Histogram(
            "numaplane_report_to_store_seconds",
            "From a report's arrival to its material changes being in etcd",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.report_to_store_samples: deque[float] = deque(maxlen=RAW_SAMPLES_KEPT)
        """The same latencies raw, newest last: histogram buckets only bound a
        percentile, and `numaplane-bench ingest` reports exact ones."""
        self.sessions = Gauge(
            "numaplane_agent_sessions", "Agent streams held by this replica",
            registry=self.registry,
        )
        self.commands_sent = Counter(
            "numaplane_commands_sent_total", "Commands sent to agents", registry=self.registry
        )
        self.is_leader = Gauge(
            "numaplane_is_leader", "1 while this replica is the leader", registry=self.registry
        )

    def observe_report_to_store(self, seconds: float) -> None:
        self.report_to_store.observe(seconds)
        self.report_to_store_samples.append(seconds)
