-- The intake journal: what producers acknowledged (HTTP 202, webhook 200, MQTT PUBACK,
-- connector checkpoint), kept until the stream worker has counted it. The embedded broker
-- keeps records in memory only: when it restarts, the worker re-sends what is still here
-- to the new incarnation (same bytes, same ids: deduplication ignores what was counted).
-- Rows leave once their (source, id) digest is in the deduplication ledger, or when they
-- are older than the lateness limit (then they could only be rejected as too old).
CREATE TABLE IF NOT EXISTS intake_journal (
    seq         bigserial   PRIMARY KEY,
    digest      bytea       NOT NULL,   -- the deduplication key of (source, id)
    topic       text        NOT NULL,
    key         bytea,
    value       bytea       NOT NULL,
    received_at timestamptz NOT NULL    -- when the event first entered the system
);
CREATE INDEX IF NOT EXISTS intake_journal_digest ON intake_journal (digest);
CREATE INDEX IF NOT EXISTS intake_journal_received_at ON intake_journal (received_at);

-- The broker incarnation the journal was last re-sent to (one row).
CREATE TABLE IF NOT EXISTS intake_relay (
    only_row    boolean     PRIMARY KEY DEFAULT true CHECK (only_row),
    cluster_id  text        NOT NULL,
    relayed_at  timestamptz NOT NULL
);
