#!/bin/sh
# One-shot job run by compose (service `temporal-schema`, image temporalio/admin-tools):
# create Temporal's two PostgreSQL databases if they are missing, then bring each schema
# up to the version the image ships (the schema files of the same server release).
#
# Idempotent, so it runs on every `docker compose up`: `create` accepts an existing
# database, `setup-schema -v 0.0` leaves an already versioned schema alone, and
# `update-schema` applies only the versions a database does not have yet (which is
# also how a server upgrade migrates the schema: bump the image tags together).
#
# Environment (the same names the temporalio/server image reads):
#   POSTGRES_SEEDS       host of the PostgreSQL server (required)
#   POSTGRES_USER        user (required); POSTGRES_PWD its password (required)
#   DB_PORT              port (default: 5432)
#   DBNAME / VISIBILITY_DBNAME  databases (default: temporal / temporal_visibility)
#   SETUP_WAIT_SECONDS   how long to wait for PostgreSQL to accept connections (default: 120)
set -eu

HOST="${POSTGRES_SEEDS:?POSTGRES_SEEDS must be set}"
USER_NAME="${POSTGRES_USER:?POSTGRES_USER must be set}"
# temporal-sql-tool reads the password from SQL_PASSWORD: it stays out of the process list.
SQL_PASSWORD="${POSTGRES_PWD:?POSTGRES_PWD must be set}"
export SQL_PASSWORD
PORT="${DB_PORT:-5432}"
MAIN_DB="${DBNAME:-temporal}"
VISIBILITY_DB="${VISIBILITY_DBNAME:-temporal_visibility}"
WAIT_SECONDS="${SETUP_WAIT_SECONDS:-120}"
# postgres12 is the plugin for PostgreSQL 12 and later; its schema files live under v12.
PLUGIN="postgres12"
SCHEMA_ROOT="/etc/temporal/schema/postgresql/v12"

log() { printf 'temporal-schema: %s\n' "$*" >&2; }

# The flag spellings of Temporal's own compose samples (global flags before the subcommand).
sql_tool() {
    temporal-sql-tool --plugin "$PLUGIN" --ep "$HOST" -p "$PORT" -u "$USER_NAME" "$@"
}

command -v temporal-sql-tool >/dev/null 2>&1 || { log "error: temporal-sql-tool is not on PATH"; exit 1; }
for dir in temporal visibility; do
    [ -d "$SCHEMA_ROOT/$dir/versioned" ] || { log "error: no schema files in $SCHEMA_ROOT/$dir/versioned"; exit 1; }
done

deadline=$(($(date +%s) + WAIT_SECONDS))
until nc -z "$HOST" "$PORT" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        log "gave up: PostgreSQL at $HOST:$PORT did not accept connections within ${WAIT_SECONDS}s"
        exit 1
    fi
    log "waiting for PostgreSQL at $HOST:$PORT"
    sleep 2
done

# database:schema-folder pairs
for pair in "$MAIN_DB:temporal" "$VISIBILITY_DB:visibility"; do
    db="${pair%%:*}"
    dir="$SCHEMA_ROOT/${pair#*:}/versioned"
    log "database $db: create if missing, then update the schema from $dir"
    sql_tool --db "$db" create
    sql_tool --db "$db" setup-schema -v 0.0
    sql_tool --db "$db" update-schema -d "$dir"
done
log "schemas of $MAIN_DB and $VISIBILITY_DB are up to date"
