#!/usr/bin/env python3
"""Summarise testdata/*.tshark.tsv: per capture, the Kafka requests tshark decoded
(api key, version, count), how many of them it paired with a response, responses it
could not pair ("Request missing"), non-zero error codes and malformed frames."""
import collections
import csv
import glob
import os
import sys

NAMES = {0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit",
         9: "OffsetFetch", 10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat",
         13: "LeaveGroup", 14: "SyncGroup", 18: "ApiVersions", 19: "CreateTopics",
         22: "InitProducerId", 32: "DescribeConfigs", 60: "DescribeCluster",
         71: "GetTelemetrySubscriptions", 72: "PushTelemetry"}

td = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
files = sys.argv[1:] or sorted(glob.glob(os.path.join(td, "*.tshark.tsv")))
for path in files:
    rows = list(csv.DictReader(open(path), delimiter="\t", quoting=csv.QUOTE_NONE))
    req = collections.Counter()          # (key, version) -> count
    req_frames = {}                      # frame -> key
    paired = set()
    missing = 0
    errors = collections.Counter()
    malformed = 0
    streams = set()
    truncated = 0
    for r in rows:
        streams.add(r["tcp.stream"])
        if r["frame.len"] != r["frame.cap_len"]:
            truncated += 1
        expert = r["_ws.expert.message"]
        if r["_ws.malformed"] or "Malformed" in expert:
            malformed += 1
        missing += expert.count("Request missing")
        keys = [k for k in r["kafka.api_key"].split(",") if k]
        vers = [v for v in r["kafka.api_version"].split(",") if v]
        rf = [f for f in r["kafka.request_frame"].split(",") if f]
        if rf:
            paired.update(rf)
            for k in keys:
                if r["kafka.error"]:
                    for e in r["kafka.error"].split(","):
                        if e and e != "0":
                            errors[(int(k), int(e))] += 1
        elif vers:
            for k, v in zip(keys, vers):
                req[(int(k), int(v))] += 1
                req_frames.setdefault(r["frame.number"], []).append((int(k), int(v)))
    unpaired = collections.Counter()
    for f, ks in req_frames.items():
        if f not in paired:
            for kv in ks:
                unpaired[kv] += 1
    name = os.path.basename(path).replace(".tshark.tsv", "")
    print(f"{name}: {len(rows)} kafka frames, {len(streams)} tcp streams, "
          f"{sum(req.values())} requests, {len(paired)} request frames paired with a response, "
          f"{missing} 'Request missing' responses, {malformed} malformed frames"
          + (f", {truncated} truncated frames" if truncated else ""))
    for (k, v), n in sorted(req.items()):
        u = f", {unpaired[(k, v)]} without response" if unpaired[(k, v)] else ""
        print(f"  {k:>2} {NAMES.get(k, '?'):<26} v{v:<3} x{n}{u}")
    for (k, e), n in sorted(errors.items()):
        print(f"  error {e} in {n} {NAMES.get(k, k)} response(s)")
