#!/usr/bin/env python3
"""Exactly-once check for ci/gateway-e2e.sh: the spans kapture agents were meant to send
(their JSON Lines files) against what Jaeger holds, read back raw through its API v3.

    gateway_check.py --jaeger URL --expected a.jsonl --expected b.jsonl [--seconds 60]
    gateway_check.py --same live.jsonl file.jsonl

Polls (at most --seconds) until every expected span is there, waits --settle seconds
more for late copies (a queue replayed after a restart comes first, but a slow one
would come later), then fails on any span missing, stored more than once, or stored
but never expected, and on a name or start time that differs. Counts are per
(trace id, span id) occurrence, so a span stored twice is seen twice.
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


def http_get(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def spans_of(data):
    """(trace id, span id, name, start ns) of every span of one OTLP JSON TracesData."""
    for rs in data.get("resourceSpans") or []:
        for ss in rs.get("scopeSpans") or []:
            for s in ss.get("spans") or []:
                yield s["traceId"], s["spanId"], s["name"], int(s["startTimeUnixNano"])


def expected(paths):
    want = {}
    for path in paths:
        n = 0
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                for trace, span, name, start in spans_of(json.loads(line)):
                    if (trace, span) in want:
                        sys.exit(f"{path}: span {trace}/{span} is expected twice (same --id-seed?)")
                    want[(trace, span)] = (name, start)
                    n += 1
        if n == 0:
            sys.exit(f"{path} holds no spans")
        print(f"{path}: {n} spans expected")
    return want


def same(live, file):
    """The two JSON Lines files hold the same spans, field for field (their grouping
    into lines may differ: a live run ends a line whenever its input goes quiet)."""
    def spans(path):
        out = {}
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                for rs in json.loads(line)["resourceSpans"]:
                    resource = json.dumps(rs.get("resource"), sort_keys=True)
                    for ss in rs["scopeSpans"]:
                        for s in ss["spans"]:
                            out[(s["traceId"], s["spanId"])] = (resource, json.dumps(s, sort_keys=True))
        return out

    a, b = spans(live), spans(file)
    differ = [k for k in a.keys() & b.keys() if a[k] != b[k]]
    if a.keys() != b.keys() or differ:
        sys.exit(
            f"{live}: {len(a.keys() - b.keys())} spans not in {file}, {len(b.keys() - a.keys())}"
            f" missing, {len(differ)} different"
        )
    print(f"{live}: the {len(a)} spans of {file}, field for field")


def rfc3339(ns):
    t = datetime.datetime.fromtimestamp(ns // 10**9, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 10**9:09d}Z"


def stored(url, lo, hi):
    """Every span occurrence Jaeger holds with a start in [lo, hi], all services."""
    services = json.loads(http_get(url + "/api/v3/services")).get("services") or []
    got = []
    for service in services:
        query = urllib.parse.urlencode(
            {
                "query.service_name": service,
                "query.start_time_min": rfc3339(lo),
                "query.start_time_max": rfc3339(hi),
                "query.num_traces": 99999,  # below Jaeger's max_traces (ci/jaeger/config.yaml)
                # Raw: no adjuster may merge or drop a duplicate before we count it.
                "query.raw_traces": "true",
            }
        )
        try:
            body = http_get(f"{url}/api/v3/traces?{query}").decode()
        except urllib.error.HTTPError as e:
            if e.code == 404:  # nothing stored yet
                continue
            sys.exit(f"jaeger: {e} for service {service}: {e.read()[:300]!r}")
        # One JSON object per chunk of traces, concatenated.
        dec, i = json.JSONDecoder(), 0
        while i < len(body):
            while i < len(body) and body[i].isspace():
                i += 1
            if i >= len(body):
                break
            obj, i = dec.raw_decode(body, i)
            got.extend(spans_of(obj.get("result") or {}))
    return got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jaeger", help="Jaeger's query URL")
    ap.add_argument("--expected", action="append", default=[], help="an agent's -o output")
    ap.add_argument("--same", nargs=2, metavar=("LIVE", "FILE"), help="compare two outputs")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--settle", type=float, default=2)
    ap.add_argument("--min-spans", type=int, default=1)
    ap.add_argument("--poll", type=float, default=0.5, help="seconds between reads")
    ap.add_argument("--started", type=float, help="epoch seconds to time 'all there' from")
    args = ap.parse_args()
    if args.same:
        same(*args.same)
        return
    if not args.jaeger or not args.expected:
        ap.error("--jaeger and --expected are needed")

    want = expected(args.expected)
    if len(want) < args.min_spans:
        sys.exit(f"only {len(want)} spans expected, fewer than {args.min_spans}")
    starts = [start for _, start in want.values()]
    lo, hi = min(starts) - 10**9, max(starts) + 10**9
    t0 = time.monotonic()
    deadline = t0 + args.seconds
    while True:
        got = stored(args.jaeger, lo, hi)
        present = {(t, s) for t, s, _, _ in got}
        missing = want.keys() - present
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(args.poll)
    # The read that found them all began at most one read's time before this.
    found_at = time.time()
    if not missing:
        time.sleep(args.settle)
        got = stored(args.jaeger, lo, hi)
    counts = collections.Counter((t, s) for t, s, _, _ in got)
    missing = [k for k in want if counts[k] == 0]
    twice = {k: n for k, n in counts.items() if n > 1}
    extra = [k for k in counts if k not in want]
    changed = [
        (t, s) for t, s, name, start in got if (t, s) in want and want[(t, s)] != (name, start)
    ]
    print(
        f"jaeger: {len(got)} span(s) stored for {len(want)} expected"
        f" (all there after {time.monotonic() - t0:.1f} s):"
        f" {len(missing)} missing, {len(twice)} stored more than once"
        f" ({sum(twice.values()) - len(twice)} extra copies), {len(extra)} never sent,"
        f" {len(changed)} with another name or start"
    )
    problems = [
        (missing, "missing"),
        (sorted(twice), "stored more than once"),
        (extra, "never sent"),
        (changed, "changed"),
    ]
    failed = False
    for keys, what in problems:
        if keys:
            failed = True
            print(f"  {what}, e.g. {[f'{t}/{s}' for t, s in keys[:3]]}")
    if args.started is not None and not missing:
        print(f"all there {found_at - args.started:.1f} s after the start")
    if failed:
        sys.exit("jaeger: not every span exactly once")


if __name__ == "__main__":
    main()
