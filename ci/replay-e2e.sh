#!/usr/bin/env bash
# End-to-end replay check against real OTLP/HTTP trace backends from PyPI:
#   mlflow   MLflow tracking server (`mlflow server`), OTLP at /v1/traces
#   phoenix  Arize Phoenix (`phoenix serve`), OTLP at /v1/traces
# For each backend: install it in a venv (kept under $KAPTURE_E2E_CACHE, default
# ~/.cache/kapture-e2e, and reused when it still imports), start it on 127.0.0.1, run
# kapture --otlp-endpoint on a capture, read the spans back through the backend's own
# API and compare them with kapture's -o output of the same run; then stop the server.
#
#   ci/replay-e2e.sh [mlflow] [phoenix]     (default: both)
#
# Not run by CI (about 4 min and 1.3 GB on a fresh machine); ci/jaeger-e2e.sh is.
#
# Loopback only; every wait is bounded; servers live at most 15 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

MLFLOW_VERSION=3.17.2
PHOENIX_VERSION=20.26.1
# Trace-context links, child spans with --phase-spans, and a Kafka error (ERROR status).
CAPTURES=(testdata/traceparent-otel.pcap testdata/produce-error.pcap)
if [ $# -gt 0 ]; then backends=("$@"); else backends=(mlflow phoenix); fi

cache=${KAPTURE_E2E_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/kapture-e2e}
work=$(mktemp -d "${TMPDIR:-/tmp}/kapture-e2e.XXXXXX")
groups=()
cleanup() {
    for g in "${groups[@]}"; do kill -TERM -- "-$g" 2>/dev/null || true; done
    sleep 1
    for g in "${groups[@]}"; do kill -KILL -- "-$g" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

t0=$SECONDS
stamp() { echo "[$((SECONDS - t0)) s] $*"; }

echo "== build kapture"
cargo build --release --locked --quiet
stamp "built"
kapture=$PWD/target/release/kapture
checker=$PWD/ci/replay_e2e_check.py

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# uv (from PyPI) installs the backends about four times faster than pip; pip is the
# fallback.
uv=
if [ -x "$cache/uv/bin/uv" ] ||
    { rm -rf "$cache/uv" && mkdir -p "$cache" && python3 -m venv "$cache/uv" &&
        "$cache/uv/bin/pip" install --quiet --disable-pip-version-check uv; }; then
    uv=$cache/uv/bin/uv
fi

# venv_for NAME PIP_SPEC DIST VERSION: installs PIP_SPEC in $cache/venv-NAME unless DIST
# VERSION is there already.
venv_for() {
    local dir="$cache/venv-$1"
    if [ -x "$dir/bin/python" ] &&
        [ "$("$dir/bin/python" -c "import importlib.metadata as m; print(m.version('$3'))" 2>/dev/null)" = "$4" ]; then
        echo "$1: reusing $dir"
        return
    fi
    rm -rf "$dir"
    python3 -m venv "$dir"
    local t=$SECONDS
    if [ -n "$uv" ]; then
        "$uv" pip install --quiet --python "$dir/bin/python" "$2"
    else
        "$dir/bin/pip" install --quiet --disable-pip-version-check "$2"
    fi
    echo "$1: installed $2 in $((SECONDS - t)) s ($(du -sh "$dir" | cut -f1))"
}

echo "== install backends: ${backends[*]}"
# In parallel: the downloads dominate.
installs=()
for b in "${backends[@]}"; do
    case $b in
        mlflow) venv_for "mlflow-$MLFLOW_VERSION" "mlflow==$MLFLOW_VERSION" mlflow "$MLFLOW_VERSION" > "$work/install-$b.log" 2>&1 & ;;
        phoenix) venv_for "phoenix-$PHOENIX_VERSION" "arize-phoenix==$PHOENIX_VERSION" arize-phoenix "$PHOENIX_VERSION" > "$work/install-$b.log" 2>&1 & ;;
        *) echo "unknown backend '$b' (mlflow, phoenix)"; exit 2 ;;
    esac
    installs+=("$!")
done
status=0
for pid in "${installs[@]}"; do wait "$pid" || status=$?; done
for b in "${backends[@]}"; do cat "$work/install-$b.log"; done
[ "$status" -eq 0 ] || { echo "installing a backend failed"; exit 1; }
stamp "installed"

# start NAME COMMAND...: runs a server in its own process group, for 15 minutes at most.
start() {
    local name=$1
    shift
    setsid timeout 900 "$@" > "$work/$name.log" 2>&1 &
    groups+=("$!")
    disown "$!"
}

# expect_refused CODE LOG NEEDLE: kapture exited 4 and its message holds NEEDLE.
expect_refused() {
    local code=$1 log=$2 needle=$3
    if [ "$code" -ne 4 ] || ! grep -q "$needle" "$log"; then
        echo "expected exit 4 and '$needle', got exit $code:"
        cat "$log"
        exit 1
    fi
    echo "refused as expected: $(grep -m1 'stopped:' "$log" | sed 's/^ *//')"
}

start_mlflow() {
    local venv="$cache/venv-mlflow-$MLFLOW_VERSION" port
    port=$(free_port)
    url_mlflow=http://127.0.0.1:$port
    mkdir -p "$work/mlflow"
    start mlflow env MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true \
        "$venv/bin/mlflow" server --host 127.0.0.1 --port "$port" --workers 1 \
        --backend-store-uri "sqlite:///$work/mlflow/mlflow.db" \
        --default-artifact-root "$work/mlflow/artifacts"
}

start_phoenix() {
    local venv="$cache/venv-phoenix-$PHOENIX_VERSION" port grpc
    port=$(free_port)
    grpc=$(free_port)
    url_phoenix=http://127.0.0.1:$port
    start phoenix env PHOENIX_HOST=127.0.0.1 PHOENIX_PORT="$port" PHOENIX_GRPC_PORT="$grpc" \
        PHOENIX_WORKING_DIR="$work/phoenix" PHOENIX_TELEMETRY_ENABLED=false DO_NOT_TRACK=true \
        "$venv/bin/python" "$PWD/ci/phoenix_loopback.py"
}

# wait_for BACKEND VERSION URL VENV: bounded wait until the server answers its health check.
wait_for() {
    "$4/bin/python" "$checker" wait --backend "$1" --url "$3" --seconds 180 ||
        { tail -n 30 "$work/$1.log"; exit 1; }
    stamp "$1 $2 ready at $3"
}

check_mlflow() {
    local venv="$cache/venv-mlflow-$MLFLOW_VERSION" url=$url_mlflow
    wait_for mlflow "$MLFLOW_VERSION" "$url" "$venv"

    # 1. The defaults (http/protobuf, no compression); MLflow needs the experiment header.
    "$kapture" -q --api all --id-seed 1 --otlp-endpoint "$url" \
        --otlp-header x-mlflow-experiment-id=0 -o "$work/m1.jsonl" "${CAPTURES[@]}"

    # 2. http/json with gzip, endpoint and header from the OTEL_* variables, child
    #    phase spans, moved in time. (MLflow's JSON path drops span links: none here.)
    OTEL_EXPORTER_OTLP_ENDPOINT=$url OTEL_EXPORTER_OTLP_HEADERS=x-mlflow-experiment-id=0 \
        OTEL_EXPORTER_OTLP_PROTOCOL=http/json OTEL_EXPORTER_OTLP_COMPRESSION=gzip \
        "$kapture" -q --api all --id-seed 2 --otlp --no-record-links --phase-spans \
        --rebase-time 2030-01-01T00:00:00Z -o "$work/m2.jsonl" "${CAPTURES[@]}"

    MLFLOW_DISABLE_TELEMETRY=true "$venv/bin/python" "$checker" compare --backend mlflow \
        --url "$url" --expected "$work/m1.jsonl" --expected "$work/m2.jsonl" --seconds 30

    # 3. Without the header MLflow refuses the request: exit 4, with its reason.
    local code=0
    "$kapture" -q --otlp-endpoint "$url" "${CAPTURES[0]}" > /dev/null 2> "$work/m3.log" || code=$?
    expect_refused "$code" "$work/m3.log" "HTTP 422"
    stamp "mlflow checked"
}

check_phoenix() {
    local venv="$cache/venv-phoenix-$PHOENIX_VERSION" url=$url_phoenix
    wait_for phoenix "$PHOENIX_VERSION" "$url" "$venv"

    # 1. The defaults (http/protobuf, no compression).
    "$kapture" -q --api all --id-seed 1 --otlp-endpoint "$url" -o "$work/p1.jsonl" "${CAPTURES[@]}"

    # 2. gzip, child phase spans, moved to now, the full URL given.
    "$kapture" -q --api all --id-seed 2 --otlp-endpoint "$url/v1/traces" \
        --otlp-compression gzip --phase-spans --rebase-time now -o "$work/p2.jsonl" "${CAPTURES[@]}"

    # Phoenix stores spans in the background: the checker polls (bounded) for them.
    "$venv/bin/python" "$checker" compare --backend phoenix --url "$url" \
        --expected "$work/p1.jsonl" --expected "$work/p2.jsonl" --seconds 60

    # 3. Phoenix takes protobuf only: http/json is refused with 415, and kapture says so.
    local code=0
    "$kapture" -q --otlp-endpoint "$url" --otlp-protocol http/json "${CAPTURES[0]}" \
        > /dev/null 2> "$work/p3.log" || code=$?
    expect_refused "$code" "$work/p3.log" "HTTP 415"
    stamp "phoenix checked"
}

# Both servers start at once (each takes ~25 s), then are checked one after the other.
for b in "${backends[@]}"; do "start_$b"; done
for b in "${backends[@]}"; do
    echo "== $b"
    "check_$b"
done
stamp "replay end to end: ${backends[*]} passed"
