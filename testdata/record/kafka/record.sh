#!/usr/bin/env bash
# Record captures of the Java client (kafka-clients 4.1.2) against Apache Kafka 4.1.2.
#
#   testdata/record/kafka/kafka.sh setup       # once: jars and keystores
#   testdata/record/kafka/record.sh            # every capture below
#   testdata/record/kafka/record.sh java-txn   # only these
#
# Captures (testdata/<name>.pcap):
#   java-producer      idempotent producer, lz4 then zstd, 4 partitions
#   java-group-848     consumer group on group.protocol=consumer (ConsumerGroupHeartbeat)
#   java-group-classic consumer group on group.protocol=classic (JoinGroup/SyncGroup/Heartbeat)
#   java-txn           transactional producer (commit, abort, commit) + read_committed consumer
#   java-failover      3-broker cluster; a broker stopped while a producer runs
#   java-sasl          SASL_PLAINTEXT with PLAIN on 9092
#   tls-java           SSL on 9092 (named tls-* like tls-9092: no Kafka is readable in it)
#
# Each capture gets a fresh broker (kafka.sh start), its topics are made before tcpdump
# starts (on another listener or connection), tcpdump (on lo, only the client ports) is
# stopped with SIGINT when the clients are done. Clients are bounded in records and time.
# tcpdump's counters go to kafka/tcpdump-stats.txt; a capture with drops fails.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$(cd "$HERE/../.." && pwd)}
REC=${KAPTURE_REC_DIR:-/opt/kapture-rec}
LIB=$REC/kafka/lib
CLASSES=$REC/kafka/rec-classes
KSH=$HERE/kafka.sh
STATS=$HERE/tcpdump-stats.txt
WORK=$(mktemp -d /tmp/kapture-kafka-record.XXXXXX)
TD_PID=

log() { echo "[record] $*" >&2; }

cleanup() {
    set +e
    if [ -n "$TD_PID" ]; then kill -INT "$TD_PID" 2>/dev/null; wait "$TD_PID" 2>/dev/null; fi
    "$KSH" stop
    rm -rf "$WORK"
}
trap cleanup EXIT

ls "$LIB"/kafka-clients-*.jar >/dev/null 2>&1 || { echo "run kafka.sh setup first" >&2; exit 1; }
command -v tcpdump >/dev/null || { echo "no tcpdump" >&2; exit 1; }
mkdir -p "$CLASSES"
if [ ! -f "$CLASSES/Rec.class" ] || [ "$HERE/Rec.java" -nt "$CLASSES/Rec.class" ]; then
    javac -nowarn -cp "$LIB/*" -d "$CLASSES" "$HERE/Rec.java"
fi

rec() { timeout 90 java -Xmx256m -cp "$CLASSES:$LIB/*" \
    -Dlog4j2.configurationFile="${KAFKA_RUN:-/tmp/kapture-kafka}/log4j2-tools.properties" Rec "$@"; }

cap_start() { # file filter
    CAP_ERR=$WORK/tcpdump.err
    tcpdump -i lo -B 131072 -U --immediate-mode -w "$1" "$2" 2>"$CAP_ERR" &
    TD_PID=$!
    for _ in $(seq 100); do
        grep -q 'listening on' "$CAP_ERR" && { sleep 0.3; return 0; }
        kill -0 "$TD_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "tcpdump did not start:" >&2; cat "$CAP_ERR" >&2; return 1
}

cap_stop() { # name
    sleep 0.5
    kill -INT "$TD_PID"; wait "$TD_PID" || true; TD_PID=
    local stats dropped
    stats=$(grep -E 'packets (captured|received|dropped)' "$CAP_ERR" | tr '\n' ';' | sed 's/;$//')
    sed -i "/^$1: /d" "$STATS" 2>/dev/null || true
    echo "$1: $stats" >>"$STATS"
    log "$1: $stats"
    dropped=$(grep -Eo '[0-9]+ packets dropped by (kernel|interface)' "$CAP_ERR" | awk '{s+=$1} END {print s+0}')
    [ "$dropped" = 0 ] || { log "$1: tcpdump dropped $dropped packets"; return 1; }
}

B=127.0.0.1:9092

rec_java-producer() {
    "$KSH" start single
    "$KSH" topic create jp 4
    cap_start "$OUT/java-producer.pcap" "tcp port 9092"
    rec produce "$B" jp 40 lz4
    rec produce "$B" jp 40 zstd
    cap_stop java-producer
}

group_capture() { # name protocol
    "$KSH" start single
    "$KSH" topic create orders 3
    rec produce "$B" orders 30 none >/dev/null   # before tcpdump starts
    cap_start "$OUT/$1.pcap" "tcp port 9092"
    rec consume "$B" orders "kapture-$2" "$2" 30
    cap_stop "$1"
}
rec_java-group-848() { group_capture java-group-848 consumer; }
rec_java-group-classic() { group_capture java-group-classic classic; }

rec_java-txn() {
    "$KSH" start single
    "$KSH" topic create txn 2
    cap_start "$OUT/java-txn.pcap" "tcp port 9092"
    rec txn "$B" txn kapture-tx 5
    rec committed "$B" txn kapture-rc 10
    cap_stop java-txn
}

rec_java-failover() {
    "$KSH" start cluster3
    "$KSH" topic create fo 3 3
    "$KSH" topic describe fo >"$WORK/before.txt"
    cap_start "$OUT/java-failover.pcap" "tcp port 9092 or tcp port 9094 or tcp port 9096"
    rec steady 127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096 fo 16 &
    local pid=$!
    sleep 6
    log "stopping node 2 (controlled shutdown) while the producer runs"
    "$KSH" stop-node 2
    wait "$pid"
    cap_stop java-failover
    cat "$WORK/before.txt" >&2
    "$KSH" topic describe fo >&2
}

rec_java-sasl() {
    "$KSH" start sasl
    "$KSH" topic create sasl 1
    local props=${KAFKA_RUN:-/tmp/kapture-kafka}/client.properties
    cap_start "$OUT/java-sasl.pcap" "tcp port 9092"
    rec produce "$B" sasl 5 none "$props"
    rec consume "$B" sasl kapture-sasl consumer 5 "$props"
    cap_stop java-sasl
}

rec_tls-java() {
    "$KSH" start tls
    "$KSH" topic create tls 1
    local props=${KAFKA_RUN:-/tmp/kapture-kafka}/client.properties
    cap_start "$OUT/tls-java.pcap" "tcp port 9092"
    rec produce "$B" tls 5 none "$props"
    cap_stop tls-java
}

ALL=(java-producer java-group-848 java-group-classic java-txn java-failover java-sasl tls-java)
[ $# -gt 0 ] || set -- "${ALL[@]}"
for name in "$@"; do
    declare -F "rec_$name" >/dev/null || { echo "unknown capture $name (${ALL[*]})" >&2; exit 2; }
    log "== $name"
    "rec_$name"
    "$KSH" stop
    ls -l "$OUT/$name.pcap" >&2
done
