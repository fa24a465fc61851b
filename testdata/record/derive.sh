#!/usr/bin/env bash
# Derive captures that a live recording cannot reliably produce, from the real ones:
#   midframe.pcap  large-records.pcap without its first 30 packets, so the capture
#                  begins in the middle of a multi-segment Produce request (frames are
#                  renumbered from 1 by editcap; tshark sees the same file).
# Needs editcap (wireshark-common). Run tshark.sh afterwards for the .tshark.tsv.
set -euo pipefail
TD=$(cd "$(dirname "$0")/.." && pwd)
editcap "$TD/large-records.pcap" "$TD/midframe.pcap" 1-30
echo "midframe.pcap: $(tcpdump -r "$TD/midframe.pcap" 2>/dev/null | wc -l) packets" >&2
