#!/usr/bin/env python3
"""kapture on Apache Spark: the rotated captures of many hosts, one Spark task per host.

    spark-submit --files target/release/kapture contrib/spark/kapture_spark.py \\
        s3a://captures/2026-12-01/ file:///shared/spans/2026-12-01/ [options]

(or `python3 kapture_spark.py --kapture BINARY ...`, which ships the binary itself.)

1. Lists the capture files under INPUT through Hadoop's FileSystem (file://, hdfs://,
   s3a://, ... whatever the cluster's Hadoop configuration reaches), recursively.
2. Groups consecutive rotated files of one host: by name (`--group-by name`, the
   default: directory + host prefix, ordered by the numbers tcpdump -G/-C put in the
   name, e.g. broker-a.pcap, broker-a.pcap1, ...) or by the time ranges of their first
   and last packets (`--group-by time`: a file continues the chain whose last packet is
   the latest one before its first packet, at most --max-gap seconds before it).
3. Runs one Spark task per group: `kapture --continuous` over the group's files, in
   order, so a connection that spans files stays one connection. The task writes
   OUTPUT/part-NNNNN.jsonl (OTLP JSON Lines, the Collector file format) and
   OUTPUT/summary-NNNNN.json (kapture's mergeable JSON summary) under temporary names
   of its own (hidden, one per attempt) and renames them into place: a retried or speculative attempt writes the same bytes
   (kapture's ids are deterministic; --id-seed keeps separate jobs' ids apart) and a
   killed one leaves no part file.
4. Acts on kapture's exit status: 0 and 1 are success (1: something in the capture
   was skipped, see the summary); 2 (bad arguments) and 3 with an unreadable or
   damaged input are final, reported, never retried; any other ending (3 because the
   output could not be written, death by a signal, a lost executor) raises, and Spark
   retries the task up to spark.task.maxFailures.
5. Merges the task summaries with `kapture summary-merge` into OUTPUT/summary.json and
   prints the merged totals. Exits 0 when every group succeeded, 1 when some group's
   input was bad (the others' spans are written), and fails when retries ran out.

OUTPUT is a directory every executor can write with plain file operations: local for
local[N], a shared mount (NFS, a FUSE mount of the object store) on a cluster. Inputs
are read where they are for file:// (`--read direct`, the default for file://), or
through Spark's binaryFiles for every other scheme (`--read spark`: each file is held in
memory once, so keep rotated files under 2 GB, as tcpdump -C does).

Testing: KAPTURE_SPARK_FAIL_ONCE=N kills kapture (SIGKILL) half-way through the first
attempt of group N, so that the retry path can be checked (ci/spark-e2e.sh).
"""

import argparse
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

# Statuses kapture exits with (README, "Summary and exit status").
OK_STATUSES = (0, 1)
BAD_ARGUMENTS = 2
UNREADABLE = 3

DEFAULT_NAME_PATTERN = r"^(?P<host>.*?)[-_.]?(?P<seq>\d*)\.(?:pcap|pcapng|cap)(?P<rot>\d*)$"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("input", help="directory of captures (any Hadoop path)")
    p.add_argument("output", help="output directory (file:// or a local/shared path)")
    p.add_argument("--kapture", help="the kapture binary to ship (default: the one given to --files)")
    p.add_argument("--group-by", choices=["name", "time"], default="name")
    p.add_argument("--name-pattern", default=DEFAULT_NAME_PATTERN,
                   help="regex on the file name with groups host and, optional, seq and rot (numbers ordering the files)")
    p.add_argument("--max-gap", type=float, default=60.0,
                   help="--group-by time: most seconds between a file's last packet and the next file's first")
    p.add_argument("--id-seed", type=int, default=0,
                   help="kapture --id-seed: the same for every task of a job, different for jobs whose spans must not collide")
    p.add_argument("--read", choices=["auto", "direct", "spark"], default="auto")
    p.add_argument("--master", help="Spark master when run with python3 (e.g. local[2,2])")
    p.epilog = "Flags after -- go to every kapture run (e.g. -- --api all --port 9092)."
    extra = []
    if "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1:]
    args = p.parse_args(argv)
    args.kapture_args = extra
    return args


def local_path(uri):
    """The local path of a file:// URI or plain path."""
    if uri.startswith("file://"):
        return uri[len("file://"):]
    if uri.startswith("file:"):  # Hadoop writes file:/dir/name
        return uri[len("file:"):]
    return uri


def list_captures(spark, uri):
    """(path URI, length) of every file under uri, through Hadoop's FileSystem."""
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    path = jvm.org.apache.hadoop.fs.Path(uri)
    fs = path.getFileSystem(conf)
    files, it = [], fs.listFiles(path, True)
    while it.hasNext():
        status = it.next()
        name = status.getPath().getName()
        if not name.startswith((".", "_")):
            files.append((status.getPath().toString(), status.getLen()))
    return sorted(files)


def group_by_name(files, pattern):
    """{(directory, host): [paths in rotation order]}; files the pattern does not match
    are left out (and listed)."""
    rx, groups, skipped = re.compile(pattern), {}, []
    for path, _ in files:
        directory, name = path.rsplit("/", 1)
        m = rx.match(name)
        if not m:
            skipped.append(path)
            continue
        d = m.groupdict()
        order = tuple(int(d.get(k) or -1) for k in ("seq", "rot"))
        groups.setdefault((directory, d["host"]), []).append((order, name, path))
    ordered = {key: [p for _, _, p in sorted(v)] for key, v in groups.items()}
    return ordered, skipped


def pcap_time_range(f):
    """(first, last) packet timestamps in seconds of a classic pcap file object; None
    for an empty one. Record headers are read and the data skipped."""
    header = f.read(24)
    if len(header) < 24:
        return None
    magic = header[:4]
    endian = {b"\xd4\xc3\xb2\xa1": "<", b"\x4d\x3c\xb2\xa1": "<",
              b"\xa1\xb2\xc3\xd4": ">", b"\xa1\xb2\x3c\x4d": ">"}.get(magic)
    if endian is None:
        raise ValueError("not a classic pcap file (--group-by time reads pcap only; group pcapng by name)")
    scale = 1e-9 if magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d") else 1e-6
    first = last = None
    while True:
        rec = f.read(16)
        if len(rec) < 16:
            break
        sec, frac, incl, _ = struct.unpack(endian + "IIII", rec)
        ts = sec + frac * scale
        first = ts if first is None else first
        last = ts
        f.seek(incl, 1)
    return None if first is None else (first, last)


def group_by_time(ranges, max_gap):
    """Chains files of each directory by time: ranges is [(path, (first, last))]."""
    chains = {}
    for path, (first, last) in sorted(ranges, key=lambda r: (r[0].rsplit("/", 1)[0], r[1][0], r[0])):
        directory = path.rsplit("/", 1)[0]
        open_chains = chains.setdefault(directory, [])
        fits = [c for c in open_chains if c["last"] <= first and first - c["last"] <= max_gap]
        if fits:
            chain = max(fits, key=lambda c: c["last"])
        else:
            chain = {"files": [], "last": None}
            open_chains.append(chain)
        chain["files"].append(path)
        chain["last"] = last
    groups = {}
    for directory, cs in chains.items():
        for i, c in enumerate(cs):
            groups[(directory, "chain%d" % i)] = c["files"]
    return groups


def kapture_binary(shipped):
    from pyspark import SparkFiles
    path = SparkFiles.get(os.path.basename(shipped))
    os.chmod(path, 0o755)
    return path


def attempt_name(out_dir, name, attempt):
    """Where an attempt writes `name` before renaming it into place: hidden, and its
    own, so concurrent (speculative) attempts never write one file."""
    return os.path.join(out_dir, ".%s.attempt-%d-%d.tmp" % (name, attempt, os.getpid()))


def leftovers(name):
    """A killed attempt's files: its temporary names and kapture's partial outputs."""
    return name.startswith(".") and (name.endswith(".tmp") or "kapture-partial" in name)


def run_group(index, host, inputs, out_dir, shipped, kapture_args, id_seed):
    """Runs kapture over one group's local files. Returns a result dict; raises for
    what a retry may cure."""
    from pyspark import TaskContext
    ctx = TaskContext.get()
    attempt = ctx.attemptNumber() if ctx else 0
    kapture = kapture_binary(shipped)
    name, summary_name = "part-%05d.jsonl" % index, "summary-%05d.json" % index
    # Written in the output directory itself, so that the last step is a rename.
    spans = attempt_name(out_dir, name, attempt)
    summary = attempt_name(out_dir, summary_name, attempt)
    cmd = [kapture, "--continuous", "-q", "--id-seed", str(id_seed), "-o", spans,
           "--summary", "json", "--summary-file", summary] + kapture_args + ["--"] + inputs
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    if os.environ.get("KAPTURE_SPARK_FAIL_ONCE") == str(index) and attempt == 0:
        # Killed at once: the test inputs are read in milliseconds.
        proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
    err = err.decode("utf-8", "replace")
    status = proc.returncode
    base = {"index": index, "host": host, "files": len(inputs), "status": status,
            "attempt": attempt, "stderr": err.strip()}
    if status in OK_STATUSES:
        if not os.path.exists(spans):
            open(spans, "wb").close()  # kapture creates no file for no span at all
        # Spans first: a summary in place says its part file is whole.
        os.replace(spans, os.path.join(out_dir, name))
        os.replace(summary, os.path.join(out_dir, summary_name))
        return dict(base, part=name)
    for tmp in (spans, summary):
        if os.path.exists(tmp):
            os.remove(tmp)
    if status == BAD_ARGUMENTS or (status == UNREADABLE and "cannot write" not in err):
        # The input (or the command) is bad: a retry gives the same answer.
        return dict(base, part=None)
    raise RuntimeError("kapture on group %d (%s) ended with status %s on attempt %d, will retry: %s"
                       % (index, host, status, attempt, err.strip()[-2000:]))


def task_direct(item, out_dir, shipped, kapture_args, id_seed):
    index, (host, paths) = item
    return run_group(index, host, [local_path(p) for p in paths], out_dir, shipped, kapture_args, id_seed)


def task_spark_read(item, out_dir, shipped, kapture_args, id_seed):
    """The group's files arrive as bytes (binaryFiles); written locally, in order."""
    index, (host, blobs) = item
    work = tempfile.mkdtemp(prefix="kapture-input-")
    inputs = []
    for order, (path, data) in sorted(blobs):
        local = os.path.join(work, "%05d-%s" % (order, path.rsplit("/", 1)[-1]))
        with open(local, "wb") as f:
            f.write(data)
        inputs.append(local)
    try:
        return run_group(index, host, inputs, out_dir, shipped, kapture_args, id_seed)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv):
    args = parse_args(argv)
    from pyspark.sql import SparkSession
    builder = SparkSession.builder.appName("kapture")
    if args.master:
        builder = builder.master(args.master)
    spark = builder.getOrCreate()
    sc = spark.sparkContext
    shipped = args.kapture
    if shipped:
        sc.addFile(os.path.abspath(shipped))
    else:
        files = sc.getConf().get("spark.files", "")
        shipped = next((f for f in files.split(",") if f.rstrip("/").endswith("kapture")), None)
        if not shipped:
            sys.exit("kapture_spark: give --kapture BINARY, or spark-submit --files .../kapture")
    out_dir = local_path(args.output)
    os.makedirs(out_dir, exist_ok=True)
    read = args.read
    if read == "auto":
        read = "direct" if args.input.startswith("file:") or "://" not in args.input else "spark"

    files = list_captures(spark, args.input if "://" in args.input else "file://" + os.path.abspath(args.input))
    if args.group_by == "name":
        groups, skipped = group_by_name(files, args.name_pattern)
        for path in skipped:
            print("kapture_spark: %s: name does not match --name-pattern, left out" % path, file=sys.stderr)
    else:
        paths = [p for p, _ in files]
        if read == "direct":
            ranges = sc.parallelize(paths, max(1, len(paths))).map(
                lambda p: (p, pcap_time_range(open(local_path(p), "rb")))).collect()
        else:
            import io
            ranges = sc.binaryFiles(",".join(paths)).map(
                lambda kv: (kv[0], pcap_time_range(io.BytesIO(kv[1])))).collect()
        ranges = [r for r in ranges if r[1] is not None]
        groups = group_by_time(ranges, args.max_gap)
    # Groups are numbered in sorted order: the same input gives the same part names.
    numbered = list(enumerate((key[1], groups[key]) for key in sorted(groups)))
    total_bytes = sum(length for _, length in files)
    print("kapture_spark: %d files (%.3f GB) in %d groups" % (len(files), total_bytes / 1e9, len(numbered)),
          file=sys.stderr)
    started = time.monotonic()
    kargs, seed = list(args.kapture_args), args.id_seed
    n = max(1, len(numbered))
    if read == "direct":
        rdd = sc.parallelize(numbered, n).map(lambda item: task_direct(item, out_dir, shipped, kargs, seed))
    else:
        where = {}
        for index, (host, paths) in numbered:
            for order, p in enumerate(paths):
                where[p] = (index, order)
        host_of = {index: host for index, (host, _) in numbered}
        bc = sc.broadcast(where)
        blobs = sc.binaryFiles(",".join(where)).map(
            lambda kv: (bc.value[kv[0]][0], (bc.value[kv[0]][1], (kv[0], kv[1]))))
        rdd = blobs.groupByKey(n, partitionFunc=lambda k: k).map(
            lambda kv: task_spark_read((kv[0], (host_of[kv[0]], list(kv[1]))), out_dir, shipped, kargs, seed))
    results = sorted(rdd.collect(), key=lambda r: r["index"])
    elapsed = time.monotonic() - started
    for name in os.listdir(out_dir):
        if leftovers(name):
            os.remove(os.path.join(out_dir, name))

    for r in results:
        if r["attempt"] > 0:
            print("kapture_spark: group %d (%s) succeeded on attempt %d" % (r["index"], r["host"], r["attempt"] + 1),
                  file=sys.stderr)
    bad = [r for r in results if r["part"] is None]
    for r in bad:
        print("kapture_spark: group %d (%s): bad input, not retried (status %d): %s"
              % (r["index"], r["host"], r["status"], r["stderr"]), file=sys.stderr)
    summaries = [os.path.join(out_dir, "summary-%05d.json" % r["index"]) for r in results if r["part"]]
    with open(os.path.join(out_dir, "tasks.json"), "w") as f:
        json.dump([{k: r[k] for k in ("index", "host", "files", "status", "part")} for r in results], f, indent=1)
    if summaries:
        local_kapture = args.kapture or local_path(shipped)
        merged = os.path.join(out_dir, "summary.json")
        subprocess.run([local_kapture, "summary-merge", "--summary", "json", "-o", merged] + summaries, check=True)
        text = subprocess.run([local_kapture, "summary-merge", merged], check=True,
                              capture_output=True, text=True).stdout
        print(text, end="")
    print("kapture_spark: %d groups, %d files, %.3f GB in %.2f s: %.1f files/s, %.3f GB/s (%d bad groups)"
          % (len(results), len(files), total_bytes / 1e9, elapsed, len(files) / elapsed,
             total_bytes / 1e9 / elapsed, len(bad)), file=sys.stderr)
    spark.stop()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
