//! The Kafka layer: takes one TCP connection, decides which end is the broker, frames
//! both directions and pairs requests with responses. Hands on a [`ConnectionReport`]
//! holding the connection's [`exchange::Exchange`]s and what was skipped.

pub mod api;
pub mod exchange;
pub mod frame;
pub mod header;

use crate::net::Endpoint;
use crate::tcp::{self, Connection, Dir, Stream, StreamStats};
use exchange::{Exchange, KafkaStats};

/// Which TCP ports carry Kafka.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRule {
    pub ports: Vec<u16>,
    /// The user named the ports: only they count. Otherwise other ports are examined
    /// too and kept when they hold Kafka requests that get Kafka responses.
    pub explicit: bool,
}

impl Default for PortRule {
    fn default() -> Self {
        PortRule {
            ports: vec![9092],
            explicit: false,
        }
    }
}

/// Settings of the Kafka layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    pub ports: PortRule,
    /// Largest frame accepted, length prefix excluded.
    pub max_frame: u64,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            ports: PortRule::default(),
            max_frame: 100 * 1024 * 1024,
        }
    }
}

/// What a connection turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Kafka,
    /// Not on a Kafka port, and no Kafka exchange was found in it.
    OtherTraffic,
    /// On a Kafka port, but carrying no payload at all.
    NoPayload,
    /// On a Kafka port, with payload that holds no Kafka request.
    NotKafka(Unrecognised),
}

/// A guess at what non-Kafka payload on a Kafka port is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unrecognised {
    Tls,
    Unknown,
}

/// The outcome of one connection.
#[derive(Debug)]
pub struct ConnectionReport {
    pub conn_id: u32,
    pub client: Endpoint,
    pub broker: Endpoint,
    pub start_ts: i64,
    pub verdict: Verdict,
    pub exchanges: Vec<Exchange>,
    pub kafka: KafkaStats,
    /// Reassembly counters: `[client→broker, broker→client]`.
    pub tcp: [StreamStats; 2],
    /// Holes in the captured streams: count and bytes, both directions.
    pub gaps: u64,
    pub gap_bytes: u64,
}

/// Whether a connection is worth analysing: with explicit ports, only connections on
/// them are.
pub fn worth_analysing(conn: &Connection<'_>, config: &KafkaConfig) -> bool {
    !config.ports.explicit
        || conn
            .ends
            .iter()
            .any(|e| config.ports.ports.contains(&e.port))
}

/// Analyses one connection.
pub fn analyse(conn: &Connection<'_>, config: &KafkaConfig) -> ConnectionReport {
    let streams = [
        tcp::reassemble(conn, Dir::AtoB),
        tcp::reassemble(conn, Dir::BtoA),
    ];
    let on_port = |i: usize| config.ports.ports.contains(&conn.ends[i].port);
    let port_broker = match (on_port(0), on_port(1)) {
        (true, false) => Some(0),
        (false, true) => Some(1),
        _ => None,
    };
    let candidate = on_port(0) || on_port(1);
    let broker = conn
        .syn_client()
        .map(|c| 1 - c)
        .or(port_broker)
        .unwrap_or_else(|| broker_by_content(&streams, config.max_frame));
    let client = 1 - broker;
    // Stream index i carries bytes sent by ends[i].
    let (to_broker, to_client) = (&streams[client], &streams[broker]);
    let mut kafka = KafkaStats::default();
    let (requests, rstats) = exchange::split_requests(to_broker, config.max_frame);
    kafka.requests = rstats;
    let (responses, sstats) = exchange::split_responses(to_client, config.max_frame, &requests);
    kafka.responses = sstats;
    let exchanges = exchange::pair(requests, responses, &mut kafka);

    let has_payload = streams.iter().any(|s| !s.chunks.is_empty());
    let found_by_content = !config.ports.explicit && exchanges.iter().any(|e| e.response.is_some());
    let verdict = if !exchanges.is_empty() && (candidate || found_by_content) {
        Verdict::Kafka
    } else if !candidate {
        Verdict::OtherTraffic
    } else if !has_payload {
        Verdict::NoPayload
    } else {
        Verdict::NotKafka(classify(to_broker))
    };
    let (gaps, gap_bytes) = streams
        .iter()
        .flat_map(|s| s.gaps())
        .fold((0, 0), |(n, b), g| (n + 1, b + g.len));
    let keep = verdict == Verdict::Kafka;
    ConnectionReport {
        conn_id: conn.id,
        client: conn.ends[client],
        broker: conn.ends[broker],
        start_ts: conn.start_ts(),
        verdict,
        exchanges: if keep { exchanges } else { Vec::new() },
        kafka: if keep { kafka } else { KafkaStats::default() },
        tcp: [streams[client].stats, streams[broker].stats],
        gaps,
        gap_bytes,
    }
}

/// Without a SYN or a port to go by, the broker is the end that receives requests.
fn broker_by_content(streams: &[Stream<'_>; 2], max_frame: u64) -> usize {
    let count = |s: &Stream<'_>| exchange::split_requests(s, max_frame).0.len();
    // streams[0] is sent by ends[0], so many requests in it make ends[1] the broker.
    if count(&streams[0]) >= count(&streams[1]) {
        1
    } else {
        0
    }
}

/// A first guess at what a non-Kafka byte stream is, from its first bytes.
fn classify(stream: &Stream<'_>) -> Unrecognised {
    let Some(first) = stream.chunks.first() else {
        return Unrecognised::Unknown;
    };
    match first.data {
        // A TLS record: handshake (22), version 3.x.
        [0x16, 0x03, 0..=4, ..] => Unrecognised::Tls,
        _ => Unrecognised::Unknown,
    }
}
