"""OpenTelemetry-instrumented confluent-kafka producer, then a plain consumer that checks
the W3C traceparent headers arrived. Writes the traceparents as sent, one per line."""
import argparse
import time

from confluent_kafka import Consumer, Producer
from opentelemetry import trace
from opentelemetry.instrumentation.confluent_kafka import ConfluentKafkaInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

ap = argparse.ArgumentParser()
ap.add_argument("--bootstrap", default="127.0.0.1:9092")
ap.add_argument("--topic", default="traced")
ap.add_argument("--count", type=int, default=8)
ap.add_argument("--expected", required=True)
ap.add_argument("--timeout", type=float, default=60.0)
a = ap.parse_args()

exporter = InMemorySpanExporter()
tp = TracerProvider()
tp.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(tp)

inst = ConfluentKafkaInstrumentor()
producer = inst.instrument_producer(
    Producer({"bootstrap.servers": a.bootstrap, "client.id": "kapture-otel-producer",
              "linger.ms": 0, "acks": "all"}),
    tracer_provider=tp)

sent = []
for i in range(a.count):
    headers = [("idx", str(i).encode())]
    # the instrumentation appends ("traceparent", b"00-...") to this list
    producer.produce(a.topic, value=f"traced record {i}".encode(), key=f"key-{i}".encode(),
                     headers=headers)
    tps = [v.decode() for k, v in headers if k == "traceparent"]
    assert len(tps) == 1, headers
    sent.append(tps[0])
    producer.flush(a.timeout)  # one Produce request per record
assert producer.flush(a.timeout) == 0

# cross-check against the spans the SDK recorded
spans = exporter.get_finished_spans()
from_spans = {f"{s.context.trace_id:032x}-{s.context.span_id:016x}" for s in spans}
for t in sent:
    assert t.split("-")[1] + "-" + t.split("-")[2] in from_spans, t

with open(a.expected, "w") as f:
    f.write("".join(t + "\n" for t in sent))

c = Consumer({"bootstrap.servers": a.bootstrap, "client.id": "kapture-otel-consumer",
              "group.id": "kapture-otel", "auto.offset.reset": "earliest",
              "session.timeout.ms": 6000,
              "enable.auto.commit": False, "fetch.wait.max.ms": 200})
c.subscribe([a.topic])
seen = []
deadline = time.monotonic() + a.timeout
while len(seen) < a.count and time.monotonic() < deadline:
    m = c.poll(0.5)
    if m is None or m.error():
        continue
    seen += [v.decode() for k, v in (m.headers() or []) if k == "traceparent"]
c.commit(asynchronous=False)
c.close()
print(f"sent {len(sent)} traceparents, consumed {len(seen)}")
if sorted(seen) != sorted(sent):
    raise SystemExit("traceparents consumed differ from those sent")
