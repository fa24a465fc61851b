#!/usr/bin/env bash
# Decode every testdata capture with an independent decoder, tshark 4.4 (Debian trixie,
# in the chroot that setup.sh builds), and write testdata/<capture>.tshark.tsv.
#
#   testdata/record/tshark.sh              # every *.pcap / *.pcapng in testdata/
#   testdata/record/tshark.sh nano.pcap    # only these
#
# Port 9092 is decoded as Kafka (-d tcp.port==9092,kafka), and 19092 too for port19092.pcap,
# 9094 and 9096 for java-failover.pcap.
# One row per frame that holds at least one Kafka PDU (-Y kafka), two-pass (-2) so that
# reassembled PDUs and request/response pairing are final. Multi-valued fields are joined
# with ',' (-E occurrence=a -E aggregator=,). Columns:
#   frame.number frame.time_epoch (ns) frame.interface_id (pcapng) frame.len frame.cap_len
#   tcp.stream tcp.srcport tcp.dstport tcp.len
#   tcp.segment.count / tcp.segment      the frames of a PDU reassembled from >1 segment
#   kafka.len kafka.request_frame (on responses: the frame of the matching request)
#   kafka.api_key kafka.api_version (requests only) kafka.correlation_id kafka.client_id
#   kafka.required_acks kafka.transactional_id kafka.consumer_group
#   kafka.topic_name kafka.topic_id kafka.partition_id kafka.error
#   kafka.batch_codec kafka.batch_last_offset_delta (records in a batch - 1)
#   kafka.offset kafka.message_key kafka.header_key kafka.header_value (bytes as hex)
#   _ws.malformed (non-empty if tshark flagged the frame malformed)
#   _ws.expert.message (tshark's expert notes, e.g. "Request missing")
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TD=$(cd "$HERE/.." && pwd)
TRIXIE=${TRIXIE:-/opt/trixie}
[ -x "$TRIXIE/usr/bin/tshark" ] || { echo "no tshark in $TRIXIE: run setup.sh" >&2; exit 1; }

FIELDS="frame.number frame.time_epoch frame.interface_id frame.len frame.cap_len tcp.stream tcp.srcport tcp.dstport tcp.len
 tcp.segment.count tcp.segment kafka.len kafka.request_frame kafka.api_key kafka.api_version
 kafka.correlation_id kafka.client_id kafka.required_acks kafka.transactional_id
 kafka.consumer_group kafka.topic_name kafka.topic_id kafka.partition_id kafka.error
 kafka.batch_codec kafka.batch_last_offset_delta kafka.offset kafka.message_key
 kafka.header_key kafka.header_value _ws.malformed _ws.expert.message"
args=()
for f in $FIELDS; do args+=(-e "$f"); done

if [ $# -gt 0 ]; then
    files=("$@")
else
    files=()
    for f in "$TD"/*.pcap "$TD"/*.pcapng; do [ -e "$f" ] && files+=("$(basename "$f")"); done
fi

tmp=$(mktemp -d "$TRIXIE/tmp/kapture-tshark.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
inside=/tmp/$(basename "$tmp")

chroot "$TRIXIE" tshark --version 2>/dev/null | head -1 >&2
for f in "${files[@]}"; do
    f=$(basename "$f")
    cp "$TD/$f" "$tmp/$f"
    out="$TD/${f%.*}.tshark.tsv"
    # Kafka is on 9092 in every capture but port19092.pcap, whose broker is on 19092; that
    # port is decoded as Kafka for that file only (no other capture changes)
    decode=(-d tcp.port==9092,kafka)
    case $f in
        port19092.*) decode+=(-d tcp.port==19092,kafka) ;;
        # the 3-broker Apache Kafka cluster: brokers 2 and 3 listen on 9094 and 9096
        java-failover.*) decode+=(-d tcp.port==9094,kafka -d tcp.port==9096,kafka) ;;
        # The lossy captures: without out-of-order reassembly tshark drops a request whose
        # lost segments arrive after later ones (netem-broker, correlation id 17). It is
        # off for the others because it makes tshark lose the snaplen-cut responses.
        netem*) decode+=(-o tcp.reassemble_out_of_order:TRUE) ;;
    esac
    # TZ/locale fixed so the output does not depend on the machine
    chroot "$TRIXIE" env LC_ALL=C TZ=UTC tshark -2 -n -r "$inside/$f" \
        -o tcp.desegment_tcp_streams:TRUE -o tcp.analyze_sequence_numbers:TRUE \
        "${decode[@]}" -Y kafka \
        -T fields -E header=y -E separator=/t -E occurrence=a -E aggregator=, \
        "${args[@]}" >"$out" 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    grep -v 'Running as user "root"' "$tmp/err" >&2 || true
    echo "$f -> $(basename "$out"): $(($(wc -l <"$out") - 1)) kafka frames" >&2
done
