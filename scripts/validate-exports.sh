#!/usr/bin/env bash
# The exports as their users' own tools read them: starts a demo server (SQLite),
# exports CSV with the HXL row, GeoJSON and NDJSON as an admin and as a partner,
# and checks them with scripts/validate_exports.py:
# - the HXL CSV with libhxl (pinned) and its built-in core schema, zero errors;
# - every hashtag and attribute in the HXL 1.1 dictionary, read from the copy pinned in
#   scripts/hxl-dictionary-1.1.csv (libhxl bundles no dictionary, and nothing may be
#   downloaded here). Source: HXLStandard/gen-hxl-dict, the generator of the published
#   dictionary, docs/hxl-hashtags-and-attributes.html at commit
#   b32055722c1bc4e52f59abc0bfeafd5e82ef1d27 ("Release 1.1beta, DRAFT 2017-12-05", the
#   last copy it kept; the page published as the 1.1 final dictionary is the same
#   generation of 2017-12-22); its 42 hashtags and 46 attributes, with status and
#   one-line description;
# - the GeoJSON with the `geojson` package (pinned): is_valid, one point per row;
# - the NDJSON line by line: each a JSON object with exactly the CSV's columns.
# Any failure exits non-zero.
#
# Usage: scripts/validate-exports.sh
# Env:   VALIDATE_EXPORTS_VENV (default target/validate-exports-venv: where the Python
#        packages are installed, kept between runs), VALIDATE_EXPORTS_PORT (default 18383).
# Needs: python3 with venv, curl. 71 s on this (loaded, 2-core) machine with a fresh venv,
#        the demo seeding included.
set -euo pipefail
cd "$(dirname "$0")/.."

LIBHXL_VERSION=5.2.2
GEOJSON_VERSION=3.2.0
# libhxl imports six without declaring it (python-dateutil used to bring it in).
SIX_VERSION=1.17.0
VENV=${VALIDATE_EXPORTS_VENV:-$PWD/target/validate-exports-venv}
PORT=${VALIDATE_EXPORTS_PORT:-18383}
ORIGIN=http://127.0.0.1:$PORT
export no_proxy='*' NO_PROXY='*'

if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; \
        sys.exit(m.version('libhxl') != '$LIBHXL_VERSION' or m.version('geojson') != '$GEOJSON_VERSION' \
                 or m.version('six') != '$SIX_VERSION')" 2>/dev/null; then
    echo "installing libhxl $LIBHXL_VERSION and geojson $GEOJSON_VERSION into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check \
        "libhxl==$LIBHXL_VERSION" "geojson==$GEOJSON_VERSION" "six==$SIX_VERSION"
fi

WORK=$(mktemp -d)
SERVER=
stop() { if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null || true; SERVER=; fi; }
trap 'stop; rm -rf "$WORK"' EXIT

cargo build --locked -q
if curl -s "$ORIGIN/ready" >/dev/null; then echo "validate-exports: port $PORT is already in use" >&2; exit 1; fi
DATABASE_URL=sqlite://$WORK/validate-exports.db BASEWATCH_BIND=127.0.0.1:$PORT BASEWATCH_DATA_DIR=$WORK \
    RUST_LOG=warn target/debug/basewatch serve --demo >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 300); do curl -sf "$ORIGIN/ready" >/dev/null && break; sleep 0.2; done
curl -sf "$ORIGIN/ready" >/dev/null || { cat "$WORK/server.log" >&2; exit 1; }

token() {
    curl -sf "$ORIGIN/api/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"email\":\"$1@demo.basewatch.org\",\"password\":\"demo-password-$1\"}" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}
api() { local t=$1; shift; curl -sf -H "authorization: Bearer $t" "$@"; }

ADMIN=$(token admin)
PARTNER=$(token partner)
# One incident of the partner's own with every list filled (nationalities,
# contingent countries), so both exports carry each kind of cell.
MISSION=$(api "$PARTNER" "$ORIGIN/api/v1/missions" \
    | python3 -c 'import json, sys; print(next(m["id"] for m in json.load(sys.stdin)["items"] if m["country"] == "HT"))')
api "$PARTNER" "$ORIGIN/api/v1/incidents" -o /dev/null -H 'content-type: application/json' -d '{
    "mission_id": "'"$MISSION"'", "submit": true,
    "occurred_at": "2024-05-01T21:30:00Z", "latitude": 18.55, "longitude": -72.33,
    "location_precision": "approximate", "venue": "bar_or_club",
    "exploitation_types": ["sexual_exploitation", "forced_labour"],
    "means_of_control": ["debt_bondage", "withholds_documents"], "recruitment": ["job_offer"],
    "victims": {"count": 3, "age_bands": {"18-20": 2, "unknown": 1}, "sexes": {"female": 3},
                "nationalities": ["DO", "HT"]},
    "perpetrators": [{"affiliation": "un_military", "count": 2, "contingent_country": "UY"}],
    "source": {"type": "ngo_referral", "reliability": "B", "credibility": 2},
    "narrative": "Three women held in a bar near the base."
}'

for role in admin partner; do
    if [ $role = admin ]; then t=$ADMIN; else t=$PARTNER; fi
    mkdir -p "$WORK/$role"
    for format in csv geojson ndjson; do
        query="format=$format"
        [ $format = csv ] && query="$query&hxl=true"
        api "$t" "$ORIGIN/api/v1/exports/incidents?$query" -o "$WORK/$role/export.$format"
    done
done

"$VENV/bin/python" scripts/validate_exports.py scripts/hxl-dictionary-1.1.csv \
    "admin:$WORK/admin" "partner:$WORK/partner"
