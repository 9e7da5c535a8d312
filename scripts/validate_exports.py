"""Checks exports with the tools their users load them with (run by validate-exports.sh).

Usage: python validate_exports.py DICTIONARY.csv ROLE:DIR [ROLE:DIR ...]
Each DIR holds export.csv (hxl=true), export.geojson and export.ndjson from one
role. Checks, for each role:
- the HXL CSV with libhxl's built-in core schema (hxl.schema().validate()): zero errors;
- every hashtag and attribute of the HXL row is in the HXL 1.1 dictionary (DICTIONARY.csv);
- the GeoJSON with the `geojson` package (is_valid, errors()), one feature per row;
- the NDJSON line by line: a JSON object with exactly the CSV header's keys.
Exits 1 on any failure. Nothing here may reach the network: every connection
but to this machine is refused, so a library that tried to fetch a schema or a
dictionary would fail the check instead of passing on a download.
"""

import csv
import json
import socket
import sys

_connect = socket.socket.connect


def _local_only(sock, address):
    host = address[0] if isinstance(address, tuple) else address
    if host not in ("127.0.0.1", "::1", "localhost") and not str(host).startswith("/"):
        raise OSError(f"validate-exports: no network allowed (tried {address})")
    return _connect(sock, address)


socket.socket.connect = _local_only

import geojson  # noqa: E402
import hxl  # noqa: E402

failures = []


def fail(role, message):
    failures.append(f"{role}: {message}")
    print(f"  FAIL {message}")


def load_dictionary(path):
    hashtags, attributes = set(), set()
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            (hashtags if row["kind"] == "hashtag" else attributes).add(row["name"])
    return hashtags, attributes


def check_csv(role, path, hashtags, attributes):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, tags, records = rows[0], rows[1], rows[2:]
    if len(tags) != len(header):
        fail(role, f"HXL row has {len(tags)} cells for {len(header)} columns")
    tagged = [t for t in tags if t]
    if not tagged:
        fail(role, "the HXL row has no hashtag")
    if len(set(tagged)) != len(tagged):
        fail(role, f"a hashtag names two columns: {sorted(t for t in tagged if tagged.count(t) > 1)}")
    for spec in tagged:
        column = hxl.model.Column.parse(spec)
        if not column or column.display_tag != spec:
            fail(role, f"not a HXL hashtag spec: {spec!r}")
            continue
        if column.tag not in hashtags:
            fail(role, f"{spec}: {column.tag} is not in the HXL 1.1 dictionary")
        for attribute in sorted(column.attributes):
            if "+" + attribute not in attributes:
                fail(role, f"{spec}: +{attribute} is not in the HXL 1.1 dictionary")

    issues = []
    source = hxl.data(path, hxl.InputOptions(allow_local=True))
    valid = hxl.schema(callback=issues.append).validate(source)
    by_severity = {}
    for issue in issues:
        by_severity.setdefault(issue.rule.severity, []).append(issue)
    errors = by_severity.get("error", [])
    print(
        f"  libhxl {hxl.__version__} core schema: "
        f"{len(errors)} errors, {len(by_severity.get('warning', []))} warnings, "
        f"{len(by_severity.get('info', []))} info over {len(records)} rows"
    )
    if errors or not valid:
        for issue in errors[:10]:
            print(f"    row {issue.row.row_number if issue.row else '?'} "
                  f"{issue.column.display_tag if issue.column else ''}: {issue.message} "
                  f"({issue.value!r})")
        fail(role, f"libhxl core schema: {len(errors)} errors")
    if not records:
        fail(role, "the export has no rows: nothing was checked")
    return header, len(records)


def check_geojson(role, path, header, count):
    with open(path, encoding="utf-8") as f:
        collection = geojson.load(f)
    if not collection.is_valid:
        fail(role, f"GeoJSON invalid: {collection.errors()}")
    if collection.get("type") != "FeatureCollection":
        fail(role, f"GeoJSON is a {collection.get('type')}, not a FeatureCollection")
        return
    features = collection["features"]
    expected = set(header) - {"latitude", "longitude"}
    for n, feature in enumerate(features):
        if not feature.is_valid or feature.geometry is None or feature.geometry["type"] != "Point":
            fail(role, f"GeoJSON feature {n}: {feature.errors() or feature.geometry}")
            break
        if set(feature["properties"]) != expected:
            fail(role, f"GeoJSON feature {n}: properties {sorted(set(feature['properties']) ^ expected)} differ")
            break
    if len(features) != count:
        fail(role, f"GeoJSON has {len(features)} features for {count} CSV rows")
    print(f"  geojson {geojson.__version__}: valid FeatureCollection of {len(features)} points")


def check_ndjson(role, path, header, count):
    expected = set(header)
    lines = 0
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                fail(role, f"NDJSON line {n} is not JSON: {e}")
                return
            if not isinstance(record, dict):
                fail(role, f"NDJSON line {n} is a {type(record).__name__}, not an object")
                return
            if set(record) != expected:
                fail(role, f"NDJSON line {n}: keys {sorted(set(record) ^ expected)} differ")
                return
            lines = n
    if lines != count:
        fail(role, f"NDJSON has {lines} lines for {count} CSV rows")
    print(f"  NDJSON: {lines} lines, each an object with the {len(expected)} columns")


def main(argv):
    hashtags, attributes = load_dictionary(argv[1])
    print(f"HXL 1.1 dictionary: {len(hashtags)} hashtags, {len(attributes)} attributes")
    for spec in argv[2:]:
        role, directory = spec.split(":", 1)
        print(f"{role}:")
        header, count = check_csv(role, f"{directory}/export.csv", hashtags, attributes)
        narrative = "narrative" in header
        if narrative != (role != "partner"):
            fail(role, f"narrative column present: {narrative}")
        check_geojson(role, f"{directory}/export.geojson", header, count)
        check_ndjson(role, f"{directory}/export.ndjson", header, count)
    if failures:
        print(f"validate-exports: {len(failures)} failures", file=sys.stderr)
        for failure in failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    print("validate-exports: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
