#!/usr/bin/env bash
# Mixed load: wrk at 64 connections for a fixed time against a Basewatch serving the
# demo data, on SQLite and on PostgreSQL. Per 20 requests: 8 incident lists, 5
# single incidents, 4 new reports, 2 review moves, 1 aggregate, each as the role
# that makes it. Prints throughput, p50/p99 latency and the count of unexpected
# statuses, which must be 0 (a review move may answer 409 or 412 when another
# connection moved the incident first; everything else must succeed).
#
# Usage: scripts/load.sh
# Env:   DURATION (default 30s), CONNECTIONS (default 64), THREADS (default 2),
#        BACKENDS (default "sqlite postgres"), PROFILE (default release),
#        LOAD_PG (default postgres://postgres@127.0.0.1:5432).
# Needs: wrk (apt-get install wrk), python3, curl, psql.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-30s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
BACKENDS=${BACKENDS:-sqlite postgres}
PROFILE=${PROFILE:-release}
LOAD_PG=${LOAD_PG:-postgres://postgres@127.0.0.1:5432}
PORT=18383
ORIGIN=http://127.0.0.1:$PORT
export no_proxy='*' NO_PROXY='*'
command -v wrk >/dev/null || { echo "load: wrk is needed (apt-get install wrk)" >&2; exit 1; }

if [ "$PROFILE" = release ]; then cargo build --release --locked -q; else cargo build --locked -q; fi
BIN=$PWD/target/$PROFILE/basewatch
WORK=$(mktemp -d)
SERVER=
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$WORK"' EXIT

cat >"$WORK/mixed.lua" <<'LUA'
-- Environment: MONITOR, REVIEWER, ANALYST tokens, MISSION id, IDS file (one
-- incident id per line), SUBMITTED file (submitted incidents for review moves).
local threads = {}
function setup(thread)
    thread:set("id", #threads + 1)
    table.insert(threads, thread)
end

local function lines(path)
    local t = {}
    for l in io.lines(path) do t[#t + 1] = l end
    return t
end

function init(args)
    math.randomseed(os.time() * 1000 + id)
    ids = lines(os.getenv("IDS"))
    submitted = lines(os.getenv("SUBMITTED"))
    monitor = { ["Authorization"] = "Bearer " .. os.getenv("MONITOR"), ["Content-Type"] = "application/json" }
    reviewer = { ["Authorization"] = "Bearer " .. os.getenv("REVIEWER"), ["Content-Type"] = "application/json", ["If-Match"] = "*" }
    analyst = { ["Authorization"] = "Bearer " .. os.getenv("ANALYST") }
    mission = os.getenv("MISSION")
    n = 0
    unexpected, statuses = 0, ""
end

local function uuid()
    return (string.gsub("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx", "[xy]", function(c)
        return string.format("%x", c == "x" and math.random(0, 15) or math.random(8, 11))
    end))
end

function request()
    n = n + 1
    local slot = n % 20
    local kind, req
    if slot < 8 then
        kind, req = "list", wrk.format("GET", "/api/v1/incidents?limit=20", analyst)
    elseif slot < 13 then
        kind, req = "get", wrk.format("GET", "/api/v1/incidents/" .. ids[math.random(#ids)], analyst)
    elseif slot < 17 then
        kind = "create"
        req = wrk.format("POST", "/api/v1/incidents", monitor, string.format(
            '{"id":"%s","mission_id":"%s","occurred_at":"2024-03-10T22:15:00Z","latitude":42.35,' ..
            '"longitude":21.26,"venue":"bar_or_club","exploitation_types":["sexual_exploitation"],' ..
            '"means_of_control":["debt_bondage"],"victims":{"count":2},"submit":true,' ..
            '"narrative":"load test"}', uuid(), mission))
    elseif slot < 19 then
        kind = "move"
        req = wrk.format("POST", "/api/v1/incidents/" .. submitted[math.random(#submitted)] .. "/transitions",
            reviewer, '{"to":"in_review"}')
    else
        kind, req = "aggregate", wrk.format("GET", "/api/v1/stats/incidents?group_by=mission,base,month", analyst)
    end
    return req
end

-- A thread's connections interleave, so a response is judged by itself: 200 for
-- reads and moves, 201 with a Location for new reports, and for a review move that
-- another connection made first either 409 (it saw the move) or 412 (the move was
-- committed between its read and its versioned update). Anything else is unexpected.
function response(status, headers, body)
    local ok = status == 200
        or (status == 201 and (headers["location"] or headers["Location"]) ~= nil)
        or (status == 409 and string.find(body, "is not a move of the workflow", 1, true) ~= nil)
        or (status == 412 and string.find(body, "the incident has changed", 1, true) ~= nil)
    if not ok then
        unexpected = unexpected + 1
        if #statuses < 200 then statuses = statuses .. " " .. status end
    end
end

function done(summary, latency, requests)
    local bad, seen = 0, ""
    for _, t in ipairs(threads) do
        bad = bad + t:get("unexpected")
        seen = seen .. t:get("statuses")
    end
    local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
    io.write(string.format("RESULT requests=%d seconds=%.1f rps=%.0f p50_ms=%.1f p99_ms=%.1f unexpected=%d socket_errors=%d%s\n",
        summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
        latency:percentile(50) / 1000, latency:percentile(99) / 1000, bad, errors,
        seen ~= "" and (" first:" .. seen) or ""))
end
LUA

failed=0
OUT=target/load-results.md
mkdir -p target
{
    echo "Basewatch mixed load: wrk, $CONNECTIONS connections, $DURATION, $PROFILE build, $(nproc) cores, $(date -u +%Y-%m-%d)."
    echo
    echo "| backend | requests/s | p50 ms | p99 ms | requests | unexpected statuses |"
    echo "|---|---|---|---|---|---|"
} >"$OUT"
for backend in $BACKENDS; do
    case $backend in
        sqlite) URL=sqlite://$WORK/load.db ;;
        postgres)
            psql "$LOAD_PG/postgres" -qc 'DROP DATABASE IF EXISTS basewatch_load' -c 'CREATE DATABASE basewatch_load' >/dev/null
            URL=$LOAD_PG/basewatch_load ;;
    esac
    DATABASE_URL=$URL BASEWATCH_BIND=127.0.0.1:$PORT BASEWATCH_DATA_DIR=$WORK \
        BASEWATCH_ACCESS_TOKEN_TTL=3600 RUST_LOG=warn "$BIN" serve --demo >"$WORK/server-$backend.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 600); do curl -sf "$ORIGIN/ready" >/dev/null && break; sleep 0.1; done
    token() {
        curl -sf "$ORIGIN/api/v1/auth/login" -H 'content-type: application/json' \
            -d "{\"email\":\"$1@demo.basewatch.org\",\"password\":\"demo-password-$1\"}" |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
    }
    MONITOR=$(token monitor) REVIEWER=$(token reviewer) ANALYST=$(token analyst)
    MISSION=$(curl -sf "$ORIGIN/api/v1/missions?limit=1" -H "Authorization: Bearer $ANALYST" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
    curl -sf "$ORIGIN/api/v1/incidents?limit=200" -H "Authorization: Bearer $ANALYST" |
        python3 -c 'import json,sys; [print(i["id"]) for i in json.load(sys.stdin)["items"]]' >"$WORK/ids"
    # Submitted incidents by the demo monitor, for the reviewer's moves.
    curl -sf "$ORIGIN/api/v1/incidents?limit=200&status=submitted" -H "Authorization: Bearer $REVIEWER" |
        python3 -c 'import json,sys; [print(i["id"]) for i in json.load(sys.stdin)["items"] if i["reporter_id"] != sys.argv[1]]' \
            "$(curl -sf "$ORIGIN/api/v1/me" -H "Authorization: Bearer $REVIEWER" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')" \
            >"$WORK/submitted"
    echo "==> $backend: wrk -t$THREADS -c$CONNECTIONS -d$DURATION" >&2
    result=$(MONITOR=$MONITOR REVIEWER=$REVIEWER ANALYST=$ANALYST MISSION=$MISSION IDS=$WORK/ids SUBMITTED=$WORK/submitted \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 10s -s "$WORK/mixed.lua" "$ORIGIN" | grep '^RESULT')
    echo "$backend: $result"
    eval "$(sed 's/^RESULT //; s/ first:.*//' <<<"$result")"
    echo "| $backend | $rps | $p50_ms | $p99_ms | $requests | $unexpected |" >>"$OUT"
    if [ "$unexpected" != 0 ] || [ "$socket_errors" != 0 ] || [ "$requests" = 0 ]; then failed=1; fi
    kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
done
cat "$OUT"
exit $failed
