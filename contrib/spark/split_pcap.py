#!/usr/bin/env python3
"""Cuts a classic pcap file into consecutive pieces, as `tcpdump -C`/`-G` rotation
would: every piece has the file's header and a run of its packets, in order.

    split_pcap.py CAPTURE OUTDIR PREFIX N     -> OUTDIR/PREFIX.pcap, PREFIX.pcap1 .. PREFIX.pcap{N-1}

Pieces hold (almost) equal numbers of packets; a connection longer than a piece spans
files. Standard library only (CI runs it with the system python)."""

import os
import struct
import sys


def packets(data):
    """The 24-byte file header and the list of records (header + data bytes)."""
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise SystemExit("not a classic pcap file (pcapng is not cut by this script)")
    records, pos = [], 24
    while pos + 16 <= len(data):
        incl = struct.unpack(endian + "I", data[pos + 8 : pos + 12])[0]
        end = pos + 16 + incl
        if end > len(data):
            raise SystemExit(f"record at byte {pos} runs past the end of the file")
        records.append(data[pos:end])
        pos = end
    return data[:24], records


def main():
    capture, outdir, prefix, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    with open(capture, "rb") as f:
        header, records = packets(f.read())
    os.makedirs(outdir, exist_ok=True)
    per = -(-len(records) // n)
    for i in range(n):
        # tcpdump -C names: the first file as given, then a number after it.
        with open(os.path.join(outdir, f"{prefix}.pcap{i or ''}"), "wb") as f:
            f.write(header)
            f.writelines(records[i * per : (i + 1) * per])


if __name__ == "__main__":
    main()
