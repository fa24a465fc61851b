#!/usr/bin/env bash
# Whole-binary benchmark of kapture's streaming pass on generated captures of real
# traffic, against the slicing ceiling (examples/slice_ceiling.rs) and tshark 4.4
# decoding Kafka. One run reports the target ratios:
#   (a) kapture end to end (default threads, spans written to SPANS, tmpfs by default)
#       vs the 2-thread slicing ceiling, on the generator's default capture and on a
#       capture of many small packets (the same templates without large-records);
#   (b) kapture -j 2 vs -j 1;
#   (c) peak RssAnon on the SIZE capture vs the BIG_SIZE capture of the same traffic
#       (same mix and seed, twice as long by default): flat means ratio <= 1.25;
#   (d) `cat FILE | kapture -` vs `kapture FILE`: speed and peak RssAnon.
#
#   bench/run.sh [--size 1G] [--big-size 2G] [--small-size SIZE] [--runs 5]
#                [--seed 1] [--out DIR] [--spans-dir DIR] [--tshark-runs 1]
#                [--no-tshark] [--no-stdin] [--no-big] [--no-small] [--nice N]
#
# Every option has an environment variable that sets its default: SIZE, BIG_SIZE
# (default: twice SIZE), SMALL_SIZE (default: SIZE), RUNS, SEED, OUT, SPANS_DIR,
# TSHARK_RUNS, NICE, SMALL_MIX (gen_bench --mix of the small-packet capture), and
# KAPTURE_BIN measures that kapture binary instead of building this tree's. A quick
# run: SIZE=256M BIG_SIZE=512M RUNS=3 bench/run.sh --no-tshark
#
# --nice -20 (root) runs every measured process at that niceness (and in a session
# of its own with that niceness, see below), so that other work on a shared machine
# (builds, fuzzers) disturbs the figures less.
# Builds kapture and the two example programs (release), generates the captures with
# examples/gen_bench.rs unless they already exist (same size, mix and seed give the
# same file) into /tmp, warms the page cache, then measures every case RUNS times
# (median), round-robin so that load from other processes hits every case alike:
#   kapture FILE -o SPANS/run.jsonl      default threads (one per core)
#   kapture -j 1 / -j 2                  the same with 1 and 2 worker threads
#   kapture FILE -o /dev/null            the same work, no output written
#   cat spans.jsonl > SPANS/run.jsonl    writing the output alone
#   slice_ceiling --threads 1 / 2        read + slice to TCP payload, nothing more
#   cat FILE | kapture - -o ...          standard input
#   kapture BIG -o ...                   the BIG_SIZE capture (flatness of memory)
#   kapture SMALL (default, -j 1), slice_ceiling SMALL --threads 2
#                                        the small-packet capture
#   tshark -2 -n -r FILE -d tcp.port==9092,kafka -T fields -e kafka.correlation_id
#                                        in the Debian trixie chroot at $TRIXIE
#                                        (default /opt/trixie, built by
#                                        testdata/record/setup.sh); skipped if absent
# Wall time is measured around each process; peak RSS comes from /usr/bin/time
# (includes the mapped capture's pages), peak RssAnon / RssFile from sampling
# /proc/PID/status every 10 ms (RssAnon = memory that is not the file mapping: what
# the streaming pass holds).
# SPANS defaults to /dev/shm: on a VM whose disk writeback throttles writers
# (dirty-page limits), writing hundreds of MB to an ext4 file costs from 0.2 s to 2 s
# depending on what earlier runs left dirty, which would swamp every other figure.
# Each run writes a fresh file, deleted after the run.
# Results: OUT/results.tsv (one line per run), OUT/report.md (tables, ratios, targets).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SIZE=${SIZE:-1G} BIG_SIZE=${BIG_SIZE:-} SMALL_SIZE=${SMALL_SIZE:-} RUNS=${RUNS:-5}
SEED=${SEED:-1} OUT=${OUT:-/tmp/kapture-bench} TSHARK_RUNS=${TSHARK_RUNS:-1}
NICE=${NICE:-0} SPANS_DIR=${SPANS_DIR:-}
TSHARK=1 STDIN=1 BIG=1 SMALL=1
# Every default template except large-records, whose 64 KB loopback segments carry
# most of the default capture's bytes: what is left averages a few hundred bytes a
# packet, as on a 1500-byte MTU link (netem* are such captures).
SMALL_MIX=${SMALL_MIX:-codecs-kcat=3,group-confluent=3,traceparent-otel=2,aiokafka=2,ipv6=1,acks0=1,produce-error=1,basic-kafka-python=1,midstream=1,netem=2,netem-broker=1}
# The targets.
CEILING_TARGET=50 SCALING_TARGET=1.7 FLAT_TARGET=1.25
TRIXIE=${TRIXIE:-/opt/trixie}
ORIG_ARGS=("$@")
while [ $# -gt 0 ]; do
    case $1 in
        --size) SIZE=$2; shift 2 ;;
        --big-size) BIG_SIZE=$2; shift 2 ;;
        --small-size) SMALL_SIZE=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --seed) SEED=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --tshark-runs) TSHARK_RUNS=$2; shift 2 ;;
        --no-tshark) TSHARK=0; shift ;;
        --no-stdin) STDIN=0; shift ;;
        --no-big) BIG=0; shift ;;
        --no-small) SMALL=0; shift ;;
        --nice) NICE=$2; shift 2 ;;
        --spans-dir) SPANS_DIR=$2; shift 2 ;;
        -h|--help) sed -n '2,51p' "$ROOT/bench/run.sh"; exit 0 ;;
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

# size_bytes 1G -> 1073741824 (as gen_bench reads sizes).
size_bytes() {
    awk -v s="$1" 'BEGIN {
        m = 1; u = toupper(substr(s, length(s)))
        if (u == "K") m = 2^10; else if (u == "M") m = 2^20; else if (u == "G") m = 2^30
        if (m > 1) s = substr(s, 1, length(s) - 1)
        printf "%d", s * m }'
}
[ -n "$BIG_SIZE" ] || BIG_SIZE=$(size_bytes "$SIZE" | awk '{ print 2 * $1 }')
[ -n "$SMALL_SIZE" ] || SMALL_SIZE=$SIZE

mkdir -p "$OUT"
FILE=/tmp/kapture-bench-$SIZE-seed$SEED.pcap
BIGFILE=/tmp/kapture-bench-$BIG_SIZE-seed$SEED.pcap
SMALL_TAG=$(printf '%s' "$SMALL_MIX" | md5sum | cut -c1-8)
SMALLFILE=/tmp/kapture-bench-small-$SMALL_SIZE-seed$SEED-$SMALL_TAG.pcap
if [ -z "$SPANS_DIR" ]; then
    if [ -w /dev/shm ]; then SPANS_DIR=/dev/shm/kapture-bench-$$; else SPANS_DIR=$OUT; fi
fi
mkdir -p "$SPANS_DIR"

echo "== build"
if [ -n "${KAPTURE_BIN:-}" ]; then
    cargo build --release --quiet --example gen_bench --example slice_ceiling
    KAPTURE=$(realpath "$KAPTURE_BIN")
else
    cargo build --release --quiet --bin kapture --example gen_bench --example slice_ceiling
    KAPTURE=$ROOT/target/release/kapture
fi
GEN=$ROOT/target/release/examples/gen_bench
CEIL=$ROOT/target/release/examples/slice_ceiling

# generate FILE SIZE [gen_bench options...]
generate() {
    local file=$1 size=$2; shift 2
    [ ! -s "$file" ] || return 0
    echo "== generate $file ($size, seed $SEED $*)"
    "$GEN" --size "$size" --seed "$SEED" "$@" -o "$file.tmp" 2> "$OUT/gen.log"
    mv "$file.tmp" "$file"
    tail -n 1 "$OUT/gen.log"
}
generate "$FILE" "$SIZE"
[ $BIG = 0 ] || generate "$BIGFILE" "$BIG_SIZE"
[ $SMALL = 0 ] || generate "$SMALLFILE" "$SMALL_SIZE" --mix "$SMALL_MIX"
# Raised only now, so that the build and the generator run at normal priority.
if [ -n "${KAPTURE_BENCH_SESSION:-}" ]; then
    echo "$NICE" > /proc/self/autogroup || echo "note: cannot renice the session's autogroup"
fi

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
        tail -n 1 "$OUT/results.tsv" | awk -F'\t' '{ printf "  %-18s run: %7.3f s wall  %6.2f s cpu  maxrss %5.0f MB  anon %5.0f MB  status %s\n", $1, $2, $3 + $4, $5 / 1024, $6 / 1024, $9 }'
    done
}

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpu: $(nproc) x $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "mem: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "kernel: $(uname -r)"
    echo "kapture: $KAPTURE, $("$KAPTURE" --version 2>/dev/null || echo '?') (tree at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))"
    echo "niceness of the measured processes: $NICE (autogroup: $(cat /proc/self/autogroup 2>/dev/null || echo none))"
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "busiest other processes before (%cpu, command):"
    ps -eo pcpu=,comm= --sort=-pcpu | head -n 5 | sed 's/^/  /'
} > "$OUT/machine.txt"
cat "$OUT/machine.txt"

# counts NAME FILE: one run with a JSON summary; sets the file's counts in C_*.
declare -A C_BYTES C_PACKETS C_SPANS C_CONNS C_EXCH C_OUT
counts() {
    local name=$1 file=$2
    cat "$file" > /dev/null   # page cache
    "$KAPTURE" "$file" -o "$OUT/spans-$name.jsonl" --summary json \
        --summary-file "$OUT/summary-$name.json" 2> /dev/null || true
    C_BYTES[$name]=$(stat -c %s "$file")
    C_PACKETS[$name]=$(jq .packets "$OUT/summary-$name.json")
    C_SPANS[$name]=$(jq .spans "$OUT/summary-$name.json")
    C_CONNS[$name]=$(jq .connections.tcp "$OUT/summary-$name.json")
    C_EXCH[$name]=$(jq .exchanges.found "$OUT/summary-$name.json")
    C_OUT[$name]=$(stat -c %s "$OUT/spans-$name.jsonl")
    echo "  $name: $file, ${C_BYTES[$name]} bytes, ${C_PACKETS[$name]} packets, ${C_CONNS[$name]} TCP connections, ${C_EXCH[$name]} exchanges, ${C_SPANS[$name]} spans, spans file ${C_OUT[$name]} bytes"
    [ "$name" = main ] || rm -f "$OUT/spans-$name.jsonl"
}

: > "$OUT/results.tsv"
echo "== counts (one run each with a JSON summary; also warms the page cache)"
counts main "$FILE"
[ $BIG = 0 ] || counts big "$BIGFILE"
[ $SMALL = 0 ] || counts small "$SMALLFILE"

echo "== measure ($RUNS rounds; each round runs every case once, so load changes hit all alike)"
CASES=(kapture kapture-j1 kapture-j2 kapture-devnull write-only ceiling-1t ceiling-2t)
RUN_SPANS=$SPANS_DIR/run.jsonl
declare -A CMD=(
    [kapture]="exec '$KAPTURE' '$FILE' -o '$RUN_SPANS'"
    [kapture-j1]="exec '$KAPTURE' '$FILE' -j 1 -o '$RUN_SPANS'"
    [kapture-j2]="exec '$KAPTURE' '$FILE' -j 2 -o '$RUN_SPANS'"
    [kapture-devnull]="exec '$KAPTURE' '$FILE' -o /dev/null"
    [write-only]="exec cat '$OUT/spans-main.jsonl' > '$RUN_SPANS'"
    [ceiling-1t]="exec '$CEIL' '$FILE' --threads 1 > /dev/null"
    [ceiling-2t]="exec '$CEIL' '$FILE' --threads 2 > /dev/null"
    # exec with a process substitution, so that the sampled process is kapture.
    [kapture-stdin]="exec '$KAPTURE' - -o '$RUN_SPANS' < <(cat '$FILE')"
    [kapture-big]="exec '$KAPTURE' '$BIGFILE' -o '$RUN_SPANS'"
    [small-kapture]="exec '$KAPTURE' '$SMALLFILE' -o '$RUN_SPANS'"
    [small-kapture-j1]="exec '$KAPTURE' '$SMALLFILE' -j 1 -o '$RUN_SPANS'"
    [small-ceiling-2t]="exec '$CEIL' '$SMALLFILE' --threads 2 > /dev/null"
)
[ $STDIN = 0 ] || CASES+=(kapture-stdin)
[ $BIG = 0 ] || CASES+=(kapture-big)
[ $SMALL = 0 ] || CASES+=(small-kapture small-kapture-j1 small-ceiling-2t)
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

# Medians per label, the report, the ratios and the targets.
awk -F'\t' \
    -v bytes="${C_BYTES[main]}" -v packets="${C_PACKETS[main]}" -v spans="${C_SPANS[main]}" \
    -v obytes="${C_OUT[main]}" -v file="$FILE" \
    -v bbytes="${C_BYTES[big]:-0}" -v bpackets="${C_PACKETS[big]:-0}" -v bspans="${C_SPANS[big]:-0}" -v bfile="$BIGFILE" \
    -v sbytes="${C_BYTES[small]:-0}" -v spackets="${C_PACKETS[small]:-0}" -v sspans="${C_SPANS[small]:-0}" -v sfile="$SMALLFILE" \
    -v tnote="$TSHARK_NOTE" -v ceil_t="$CEILING_TARGET" -v scale_t="$SCALING_TARGET" -v flat_t="$FLAT_TARGET" '
function median(arr, n,    i, j, t) {
    for (i = 2; i <= n; i++) { t = arr[i]; for (j = i - 1; j >= 1 && arr[j] > t; j--) arr[j + 1] = arr[j]; arr[j + 1] = t }
    return (n % 2) ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
}
function holds(ok) { return ok ? "yes" : "no" }
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
    printf "Captures (medians of %d runs):\n\n", n["kapture"]
    printf "- main: `%s`, %.0f MB, %d packets (%.0f bytes each), %d spans\n", file, bytes / 1e6, packets, bytes / packets, spans
    if (bbytes > 0) printf "- big: `%s`, %.0f MB, %d packets, %d spans (the same traffic, longer)\n", bfile, bbytes / 1e6, bpackets, bspans
    if (sbytes > 0) printf "- small: `%s`, %.0f MB, %d packets (%.0f bytes each), %d spans\n", sfile, sbytes / 1e6, spackets, sbytes / spackets, sspans
    print ""
    print "| run | wall s (median) | CPU s | MB/s | Mpackets/s | kspans/s | peak RSS MB | of which anon MB | file-backed MB |"
    print "|---|---|---|---|---|---|---|---|---|"
    for (k = 1; k <= nl; k++) {
        l = order[k]
        b = bytes; p = packets; s = spans
        if (l ~ /^small-/) { b = sbytes; p = spackets; s = sspans }
        if (l == "kapture-big") { b = bbytes; p = bpackets; s = bspans }
        sp = (l ~ /kapture/) ? sprintf("%.0f", s / wall[l] / 1e3) : "-"
        printf "| %s | %.3f | %.2f | %.0f | %.2f | %s | %.0f | %.0f | %.0f |\n", l, wall[l], cpu[l], b / 1e6 / wall[l], p / wall[l] / 1e6, sp, rss[l] / 1024, anon[l] / 1024, fb[l] / 1024
    }
    print ""
    print "| ratio | value |"
    print "|---|---|"
    # (a) end to end vs the 2-thread slicing ceiling (throughput = 1 / median wall).
    ra = 100 * wall["ceiling-2t"] / wall["kapture"]
    printf "| (a) kapture (default threads, spans to the spans dir) / slicing ceiling 2 threads, main | %.1f%% |\n", ra
    if ("small-kapture" in wall) {
        rs = 100 * wall["small-ceiling-2t"] / wall["small-kapture"]
        printf "| (a) the same, small packets | %.1f%% |\n", rs
    }
    printf "| kapture -o /dev/null / slicing ceiling 2 threads, main | %.1f%% |\n", 100 * wall["ceiling-2t"] / wall["kapture-devnull"]
    printf "| kapture -j 1 / slicing ceiling 1 thread, main | %.1f%% |\n", 100 * wall["ceiling-1t"] / wall["kapture-j1"]
    printf "| CPU: slicing ceiling 1 thread / kapture -j 1 (user + sys) | %.1f%% |\n", 100 * cpu["ceiling-1t"] / cpu["kapture-j1"]
    # (b) scaling.
    rb = wall["kapture-j1"] / wall["kapture-j2"]
    printf "| (b) kapture 2 threads / 1 thread, main | %.2fx |\n", rb
    if ("small-kapture-j1" in wall) printf "| kapture default threads / 1 thread, small packets | %.2fx |\n", wall["small-kapture-j1"] / wall["small-kapture"]
    printf "| slicing ceiling 2 threads / 1 thread, main | %.2fx |\n", wall["ceiling-1t"] / wall["ceiling-2t"]
    # (c) flatness of memory.
    if ("kapture-big" in wall) {
        rc = anon["kapture-big"] / anon["kapture"]
        printf "| (c) peak RssAnon, big / main (%.0f MB / %.0f MB, %.2fx the bytes) | %.2fx |\n", anon["kapture-big"] / 1024, anon["kapture"] / 1024, bbytes / bytes, rc
    }
    printf "| peak RssAnon / capture size, main | %.1f%% |\n", 100 * anon["kapture"] * 1024 / bytes
    # (d) standard input.
    if ("kapture-stdin" in wall) {
        printf "| (d) stdin / file, speed (file wall / stdin wall) | %.2fx |\n", wall["kapture"] / wall["kapture-stdin"]
        printf "| (d) stdin / file, peak RssAnon (%.0f MB / %.0f MB) | %.2fx |\n", anon["kapture-stdin"] / 1024, anon["kapture"] / 1024, anon["kapture-stdin"] / anon["kapture"]
    }
    if ("write-only" in wall) printf "| writing the %.0f MB output alone (cat), share of kapture wall | %.3f s, %.0f%% |\n", obytes / 1e6, wall["write-only"], 100 * wall["write-only"] / wall["kapture"]
    if ("tshark" in wall) printf "| kapture / tshark | %.1fx faster, %.2fx the peak RSS |\n", wall["tshark"] / wall["kapture"], rss["kapture"] / rss["tshark"]
    else printf "| tshark | %s |\n", tnote
    print ""
    print "Targets:"
    print ""
    printf "- (a) end to end >= %d%% of the 2-thread slicing ceiling, main: %.1f%%: %s\n", ceil_t, ra, holds(ra >= ceil_t)
    if ("small-kapture" in wall) printf "- (a) end to end >= %d%% of the 2-thread slicing ceiling, small packets: %.1f%%: %s\n", ceil_t, rs, holds(rs >= ceil_t)
    printf "- (b) 2 threads / 1 thread >= %.1fx: %.2fx: %s\n", scale_t, rb, holds(rb >= scale_t)
    if ("kapture-big" in wall) printf "- (c) memory flat (peak RssAnon big / main <= %.2f): %.2fx: %s\n", flat_t, rc, holds(rc <= flat_t)
    if ("kapture-stdin" in wall) printf "- (d) stdin memory bounded as for a file (RssAnon stdin / file <= %.2f): %.2fx: %s; speed %.2fx the file'"'"'s\n", flat_t, anon["kapture-stdin"] / anon["kapture"], holds(anon["kapture-stdin"] / anon["kapture"] <= flat_t), wall["kapture"] / wall["kapture-stdin"]
}' "$OUT/results.tsv" > "$OUT/report.md"
{ echo; echo "Machine:"; sed 's/^/    /' "$OUT/machine.txt"; } >> "$OUT/report.md"
echo
cat "$OUT/report.md"
