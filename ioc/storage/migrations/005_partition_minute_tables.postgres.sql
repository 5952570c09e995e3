-- The 1-minute tables grow with time: range-partition them by day (UTC days, named
-- <table>_pYYYYMMDD) so retention drops whole partitions. The partitions that accepted
-- events need are created ahead by ioc.storage.partitions; here, one for every day that
-- already holds data.

CREATE OR REPLACE FUNCTION ioc_ensure_day_partition(parent text, day date) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format(
        'CREATE TABLE IF NOT EXISTS %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
        parent || '_p' || to_char(day, 'YYYYMMDD'), parent,
        (day::timestamp AT TIME ZONE 'UTC'), ((day + 1)::timestamp AT TIME ZONE 'UTC'));
END $$;

DO $$
DECLARE
    t text;
    d date;
BEGIN
    FOREACH t IN ARRAY ARRAY['kpi_1m', 'sensor_1m'] LOOP
        IF (SELECT relkind FROM pg_class WHERE relname = t AND relnamespace = 'public'::regnamespace) = 'r' THEN
            EXECUTE format('ALTER TABLE %I RENAME TO %I', t, t || '_unpartitioned');
            EXECUTE format('ALTER INDEX %I RENAME TO %I', t || '_pkey', t || '_unpartitioned_pkey');
            EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS) PARTITION BY RANGE (bucket)',
                           t, t || '_unpartitioned');
            IF t = 'kpi_1m' THEN
                ALTER TABLE kpi_1m ADD PRIMARY KEY (kpi, district, dim, dim_value, bucket);
            ELSE
                ALTER TABLE sensor_1m ADD PRIMARY KEY (metric, district, station_id, bucket);
            END IF;
            FOR d IN EXECUTE format('SELECT DISTINCT (bucket AT TIME ZONE ''UTC'')::date FROM %I',
                                    t || '_unpartitioned') LOOP
                PERFORM ioc_ensure_day_partition(t, d);
            END LOOP;
            EXECUTE format('INSERT INTO %I SELECT * FROM %I', t, t || '_unpartitioned');
            EXECUTE format('DROP TABLE %I', t || '_unpartitioned');
        END IF;
    END LOOP;
END $$;
