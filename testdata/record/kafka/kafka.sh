#!/usr/bin/env bash
# A real Apache Kafka broker (KRaft, no ZooKeeper) on 127.0.0.1, for recording test captures.
#
#   kafka.sh setup                      jars (mvn, pom.xml beside this script) + TLS keystores
#   kafka.sh start [MODE]               fresh data dir, format, start, wait until ready
#       single   one combined broker/controller: PLAINTEXT 127.0.0.1:9092, controller 9093
#       sasl     as single, but 9092 is SASL_PLAINTEXT with PLAIN (user kapture)
#       tls      as single, but 9092 is SSL (self-signed, see $TLS_DIR)
#       cluster3 three combined brokers/controllers: node 1 9092 (controller 9093),
#                node 2 9094 (9095), node 3 9096 (9097), all PLAINTEXT; replication
#                between them on 9192/9194/9196
#     sasl and tls also have a PLAINTEXT listener on 127.0.0.1:9091, used between brokers
#     and by `topic`, so that a capture of port 9092 holds only the client's traffic.
#   kafka.sh stop                       stop every node started here (by PID)
#   kafka.sh stop-node N / start-node N stop or restart one node (cluster3 failover)
#   kafka.sh status                     nodes, PIDs, mode
#   kafka.sh topic create NAME [PARTITIONS] [REPLICATION]   (also: topic describe NAME, topic list)
#   kafka.sh run CLASS [ARGS...]        a Java class on the Kafka classpath, e.g.
#       kafka.sh run org.apache.kafka.tools.ProducerPerformance --topic t ...
#   kafka.sh env                        shell variables: BOOTSTRAP, ADMIN, CLIENT_PROPS, CA_PEM
#
# Everything lives outside the repository: jars in $KAPTURE_REC_DIR/kafka/lib (default
# /opt/kapture-rec), keystores in $KAPTURE_REC_DIR/kafka/tls, data and logs in $KAFKA_RUN
# (default /tmp/kapture-kafka, wiped by every `start`). Each JVM: -Xmx512m.
# KAFKA_BASE=N (default 9092) moves every port by N - 9092, e.g. KAFKA_BASE=39092
# KAFKA_RUN=/tmp/k2 runs a second broker beside one on the default ports.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REC=${KAPTURE_REC_DIR:-/opt/kapture-rec}
LIB=$REC/kafka/lib
TLS_DIR=$REC/kafka/tls
RUN=${KAFKA_RUN:-/tmp/kapture-kafka}
HEAP=${KAFKA_HEAP:--Xmx512m -Xms256m}
# first client port; the ports below are for the default BASE=9092
BASE=${KAFKA_BASE:-9092}
STOREPASS=kapture-store
SASL_USER=kapture
# Distinctive on purpose: tests check that it never shows up in kapture's spans
SASL_PASSWORD=kapture-pw-7f3a9c
JAVA=${JAVA:-java}
export LC_ALL=C

die() { echo "kafka.sh: $*" >&2; exit 1; }
cp_() { echo "$LIB/*"; }

setup() {
    command -v "$JAVA" >/dev/null || die "no java"
    command -v mvn >/dev/null || die "no mvn"
    if ! ls "$LIB"/kafka_2.13-*.jar >/dev/null 2>&1; then
        mkdir -p "$LIB"
        echo "== kafka jars -> $LIB" >&2
        mvn -q -f "$HERE/pom.xml" dependency:copy-dependencies -DoutputDirectory="$LIB"
    fi
    if [ ! -s "$TLS_DIR/broker.p12" ] || [ ! -s "$TLS_DIR/truststore.p12" ] || [ ! -s "$TLS_DIR/ca.pem" ]; then
        echo "== self-signed keystore -> $TLS_DIR" >&2
        rm -rf "$TLS_DIR"
        mkdir -p "$TLS_DIR"
        keytool -genkeypair -alias broker -keyalg RSA -keysize 2048 -validity 3650 \
            -dname "CN=localhost" -ext "SAN=ip:127.0.0.1,dns:localhost" \
            -keystore "$TLS_DIR/broker.p12" -storetype PKCS12 -storepass "$STOREPASS" \
            -keypass "$STOREPASS" 2>/dev/null
        keytool -exportcert -rfc -alias broker -keystore "$TLS_DIR/broker.p12" \
            -storepass "$STOREPASS" -file "$TLS_DIR/ca.pem" 2>/dev/null
        keytool -importcert -noprompt -alias broker -file "$TLS_DIR/ca.pem" \
            -keystore "$TLS_DIR/truststore.p12" -storetype PKCS12 -storepass "$STOREPASS" 2>/dev/null
    fi
    ls "$LIB"/kafka_2.13-*.jar "$TLS_DIR"/ca.pem
}

need_setup() {
    ls "$LIB"/kafka_2.13-*.jar >/dev/null 2>&1 || die "run: kafka.sh setup"
    [ -s "$TLS_DIR/ca.pem" ] || die "run: kafka.sh setup"
}

jrun() { "$JAVA" -Xmx256m -cp "$(cp_)" -Dlog4j2.configurationFile="$RUN/log4j2-tools.properties" "$@"; }

write_log4j() {
    cat >"$RUN/log4j2.properties" <<'EOF'
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
EOF
    cat >"$RUN/log4j2-tools.properties" <<'EOF'
status = warn
appender.err.type = Console
appender.err.name = ERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = ERR
EOF
}

# client ports: node N -> BASE + 2(N-1), its controller -> BASE + 2(N-1) + 1
port_of() { echo $((BASE + 2 * ($1 - 1))); }
cport_of() { echo $((BASE + 2 * ($1 - 1) + 1)); }
IPORT=$((BASE - 1))

write_props() { # node mode nodes quorum
    local n=$1 mode=$2 quorum=$3 port cport dir
    port=$(port_of "$n"); cport=$(cport_of "$n"); dir=$RUN/node-$n
    mkdir -p "$dir/data" "$dir/logs"
    {
        echo "process.roles=broker,controller"
        echo "node.id=$n"
        echo "controller.quorum.bootstrap.servers=$quorum"
        echo "controller.listener.names=CONTROLLER"
        case $mode in
            sasl)
                echo "listeners=SASL_PLAINTEXT://127.0.0.1:$port,INTERNAL://127.0.0.1:$IPORT,CONTROLLER://127.0.0.1:$cport"
                echo "advertised.listeners=SASL_PLAINTEXT://127.0.0.1:$port,INTERNAL://127.0.0.1:$IPORT"
                echo "inter.broker.listener.name=INTERNAL"
                echo "sasl.enabled.mechanisms=PLAIN"
                echo "listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$SASL_USER=\"$SASL_PASSWORD\";"
                ;;
            tls)
                echo "listeners=SSL://127.0.0.1:$port,INTERNAL://127.0.0.1:$IPORT,CONTROLLER://127.0.0.1:$cport"
                echo "advertised.listeners=SSL://127.0.0.1:$port,INTERNAL://127.0.0.1:$IPORT"
                echo "inter.broker.listener.name=INTERNAL"
                echo "ssl.keystore.type=PKCS12"
                echo "ssl.keystore.location=$TLS_DIR/broker.p12"
                echo "ssl.keystore.password=$STOREPASS"
                echo "ssl.key.password=$STOREPASS"
                echo "ssl.client.auth=none"
                ;;
            cluster3)
                # replication on listeners of their own (port + 100), so that a capture of
                # the client ports holds only the clients' traffic
                echo "listeners=PLAINTEXT://127.0.0.1:$port,INTERNAL://127.0.0.1:$((port + 100)),CONTROLLER://127.0.0.1:$cport"
                echo "advertised.listeners=PLAINTEXT://127.0.0.1:$port,INTERNAL://127.0.0.1:$((port + 100))"
                echo "inter.broker.listener.name=INTERNAL"
                ;;
            *)
                echo "listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
                echo "advertised.listeners=PLAINTEXT://127.0.0.1:$port"
                echo "inter.broker.listener.name=PLAINTEXT"
                ;;
        esac
        echo "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT"
        echo "log.dirs=$dir/data"
        local rf=1
        [ "$mode" = cluster3 ] && rf=3
        echo "num.partitions=1"
        echo "default.replication.factor=$rf"
        echo "offsets.topic.replication.factor=$rf"
        echo "offsets.topic.num.partitions=3"
        echo "transaction.state.log.replication.factor=$rf"
        echo "transaction.state.log.min.isr=1"
        echo "transaction.state.log.num.partitions=3"
        echo "share.coordinator.state.topic.replication.factor=$rf"
        echo "share.coordinator.state.topic.min.isr=1"
        echo "group.initial.rebalance.delay.ms=0"
        echo "auto.create.topics.enable=false"
        echo "log.segment.bytes=16777216"
        echo "num.network.threads=2"
        echo "num.io.threads=2"
        echo "background.threads=2"
        # no client telemetry plugin on the broker: GetTelemetrySubscriptions answers, and
        # the Java client stops there
    } >"$dir/server.properties"
}

start_node() { # n
    local n=$1 dir=$RUN/node-$n
    [ -f "$dir/server.properties" ] || die "node $n not set up (kafka.sh start first)"
    if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
        echo "node $n already running (pid $(cat "$dir/pid"))" >&2; return 0
    fi
    : >"$dir/logs/server.log"
    # shellcheck disable=SC2086
    nohup "$JAVA" $HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
        -Dkafka.logs.dir="$dir/logs" -Dlog4j2.configurationFile="$RUN/log4j2.properties" \
        -cp "$(cp_)" kafka.Kafka "$dir/server.properties" >"$dir/logs/stdout.log" 2>&1 &
    echo $! >"$dir/pid"
}

wait_node() { # n: until the log says the server started (at most 120 s)
    local n=$1 dir=$RUN/node-$n i
    for i in $(seq 1 240); do
        grep -q "Kafka Server started" "$dir/logs/server.log" 2>/dev/null && return 0
        kill -0 "$(cat "$dir/pid")" 2>/dev/null || { tail -30 "$dir/logs/stdout.log" "$dir/logs/server.log" >&2; die "node $n died"; }
        sleep 0.5
    done
    die "node $n did not start in 120 s (see $dir/logs)"
}

nodes() { ls -d "$RUN"/node-* 2>/dev/null | sed 's/.*node-//' | sort -n; }

stop_node() { # n: SIGTERM, at most 30 s, then SIGKILL
    local n=$1 pid f=$RUN/node-$1/pid i
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    fi
    rm -f "$f"
}

stop_all() {
    local n
    [ -d "$RUN" ] || return 0
    for n in $(nodes); do stop_node "$n"; done
}

start() {
    local mode=${1:-single} cid n quorum ids="" t0 t1
    need_setup
    case $mode in single|sasl|tls|cluster3) ;; *) die "unknown mode $mode" ;; esac
    stop_all
    rm -rf "$RUN"
    mkdir -p "$RUN"
    echo "$mode" >"$RUN/mode"
    write_log4j
    cid=$(jrun kafka.tools.StorageTool random-uuid)
    if [ "$mode" = cluster3 ]; then
        quorum="127.0.0.1:$(cport_of 1),127.0.0.1:$(cport_of 2),127.0.0.1:$(cport_of 3)"
        for n in 1 2 3; do
            write_props "$n" "$mode" "$quorum"
            ids="$ids${ids:+,}$n@127.0.0.1:$(cport_of "$n"):$(jrun kafka.tools.StorageTool random-uuid)"
        done
        for n in 1 2 3; do
            jrun kafka.tools.StorageTool format -t "$cid" -c "$RUN/node-$n/server.properties" \
                --initial-controllers "$ids" >/dev/null
        done
    else
        write_props 1 "$mode" "127.0.0.1:$(cport_of 1)"
        jrun kafka.tools.StorageTool format -t "$cid" -c "$RUN/node-1/server.properties" --standalone >/dev/null
    fi
    t0=$(date +%s.%N)
    for n in $(nodes); do start_node "$n"; done
    for n in $(nodes); do wait_node "$n"; done
    t1=$(date +%s.%N)
    client_props "$mode"
    printf 'kafka %s started in %.1f s (%s nodes, data in %s)\n' "$mode" "$(echo "$t1 - $t0" | bc)" "$(nodes | wc -l)" "$RUN" >&2
}

client_props() { # the client config for the mode's 9092 listener
    local mode=$1 f=$RUN/client.properties
    case $mode in
        sasl)
            cat >"$f" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$SASL_USER" password="$SASL_PASSWORD";
EOF
            ;;
        tls)
            cat >"$f" <<EOF
security.protocol=SSL
ssl.truststore.type=PKCS12
ssl.truststore.location=$TLS_DIR/truststore.p12
ssl.truststore.password=$STOREPASS
EOF
            ;;
        *) echo "security.protocol=PLAINTEXT" >"$f" ;;
    esac
}

admin_bootstrap() {
    local mode
    mode=$(cat "$RUN/mode" 2>/dev/null || echo single)
    case $mode in
        sasl|tls) echo "127.0.0.1:$IPORT" ;;
        cluster3) echo "127.0.0.1:$(port_of 1),127.0.0.1:$(port_of 2),127.0.0.1:$(port_of 3)" ;;
        *) echo "127.0.0.1:$(port_of 1)" ;;
    esac
}

topic() {
    local verb=${1:-} name=${2:-} parts=${3:-1} rf=${4:-}
    [ -n "$rf" ] || { [ "$(cat "$RUN/mode" 2>/dev/null)" = cluster3 ] && rf=3 || rf=1; }
    case $verb in
        create) [ -n "$name" ] || die "topic create NAME [PARTITIONS] [REPLICATION]"
                jrun org.apache.kafka.tools.TopicCommand --bootstrap-server "$(admin_bootstrap)" \
                    --create --topic "$name" --partitions "$parts" --replication-factor "$rf" ;;
        describe) jrun org.apache.kafka.tools.TopicCommand --bootstrap-server "$(admin_bootstrap)" \
                    --describe ${name:+--topic "$name"} ;;
        list) jrun org.apache.kafka.tools.TopicCommand --bootstrap-server "$(admin_bootstrap)" --list ;;
        *) die "topic create|describe|list" ;;
    esac
}

status() {
    local n pid
    [ -d "$RUN" ] || { echo "not started"; return 0; }
    echo "mode $(cat "$RUN/mode" 2>/dev/null)"
    for n in $(nodes); do
        pid=$(cat "$RUN/node-$n/pid" 2>/dev/null || true)
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            echo "node $n port $(port_of "$n") pid $pid running"
        else
            echo "node $n port $(port_of "$n") stopped"
        fi
    done
}

env_() {
    local mode
    mode=$(cat "$RUN/mode" 2>/dev/null || echo single)
    if [ "$mode" = cluster3 ]; then echo "BOOTSTRAP=127.0.0.1:$(port_of 1),127.0.0.1:$(port_of 2),127.0.0.1:$(port_of 3)"
    else echo "BOOTSTRAP=127.0.0.1:$(port_of 1)"; fi
    echo "ADMIN=$(admin_bootstrap)"
    echo "CLIENT_PROPS=$RUN/client.properties"
    echo "CA_PEM=$TLS_DIR/ca.pem"
    echo "SASL_USER=$SASL_USER"
    echo "SASL_PASSWORD=$SASL_PASSWORD"
    echo "CLASSPATH='$LIB/*'"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
    setup) setup ;;
    start) start "$@" ;;
    stop) stop_all ;;
    stop-node) stop_node "${1:?node}" ;;
    start-node) start_node "${1:?node}"; wait_node "$1" ;;
    status) status ;;
    topic) topic "$@" ;;
    run) [ $# -gt 0 ] || die "run CLASS [ARGS...]"; jrun "$@" ;;
    env) env_ ;;
    *) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
