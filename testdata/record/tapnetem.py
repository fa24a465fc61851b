#!/usr/bin/env python3
"""A user-space netem: joins two network namespaces with a pair of TAP devices and relays
Ethernet frames between them, delaying and dropping the client -> broker direction like
`tc qdisc add dev <client if> root netem delay D loss L%` would on the client's egress.

Used by record.sh for netem.pcap because this machine's kernel has no sch_netem
(CONFIG_NET_SCH_NETEM is not set, and it has no loadable modules). Both ends are real
kernel TCP stacks; the frames are what they sent (1500-byte MTU, no TSO/GRO on TAP
devices without IFF_VNET_HDR), so the capture on either TAP device is ordinary Ethernet.

  * client -> broker: each frame is dropped with probability LOSS (seeded RNG), otherwise
    delivered DELAY after it was read (constant delay, so FIFO order is kept);
  * broker -> client: delivered at once.

The TAP devices exist while this process runs (not persistent), so they vanish with it.
It prints "ready" on stdout once both exist, exits on SIGTERM/SIGINT or after --lifetime
seconds, and writes its counters to --stats. Needs root and `ip netns add` namespaces.
"""
import argparse
import ctypes
import errno
import fcntl
import heapq
import os
import random
import select
import signal
import struct
import sys
import time

CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000

ap = argparse.ArgumentParser()
ap.add_argument("--client-ns", default="kclient")
ap.add_argument("--client-if", default="kc0")
ap.add_argument("--broker-ns", default="kbroker")
ap.add_argument("--broker-if", default="kb0")
ap.add_argument("--delay-ms", type=float, default=5.0, help="one-way delay client -> broker")
ap.add_argument("--loss", type=float, default=2.0, help="loss %% client -> broker")
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--lifetime", type=float, default=600.0, help="exit after this many seconds")
ap.add_argument("--stats", default=None)
a = ap.parse_args()

libc = ctypes.CDLL(None, use_errno=True)


def setns(name):
    fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"setns {name}: {os.strerror(e)}")
    finally:
        os.close(fd)


def tap(ns, ifname):
    """Open a TAP device named ifname inside namespace ns (the device lives in the
    namespace the /dev/net/tun file was opened in)."""
    setns(ns)
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", ifname.encode(), IFF_TAP | IFF_NO_PI))
    return fd


fc = tap(a.client_ns, a.client_if)
fb = tap(a.broker_ns, a.broker_if)

stop = False


def on_signal(_sig, _frm):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)

rng = random.Random(a.seed)
delay = a.delay_ms / 1000.0
loss = a.loss / 100.0
n = {"c2b": 0, "c2b_dropped": 0, "c2b_dropped_tcp_payload": 0, "b2c": 0}
lateness = []  # how late each delayed frame was written, seconds
q = []  # (due, seq, out fd, frame)
seq = 0


def tcp_payload_len(frame):
    """TCP payload bytes of an Ethernet/IPv4 frame, 0 for anything else."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
        return 0
    ihl = (frame[14] & 0x0F) * 4
    total = struct.unpack("!H", frame[16:18])[0]
    if len(frame) < 14 + ihl + 13:
        return 0
    doff = (frame[14 + ihl + 12] >> 4) * 4
    return max(0, total - ihl - doff)


print("ready", flush=True)
deadline = time.monotonic() + a.lifetime
while not stop and time.monotonic() < deadline:
    now = time.monotonic()
    timeout = 0.2
    if q:
        timeout = min(timeout, max(0.0, q[0][0] - now))
    try:
        r, _, _ = select.select([fc, fb], [], [], timeout)
    except InterruptedError:
        continue
    for fd in r:
        for _ in range(256):  # drain what is queued, bounded
            try:
                frame = os.read(fd, 65536)
            except BlockingIOError:
                break
            except OSError as e:
                if e.errno == errno.EINTR:
                    continue
                raise
            t = time.monotonic()
            if fd == fc:
                n["c2b"] += 1
                if rng.random() < loss:
                    n["c2b_dropped"] += 1
                    if tcp_payload_len(frame):
                        n["c2b_dropped_tcp_payload"] += 1
                    continue
                heapq.heappush(q, (t + delay, seq, fb, frame))
            else:
                n["b2c"] += 1
                heapq.heappush(q, (t, seq, fc, frame))
            seq += 1
    now = time.monotonic()
    while q and q[0][0] <= now:
        due, _, out, frame = heapq.heappop(q)
        try:
            os.write(out, frame)
        except OSError:
            pass  # device going away / full queue: the frame is lost, as on a real link
        if out == fb:
            lateness.append(time.monotonic() - due)

lateness.sort()
late = (f"delayed frames written late by median {lateness[len(lateness) // 2] * 1e6:.0f} us, "
        f"max {lateness[-1] * 1e6:.0f} us") if lateness else "no delayed frames"
line = (f"relay (delay {a.delay_ms:g} ms, loss {a.loss:g}% client->broker, seed {a.seed}): "
        f"{n['c2b']} frames client->broker, {n['c2b_dropped']} dropped "
        f"({n['c2b_dropped_tcp_payload']} with TCP payload), {n['b2c']} broker->client; {late}")
print(line, file=sys.stderr)
if a.stats:
    with open(a.stats, "w") as f:
        f.write(line + "\n")
