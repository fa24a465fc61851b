#!/usr/bin/env python3
"""Extracts Kafka Produce/Fetch/Metadata bodies from a capture as .bin test vectors.

Usage: extract.py CAPTURE OUTDIR [MAX_BYTES]

tshark (run in the trixie chroot, see testdata/README.md) lists every TCP segment; this
script joins each direction of each stream in sequence order (dropping repeated bytes),
cuts Kafka frames on their 4-byte length, pairs responses with requests by correlation id,
strips the request/response header and writes each body of API key 0, 1 or 3 that is at
most MAX_BYTES (default 16384) long as
    <capture stem>-f<frame>-<api>-v<version>-<req|resp>.bin
where <frame> is the capture frame (tshark's frame.number) that carried the PDU's last
byte: the row of <capture>.tshark.tsv that describes it.
"""
import os
import shutil
import struct
import subprocess
import sys

CHROOT = os.environ.get("TRIXIE", "/opt/trixie")
APIS = {0: "produce", 1: "fetch", 3: "metadata"}
FLEXIBLE_FROM = {0: 9, 1: 12, 3: 9}  # for the header versions of these keys


def segments(capture):
    tmp = os.path.join(CHROOT, "tmp", "kapture-extract")
    os.makedirs(tmp, exist_ok=True)
    shutil.copy(capture, tmp)
    inside = "/tmp/kapture-extract/" + os.path.basename(capture)
    out = subprocess.run(
        ["chroot", CHROOT, "tshark", "-r", inside, "-T", "fields",
         "-e", "frame.number", "-e", "tcp.stream", "-e", "tcp.srcport",
         "-e", "tcp.dstport", "-e", "tcp.seq_raw", "-e", "tcp.payload"],
        check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        f = line.split("\t")
        if len(f) < 6 or not f[5]:
            continue
        yield int(f[0]), int(f[1]), int(f[2]), int(f[3]), int(f[4]), bytes.fromhex(f[5].replace(":", ""))


def streams(capture):
    """(stream, srcport, dstport) -> (bytes, [(end offset, frame)])"""
    raw = {}
    for frame, stream, sport, dport, seq, data in segments(capture):
        raw.setdefault((stream, sport, dport), []).append((seq, frame, data))
    out = {}
    for key, segs in raw.items():
        base = min(s for s, _, _ in segs)
        buf = bytearray()
        ends = []
        for seq, frame, data in sorted(segs, key=lambda s: ((s[0] - base) % 2**32, s[1])):
            off = (seq - base) % 2**32
            if off + len(data) <= len(buf):
                continue  # retransmission
            data = data[len(buf) - off:] if off < len(buf) else data
            buf += data
            ends.append((len(buf), frame))
        out[key] = (bytes(buf), ends)
    return out


def frame_at(ends, end):
    for e, frame in ends:
        if e >= end:
            return frame
    return None


def pdus(buf, ends):
    pos = 0
    while pos + 4 <= len(buf):
        (n,) = struct.unpack(">i", buf[pos:pos + 4])
        if n < 0 or pos + 4 + n > len(buf):
            break
        yield buf[pos + 4:pos + 4 + n], frame_at(ends, pos + 4 + n)
        pos += 4 + n


def skip_tags(b, pos):
    def uvarint(pos):
        v, shift = 0, 0
        while True:
            c = b[pos]
            pos += 1
            v |= (c & 0x7F) << shift
            shift += 7
            if c < 0x80:
                return v, pos
    count, pos = uvarint(pos)
    for _ in range(count):
        _, pos = uvarint(pos)
        size, pos = uvarint(pos)
        pos += size
    return pos


def main():
    capture, outdir = sys.argv[1], sys.argv[2]
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else 16384
    stem = os.path.splitext(os.path.basename(capture))[0]
    os.makedirs(outdir, exist_ok=True)
    ss = streams(capture)
    for (stream, sport, dport), (buf, ends) in ss.items():
        if dport != 9092:
            continue
        back = ss.get((stream, dport, sport), (b"", []))
        pending = {}
        for pdu, frame in pdus(buf, ends):
            if len(pdu) < 10:
                continue  # not a request header (e.g. a capture cut by its snaplen)
            key, ver, corr = struct.unpack(">hhi", pdu[:8])
            (clen,) = struct.unpack(">h", pdu[8:10])
            pos = 10 + max(clen, 0)
            flexible = key in FLEXIBLE_FROM and ver >= FLEXIBLE_FROM[key]
            if flexible:
                pos = skip_tags(pdu, pos)
            pending[corr] = (key, ver, flexible)
            if key in APIS and len(pdu) - pos <= limit:
                name = f"{stem}-f{frame}-{APIS[key]}-v{ver}-req.bin"
                open(os.path.join(outdir, name), "wb").write(pdu[pos:])
        for pdu, frame in pdus(*back):
            if len(pdu) < 4:
                continue
            (corr,) = struct.unpack(">i", pdu[:4])
            if corr not in pending:
                continue
            key, ver, flexible = pending.pop(corr)
            pos = skip_tags(pdu, 4) if flexible else 4
            if key in APIS and len(pdu) - pos <= limit:
                name = f"{stem}-f{frame}-{APIS[key]}-v{ver}-resp.bin"
                open(os.path.join(outdir, name), "wb").write(pdu[pos:])


if __name__ == "__main__":
    main()
