-- Core tables: KPI cells at three bucket sizes, the deduplication ledger,
-- consumed offsets (written in the same transaction as the KPIs), API tokens,
-- and worker heartbeats.

CREATE TABLE IF NOT EXISTS kpi_1m (
    kpi        text        NOT NULL,
    district   text        NOT NULL,   -- '' = whole province
    dim        text        NOT NULL,   -- '' = no breakdown
    dim_value  text        NOT NULL,
    bucket     timestamptz NOT NULL,   -- bucket start; [bucket, bucket + 1 minute)
    num        bigint      NOT NULL,   -- counter value, or a ratio's numerator
    den        bigint      NOT NULL,   -- a ratio's denominator; 0 for counters
    version    bigint      NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kpi, district, dim, dim_value, bucket)
);
CREATE TABLE IF NOT EXISTS kpi_1h (LIKE kpi_1m INCLUDING ALL);
CREATE TABLE IF NOT EXISTS kpi_1d (LIKE kpi_1m INCLUDING ALL);

-- One row per accepted (source, id): a 16-byte digest, so the ledger's size per
-- million events is fixed. Rows older than the deduplication horizon are pruned.
CREATE TABLE IF NOT EXISTS event_ledger (
    key        bytea       PRIMARY KEY,
    seen_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS event_ledger_seen_at ON event_ledger (seen_at);

-- The next offset to consume per (broker incarnation, consumer, topic, partition).
-- The embedded broker keeps records in memory only, so a restarted broker has a new
-- cluster id and its offsets start again at 0.
CREATE TABLE IF NOT EXISTS consumer_offsets (
    cluster_id  text   NOT NULL,
    consumer    text   NOT NULL,
    topic       text   NOT NULL,
    partition   int    NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (cluster_id, consumer, topic, partition)
);

CREATE TABLE IF NOT EXISTS api_tokens (
    token_hash bytea       PRIMARY KEY,            -- sha256 of the token; the token itself is never stored
    role       text        NOT NULL CHECK (role IN ('integrator', 'operator', 'leader', 'admin')),
    name       text        NOT NULL,
    sources    text[],                              -- integrator keys: sources it may publish; NULL = any
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE TABLE IF NOT EXISTS worker_heartbeats (
    worker  text        PRIMARY KEY,
    seen_at timestamptz NOT NULL
);
