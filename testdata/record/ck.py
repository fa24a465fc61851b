"""confluent-kafka (librdkafka) producer / group consumer used by record.sh (bounded; loopback or
record.sh's own network namespaces only). `create` makes topics through the Kafka protocol
(CreateTopics), for brokers that `tansu topic create` cannot reach (it cannot parse IPv6 URLs)."""
import argparse
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

ap = argparse.ArgumentParser()
ap.add_argument("mode", choices=["produce", "consume", "create"])
ap.add_argument("--bootstrap", default="127.0.0.1:9092")
ap.add_argument("--topics", required=True, help="comma separated")
ap.add_argument("--count", type=int, default=10, help="records per topic")
ap.add_argument("--size", type=int, default=0)
ap.add_argument("--group", default="kapture-group")
ap.add_argument("--client-id", default="kapture-ck")
ap.add_argument("--timeout", type=float, default=60.0)
ap.add_argument("--partitions", type=int, default=1, help="create: partitions per topic")
a = ap.parse_args()
topics = a.topics.split(",")


def value(t, i):
    v = f"confluent-kafka {t} record {i}".encode()
    return v + b"." * max(0, a.size - len(v))


if a.mode == "create":
    adm = AdminClient({"bootstrap.servers": a.bootstrap, "client.id": a.client_id})
    futs = adm.create_topics([NewTopic(t, a.partitions, 1) for t in topics],
                             request_timeout=a.timeout)
    for t, f in futs.items():
        f.result(timeout=a.timeout)
    print(f"created {topics}")
elif a.mode == "produce":
    failed = []
    p = Producer({"bootstrap.servers": a.bootstrap, "client.id": a.client_id,
                  "linger.ms": 5, "acks": "all"})

    def done(err, msg):
        if err is not None:
            failed.append(err)

    for t in topics:
        for i in range(a.count):
            p.produce(t, key=f"key-{i}".encode(), value=value(t, i),
                      headers=[("idx", str(i).encode())], on_delivery=done)
        p.poll(0)
        p.flush(a.timeout)
    left = p.flush(a.timeout)
    print(f"produced {a.count} x {len(topics)} topics, {len(failed)} failed, {left} left")
    if failed or left:
        raise SystemExit(1)
else:
    # Tansu answers the rejoining JoinGroup only after about session.timeout.ms / 2
    c = Consumer({"bootstrap.servers": a.bootstrap, "client.id": a.client_id,
                  "group.id": a.group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "session.timeout.ms": 6000,
                  "fetch.wait.max.ms": 200})
    c.subscribe(topics)
    want = a.count * len(topics)
    got = 0
    deadline = time.monotonic() + a.timeout
    while got < want and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            print("consumer error:", m.error())
            continue
        got += 1
    if got:
        c.commit(asynchronous=False)
    c.close()
    print(f"consumed {got}/{want} from {topics}")
    if got < want:
        raise SystemExit(1)
