-- The service index (docs/contract/kpis.md) and the drill-down behind the gauges
-- (GET /api/v1/dossiers, /api/v1/feedback).
-- A dossier's agency and service are those of its earliest receipt, like its area and due
-- date; rows merged before this version have none (null) and still count in the gauges.
ALTER TABLE dossier_state ADD COLUMN IF NOT EXISTS agency_code text;
ALTER TABLE dossier_state ADD COLUMN IF NOT EXISTS service_code text;
-- The drill-down lists open dossiers most overdue first.
CREATE INDEX IF NOT EXISTS dossier_state_unclosed_due
    ON dossier_state (due_at, dossier_id COLLATE "C") WHERE closed_at IS NULL;

-- Event-time facts per citizen feedback item (phản ánh, kiến nghị) for feedback.open and
-- feedback.overdue_open: the earliest receipt (time, area, agency, due date) and the
-- earliest resolution.
CREATE TABLE IF NOT EXISTS feedback_state (
    feedback_id text        PRIMARY KEY,
    received_at timestamptz,
    area        text,
    agency_code text,
    due_at      timestamptz,
    closed_at   timestamptz
);
CREATE INDEX IF NOT EXISTS feedback_state_unclosed
    ON feedback_state (due_at, feedback_id COLLATE "C") WHERE closed_at IS NULL;
CREATE INDEX IF NOT EXISTS feedback_state_closed ON feedback_state (closed_at)
    WHERE closed_at IS NOT NULL;

-- The version of the service index of each (area or '' for the province, day): raised in
-- the batch transaction that changes one of its indicator cells, before the cells are read,
-- so concurrent workers publish index values in the order of their versions.
CREATE TABLE IF NOT EXISTS index_versions (
    area    text        NOT NULL,
    bucket  timestamptz NOT NULL,
    version bigint      NOT NULL DEFAULT 1,
    PRIMARY KEY (area, bucket)
);
