-- Threshold alerts (docs/alerts.md): rules, one row per alert episode, its history, the
-- notification outbox with every delivery attempt, and the audit log of people's actions.

CREATE TABLE IF NOT EXISTS alert_rules (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    spec jsonb NOT NULL,                 -- the validated rule (ioc.alerts.rules.RuleSpec)
    enabled boolean NOT NULL DEFAULT true,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text,
    deleted_at timestamptz,
    deleted_by text
);
CREATE UNIQUE INDEX IF NOT EXISTS alert_rules_name ON alert_rules (name) WHERE deleted_at IS NULL;

CREATE TABLE IF NOT EXISTS alerts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule_id bigint NOT NULL REFERENCES alert_rules (id),
    scope text NOT NULL,                 -- '' = the province, a district code, or 'station:<id>'
    state text NOT NULL CHECK (state IN ('pending', 'firing', 'acknowledged', 'resolved', 'cancelled')),
    severity text NOT NULL,
    since timestamptz NOT NULL,          -- when the current state began
    pending_at timestamptz,
    fired_at timestamptz,
    acknowledged_at timestamptz,
    acknowledged_by text,
    resolved_at timestamptz,
    resolved_by text,                    -- null: resolved by the values
    value double precision,              -- the last value judged
    cell_start timestamptz,              -- bucket of that value (its instant for a gauge)
    cell_version bigint,
    escalation_level integer NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- One open alert per (rule, scope).
CREATE UNIQUE INDEX IF NOT EXISTS alerts_open ON alerts (rule_id, scope)
    WHERE state IN ('pending', 'firing', 'acknowledged');
CREATE INDEX IF NOT EXISTS alerts_state ON alerts (state, id);
CREATE INDEX IF NOT EXISTS alerts_rule_scope ON alerts (rule_id, scope, id);

CREATE TABLE IF NOT EXISTS alert_history (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id bigint NOT NULL REFERENCES alerts (id),
    at timestamptz NOT NULL,
    kind text NOT NULL,                  -- pending, cancelled, fired, acknowledged, resolved, commented, escalated
    actor text,                          -- null: the evaluator
    value double precision,
    note text
);
CREATE INDEX IF NOT EXISTS alert_history_alert ON alert_history (alert_id, id);

CREATE TABLE IF NOT EXISTS alert_notifications (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id bigint NOT NULL REFERENCES alerts (id),
    event text NOT NULL,                 -- fired, resolved, escalated
    target jsonb NOT NULL,               -- secret included: delivery needs it; never returned
    target_label text NOT NULL,
    state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sent', 'dead')),
    attempts integer NOT NULL DEFAULT 0,
    next_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    last_error text
);
CREATE INDEX IF NOT EXISTS alert_notifications_due ON alert_notifications (next_at) WHERE state = 'queued';
CREATE INDEX IF NOT EXISTS alert_notifications_alert ON alert_notifications (alert_id);

CREATE TABLE IF NOT EXISTS alert_notification_attempts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification_id bigint NOT NULL REFERENCES alert_notifications (id),
    attempt integer NOT NULL,
    at timestamptz NOT NULL,
    ok boolean NOT NULL,
    status integer,                      -- HTTP status or SMTP reply code
    error text,
    duration_ms double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_attempts_notification ON alert_notification_attempts (notification_id);

CREATE TABLE IF NOT EXISTS audit_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,
    role text NOT NULL,
    action text NOT NULL,                -- e.g. alert.acknowledge, alert_rule.update, key.revoke
    object text NOT NULL,                -- e.g. alert:12, alert_rule:3, key:5
    details jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);
