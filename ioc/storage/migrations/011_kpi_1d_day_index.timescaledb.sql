-- Plain PostgreSQL gets an index for the snapshot's read of one day's cells (see
-- 011_kpi_1d_day_index.postgres.sql). A TimescaleDB hypertable has one already: the
-- (bucket DESC) index create_hypertable makes, which the planner uses for that read.
SELECT 1;
