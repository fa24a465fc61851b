//! Builds crafted captures for tests and benchmarks: Kafka frames encoded with
//! kafka-protocol (trusted input, so its encoders are safe to use), TCP segments built
//! with etherparse's `PacketBuilder`, and nanosecond pcap files around them. Nothing in
//! the pipeline uses this module.

use bytes::BytesMut;
use etherparse::PacketBuilder;
use kafka_protocol::messages::RequestHeader;
use kafka_protocol::protocol::{Encodable, StrBytes};

use crate::kafka::api;

/// A request frame: length prefix, header of the version the key and version imply,
/// then `body` encoded at `version`.
pub fn request_frame<B: Encodable>(
    api_key: i16,
    version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
    body: &B,
) -> Vec<u8> {
    let info = api::info(api_key).expect("known key");
    let header = RequestHeader::default()
        .with_request_api_key(api_key)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(client_id.map(|c| StrBytes::from_string(c.to_string())));
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, info.request_header_version(version))
        .expect("header encodes");
    body.encode(&mut buf, version).expect("body encodes");
    with_prefix(&buf)
}

/// A response frame: length prefix, correlation id (plus empty tagged fields for
/// header v1), then `body` encoded at `version`.
pub fn response_frame<B: Encodable>(
    api_key: i16,
    version: i16,
    correlation_id: i32,
    body: &B,
) -> Vec<u8> {
    let info = api::info(api_key).expect("known key");
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&correlation_id.to_be_bytes());
    if info.response_header_version(version) >= 1 {
        buf.extend_from_slice(&[0]);
    }
    body.encode(&mut buf, version).expect("body encodes");
    with_prefix(&buf)
}

fn with_prefix(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// One TCP packet of a crafted capture.
#[derive(Debug, Clone)]
pub struct CraftedPacket {
    pub ts_ns: i64,
    pub bytes: Vec<u8>,
}

/// A TCP connection between a client and a broker on 127.0.0.1 that writes Ethernet
/// packets with consistent sequence and acknowledgement numbers.
pub struct Conversation {
    pub client_port: u16,
    pub broker_port: u16,
    /// Next sequence number of each side: `[client, broker]`.
    next_seq: [u32; 2],
    pub packets: Vec<CraftedPacket>,
}

/// Which side sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client = 0,
    Broker = 1,
}

impl Conversation {
    pub fn new(client_port: u16, broker_port: u16, client_isn: u32, broker_isn: u32) -> Self {
        Conversation {
            client_port,
            broker_port,
            next_seq: [client_isn, broker_isn],
            packets: Vec::new(),
        }
    }

    /// SYN, SYN-ACK, ACK at the given times.
    pub fn handshake(&mut self, t_syn: i64, t_synack: i64, t_ack: i64) {
        self.raw(Side::Client, t_syn, self.next_seq[0], &[], true, false);
        self.next_seq[0] = self.next_seq[0].wrapping_add(1);
        self.raw(Side::Broker, t_synack, self.next_seq[1], &[], true, true);
        self.next_seq[1] = self.next_seq[1].wrapping_add(1);
        self.raw(Side::Client, t_ack, self.next_seq[0], &[], false, true);
    }

    /// Sends `data` as one segment at `ts`.
    pub fn send(&mut self, side: Side, ts: i64, data: &[u8]) {
        let seq = self.next_seq[side as usize];
        self.raw(side, ts, seq, data, false, true);
        self.next_seq[side as usize] = seq.wrapping_add(data.len() as u32);
    }

    /// Sends `data` split at `cuts` (offsets into `data`), one segment per piece, the
    /// i-th piece at `times[i]`.
    pub fn send_split(&mut self, side: Side, data: &[u8], cuts: &[usize], times: &[i64]) {
        let mut bounds = vec![0];
        bounds.extend_from_slice(cuts);
        bounds.push(data.len());
        assert_eq!(times.len(), bounds.len() - 1);
        for (w, &t) in bounds.windows(2).zip(times) {
            self.send(side, t, &data[w[0]..w[1]]);
        }
    }

    /// The sequence number the next byte from `side` will carry.
    pub fn next_seq(&self, side: Side) -> u32 {
        self.next_seq[side as usize]
    }

    /// Moves `side`'s sequence number without sending (for crafting loss).
    pub fn skip(&mut self, side: Side, bytes: u32) {
        self.next_seq[side as usize] = self.next_seq[side as usize].wrapping_add(bytes);
    }

    /// Writes one segment with an explicit sequence number (retransmissions, reordering).
    pub fn raw(&mut self, side: Side, ts: i64, seq: u32, data: &[u8], syn: bool, ack: bool) {
        let (src, dst) = match side {
            Side::Client => (self.client_port, self.broker_port),
            Side::Broker => (self.broker_port, self.client_port),
        };
        let peer_next = self.next_seq[1 - side as usize];
        let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
            .tcp(src, dst, seq, 65535);
        if syn {
            b = b.syn();
        }
        if ack {
            b = b.ack(peer_next);
        }
        let mut bytes = Vec::with_capacity(data.len() + 64);
        b.write(&mut bytes, data).expect("packet builds");
        self.packets.push(CraftedPacket { ts_ns: ts, bytes });
    }
}

/// A nanosecond pcap (little-endian, Ethernet) holding `packets` in order.
pub fn pcap(packets: &[CraftedPacket]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_3c4du32.to_le_bytes()); // magic: nanosecond pcap
    out.extend_from_slice(&2u16.to_le_bytes()); // version 2.4
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    out.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    out.extend_from_slice(&262_144u32.to_le_bytes()); // snaplen
    out.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    for p in packets {
        let secs = p.ts_ns.div_euclid(1_000_000_000) as u32;
        let nanos = p.ts_ns.rem_euclid(1_000_000_000) as u32;
        out.extend_from_slice(&secs.to_le_bytes());
        out.extend_from_slice(&nanos.to_le_bytes());
        out.extend_from_slice(&(p.bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(&(p.bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(&p.bytes);
    }
    out
}

/// Packets of several conversations merged in time order (stable for equal times).
pub fn merge(conversations: &[&Conversation]) -> Vec<CraftedPacket> {
    let mut all: Vec<CraftedPacket> = conversations
        .iter()
        .flat_map(|c| c.packets.iter().cloned())
        .collect();
    all.sort_by_key(|p| p.ts_ns);
    all
}

/// A magic-2 record batch header (61 bytes) around `records` (already compressed with
/// the codec `codec_id` names), with a correct CRC-32C.
pub fn record_batch(base_offset: i64, codec_id: u8, record_count: i32, records: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(61 + records.len());
    b.extend_from_slice(&base_offset.to_be_bytes()); // baseOffset
    b.extend_from_slice(&0i32.to_be_bytes()); // batchLength, set below
    b.extend_from_slice(&0i32.to_be_bytes()); // partitionLeaderEpoch
    b.push(2); // magic
    b.extend_from_slice(&0u32.to_be_bytes()); // crc, set below
    b.extend_from_slice(&i16::from(codec_id & 7).to_be_bytes()); // attributes
    b.extend_from_slice(&(record_count - 1).max(0).to_be_bytes()); // lastOffsetDelta
    b.extend_from_slice(&0i64.to_be_bytes()); // baseTimestamp
    b.extend_from_slice(&0i64.to_be_bytes()); // maxTimestamp
    b.extend_from_slice(&(-1i64).to_be_bytes()); // producerId
    b.extend_from_slice(&(-1i16).to_be_bytes()); // producerEpoch
    b.extend_from_slice(&(-1i32).to_be_bytes()); // baseSequence
    b.extend_from_slice(&record_count.to_be_bytes()); // records count
    b.extend_from_slice(records);
    let len = (b.len() - 12) as i32;
    b[8..12].copy_from_slice(&len.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}
