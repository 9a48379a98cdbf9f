#!/usr/bin/env bash
# Starts the PostgreSQL server the storage tests use if it is down, creates a fresh database for them
# (`rapport_test`: whatever an earlier run or checkout left there is dropped, migrations included), and
# prints the URL to test against.
# Used by .ci/run; run it by hand to get the PostgreSQL suite locally:
#   export RAPPORT_TEST_POSTGRES_URL=$(scripts/services.sh)
set -euo pipefail
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    if command -v pg_ctlcluster >/dev/null; then
        version=$(ls /etc/postgresql | sort -V | tail -1)
        pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2
    fi
    for _ in $(seq 1 30); do
        pg_isready -q -h 127.0.0.1 -p 5432 && break
        sleep 1
    done
fi
pg_isready -q -h 127.0.0.1 -p 5432 || { echo "PostgreSQL is not running on 127.0.0.1:5432" >&2; exit 1; }
psql -q -h 127.0.0.1 -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -c "DROP DATABASE IF EXISTS rapport_test WITH (FORCE)" -c "CREATE DATABASE rapport_test" >&2
echo "postgres://postgres@127.0.0.1:5432/rapport_test"
