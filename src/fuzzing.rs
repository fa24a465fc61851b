//! Entry points shared by the cargo-fuzz targets (`fuzz/`) and by the regression test
//! that replays their corpora under `cargo test` (`tests/fuzz_corpus.rs`): each takes
//! arbitrary bytes and drives one untrusted-input component with them.

use std::net::{IpAddr, Ipv4Addr};

use crate::capture::{self, Packet};
use crate::kafka::body::Limits;
use crate::kafka::exchange::{self, KafkaStats, Pairing, RequestValidator, ResponseValidator};
use crate::kafka::frame::{self, Framer};
use crate::kafka::{KafkaConfig, KafkaConn};
use crate::net::{self, Endpoint};
use crate::pipeline;
use crate::summary::Summary;
use crate::tcp::{Dir, DirStream, SegRec, Stream};

/// Whole capture files: the reader, then link/IP/TCP decoding of every packet.
pub fn capture(data: &[u8]) {
    let _ = capture::for_each_packet(data, |p| {
        let _ = net::decode_segment(&p);
    });
}

/// Whole capture files through the streaming engine with one and with three
/// workers: the spans and the summary must be the same.
pub fn capture_threads(data: &[u8]) {
    let run = |threads| {
        let config = pipeline::PipelineConfig {
            threads,
            ..pipeline::PipelineConfig::default()
        };
        let mut summary = Summary::default();
        let spans = pipeline::process_capture(data, 0, &config, &mut summary).ok();
        (
            spans.map(|s| s.into_iter().flat_map(|c| c.spans).collect::<Vec<_>>()),
            summary,
        )
    };
    let (one, s1) = run(1);
    let (three, s3) = run(3);
    assert_eq!(one, three, "spans depend on the number of workers");
    assert_eq!(
        format!("{s1:?}"),
        format!("{s3:?}"),
        "counts depend on the number of workers"
    );
}

/// A capture read from a pipe: the first two bytes pick how the pipe cuts it into
/// pieces ([`Pieces`]), the rest is the capture. The stream reader must give exactly
/// what reading the whole bytes in memory gives.
pub fn capture_stream(data: &[u8]) {
    let Some((seed, bytes)) = data.split_first_chunk::<2>() else {
        return;
    };
    assert_stream_reads_as_whole(bytes, u16::from_le_bytes(*seed));
}

/// A packet handed out, owned: (index, ts_ns, link_type, data, orig_len).
pub type OwnedPacket = (u64, i64, u32, Vec<u8>, u32);

/// Every packet and the report, or the error, of reading `bytes` in memory.
pub fn read_whole(
    bytes: &[u8],
) -> Result<(Vec<OwnedPacket>, capture::ReadReport), capture::CaptureError> {
    let mut out = Vec::new();
    let report = capture::for_each_packet(bytes, |p| out.push(owned(&p)))?;
    Ok((out, report))
}

/// The same, read through [`capture::StreamReader`] from `bytes` cut into pieces
/// as `seed` says. Also checks that [`capture::StreamReader::consumed`] never goes back
/// and never passes the bytes handed to the reader.
pub fn read_streamed(
    bytes: &[u8],
    seed: u16,
) -> Result<(Vec<OwnedPacket>, capture::ReadReport), capture::CaptureError> {
    let mut reader = capture::StreamReader::new(Pieces::new(bytes, seed));
    let mut out = Vec::new();
    let mut consumed = 0;
    while let Some(p) = reader.next_packet()? {
        out.push(owned(&p));
        assert!(reader.consumed() >= consumed && reader.consumed() <= bytes.len() as u64);
        consumed = reader.consumed();
    }
    let report = reader.report().cloned().expect("a capture's report");
    if report.stopped_at.is_none() {
        assert_eq!(
            reader.consumed(),
            bytes.len() as u64,
            "a whole read consumes everything"
        );
    }
    Ok((out, report))
}

/// Panics unless reading `bytes` from a pipe (cut as `seed` says) gives what reading
/// them whole gives: packets, report and warnings, or the error.
pub fn assert_stream_reads_as_whole(bytes: &[u8], seed: u16) {
    let whole = read_whole(bytes);
    let streamed = read_streamed(bytes, seed);
    assert_eq!(streamed, whole, "pieces seed {seed}");
}

fn owned(p: &Packet<'_>) -> OwnedPacket {
    (p.index, p.ts_ns, p.link_type, p.data.to_vec(), p.orig_len)
}

/// A reader that hands out its bytes in pieces, as a pipe does. The two low bits of
/// the seed pick the piece sizes: 0 one byte each, 1 up to 16 bytes, 2 up to 64 KiB,
/// 3 a mix of those, with now and then an interrupted read (EINTR) in between. The
/// other bits seed the sizes.
pub struct Pieces<'a> {
    rest: &'a [u8],
    mode: u16,
    state: u32,
}

impl<'a> Pieces<'a> {
    pub fn new(bytes: &'a [u8], seed: u16) -> Self {
        Pieces {
            rest: bytes,
            mode: seed & 3,
            state: u32::from(seed >> 2) | 1 << 20,
        }
    }

    /// xorshift32: cheap, and the same sizes for the same seed.
    fn next(&mut self) -> u32 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 17;
        self.state ^= self.state << 5;
        self.state
    }
}

impl std::io::Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let r = self.next();
        let mode = if self.mode == 3 {
            if r.is_multiple_of(8) {
                return Err(std::io::ErrorKind::Interrupted.into());
            }
            (r >> 3) % 3
        } else {
            u32::from(self.mode)
        };
        let max = match mode {
            0 => 1,
            1 => 16,
            _ => 65_536,
        };
        let size = (1 + (r >> 8) % max) as usize;
        let n = size.min(buf.len()).min(self.rest.len());
        let (piece, rest) = self.rest.split_at(n);
        buf[..n].copy_from_slice(piece);
        self.rest = rest;
        Ok(n)
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
    let config = KafkaConfig::default();
    let mut limits = Limits::new(1 << 20, 1 << 24);
    let mut conn = KafkaConn::new(0, [client, broker], 0, &config, 1 << 24);
    let mut out = Vec::new();
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
        index += 1;
        let seg = SegRec {
            index,
            ts_ns: index as i64 * 1000,
            dir: Dir::from_index(dir),
            seq: s,
            ack: seq[1 - dir],
            flags: (ctl >> 2) & 0x17,
            window: u16::from(ctl),
            payload,
            missing: u32::from(ctl >> 7) * 3,
        };
        conn.on_segment(dir, &seg, &config, &mut limits, &mut out);
        seq[dir] = s.wrapping_add(len as u32);
    }
    conn.finish(&config, &mut limits, &mut out);
    assert!(
        out.len() as u64 <= index * 2 + 2,
        "more exchanges than frames"
    );
}

/// A direction made of `bytes` cut into chunks of `cut` bytes.
fn stream_of(bytes: &[u8], cut: usize, origin: bool) -> DirStream {
    let mut d = DirStream::new();
    if origin {
        d.on_syn(u32::MAX);
    }
    for (i, piece) in bytes.chunks(cut.max(1)).enumerate() {
        d.push(&SegRec::data(
            i as u64 + 1,
            i as i64,
            (i * cut.max(1)) as u32,
            piece,
        ));
    }
    d
}

/// Kafka framing straight from two byte streams: the first two bytes say where the
/// client stream ends, the third how the streams are cut into chunks and whether they
/// start at the connection's origin. Framing piece by piece, as bytes settle, must
/// give what framing the whole stream gives.
pub fn kafka_streams(data: &[u8]) {
    if data.len() < 3 {
        return;
    }
    let split = usize::from(u16::from_be_bytes([data[0], data[1]])).min(data.len() - 3);
    let cut = usize::from(data[2] & 0x3f).max(1);
    let origin = data[2] & 0x80 != 0;
    let (to_broker, to_client) = data[3..].split_at(split);
    let whole = stream_of(to_broker, to_broker.len().max(1), origin);
    let (expected, expected_stats) = exchange::split_requests(&whole.view(), 1 << 20);
    // The same bytes arriving `cut` at a time.
    let mut d = DirStream::new();
    if origin {
        d.on_syn(u32::MAX);
    }
    let mut framer = Framer::new();
    let mut validator = RequestValidator::new();
    let mut got = Vec::new();
    let mut keep =
        |view: &Stream<'_>, span, head| got.push(exchange::request_from(view, span, head));
    for (i, piece) in to_broker.chunks(cut).enumerate() {
        d.push(&SegRec::data(1, 0, (i * cut) as u32, piece));
        framer.step(&d, false, 1 << 20, &mut validator, &mut keep);
        d.release_before(framer.left_edge());
    }
    framer.step(&d, true, 1 << 20, &mut validator, &mut keep);
    framer.finish(d.end());
    let strip = |r: &exchange::Request| (r.span.offset, r.span.size, r.api_key, r.correlation_id);
    assert_eq!(
        got.iter().map(strip).collect::<Vec<_>>(),
        expected.iter().map(strip).collect::<Vec<_>>(),
        "framing as bytes arrive differs from framing them whole"
    );
    assert_eq!(framer.stats, expected_stats);
    // Responses, paired against those requests.
    let responses = stream_of(to_client, cut + 1, origin);
    let mut pairing = Pairing::new(64);
    let mut stats = KafkaStats::default();
    let mut settled = Vec::new();
    let mut rv = ResponseValidator::new();
    for r in expected {
        rv.expect(&r);
        pairing.request(r);
    }
    frame::split(
        &responses.view(),
        1 << 20,
        &mut rv,
        |span, correlation_id| {
            pairing.response(
                exchange::Response {
                    span,
                    correlation_id,
                },
                &mut settled,
                &mut stats,
            )
        },
    );
    pairing.finish(&mut settled, &mut stats);
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

/// The connection table under adversarial traffic: every 8 bytes are one packet on a
/// small space of 4-tuples (so that tuples collide, restart with new SYNs and outlive
/// their evictions), with chosen flags, sequence numbers, payload and time steps
/// (some past the timeouts). Run with tiny memory caps and frequent checkpoints, on
/// one and on three workers: no panic, the same spans and counts, and no more
/// evictions than connections.
pub fn connection_table(data: &[u8]) {
    let packets = adversarial_packets(data);
    if packets.is_empty() {
        return;
    }
    let pcap = crate::testkit::pcap(&packets);
    let caps = crate::caps::Caps {
        max_connections: 3,
        max_connection_bytes: 3 * crate::caps::LIVE_STATE_BYTES,
        max_reassembly_bytes: 600,
        max_waiting_requests: 3,
        max_unnamed_spans: 1,
        checkpoint_packets: 3,
        checkpoint_bytes: 256,
    };
    let run = |threads| {
        let config = pipeline::PipelineConfig {
            threads,
            caps,
            apis: crate::kafka::api::ApiSet::all(),
            ..pipeline::PipelineConfig::default()
        };
        let mut summary = Summary::default();
        let spans = pipeline::process_capture(&pcap, 0, &config, &mut summary)
            .expect("a well-formed capture");
        let spans: Vec<Vec<u8>> = spans.into_iter().flat_map(|c| c.spans).collect();
        (spans, summary)
    };
    let (one, s1) = run(1);
    let (three, s3) = run(3);
    assert!(s1.caps.evicted_total() <= s1.tcp_connections);
    assert_eq!(one, three, "spans depend on the number of workers");
    assert_eq!(
        format!("{s1:?}"),
        format!("{s3:?}"),
        "counts depend on the number of workers"
    );
}

/// The packets [`connection_table`] reads from its input.
fn adversarial_packets(data: &[u8]) -> Vec<crate::testkit::CraftedPacket> {
    // A real request frame, so that some payloads frame and pair.
    const API_VERSIONS: [u8; 23] = [
        0, 0, 0, 19, 0, 18, 0, 3, 0, 0, 0, 7, 0, 1, b'c', 0, 2, b'k', 2, b'1', 0, 0, 0,
    ];
    let mut ts: i64 = 1_796_083_200_000_000_000;
    let mut out = Vec::new();
    for rec in data.chunks_exact(8) {
        let client = [10, 0, 0, 1 + (rec[0] & 3)];
        let client_port = 1000 + u16::from(rec[1] & 3);
        let broker_port = if rec[2] & 1 == 0 { 9092 } else { 19092 };
        let from_client = rec[2] & 2 == 0;
        let flags = rec[3];
        let seq = u32::from(u16::from_le_bytes([rec[4], rec[5]])) << (rec[2] >> 4);
        let len = usize::from(rec[6]);
        ts += if rec[7] & 0x80 != 0 {
            i64::from(rec[7] & 0x7f) * 1_000_000_000
        } else {
            i64::from(rec[7]) * 1_000_000
        };
        let payload: Vec<u8> = if rec[2] & 4 != 0 {
            API_VERSIONS.iter().copied().cycle().take(len).collect()
        } else {
            (0..len).map(|i| (i as u8).wrapping_mul(rec[6])).collect()
        };
        let (src, dst, sport, dport) = if from_client {
            (client, [10, 0, 0, 100], client_port, broker_port)
        } else {
            ([10, 0, 0, 100], client, broker_port, client_port)
        };
        let mut b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(src, dst, 64)
            .tcp(sport, dport, seq, 65535);
        if flags & 0x02 != 0 {
            b = b.syn();
        }
        if flags & 0x10 != 0 {
            b = b.ack(seq.wrapping_add(u32::from(flags)));
        }
        if flags & 0x01 != 0 {
            b = b.fin();
        }
        if flags & 0x04 != 0 {
            b = b.rst();
        }
        let mut bytes = Vec::with_capacity(len + 64);
        if b.write(&mut bytes, &payload).is_ok() {
            out.push(crate::testkit::CraftedPacket { ts_ns: ts, bytes });
        }
    }
    out
}
