-- When each station reported, for the gauge sensor.stations_silent. One row per station
-- and reading time; rows older than the 24-hour history plus the lateness limit are pruned.
CREATE TABLE IF NOT EXISTS station_readings (
    station_id text        NOT NULL,
    at         timestamptz NOT NULL,
    district   text        NOT NULL,
    PRIMARY KEY (station_id, at)
);
CREATE INDEX IF NOT EXISTS station_readings_at ON station_readings (at);
