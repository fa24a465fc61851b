#!/usr/bin/env python3
"""Reads spans back from a trace backend that kapture replayed to (or that a Collector
forwarded kapture's file to), and checks them against kapture's own JSON Lines output
of the same run.

    replay_e2e_check.py wait    --backend B --url URL
    replay_e2e_check.py compare --backend B --url URL --expected spans.jsonl... [--project P]
    replay_e2e_check.py compare --backend file --url out.jsonl --expected spans.jsonl...

Backends:
  jaeger     Jaeger v2, its API v3 (/api/v3/traces, OTLP JSON): every field compared
  jaeger-v1  the same Jaeger through /api/traces (the JSON the UI reads: microseconds,
             tags, logs, references)
  file       a file of OTLP JSON Lines written by the Collector's file exporter
  mlflow     MLflow tracking server, read through the mlflow client
  phoenix    Arize Phoenix, read through its REST API /v1/projects/{p}/spans/otlpv1
Loopback only; every wait is bounded. "Nothing extra": for jaeger, jaeger-v1 and file
the spans read back must be exactly the expected ones, no more.
"""

import argparse
import collections
import datetime
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

# Attributes checked on every span by backends that keep only some of them, or change
# their types (mlflow, phoenix), compared as plain values.
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

# What each backend keeps. tolerance_ns: timestamp precision. links: span links kept.
# full: every attribute with its OTLP type, span kind, status message, event and link
# attributes, trace state, resource and scope are compared; otherwise the ATTRIBUTES
# above as plain values. exact_set: spans not expected are an error.
BACKENDS = {
    "jaeger": {"tolerance_ns": 0, "links": True, "full": True, "exact_set": True},
    # Jaeger's JSON for its UI: times in microseconds, kind and status as tags, links as
    # FOLLOWS_FROM references without attributes, no resource/scope split.
    "jaeger-v1": {"tolerance_ns": 999, "links": True, "full": False, "exact_set": True},
    "file": {"tolerance_ns": 0, "links": True, "full": True, "exact_set": True},
    "mlflow": {"tolerance_ns": 0, "links": True, "full": False, "exact_set": False},
    # Phoenix stores times as microsecond datetimes and returns them through floats.
    "phoenix": {"tolerance_ns": 1000, "links": False, "full": False, "exact_set": False},
}


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def wait_ready(backend, url, seconds):
    path = {
        "mlflow": "/health",
        "phoenix": "/healthz",
        "jaeger": "/api/v3/services",
        "jaeger-v1": "/api/services",
    }[backend]
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            status, _ = http_get(url + path, timeout=2)
            if status == 200:
                return
        except (urllib.error.URLError, OSError) as e:
            last = e
        time.sleep(0.2)
    sys.exit(f"{backend} at {url} not ready after {seconds} s ({last})")


# --- OTLP JSON (kapture's file, Jaeger's API v3, the Collector's file exporter) -------


def typed_value(v):
    """An OTLP JSON AnyValue to a comparable (type, value) pair."""
    if "stringValue" in v:
        return ("string", v["stringValue"])
    if "intValue" in v:
        return ("int", int(v["intValue"]))
    if "boolValue" in v:
        return ("bool", v["boolValue"])
    if "doubleValue" in v:
        return ("double", float(v["doubleValue"]))
    if "bytesValue" in v:
        return ("bytes", v["bytesValue"])
    if "arrayValue" in v:
        return ("array", tuple(typed_value(x) for x in v["arrayValue"].get("values") or []))
    if "kvlistValue" in v:
        return ("kvlist", tuple(sorted(typed_attrs(v["kvlistValue"].get("values")).items())))
    return ("empty", None)


def typed_attrs(attrs):
    return {a["key"]: typed_value(a.get("value") or {}) for a in attrs or []}


def plain(tv):
    """(type, value) to the plain value that untyped backends give back."""
    kind, value = tv
    if kind == "array":
        return [plain(x) for x in value]
    return value


def otlp_spans(data, spans):
    """Adds the spans of one OTLP JSON TracesData object to spans, keyed by ids."""
    for rs in data.get("resourceSpans") or []:
        resource = typed_attrs((rs.get("resource") or {}).get("attributes"))
        for ss in rs.get("scopeSpans") or []:
            scope = ss.get("scope") or {}
            for s in ss.get("spans") or []:
                status = s.get("status") or {}
                key = (s["traceId"], s["spanId"])
                if key in spans:
                    raise SystemExit(f"span {key} appears twice")
                spans[key] = {
                    "name": s["name"],
                    "parent": s.get("parentSpanId") or None,
                    "kind": s.get("kind", 0),
                    "trace_state": s.get("traceState") or "",
                    "flags": s.get("flags", 0),
                    "start": int(s["startTimeUnixNano"]),
                    "end": int(s["endTimeUnixNano"]),
                    "attributes": typed_attrs(s.get("attributes")),
                    "events": sorted(
                        (int(e["timeUnixNano"]), e["name"], tuple(sorted(typed_attrs(e.get("attributes")).items())))
                        for e in s.get("events") or []
                    ),
                    "links": sorted(
                        (
                            link["traceId"],
                            link["spanId"],
                            link.get("traceState") or "",
                            tuple(sorted(typed_attrs(link.get("attributes")).items())),
                        )
                        for link in s.get("links") or []
                    ),
                    "status": status.get("code", 0),
                    "status_message": status.get("message") or "",
                    "dropped": (
                        s.get("droppedAttributesCount", 0),
                        s.get("droppedEventsCount", 0),
                        s.get("droppedLinksCount", 0),
                    ),
                    "resource": resource,
                    "scope": (scope.get("name") or "", scope.get("version") or ""),
                }
    return spans


def jsonl_spans(path):
    spans = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                otlp_spans(json.loads(line), spans)
    return spans


def rfc3339(ns):
    return (
        datetime.datetime.fromtimestamp(ns // 10**9, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        + f".{ns % 10**9:09d}Z"
    )


def jaeger_v3_spans(url, want, raw=False):
    """Every span of every service Jaeger holds in the time range of the expected spans."""
    _, body = http_get(url + "/api/v3/services")
    services = json.loads(body).get("services") or []
    lo = min(w["start"] for w in want.values()) - 10**9
    hi = max(w["start"] for w in want.values()) + 10**9
    spans = {}
    for service in services:
        query = urllib.parse.urlencode(
            {
                "query.service_name": service,
                "query.start_time_min": rfc3339(lo),
                "query.start_time_max": rfc3339(hi),
                "query.num_traces": 100000,
                "query.raw_traces": "true" if raw else "false",
            }
        )
        try:
            _, body = http_get(f"{url}/api/v3/traces?{query}", timeout=30)
        except urllib.error.HTTPError as e:
            if e.code == 404:  # no traces (yet)
                continue
            raise
        # One JSON object per chunk of traces, concatenated.
        dec = json.JSONDecoder()
        text = body.decode()
        i = 0
        while i < len(text):
            while i < len(text) and text[i].isspace():
                i += 1
            if i >= len(text):
                break
            obj, i = dec.raw_decode(text, i)
            otlp_spans(obj.get("result") or {}, spans)
    return spans


def jaeger_v1_spans(url, want):
    _, body = http_get(url + "/api/services")
    services = json.loads(body).get("data") or []
    lo = min(w["start"] for w in want.values()) // 1000 - 10**6
    hi = max(w["end"] for w in want.values()) // 1000 + 10**6
    kinds = {"internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
    spans = {}
    for service in services:
        query = urllib.parse.urlencode(
            {"service": service, "start": lo, "end": hi, "limit": 100000, "lookback": "custom"}
        )
        _, body = http_get(f"{url}/api/traces?{query}", timeout=30)
        for trace in json.loads(body).get("data") or []:
            for s in trace["spans"]:
                tags = {t["key"]: t["value"] for t in s.get("tags") or []}
                parent = [r for r in s.get("references") or [] if r["refType"] == "CHILD_OF"]
                links = [r for r in s.get("references") or [] if r["refType"] == "FOLLOWS_FROM"]
                key = (s["traceID"], s["spanID"])
                if key in spans:
                    raise SystemExit(f"span {key} appears twice")
                spans[key] = {
                    "name": s["operationName"],
                    "parent": parent[0]["spanID"] if parent else None,
                    "kind": kinds.get(tags.get("span.kind"), 0),
                    "start": s["startTime"] * 1000,
                    "end": (s["startTime"] + s["duration"]) * 1000,
                    "attributes": {k: ("v1", v) for k, v in tags.items()},
                    "events": sorted(
                        (
                            log["timestamp"] * 1000,
                            next((f["value"] for f in log["fields"] if f["key"] == "event"), ""),
                            (),
                        )
                        for log in s.get("logs") or []
                    ),
                    "links": sorted((r["traceID"], r["spanID"], "", ()) for r in links),
                    "status": {"ERROR": 2, "OK": 1}.get(tags.get("otel.status_code"), 0),
                    "status_message": tags.get("otel.status_description", ""),
                    "warnings": s.get("warnings") or [],
                }
    return spans


# --- MLflow and Phoenix -------------------------------------------------------------


def mlflow_spans(url, experiment):
    import mlflow  # the backend's own client, from the same venv

    mlflow.set_tracking_uri(url)
    spans = {}
    traces = mlflow.search_traces(locations=[experiment], return_type="list", max_results=5000)
    for trace in traces:
        for s in trace.data.spans:
            d = s.to_dict()
            trace_id = s.trace_id.removeprefix("tr-")
            spans[(trace_id, s.span_id)] = {
                "name": s.name,
                "parent": s.parent_id,
                "start": s.start_time_ns,
                "end": s.end_time_ns,
                "attributes": {k: ("plain", v) for k, v in dict(s.attributes).items()},
                "events": sorted((e.timestamp, e.name, ()) for e in s.events),
                "links": sorted(
                    (
                        link["trace_id"].removeprefix("tr-")
                        if len(link["trace_id"]) != 24
                        else link["trace_id"],
                        link["span_id"],
                        "",
                        (),
                    )
                    for link in (d.get("links") or [])
                ),
                "status": {"STATUS_CODE_ERROR": 2, "STATUS_CODE_OK": 1}.get(d["status"]["code"], 0),
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
                    a["key"]: ("plain", phoenix_value(a["value"])) for a in s.get("attributes") or []
                },
                "events": sorted(
                    (int(e["time_unix_nano"]), e["name"], ()) for e in s.get("events") or []
                ),
                "links": [],
                "status": (s.get("status") or {}).get("code") or 0,
            }
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return spans


def fetch(backend, url, project, want, raw):
    if backend == "jaeger":
        return jaeger_v3_spans(url, want, raw)
    if backend == "jaeger-v1":
        return jaeger_v1_spans(url, want)
    if backend == "file":
        try:
            return jsonl_spans(url)
        except (FileNotFoundError, json.JSONDecodeError):
            return {}  # not written yet, or a line half written
    if backend == "mlflow":
        return mlflow_spans(url, project or "0")
    return phoenix_spans(url, project or "default")


# --- comparison ---------------------------------------------------------------------


def v1_tag(tv):
    """What Jaeger's JSON for the UI makes of an OTLP attribute value."""
    kind, value = tv
    if kind == "array":  # arrays become JSON strings
        return json.dumps([plain(x) for x in value], separators=(",", ":"))
    return value


# What Jaeger changes on purpose, each time with a warning in the @jaeger@warnings
# attribute: a span whose end is not after its start (kapture's zero-length phase
# spans, when the capture has microsecond times) gets end = start + 1 ns when stored;
# with the query's adjusters on (not raw), the clock-skew adjuster, disabled by
# default, still says by how much a child sticking out of its parent would be moved
# (such children are the 1 ns lengthened ones). Jaeger's in-memory store hands the
# adjusters its own copy, so every adjusted read adds that warning to the stored span
# once more: a raw read is strict only when it comes first.
JAEGER_WARNINGS = "@jaeger@warnings"
ZERO_DURATION = "Negative duration detected, sanitizing end timestamp."
CLOCK_SKEW = "clock skew adjustment disabled; not applying calculated delta of "
# A span made the child of the producer's span (--parent-from-records) whose parent
# never reached this Jaeger: true, and said with each adjusted read.
MISSING_PARENT = "parent span ID={} is not in the trace; skipping clock skew adjustment"
# The UI's API (v1) goes further: it drops the reference to that parent, so the span
# shows as a root.
MISSING_PARENT_V1 = "invalid parent span IDs={}; skipping clock skew adjustment"


def jaeger_known_changes(where, key, g, w, want, raw, problems, counts):
    """Takes Jaeger's warnings off g and checks that each is one that w explains."""
    g = dict(g, attributes=dict(g["attributes"]))
    v1 = "warnings" in g
    if v1:  # API v1: a list of its own
        warnings = g.pop("warnings")
    else:  # API v3: an attribute
        warnings = [v for _, v in g["attributes"].pop(JAEGER_WARNINGS, ("array", ()))[1]]
    zero = w["end"] <= w["start"]
    if zero:
        counts["zero-duration spans made 1 ns long"] += 1
        if g["end"] == w["start"] + 1:
            g["end"] = w["end"]
        if not any(x.startswith(ZERO_DURATION) for x in warnings):
            problems.append(f"{where}: zero-length span without Jaeger's duration warning")
    lost_parent = w["parent"] and (key[0], w["parent"]) not in want
    if v1 and lost_parent and g["parent"] is None:
        counts["parents not in the trace dropped"] += 1
        g["parent"] = w["parent"]
    seen = set()
    for x in warnings:
        if x.startswith(ZERO_DURATION) and zero:
            continue
        # (The v3 words show in v1 too, kept in the store by an earlier v3 read.)
        if lost_parent and not raw and x in (
            MISSING_PARENT.format(w["parent"]),
            v1 and MISSING_PARENT_V1.format(w["parent"]),
        ):
            counts["parent-not-in-trace warnings"] += 1
            continue
        if x.startswith(CLOCK_SKEW) and not raw:
            counts["clock-skew warnings" if x not in seen else "clock-skew warnings repeated"] += 1
            seen.add(x)
            continue
        problems.append(f"{where}: Jaeger warning {x!r}")
    return g


def compare_full(where, g, w, problems, counts):
    for field in ("name", "parent", "kind", "trace_state", "flags", "start", "end",
                  "status", "status_message", "dropped", "resource", "scope"):
        if g.get(field) != w.get(field):
            problems.append(f"{where}: {field} {g.get(field)!r}, expected {w.get(field)!r}")
    gattrs, wattrs = g["attributes"], w["attributes"]
    for k in sorted(set(gattrs) | set(wattrs)):
        if gattrs.get(k) != wattrs.get(k):
            problems.append(f"{where}: attribute {k} = {gattrs.get(k)!r}, expected {wattrs.get(k)!r}")
    counts["attributes"] += len(wattrs)
    if g["events"] != w["events"]:
        problems.append(f"{where}: events {g['events']!r}, expected {w['events']!r}")
    counts["events"] += len(w["events"])
    if g["links"] != w["links"]:
        problems.append(f"{where}: links {g['links']!r}, expected {w['links']!r}")
    counts["links"] += len(w["links"])


def compare_v1(where, g, w, tol, problems, counts):
    """Jaeger's UI JSON: OTLP fields that have no place in the Jaeger model become tags."""
    for field in ("name", "parent", "kind", "status", "status_message"):
        if g[field] != w[field]:
            problems.append(f"{where}: {field} {g[field]!r}, expected {w[field]!r}")
    for field in ("start", "end"):
        # Microseconds: the start is truncated, the duration too.
        if not 0 <= w[field] - g[field] <= (tol if field == "start" else 2 * tol):
            problems.append(f"{where}: {field} {g[field]}, expected {w[field]} (µs)")
    # Every OTLP attribute is a tag; the extra tags are the OTLP fields Jaeger's model
    # lacks, plus the resource (process tags, not read here).
    extra = {"span.kind", "otel.status_code", "otel.status_description", "otel.scope.name",
             "otel.scope.version", "error", "w3c.tracestate"}
    for k, tv in w["attributes"].items():
        counts["attributes"] += 1
        if g["attributes"].get(k) != ("v1", v1_tag(tv)):
            problems.append(f"{where}: tag {k} = {g['attributes'].get(k)!r}, expected {v1_tag(tv)!r}")
    for k in set(g["attributes"]) - set(w["attributes"]) - extra:
        problems.append(f"{where}: unexpected tag {k} = {g['attributes'][k]!r}")
    if w["status"] == 2 and g["attributes"].get("error") != ("v1", True):
        problems.append(f"{where}: no error=true tag on an ERROR span")
    if (g["attributes"].get("otel.scope.name") or ("v1", ""))[1] != w["scope"][0]:
        problems.append(f"{where}: otel.scope.name {g['attributes'].get('otel.scope.name')!r}")
    gev = [(t, n) for t, n, _ in g["events"]]
    wev = [(t, n) for t, n, _ in w["events"]]
    if len(gev) != len(wev) or any(wn != gn or not 0 <= wt - gt <= tol for (gt, gn), (wt, wn) in zip(gev, wev)):
        problems.append(f"{where}: logs {gev}, expected {wev}")
    counts["events"] += len(wev)
    wl = [(t, s) for t, s, _, _ in w["links"]]
    gl = [(t, s) for t, s, _, _ in g["links"]]
    if gl != wl:
        problems.append(f"{where}: FOLLOWS_FROM references {gl}, expected {wl}")
    counts["links"] += len(wl)


def compare_subset(backend, where, g, w, tol, problems, counts):
    if g["name"] != w["name"]:
        problems.append(f"{where}: name {g['name']!r}")
    if g["parent"] != w["parent"]:
        problems.append(f"{where}: parent {g['parent']!r} != {w['parent']!r}")
    for field in ("start", "end"):
        if abs(g[field] - w[field]) > tol:
            problems.append(f"{where}: {field} {g[field]} != {w[field]}")
    for attr in ATTRIBUTES:
        if attr in w["attributes"]:
            counts["attributes"] += 1
            got = g["attributes"].get(attr)
            if got is None or got[1] != plain(w["attributes"][attr]):
                problems.append(
                    f"{where}: {attr} = {got and got[1]!r}, expected {plain(w['attributes'][attr])!r}"
                )
    if len(g["events"]) != len(w["events"]):
        problems.append(f"{where}: {len(g['events'])} events, expected {len(w['events'])}")
    else:
        for (gt, gn, _), (wt, wn, _) in zip(g["events"], w["events"]):
            counts["events"] += 1
            if gn != wn or abs(gt - wt) > tol:
                problems.append(f"{where}: event {gn}@{gt}, expected {wn}@{wt}")
    if w["status"] == 2 and g["status"] != 2:
        problems.append(f"{where}: status {g['status']}, expected ERROR")
    if BACKENDS[backend]["links"]:
        wl = [(t, s) for t, s, _, _ in w["links"]]
        counts["links"] += len(wl)
        if [(t, s) for t, s, _, _ in g["links"]] != wl:
            problems.append(f"{where}: links {g['links']} != {w['links']}")


def compare(backend, url, expected_paths, project, seconds, raw=False, min_spans=1):
    want = {}
    for path in expected_paths:
        spans = jsonl_spans(path)
        if not spans:
            sys.exit(f"{path} holds no spans")
        if want.keys() & spans.keys():
            sys.exit(f"{path} repeats span ids of another expected file")
        want.update(spans)
    if len(want) < min_spans:
        sys.exit(f"only {len(want)} spans expected, fewer than {min_spans}")
    caps = BACKENDS[backend]
    tol = caps["tolerance_ns"]
    # Ingestion may be asynchronous: poll until every span is there.
    deadline = time.monotonic() + seconds
    while True:
        got = fetch(backend, url, project, want, raw)
        missing = [k for k in want if k not in got]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    problems = []
    if missing:
        problems.append(f"{len(missing)} of {len(want)} spans missing, e.g. {missing[:3]}")
    extra = [k for k in got if k not in want]
    if caps["exact_set"] and extra:
        problems.append(f"{len(extra)} spans read back that were never sent, e.g. {extra[:3]}")
    counts = collections.Counter(attributes=0, events=0, links=0)
    errors = sum(1 for w in want.values() if w["status"] == 2)
    for key, w in want.items():
        g = got.get(key)
        if g is None:
            continue
        where = f"{w['name']} {key[0]}/{key[1]}"
        if backend in ("jaeger", "jaeger-v1"):
            g = jaeger_known_changes(where, key, g, w, want, raw, problems, counts)
        if caps["full"]:
            compare_full(where, g, w, problems, counts)
        elif backend == "jaeger-v1":
            compare_v1(where, g, w, tol, problems, counts)
        else:
            compare_subset(backend, where, g, w, tol, problems, counts)
    if errors == 0:
        problems.append("no expected span has an ERROR status: the capture set checks none")
    with_links = sum(1 for w in want.values() if w["links"])
    if caps["links"] and with_links == 0:
        problems.append("no expected span has links: the capture set checks none")
    what = (
        "every field (ids, parent, name, kind, trace state, flags, start/end, typed attributes,"
        " events with attributes, links with attributes, status code and message, dropped"
        " counts, resource, scope)"
        if caps["full"]
        else f"names, parents, start/end (±{tol} ns), status"
    )
    print(
        f"{backend}{' (raw)' if raw else ''}: {len(want) - len(missing)}/{len(want)} spans read back"
        f"{', none extra' if caps['exact_set'] and not extra else ''}; {what};"
        f" {counts['attributes']} attribute values, {counts['events']} events,"
        f" {counts['links']} links, {errors} ERROR statuses checked"
        + ("" if caps["links"] else f" ({with_links} spans' links not kept by {backend})")
    )
    known = {k: v for k, v in counts.items() if k not in ("attributes", "events", "links")}
    if known:
        print("  known changes: " + ", ".join(f"{v} {k}" for k, v in sorted(known.items())))
    if problems:
        for p in problems[:30]:
            print("  " + p)
        sys.exit(f"{backend}: {len(problems)} problem(s)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["wait", "compare"])
    ap.add_argument("--backend", choices=sorted(BACKENDS), required=True)
    ap.add_argument("--url", required=True, help="the backend's URL, or the file for 'file'")
    ap.add_argument("--expected", action="append", default=[], help="kapture's -o output")
    ap.add_argument("--project")
    ap.add_argument("--raw", action="store_true", help="jaeger: ask for raw traces (no adjusters)")
    ap.add_argument("--min-spans", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=120)
    a = ap.parse_args()
    if a.command == "wait":
        wait_ready(a.backend, a.url, a.seconds)
    else:
        compare(a.backend, a.url, a.expected, a.project, a.seconds, a.raw, a.min_spans)


if __name__ == "__main__":
    main()
