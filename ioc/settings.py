"""The one frozen settings object, built at start-up from the environment (prefix ``IOC_``)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything configurable. Built once by :func:`load_settings` and passed inward."""

    model_config = SettingsConfigDict(env_prefix="IOC_", frozen=True, extra="ignore")

    # Where things are
    kafka_bootstrap: str = "127.0.0.1:9092"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/ioc"
    data_dir: Path = Path(".ioc")
    province: str = Field(
        default="31", description="the province by its code (any of the 34, '01' or '1'), or "
                                  "'hai-duong-2024' for the historic profile; default 31, Hai Phong")
    geography_file: Path | None = Field(
        default=None, description="a deployment's own JSON list of units (docs/contract/geography.md); "
                                  "overrides IOC_PROVINCE")
    former_codes_file: Path | None = Field(
        default=None, description="a deployment's JSON mapping of pre-2025 commune codes to current "
                                  "units, accepted in events (docs/contract/geography.md); a current "
                                  "code is never remapped")
    agencies_file: Path | None = Field(
        default=None, description="a deployment's own JSON list of agencies (code, name, level: "
                                  "province or commune; ioc/geography/agencies.py); default: the "
                                  "shipped list, province departments and one UBND per unit")
    targets_file: Path | None = Field(
        default=None, description="a deployment's JSON target per KPI id (value, direction; "
                                  "ioc/targets.py), laid over the shipped defaults (online "
                                  "dossier rate 89%, on-time rate 95%, ...)")

    # Topics
    topic_prefix: str = "ioc"
    event_partitions: int = Field(default=6, ge=1)
    change_partitions: int = Field(default=3, ge=1)
    kafka_fetch_max_wait_ms: int = Field(
        default=100, ge=1, le=30_000,
        description="longest a consumer's fetch waits for data; the embedded broker always "
                    "waits this long when a partition has nothing new, so it bounds the delay")

    # Storage
    storage_layout: Literal["auto", "timescaledb", "postgres"] = Field(
        default="auto", description="auto: TimescaleDB when the server has it, else plain PostgreSQL")

    # Event rules (docs/contract/events.md)
    lateness_limit_s: int = Field(default=7 * 24 * 3600, ge=60)
    minute_retention_days: int = Field(
        default=35, ge=8, description="1-minute KPI and sensor cells kept this long (1h and 1d kept)")
    future_tolerance_s: int = Field(default=300, ge=0)

    # Durability of what was acknowledged (docs/design.md, "Nothing acknowledged is lost")
    intake_journal: bool = Field(
        default=False, description="producers (HTTP ingest, connectors) keep what they acknowledge "
        "in PostgreSQL until the worker counted it, and the worker re-sends it to a new broker "
        "incarnation: needed on the memory-only embedded broker (`ioc up` turns it on); production "
        "Kafka keeps acknowledged records itself (acks=all, replication, min.insync.replicas)")
    journal_prune_interval_s: float = Field(
        default=5.0, gt=0, description="how often the worker forgets journal entries it counted")
    topic_replication: int = Field(
        default=1, ge=1, description="replication factor of the topics `ioc migrate` creates "
        "(3 on a three-broker Kafka cluster)")
    topic_min_insync_replicas: int = Field(
        default=1, ge=1, description="min.insync.replicas of those topics: with acks=all a write "
        "is acknowledged once this many replicas have it (2 of 3: one broker may die)")

    # Stream worker
    worker_id: str = "ioc-kpi"
    worker_batch_size: int = Field(default=2000, ge=1)
    worker_batch_window_s: float = Field(default=0.1, gt=0)
    worker_metrics_port: int = Field(default=0, ge=0, description="0 disables the worker's /metrics")
    worker_metrics_host: str = "127.0.0.1"
    station_silence_s: int = Field(default=600, ge=60, description="sensor.stations_silent window")
    gauge_interval_s: float = Field(default=10.0, gt=0, description="how often gauges go to the wall")
    broker_session_timeout_s: float = 10.0
    worker_lag_interval_s: float = Field(
        default=15.0, gt=0, description="how often the worker compares the events topic's end "
        "offsets with the offsets stored with the KPIs (ioc_consumer_lag, the figure operators "
        "watch first)")
    worker_standby_file: Path | None = Field(
        default=None, description="set by `ioc up` for its standby worker: imported and idle "
        "until this file appears, so a dead worker is replaced without the seconds of start-up")
    broker_cluster_check_s: float = Field(
        default=10.0, gt=0, description="how often the worker re-reads the broker's cluster id and "
        "exits if it changed: its stored offsets belong to one broker incarnation")

    # `ioc up` supervision (ioc/embedded/restarts.py)
    restart_initial_delay_s: float = Field(
        default=1.0, ge=0, description="a part that ran well is restarted at once; one that dies "
        "again after a short run waits this long, doubling with each such exit")
    restart_max_delay_s: float = Field(default=30.0, gt=0, description="the doubling stops here")
    restart_healthy_after_s: float = Field(
        default=60.0, ge=0, description="a part that ran this long starts the doubling over")
    restart_window_s: float = Field(default=600.0, gt=0,
                                    description="the restart budget counts restarts in this window")
    restart_max_in_window: int = Field(
        default=10, ge=1, description="more restarts of one part in the window wait until the "
        "oldest leaves it (a flapping part is slowed, never given up)")
    faust_producer_max_batch_size: int = Field(
        default=16384, ge=1, description="set 1 on the embedded broker when Faust tables are used"
    )

    # API
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    api_body_timeout_s: float = Field(
        default=20.0, gt=0, le=30, description="a request body not complete this long after its "
        "headers gets 408 and the connection closes: a stalled upload holds nothing for long "
        "(docs/contract/api.md: within 30 s)")
    api_header_timeout_s: float = Field(
        default=10.0, gt=0, description="`ioc api`: a connection's request headers must be complete "
        "this long after it opens or after the previous response (uvicorn sets no such bound)")
    api_max_header_bytes: int = Field(
        default=32 * 1024, ge=1024, description="`ioc api`: larger request headers get 431 "
        "(httptools itself takes headers of any size)")
    ingest_ack_timeout_s: float = Field(
        default=10.0, gt=0, description="HTTP ingest answers 503 when the broker has not acked by then")
    feed_fetch_max_wait_ms: int = Field(
        default=25, ge=1, le=30_000,
        description="longest the API's read of the change topic waits for data: it bounds the "
                    "live feed's delay (the workers' own fetch wait, IOC_KAFKA_FETCH_MAX_WAIT_MS, "
                    "is longer: they gather batches)")
    ws_queue_limit: int = Field(default=10_000, ge=1)
    ws_stuck_timeout_s: float = Field(default=10.0, gt=0)
    ws_heartbeat_s: float = Field(default=15.0, gt=0)
    ws_flush_interval_s: float = Field(
        default=0.05, ge=0, description="a client's KPI values coalesce this long between frames")
    ws_per_message_deflate: bool = Field(
        default=False, description="compress WebSocket frames; off: each client's frame would be "
        "compressed separately, and a burst for 1,000 screens stalled the feed for ~1 s")
    ws_max_connections_per_token: int = Field(
        default=200, ge=1, description="WebSocket connections one token may hold at once")

    # Alerts (docs/alerts.md)
    alert_tick_s: float = Field(default=1.0, gt=0,
                                description="how often pending periods and escalations are checked")
    alert_rules_refresh_s: float = Field(default=5.0, gt=0,
                                         description="how soon the evaluator sees a changed rule")
    alert_notify_poll_s: float = Field(default=1.0, gt=0,
                                       description="how often the notifier looks for due notifications "
                                                   "(it is also woken by its own evaluator)")
    alert_webhook_timeout_s: float = Field(default=5.0, gt=0)
    alert_max_attempts: int = Field(default=8, ge=1,
                                    description="then the notification is dead-lettered")
    alert_retry_base_s: float = Field(default=2.0, gt=0, description="first retry after this; doubling")
    alert_retry_cap_s: float = Field(default=600.0, gt=0)
    smtp_host: str = Field(default="", description="SMTP server for e-mail targets; empty: none "
                                                   "(e-mail notifications fail and are retried)")
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = "ioc-alerts@localhost"
    smtp_username: str = ""
    smtp_password: SecretStr = Field(default=SecretStr(""))
    smtp_starttls: bool = False
    smtp_timeout_s: float = Field(default=10.0, gt=0)

    # Simulator
    sim_rate: float = Field(default=10.0, gt=0, description="dossier and payment events per second")
    sim_seed: int = 2026
    sim_source: str = "sim.haiduong"
    sim_backlog_days: int = Field(default=2, ge=0)
    sim_via: Literal["kafka", "http", "connectors"] = Field(
        default="kafka", description="kafka: the events topic; http: HTTP ingest (IOC_SIM_INGEST_URL, "
        "IOC_SIM_TOKEN); connectors: fake DVC journal, payment webhooks, MQTT")
    sim_ingest_url: str = "http://127.0.0.1:8000"
    sim_token: SecretStr = Field(default=SecretStr(""), description="integrator key for sim_via=http")
    sim_dvc_port: int = Field(default=8090, ge=1, le=65535,
                              description="port of the fake administrative-procedure system")

    # Connectors (`ioc connect <name>`); checkpoints under <data_dir>/connectors/
    connector_metrics_port: int = Field(
        default=0, ge=0, description="/metrics of `ioc connect dvc|sensors|replay`; 0 disables "
                                     "(the payments connector serves /metrics on its own port)")
    connector_metrics_host: str = "127.0.0.1"
    dvc_url: str = Field(default="http://127.0.0.1:8090",
                         description="base URL of the administrative-procedure system's API")
    dvc_token: SecretStr = Field(default=SecretStr(""), description="bearer token for that API")
    dvc_source: str = "dvc.haiduong"
    dvc_poll_interval_s: float = Field(default=2.0, gt=0)
    dvc_page_size: int = Field(default=500, ge=1, le=5000)
    payments_source: str = "payments.gateway"
    payments_webhook_secret: SecretStr = Field(
        default=SecretStr(""), description="HMAC-SHA256 key shared with the payment gateway")
    payments_host: str = "127.0.0.1"
    payments_port: int = Field(default=8081, ge=1, le=65535)
    payments_tolerance_s: int = Field(default=300, ge=1,
                                      description="a signature older or newer than this is refused")
    payments_ack_timeout_s: float = Field(
        default=10.0, gt=0, description="the webhook answers 503 when the broker has not acked by "
        "then (the gateway retries, and the retry is accepted: the signature is recorded only "
        "after the ack)")
    payments_max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="larger deliveries get 413; a declared "
        "Content-Length over it is refused before any of the body is read")
    payments_body_timeout_s: float = Field(
        default=15.0, gt=0, description="a body not complete this long after its headers gets "
        "408 and the connection closes, so a stalled upload holds nothing for long")
    payments_header_timeout_s: float = Field(
        default=10.0, gt=0, description="a connection's request headers must be complete this "
        "long after it opens or after the previous response (uvicorn sets no such bound)")
    payments_max_header_bytes: int = Field(
        default=32 * 1024, ge=1024, description="larger request headers get 431 (httptools "
        "itself takes headers of any size)")
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(default=1883, ge=1, le=65535)
    mqtt_topic: str = "sensors/#"
    mqtt_username: str = "ioc-sensors"
    mqtt_password: SecretStr = Field(default=SecretStr(""))
    mqtt_client_id: str = "ioc-sensors-connector"
    sensors_source: str = "sensors.haiduong"

    log_level: str = "INFO"
    log_json: bool = True
    log_max_bytes: int = Field(
        default=10_000_000, ge=10_000,
        description="`ioc up`: a process's log file under <data_dir>/logs is rotated at this "
                    "size, so a stack left running for weeks keeps a bounded log")
    log_backups: int = Field(
        default=3, ge=0, le=100,
        description="`ioc up`: rotated log files kept per process (name.log.1 …); at most "
                    "(1 + this) × IOC_LOG_MAX_BYTES of logs per process")
    broker_memory_limit_mb: int = Field(
        default=1024, ge=0,
        description="`ioc up`: the embedded broker keeps every record in memory (it honours no "
                    "retention); past this resident size it is restarted empty and the worker "
                    "re-sends the intake journal (ioc/embedded/budget.py); 0: never")
    broker_memory_check_s: float = Field(
        default=10.0, gt=0, description="`ioc up`: how often the broker's memory is looked at")

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_is_simple(cls, value: str) -> str:
        if not value or not all(c.isalnum() or c in "._-" for c in value):
            raise ValueError("topic_prefix must be letters, digits, '.', '_' or '-'")
        return value

    @property
    def station_silence(self) -> timedelta:
        return timedelta(seconds=self.station_silence_s)

    @property
    def events_topic(self) -> str:
        return f"{self.topic_prefix}.events"

    @property
    def deadletter_topic(self) -> str:
        return f"{self.topic_prefix}.events.deadletter"

    @property
    def changes_topic(self) -> str:
        return f"{self.topic_prefix}.kpi.changes"


def load_settings(**overrides: object) -> Settings:
    """Build the settings from the environment, with explicit overrides winning."""
    return Settings(**overrides)  # type: ignore[arg-type]
