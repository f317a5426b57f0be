#!/bin/sh
# payivr's runtime role for the compose setup (README, Security: database roles): created
# if missing, its password set from the runtime_password secret on every start. The owner
# (payivr, PostgreSQL's POSTGRES_USER) then migrates and grants it its privileges.
set -eu
PGPASSWORD=$(cat /run/secrets/postgres_password) psql -v ON_ERROR_STOP=1 -q \
    -h postgres -U payivr -d payivr -v password="$(cat /run/secrets/runtime_password)" <<'SQL'
SELECT 'CREATE ROLE payivr_runtime' WHERE NOT EXISTS
    (SELECT 1 FROM pg_roles WHERE rolname = 'payivr_runtime')\gexec
ALTER ROLE payivr_runtime LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password';
SQL
