-- ioc_bucket(width, t): the start of the bucket of the given width holding t, aligned to
-- local (UTC+07:00) midnight, for ad-hoc rollups of the 1-minute tables (Grafana, checks).
-- Plain PostgreSQL: date_bin (fixed widths: minutes, hours, days, weeks).
CREATE OR REPLACE FUNCTION ioc_bucket(width interval, t timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN date_bin(width, t, TIMESTAMPTZ '2000-01-03 00:00:00+07');
