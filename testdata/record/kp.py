"""kafka-python producer / consumer used by record.sh (bounded; loopback, or record.sh's own
network namespaces for netem)."""
import argparse
import time

from kafka import KafkaConsumer, KafkaProducer

ap = argparse.ArgumentParser()
ap.add_argument("mode", choices=["produce", "consume"])
ap.add_argument("--bootstrap", default="127.0.0.1:9092")
ap.add_argument("--topic", required=True)
ap.add_argument("--count", type=int, default=20)
ap.add_argument("--size", type=int, default=0, help="pad each value to this many bytes")
ap.add_argument("--group", default=None)
ap.add_argument("--client-id", default="kapture-kp")
ap.add_argument("--timeout", type=float, default=20.0)
ap.add_argument("--interval", type=float, default=0.0, help="sleep between records")
ap.add_argument("--acks", default="1", help="1, 0 or all")
ap.add_argument("--batch", type=int, default=0, help="flush after every N records (one Produce each)")
ap.add_argument("--sizes", default="", help="comma separated value sizes; overrides --count/--size")
a = ap.parse_args()
sizes = [int(x) for x in a.sizes.split(",")] if a.sizes else [a.size] * a.count
a.count = len(sizes)


def value(i):
    v = f"kafka-python record {i} of {a.count}".encode()
    size = sizes[i]
    if size > len(v):
        # deterministic, not very compressible filler
        filler = bytes((j * 131 + i * 7 + (j >> 8)) & 0xFF for j in range(size - len(v)))
        v += filler
    return v


if a.mode == "produce":
    p = KafkaProducer(bootstrap_servers=a.bootstrap, client_id=a.client_id, linger_ms=0,
                      acks=a.acks if a.acks == "all" else int(a.acks),
                      max_request_size=4 * 1024 * 1024)
    futs = []
    for i in range(a.count):
        futs.append(p.send(a.topic, key=f"key-{i}".encode(), value=value(i),
                           headers=[("idx", str(i).encode())]))
        if a.batch and (i + 1) % a.batch == 0:
            p.flush(timeout=a.timeout)
        if a.interval:
            p.flush(timeout=a.timeout)
            time.sleep(a.interval)
    p.flush(timeout=a.timeout)
    for f in futs:
        f.get(timeout=a.timeout)
    p.close(timeout=5)
    print(f"produced {a.count} to {a.topic}")
else:
    c = KafkaConsumer(a.topic, bootstrap_servers=a.bootstrap, client_id=a.client_id,
                      group_id=a.group, auto_offset_reset="earliest",
                      enable_auto_commit=False, fetch_max_wait_ms=200)
    got = 0
    deadline = time.monotonic() + a.timeout
    while got < a.count and time.monotonic() < deadline:
        for _tp, recs in c.poll(timeout_ms=500).items():
            got += len(recs)
    if a.group:
        c.commit()
    c.close()
    print(f"consumed {got}/{a.count} from {a.topic}")
    if got < a.count:
        raise SystemExit(1)
