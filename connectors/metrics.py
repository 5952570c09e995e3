"""Prometheus metrics shared by the connectors."""

from prometheus_client import Counter

CONNECTOR_EVENTS = Counter(
    "ioc_connector_events_total", "Events handled by a connector, by outcome and reason",
    ["connector", "outcome", "reason"])
