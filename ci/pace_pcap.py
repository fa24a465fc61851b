#!/usr/bin/env python3
"""Writes a legacy pcap file to standard output at the pace it was captured.

Each packet record is written (and flushed) when the wall clock, counted from the
start, reaches its timestamp's offset from the first packet's, divided by --speed: a
recorded capture behaves as `tcpdump -U -w -` would, live. The pipe is closed after
the last packet (and --hold seconds), as tcpdump's is when it stops. --duration D sets the
speed that makes the whole capture take D seconds. A reader that
falls behind blocks the writes, as it would block tcpdump; the pace then resumes from
where the reader is, without skipping anything.

    ci/pace_pcap.py capture.pcap --speed 2 | kapture -
"""
import argparse
import struct
import sys
import time

MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}


def records(data, path):
    """(seconds since the first packet, record bytes) for each packet of the file."""
    if data[:4] not in MAGICS or len(data) < 24:
        sys.exit(f"{path}: not a legacy pcap file (pcapng is not paced)")
    order, unit = MAGICS[data[:4]]
    i, first = 24, None
    while i + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack(order + "IIII", data[i : i + 16])
        end = i + 16 + caplen
        if end > len(data):
            sys.exit(f"{path}: the packet at byte {i} is cut short")
        ts = sec + frac * unit
        first = ts if first is None else first
        yield ts - first, data[i:end]
        i = end


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("capture")
    pace = ap.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, default=1.0, help="capture seconds per wall second")
    pace.add_argument("--duration", type=float, help="wall seconds the whole capture takes")
    ap.add_argument("--hold", type=float, default=0.0, help="seconds to keep the pipe open at the end")
    args = ap.parse_args()
    with open(args.capture, "rb") as f:
        data = f.read()
    packets = list(records(data, args.capture))
    speed = args.speed
    if args.duration is not None and packets:
        speed = max(packets[-1][0], 1e-9) / max(args.duration, 1e-9)
    out = sys.stdout.buffer
    try:
        out.write(data[:24])
        out.flush()
        start = time.monotonic()
        for offset, record in packets:
            delay = start + offset / speed - time.monotonic()
            if delay > 0:
                out.flush()
                time.sleep(delay)
            out.write(record)
        out.flush()
        time.sleep(args.hold)
    except BrokenPipeError:
        sys.exit(0)


if __name__ == "__main__":
    main()
