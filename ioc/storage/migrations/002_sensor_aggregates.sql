-- Sensor aggregates per metric: province-wide (district = '', station_id = ''),
-- per district (station_id = '') and per station (district = '').
-- Sums are exact decimals, so means do not depend on the order readings were added in.

CREATE TABLE IF NOT EXISTS sensor_1m (
    metric     text        NOT NULL,
    district   text        NOT NULL,
    station_id text        NOT NULL,
    bucket     timestamptz NOT NULL,
    readings   bigint      NOT NULL,
    total      numeric     NOT NULL,
    low        numeric     NOT NULL,
    high       numeric     NOT NULL,
    version    bigint      NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (metric, district, station_id, bucket)
);
CREATE TABLE IF NOT EXISTS sensor_1h (LIKE sensor_1m INCLUDING ALL);
CREATE TABLE IF NOT EXISTS sensor_1d (LIKE sensor_1m INCLUDING ALL);
