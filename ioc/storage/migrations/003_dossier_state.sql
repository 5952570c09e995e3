-- Event-time facts per dossier for the gauges dossier.open and dossier.overdue_open:
-- the earliest receipt (time, district, due date) and the earliest closing.
CREATE TABLE IF NOT EXISTS dossier_state (
    dossier_id  text        PRIMARY KEY,
    received_at timestamptz,
    district    text,
    due_at      timestamptz,
    closed_at   timestamptz
);
-- Open-candidate rows (no closing yet) are what the current gauges read.
CREATE INDEX IF NOT EXISTS dossier_state_unclosed ON dossier_state (received_at)
    WHERE closed_at IS NULL;
CREATE INDEX IF NOT EXISTS dossier_state_closed ON dossier_state (closed_at)
    WHERE closed_at IS NOT NULL;
