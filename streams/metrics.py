"""The worker's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter(
    "ioc_events_total",
    "Events judged by the stream worker, by source (known sources; the rest as other), "
    "outcome and reason",
    ["source", "outcome", "reason"],
)
REDELIVERED = Counter(
    "ioc_records_redelivered_total",
    "Records skipped because their offsets were already stored with their KPIs",
)
BATCH_SECONDS = Histogram(
    "ioc_worker_batch_seconds", "Time to process one batch, publish to commit",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
BATCH_RECORDS = Histogram(
    "ioc_worker_batch_records", "Records per batch",
    buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000),
)
DB_RETRIES = Counter("ioc_worker_db_retries_total", "Batches retried after a database error")
DATABASE_UP = Gauge("ioc_worker_database_up",
                    "1 when the worker's last database call succeeded, 0 while it fails and retries")
JOURNAL_PRUNED = Counter("ioc_intake_journal_pruned_total",
                         "Intake journal entries forgotten once counted (or past the lateness limit)")
CONSUMER_LAG = Gauge(
    "ioc_consumer_lag",
    "Records on the events topic not yet counted: the partition's end offset minus the next "
    "offset stored with the KPIs (every worker reports every partition; take the max)",
    ["topic", "partition"],
)
LAG_CHECKED = Gauge("ioc_consumer_lag_checked_timestamp_seconds",
                    "When ioc_consumer_lag was last computed (unix time)")
