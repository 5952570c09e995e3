-- Dead letters: every rejected event, whichever way it came (HTTP ingest, the stream
-- worker, the connectors through the dead-letter topic), with its own original bytes, kept
-- for at least max(lateness limit, 7 days) after it was stored (the worker's housekeeping
-- deletes older ones). docs/contract/api.md, "Dead letters".
CREATE TABLE IF NOT EXISTS dead_letters (
    id          bigserial   PRIMARY KEY,
    digest      bytea       NOT NULL,   -- blake2b of (origin, reason, body): ioc.deadletters
    event_id    text,                   -- null when the event could not be read
    reason      text        NOT NULL,   -- the reason code
    detail      text        NOT NULL,
    source      text,                   -- null when unknown
    received_at timestamptz NOT NULL,   -- when the event entered the system
    stored_at   timestamptz NOT NULL,
    body        bytea       NOT NULL,   -- the event's own original bytes
    origin      text        NOT NULL,   -- http, replay, kafka:<topic>, connector:<name>
    replayed_at timestamptz
);
-- A dead letter waiting to be replayed is stored once, however often the same bytes come
-- again the same way for the same reason (a retried request, a re-read input).
CREATE UNIQUE INDEX IF NOT EXISTS dead_letters_waiting ON dead_letters (digest)
    WHERE replayed_at IS NULL;
CREATE INDEX IF NOT EXISTS dead_letters_newest ON dead_letters (received_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS dead_letters_stored_at ON dead_letters (stored_at);
