#!/usr/bin/env bash
# The OpenAPI document as a partner's developer meets it: generates a Python client
# from openapi/openapi.json with openapi-python-client (pinned), fails on any warning
# or error of the generator, then drives a demo server (SQLite) with the generated
# client: sign in, list incidents, read one, the aggregate as JSON and as CSV, and a
# CSV export.
#
# Usage: scripts/client-check.sh
# Env:   CLIENT_CHECK_VENV (default target/client-check-venv: where the generator is
#        installed, kept between runs), CLIENT_CHECK_PORT (default 18282).
# Needs: python3 with venv, curl. About 10 s once the generator is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

OPC_VERSION=0.29.1
VENV=${CLIENT_CHECK_VENV:-$PWD/target/client-check-venv}
PORT=${CLIENT_CHECK_PORT:-18282}
ORIGIN=http://127.0.0.1:$PORT
export no_proxy='*' NO_PROXY='*'

if ! "$VENV/bin/openapi-python-client" --version 2>/dev/null | grep -q "$OPC_VERSION"; then
    echo "installing openapi-python-client $OPC_VERSION into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "openapi-python-client==$OPC_VERSION"
fi

WORK=$(mktemp -d)
SERVER=
stop() { if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null || true; SERVER=; fi; }
trap 'stop; rm -rf "$WORK"' EXIT

# No post hooks: the check is about the document, not about a formatter being installed.
# A download answers with the file's own type; the generator reads a body of a type it
# does not know only when told it is binary (README, "For partner developers").
cat >"$WORK/generator.yaml" <<'YAML'
post_hooks: []
content_type_overrides:
  image/jpeg: application/octet-stream
  image/png: application/octet-stream
  image/webp: application/octet-stream
  application/pdf: application/octet-stream
  audio/mpeg: application/octet-stream
  audio/mp4: application/octet-stream
  audio/ogg: application/octet-stream
  audio/wav: application/octet-stream
YAML
echo "==> openapi-python-client $OPC_VERSION generate" >&2
if ! (cd "$WORK" && "$VENV/bin/openapi-python-client" generate --meta none \
        --path "$OLDPWD/openapi/openapi.json" --config generator.yaml) >"$WORK/generate.log" 2>&1; then
    cat "$WORK/generate.log" >&2
    echo "client-check: the generator failed" >&2
    exit 1
fi
# One warning is known and accepted: the generator cannot type an NDJSON request
# body, so the batch operation's client sends its other form, a JSON array.
# Any other warning or error fails the check.
python3 - "$WORK/generate.log" >"$WORK/unexpected.log" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
blocks = re.split(r"\n(?=WARNING |ERROR )", text)
known = "Unsupported content type application/x-ndjson"
for block in blocks[1:]:
    if not (block.startswith("WARNING parsing POST /api/v1/incidents/batch") and known in block):
        print(block)
if re.search(r"(?i)\berror\b", blocks[0]):
    print(blocks[0])
PY
if [ -s "$WORK/unexpected.log" ]; then
    cat "$WORK/generate.log" >&2
    echo "client-check: the generator reported problems with the document" >&2
    exit 1
fi
PACKAGE=$(find "$WORK" -maxdepth 2 -name client.py -path '*_client/*' -printf '%h\n' | head -1)
[ -n "$PACKAGE" ] || { cat "$WORK/generate.log" >&2; echo "client-check: no client generated" >&2; exit 1; }

cargo build --locked -q
if curl -s "$ORIGIN/ready" >/dev/null; then echo "client-check: port $PORT is already in use" >&2; exit 1; fi
DATABASE_URL=sqlite://$WORK/client-check.db BASEWATCH_BIND=127.0.0.1:$PORT BASEWATCH_DATA_DIR=$WORK \
    RUST_LOG=warn target/debug/basewatch serve --demo >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 300); do curl -sf "$ORIGIN/ready" >/dev/null && break; sleep 0.2; done
curl -sf "$ORIGIN/ready" >/dev/null || { cat "$WORK/server.log" >&2; exit 1; }

echo "==> the generated client against the demo server" >&2
PYTHONPATH=$(dirname "$PACKAGE") CLIENT_PACKAGE=$(basename "$PACKAGE") ORIGIN=$ORIGIN \
    "$VENV/bin/python" - <<'PY'
import csv
import importlib
import io
import os

pkg = os.environ["CLIENT_PACKAGE"]
client_mod = importlib.import_module(pkg)
models = importlib.import_module(f"{pkg}.models")
login = importlib.import_module(f"{pkg}.api.auth.login")
list_incidents = importlib.import_module(f"{pkg}.api.incidents.list_incidents")
get_incident = importlib.import_module(f"{pkg}.api.incidents.get_incident")
get_stats = importlib.import_module(f"{pkg}.api.analysis.get_incident_stats")
export = importlib.import_module(f"{pkg}.api.analysis.export_incidents")

origin = os.environ["ORIGIN"]
anonymous = client_mod.Client(base_url=origin, raise_on_unexpected_status=True)
session = login.sync(
    client=anonymous,
    body=models.LoginRequest(email="analyst@demo.basewatch.org", password="demo-password-analyst"),
)
assert isinstance(session, models.TokenResponse), session
client = client_mod.AuthenticatedClient(
    base_url=origin, token=session.access_token, raise_on_unexpected_status=True
)

page = list_incidents.sync(client=client, limit=5)
assert isinstance(page, models.PageIncident), type(page).__name__
# Items are the one Incident model, not a per-page copy (PageIncidentItemsItem).
assert len(page.items) == 5 and isinstance(page.items[0], models.Incident), type(page.items[0]).__name__
assert page.next_cursor, "the demo has more than one page"
following = list_incidents.sync(client=client, limit=5, cursor=page.next_cursor)
assert {i.id for i in following.items}.isdisjoint({i.id for i in page.items})

first = page.items[0]
one = get_incident.sync(first.id, client=client)
assert isinstance(one, models.Incident), one
assert (one.id, one.version, one.status) == (first.id, first.version, first.status)

aggregate = get_stats.sync(client=client, group_by="mission")
assert isinstance(aggregate, models.Aggregate), aggregate
assert sum(cell.incidents for cell in aggregate.cells) == aggregate.total.incidents > 0
# The same operation as CSV: the document lists text/csv beside JSON and a `format`
# enum; the generated client types only the JSON answer, so CSV goes through its
# HTTP client with the same base address and token.
stats_csv = client.get_httpx_client().get(
    "/api/v1/stats/incidents", params={"group_by": "mission", "format": "csv"}
)
assert stats_csv.status_code == 200 and stats_csv.headers["content-type"].startswith("text/csv")
rows = list(csv.DictReader(io.StringIO(stats_csv.text)))
assert sum(int(r["incidents"]) for r in rows) == aggregate.total.incidents

exported = export.sync(client=client, format_=models.ExportIncidentsFormat.CSV)
assert isinstance(exported, str), type(exported)
records = list(csv.DictReader(io.StringIO(exported)))
assert len(records) > 100 and "id" in records[0], records[:1]
assert first.id.__str__() in {r["id"] for r in records}

# A partner system, as the README's "For partner developers" shows it: an admin
# creates its service account; the system signs in with the client credentials
# grant (HTTP Basic), sends a batch, and follows the change feed.
import base64
import uuid

create_account = importlib.import_module(f"{pkg}.api.service_accounts.create_service_account")
list_orgs = importlib.import_module(f"{pkg}.api.organisations.list_organisations")
issue_token = importlib.import_module(f"{pkg}.api.auth.issue_client_token")
send_batch = importlib.import_module(f"{pkg}.api.incidents.create_incidents_batch")
list_changes = importlib.import_module(f"{pkg}.api.incidents.list_changes")
list_missions = importlib.import_module(f"{pkg}.api.reference_data.list_missions")

admin_session = login.sync(
    client=anonymous,
    body=models.LoginRequest(email="admin@demo.basewatch.org", password="demo-password-admin"),
)
admin = client_mod.AuthenticatedClient(
    base_url=origin, token=admin_session.access_token, raise_on_unexpected_status=True
)
ngo = next(o for o in list_orgs.sync(client=admin).items if o.name == "Demo NGO Partner")
created = create_account.sync(
    client=admin,
    body=models.CreateServiceAccountRequest(
        name="Partner intake system",
        role=models.CreateServiceAccountRequestRole.PARTNER,
        organisation_id=str(ngo.id),
        scopes=[models.OAuthScope.INCIDENTSWRITE, models.OAuthScope.INCIDENTSREAD],
    ),
)
assert isinstance(created, models.CreatedServiceAccount), created
client_id, secret = str(created.credentials.client_id), created.credentials.client_secret
assert secret.startswith("bwsk_")

basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
token_client = client_mod.AuthenticatedClient(
    base_url=origin, token=basic, prefix="Basic", raise_on_unexpected_status=True
)
granted = issue_token.sync(
    client=token_client, body=models.ClientTokenRequest(grant_type="client_credentials")
)
assert isinstance(granted, models.ClientTokenResponse), granted
system = client_mod.AuthenticatedClient(
    base_url=origin, token=granted.access_token, raise_on_unexpected_status=True
)

start = list_changes.sync(client=system)
cursor = start.next_cursor
while start.items:
    start = list_changes.sync(client=system, cursor=cursor)
    cursor = start.next_cursor
mission = next(m for m in list_missions.sync(client=system).items if m.country == "HT")
reports = [
    models.CreateIncidentRequest.from_dict({
        "id": str(uuid.uuid4()), "mission_id": str(mission.id), "submit": True,
        "occurred_at": "2024-05-0%dT21:30:00Z" % (n + 1), "latitude": 18.55, "longitude": -72.33,
        "venue": "bar_or_club", "exploitation_types": ["sexual_exploitation"],
        "means_of_control": ["debt_bondage"], "victims": {"count": 1},
        "source": {"type": "third_party", "reliability": "B", "credibility": 2},
    })
    for n in range(3)
]
results = send_batch.sync(client=system, body=reports)
assert [r.status for r in results] == [201, 201, 201], results
again = send_batch.sync(client=system, body=reports)
assert [r.status for r in again] == [200, 200, 200], "a re-sent batch stores nothing twice"
feed = list_changes.sync(client=system, cursor=cursor)
assert [str(c.incident.id) for c in feed.items] == [str(r.id) for r in reports], feed.items
assert {c.kind for c in feed.items} == {models.ChangeKind.REPORTED}
# A monitor attaches a photo to a draft, raw and as a form, and downloads it.
import hashlib
import struct
import zlib

upload = importlib.import_module(f"{pkg}.api.incidents.upload_attachment")
upload_form = importlib.import_module(f"{pkg}.api.incidents.upload_attachment_form")
download = importlib.import_module(f"{pkg}.api.incidents.download_attachment")
create_incident = importlib.import_module(f"{pkg}.api.incidents.create_incident")
types = importlib.import_module(f"{pkg}.types")

def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
photo = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0))
         + chunk(b"tEXt", b"Author\x00Amira") + chunk(b"IDAT", zlib.compress(b"\x00\x10\x20\x00\x30\x40"))
         + chunk(b"IEND", b""))
monitor_session = login.sync(
    client=anonymous,
    body=models.LoginRequest(email="monitor@demo.basewatch.org", password="demo-password-monitor"),
)
monitor = client_mod.AuthenticatedClient(
    base_url=origin, token=monitor_session.access_token, raise_on_unexpected_status=True
)
draft = create_incident.sync(client=monitor, body=models.CreateIncidentRequest.from_dict({
    "mission_id": str(mission.id), "occurred_at": "2024-05-09T21:30:00Z",
    "latitude": 18.55, "longitude": -72.33, "exploitation_types": ["sexual_exploitation"],
    "victims": {"count": 1},
}))
raw_id = uuid.uuid4()
stored = upload.sync(draft.id, raw_id, client=monitor, filename="venue.png",
                     body=types.File(payload=io.BytesIO(photo), file_name="venue.png"))
assert isinstance(stored, models.Attachment) and stored.media_type == "image/png", stored
assert any("text" in r for r in stored.removed), stored.removed
form_id = uuid.uuid4()
formed = upload_form.sync(draft.id, client=monitor, body=models.UploadForm(
    id=form_id, file=types.File(payload=io.BytesIO(photo), file_name="venue.png", mime_type="image/png")))
assert isinstance(formed, models.Attachment) and str(formed.id) == str(form_id), formed
got = download.sync(draft.id, raw_id, client=monitor)
content = got.payload.read()
assert hashlib.sha256(content).hexdigest() == stored.sha256 and b"Amira" not in content

print(f"client-check: ok ({len(records)} exported rows, {aggregate.total.incidents} incidents counted; "
      f"a service account sent {len(results)} reports in a batch and met them in the change feed)")
PY
