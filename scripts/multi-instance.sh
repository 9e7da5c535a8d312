#!/usr/bin/env bash
# Three `basewatch serve` instances over one fresh PostgreSQL database, each with its
# webhook worker; a receiver that verifies every delivery with the reference
# Standard Webhooks verifier from PyPI (`standardwebhooks`, pinned, in a venv); a
# load of reports and review moves spread over the instances, with one instance
# killed with -9 and restarted in the middle. Then asserts and prints: every
# committed change (the `changes` table) delivered at least once, never under two
# webhook-ids, per-incident order kept, no 5xx, every signature verified; and
# across instances the sign-in throttle, refresh rotation and re-send dedup.
# Prints the figures (events, deliveries, duplicates, p50/p99 delivery delay).
# Exits non-zero on any violation.
#
# Usage: scripts/multi-instance.sh
# Env:   PROFILE (debug or release, default release), DURATION (seconds of load,
#        default 30), CLIENTS (concurrent load clients, default 6), DRAIN (seconds
#        allowed for the last deliveries, default 120), LEASE (seconds before another
#        instance takes over the killed one's claimed deliveries, default 20), MI_PG (default
#        postgres://postgres@127.0.0.1:5432), MI_VENV (default target/multi-instance-venv).
# Needs: python3 with venv, curl, psql.
set -euo pipefail
cd "$(dirname "$0")/.."

SW_VERSION=1.1.0
PROFILE=${PROFILE:-release}
DURATION=${DURATION:-30}
CLIENTS=${CLIENTS:-6}
DRAIN=${DRAIN:-120}
MI_PG=${MI_PG:-postgres://postgres@127.0.0.1:5432}
VENV=${MI_VENV:-$PWD/target/multi-instance-venv}
PORTS=(18391 18392 18393)
RECEIVER_PORT=18399
LOGIN_FAILURES=5
DB=basewatch_multi
URL=$MI_PG/$DB
export no_proxy='*' NO_PROXY='*'

if ! "$VENV/bin/python" -c "import standardwebhooks, importlib.metadata as m; assert m.version('standardwebhooks') == '$SW_VERSION'" 2>/dev/null; then
    echo "installing standardwebhooks $SW_VERSION into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "standardwebhooks==$SW_VERSION"
fi
PY="$VENV/bin/python scripts/multi_instance.py"

if [ "$PROFILE" = release ]; then cargo build --release --locked -q; else cargo build --locked -q; fi
BIN=$PWD/target/$PROFILE/basewatch
WORK=$(mktemp -d)
PIDS=("" "" "") RECEIVER= LOAD=
cleanup() {
    for pid in "${PIDS[@]}" $RECEIVER $LOAD; do [ -n "$pid" ] && kill "$pid" 2>/dev/null; done
    wait 2>/dev/null || true
    psql "$MI_PG/postgres" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

for port in "${PORTS[@]}" $RECEIVER_PORT; do
    if curl -s "http://127.0.0.1:$port/" >/dev/null; then echo "port $port is already in use" >&2; exit 1; fi
done
psql "$MI_PG/postgres" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null

# One secret and one data key for all three, as a deployment behind a balancer has.
export DATABASE_URL=$URL BASEWATCH_DATA_DIR=$WORK BASEWATCH_ACCESS_TOKEN_TTL=3600 RUST_LOG=warn \
    BASEWATCH_JWT_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))') \
    BASEWATCH_DATA_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))') \
    BASEWATCH_WEBHOOK_ALLOW_PRIVATE=true BASEWATCH_LOGIN_MAX_FAILURES=$LOGIN_FAILURES \
    BASEWATCH_RELEASE_BUILDER=false \
    BASEWATCH_WEBHOOK_LEASE_SECS=${LEASE:-20}
start() { # instance index, extra serve arguments
    BASEWATCH_BIND=127.0.0.1:${PORTS[$1]} "$BIN" serve $2 >>"$WORK/server-$1.log" 2>&1 &
    PIDS[$1]=$!
    for _ in $(seq 600); do curl -sf "http://127.0.0.1:${PORTS[$1]}/ready" >/dev/null && return 0; sleep 0.1; done
    echo "instance $1 did not become ready" >&2; tail -20 "$WORK/server-$1.log" >&2; exit 1
}
start 0 --demo # seeds the demo data once; the others find it
start 1 ""
start 2 ""
ORIGINS=$(printf 'http://127.0.0.1:%s,' "${PORTS[@]}"); ORIGINS=${ORIGINS%,}
echo "==> three instances on ports ${PORTS[*]} over $DB ($PROFILE)"

$PY receiver $RECEIVER_PORT "$WORK" >"$WORK/receiver.log" 2>&1 &
RECEIVER=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$RECEIVER_PORT/" && break; sleep 0.1; done
$PY subscribe "http://127.0.0.1:${PORTS[1]}" "$WORK" all "http://127.0.0.1:$RECEIVER_PORT/hook/all" >"$WORK/subscription"
# Changes before this one (the demo data) are not the subscription's to receive.
FIRST=$(psql "$URL" -qAtc 'SELECT COALESCE(MAX(position), 0) FROM changes')
echo "==> subscription $(cat "$WORK/subscription") from change $FIRST on; load for ${DURATION}s over $CLIENTS clients"

$PY load "$ORIGINS" "$WORK" "$DURATION" "$CLIENTS" &
LOAD=$!
sleep "$(python3 -c "print($DURATION / 2)")"
echo "==> kill -9 instance 1 (port ${PORTS[1]}) in the middle of the load"
kill -9 "${PIDS[1]}"; wait "${PIDS[1]}" 2>/dev/null || true
sleep 1
start 1 ""
echo "==> instance 1 restarted"
wait $LOAD; LOAD=

$PY cluster "$ORIGINS" "$WORK" $LOGIN_FAILURES

psql "$URL" -qAtc "SELECT position, incident_id, kind, EXTRACT(EPOCH FROM at) FROM changes
    WHERE position > $FIRST ORDER BY position" >"$WORK/changes.txt"
# Violations found here go to extra.txt, one a line, for the final check.
sent=$(wc -l <"$WORK/dedup-ids.txt")
ids=$(sed "s/.*/'&'/" "$WORK/dedup-ids.txt" | paste -sd,)
stored=$(psql "$URL" -qAtc "SELECT COUNT(*) FROM incidents WHERE id IN ($ids)")
reported=$(psql "$URL" -qAtc "SELECT COUNT(*) FROM changes WHERE kind = 'reported' AND incident_id IN ($ids)")
echo "re-send dedup: $sent ids each sent to two instances at once; $stored incidents stored, $reported reported changes"
[ "$stored" = "$sent" ] && [ "$reported" = "$sent" ] ||
    echo "re-send dedup: $stored incidents and $reported reported changes for $sent ids" >>"$WORK/extra.txt"
for i in 0 1 2; do
    # Each instance's own count of 5xx answers (instance 1's since its restart).
    fives=$(curl -sf "http://127.0.0.1:${PORTS[$i]}/metrics" | grep '^basewatch_http_requests_total{.*status="5' || true)
    [ -z "$fives" ] || echo "instance $i counted 5xx answers: $fives" >>"$WORK/extra.txt"
    if grep -q 'internal error' "$WORK/server-$i.log"; then
        echo "instance $i logged internal errors: $(grep -m1 'internal error' "$WORK/server-$i.log")" >>"$WORK/extra.txt"
    fi
done
$PY drain "$WORK" "$DRAIN"
$PY check "$WORK"
