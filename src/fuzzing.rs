//! Entry points shared by the cargo-fuzz targets (`fuzz/`) and by the regression test
//! that replays their corpora under `cargo test` (`tests/fuzz_corpus.rs`): each takes
//! arbitrary bytes and drives one untrusted-input component with them.

use std::net::{IpAddr, Ipv4Addr};

use crate::capture::{self, Packet};
use crate::kafka::body::Limits;
use crate::kafka::exchange::{self, KafkaStats};
use crate::kafka::{self, KafkaConfig};
use crate::net::{self, Endpoint, Segment};
use crate::pipeline;
use crate::summary::Summary;
use crate::tcp::{Chunk, ConnectionTable, Stream};

/// Whole capture files: the reader, then link/IP/TCP decoding of every packet.
pub fn capture(data: &[u8]) {
    let _ = capture::for_each_packet(data, |p| {
        let _ = net::decode_segment(&p);
    });
}

/// A capture read in parts: the first four bytes pick two cut points (as offsets from
/// the first record or packet block), the rest is the capture. Reading in parts must
/// be refused, or give exactly what one pass gives.
pub fn capture_parts(data: &[u8]) {
    let Some((cuts, bytes)) = data.split_first_chunk::<4>() else {
        return;
    };
    let len = bytes.len();
    let start = capture::first_part_start(bytes).unwrap_or(0).min(len);
    let at = |lo: u8, hi: u8| (start + usize::from(u16::from_le_bytes([lo, hi]))).min(len);
    let mut bounds = vec![start, at(cuts[0], cuts[1]), at(cuts[2], cuts[3]), len];
    bounds.sort_unstable();
    bounds.dedup();
    let parts: Vec<_> = bounds.windows(2).map(|w| w[0]..w[1]).collect();
    let _ = capture::split_into_parts(bytes, 2);
    let mut one = Summary::default();
    let Ok(expected) = pipeline::read_connections(bytes, &mut one) else {
        return;
    };
    let mut in_parts = Summary::default();
    if let Some(got) = pipeline::read_in_parts(bytes, &parts, &mut in_parts, None) {
        assert_eq!(
            format!("{got:?}"),
            format!("{expected:?}"),
            "parts {parts:?}"
        );
        assert_eq!(in_parts.packets, one.packets);
        assert_eq!(in_parts.tcp_packets, one.tcp_packets);
        assert_eq!(in_parts.malformed_packets, one.malformed_packets);
    }
}

const LINK_TYPES: [u32; 10] = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276];

/// One packet on a chosen link type: the first byte picks it, the rest is the packet.
pub fn net(data: &[u8]) {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let packet = Packet {
        index: 1,
        ts_ns: 0,
        link_type: LINK_TYPES[usize::from(pick) % LINK_TYPES.len()],
        data: bytes,
        orig_len: bytes.len() as u32 + u32::from(pick & 0x80),
    };
    let _ = net::decode_segment(&packet);
}

/// A connection built from segment records, then reassembly, framing and pairing.
/// Each record: control byte (bit 0 direction, bit 1 use the delta, bits 2-6 TCP
/// flags, bit 7 snaplen cut), sequence delta (2 bytes, around 0x8000 = no move),
/// payload length (1 byte), payload.
pub fn tcp_kafka(data: &[u8]) {
    let client = Endpoint {
        ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 40000,
    };
    let broker = Endpoint {
        ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 9092,
    };
    let mut table = ConnectionTable::new();
    let mut seq = [1000u32, 900_000u32];
    let mut rest = data;
    let mut index = 0u64;
    while rest.len() >= 4 {
        let ctl = rest[0];
        let delta = u16::from_be_bytes([rest[1], rest[2]]);
        let len = usize::from(rest[3]).min(rest.len() - 4);
        let payload = &rest[4..4 + len];
        rest = &rest[4 + len..];
        let dir = usize::from(ctl & 1);
        let s = if ctl & 2 != 0 {
            seq[dir].wrapping_add(u32::from(delta)).wrapping_sub(0x8000)
        } else {
            seq[dir]
        };
        let (src, dst) = if dir == 0 {
            (client, broker)
        } else {
            (broker, client)
        };
        let seg = Segment {
            src,
            dst,
            seq: s,
            ack: 0,
            flags: (ctl >> 2) & 0x17,
            window: u16::from(ctl),
            payload,
            missing: u32::from(ctl >> 7) * 3,
        };
        index += 1;
        table.push(index, index as i64 * 1000, &seg);
        seq[dir] = s.wrapping_add(len as u32);
    }
    for conn in table.into_connections() {
        let _ = kafka::analyse(
            &conn,
            &KafkaConfig::default(),
            &mut Limits::new(1 << 20, 1 << 24),
        );
    }
}

fn stream_of(bytes: &[u8], cut: usize, origin: bool) -> Stream<'_> {
    let cut = cut.max(1);
    Stream {
        chunks: bytes
            .chunks(cut)
            .enumerate()
            .map(|(i, data)| Chunk {
                offset: (i * cut) as u64,
                data,
                ts_ns: i as i64,
                index: i as u64 + 1,
            })
            .collect(),
        starts_at_origin: origin,
        sent_end: bytes.len() as u64,
        stats: Default::default(),
        events: Vec::new(),
    }
}

/// Kafka framing and pairing straight from two byte streams: the first two bytes say
/// where the client stream ends, the third how the streams are cut into chunks and
/// whether they start at the connection's origin.
pub fn kafka_streams(data: &[u8]) {
    if data.len() < 3 {
        return;
    }
    let split = usize::from(u16::from_be_bytes([data[0], data[1]])).min(data.len() - 3);
    let cut = usize::from(data[2] & 0x3f);
    let origin = data[2] & 0x80 != 0;
    let (to_broker, to_client) = data[3..].split_at(split);
    let requests = stream_of(to_broker, cut, origin);
    let responses = stream_of(to_client, cut + 1, origin);
    let (reqs, _) = exchange::split_requests(&requests, 1 << 20);
    let (resps, _) = exchange::split_responses(&responses, 1 << 20, &reqs);
    let mut stats = KafkaStats::default();
    let _ = exchange::pair(reqs, resps, 64, &mut stats);
}

/// Every body decoder at every version: the first byte picks the decoder, the second
/// the version, the rest is the body.
pub fn bodies(data: &[u8]) {
    use crate::kafka::body;
    let [pick, version, body @ ..] = data else {
        return;
    };
    let version = i16::from(*version % 20);
    match pick % 6 {
        0 => drop(body::produce_request(body, version)),
        1 => drop(body::produce_response(body, version)),
        2 => drop(body::fetch_request(body, version)),
        3 => drop(body::fetch_response(body, version)),
        4 => drop(body::metadata_response(body, version)),
        _ => drop(body::summarize(body)),
    }
}

/// Record batches through decompression and record-header parsing, with small caps
/// so bombs are cheap: the first byte picks the codec written into every batch.
pub fn records(data: &[u8]) {
    use crate::kafka::body::{self, Limits};
    let Some((&codec, rest)) = data.split_first() else {
        return;
    };
    let mut limits = Limits::new(1 << 20, 8 << 20);
    for entry in body::batches(rest) {
        if let Ok(body::Entry::Batch(mut batch)) = entry {
            // The attribute bits are part of the CRC-covered bytes, which are not
            // checked here; overriding the codec reaches every decompressor.
            batch.attributes = (batch.attributes & !7) | i16::from(codec % 5);
            body::for_each_record_header(&batch, &mut limits, |h| {
                let _ = crate::kafka::facts::parse_traceparent(h.value.unwrap_or_default());
            });
        }
    }
}
