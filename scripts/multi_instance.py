"""Parts of scripts/multi-instance.sh written in Python (standard library, plus the
reference Standard Webhooks verifier from PyPI in the receiver).

  receiver PORT DIR         serves POST /hook/<name>, verifying each delivery with the
                            secret in DIR/secret-<name> (503 while it is not there yet),
                            and appends one JSON line per delivery to DIR/deliveries.jsonl
  subscribe ORIGIN DIR NAME URL   creates a subscription as the demo admin, keeps its secret
  load ORIGINS DIR SECONDS CLIENTS   reports and review moves spread over the instances
  cluster ORIGINS DIR FAILURES      sign-in throttle, refresh rotation, re-send dedup across instances
  drain DIR SECONDS         waits until every change in DIR/changes.txt was delivered
  check DIR                 reads DIR/changes.txt, the deliveries and the load's tallies,
                            prints the figures, exits 1 on any violation
"""

import http.client
import json
import os
import random
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# --- HTTP client -------------------------------------------------------------


def call(origin, method, path, token=None, body=None, headers=None, timeout=15):
    """(status, parsed body or None, headers); raises OSError when the instance is down."""
    host, port = origin.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    hdrs = dict(headers or {})
    if token:
        hdrs["Authorization"] = "Bearer " + token
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    try:
        conn.request(method, path, data, hdrs)
        res = conn.getresponse()
        raw = res.read()
    finally:
        conn.close()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    return res.status, parsed, dict(res.getheaders())


def login(origin, who, password=None):
    status, body, _ = call(origin, "POST", "/api/v1/auth/login", body={
        "email": f"{who}@demo.basewatch.org", "password": password or f"demo-password-{who}"})
    return status, body


def token(origin, who):
    status, body = login(origin, who)
    assert status == 200, (who, status, body)
    return body["access_token"]


# --- receiver ----------------------------------------------------------------


def receiver(port, folder):
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    lock = threading.Lock()
    out = open(os.path.join(folder, "deliveries.jsonl"), "a")
    seq = [0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def answer(self, status):
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self):
            arrived = time.time()
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            name = self.path.rsplit("/", 1)[-1]
            secret_path = os.path.join(folder, f"secret-{name}")
            if not self.path.startswith("/hook/") or not os.path.exists(secret_path):
                return self.answer(503)  # not subscribed yet: the worker retries
            secret = open(secret_path).read().strip()
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                Webhook(secret).verify(body, headers)
                verified, error = True, None
            except WebhookVerificationError as e:
                verified, error = False, str(e)
            try:
                payload = json.loads(body)
            except ValueError:
                payload = {}
            data = payload.get("data") or {}
            change = data.get("change") or {}
            with lock:
                seq[0] += 1
                out.write(json.dumps({
                    "seq": seq[0], "subscription": name, "arrived": arrived,
                    "webhook_id": headers.get("webhook-id"), "type": payload.get("type"),
                    "incident_id": data.get("incident_id"), "position": change.get("position"),
                    "kind": change.get("kind"), "verified": verified, "error": error,
                    "content_type": headers.get("content-type"),
                }) + "\n")
                out.flush()
            self.answer(204)

    ThreadingHTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()


def subscribe(origin, folder, name, url):
    admin = token(origin, "admin")
    status, body, _ = call(origin, "POST", "/api/v1/webhooks", admin, {
        "url": url, "description": f"multi-instance {name}",
        "events": ["incident.reported", "incident.updated", "incident.status_changed",
                   "incident.assessment_overridden", "ping"],
    })
    assert status == 201, (status, body)
    assert body["secret"].startswith("whsec_"), body
    with open(os.path.join(folder, f"secret-{name}.tmp"), "w") as f:
        f.write(body["secret"])
    os.rename(os.path.join(folder, f"secret-{name}.tmp"), os.path.join(folder, f"secret-{name}"))
    print(body["id"])


# --- load --------------------------------------------------------------------


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.statuses = {}
        self.unexplained = []
        self.retried = 0
        self.incidents = 0

    def saw(self, status):
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1

    def odd(self, what):
        with self.lock:
            self.unexplained.append(what)


def steps(incident_id):
    """What happens to each incident, in order: (role, method, path, body, expected status)."""
    at = f"/api/v1/incidents/{incident_id}"
    return [
        ("reviewer", "POST", at + "/transitions", {"to": "in_review"}, "in_review"),
        ("reviewer", "PUT", at + "/assessment",
         {"assessment": "smuggling_indicated", "reason": "multi-instance: the account says so"}, None),
        ("reviewer", "POST", at + "/transitions",
         {"to": "needs_info", "comment": "multi-instance: which venue?"}, "needs_info"),
        ("monitor", "PATCH", at, {"venue": "hotel"}, None),
        ("monitor", "POST", at + "/transitions", {"to": "submitted"}, "submitted"),
        ("reviewer", "POST", at + "/transitions", {"to": "in_review"}, "in_review"),
        ("reviewer", "POST", at + "/transitions", {"to": "verified"}, "verified"),
    ]


def load(origins, folder, seconds, clients):
    origins = origins.split(",")
    tokens = {who: token(origins[0], who) for who in ("monitor", "reviewer", "analyst")}
    status, missions, _ = call(origins[0], "GET", "/api/v1/missions?limit=1", tokens["analyst"])
    mission = missions["items"][0]["id"]
    tally = Tally()
    deadline = time.time() + float(seconds)

    def send(k, who, method, path, body, headers=None):
        """Sends on instance k, then the next ones while an instance is down.
        Returns (status, body, headers, whether an earlier try may have gone through)."""
        maybe_sent = False
        for attempt in range(60):
            origin = origins[(k + attempt) % len(origins)]
            try:
                status, parsed, hdrs = call(origin, method, path, tokens[who], body, headers)
            except OSError:
                # Killed with the request in flight: it may have committed.
                maybe_sent = True
                with tally.lock:
                    tally.retried += 1
                time.sleep(0.2)
                continue
            tally.saw(status)
            return status, parsed, hdrs, maybe_sent
        raise RuntimeError(f"no instance answered {method} {path}")

    def client(n):
        k = n
        while time.time() < deadline:
            incident_id = str(uuid.uuid4())
            report = {
                "id": incident_id, "mission_id": mission, "occurred_at": "2024-03-10T22:15:00Z",
                "latitude": 42.35, "longitude": 21.26, "venue": "bar_or_club",
                "exploitation_types": ["sexual_exploitation"], "means_of_control": ["debt_bondage"],
                "victims": {"count": 2}, "submit": True,
                "narrative": "multi-instance: reported on one instance, reviewed on the others",
            }
            k += 1
            status, body, _, _ = send(k, "monitor", "POST", "/api/v1/incidents", report)
            # 200: a re-send after an instance died with the first one committed.
            if status not in (200, 201):
                tally.odd(f"create {incident_id}: {status} {body}")
                continue
            with tally.lock:
                tally.incidents += 1
            version = body["version"]
            for who, method, path, payload, to in steps(incident_id):
                k += 1
                headers = {"If-Match": f'"{version}"'}
                if method == "PATCH":
                    headers["Content-Type"] = "application/merge-patch+json"
                status, body, _, maybe_sent = send(k, who, method, path, payload, headers)
                if status in (409, 412) and maybe_sent:
                    # The try that never got its answer committed: read where it stands.
                    status, body, _, _ = send(k, "reviewer", "GET", f"/api/v1/incidents/{incident_id}", None)
                    if status == 200 and body["version"] == version + 1 and (to is None or body["status"] == to):
                        version = body["version"]
                        continue
                if status != 200:
                    tally.odd(f"{method} {path} {payload}: {status} {body}")
                    break
                version = body["version"]

    threads = [threading.Thread(target=client, args=(n,)) for n in range(int(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(os.path.join(folder, "load.json"), "w") as f:
        json.dump({"statuses": tally.statuses, "unexplained": tally.unexplained,
                   "retried": tally.retried, "incidents": tally.incidents}, f)
    print(f"load: {tally.incidents} incidents, answers {dict(sorted(tally.statuses.items()))}, "
          f"{tally.retried} requests re-sent after a connection error")


# --- across instances --------------------------------------------------------


def cluster(origins, folder, failures):
    origins = origins.split(",")
    failures = int(failures)
    problems = []

    # Sign-in throttle: wrong passwords for one account, round-robin over the
    # instances; the limit is the configured count, shared, not one per instance.
    seen = []
    for i in range(failures + 2):
        status, _ = login(origins[i % len(origins)], "monitor2", "not-the-password")
        seen.append(status)
    expected = [401] * failures + [429, 429]
    print(f"throttle: {failures} failures allowed, answers over {len(origins)} instances: {seen}")
    if seen != expected:
        problems.append(f"sign-in throttle across instances: {seen}, expected {expected}")

    # Refresh rotation: a refresh token spent on A is refused on B.
    status, session = login(origins[0], "reviewer2", "demo-password-reviewer")
    assert status == 200, (status, session)
    first = session["refresh_token"]
    status_a, rotated, _ = call(origins[0], "POST", "/api/v1/auth/refresh", body={"refresh_token": first})
    status_b, _, _ = call(origins[1], "POST", "/api/v1/auth/refresh", body={"refresh_token": first})
    print(f"refresh rotation: spent on A {status_a}, the same token on B {status_b}")
    if status_a != 200 or status_b != 401:
        problems.append(f"refresh rotation across instances: A {status_a}, B {status_b} (expected 200, 401)")

    # Re-send dedup: one incident id posted to A and B at the same moment.
    monitor = token(origins[0], "monitor")
    analyst = token(origins[0], "analyst")
    _, missions, _ = call(origins[0], "GET", "/api/v1/missions?limit=1", analyst)
    rounds, bad = 10, []
    for _ in range(rounds):
        report = {
            "id": str(uuid.uuid4()), "mission_id": missions["items"][0]["id"],
            "occurred_at": "2024-03-11T01:00:00Z", "latitude": 42.36, "longitude": 21.25,
            "venue": "street", "exploitation_types": ["forced_labour"], "victims": {"count": 1},
            "submit": True, "narrative": "multi-instance: sent twice at once",
        }
        answers = [None, None]
        barrier = threading.Barrier(2)

        def post(j):
            barrier.wait()
            answers[j] = call(origins[j], "POST", "/api/v1/incidents", monitor, report)[0]

        ts = [threading.Thread(target=post, args=(j,)) for j in (0, 1)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        with open(os.path.join(folder, "dedup-ids.txt"), "a") as f:
            f.write(report["id"] + "\n")
        if sorted(answers) != [200, 201]:
            bad.append(answers)
    print(f"re-send dedup: {rounds} ids each posted to A and B at once; answers not (200, 201): {bad}")
    if bad:
        problems.append(f"re-send dedup: {bad}")
    with open(os.path.join(folder, "cluster.json"), "w") as f:
        json.dump(problems, f)


# --- checks ------------------------------------------------------------------

EVENT_OF_KIND = {"reported": "incident.reported", "edited": "incident.updated",
                 "moved": "incident.status_changed", "assessed": "incident.assessment_overridden"}


def delivered_positions(folder):
    path = os.path.join(folder, "deliveries.jsonl")
    return {json.loads(l)["position"] for l in open(path)} if os.path.exists(path) else set()


def drain(folder, seconds):
    """Waits until every change in changes.txt has been delivered, or the time is up."""
    wanted = {int(l.split("|")[0]) for l in open(os.path.join(folder, "changes.txt"))}
    deadline = time.time() + float(seconds)
    while time.time() < deadline:
        left = wanted - delivered_positions(folder)
        if not left:
            return
        time.sleep(0.5)
    print(f"drain: {len(wanted - delivered_positions(folder))} changes still undelivered after {seconds} s")


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def check(folder):
    violations = []
    # position|incident_id|kind|at (epoch seconds), every change after the subscription.
    changes = {}
    for line in open(os.path.join(folder, "changes.txt")):
        position, incident, kind, at = line.strip().split("|")
        changes[int(position)] = (incident, kind, float(at))
    deliveries = [json.loads(l) for l in open(os.path.join(folder, "deliveries.jsonl"))]
    deliveries = [d for d in deliveries if d["subscription"] == "all"]
    events = [d for d in deliveries if d["type"] != "ping"]

    unverified = [d for d in deliveries if not d["verified"]]
    if unverified:
        violations.append(f"{len(unverified)} deliveries failed the reference verifier, e.g. {unverified[0]}")
    if any(d["content_type"] != "application/json" for d in deliveries):
        violations.append("a delivery without Content-Type application/json")

    by_position, first_of_id = {}, {}
    for d in events:
        by_position.setdefault(d["position"], set()).add(d["webhook_id"])
        if d["webhook_id"] not in first_of_id:
            first_of_id[d["webhook_id"]] = d
    duplicates = len(events) - len(first_of_id)
    twice = {p: ids for p, ids in by_position.items() if len(ids) > 1}
    if twice:
        violations.append(f"{len(twice)} changes delivered under several webhook-ids, e.g. {next(iter(twice.items()))}")
    unknown = sorted(p for p in by_position if p not in changes)
    if unknown:
        violations.append(f"{len(unknown)} deliveries of no committed change (positions {unknown[:5]})")
    missing = sorted(p for p in changes if p not in by_position)
    if missing:
        violations.append(f"{len(missing)} committed changes never delivered (positions {missing[:5]})")
    wrong = [d for d in first_of_id.values() if d["position"] in changes and (
        d["incident_id"] != changes[d["position"]][0]
        or d["type"] != EVENT_OF_KIND.get(changes[d["position"]][1]))]
    if wrong:
        violations.append(f"{len(wrong)} deliveries name another incident or event type than their change, e.g. {wrong[0]}")

    # Per incident, each event's first arrival comes after the previous event's.
    per_incident = {}
    for d in sorted(first_of_id.values(), key=lambda d: d["seq"]):
        per_incident.setdefault(d["incident_id"], []).append(d["position"])
    out_of_order = [i for i, ps in per_incident.items() if ps != sorted(ps)]
    if out_of_order:
        violations.append(f"{len(out_of_order)} incidents' events arrived out of order, e.g. "
                          f"{out_of_order[0]}: {per_incident[out_of_order[0]]}")

    delays = [d["arrived"] - changes[d["position"]][2] for d in first_of_id.values() if d["position"] in changes]
    load = json.load(open(os.path.join(folder, "load.json")))
    fives = {s: n for s, n in load["statuses"].items() if str(s).startswith("5")}
    if fives:
        violations.append(f"answers 5xx during the load: {fives}")
    if load["unexplained"]:
        violations.append(f"{len(load['unexplained'])} unexpected answers, e.g. {load['unexplained'][0]}")
    if load["incidents"] == 0:
        violations.append("the load reported no incident")
    violations += json.load(open(os.path.join(folder, "cluster.json")))
    extra = os.path.join(folder, "extra.txt")
    if os.path.exists(extra):
        violations += open(extra).read().splitlines()

    figures = {
        "events": len(changes), "deliveries": len(deliveries), "event_deliveries": len(events),
        "duplicates": duplicates, "verified": len(deliveries) - len(unverified),
        "p50_delay_ms": round(percentile(delays, 50) * 1000), "p99_delay_ms": round(percentile(delays, 99) * 1000),
        "max_delay_ms": round(max(delays) * 1000) if delays else None,
        "incidents": load["incidents"], "resent_after_kill": load["retried"],
    }
    print("FIGURES " + " ".join(f"{k}={v}" for k, v in figures.items()))
    for v in violations:
        print("VIOLATION: " + v)
    sys.exit(1 if violations else 0)


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"receiver": receiver, "subscribe": subscribe, "load": load, "cluster": cluster, "check": check, "drain": drain}[command](*args)
