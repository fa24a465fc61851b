#!/usr/bin/env bash
# Measures kapture_spark.py on this machine: rotated files of two hosts cut from the
# benchmark capture (examples/gen_bench.rs, as bench/run.sh makes it), run on
# local[1] and local[2], one kapture thread per task (-j 1), spans to $OUT (tmpfs by
# default). Prints the driver's line for each run: files/s and GB/s of the Spark job
# (from the first task's start to the last task's end; Spark's own start-up apart).
#   SIZE (default 1G)  PIECES per host (default 8)  RUNS (default 2)  OUT (/dev/shm/kapture-spark-bench)
set -euo pipefail
cd "$(dirname "$0")/../.."
size=${SIZE:-1G} pieces=${PIECES:-8} runs=${RUNS:-2}
out=${OUT:-/dev/shm/kapture-spark-bench}
work=/tmp/kapture-spark-bench-$size
cargo build --release --quiet --bin kapture --example gen_bench
capture=/tmp/kapture-bench-$size-seed1.pcap
[ -s "$capture" ] || target/release/examples/gen_bench --size "$size" -o "$capture"
if [ ! -d "$work/in" ]; then
    mkdir -p "$work/cut" "$work/in"
    python3 contrib/spark/split_pcap.py "$capture" "$work/cut" piece $((2 * pieces))
    for i in $(seq 0 $((2 * pieces - 1))); do
        host=host-a n=$i
        [ "$i" -lt "$pieces" ] || { host=host-b n=$((i - pieces)); }
        src=$work/cut/piece.pcap; [ "$i" -eq 0 ] || src=$src$i
        dst=$work/in/$host.pcap; [ "$n" -eq 0 ] || dst=$dst$n
        mv "$src" "$dst"
    done
    rmdir "$work/cut"
fi
python=$(bash ci/spark-venv.sh)
export SPARK_LOCAL_IP=127.0.0.1 PYSPARK_PYTHON=$python
for r in $(seq "$runs"); do
    for cores in 1 2; do
        rm -rf "$out"
        "$python" contrib/spark/kapture_spark.py --master "local[$cores]" --kapture target/release/kapture \
            "file://$work/in" "file://$out" -- -j 1 2>&1 >/dev/null |
            sed -n "s/.*kapture_spark: \([0-9]* groups.*\)/local[$cores] run $r: \1/p"
    done
done
rm -rf "$out"
