#!/usr/bin/env bash
# Hostile-capture benchmark: kapture's peak RssAnon on crafted floods with the default
# memory caps (README "Hostile captures"), against the 256 MiB target.
#   syn-1m         1,000,000 SYNs to port 9092, each from its own address and port
#   syn-3m         3,000,000 of them
#   unanswered-1m  1,000,000 handshaked connections, one ApiVersions request each,
#                  never answered, never closed
# The captures come from examples/gen_flood.rs (same arguments, same bytes), into
# /tmp unless they exist. Each case runs RUNS times (default 1); the table gives the
# highest peak RssAnon (sampled from /proc/PID/status every 10 ms: RssAnon is what
# kapture holds, without the mapped capture), the wall time, the exit status (1: a
# cap was hit, as it must be) and what the JSON summary says the caps did.
#
#   bench/floods.sh [--runs N] [--out DIR] [--limit-mib 256] [-- KAPTURE_ARGS...]
#
# KAPTURE_BIN measures that binary instead of building this tree's.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${RUNS:-1} OUT=${OUT:-/tmp/kapture-floods} LIMIT_MIB=${LIMIT_MIB:-256}
EXTRA=()
while [ $# -gt 0 ]; do
    case $1 in
        --runs) RUNS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --limit-mib) LIMIT_MIB=$2; shift 2 ;;
        --) shift; EXTRA=("$@"); break ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "floods.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
mkdir -p "$OUT"

echo "== build"
cargo build --release --quiet --example gen_flood
if [ -n "${KAPTURE_BIN:-}" ]; then KAPTURE=$(realpath "$KAPTURE_BIN"); else
    cargo build --release --quiet --bin kapture
    KAPTURE=$ROOT/target/release/kapture
fi
GEN=$ROOT/target/release/examples/gen_flood

CASES=("syn-1m syn 1000000" "syn-3m syn 3000000" "unanswered-1m unanswered 1000000")
for c in "${CASES[@]}"; do
    read -r name kind n <<< "$c"
    file=/tmp/kapture-flood-$name.pcap
    if [ ! -s "$file" ]; then
        echo "== generate $file"
        "$GEN" "$kind" "$n" -o "$file.tmp" && mv "$file.tmp" "$file"
    fi
done

# peak_anon PID: highest RssAnon (kB) of PID until it exits.
peak_anon() {
    local pid=$1 peak=0 v
    while [ -r "/proc/$pid/status" ]; do
        v=$(awk '/^RssAnon:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
        [ -n "$v" ] && [ "$v" -gt "$peak" ] && peak=$v
        sleep 0.01
    done
    echo "$peak"
}

report=$OUT/report.md
{
    echo "| capture | size | peak RssAnon | wall | exit | evicted (by reason) | requests unanswered by eviction |"
    echo "|---|---|---|---|---|---|---|"
} > "$report"
fail=0
for c in "${CASES[@]}"; do
    read -r name _ _ <<< "$c"
    file=/tmp/kapture-flood-$name.pcap
    worst=0 wall=0 status=0
    for _ in $(seq "$RUNS"); do
        start=$(date +%s%N)
        status=0
        "$KAPTURE" "$file" -o /dev/null -q --summary json --summary-file "$OUT/$name.json" \
            "${EXTRA[@]}" &
        pid=$!
        anon=$(peak_anon "$pid")
        wait "$pid" || status=$?
        wall=$(( ($(date +%s%N) - start) / 1000000 ))
        [ "$anon" -gt "$worst" ] && worst=$anon
        echo "  $name: peak RssAnon $((anon / 1024)) MiB, ${wall} ms, exit $status"
    done
    caps=$(python3 - "$OUT/$name.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])).get("memory_caps", {})
evicted = c.get("evicted", {})
by_reason = ", ".join(f"{n} {k}" for k, n in evicted.items()) or "none"
print(f"{sum(evicted.values())} ({by_reason}) | {c.get('unanswered_by_eviction', 0)}")
PY
)
    size=$(stat -L -c %s "$file")
    echo "| $name | $((size / 1000000)) MB | $((worst / 1024)) MiB | ${wall} ms | $status | $caps |" >> "$report"
    if [ $((worst / 1024)) -ge "$LIMIT_MIB" ]; then
        echo "  $name: over the ${LIMIT_MIB} MiB target" >&2
        fail=1
    fi
done
echo
cat "$report"
echo
if [ $fail = 0 ]; then echo "every flood stayed under ${LIMIT_MIB} MiB of RssAnon"; fi
exit $fail
