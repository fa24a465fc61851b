#!/usr/bin/env bash
# Whole-binary benchmark of kapture on one large generated capture, against the
# slicing ceiling (examples/slice_ceiling.rs) and tshark 4.4 decoding Kafka.
#
#   bench/run.sh [--size 1G] [--runs 5] [--seed 1] [--file PATH] [--out DIR]
#                [--tshark-runs 1] [--no-tshark] [--no-stdin] [--nice N]
#                [--spans-dir DIR]
#
# --nice -20 (root) runs every measured process at that niceness (and in a session
# of its own with that niceness, see below), so that other work on a shared machine
# (builds, fuzzers) disturbs the figures less.
# Builds kapture and the two example programs (release), generates the capture with
# examples/gen_bench.rs unless it already exists (same size and seed give the same
# file), warms the page cache, then measures every case --runs times (median),
# round-robin so that load from other processes hits every case alike:
#   kapture FILE -o SPANS/spans.jsonl    default threads (one per core)
#   kapture -j 1 / -j 2                  the same with 1 and 2 worker threads
#   kapture FILE -o /dev/null            the same work, no output written
#   cat spans.jsonl > SPANS/copy.jsonl   writing the output alone (its cost in the
#                                        kernel: page cache, file system)
#   slice_ceiling --threads 1 / 2        read + slice to TCP payload, nothing more
#   cat FILE | kapture - -o ...          stdin streaming (memory)
#   tshark -2 -n -r FILE -d tcp.port==9092,kafka -T fields -e kafka.correlation_id
#                                        in the Debian trixie chroot at $TRIXIE
#                                        (default /opt/trixie, built by
#                                        testdata/record/setup.sh); skipped if absent
# Wall time is measured around each process; peak RSS comes from /usr/bin/time
# (includes the mapped capture's pages), peak RssAnon / RssFile from sampling
# /proc/PID/status every 10 ms (RssAnon = memory that is not the file mapping).
# SPANS (--spans-dir) defaults to /dev/shm: on a VM whose disk writeback throttles
# writers (dirty-page limits), writing 285 MB to an ext4 file costs from 0.2 s to 2 s
# depending on what earlier runs left dirty, which would swamp every other figure.
# Each run writes a fresh file, deleted after the run.
# Results: OUT/results.tsv (one line per run), OUT/report.md (the table and ratios).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SIZE=1G RUNS=5 SEED=1 FILE="" OUT=/tmp/kapture-bench TSHARK_RUNS=1 TSHARK=1 STDIN=1 NICE=0
SPANS_DIR=""
TRIXIE=${TRIXIE:-/opt/trixie}
ORIG_ARGS=("$@")
while [ $# -gt 0 ]; do
    case $1 in
        --size) SIZE=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --seed) SEED=$2; shift 2 ;;
        --file) FILE=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --tshark-runs) TSHARK_RUNS=$2; shift 2 ;;
        --no-tshark) TSHARK=0; shift ;;
        --no-stdin) STDIN=0; shift ;;
        --nice) NICE=$2; shift 2 ;;
        --spans-dir) SPANS_DIR=$2; shift 2 ;;
        -h|--help) sed -n '2,34p' "$ROOT/bench/run.sh"; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
# With autogroup scheduling (the default on most distributions), niceness only ranks
# processes within one session; between sessions the kernel shares the CPUs evenly.
# So --nice also moves the run into a session of its own and gives that session the
# niceness.
if [ "$NICE" != 0 ] && [ -z "${KAPTURE_BENCH_SESSION:-}" ] \
    && [ "$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null)" = 1 ]; then
    export KAPTURE_BENCH_SESSION=1
    exec setsid --wait "$ROOT/bench/run.sh" "${ORIG_ARGS[@]}"
fi
mkdir -p "$OUT"
[ -n "$FILE" ] || FILE=/tmp/kapture-bench-$SIZE-seed$SEED.pcap
if [ -z "$SPANS_DIR" ]; then
    if [ -w /dev/shm ]; then SPANS_DIR=/dev/shm/kapture-bench-$$; else SPANS_DIR=$OUT; fi
fi
mkdir -p "$SPANS_DIR"

echo "== build"
cargo build --release --quiet --bin kapture --example gen_bench --example slice_ceiling
KAPTURE=$ROOT/target/release/kapture
GEN=$ROOT/target/release/examples/gen_bench
CEIL=$ROOT/target/release/examples/slice_ceiling

if [ ! -s "$FILE" ]; then
    echo "== generate $FILE ($SIZE, seed $SEED)"
    "$GEN" --size "$SIZE" --seed "$SEED" -o "$FILE.tmp" 2> "$OUT/gen.log"
    mv "$FILE.tmp" "$FILE"
    tail -n 1 "$OUT/gen.log"
fi
# Raised only now, so that the build and the generator run at normal priority.
if [ -n "${KAPTURE_BENCH_SESSION:-}" ]; then
    echo "$NICE" > /proc/self/autogroup || echo "note: cannot renice the session's autogroup"
fi
BYTES=$(stat -c %s "$FILE")
echo "== capture: $FILE ($BYTES bytes)"
cat "$FILE" > /dev/null   # page cache

HAVE_TIME=0
if [ -x /usr/bin/time ]; then HAVE_TIME=1; else
    echo "note: /usr/bin/time missing (apt-get install time): peak RSS from sampling only"
fi

# One read with a timeout and no fork: the sampler's clock.
exec {SLEEP_FD}<> <(:)

# run_one LABEL CMD...: runs CMD once (CMD may read stdin), appends a line to
# results.tsv: label wall_s user_s sys_s maxrss_kb peak_anon_kb peak_file_kb hwm_kb status
run_one() {
    local label=$1; shift
    local tf=$OUT/time.$$ start end pid="" anon=0 file=0 hwm=0 k v _
    rm -f "$tf"
    start=$(date +%s%N)
    if [ $HAVE_TIME = 1 ]; then
        /usr/bin/time -f '%U %S %M' -o "$tf" nice -n "$NICE" "$@" 2> "$OUT/last.stderr" &
    else
        nice -n "$NICE" "$@" 2> "$OUT/last.stderr" &
    fi
    local tp=$!
    while kill -0 "$tp" 2>/dev/null; do
        if [ -z "$pid" ]; then
            if [ $HAVE_TIME = 1 ]; then
                read -r pid _ 2> /dev/null < "/proc/$tp/task/$tp/children" || true
            else
                pid=$tp
            fi
        fi
        if [ -n "$pid" ] && [ -r "/proc/$pid/status" ]; then
            while read -r k v _; do
                case $k in
                    RssAnon:) [ "$v" -gt "$anon" ] && anon=$v ;;
                    RssFile:) [ "$v" -gt "$file" ] && file=$v ;;
                    VmHWM:) [ "$v" -gt "$hwm" ] && hwm=$v ;;
                esac
            done 2> /dev/null < "/proc/$pid/status" || true
        fi
        read -r -t 0.01 -u "$SLEEP_FD" _ || true
    done
    local status=0
    wait "$tp" || status=$?
    end=$(date +%s%N)
    local u=0 s=0 m=$hwm
    if [ $HAVE_TIME = 1 ] && [ -s "$tf" ]; then
        read -r u s m < <(tail -n 1 "$tf")
    fi
    rm -f "$tf"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" \
        "$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')" \
        "$u" "$s" "$m" "$anon" "$file" "$hwm" "$status" >> "$OUT/results.tsv"
}

# measure LABEL RUNS CMD...
measure() {
    local label=$1 n=$2; shift 2
    local i
    for ((i = 1; i <= n; i++)); do
        run_one "$label" "$@"
        tail -n 1 "$OUT/results.tsv" | awk -F'\t' '{ printf "  %-16s run: %7.3f s wall  %6.2f s cpu  maxrss %5.0f MB  anon %5.0f MB  status %s\n", $1, $2, $3 + $4, $5 / 1024, $6 / 1024, $9 }'
    done
}

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpu: $(nproc) x $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "mem: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "kernel: $(uname -r)"
    echo "kapture: $("$KAPTURE" --version 2>/dev/null || echo '?')"
    echo "niceness of the measured processes: $NICE (autogroup: $(cat /proc/self/autogroup 2>/dev/null || echo none))"
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "busiest other processes before (%cpu, command):"
    ps -eo pcpu=,comm= --sort=-pcpu | head -n 5 | sed 's/^/  /'
} > "$OUT/machine.txt"
cat "$OUT/machine.txt"

: > "$OUT/results.tsv"
echo "== counts (one run with a JSON summary)"
"$KAPTURE" "$FILE" -o "$OUT/spans.jsonl" --summary json --summary-file "$OUT/summary.json" || true
PACKETS=$(jq .packets "$OUT/summary.json")
SPANS=$(jq .spans "$OUT/summary.json")
CONNS=$(jq .connections.tcp "$OUT/summary.json")
EXCH=$(jq .exchanges.found "$OUT/summary.json")
echo "  $PACKETS packets, $CONNS TCP connections, $EXCH exchanges, $SPANS spans (default --api produce,fetch), spans file $(stat -c %s "$OUT/spans.jsonl") bytes"

echo "== measure ($RUNS rounds; each round runs every case once, so load changes hit all alike)"
CASES=(kapture kapture-j1 kapture-j2 kapture-devnull write-only ceiling-1t ceiling-2t)
RUN_SPANS=$SPANS_DIR/run.jsonl
declare -A CMD=(
    [kapture]="exec '$KAPTURE' '$FILE' -o '$RUN_SPANS'"
    [kapture-j1]="exec '$KAPTURE' '$FILE' -j 1 -o '$RUN_SPANS'"
    [kapture-j2]="exec '$KAPTURE' '$FILE' -j 2 -o '$RUN_SPANS'"
    [kapture-devnull]="exec '$KAPTURE' '$FILE' -o /dev/null"
    [write-only]="exec cat '$OUT/spans.jsonl' > '$RUN_SPANS'"
    [ceiling-1t]="exec '$CEIL' '$FILE' --threads 1 > /dev/null"
    [ceiling-2t]="exec '$CEIL' '$FILE' --threads 2 > /dev/null"
    [kapture-stdin]="exec '$KAPTURE' - -o '$RUN_SPANS' < <(cat '$FILE')"
)
[ $STDIN = 0 ] || CASES+=(kapture-stdin)
for ((round = 1; round <= RUNS; round++)); do
    for c in "${CASES[@]}"; do
        measure "$c" 1 bash -c "${CMD[$c]}"
        rm -f "$RUN_SPANS"
    done
done
[ "$SPANS_DIR" = "$OUT" ] || rmdir "$SPANS_DIR" 2>/dev/null || true
TSHARK_NOTE=""
if [ $TSHARK = 0 ]; then
    TSHARK_NOTE="tshark skipped (--no-tshark)"
elif [ ! -x "$TRIXIE/usr/bin/tshark" ]; then
    TSHARK_NOTE="tshark skipped: no chroot at $TRIXIE (build it with sudo testdata/record/setup.sh)"
else
    base=kapture-bench-$$.pcap
    ln -f "$FILE" "$TRIXIE/tmp/$base" 2>/dev/null || cp "$FILE" "$TRIXIE/tmp/$base"
    TV=$(chroot "$TRIXIE" tshark --version 2>/dev/null | head -n 1)
    echo "  ($TV)"
    measure tshark "$TSHARK_RUNS" bash -c "exec chroot '$TRIXIE' tshark -2 -n -r /tmp/$base -d tcp.port==9092,kafka -T fields -e kafka.correlation_id > '$OUT/tshark.txt'"
    TSHARK_ROWS=$(grep -c . "$OUT/tshark.txt" || true)
    rm -f "$TRIXIE/tmp/$base"
    TSHARK_NOTE="$TV: $TSHARK_ROWS frames with a Kafka correlation id"
fi
[ -z "$TSHARK_NOTE" ] || echo "  $TSHARK_NOTE"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/machine.txt"

# Medians per label and the report.
awk -F'\t' -v bytes="$BYTES" -v packets="$PACKETS" -v spans="$SPANS" -v obytes="$(stat -c %s "$OUT/spans.jsonl")" \
    -v file="$FILE" -v tnote="$TSHARK_NOTE" '
function median(arr, n,    i, j, t) {
    for (i = 2; i <= n; i++) { t = arr[i]; for (j = i - 1; j >= 1 && arr[j] > t; j--) arr[j + 1] = arr[j]; arr[j + 1] = t }
    return (n % 2) ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
}
{
    l = $1; n[l]++; if (!(l in seen)) { seen[l] = 1; order[++nl] = l }
    W[l, n[l]] = $2; C[l, n[l]] = $3 + $4; M[l, n[l]] = $5; A[l, n[l]] = $6; F[l, n[l]] = $7
}
END {
    for (k = 1; k <= nl; k++) {
        l = order[k]
        for (i = 1; i <= n[l]; i++) { w[i] = W[l, i]; c[i] = C[l, i]; m[i] = M[l, i]; a[i] = A[l, i]; f[i] = F[l, i] }
        wall[l] = median(w, n[l]); cpu[l] = median(c, n[l]); rss[l] = median(m, n[l]); anon[l] = median(a, n[l]); fb[l] = median(f, n[l])
    }
    mb = bytes / 1e6
    printf "Capture: `%s`, %.0f MB, %d packets, %d spans.\n\n", file, mb, packets, spans
    print "| run | wall s (median) | CPU s | MB/s | Mpackets/s | kspans/s | peak RSS MB | of which anon MB | file-backed MB |"
    print "|---|---|---|---|---|---|---|---|---|"
    for (k = 1; k <= nl; k++) {
        l = order[k]
        sp = (l ~ /^kapture/) ? sprintf("%.0f", spans / wall[l] / 1e3) : "-"
        printf "| %s | %.3f | %.2f | %.0f | %.2f | %s | %.0f | %.0f | %.0f |\n", l, wall[l], cpu[l], mb / wall[l], packets / wall[l] / 1e6, sp, rss[l] / 1024, anon[l] / 1024, fb[l] / 1024
    }
    print ""
    print "Ratios (throughput = inverse of median wall time):"
    if ("ceiling-1t" in wall) {
        printf "- kapture (default threads) / slicing ceiling 1 thread: %.1f%%\n", 100 * wall["ceiling-1t"] / wall["kapture"]
        printf "- kapture -j 1 / slicing ceiling 1 thread: %.1f%%\n", 100 * wall["ceiling-1t"] / wall["kapture-j1"]
    }
    if ("ceiling-2t" in wall) printf "- kapture -j 2 / slicing ceiling 2 threads: %.1f%%\n", 100 * wall["ceiling-2t"] / wall["kapture-j2"]
    if ("ceiling-1t" in cpu) printf "- by CPU time (user + sys; less sensitive to other load): ceiling 1 thread / kapture -j 1: %.1f%%\n", 100 * cpu["ceiling-1t"] / cpu["kapture-j1"]
    printf "- kapture 2 threads / 1 thread: %.2fx\n", wall["kapture-j1"] / wall["kapture-j2"]
    if ("ceiling-2t" in wall) printf "- ceiling 2 threads / 1 thread: %.2fx\n", wall["ceiling-1t"] / wall["ceiling-2t"]
    if ("kapture-devnull" in wall) printf "- kapture without writing its output (-o /dev/null) / slicing ceiling 1 thread: %.1f%%\n", 100 * wall["ceiling-1t"] / wall["kapture-devnull"]
    if ("write-only" in wall) printf "- writing the %.0f MB output alone (cat to the spans directory): %.3f s, %.0f%% of kapture'"'"'s wall time\n", obytes / 1e6, wall["write-only"], 100 * wall["write-only"] / wall["kapture"]
    if ("tshark" in wall) printf "- kapture / tshark: %.1fx faster (tshark %.0f MB/s, peak RSS %.0f MB)\n", wall["tshark"] / wall["kapture"], mb / wall["tshark"], rss["tshark"] / 1024
    else printf "- %s\n", tnote
    printf "- kapture peak RSS / capture size: %.1f%% with the file mapping, %.1f%% without (anon)\n", 100 * rss["kapture"] * 1024 / bytes, 100 * anon["kapture"] * 1024 / bytes
    if ("kapture-stdin" in wall) printf "- stdin (`cat FILE | kapture -`): peak RSS %.0f MB = %.1f%% of the capture, %.3f s\n", rss["kapture-stdin"] / 1024, 100 * rss["kapture-stdin"] * 1024 / bytes, wall["kapture-stdin"]
}' "$OUT/results.tsv" > "$OUT/report.md"
{ echo; echo "Machine:"; sed 's/^/    /' "$OUT/machine.txt"; } >> "$OUT/report.md"
echo
cat "$OUT/report.md"
