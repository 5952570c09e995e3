-- TimescaleDB layout: the KPI and sensor tables become hypertables partitioned by bucket
-- time. 1-minute cells in daily chunks (compressed once older than the lateness limit,
-- dropped after the retention: policies set by ioc.storage.timescale from the settings),
-- the hourly and daily rollups in larger chunks, kept.
--
-- The rollups stay tables written in the batch transaction rather than continuous
-- aggregates: a late event must correct its hour and day at once, with a version for the
-- wall, and a real-time continuous aggregate only computes live above its watermark, so a
-- correction below it would wait for the next refresh.

CREATE EXTENSION IF NOT EXISTS timescaledb;

SELECT create_hypertable('kpi_1m', by_range('bucket', INTERVAL '1 day'), migrate_data => true);
SELECT create_hypertable('sensor_1m', by_range('bucket', INTERVAL '1 day'), migrate_data => true);
SELECT create_hypertable('kpi_1h', by_range('bucket', INTERVAL '7 days'), migrate_data => true);
SELECT create_hypertable('sensor_1h', by_range('bucket', INTERVAL '7 days'), migrate_data => true);
SELECT create_hypertable('kpi_1d', by_range('bucket', INTERVAL '180 days'), migrate_data => true);
SELECT create_hypertable('sensor_1d', by_range('bucket', INTERVAL '180 days'), migrate_data => true);

-- Columnstore: one segment per series, rows in time order inside it.
ALTER TABLE kpi_1m SET (timescaledb.compress,
    timescaledb.compress_segmentby = 'kpi, district, dim, dim_value',
    timescaledb.compress_orderby = 'bucket');
ALTER TABLE sensor_1m SET (timescaledb.compress,
    timescaledb.compress_segmentby = 'metric, district, station_id',
    timescaledb.compress_orderby = 'bucket');
ALTER TABLE kpi_1h SET (timescaledb.compress,
    timescaledb.compress_segmentby = 'kpi, district, dim, dim_value',
    timescaledb.compress_orderby = 'bucket');
ALTER TABLE sensor_1h SET (timescaledb.compress,
    timescaledb.compress_segmentby = 'metric, district, station_id',
    timescaledb.compress_orderby = 'bucket');
