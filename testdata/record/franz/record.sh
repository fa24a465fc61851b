#!/usr/bin/env bash
# Records testdata/franz.pcap: franz-go (kgo) producing 360 records to a 3-partition topic
# on a real Apache Kafka 4.1 broker (KRaft, single node, 127.0.0.1:9092) and consuming
# them back, with kgo's own broker hooks written beside the capture:
#
#   testdata/franz.pcap            tcpdump on lo, nanosecond timestamps, tcp port 9092
#   testdata/franz.hooks.jsonl     every OnBrokerConnect/Write/Read/E2E call (main.go)
#   testdata/franz.hookspans.jsonl the hook spans, OTLP JSON Lines (main.go)
#   testdata/franz.tshark.tsv      tshark 4.4's decode (testdata/record/tshark.sh)
#
#   testdata/record/franz/record.sh
#
# Needs: go (the module proxy, for franz-go), java 17, tcpdump, and the broker's jars
# (testdata/record/kafka/kafka.sh setup). Everything built or downloaded lives outside
# the repository: the program in $KAPTURE_REC_DIR/franz, the broker's data in a
# temporary directory. Every step is bounded in time.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TD=$(cd "$HERE/../.." && pwd)
REC=${KAPTURE_REC_DIR:-/opt/kapture-rec}
KAFKA_SH="$HERE/../kafka/kafka.sh"
# A data directory of its own, so that a broker started elsewhere with kafka.sh is
# never wiped or stopped by this script
export KAFKA_RUN=${KAFKA_RUN:-/tmp/kapture-kafka-franz}
TOPIC=kapture-franz
PORT=9092

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if port_open "$PORT"; then
    echo "something already listens on 127.0.0.1:$PORT: stop it first" >&2
    exit 1
fi

echo "== building the franz-go program" >&2
mkdir -p "$REC/franz"
(cd "$HERE" && GOFLAGS=-mod=readonly go build -o "$REC/franz/franz" .)

tcpdump_pid=
cleanup() {
    [ -n "$tcpdump_pid" ] && kill -INT "$tcpdump_pid" 2>/dev/null || true
    "$KAFKA_SH" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== starting the broker" >&2
"$KAFKA_SH" setup >/dev/null
"$KAFKA_SH" start single
"$KAFKA_SH" topic create "$TOPIC" 3

echo "== recording" >&2
tmp=$(mktemp -d)
tcpdump -i lo -B 131072 -U --immediate-mode --time-stamp-precision=nano \
    -w "$tmp/franz.pcap" "tcp port $PORT" 2>"$tmp/tcpdump.err" &
tcpdump_pid=$!
# Start the client only once tcpdump says it is capturing (on a busy machine that can
# take over a second), so that the capture holds every connection from its SYN
for _ in $(seq 100); do
    grep -q 'listening on' "$tmp/tcpdump.err" && break
    sleep 0.1
done
grep -q 'listening on' "$tmp/tcpdump.err" || { echo "tcpdump did not start" >&2; exit 1; }
sleep 1
timeout 120 "$REC/franz/franz" -brokers "127.0.0.1:$PORT" -topic "$TOPIC" \
    -hooks "$tmp/franz.hooks.jsonl" -spans "$tmp/franz.hookspans.jsonl" -timeout 90s
sleep 0.5
kill -INT "$tcpdump_pid"
wait "$tcpdump_pid" || true
tcpdump_pid=
cat "$tmp/tcpdump.err" >&2
grep packets "$tmp/tcpdump.err" >"$HERE/tcpdump-stats.txt"
if ! grep -q '^0 packets dropped by kernel' "$tmp/tcpdump.err"; then
    echo "tcpdump dropped packets: record again" >&2
    exit 1
fi

# The first packet must be a client's SYN: nothing of the run is missing
first=$(tcpdump -nn -r "$tmp/franz.pcap" -c 1 2>/dev/null)
case $first in
    *"> 127.0.0.1.$PORT: Flags [S],"*) ;;
    *) echo "the capture starts late: $first" >&2; exit 1 ;;
esac

echo "== stopping the broker" >&2
"$KAFKA_SH" stop

cp "$tmp/franz.pcap" "$tmp/franz.hooks.jsonl" "$tmp/franz.hookspans.jsonl" "$TD/"
rm -rf "$tmp"
"$TD/record/tshark.sh" franz.pcap
ls -l "$TD"/franz.* >&2
