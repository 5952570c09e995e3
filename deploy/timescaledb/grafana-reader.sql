-- The read-only role Grafana reads the database with (deploy/grafana/provisioning): SELECT on
-- the tables `ioc migrate` creates, now and later, and nothing else; every transaction of it
-- is read-only. Run by psql as the database owner (the role `ioc migrate` uses), with the
-- variable reader_password (GRAFANA_DB_PASSWORD). Safe to run again (e.g. a new password).
\set ON_ERROR_STOP on
SELECT 'CREATE ROLE grafana_reader LOGIN'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'grafana_reader') \gexec
ALTER ROLE grafana_reader WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
    PASSWORD :'reader_password';
ALTER ROLE grafana_reader SET default_transaction_read_only = on;
SELECT format('GRANT CONNECT ON DATABASE %I TO grafana_reader', current_database()) \gexec
GRANT USAGE ON SCHEMA public TO grafana_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO grafana_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO grafana_reader;
