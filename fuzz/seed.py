#!/usr/bin/env python3
"""Builds the fuzz seed corpora from the real captures in ../testdata.

  capture/        every capture file under 64 KiB, whole
  capture_stream/ the first 64 KiB of each pcap and pcapng, behind the little-endian
                  u16 that picks how the pipe cuts it into pieces (each mode in turn)
  net/            single packets, prefixed with the byte that selects their link type
  tcp_kafka/      one connection's segments in the tcp_kafka record format
  kafka_streams/  one connection's two reassembled directions in the kafka_streams format
  bodies/         the real message bodies in ../src/kafka/body/testdata, with their
                  decoder and version bytes
  records/        the record batches found in those bodies, once per codec byte

Only legacy pcap files are mined for packets (enough for seeds). Run from fuzz/.
"""
import os, struct, sys

HERE = os.path.dirname(os.path.abspath(__file__))
TD = os.path.join(HERE, "..", "testdata")
LINK_TYPES = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276]


def packets(path):
    data = open(path, "rb").read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return None, []
    link = struct.unpack(e + "I", data[20:24])[0]
    out, pos = [], 24
    while pos + 16 <= len(data):
        _, _, incl, _ = struct.unpack(e + "IIII", data[pos:pos + 16])
        out.append(data[pos + 16:pos + 16 + incl])
        pos += 16 + incl
    return link, out


def tcp_payload(link, pkt):
    """(src port, dst port, seq, payload) of an IPv4/IPv6 TCP packet, or None."""
    off = {1: 14, 113: 16, 276: 20}.get(link)
    if off is None:
        return None
    ip = pkt[off:]
    if not ip:
        return None
    if ip[0] >> 4 == 4:
        ihl = (ip[0] & 15) * 4
        total = struct.unpack(">H", ip[2:4])[0]
        tcp, end = ip[ihl:], total - ihl
    elif ip[0] >> 4 == 6:
        tcp, end = ip[40:], struct.unpack(">H", ip[4:6])[0]
    else:
        return None
    if len(tcp) < 20:
        return None
    sport, dport, seq = struct.unpack(">HHI", tcp[:8])
    hl = (tcp[12] >> 4) * 4
    return sport, dport, seq, tcp[hl:end]


def write(dirname, name, blob):
    d = os.path.join(HERE, "corpus", dirname)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(blob)


def stream_seeds(index, name, data):
    """Seeds for capture_stream: the capture's first 64 KiB (cut wherever that falls),
    behind a pieces seed whose two low bits, the mode, go round with `index`."""
    seed = (index * 40503) & 0xFFFC | index % 4
    write("capture_stream", name, struct.pack("<H", seed) + data[:65536])


def main():
    body_seeds()
    captures = [n for n in sorted(os.listdir(TD)) if n.endswith((".pcap", ".pcapng"))]
    for index, name in enumerate(captures):
        path = os.path.join(TD, name)
        if os.path.getsize(path) < 32768:
            write("capture", name, open(path, "rb").read())
        stream_seeds(index, name, open(path, "rb").read())
        link, pkts = packets(path)
        if link is None or link not in LINK_TYPES:
            continue
        pick = bytes([LINK_TYPES.index(link)])
        for i, p in enumerate(pkts[:12]):
            write("net", f"{name}-{i}", pick + p)
        # The first connection with payload to 9092, as segment records and as streams.
        conns = {}
        for p in pkts:
            t = tcp_payload(link, p)
            if not t or not t[3]:
                continue
            sport, dport, seq, payload = t
            client = sport if dport == 9092 else dport
            conns.setdefault(client, []).append((0 if dport == 9092 else 1, payload))
        for client, segs in list(conns.items())[:3]:
            records, streams = b"", [b"", b""]
            for d, payload in segs:
                for i in range(0, len(payload), 255):
                    piece = payload[i:i + 255]
                    records += bytes([d, 0x80, 0x00, len(piece)]) + piece
                streams[d] += payload
            write("tcp_kafka", f"{name}-{client}", records[:8192])
            s0, s1 = streams[0][:4096], streams[1][:4096]
            write("kafka_streams", f"{name}-{client}", struct.pack(">H", len(s0)) + bytes([0x80 | 17]) + s0 + s1)


def body_seeds():
    bodies = os.path.join(HERE, "..", "src", "kafka", "body", "testdata")
    picks = {"produce-req": 0, "produce-resp": 1, "fetch-req": 2, "fetch-resp": 3, "metadata-resp": 4}
    for name in sorted(os.listdir(bodies)):
        if not name.endswith(".bin"):
            continue
        parts = name[:-4].split("-")
        api, version, side = parts[-3], int(parts[-2][1:]), parts[-1]
        pick = picks.get(f"{api}-{side}")
        if pick is None:
            continue
        data = open(os.path.join(bodies, name), "rb").read()
        write("bodies", name, bytes([pick, version]) + data)
        # Record batches inside: magic 2 at offset 16, a batch length that fits.
        for i in range(len(data) - 61):
            if data[i + 16] != 2:
                continue
            blen = struct.unpack(">i", data[i + 8:i + 12])[0]
            if 49 <= blen and i + 12 + blen <= len(data):
                codec = struct.unpack(">h", data[i + 21:i + 23])[0] & 7
                write("records", f"{name}-{i}", bytes([codec]) + data[i:i + 12 + blen])


if __name__ == "__main__":
    sys.exit(main())
