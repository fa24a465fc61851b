#!/usr/bin/env python3
"""Reads spans back from a trace backend that kapture replayed to, and checks them
against kapture's own JSON Lines output of the same run.

    replay_e2e_check.py wait    --backend B --url URL
    replay_e2e_check.py compare --backend B --url URL --expected spans.jsonl... [--project P]

Backends: mlflow (MLflow tracking server, read through the mlflow client) and phoenix
(Arize Phoenix, read through its REST API /v1/projects/{p}/spans/otlpv1). Loopback
only; every wait is bounded.
"""

import argparse
import json
import sys
import time
import urllib.error
import urllib.request

# Attributes checked on every span (when the span has them), with their values.
ATTRIBUTES = [
    "messaging.system",
    "messaging.operation.name",
    "messaging.client.id",
    "messaging.destination.name",
    "server.address",
    "server.port",
    "client.port",
    "kapture.api_key",
    "kapture.api_name",
    "kapture.api_version",
    "kapture.correlation_id",
    "kapture.request.bytes",
    "kapture.response.bytes",
    "kapture.wait_ns",
]

# What each backend keeps: timestamp precision in ns, and whether links survive.
BACKENDS = {
    "mlflow": {"tolerance_ns": 0, "links": True},
    # Phoenix stores times as microsecond datetimes and returns them through floats.
    "phoenix": {"tolerance_ns": 1000, "links": False},
}


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def wait_ready(backend, url, seconds):
    path = {"mlflow": "/health", "phoenix": "/healthz"}[backend]
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            status, _ = http_get(url + path, timeout=2)
            if status == 200:
                return
        except (urllib.error.URLError, OSError) as e:
            last = e
        time.sleep(0.5)
    sys.exit(f"{backend} at {url} not ready after {seconds} s ({last})")


def any_value(v):
    """An OTLP JSON AnyValue (camelCase, as kapture writes) to a Python value."""
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        return int(v["intValue"])
    if "boolValue" in v:
        return v["boolValue"]
    if "doubleValue" in v:
        return float(v["doubleValue"])
    if "arrayValue" in v:
        return [any_value(x) for x in v["arrayValue"].get("values", [])]
    return None


def expected_spans(path):
    spans = {}
    with open(path) as f:
        for line in f:
            data = json.loads(line)
            for rs in data["resourceSpans"]:
                for ss in rs["scopeSpans"]:
                    for s in ss["spans"]:
                        spans[(s["traceId"], s["spanId"])] = {
                            "name": s["name"],
                            "parent": s.get("parentSpanId") or None,
                            "start": int(s["startTimeUnixNano"]),
                            "end": int(s["endTimeUnixNano"]),
                            "attributes": {
                                a["key"]: any_value(a["value"]) for a in s.get("attributes", [])
                            },
                            "events": [
                                (e["name"], int(e["timeUnixNano"])) for e in s.get("events", [])
                            ],
                            "links": sorted(
                                (link["traceId"], link["spanId"]) for link in s.get("links", [])
                            ),
                            "status": (s.get("status") or {}).get("code", 0),
                        }
    return spans


def mlflow_spans(url, experiment):
    import mlflow  # the backend's own client, from the same venv

    mlflow.set_tracking_uri(url)
    spans = {}
    traces = mlflow.search_traces(
        locations=[experiment], return_type="list", max_results=5000
    )
    for trace in traces:
        for s in trace.data.spans:
            d = s.to_dict()
            trace_id = s.trace_id.removeprefix("tr-")
            spans[(trace_id, s.span_id)] = {
                "name": s.name,
                "parent": s.parent_id,
                "start": s.start_time_ns,
                "end": s.end_time_ns,
                "attributes": dict(s.attributes),
                "events": [(e.name, e.timestamp) for e in s.events],
                "links": sorted(
                    (
                        link["trace_id"].removeprefix("tr-")
                        if len(link["trace_id"]) != 24
                        else link["trace_id"],
                        link["span_id"],
                    )
                    for link in (d.get("links") or [])
                ),
                "status": {"STATUS_CODE_ERROR": 2, "STATUS_CODE_OK": 1}.get(
                    d["status"]["code"], 0
                ),
            }
    return spans


def phoenix_value(v):
    for key in ("string_value", "int_value", "bool_value", "double_value"):
        if v.get(key) is not None:
            return v[key]
    if v.get("array_value") is not None:
        return [phoenix_value(x) for x in v["array_value"].get("values", [])]
    return None


def phoenix_spans(url, project):
    spans = {}
    cursor = None
    for _ in range(100):  # pages of 1000; bounded
        query = f"{url}/v1/projects/{project}/spans/otlpv1?limit=1000"
        if cursor:
            query += f"&cursor={cursor}"
        try:
            _, body = http_get(query)
        except urllib.error.HTTPError as e:
            if e.code == 404:  # the project appears with its first span
                return spans
            raise
        page = json.loads(body)
        for s in page["data"]:
            spans[(s["trace_id"], s["span_id"])] = {
                "name": s["name"],
                "parent": s.get("parent_span_id") or None,
                "start": int(s["start_time_unix_nano"]),
                "end": int(s["end_time_unix_nano"]),
                "attributes": {
                    a["key"]: phoenix_value(a["value"]) for a in s.get("attributes") or []
                },
                "events": [
                    (e["name"], int(e["time_unix_nano"])) for e in s.get("events") or []
                ],
                "links": [],
                "status": (s.get("status") or {}).get("code") or 0,
            }
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return spans


def fetch(backend, url, project):
    if backend == "mlflow":
        return mlflow_spans(url, project or "0")
    return phoenix_spans(url, project or "default")


def compare(backend, url, expected_paths, project, seconds):
    want = {}
    for path in expected_paths:
        spans = expected_spans(path)
        if not spans:
            sys.exit(f"{path} holds no spans")
        want.update(spans)
    tol = BACKENDS[backend]["tolerance_ns"]
    # Ingestion may be asynchronous (Phoenix): poll until every span is there.
    deadline = time.monotonic() + seconds
    while True:
        got = fetch(backend, url, project)
        missing = [k for k in want if k not in got]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(1)
    problems = []
    if missing:
        problems.append(f"{len(missing)} of {len(want)} spans missing, e.g. {missing[:3]}")
    checked_attrs = checked_events = checked_links = checked_errors = 0
    for key, w in want.items():
        g = got.get(key)
        if g is None:
            continue
        where = f"{w['name']} {key[0]}/{key[1]}"
        if g["name"] != w["name"]:
            problems.append(f"{where}: name {g['name']!r}")
        if g["parent"] != w["parent"]:
            problems.append(f"{where}: parent {g['parent']!r} != {w['parent']!r}")
        for field in ("start", "end"):
            if abs(g[field] - w[field]) > tol:
                problems.append(f"{where}: {field} {g[field]} != {w[field]}")
        for attr in ATTRIBUTES:
            if attr in w["attributes"]:
                checked_attrs += 1
                if g["attributes"].get(attr) != w["attributes"][attr]:
                    problems.append(
                        f"{where}: {attr} = {g['attributes'].get(attr)!r},"
                        f" expected {w['attributes'][attr]!r}"
                    )
        if len(g["events"]) != len(w["events"]):
            problems.append(f"{where}: {len(g['events'])} events, expected {len(w['events'])}")
        else:
            for (gn, gt), (wn, wt) in zip(sorted(g["events"]), sorted(w["events"])):
                checked_events += 1
                if gn != wn or abs(gt - wt) > tol:
                    problems.append(f"{where}: event {gn}@{gt}, expected {wn}@{wt}")
        if w["status"] == 2:
            checked_errors += 1
        if w["status"] == 2 and g["status"] != 2:
            problems.append(f"{where}: status {g['status']}, expected ERROR")
        if BACKENDS[backend]["links"]:
            checked_links += len(w["links"])
            if g["links"] != w["links"]:
                problems.append(f"{where}: links {g['links']} != {w['links']}")
    with_links = sum(1 for w in want.values() if w["links"])
    print(
        f"{backend}: {len(want) - len(missing)}/{len(want)} spans read back;"
        f" names, parents, start/end (±{tol} ns), {checked_attrs} attribute values,"
        f" {checked_events} events, {checked_links} links, {checked_errors} ERROR statuses checked"
        + ("" if BACKENDS[backend]["links"] else f" ({with_links} spans' links not kept by {backend})")
    )
    if problems:
        for p in problems[:20]:
            print("  " + p)
        sys.exit(f"{backend}: {len(problems)} problem(s)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["wait", "compare"])
    ap.add_argument("--backend", choices=sorted(BACKENDS), required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--expected", action="append", default=[], help="kapture's -o output")
    ap.add_argument("--project")
    ap.add_argument("--seconds", type=float, default=120)
    a = ap.parse_args()
    if a.command == "wait":
        wait_ready(a.backend, a.url, a.seconds)
    else:
        compare(a.backend, a.url, a.expected, a.project, a.seconds)


if __name__ == "__main__":
    main()
