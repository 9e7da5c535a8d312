#!/usr/bin/env bash
# Benchmarks Basewatch against its own database, side by side in one run:
#   1. the mission × base × month aggregate through the API vs the same SQL run directly;
#      building the partner release of one month (`basewatch release build --month`, the
#      busiest months) and of every due month; the partner's mission × base × month answer
#      from the release beside the analyst's exact one;
#   2. the full CSV export through the API vs `\copy … to stdout` (PostgreSQL) or
#      `sqlite3 -csv` (SQLite) of the same rows, with the server's peak RSS; every
#      export must hold exactly the non-draft rows the database has, or the run fails;
#   3. POST /api/v1/incidents with wrk at 8 and 32 connections, counting only the 2xx
#      answers in its requests per second (the others are reported as errors), vs pgbench (prepared
#      statements) at the same concurrency writing the same rows a report writes (the
#      incident, its exploitation type, its history event, its audit row, in one
#      transaction), and vs the incident row alone (PostgreSQL; SQLite has no pgbench);
#   4. bulk intake (PostgreSQL): incidents per second stored through POST
#      /api/v1/incidents/batch (BATCH_ITEMS new reports per request, each with a fresh
#      client id; only items answered 201 count) at 1 and 8 connections, beside single
#      POST /api/v1/incidents at the same concurrency and pgbench writing the same four
#      rows per report, one report per transaction.
#
# Usage: scripts/bench.sh [incidents]        (default 1000000)
# Env:   RUNS (default 5), SECONDS_PER_LOAD (default 10), BENCH_PG (default
#        postgres://postgres@127.0.0.1:5432), BACKENDS (default "postgres sqlite"),
#        PROFILE (default release; debug for a quick check of the script itself),
#        SECTIONS (default "aggregate export post batch": which of 1+1b, 2, 3, 4 to run),
#        BATCH_ITEMS (default 1000).
# Needs: psql, pgbench, sqlite3, curl, jq, python3, wrk (apt-get install wrk).
# Any failed request in a timed command stops it with a message and a non-zero exit.
# Prints a Markdown table; it is also written to target/bench-results.md.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-1000000}
RUNS=${RUNS:-5}
LOAD_SECONDS=${SECONDS_PER_LOAD:-10}
BENCH_PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
BACKENDS=${BACKENDS:-postgres sqlite}
PROFILE=${PROFILE:-release}
SECTIONS=${SECTIONS:-aggregate export post batch}
BATCH_ITEMS=${BATCH_ITEMS:-1000}
want() { [[ " $SECTIONS " == *" $1 "* ]]; }
PORT=18080
API=http://127.0.0.1:$PORT/api/v1
export no_proxy='*' NO_PROXY='*'

for tool in psql pgbench sqlite3 curl jq python3 wrk bc; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is needed (see the header of this script)" >&2; exit 1; }
done

if [ "$PROFILE" = release ]; then cargo build --release --locked -q; else cargo build --locked -q; fi
BIN=$PWD/target/$PROFILE/basewatch
WORK=$(mktemp -d)
SERVER=
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

now() { date +%s.%N; }
ms() { echo "($2 - $1) * 1000" | bc -l; }
# min / median / max of the numbers on stdin
stats() { sort -g | awk '{a[NR]=$1} END {printf "%.0f / %.0f / %.0f", a[1], a[int((NR+1)/2)], a[NR]}'; }
time_ms() {
    local t0 t1
    t0=$(now)
    "$@" >/dev/null || { echo "bench: failed: $*" >&2; return 1; }
    t1=$(now)
    ms "$t0" "$t1"
}

OUT=target/bench-results.md
{
    echo "Basewatch benchmark: $N incidents, $RUNS runs each (min / median / max), $(nproc) cores, $(date -u +%Y-%m-%d)."
    echo
    echo "| backend | measure | Basewatch | baseline | ratio |"
    echo "|---|---|---|---|---|"
} > "$OUT"
row() { echo "| $1 | $2 | $3 | $4 | $5 |" | tee -a "$OUT"; }
median() { sed 's/.* \/ \(.*\) \/ .*/\1/' <<<"$1"; }

for backend in $BACKENDS; do
    case $backend in
        postgres)
            psql "$BENCH_PG/postgres" -qc 'DROP DATABASE IF EXISTS basewatch_bench' -c 'CREATE DATABASE basewatch_bench' >/dev/null
            URL=$BENCH_PG/basewatch_bench
            raw() { psql "$URL" -qAtc "$1"; } ;;
        sqlite)
            URL=sqlite://$WORK/bench.db
            raw() { sqlite3 "$WORK/bench.db" "$1"; } ;;
    esac
    echo "== $backend: loading $N incidents" >&2
    t0=$(now)
    DATABASE_URL=$URL BASEWATCH_DATA_DIR=$WORK RUST_LOG=warn "$BIN" seed-synthetic --incidents "$N" >&2
    t1=$(now)
    row "$backend" "seed-synthetic, $N incidents (s)" "$(printf %.1f "$(echo "$t1 - $t0" | bc -l)")" "" ""

    # The release is built below, measured; the server's background builder stays off.
    DATABASE_URL=$URL BASEWATCH_BIND=127.0.0.1:$PORT BASEWATCH_DATA_DIR=$WORK BASEWATCH_ACCESS_TOKEN_TTL=3600 \
        BASEWATCH_RELEASE_BUILDER=false RUST_LOG=warn "$BIN" serve >"$WORK/server.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null && break; sleep 0.1; done
    token() { curl -sf "$API/auth/login" -H 'content-type: application/json' \
        -d "{\"email\":\"$1@demo.basewatch.org\",\"password\":\"demo-password-$1\"}" | jq -r .access_token; }
    ANALYST=$(token analyst)
    MONITOR=$(token monitor)
    PARTNER=$(token partner)

    # 1. The aggregate.
    if want aggregate; then
        if [ "$backend" = postgres ]; then month="to_char(occurred_at, 'YYYY-MM')"; else month="strftime('%Y-%m', occurred_at)"; fi
        SQL="SELECT mission_id, base_id, $month, COUNT(*), SUM(victim_count) FROM incidents WHERE status <> 'draft' GROUP BY mission_id, base_id, $month"
        api=$(for _ in $(seq "$RUNS"); do time_ms curl -sf "$API/stats/incidents?group_by=mission,base,month" -H "authorization: Bearer $ANALYST"; done | stats)
        sql=$(for _ in $(seq "$RUNS"); do time_ms raw "$SQL"; done | stats)
        row "$backend" "mission × base × month aggregate (ms)" "$api" "$sql" "$(printf %.2f "$(echo "$(median "$api") / $(median "$sql")" | bc -l)")x"

        # 1b. The partner release: one month (each of the RUNS busiest, since a month is built
        # once), then every due month; then the partner's answer from it beside the analyst's.
        release() { DATABASE_URL=$URL BASEWATCH_DATA_DIR=$WORK RUST_LOG=warn "$BIN" release build "$@"; }
        busiest=$(raw "SELECT $month AS m FROM incidents WHERE status <> 'draft' GROUP BY m ORDER BY COUNT(*) DESC, m LIMIT $RUNS")
        in_busiest=$(raw "SELECT COUNT(*) FROM incidents WHERE status <> 'draft' AND $month = '$(head -1 <<<"$busiest")'")
        one=$(for m in $busiest; do time_ms release --month "$m"; done | stats)
        row "$backend" "release build, one month ($in_busiest incidents in the busiest) (ms)" "$one" "" ""
        t0=$(now); release >&2; t1=$(now)
        months=$(raw "SELECT COUNT(*) FROM releases")
        row "$backend" "release build, every due month ($months months) (s)" "$(printf %.1f "$(echo "$t1 - $t0" | bc -l)")" "" ""
        Q="group_by=mission,base,month"
        partner=$(for _ in $(seq "$RUNS"); do time_ms curl -sf "$API/stats/incidents?$Q" -H "authorization: Bearer $PARTNER"; done | stats)
        exact=$(for _ in $(seq "$RUNS"); do time_ms curl -sf "$API/stats/incidents?$Q" -H "authorization: Bearer $ANALYST"; done | stats)
        row "$backend" "partner $Q from the release vs the analyst's exact (ms)" "$partner" "$exact" "$(printf %.2f "$(echo "$(median "$partner") / $(median "$exact")" | bc -l)")x"

    fi
    # 2. The CSV export, with the server's peak resident memory.
    if want export; then
        rows=$(raw "SELECT COUNT(*) FROM incidents WHERE status <> 'draft'")
        peak=0
        api_times=()
        for _ in $(seq "$RUNS"); do
            ( while kill -0 "$SERVER" 2>/dev/null; do awk '/VmRSS/ {print $2}' "/proc/$SERVER/status"; sleep 0.05; done ) >"$WORK/rss" &
            sampler=$!
            t=$(time_ms curl -sf "$API/exports/incidents?format=csv" -H "authorization: Bearer $ANALYST" -o "$WORK/export.csv")
            api_times+=("$t")
            kill "$sampler"; wait "$sampler" 2>/dev/null || true
            p=$(sort -n "$WORK/rss" | tail -1); [ "${p:-0}" -gt "$peak" ] && peak=$p
            # Records, not lines: a quoted field may hold a newline.
            exported=$(python3 -c 'import csv, sys; print(sum(1 for _ in csv.reader(open(sys.argv[1], newline=""))) - 1)' "$WORK/export.csv")
            if [ "$exported" != "$rows" ]; then
                echo "bench: $backend: the CSV export wrote $exported rows; the database has $rows non-draft incidents" >&2
                exit 1
            fi
        done
        api=$(printf '%s\n' "${api_times[@]}" | stats)
        COLS="id, mission_id, base_id, base_distance_km, status, occurred_at, latitude, longitude, location_precision, venue, victim_count, source_type, source_reliability, source_credibility, content, consent_assessment, computed_assessment, assessment_indicators, synthetic, submitted_at, narrative"
        if [ "$backend" = postgres ]; then
            copy() { psql "$URL" -qc "\\copy (SELECT $COLS FROM incidents WHERE status <> 'draft' ORDER BY occurred_at DESC, id DESC) to stdout with csv header" >/dev/null; }
        else
            copy() { sqlite3 -csv -header "$WORK/bench.db" "SELECT $COLS FROM incidents WHERE status <> 'draft' ORDER BY occurred_at DESC, id DESC" >/dev/null; }
        fi
        base=$(for _ in $(seq "$RUNS"); do time_ms copy; done | stats)
        rate=$(printf %.0f "$(echo "$rows / ($(median "$api") / 1000)" | bc -l)")
        row "$backend" "CSV export of $rows rows (ms; $exported rows written)" "$api" "$base" "$(printf %.2f "$(echo "$(median "$api") / $(median "$base")" | bc -l)")x"
        row "$backend" "CSV export throughput (rows/s), server peak RSS (MB)" "$rate rows/s, $((peak / 1024)) MB" "" ""

    fi
    # 3. Intake under load.
    cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer $MONITOR"
wrk.body = '{"mission_id": "$(raw "SELECT id FROM missions ORDER BY name LIMIT 1")", "occurred_at": "2019-06-01T12:00:00Z", "latitude": 18.55, "longitude": -72.33, "venue": "bar_or_club", "exploitation_types": ["sexual_exploitation"], "means_of_control": ["debt_bondage"], "victims": {"count": 2, "sexes": {"female": 2}, "nationalities": ["DO"]}, "source": {"type": "third_party", "reliability": "B", "credibility": 2}, "narrative": "benchmark", "submit": true}'
-- Only 2xx answers count as requests served; the others are errors, with the socket errors.
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) served, refused = 0, 0 end
function response(status, headers, body)
  if status >= 200 and status < 300 then served = served + 1 else refused = refused + 1 end
end
function done(summary, latency, requests)
  local ok, bad = 0, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  for _, t in ipairs(threads) do ok, bad = ok + t:get("served"), bad + t:get("refused") end
  io.write(string.format("WRK %d %d %.0f %.0f\n", ok, bad, latency:percentile(99) / 1000, ok / (summary.duration / 1e6)))
end
LUA
    # The baselines, with prepared statements as Basewatch uses (PostgreSQL): the
    # four rows one report writes (the incident, its exploitation type, its history
    # event, its audit row) in one transaction, the audit row appended to the hash
    # chain as Basewatch does (the chain's advisory lock, the head read, the next seq
    # and a SHA-256), and the incident row alone.
    if [ "$backend" = postgres ]; then
        CHAIN_LOCK=7095189634550098292   # audit::chain::LOCK_KEY
        template="FROM incidents WHERE id = (SELECT min(id) FROM incidents)"
        new_id="md5(:client_id || '-' || :n)::uuid::text"
        incident="INSERT INTO incidents (id, mission_id, base_id, base_distance_km, status, version, reporter_id, organisation_id, occurred_at, latitude, longitude, location_precision, venue, victim_count, source_type, source_reliability, source_credibility, content, content_hash, narrative, narrative_key_id, consent_assessment, computed_assessment, assessment_indicators, assessment_override_reason, synthetic, created_at, updated_at, submitted_at) SELECT $new_id, mission_id, base_id, base_distance_km, 'submitted', 1, reporter_id, organisation_id, now(), latitude, longitude, location_precision, venue, victim_count, source_type, source_reliability, source_credibility, content, md5(random()::text), narrative, narrative_key_id, consent_assessment, computed_assessment, assessment_indicators, NULL, false, now(), now(), now() $template;"
        printf '%s\n' '\set n random(1, 9000000000000000)' "$incident" >"$WORK/incident.sql"
        printf '%s\n' '\set n random(1, 9000000000000000)' 'BEGIN;' "$incident" \
            "INSERT INTO incident_exploitation_types (incident_id, exploitation_type) VALUES ($new_id, 'sexual_exploitation');" \
            "INSERT INTO incident_events (id, incident_id, at, actor_id, kind, from_status, to_status, comment, version, changed_fields) SELECT gen_random_uuid()::text, $new_id, now(), reporter_id, 'created', NULL, 'submitted', NULL, 1, NULL $template;" \
            "SELECT pg_advisory_xact_lock($CHAIN_LOCK);" \
            "INSERT INTO audit_log (id, at, actor_id, action, entity_type, entity_id, details, request_id, seq, prev_hash, hash) SELECT gen_random_uuid()::text, now(), i.reporter_id, 'incident.created', 'incident', $new_id, '{\"consent_assessment\":\"' || i.consent_assessment || '\",\"mission_id\":\"' || i.mission_id || '\",\"status\":\"submitted\"}', NULL, h.seq + 1, h.hash, encode(sha256(convert_to(h.hash || $new_id, 'UTF8')), 'hex') FROM (SELECT seq, hash FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1) h, (SELECT reporter_id, consent_assessment, mission_id $template) i;" \
            'END;' >"$WORK/report.sql"
    fi
    # pgbench transactions per second of one of the scripts above, at some connections.
    tps() { pgbench -n -M prepared -c "$2" -j "$(( $2 < 2 ? $2 : 2 ))" -T "$LOAD_SECONDS" -f "$WORK/$1.sql" "$URL" 2>/dev/null | awk '/^tps/ {printf "%.0f", $3}'; }
    # wrk with post.lua at some connections: "served errors p99 rate".
    posts() { wrk -t"$(( $1 < 2 ? $1 : 2 ))" -c"$1" -d"${LOAD_SECONDS}s" -s "$WORK/post.lua" "$API/incidents" | grep '^WRK'; }

    if want post; then
        for conns in 8 32; do
            read -r _ served errors p99 rps <<<"$(posts "$conns")"
            [ "$served" -gt 0 ] || { echo "bench: $backend: no POST /incidents succeeded at $conns connections ($errors errors)" >&2; exit 1; }
            if [ "$backend" = postgres ]; then
                same=$(tps report "$conns")
                alone=$(tps incident "$conns")
                row "$backend" "POST /incidents, $conns connections (2xx req/s; p99 ms; errors)" "$rps; p99 $p99; $errors errors" "pgbench, the same 4 rows per transaction: $same tps" "$(printf %.2f "$(echo "$rps / $same" | bc -l)")x"
                row "$backend" "the same POST figure against the incident row alone" "$rps" "pgbench, 1 row per transaction: $alone tps" "$(printf %.2f "$(echo "$rps / $alone" | bc -l)")x"
            else
                row "$backend" "POST /incidents, $conns connections (2xx req/s; p99 ms; errors)" "$rps; p99 $p99; $errors errors" "n/a" ""
            fi
        done
    fi

    # 4. Bulk intake: BATCH_ITEMS new reports per request (the body of post.lua with
    # a fresh client id each), counting only the items answered 201.
    if want batch && [ "$backend" = postgres ]; then
        cat >"$WORK/batch.lua" <<LUA
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer $MONITOR"
local item = '{"id": "%s", "mission_id": "$(raw "SELECT id FROM missions ORDER BY name LIMIT 1")", "occurred_at": "2019-06-01T12:00:00Z", "latitude": 18.55, "longitude": -72.33, "venue": "bar_or_club", "exploitation_types": ["sexual_exploitation"], "means_of_control": ["debt_bondage"], "victims": {"count": 2, "sexes": {"female": 2}, "nationalities": ["DO"]}, "source": {"type": "third_party", "reliability": "B", "credibility": 2}, "narrative": "benchmark", "submit": true}'
local threads, made = {}, 0
function setup(thread) made = made + 1; thread:set("seed", made); table.insert(threads, thread) end
function init(args) stored, refused = 0, 0; math.randomseed(seed * 7919 + os.time()) end
local function r(n) return math.random(0, n) end
local function uuid()
  return string.format("%04x%04x-%04x-4%03x-%04x-%04x%04x%04x", r(0xffff), r(0xffff), r(0xffff), r(0xfff), 0x8000 + r(0x3fff), r(0xffff), r(0xffff), r(0xffff))
end
function request()
  local items = {}
  for i = 1, $BATCH_ITEMS do items[i] = string.format(item, uuid()) end
  return wrk.format(nil, nil, nil, "[" .. table.concat(items, ",") .. "]")
end
function response(status, headers, body)
  if status == 200 then
    local _, n = body:gsub('"status":201', '')
    stored = stored + n
    if n < $BATCH_ITEMS then refused = refused + 1 end
  else refused = refused + 1 end
end
function done(summary, latency, requests)
  local ok, bad = 0, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  for _, t in ipairs(threads) do ok, bad = ok + t:get("stored"), bad + t:get("refused") end
  io.write(string.format("WRK %d %d %.0f %.0f\n", ok, bad, latency:percentile(99) / 1000, ok / (summary.duration / 1e6)))
end
LUA
        for conns in 1 8; do
            before=$(raw "SELECT COUNT(*) FROM incidents")
            line=$(wrk -t"$(( conns < 2 ? conns : 2 ))" -c"$conns" -d"${LOAD_SECONDS}s" --timeout 60s -s "$WORK/batch.lua" "$API/incidents/batch" | grep '^WRK')
            read -r _ stored errors p99 rate <<<"$line"
            [ "$stored" -gt 0 ] && [ "$errors" -eq 0 ] || { echo "bench: $backend: batch at $conns connections: $stored stored, $errors failed requests or refused items" >&2; exit 1; }
            sleep 1
            in_db=$(( $(raw "SELECT COUNT(*) FROM incidents") - before ))
            [ "$in_db" -ge "$stored" ] || { echo "bench: $backend: the batches answered $stored items 201; the database has $in_db new incidents" >&2; exit 1; }
            read -r _ _ perrors _ prps <<<"$(posts "$conns")"
            same=$(tps report "$conns")
            row "$backend" "POST /incidents/batch ($BATCH_ITEMS per request), $conns connection(s) (incidents/s; p99 ms per batch)" "$rate; p99 $p99" "single POST /incidents: $prps/s ($perrors errors); pgbench, the same 4 rows per transaction: $same tps" "$(printf %.1f "$(echo "$rate / $prps" | bc -l)")x single POST, $(printf %.1f "$(echo "$rate / $same" | bc -l)")x pgbench"
        done
    fi

    kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
    [ "$backend" = postgres ] && psql "$BENCH_PG/postgres" -qc 'DROP DATABASE basewatch_bench' >/dev/null
done
echo >&2
echo "written to $OUT" >&2
