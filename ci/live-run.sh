#!/usr/bin/env bash
# A live run: a real Apache Kafka broker (testdata/record/kafka/kafka.sh, Kafka 4.1.2,
# KRaft, 127.0.0.1), a real producer at a steady rate and a real consumer, captured as
# it happens by `tcpdump -i lo -U -w - 'tcp port P' | kapture - --port P`, and checked:
#
#   1. kapture exits 0 or 1 after tcpdump is stopped with SIGINT (the end of the pipe);
#   2. every line of its output (stdout, into a file) is JSON, with Produce and Fetch spans (names starting
#      "produce " / "fetch ");
#   3. spans come out while the capture goes on, not only at its end: the output is
#      non-empty a third of the way into the run, and larger at the run's end (before
#      tcpdump is stopped) than two thirds of the way in;
#   4. memory stays flat. kapture's RssAnon (/proc/PID/status) is sampled every second
#      of the run (DURATION seconds from the producer's start). With a warm-up
#      W = min(20 s, DURATION / 3): the rule is
#          max RssAnon over DURATION/2 <= t <= DURATION
#            <= 1.25 x max RssAnon over W <= t < DURATION/2
#
#   LIVE_SECONDS   DURATION (default 60; 3600 for the one-hour run, by hand)
#   LIVE_RATE      producer records per second (default 200, 512-byte records, acks=1)
#   KAPTURE        the kapture binary (default: cargo build --release, target/release/kapture)
#   LIVE_WORK      where the spans, summary, samples (CSV) and logs are left
#                  (default /tmp/kapture-live-run, wiped at the start)
#   LIVE_KEEP_CAPTURE=1  also keep what kapture read as $LIVE_WORK/capture.pcap
#   KAPTURE_REC_DIR  the Kafka jars' cache (default ~/.cache/kapture-rec; `kafka.sh
#                  setup` fetches them once with mvn)
#
# Needs root (tcpdump on lo), java 17+, mvn, tcpdump and python3; installs the missing
# ones with apt-get. The broker runs on ports 39092/39093 from $KAFKA_RUN
# (/tmp/kapture-live-kafka), beside any other recording broker. Every wait is bounded;
# every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

duration=${LIVE_SECONDS:-60}
rate=${LIVE_RATE:-200}
record_size=512
work=${LIVE_WORK:-/tmp/kapture-live-run}
export KAPTURE_REC_DIR=${KAPTURE_REC_DIR:-${HOME:-/root}/.cache/kapture-rec}
export KAFKA_RUN=/tmp/kapture-live-kafka
export KAFKA_BASE=39092
port=$KAFKA_BASE
topic=kapture-live
kafka=$root/testdata/record/kafka/kafka.sh

[[ $duration =~ ^[0-9]+$ ]] && [ "$duration" -ge 9 ] || { echo "LIVE_SECONDS must be a whole number >= 9"; exit 1; }
[[ $rate =~ ^[0-9]+$ ]] && [ "$rate" -ge 1 ] || { echo "LIVE_RATE must be a whole number >= 1"; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "live-run.sh needs root (tcpdump on lo)"; exit 1; }

t0=$SECONDS
stamp() { echo "[$((SECONDS - t0)) s] $*"; }

# Tools: what a fresh CI machine lacks comes from apt.
missing=()
command -v java >/dev/null || missing+=(default-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v tcpdump >/dev/null || missing+=(tcpdump)
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
    stamp "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ -z "${KAPTURE:-}" ]; then
    cargo build --release --locked --quiet
    KAPTURE=$root/target/release/kapture
fi
[ -x "$KAPTURE" ] || { echo "no kapture binary at $KAPTURE"; exit 1; }

rm -rf "$work"
mkdir -p "$work"
spans=$work/spans.jsonl
summary=$work/summary.txt
samples=$work/samples.csv

# Process groups (setsid) of the clients, and the pids of tcpdump and kapture.
groups=()
tcpdump_pid=""
kapture_pid=""
cleanup() {
    local g p
    [ -n "$tcpdump_pid" ] || tcpdump_pid=$(cat "$work/tcpdump.pid" 2>/dev/null || true)
    for g in "${groups[@]}"; do kill -TERM -- "-$g" 2>/dev/null || true; done
    for p in $tcpdump_pid $kapture_pid; do kill -TERM "$p" 2>/dev/null || true; done
    bash "$kafka" stop >/dev/null 2>&1 || true
    for g in "${groups[@]}"; do kill -KILL -- "-$g" 2>/dev/null || true; done
    for p in $tcpdump_pid $kapture_pid; do kill -KILL "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# client NAME CLASS ARGS...: a Kafka tool in its own process group, for DURATION + 10
# minutes at most.
client() {
    local name=$1
    shift
    setsid timeout $((duration + 600)) bash "$kafka" run "$@" >"$work/$name.log" 2>&1 &
    groups+=("$!")
}

# alive PID: the process runs (a zombie counts as gone).
alive() { [ -e "/proc/$1/status" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

# wait_gone PID SECONDS: until PID has ended, at most SECONDS; fails if it has not.
wait_gone() {
    local i
    for i in $(seq 1 $(($2 * 10))); do
        alive "$1" || return 0
        sleep 0.1
    done
    ! alive "$1"
}

echo "== Kafka broker (jars cached in $KAPTURE_REC_DIR)"
bash "$kafka" setup >/dev/null
bash "$kafka" start single
bash "$kafka" topic create "$topic" 3 1 >/dev/null
stamp "broker on 127.0.0.1:$port, topic $topic (3 partitions)"

echo "== tcpdump -i lo -U -w - 'tcp port $port' | kapture - --port $port"
# tcpdump's status goes to a file, so that the pipeline's status is kapture's.
tcpdump_to_stdout() {
    ( tcpdump -i lo -U -w - "tcp port $port" 2>"$work/tcpdump.log" &
      echo $! >"$work/tcpdump.pid"
      rc=0
      wait $! || rc=$?
      echo "$rc" >"$work/tcpdump.rc"
    )
}
# Spans to stdout, as in the README's live example: -o FILE would be written under a
# temporary name and renamed at the end, so its size would say nothing while it runs.
# No summary: its latency statistics keep every exchange's phase times (exact
# percentiles, about 75 bytes per exchange), which is not the streaming state this run
# checks. The exchanges are counted from the spans.
kapture_args=(- --port "$port" --summary off)
if [ "${LIVE_KEEP_CAPTURE:-0}" = 1 ]; then
    tcpdump_to_stdout | tee "$work/capture.pcap" | "$KAPTURE" "${kapture_args[@]}" >"$spans" 2>"$summary" &
else
    tcpdump_to_stdout | "$KAPTURE" "${kapture_args[@]}" >"$spans" 2>"$summary" &
fi
kapture_pid=$!
for _ in $(seq 1 100); do
    [ -s "$work/tcpdump.pid" ] && grep -q '^tcpdump: listening on' "$work/tcpdump.log" && break
    sleep 0.1
done
grep -q '^tcpdump: listening on' "$work/tcpdump.log" || { cat "$work/tcpdump.log"; echo "tcpdump did not start"; exit 1; }
tcpdump_pid=$(cat "$work/tcpdump.pid")
[ "$(cat "/proc/$kapture_pid/comm")" = kapture ] || { echo "pid $kapture_pid is not kapture"; exit 1; }
stamp "tcpdump $tcpdump_pid listening, kapture $kapture_pid reading its output"

echo "== consumer and producer: $rate records/s of $record_size bytes for $duration s"
records=$((duration * rate))
# The consumer starts first and long-polls until the records come; it ends when it has
# read them all, or after 60 s without any.
client consumer org.apache.kafka.tools.consumer.ConsoleConsumer \
    --bootstrap-server "127.0.0.1:$port" --topic "$topic" --group kapture-live \
    --from-beginning --max-messages "$records" --timeout-ms 60000
consumer_group=${groups[-1]}
client producer org.apache.kafka.tools.ProducerPerformance \
    --topic "$topic" --num-records "$records" --record-size "$record_size" --throughput "$rate" \
    --producer-props "bootstrap.servers=127.0.0.1:$port" acks=1 client.id=kapture-live-producer
producer_group=${groups[-1]}

# One sample a second: seconds since the producer started, kapture's RssAnon (kB), the
# size of its output so far (bytes).
echo "t_s,rss_anon_kb,spans_bytes" >"$samples"
start_ns=$(date +%s%N)
for i in $(seq 1 "$duration"); do
    # sleep until i seconds after the start, so that the samples do not drift
    now_ns=$(date +%s%N)
    sleep_ns=$((start_ns + i * 1000000000 - now_ns))
    [ "$sleep_ns" -le 0 ] || sleep "$(printf '%d.%09d' $((sleep_ns / 1000000000)) $((sleep_ns % 1000000000)))"
    alive "$kapture_pid" || { tail -n 20 "$summary"; echo "kapture ended during the run (at $i s)"; exit 1; }
    alive "$tcpdump_pid" || { tail -n 20 "$work/tcpdump.log"; echo "tcpdump ended during the run (at $i s)"; exit 1; }
    rss=$(awk '/^RssAnon:/ { print $2 }' "/proc/$kapture_pid/status")
    bytes=$(stat -c %s "$spans" 2>/dev/null || echo 0)
    elapsed_ms=$((($(date +%s%N) - start_ns) / 1000000))
    printf '%d.%03d,%s,%s\n' $((elapsed_ms / 1000)) $((elapsed_ms % 1000)) "$rss" "$bytes" >>"$samples"
    if [ $((i % 10)) -eq 0 ] || [ "$i" -eq "$duration" ]; then
        stamp "t=$i s: kapture RssAnon $rss kB, spans file $bytes bytes"
    fi
done

# The producer ends about now (all records sent at the rate), the consumer once it has
# read them; then tcpdump is stopped, which ends kapture's input.
wait_gone "$producer_group" 120 || { tail -n 5 "$work/producer.log"; echo "the producer did not finish"; exit 1; }
wait_gone "$consumer_group" 90 || { tail -n 5 "$work/consumer.log"; echo "the consumer did not finish"; exit 1; }
stamp "producer: $(tail -n 1 "$work/producer.log")"
stamp "consumer: $(grep -h 'Processed a total' "$work/consumer.log" || tail -n 1 "$work/consumer.log")"
sleep 1
kill -INT "$tcpdump_pid"
wait_gone "$tcpdump_pid" 10 || { kill -TERM "$tcpdump_pid"; wait_gone "$tcpdump_pid" 5; }
wait_gone "$kapture_pid" 60 || { echo "kapture did not end within 60 s of the end of its input"; exit 1; }
status=0
wait "$kapture_pid" || status=$?
kapture_pid=""
stamp "tcpdump: $(grep -E 'packets (captured|dropped by kernel)' "$work/tcpdump.log" | paste -sd ',' -)"
[ "$status" -le 1 ] || { tail -n 20 "$summary"; echo "kapture exited with status $status"; exit 1; }
grep -q '^0 packets dropped by kernel' "$work/tcpdump.log" || echo "warning: tcpdump dropped packets"

echo "== checks"
python3 - "$spans" "$summary" "$samples" "$duration" "$status" "$rate" <<'EOF'
import csv, json, os, sys

spans_path, summary_path, samples_path = sys.argv[1:4]
duration, status, rate = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
failures = []

names = {}
with open(spans_path) as f:
    for number, line in enumerate(f, 1):
        try:
            doc = json.loads(line)
        except ValueError as e:
            sys.exit(f"{spans_path}:{number}: not JSON: {e}")
        for rs in doc["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for span in ss["spans"]:
                    kind = span["name"].split(" ")[0]
                    names[kind] = names.get(kind, 0) + 1
spans = sum(names.values())
for kind in ("produce", "fetch"):
    if names.get(kind, 0) == 0:
        failures.append(f"no {kind} spans (span names: {names})")

exchanges = spans
packets = None

rows = [(float(r["t_s"]), int(r["rss_anon_kb"]), int(r["spans_bytes"]))
        for r in csv.DictReader(open(samples_path))]
warmup = min(20.0, duration / 3)
half = duration / 2
first = [rss for t, rss, _ in rows if warmup <= t < half]
second = [rss for t, rss, _ in rows if t >= half]
if not first or not second:
    sys.exit(f"too few samples: {len(first)} in the first half, {len(second)} in the second")
first_max, second_max = max(first), max(second)
ratio = second_max / first_max
if ratio > 1.25:
    failures.append(f"memory grew: RssAnon max {second_max} kB in the second half > 1.25 x "
                    f"{first_max} kB in the first (after {warmup:.0f} s)")

def size_at(fraction):
    # the last sample taken at or before fraction x the run
    return max((b for t, _, b in rows if t <= duration * fraction + 0.5), default=0)

third, two_thirds, end = size_at(1 / 3), size_at(2 / 3), rows[-1][2]
if third == 0:
    failures.append("no spans written in the first third of the run")
if end <= two_thirds:
    failures.append(f"no spans written in the last third of the run ({two_thirds} bytes at 2/3, {end} at the end)")

total_bytes = os.path.getsize(spans_path)
print(f"live run {duration} s at {rate} records/s: kapture exit {status}; "
      f"RssAnon max {first_max} kB ({warmup:.0f}-{half:.0f} s), {second_max} kB ({half:.0f}-{duration} s), "
      f"ratio {ratio:.3f} (limit 1.25); spans {spans} ({names.get('produce', 0)} produce, "
      f"{names.get('fetch', 0)} fetch); output {total_bytes} bytes "
      f"({third} at 1/3, {two_thirds} at 2/3, {end} at the end of the run); "
      "")
for failure in failures:
    print("FAIL:", failure)
sys.exit(1 if failures else 0)
EOF
stamp "live run passed (samples in $samples)"
