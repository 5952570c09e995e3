"""Prometheus metrics shared by the connectors."""

from prometheus_client import Counter, Gauge

CONNECTOR_EVENTS = Counter(
    "ioc_connector_events_total", "Events handled by a connector, by outcome and reason",
    ["connector", "outcome", "reason"])
CONNECTOR_ERRORS = Counter(
    "ioc_connector_errors_total",
    "Failures a connector retries, by kind: source (its system or MQTT broker unreachable or "
    "answering badly), broker (Kafka did not ack), journal (the intake journal unavailable)",
    ["connector", "kind"])
SPOOL_BACKLOG_BYTES = Gauge(
    "ioc_sensor_spool_backlog_bytes",
    "Bytes of the sensor spool received from MQTT but not yet acknowledged by Kafka")
SPOOL_BACKLOG_MESSAGES = Gauge(
    "ioc_sensor_spool_backlog_messages",
    "Station messages in the sensor spool not yet acknowledged by Kafka")


def error_kind(exc: BaseException) -> str:
    """The ``kind`` label of a connector failure."""
    from kafka.errors import KafkaError

    from connectors.publisher import NotSafe

    if isinstance(exc, NotSafe):
        return "journal"
    if isinstance(exc, KafkaError):
        return "broker"
    return "source"
