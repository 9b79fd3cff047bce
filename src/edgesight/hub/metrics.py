"""Prometheus metrics of the hub, in a registry of their own (one per hub, so tests stay isolated)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "HubMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class HubMetrics:
    """Counters of ingestion, exposed at ``GET /metrics``.

    Example:
        >>> m = HubMetrics(); m.rejected.labels("bad_mac").inc()
        >>> b'edgesight_hub_rejected_total{reason="bad_mac"} 1.0' in m.render()
        True
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.stored = Counter(
            "edgesight_hub_messages_stored", "Messages stored, by kind.", ["kind"], registry=self.registry
        )
        self.rejected = Counter(
            "edgesight_hub_rejected", "Messages rejected, by reason (duplicates included).", ["reason"],
            registry=self.registry,
        )  # fmt: skip
        self.duplicates = Counter(
            "edgesight_hub_duplicates", "Messages already stored (replays, redeliveries).", registry=self.registry
        )
        self.unsupported_version = Counter(
            "edgesight_hub_unsupported_version", "Messages refused for a payload version the hub does not know, by kind.",
            ["kind"], registry=self.registry,
        )  # fmt: skip
        self.frames = Counter("edgesight_hub_frames_stored", "Frame records stored.", registry=self.registry)
        self.events = Counter("edgesight_hub_events_stored", "Events stored.", registry=self.registry)
        self.latency = Histogram(
            "edgesight_hub_ingest_latency_seconds", "From the device's sent_at to the hub's commit.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )  # fmt: skip
        self.batch_size = Histogram(
            "edgesight_hub_batch_messages", "Messages per ingest transaction.",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000), registry=self.registry,
        )  # fmt: skip
        self.alerts = Counter(
            "edgesight_hub_alerts", "Alert deliveries, by target and result.", ["target", "result"],
            registry=self.registry,
        )  # fmt: skip

        self.muted = Counter(
            "edgesight_hub_alerts_muted", "Alerts not raised because their rule was muted, by rule.", ["rule"],
            registry=self.registry,
        )  # fmt: skip

    def render(self) -> bytes:
        """The Prometheus text exposition of every hub metric."""
        return generate_latest(self.registry)
