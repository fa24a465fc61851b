#!/usr/bin/env bash
# End-to-end check against Jaeger and the OpenTelemetry Collector, both built from Go
# modules (ci/jaeger/go.mod, ci/otelcol/go.mod) and run on 127.0.0.1:
#   1. Jaeger v2 (cmd/jaeger, in-memory storage, ci/jaeger/config.yaml) on free ports;
#   2. kapture replays captures into it over OTLP/HTTP, protobuf and JSON (gzip);
#   3. a minimal Collector (ci/otelcol: otlpjsonfile receiver, file and otlphttp
#      exporters) reads kapture's JSON Lines file and forwards it to a file and to Jaeger;
#   4. every span is read back, through Jaeger's API v3 (OTLP JSON, adjusted and raw)
#      and its UI API (/api/traces), and from the Collector's file, and compared with
#      kapture's -o output of the same runs (ci/replay_e2e_check.py).
# What Jaeger changes is checked as such, not ignored (see ci/replay_e2e_check.py):
# zero-length spans are stored 1 ns long with a warning, the adjusters add warnings,
# and the UI's API drops a parent that is not in the trace.
# The Jaeger UI is not checked: the Go module ships only a placeholder page (the UI is
# built from the jaeger-ui repository and embedded by Jaeger's release build), and
# jaeger-ui is a private package, never published to npm.
# Binaries are cached under $KAPTURE_E2E_CACHE (default ~/.cache/kapture-e2e), keyed by
# version and by a hash of the module files, so a machine builds each once.
#
#   ci/jaeger-e2e.sh            build (when not cached), run, check
#   ci/jaeger-e2e.sh build      only build (or find) the binaries
#
# Loopback only; every wait is bounded; servers live at most 10 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# Trace-context links with child phase spans, a Kafka error (ERROR status), a consumer
# group's many APIs, and a nanosecond capture (times that are not whole microseconds).
CAPTURES=(testdata/traceparent-otel.pcap testdata/produce-error.pcap
    testdata/group-confluent.pcap testdata/nano.pcap)

cache=${KAPTURE_E2E_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/kapture-e2e}
work=$(mktemp -d "${TMPDIR:-/tmp}/kapture-jaeger-e2e.XXXXXX")
groups=()
cleanup() {
    for g in "${groups[@]}"; do kill -TERM -- "-$g" 2>/dev/null || true; done
    sleep 0.5
    for g in "${groups[@]}"; do kill -KILL -- "-$g" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

t0=$SECONDS
stamp() { echo "[$((SECONDS - t0)) s] $*"; }

# module_version DIR MODULE: the version DIR/go.mod requires for MODULE.
module_version() {
    awk -v m="$2" '$1 == m { print $2; exit }' "$1/go.mod"
}

# go_binary NAME DIR PACKAGE VERSION: builds PACKAGE in the module DIR into the cache,
# unless it is there already; prints its path on the last line.
go_binary() {
    local name=$1 dir=$2 pkg=$3 version=$4 key out t
    key=$(cat "$dir"/go.mod "$dir"/go.sum "$dir"/*.go 2>/dev/null | sha256sum | cut -c1-12)
    out="$cache/$name-$version-$key/$name"
    if [ ! -x "$out" ]; then
        command -v go >/dev/null || { echo "go is needed to build $name"; exit 1; }
        mkdir -p "$(dirname "$out")"
        t=$SECONDS
        # The module downloads are logged, and shown only when the build fails.
        if ! (cd "$dir" && GOFLAGS=-mod=readonly go build -trimpath -ldflags='-s -w' \
            -o "$out.tmp" "$pkg") > "$work/build-$name.log" 2>&1; then
            tail -n 40 "$work/build-$name.log" >&2
            echo "building $name failed" >&2
            exit 1
        fi
        mv "$out.tmp" "$out"
        echo "$name $version: built in $((SECONDS - t)) s ($(du -h "$out" | cut -f1))" >&2
    fi
    echo "$out"
}

echo "== build Jaeger and the Collector (cached)"
jaeger_version=$(module_version ci/jaeger github.com/jaegertracing/jaeger)
otelcol_version=$(module_version ci/otelcol go.opentelemetry.io/collector/otelcol)
jaeger=$(go_binary jaeger ci/jaeger github.com/jaegertracing/jaeger/cmd/jaeger "$jaeger_version" | tail -n 1)
otelcol=$(go_binary otelcol-kapture ci/otelcol . "$otelcol_version" | tail -n 1)
stamp "jaeger $jaeger_version: $jaeger"
stamp "collector $otelcol_version: $otelcol"
[ "${1:-}" = build ] && exit 0

cargo build --release --locked --quiet
kapture=$root/target/release/kapture
checker=$root/ci/replay_e2e_check.py
stamp "kapture built"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start NAME COMMAND...: runs a server in its own process group, for 10 minutes at most.
start() {
    local name=$1
    shift
    setsid timeout 600 "$@" > "$work/$name.log" 2>&1 &
    groups+=("$!")
    disown "$!"
}

echo "== Jaeger $jaeger_version"
export JAEGER_OTLP_HTTP_PORT JAEGER_QUERY_PORT JAEGER_QUERY_GRPC_PORT JAEGER_HEALTH_PORT
JAEGER_OTLP_HTTP_PORT=$(free_port)
JAEGER_QUERY_PORT=$(free_port)
JAEGER_QUERY_GRPC_PORT=$(free_port)
JAEGER_HEALTH_PORT=$(free_port)
otlp=http://127.0.0.1:$JAEGER_OTLP_HTTP_PORT
query=http://127.0.0.1:$JAEGER_QUERY_PORT
t=$SECONDS
start jaeger "$jaeger" --config "$root/ci/jaeger/config.yaml"
python3 "$checker" wait --backend jaeger --url "$query" --seconds 60 ||
    { tail -n 30 "$work/jaeger.log"; exit 1; }
# The OTLP receiver may open after the query API: wait for it too (any HTTP answer).
for _ in $(seq 1 100); do
    curl -s -o /dev/null "$otlp/v1/traces" && break
    sleep 0.1
done
stamp "jaeger ready in $((SECONDS - t)) s: OTLP/HTTP $otlp, query $query"

# 1. The defaults: http/protobuf, every API, phase spans.
"$kapture" -q --api all --phase-spans --id-seed 11 --otlp-endpoint "$otlp" \
    -o "$work/j1.jsonl" "${CAPTURES[@]}"
# 2. http/json with gzip, from the OTEL_* variables; spans made children of the
#    producer's trace context where the records carry one.
OTEL_EXPORTER_OTLP_ENDPOINT=$otlp OTEL_EXPORTER_OTLP_PROTOCOL=http/json \
    OTEL_EXPORTER_OTLP_COMPRESSION=gzip \
    "$kapture" -q --api all --phase-spans --parent-from-records --id-seed 12 --otlp \
    -o "$work/j2.jsonl" "${CAPTURES[@]}"
# 3. http/json, no compression, default APIs, small batches (several requests).
"$kapture" -q --id-seed 13 --otlp-endpoint "$otlp/v1/traces" --otlp-protocol http/json \
    --otlp-batch-spans 7 -o "$work/j3.jsonl" "${CAPTURES[@]}"
stamp "replayed"

replayed=(--expected "$work/j1.jsonl" --expected "$work/j2.jsonl" --expected "$work/j3.jsonl")
# Raw first: Jaeger's in-memory store keeps what the adjusters of an adjusted read add.
python3 "$checker" compare --backend jaeger --url "$query" "${replayed[@]}" --raw --min-spans 100 --seconds 30
python3 "$checker" compare --backend jaeger --url "$query" "${replayed[@]}" --seconds 5
python3 "$checker" compare --backend jaeger-v1 --url "$query" "${replayed[@]}" --seconds 5
# The check itself: a copy of run 1 with one attribute value, one event time and one
# link changed by one unit, and one span left out, must fail with exactly those four.
python3 - "$work/j1.jsonl" "$work/j1-changed.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
spans = [s for d in lines for rs in d["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
attr = next(a for a in spans[0]["attributes"] if a["key"] == "kapture.correlation_id")
attr["value"]["intValue"] = str(int(attr["value"]["intValue"]) + 1)
event = next(s for s in spans if s["events"])["events"][0]
event["timeUnixNano"] = str(int(event["timeUnixNano"]) + 1)
link = next(s for s in spans if s["links"])["links"][0]
link["spanId"] = link["spanId"][:-1] + ("0" if link["spanId"][-1] != "0" else "1")
ss = lines[-1]["resourceSpans"][-1]["scopeSpans"][-1]
ss["spans"] = ss["spans"][:-1]
with open(sys.argv[2], "w") as f:
    for d in lines:
        f.write(json.dumps(d) + "\n")
PY
status=0
python3 "$checker" compare --backend jaeger --url "$query" --expected "$work/j1-changed.jsonl" \
    --expected "$work/j2.jsonl" --expected "$work/j3.jsonl" --seconds 1 > "$work/changed.log" 2>&1 || status=$?
if [ "$status" -eq 0 ] || ! grep -q ': 4 problem(s)' "$work/changed.log" ||
    ! grep -q 'attribute kapture.correlation_id' "$work/changed.log" ||
    ! grep -q ': events ' "$work/changed.log" || ! grep -q ': links ' "$work/changed.log" ||
    ! grep -q '1 spans read back that were never sent' "$work/changed.log"; then
    cat "$work/changed.log"
    echo "the comparison did not catch the four changes"
    exit 1
fi
echo "a changed copy of run 1 is refused: $(tail -n 1 "$work/changed.log")"
stamp "jaeger checked"

echo "== OpenTelemetry Collector $otelcol_version: kapture's file -> file and Jaeger"
"$kapture" -q --api all --phase-spans --id-seed 21 -o "$work/c.jsonl" "${CAPTURES[@]}"
cat > "$work/otelcol.yaml" <<EOF
receivers:
  otlpjsonfile:
    include: ["$work/c.jsonl"]
    start_at: beginning
    poll_interval: 100ms
    # Otherwise the receiver adds a log.file.name attribute to every span.
    include_file_name: false
exporters:
  file:
    path: "$work/collector-out.jsonl"
    flush_interval: 100ms
  otlphttp:
    endpoint: "$otlp"
service:
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
  pipelines:
    traces:
      receivers: [otlpjsonfile]
      exporters: [file, otlphttp]
EOF
t=$SECONDS
start otelcol "$otelcol" --config "$work/otelcol.yaml"
python3 "$checker" compare --backend file --url "$work/collector-out.jsonl" \
    --expected "$work/c.jsonl" --seconds 60 || { tail -n 30 "$work/otelcol.log"; exit 1; }
python3 "$checker" compare --backend jaeger --url "$query" "${replayed[@]}" \
    --expected "$work/c.jsonl" --seconds 30 || { tail -n 30 "$work/otelcol.log"; exit 1; }
stamp "collector checked in $((SECONDS - t)) s"
stamp "jaeger and collector end to end passed"
