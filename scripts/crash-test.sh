#!/usr/bin/env bash
# Crash test: under a stream of incident submissions, kill -9 the server at random
# moments (on PostgreSQL, every other round stop the database with -m immediate
# instead, under the running server), restart, and check that every incident
# acknowledged with 201/200 is stored, complete and readable, and that nothing
# half-written exists. Prints acknowledged / found / lost per backend; lost must be 0.
#
# Usage: scripts/crash-test.sh
# Env:   ROUNDS (default 6), BACKENDS (default "sqlite postgres"), PROFILE (debug or
#        release, default release), CLIENTS (default 8 concurrent submitters),
#        CRASH_PG (default postgres://postgres@127.0.0.1:5432; the cluster is stopped
#        and started with pg_ctlcluster, so it must be a local one).
# Needs: python3, curl, psql and pg_ctlcluster (for the PostgreSQL rounds).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-6}
BACKENDS=${BACKENDS:-sqlite postgres}
PROFILE=${PROFILE:-release}
CLIENTS=${CLIENTS:-8}
CRASH_PG=${CRASH_PG:-postgres://postgres@127.0.0.1:5432}
PORT=18282
ORIGIN=http://127.0.0.1:$PORT
export no_proxy='*' NO_PROXY='*'

if [ "$PROFILE" = release ]; then cargo build --release --locked -q; else cargo build --locked -q; fi
BIN=$PWD/target/$PROFILE/basewatch
WORK=$(mktemp -d)
SERVER= SUBMITTER=
PG_VERSION=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1 || true)
pg_start() { pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main start 2>/dev/null || true; for _ in $(seq 60); do pg_isready -q -h 127.0.0.1 && return; sleep 0.5; done; }
cleanup() {
    [ -n "$SUBMITTER" ] && kill "$SUBMITTER" 2>/dev/null
    [ -n "$SERVER" ] && kill -9 "$SERVER" 2>/dev/null
    if [ -n "$PG_VERSION" ] && ! pg_isready -q -h 127.0.0.1; then pg_start; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

start_server() {
    DATABASE_URL=$URL BASEWATCH_BIND=127.0.0.1:$PORT BASEWATCH_DATA_DIR=$WORK \
        BASEWATCH_ACCESS_TOKEN_TTL=3600 RUST_LOG=warn "$BIN" serve $1 >>"$WORK/server.log" 2>&1 &
    SERVER=$!
    wait_ready 60
}
wait_ready() {
    for _ in $(seq $(($1 * 10))); do curl -sf "$ORIGIN/ready" >/dev/null && return 0; sleep 0.1; done
    echo "the server did not become ready in $1 s" >&2; tail -20 "$WORK/server.log" >&2; return 1
}

# Submits incidents with client-generated ids from $CLIENTS threads until killed,
# retrying through outages; appends each acknowledged id (201 or 200) to a file.
cat >"$WORK/submitter.py" <<'PY'
import http.client, json, sys, threading, uuid
origin, token, mission, path, clients = sys.argv[1:6]
host, port = origin.split("//")[1].split(":")
lock = threading.Lock()
out = open(path, "a")
unexpected = open(path + ".unexpected", "a")
def body(i):
    return json.dumps({
        "id": i, "mission_id": mission, "occurred_at": "2024-03-10T22:15:00Z",
        "latitude": 42.35, "longitude": 21.26, "venue": "bar_or_club",
        "exploitation_types": ["sexual_exploitation", "forced_labour"],
        "means_of_control": ["debt_bondage"], "victims": {"count": 2},
        "narrative": f"crash-test narrative {i}",
    })
def run():
    conn = None
    while True:
        i = str(uuid.uuid4())
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, int(port), timeout=10)
            conn.request("POST", "/api/v1/incidents", body(i), {
                "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            res = conn.getresponse(); res.read()
            if res.status in (200, 201):
                with lock:
                    out.write(i + "\n"); out.flush()
            elif res.status != 503:  # 503: the database is restarting
                with lock:
                    unexpected.write(f"{res.status}\n"); unexpected.flush()
        except Exception:
            conn = None
threads = [threading.Thread(target=run, daemon=True) for _ in range(int(clients))]
for t in threads: t.start()
for t in threads: t.join()
PY
SUBMIT_PY=$WORK/submitter.py

failed=0
for backend in $BACKENDS; do
    rm -f "$WORK"/crash.db* "$WORK"/acknowledged* "$WORK/stored"
    case $backend in
        sqlite) URL=sqlite://$WORK/crash.db ;;
        postgres)
            [ -n "$PG_VERSION" ] || { echo "crash-test: no local PostgreSQL cluster to stop" >&2; exit 1; }
            psql "$CRASH_PG/postgres" -qc 'DROP DATABASE IF EXISTS basewatch_crash' -c 'CREATE DATABASE basewatch_crash' >/dev/null
            URL=$CRASH_PG/basewatch_crash ;;
    esac
    start_server --demo
    TOKEN=$(curl -sf "$ORIGIN/api/v1/auth/login" -H 'content-type: application/json' \
        -d '{"email":"monitor@demo.basewatch.org","password":"demo-password-monitor"}' |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    MISSION=$(curl -sf "$ORIGIN/api/v1/missions?limit=1" -H "Authorization: Bearer $TOKEN" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
    : >"$WORK/acknowledged"; : >"$WORK/acknowledged.unexpected"
    python3 "$SUBMIT_PY" "$ORIGIN" "$TOKEN" "$MISSION" "$WORK/acknowledged" "$CLIENTS" &
    SUBMITTER=$!

    for round in $(seq "$ROUNDS"); do
        sleep "$(python3 -c 'import random; print(round(random.uniform(0.5, 3.0), 2))')"
        before=$(wc -l <"$WORK/acknowledged")
        if [ "$backend" = postgres ] && [ $((round % 2)) = 0 ]; then
            echo "round $round: stopping PostgreSQL -m immediate after $before acknowledged" >&2
            pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main stop -m immediate
            sleep 1
            pg_start
            wait_ready 60 # the same server process recovers its pool
        else
            echo "round $round: kill -9 the server after $before acknowledged" >&2
            kill -9 "$SERVER"; wait "$SERVER" 2>/dev/null || true
            start_server ""
        fi
    done
    sleep 1
    kill "$SUBMITTER"; wait "$SUBMITTER" 2>/dev/null || true; SUBMITTER=

    # Every acknowledged incident must read back whole; every stored one must be complete.
    case $backend in
        sqlite) sql() { python3 -c 'import sqlite3, sys
for row in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]): print(*row, sep="|")' "$WORK/crash.db" "$1"; } ;;
        postgres) sql() { psql "$URL" -qAtc "$1"; } ;;
    esac
    REPORTER=$(curl -sf "$ORIGIN/api/v1/me" -H "Authorization: Bearer $TOKEN" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    sql "SELECT id FROM incidents WHERE reporter_id = '$REPORTER' AND synthetic = false" >"$WORK/stored"
    half=$(sql "SELECT COUNT(*) FROM incidents i WHERE reporter_id = '$REPORTER' AND synthetic = false AND (
        (SELECT COUNT(*) FROM incident_exploitation_types t WHERE t.incident_id = i.id) <> 2
        OR NOT EXISTS (SELECT 1 FROM incident_events e WHERE e.incident_id = i.id AND e.kind = 'created')
        OR NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.entity_id = i.id AND a.action = 'incident.created')
        OR narrative IS NULL)")
    python3 - "$ORIGIN" "$TOKEN" "$WORK/acknowledged" "$WORK/stored" "$backend" "$ROUNDS" "$half" <<'PY' || failed=1
import collections, http.client, json, sys
origin, token, acked_path, stored_path, backend, rounds, half = sys.argv[1:8]
odd = collections.Counter(open(acked_path + ".unexpected").read().split())
host, port = origin.split("//")[1].split(":")
acked = set(open(acked_path).read().split())
stored = set(open(stored_path).read().split())
conn = http.client.HTTPConnection(host, int(port), timeout=30)
unreadable = 0
for i in sorted(acked & stored):
    conn.request("GET", f"/api/v1/incidents/{i}", headers={"Authorization": f"Bearer {token}"})
    res = conn.getresponse(); data = res.read()
    if res.status != 200 or json.loads(data).get("narrative") != f"crash-test narrative {i}":
        unreadable += 1
lost = len(acked - stored)
print(f"{backend}: {rounds} crashes, acknowledged {len(acked)}, found {len(acked & stored)}, "
      f"lost {lost}, unreadable {unreadable}, half-written {half}, "
      f"stored without acknowledgement {len(stored - acked)} (answers cut by the crash), "
      f"unexpected statuses {dict(odd) or 0}")
sys.exit(1 if lost or unreadable or int(half) or odd or not acked else 0)
PY
    if grep -q 'internal error\|panicked' "$WORK/server.log"; then
        echo "$backend: the server logged internal errors:" >&2
        grep 'internal error\|panicked' "$WORK/server.log" | head -5 >&2
        failed=1
    fi
    kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null || true; SERVER=
    rm -f "$WORK/server.log"
done
exit $failed
