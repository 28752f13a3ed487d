#!/bin/sh
# Runs once, when the database volume is first initialised: a read-only login for Grafana.
# Tables created later by `vigil db migrate` (as the vigil role) are readable through the
# default privileges; TimescaleDB passes a hypertable's grants on to its chunks.
set -eu
psql -v ON_ERROR_STOP=1 -v pw="$GRAFANA_DB_PASSWORD" \
     --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
create role grafana_reader login password :'pw';
grant connect on database vigil to grafana_reader;
grant usage on schema public to grafana_reader;
alter default privileges for role vigil in schema public grant select on tables to grafana_reader;
SQL
