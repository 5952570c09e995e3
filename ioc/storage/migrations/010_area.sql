-- Two-tier local government (issue 14): the lowest unit KPIs are kept per is now called
-- `area` (a commune-level unit since 1 July 2025; a district in the historic profile).
-- Columns are renamed in place: every stored row keeps its code and stays readable, and
-- the v1 name `district` is still accepted by the API and in events.
ALTER TABLE kpi_1m RENAME COLUMN district TO area;
ALTER TABLE kpi_1h RENAME COLUMN district TO area;
ALTER TABLE kpi_1d RENAME COLUMN district TO area;
ALTER TABLE sensor_1m RENAME COLUMN district TO area;
ALTER TABLE sensor_1h RENAME COLUMN district TO area;
ALTER TABLE sensor_1d RENAME COLUMN district TO area;
ALTER TABLE dossier_state RENAME COLUMN district TO area;
ALTER TABLE station_readings RENAME COLUMN district TO area;

-- Stored alert rules: scope 'districts' is now 'areas', its list of codes 'areas'.
UPDATE alert_rules
   SET spec = (spec - 'districts')
              || jsonb_build_object('areas', spec -> 'districts')
              || CASE WHEN spec ->> 'scope' = 'districts'
                      THEN '{"scope": "areas"}'::jsonb ELSE '{}'::jsonb END
 WHERE spec ? 'districts' OR spec ->> 'scope' = 'districts';
