#!/usr/bin/env bash
# Contract fuzzing: schemathesis (pinned) against a live Basewatch serving the demo
# data, on SQLite and on PostgreSQL, anonymous and then signed in as each role,
# with all of schemathesis' checks. Any failure fails the script.
#
# Usage: scripts/contract.sh
# Env:   BACKENDS (default "sqlite postgres"), ST_MAX_EXAMPLES (default 20 per
#        operation), ST_SEED (default 1; fixed so a failure can be replayed),
#        CONTRACT_PG (default postgres://postgres@127.0.0.1:5432).
# Needs: python3 with pip (schemathesis is installed when missing), curl, psql.
set -euo pipefail
cd "$(dirname "$0")/.."

ST_VERSION=4.32.5
BACKENDS=${BACKENDS:-sqlite postgres}
MAX_EXAMPLES=${ST_MAX_EXAMPLES:-20}
SEED=${ST_SEED:-1}
CONTRACT_PG=${CONTRACT_PG:-postgres://postgres@127.0.0.1:5432}
PORT=18181
ORIGIN=http://127.0.0.1:$PORT
export no_proxy='*' NO_PROXY='*'

if ! st --version 2>/dev/null | grep -q "$ST_VERSION"; then
    echo "installing schemathesis $ST_VERSION" >&2
    python3 -m pip install -q --disable-pip-version-check "schemathesis==$ST_VERSION"
fi

cargo build --locked -q
BIN=$PWD/target/debug/basewatch
WORK=$(mktemp -d)
SERVER=
stop() { if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null || true; SERVER=; fi; }
trap 'stop; rm -rf "$WORK"' EXIT

failures=()
for backend in $BACKENDS; do
    case $backend in
        sqlite) URL=sqlite://$WORK/contract.db ;;
        postgres)
            psql "$CONTRACT_PG/postgres" -qc 'DROP DATABASE IF EXISTS basewatch_contract' \
                -c 'CREATE DATABASE basewatch_contract' >/dev/null
            URL=$CONTRACT_PG/basewatch_contract ;;
        *) echo "unknown backend $backend" >&2; exit 2 ;;
    esac
    if curl -s "$ORIGIN/ready" >/dev/null; then echo "port $PORT is already in use" >&2; exit 1; fi
    DATABASE_URL=$URL BASEWATCH_BIND=127.0.0.1:$PORT BASEWATCH_DATA_DIR=$WORK \
        BASEWATCH_ACCESS_TOKEN_TTL=3600 RUST_LOG=warn "$BIN" serve --demo >"$WORK/server-$backend.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 300); do curl -sf "$ORIGIN/ready" >/dev/null && break; sleep 0.2; done
    curl -sf "$ORIGIN/ready" >/dev/null || { cat "$WORK/server-$backend.log" >&2; exit 1; }

    token() {
        curl -sf "$ORIGIN/api/v1/auth/login" -H 'content-type: application/json' \
            -d "{\"email\":\"$1@demo.basewatch.org\",\"password\":\"demo-password-$1\"}" |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
    }
    # NDJSON request bodies (the batch) are serialised by scripts/schemathesis_hooks.py.
    export SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$PWD/scripts${PYTHONPATH:+:$PYTHONPATH}"
    fuzz() { # label, then extra arguments for st run
        local label=$1; shift
        echo "==> schemathesis $ST_VERSION on $backend as $label" >&2
        if ! st --config-file scripts/schemathesis.toml run "$ORIGIN/api/v1/openapi.json" "$@" \
            --checks all --max-examples "$MAX_EXAMPLES" --seed "$SEED" \
            --phases examples,coverage,fuzzing --workers 2 --no-color \
            --generation-database none --request-timeout 30 \
            --report junit --report-dir "target/schemathesis/$backend-$label"; then
            echo "schemathesis found failures on $backend as $label" >&2
            failures+=("$backend as $label")
        fi
    }
    # Every token first: the fuzzed sign-ins soon trip the per-address throttle (429).
    declare -A tokens
    for role in monitor partner reviewer analyst admin; do tokens[$role]=$(token "$role"); done
    first_id() {
        curl -sf "$ORIGIN/api/v1/$1" -H "Authorization: Bearer ${tokens[admin]}" |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])'
    }
    FUZZ_INCIDENT_ID=$(first_id 'incidents?status=submitted&limit=1')
    FUZZ_MISSION_ID=$(first_id 'missions?limit=1')
    FUZZ_BASE_ID=$(first_id "missions/$FUZZ_MISSION_ID/bases?limit=1")
    export FUZZ_INCIDENT_ID FUZZ_MISSION_ID FUZZ_BASE_ID
    fuzz anonymous
    for role in monitor partner reviewer analyst; do
        fuzz "$role" -H "Authorization: Bearer ${tokens[$role]}"
    done
    # The admin's own password reset or deactivation (found through GET /me) would end
    # the fuzzing session, so account updates run last, in a pass of their own.
    fuzz admin -H "Authorization: Bearer ${tokens[admin]}" --exclude-operation-id update_user
    fuzz admin-accounts -H "Authorization: Bearer ${tokens[admin]}" --include-operation-id update_user
    # A 500 is a failure even when schemathesis saw a documented status.
    if grep -q 'internal error\|panicked' "$WORK/server-$backend.log"; then
        echo "the server logged internal errors on $backend:" >&2
        grep 'internal error\|panicked' "$WORK/server-$backend.log" | head -20 >&2
        failures+=("$backend: internal errors in the server log")
    fi
    stop
done
# Repeated last, so that the end of a long log says what failed.
if [ ${#failures[@]} -gt 0 ]; then
    printf 'contract fuzzing FAILED: %s\n' "${failures[@]}" >&2
    exit 1
fi
echo "contract fuzzing passed: every role on $BACKENDS" >&2
