#!/usr/bin/env bash
# A local PostgreSQL for the tests: install it if missing, start it, create the role and the database if
# missing, wait until it accepts connections, and print its SQLAlchemy URL as the last line.
#   export TRIAGE_TEST_DATABASE_URL=$(.ci/postgres.sh | tail -1)
# Idempotent: a second run finds everything in place and prints the same URL. Progress goes to stderr.
# Needs root (apt-get, su postgres), as on the project's machines and CI.
set -euo pipefail

PG_USER=${PG_USER:-triage}
PG_PASSWORD=${PG_PASSWORD:-triage}
PG_DB=${PG_DB:-triage_test}
PG_HOST=127.0.0.1
PG_PORT=${PG_PORT:-5432}

say() { echo "postgres.sh: $*" >&2; }

as_postgres() { su postgres -s /bin/sh -c "$1"; }

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    say "installing PostgreSQL"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq -o DPkg::Lock::Timeout=600 postgresql >&2
fi

VERSION=$(ls /usr/lib/postgresql | sort -V | tail -1)
CLUSTER=main
if ! pg_lsclusters -h 2>/dev/null | awk '{print $1, $2}' | grep -qx "$VERSION $CLUSTER"; then
    say "creating cluster $VERSION/$CLUSTER"
    pg_createcluster "$VERSION" "$CLUSTER" -p "$PG_PORT" >&2
fi
PORT=$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c {print $3}')

if ! pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c {print $4}' | grep -q online; then
    say "starting cluster $VERSION/$CLUSTER on port $PORT"
    pg_ctlcluster "$VERSION" "$CLUSTER" start >&2
fi

for _ in $(seq 1 60); do
    if pg_isready -q -h "$PG_HOST" -p "$PORT"; then
        break
    fi
    sleep 1
done
pg_isready -h "$PG_HOST" -p "$PORT" >&2 || { say "PostgreSQL did not start accepting connections"; exit 1; }

psql_q() { as_postgres "psql -p $PORT -v ON_ERROR_STOP=1 -tAc \"$1\""; }

if [ "$(psql_q "SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER'")" != 1 ]; then
    say "creating role $PG_USER"
    psql_q "CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD'" >&2
fi
if [ "$(psql_q "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != 1 ]; then
    say "creating database $PG_DB"
    as_postgres "createdb -p $PORT -O $PG_USER $PG_DB" >&2
fi

# The role and database answer over TCP with the password (what the tests use).
for _ in $(seq 1 30); do
    if PGPASSWORD=$PG_PASSWORD psql -h "$PG_HOST" -p "$PORT" -U "$PG_USER" -d "$PG_DB" -tAc 'SELECT 1' >/dev/null 2>&1; then
        echo "postgresql+psycopg://$PG_USER:$PG_PASSWORD@$PG_HOST:$PORT/$PG_DB"
        exit 0
    fi
    sleep 1
done
say "cannot connect as $PG_USER to $PG_DB on $PG_HOST:$PORT"
exit 1
