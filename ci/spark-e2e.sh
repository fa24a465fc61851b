#!/usr/bin/env bash
# contrib/spark/kapture_spark.py on Spark local[2] over rotated captures of two
# "hosts", checked against kapture itself:
#
#   1. testdata/netem.pcap and testdata/group-confluent.pcap are cut into 4 rotated
#      pieces each (tcpdump -C names: host.pcap, host.pcap1, ...); connections span
#      pieces;
#   2. the driver runs (--read direct); each host's part file equals, byte for byte,
#      `kapture --continuous` over that host's pieces, and the union of part files
#      equals the union of those runs as sorted sets of span lines;
#   3. the driver's merged summary equals `kapture summary-merge` of the single runs'
#      summaries, and its counts are the sums of theirs;
#   4. again with the inputs read through Spark (binaryFiles, as for s3a:// or hdfs://)
#      and kapture killed (SIGKILL) on the first attempt of one task, retried by Spark
#      (local[2,2]: two attempts per task): the output directory is byte-identical and
#      no temporary file is left.
#
# PySpark comes from contrib/spark/requirements.txt through ci/spark-venv.sh (a venv
# cached under ~/.cache/kapture-spark). Needs java 17+ and python3.
#   SPARK_E2E_WORK   where pieces and outputs go (default /tmp/kapture-spark-e2e, wiped)
#   KAPTURE          the kapture binary (default: cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
t0=$SECONDS
work=${SPARK_E2E_WORK:-/tmp/kapture-spark-e2e}
rm -rf "$work"
mkdir -p "$work/in"

if [ -z "${KAPTURE:-}" ]; then
    cargo build --release --quiet
    KAPTURE=$root/target/release/kapture
fi
command -v java >/dev/null || {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends openjdk-17-jre-headless >/dev/null
}
python=$(bash ci/spark-venv.sh)
echo "spark e2e: PySpark $("$python" -c 'import pyspark; print(pyspark.__version__)') ready after $((SECONDS - t0)) s"

split=contrib/spark/split_pcap.py
python3 "$split" testdata/netem.pcap "$work/in" broker-a 4
python3 "$split" testdata/group-confluent.pcap "$work/in" broker-b 4
seed=7
for host in broker-a broker-b; do
    pieces=("$work/in/$host.pcap" "$work/in/$host.pcap1" "$work/in/$host.pcap2" "$work/in/$host.pcap3")
    status=0
    "$KAPTURE" --continuous -q --id-seed "$seed" --api all -o "$work/$host.jsonl" \
        --summary json --summary-file "$work/$host.summary.json" -- "${pieces[@]}" || status=$?
    [ "$status" -le 1 ] || { echo "kapture --continuous on $host: status $status"; exit 1; }
done

export SPARK_LOCAL_IP=127.0.0.1 PYSPARK_PYTHON=$python
driver() {  # driver LOG_PREFIX ARGS...
    local log=$1
    shift
    "$python" contrib/spark/kapture_spark.py --master 'local[2,2]' --kapture "$KAPTURE" \
        --id-seed "$seed" "$@" -- --api all > "$log.stdout" 2> "$log.stderr" ||
        { tail -n 40 "$log.stderr"; echo "the driver failed"; exit 1; }
}
run1=$work/out1
driver "$run1" "file://$work/in" "file://$run1" --read direct
cat "$run1.stdout" | head -n 3

fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; else echo "ok: $1"; fi; }
# Groups are numbered in sorted order: broker-a is part 0, broker-b part 1.
check "part-00000.jsonl = kapture --continuous over broker-a's pieces" \
    "cmp -s '$run1/part-00000.jsonl' '$work/broker-a.jsonl'"
check "part-00001.jsonl = kapture --continuous over broker-b's pieces" \
    "cmp -s '$run1/part-00001.jsonl' '$work/broker-b.jsonl'"
check "union of part files = union of single runs (sorted span lines)" \
    "cmp -s <(cat '$run1'/part-*.jsonl | sort) <(cat '$work'/broker-?.jsonl | sort)"
check "some spans were written" "[ \$(cat '$run1'/part-*.jsonl | grep -o '\"spanId\"' | wc -l) -gt 50 ]"
"$KAPTURE" summary-merge --summary json -o "$work/expected-summary.json" \
    "$work/broker-a.summary.json" "$work/broker-b.summary.json"
check "merged summary = summary-merge of the single runs' summaries" \
    "cmp -s '$run1/summary.json' '$work/expected-summary.json'"
check "merged counts = sums of the single runs'" "python3 - '$run1/summary.json' '$work'/broker-?.summary.json <<'EOF'
import json, sys
m, *singles = [json.load(open(p)) for p in sys.argv[1:]]
for k in ('files', 'packets', 'capture_bytes', 'spans'):
    assert m[k] == sum(s[k] for s in singles), k
for k in ('found', 'emitted', 'paired', 'not_captured', 'kafka_errors'):
    assert m['exchanges'][k] == sum(s['exchanges'][k] for s in singles), k
assert m['exchanges']['found'] > 0
EOF"

run2=$work/out2
KAPTURE_SPARK_FAIL_ONCE=1 driver "$run2" "file://$work/in" "file://$run2" --read spark
check "the killed task was retried" "grep -q 'group 1 (broker-b) succeeded on attempt 2' '$run2.stderr'"
check "rerun with a killed attempt, inputs through binaryFiles: output byte-identical" \
    "diff -r '$run1' '$run2' >/dev/null"
check "no temporary file left" "[ -z \"\$(ls -A '$run2' | grep '^\\.')\" ]"

# A host whose capture is not a capture: reported as bad input, not retried, the
# driver exits 1.
mkdir -p "$work/bad"
printf 'not a capture at all\n' > "$work/bad/broker-c.pcap"
status=0
"$python" contrib/spark/kapture_spark.py --master 'local[1,2]' --kapture "$KAPTURE" \
    "file://$work/bad" "file://$work/out3" > "$work/out3.stdout" 2> "$work/out3.stderr" || status=$?
check "bad input: driver exits 1" "[ $status -eq 1 ]"
check "bad input: reported, not retried" \
    "grep -q 'group 0 (broker-c): bad input, not retried (status 3)' '$work/out3.stderr' && ! grep -q 'will retry' '$work/out3.stderr'"

echo "spark e2e took $((SECONDS - t0)) s"
[ "$fail" -eq 0 ] || exit 1
