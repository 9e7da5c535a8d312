#!/usr/bin/env bash
# Mixed load: wrk at 64 connections for a fixed time against a Basewatch serving the
# demo data, on SQLite and on PostgreSQL. Per 20 requests: 8 incident lists, 5
# single incidents, 4 new reports, 2 workflow moves, 1 aggregate, each as the role
# that makes it. The moves go round submitted → in_review → needs_info → submitted
# (reviewer, reviewer, then the monitor who reported it) on incidents submitted just
# before, one per connection; each wrk thread moves only its own, one move at a time,
# with the exact version as If-Match, so no race can explain a 409 or 412.
# Prints throughput, p50/p99 latency, the workflow moves made and the count of
# unexpected answers. It fails on any unexpected answer (every move must answer 200
# with the incident in its new state, one version on), on an answer that matches no
# request sent, on socket errors, and when fewer moves succeeded than were sent, less
# the at most one request per connection still in flight at the end.
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
-- incident id per line, for reads), MOVES file ("id version" per line: incidents the
-- monitor submitted just before, at least one per connection), THREADS.
--
-- Each thread gets its own share of MOVES and moves each of them round the cycle
-- submitted → in_review → needs_info → submitted (the reviewer twice, then the
-- monitor, who reported it), one move at a time, with the exact version as If-Match.
-- Nothing else touches these incidents, so no move can meet a race: a 409 or 412 is
-- a fault, like any other status that is not the one expected.
local threads = {}
function setup(thread)
    local k, every, i, mine = #threads, tonumber(os.getenv("THREADS")), 0, {}
    for l in io.lines(os.getenv("MOVES")) do
        if i % every == k then mine[#mine + 1] = l end
        i = i + 1
    end
    thread:set("id", k + 1)
    thread:set("mine", table.concat(mine, ","))
    table.insert(threads, thread)
end

local kinds = { "list", "get", "create", "move", "aggregate" }
local cycle = {
    { to = "in_review", by = "REVIEWER" },
    { to = "needs_info", by = "REVIEWER", comment = "load test: which venue?" },
    { to = "submitted", by = "MONITOR" },
}

function init(args)
    math.randomseed(os.time() * 1000 + id)
    ids, known = {}, {}
    for l in io.lines(os.getenv("IDS")) do
        ids[#ids + 1] = l
        known[l] = true
    end
    -- This thread's incidents to move: their version, their next step in the cycle,
    -- whether a move is in flight; idle lists those with none in flight.
    moves, idle = {}, {}
    for item in string.gmatch(mine, "[^,]+") do
        local inc, version = string.match(item, "^(%S+) (%d+)$")
        moves[inc] = { version = tonumber(version), step = 1, busy = false }
        idle[#idle + 1] = inc
    end
    monitor = { ["Authorization"] = "Bearer " .. os.getenv("MONITOR"), ["Content-Type"] = "application/json" }
    analyst = { ["Authorization"] = "Bearer " .. os.getenv("ANALYST") }
    mission = os.getenv("MISSION")
    n = 0
    -- Requests sent and answers recognised, per kind (sent_list, got_list, ...).
    for _, k in ipairs(kinds) do _G["sent_" .. k], _G["got_" .. k] = 0, 0 end
    unexpected, conflicts, skipped, statuses = 0, 0, 0, ""
end

local function uuid()
    return (string.gsub("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx", "[xy]", function(c)
        return string.format("%x", c == "x" and math.random(0, 15) or math.random(8, 11))
    end))
end

local function list()
    return "list", wrk.format("GET", "/api/v1/incidents?limit=20", analyst)
end

local function move()
    local inc = table.remove(idle, 1)
    -- Every incident of this thread has a move in flight: only answers that never
    -- came back as expected leave one busy, since each connection has one request.
    if inc == nil then
        skipped = skipped + 1
        return list()
    end
    local m = moves[inc]
    local step = cycle[m.step]
    m.busy = true
    local body = '{"to":"' .. step.to .. '"' .. (step.comment and (',"comment":"' .. step.comment .. '"') or "") .. "}"
    return "move", wrk.format("POST", "/api/v1/incidents/" .. inc .. "/transitions", {
        ["Authorization"] = "Bearer " .. os.getenv(step.by),
        ["Content-Type"] = "application/json",
        ["If-Match"] = '"' .. m.version .. '"',
    }, body)
end

function request()
    n = n + 1
    local slot = n % 20
    local kind, req
    if slot < 8 then
        kind, req = list()
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
        kind, req = move()
    else
        kind, req = "aggregate", wrk.format("GET", "/api/v1/stats/incidents?group_by=mission,base,month", analyst)
    end
    _G["sent_" .. kind] = _G["sent_" .. kind] + 1
    return req
end

-- A thread's connections interleave, so an answer is recognised by itself: a page
-- of incidents, an aggregate, one of the read incidents, a new report (201 with a
-- Location), or one of this thread's incidents with a move in flight, in the state
-- it was moved to, one version on (body and ETag). Anything else is unexpected.
function response(status, headers, body)
    local kind
    if status == 201 and (headers["location"] or headers["Location"]) ~= nil and string.sub(body, 1, 7) == '{"id":"' then
        kind = "create"
    elseif status == 200 and string.sub(body, 1, 9) == '{"items":' then
        kind = "list"
    elseif status == 200 and string.sub(body, 1, 9) == '{"scope":' then
        kind = "aggregate"
    elseif status == 200 then
        local inc, to, version = string.match(body, '^{"id":"([^"]+)","status":"([a-z_]+)","version":(%d+)')
        local m = inc and moves[inc]
        if m then
            local etag = headers["etag"] or headers["ETag"]
            if m.busy and to == cycle[m.step].to and tonumber(version) == m.version + 1
                and etag == '"' .. version .. '"' then
                kind = "move"
                m.version, m.step, m.busy = m.version + 1, m.step % #cycle + 1, false
                idle[#idle + 1] = inc
            end
        elseif inc and known[inc] then
            kind = "get"
        end
    end
    if kind then
        _G["got_" .. kind] = _G["got_" .. kind] + 1
    else
        unexpected = unexpected + 1
        if status == 409 or status == 412 then conflicts = conflicts + 1 end
        if #statuses < 200 then statuses = statuses .. " " .. status end
    end
end

-- Per thread, every kind has at most as many answers as requests, and the requests
-- left without an answer at the end are at most one per connection: an answer of one
-- kind passed off as another, or a move answered but not as expected, shows here.
function done(summary, latency, requests)
    local bad, conf, skip, moved, sent, miscounted, open, seen = 0, 0, 0, 0, 0, 0, 0, ""
    local per_thread = math.ceil(tonumber(os.getenv("CONNECTIONS")) / #threads)
    for _, t in ipairs(threads) do
        local left = -t:get("unexpected")
        for _, k in ipairs(kinds) do
            local s, g = t:get("sent_" .. k), t:get("got_" .. k)
            if g > s then miscounted = miscounted + g - s end
            left = left + s - g
        end
        -- wrk calls request() once more on the first thread to check the script.
        if left < 0 then miscounted = miscounted - left end
        if left > per_thread + 1 then miscounted = miscounted + left - per_thread - 1 end
        open = open + math.max(left, 0)
        bad = bad + t:get("unexpected")
        conf = conf + t:get("conflicts")
        skip = skip + t:get("skipped")
        moved = moved + t:get("got_move")
        sent = sent + t:get("sent_move")
        seen = seen .. t:get("statuses")
    end
    local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
    io.write(string.format("RESULT requests=%d seconds=%.1f rps=%.0f p50_ms=%.1f p99_ms=%.1f unexpected=%d conflicts=%d " ..
        "moves=%d moves_sent=%d moves_skipped=%d miscounted=%d unanswered=%d socket_errors=%d%s\n",
        summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
        latency:percentile(50) / 1000, latency:percentile(99) / 1000, bad, conf, moved, sent, skip, miscounted, open, errors,
        seen ~= "" and (" first:" .. seen) or ""))
end
LUA

failed=0
fail() { echo "load: $backend: $*" >&2; failed=1; }
OUT=target/load-results.md
mkdir -p target
{
    echo "Basewatch mixed load: wrk, $CONNECTIONS connections, $DURATION, $PROFILE build, $(nproc) cores, $(date -u +%Y-%m-%d)."
    echo
    echo "| backend | requests/s | p50 ms | p99 ms | requests | workflow moves | unexpected statuses |"
    echo "|---|---|---|---|---|---|---|"
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
    # The incidents the workflow moves go round: the demo monitor submits one per
    # connection, so each wrk thread has one for every connection it drives.
    python3 - "$ORIGIN" "$MONITOR" "$MISSION" "$CONNECTIONS" >"$WORK/moves" <<'PY'
import json, sys, urllib.request, uuid
origin, token, mission, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
for _ in range(n):
    body = {"id": str(uuid.uuid4()), "mission_id": mission, "occurred_at": "2024-03-10T22:15:00Z",
            "latitude": 42.35, "longitude": 21.26, "venue": "bar_or_club",
            "exploitation_types": ["sexual_exploitation"], "means_of_control": ["debt_bondage"],
            "victims": {"count": 2}, "submit": True, "narrative": "load test: moved round the workflow"}
    req = urllib.request.Request(origin + "/api/v1/incidents", json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as res:
        incident = json.load(res)
        assert res.status == 201 and incident["status"] == "submitted", (res.status, incident)
        print(incident["id"], incident["version"])
PY
    echo "==> $backend: wrk -t$THREADS -c$CONNECTIONS -d$DURATION" >&2
    result=$(MONITOR=$MONITOR REVIEWER=$REVIEWER ANALYST=$ANALYST MISSION=$MISSION IDS=$WORK/ids MOVES=$WORK/moves \
        THREADS=$THREADS CONNECTIONS=$CONNECTIONS \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 10s -s "$WORK/mixed.lua" "$ORIGIN" | grep '^RESULT')
    echo "$backend: $result"
    eval "$(sed 's/^RESULT //; s/ first:.*//' <<<"$result")"
    echo "| $backend | $rps | $p50_ms | $p99_ms | $requests | $moves | $unexpected |" >>"$OUT"
    [ "$requests" != 0 ] || fail "no request was answered"
    [ "$socket_errors" = 0 ] || fail "$socket_errors socket errors"
    [ "$unexpected" = 0 ] || fail "$unexpected unexpected answers ($conflicts of them 409 or 412, which no race explains here)"
    [ "$miscounted" = 0 ] || fail "$miscounted answers do not match the requests sent (an answer of the wrong kind)"
    [ "$moves_skipped" = 0 ] || fail "$moves_skipped moves not sent: every incident of a thread was stuck in a move"
    # Each move the answers did not account for is still in flight at the end, and a
    # connection has at most one request in flight.
    { [ "$moves" -gt 0 ] && [ $((moves + CONNECTIONS)) -ge "$moves_sent" ]; } ||
        fail "only $moves of $moves_sent workflow moves succeeded"
    kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
done
cat "$OUT"
exit $failed
