#!/usr/bin/env bash
# Attachment throughput on PostgreSQL (release build): 25 MiB files uploaded
# (PUT, cleaned, sealed in 64 KiB chunks, stored) and downloaded (streamed,
# opened chunk by chunk) at 1 and 8 connections, beside psql writing and
# reading the same bytes as large objects (\lo_import / \lo_export), with the
# server's peak resident memory (VmHWM) after the 8-connection uploads. One
# monitor sends every upload, so the server allows it 8 at once
# (BASEWATCH_UPLOADS_PER_ACCOUNT=8; the default is 2).
#
# Usage: scripts/bench-attachments.sh
# Env:   FILES (uploads per measure, default 8), BENCH_PG (default
#        postgres://postgres@127.0.0.1:5432), PROFILE (default release).
# Needs: psql, curl, jq, python3, bc.
set -euo pipefail
cd "$(dirname "$0")/.."

FILES=${FILES:-8}
BENCH_PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
PROFILE=${PROFILE:-release}
PORT=18081
API=http://127.0.0.1:$PORT/api/v1
export no_proxy='*' NO_PROXY='*'
for tool in psql curl jq python3 bc; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is needed" >&2; exit 1; }
done

if [ "$PROFILE" = release ]; then cargo build --release --locked -q; else cargo build --locked -q; fi
BIN=$PWD/target/$PROFILE/basewatch
WORK=$(mktemp -d)
DB=bw_bench_att_$$
URL=$BENCH_PG/$DB
SERVER=
cleanup() {
    [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null
    psql "$BENCH_PG/postgres" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
psql "$BENCH_PG/postgres" -qc "CREATE DATABASE $DB" >/dev/null

# A valid 25 MiB PNG of random pixels (stored uncompressed: a photo does not compress either).
python3 - "$WORK/file.png" <<'PY'
import os, struct, sys, zlib
w, h = 4096, 6300
raw = b"".join(b"\0" + os.urandom(w) for _ in range(h))
z = bytearray(b"\x78\x01")
blocks = [raw[i:i + 65535] for i in range(0, len(raw), 65535)]
for i, b in enumerate(blocks):
    z += bytes([i + 1 == len(blocks)]) + struct.pack("<HH", len(b), 0xFFFF ^ len(b)) + b
z += struct.pack(">I", zlib.adler32(raw))
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) + chunk(b"IDAT", bytes(z)) + chunk(b"IEND", b"")
assert len(png) <= 25 << 20, len(png)
open(sys.argv[1], "wb").write(png)
PY
SIZE=$(stat -c %s "$WORK/file.png")
MIB=$(echo "$SIZE / 1048576" | bc -l)

DATABASE_URL=$URL BASEWATCH_DATA_DIR=$WORK RUST_LOG=warn "$BIN" seed-synthetic --incidents 10 >/dev/null 2>&1
DATABASE_URL=$URL BASEWATCH_BIND=127.0.0.1:$PORT BASEWATCH_DATA_DIR=$WORK BASEWATCH_ACCESS_TOKEN_TTL=3600 \
    BASEWATCH_RELEASE_BUILDER=false BASEWATCH_MAX_ATTACHMENTS_PER_INCIDENT=10000 BASEWATCH_UPLOADS_PER_ACCOUNT=8 RUST_LOG=warn \
    "$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null && break; sleep 0.1; done
TOKEN=$(curl -sf "$API/auth/login" -H 'content-type: application/json' \
    -d '{"email":"monitor@demo.basewatch.org","password":"demo-password-monitor"}' | jq -r .access_token)
MISSION=$(curl -sf "$API/missions" -H "authorization: Bearer $TOKEN" | jq -r '.items[0].id')
INCIDENT=$(curl -sf "$API/incidents" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d "{\"mission_id\":\"$MISSION\",\"occurred_at\":\"2024-03-10T22:15:00Z\",\"latitude\":42.35,\"longitude\":21.26,\"exploitation_types\":[\"sexual_exploitation\"],\"victims\":{\"count\":1}}" | jq -r .id)
[ "$INCIDENT" != null ] || { echo "bench: could not create an incident" >&2; exit 1; }
echo "$SIZE" >"$WORK/size"
export API TOKEN INCIDENT WORK URL

up() {
    local id; id=$(python3 -c 'import uuid; print(uuid.uuid4())')
    curl -sf -o /dev/null -X PUT "$API/incidents/$INCIDENT/attachments/$id" \
        -H "authorization: Bearer $TOKEN" -H 'content-type: image/png' --data-binary @"$WORK/file.png" \
        || { echo "bench: upload failed" >&2; return 1; }
    echo "$id" >>"$WORK/ids"
}
down() {
    local got; got=$(curl -sf "$API/incidents/$INCIDENT/attachments/$1/content" -H "authorization: Bearer $TOKEN" | wc -c)
    [ "$got" = "$(cat "$WORK/size")" ] || { echo "bench: download of $1 gave $got bytes" >&2; return 1; }
}
lo_up() { psql "$URL" -qAtc "\\lo_import '$WORK/file.png'" >/dev/null; }
lo_down() {
    psql "$URL" -qAtc "\\lo_export $1 '$WORK/out-$1'" >/dev/null
    [ "$(stat -c %s "$WORK/out-$1")" = "$(cat "$WORK/size")" ] || { echo "bench: \\lo_export of $1 is short" >&2; return 1; }
    rm -f "$WORK/out-$1"
}
export -f up down lo_up lo_down

now() { date +%s.%N; }
# MiB/s for FILES transfers run by "$@" at a concurrency
rate() {
    local conc=$1; shift
    local t0 t1; t0=$(now)
    "$@" "$conc" || { echo "bench: $1 at $conc connection(s) failed" >&2; exit 1; }
    t1=$(now)
    printf %.1f "$(echo "$FILES * $MIB / ($t1 - $t0)" | bc -l)"
}
uploads() { seq "$FILES" | xargs -P "$1" -I{} bash -c up; }
downloads() { tail -n "$FILES" "$WORK/ids" | xargs -P "$1" -I{} bash -c 'down {}'; }
lo_uploads() { seq "$FILES" | xargs -P "$1" -I{} bash -c lo_up; }
lo_downloads() {
    local oids; oids=$(psql "$URL" -qAtc "SELECT oid FROM pg_largeobject_metadata LIMIT $FILES")
    [ "$(echo "$oids" | grep -c .)" = "$FILES" ] || { echo "bench: $FILES large objects expected" >&2; return 1; }
    echo "$oids" | xargs -P "$1" -I{} bash -c 'lo_down {}'
}

echo "Attachments, PostgreSQL, $PROFILE build: $FILES files of $SIZE bytes per measure, $(nproc) cores, $(date -u +%Y-%m-%d)."
echo
echo "| measure | Basewatch (MiB/s) | psql large objects (MiB/s) | ratio |"
echo "|---|---|---|---|"
for conc in 1 8; do
    a=$(rate "$conc" uploads); b=$(rate "$conc" lo_uploads)
    echo "| upload, $conc connection(s) | $a | $b | $(printf %.2f "$(echo "$a / $b" | bc -l)")x |"
    [ "$conc" = 8 ] && HWM=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER/status")
    a=$(rate "$conc" downloads); b=$(rate "$conc" lo_downloads)
    echo "| download, $conc connection(s) | $a | $b | $(printf %.2f "$(echo "$a / $b" | bc -l)")x |"
done
echo
echo "Server peak RSS (VmHWM) after the 8-connection uploads: $((HWM / 1024)) MB; after the downloads too: $(( $(awk '/VmHWM/ {print $2}' "/proc/$SERVER/status") / 1024 )) MB."
