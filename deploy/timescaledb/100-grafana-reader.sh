#!/bin/sh
# Creates Grafana's read-only role (grafana-reader.sql) with GRAFANA_DB_PASSWORD. The
# TimescaleDB image runs this once, when the database volume is new; on an existing volume:
#   docker compose exec timescaledb sh /docker-entrypoint-initdb.d/100-grafana-reader.sh
set -eu
: "${GRAFANA_DB_PASSWORD:?GRAFANA_DB_PASSWORD is not set}"
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-ioc}" --dbname "${POSTGRES_DB:-ioc}" \
    -v reader_password="$GRAFANA_DB_PASSWORD" -f /ioc-init/grafana-reader.sql
