"""aiokafka producer + group consumer used by record.sh (bounded, 127.0.0.1 only)."""
import argparse
import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

ap = argparse.ArgumentParser()
ap.add_argument("--bootstrap", default="127.0.0.1:9092")
ap.add_argument("--topic", default="aio")
ap.add_argument("--count", type=int, default=10)
ap.add_argument("--group", default="kapture-aio")
ap.add_argument("--timeout", type=float, default=60.0)
a = ap.parse_args()


async def produce():
    p = AIOKafkaProducer(bootstrap_servers=a.bootstrap, client_id="kapture-aio-producer", acks=1)
    await p.start()
    try:
        for i in range(a.count):
            await p.send_and_wait(a.topic, key=f"key-{i}".encode(),
                                  value=f"aiokafka record {i}".encode(),
                                  headers=[("idx", str(i).encode())])
    finally:
        await p.stop()


async def consume():
    c = AIOKafkaConsumer(a.topic, bootstrap_servers=a.bootstrap, client_id="kapture-aio-consumer",
                         group_id=a.group, auto_offset_reset="earliest",
                         enable_auto_commit=False, fetch_max_wait_ms=200,
                         session_timeout_ms=6000, heartbeat_interval_ms=2000)
    await c.start()
    got = 0
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + a.timeout
        while got < a.count and loop.time() < deadline:
            batch = await c.getmany(timeout_ms=500)
            got += sum(len(v) for v in batch.values())
        await c.commit()
    finally:
        await c.stop()
    return got


async def main():
    await produce()
    got = await consume()
    print(f"aiokafka produced {a.count}, consumed {got}")
    if got < a.count:
        raise SystemExit(1)

asyncio.run(main())
