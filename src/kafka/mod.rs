//! The Kafka layer: takes one TCP connection, decides which end is the broker, frames
//! both directions and pairs requests with responses. Hands on a [`ConnectionReport`]
//! holding the connection's [`exchange::Exchange`]s and what was skipped.

pub mod api;
pub mod body;
pub mod exchange;
pub mod facts;
pub mod frame;
pub mod header;

use crate::net::Endpoint;
use crate::tcp::{self, Connection, Dir, Stream, StreamStats};
use crate::timing;
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
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    pub ports: PortRule,
    /// Largest frame accepted, length prefix excluded.
    pub max_frame: u64,
    /// APIs whose bodies are read (Metadata and the group APIs always are: other
    /// exchanges need what they say).
    pub bodies: api::ApiSet,
    pub facts: facts::FactsOptions,
    /// Most requests waiting for a response on one connection at once.
    pub max_in_flight: usize,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            ports: PortRule::default(),
            max_frame: 100 * 1024 * 1024,
            bodies: api::ApiSet::default(),
            facts: facts::FactsOptions::default(),
            max_in_flight: 10_000,
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
    /// Raw SASL/GSSAPI tokens (Kerberos), as sent after a SaslHandshake v0.
    SaslGssapi,
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
    /// Round trips from the capture point.
    pub rtt: timing::Rtt,
    /// TCP trouble over time, both directions, for per-exchange counts.
    pub tcp_events: timing::EventLog,
    /// A SaslHandshake v0 was exchanged, so the client then sent raw SASL tokens,
    /// which are not Kafka frames and were skipped.
    pub raw_sasl_tokens: bool,
    /// The client library the connection announced (ApiVersions v3+), if it did.
    pub client_software: Option<facts::ClientSoftware>,
}

/// The client software a connection announced: the first ApiVersions v3+ request that
/// named it. Takes exchanges in request order, so it can be fed as they complete.
pub fn client_software_of<'e>(
    exchanges: impl IntoIterator<Item = &'e Exchange>,
) -> Option<facts::ClientSoftware> {
    exchanges
        .into_iter()
        .find_map(|e| e.facts.client_software.clone())
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

/// Analyses one connection. `limits` bounds record decompression: its budget is this
/// connection's share of the run's.
pub fn analyse(
    conn: &Connection<'_>,
    config: &KafkaConfig,
    limits: &mut body::Limits,
) -> ConnectionReport {
    let mut streams = [
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
    let mut exchanges = exchange::pair(requests, responses, config.max_in_flight, &mut kafka);
    for ex in &mut exchanges {
        let key = ex.request.api_key;
        // Metadata and the group APIs are read whatever the filter: other exchanges need
        // what they say. Produce and Fetch only when they will become spans.
        let wanted = !matches!(key, api::PRODUCE | api::FETCH) || config.bodies.contains(key);
        if wanted && facts::has_body_facts(key) {
            ex.facts = facts::decode(ex, to_broker, to_client, &config.facts, limits);
        }
    }
    let raw_sasl_tokens = exchanges
        .iter()
        .any(|e| e.request.api_key == 17 && e.request.api_version == 0);
    let has_payload = streams.iter().any(|s| !s.chunks.is_empty());
    let found_by_content = !config.ports.explicit && exchanges.iter().any(|e| e.response.is_some());
    let verdict = if kafka.requests.not_kafka_from_start {
        if candidate {
            Verdict::NotKafka(classify(to_broker))
        } else {
            Verdict::OtherTraffic
        }
    } else if !exchanges.is_empty() && (candidate || found_by_content) {
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
    let client_software = client_software_of(&exchanges).filter(|_| keep);
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
        rtt: if keep {
            timing::rtt(conn, client)
        } else {
            timing::Rtt::default()
        },
        tcp_events: if keep {
            event_log(&mut streams, client)
        } else {
            timing::EventLog::default()
        },
        raw_sasl_tokens,
        client_software,
    }
}

/// Both directions' TCP events, each tagged with its direction, and gap times, taken
/// out of the streams. Stream `client` carries the requests.
fn event_log(streams: &mut [Stream<'_>; 2], client: usize) -> timing::EventLog {
    let gaps = streams.iter().flat_map(|s| s.gap_times()).collect();
    let mut events = Vec::new();
    for (i, stream) in streams.iter_mut().enumerate() {
        let flow = if i == client {
            timing::Flow::ToBroker
        } else {
            timing::Flow::ToClient
        };
        events.extend(stream.events.drain(..).map(|(ts, e)| (ts, flow, e)));
    }
    timing::EventLog::new(events, gaps)
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
        // A 4-byte length, then a GSSAPI token: ASN.1 [APPLICATION 0] (0x60).
        [0, 0..=3, _, _, 0x60, ..] => Unrecognised::SaslGssapi,
        _ => Unrecognised::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::read_connections;
    use crate::summary::Summary;
    use crate::testkit::{self, Conversation, Side};
    use exchange::ResponseState;
    use kafka_protocol::messages::{MetadataRequest, MetadataResponse, ProduceRequest};

    const MS: i64 = 1_000_000;

    fn metadata_exchange(conv: &mut Conversation, id: i32, t: i64) {
        let req = testkit::request_frame(
            api::METADATA,
            12,
            id,
            Some("kt"),
            &MetadataRequest::default(),
        );
        let resp = testkit::response_frame(api::METADATA, 12, id, &MetadataResponse::default());
        conv.send(Side::Client, t, &req);
        conv.send(Side::Broker, t + MS, &resp);
    }

    fn analyse_pcap(pcap: &[u8], config: &KafkaConfig) -> Vec<ConnectionReport> {
        let mut summary = Summary::default();
        read_connections(pcap, &mut summary)
            .unwrap()
            .iter()
            .filter(|c| worth_analysing(c, config))
            .map(|c| analyse(c, config, &mut body::Limits::default()))
            .collect()
    }

    #[test]
    fn kafka_on_another_port_is_found_by_its_headers() {
        // No SYN, neither port is 9092: only the headers say which end is the broker.
        let mut conv = Conversation::new(40000, 19999, 1000, 5000);
        for i in 0..3 {
            metadata_exchange(&mut conv, i + 1, (10 + 10 * i64::from(i)) * MS);
        }
        let pcap = testkit::pcap(&conv.packets);
        let reports = analyse_pcap(&pcap, &KafkaConfig::default());
        assert_eq!(reports.len(), 1);
        let r = &reports[0];
        assert_eq!(r.verdict, Verdict::Kafka);
        assert_eq!((r.client.port, r.broker.port), (40000, 19999));
        assert_eq!(r.exchanges.len(), 3);
        assert!(r.exchanges.iter().all(|e| e.state == ResponseState::Paired));

        // Explicit ports leave it out.
        let explicit = KafkaConfig {
            ports: PortRule {
                ports: vec![9092],
                explicit: true,
            },
            ..KafkaConfig::default()
        };
        assert!(analyse_pcap(&pcap, &explicit).is_empty());
    }

    #[test]
    fn syn_decides_the_broker_even_against_the_port_rule() {
        // The client happens to use port 9092 as its source port.
        let mut conv = Conversation::new(9092, 30000, 1, 2);
        conv.handshake(0, MS, 2 * MS);
        metadata_exchange(&mut conv, 7, 3 * MS);
        let pcap = testkit::pcap(&conv.packets);
        let r = &analyse_pcap(&pcap, &KafkaConfig::default())[0];
        assert_eq!((r.client.port, r.broker.port), (9092, 30000));
        assert_eq!(r.exchanges.len(), 1);
    }

    #[test]
    fn non_kafka_on_another_port_is_other_traffic() {
        let mut conv = Conversation::new(40000, 8080, 1, 2);
        conv.handshake(0, MS, 2 * MS);
        conv.send(Side::Client, 3 * MS, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        conv.send(
            Side::Broker,
            4 * MS,
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        );
        let pcap = testkit::pcap(&conv.packets);
        let r = &analyse_pcap(&pcap, &KafkaConfig::default())[0];
        assert_eq!(r.verdict, Verdict::OtherTraffic);
        assert!(r.exchanges.is_empty());
    }

    #[test]
    fn tls_on_the_kafka_port_is_named() {
        let mut conv = Conversation::new(40000, 9092, 1, 2);
        conv.handshake(0, MS, 2 * MS);
        // A TLS 1.2 ClientHello record header and the start of its body.
        conv.send(
            Side::Client,
            3 * MS,
            &[
                0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03,
            ],
        );
        let pcap = testkit::pcap(&conv.packets);
        let r = &analyse_pcap(&pcap, &KafkaConfig::default())[0];
        assert_eq!(r.verdict, Verdict::NotKafka(Unrecognised::Tls));
        assert!(r.exchanges.is_empty());
    }

    #[test]
    fn gssapi_tokens_on_the_kafka_port_are_named() {
        let mut conv = Conversation::new(40000, 9092, 1, 2);
        conv.handshake(0, MS, 2 * MS);
        // Length 0x25b, then a Kerberos AP-REQ wrapped in a GSSAPI token (0x60 ...).
        conv.send(
            Side::Client,
            3 * MS,
            &[0, 0, 0x02, 0x5b, 0x60, 0x82, 0x02, 0x57, 0x06, 0x09],
        );
        let pcap = testkit::pcap(&conv.packets);
        let r = &analyse_pcap(&pcap, &KafkaConfig::default())[0];
        assert_eq!(r.verdict, Verdict::NotKafka(Unrecognised::SaslGssapi));
    }

    #[test]
    fn produce_with_acks_0_expects_no_response_and_pipelines_pair() {
        let mut conv = Conversation::new(40000, 9092, 1, 2);
        conv.handshake(0, MS, 2 * MS);
        let fire_and_forget = ProduceRequest::default().with_acks(0).with_timeout_ms(1000);
        let acked = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(1000);
        // Three requests in flight before any response; the acks=0 one gets none.
        conv.send(
            Side::Client,
            3 * MS,
            &testkit::request_frame(api::PRODUCE, 9, 1, Some("p"), &acked),
        );
        conv.send(
            Side::Client,
            4 * MS,
            &testkit::request_frame(api::PRODUCE, 9, 2, Some("p"), &fire_and_forget),
        );
        conv.send(
            Side::Client,
            5 * MS,
            &testkit::request_frame(api::METADATA, 12, 3, Some("p"), &MetadataRequest::default()),
        );
        let produce_resp = kafka_protocol::messages::ProduceResponse::default();
        conv.send(
            Side::Broker,
            6 * MS,
            &testkit::response_frame(api::PRODUCE, 9, 1, &produce_resp),
        );
        conv.send(
            Side::Broker,
            7 * MS,
            &testkit::response_frame(api::METADATA, 12, 3, &MetadataResponse::default()),
        );
        let pcap = testkit::pcap(&conv.packets);
        let r = &analyse_pcap(&pcap, &KafkaConfig::default())[0];
        let states: Vec<_> = r
            .exchanges
            .iter()
            .map(|e| (e.request.correlation_id, e.state))
            .collect();
        assert_eq!(
            states,
            vec![
                (1, ResponseState::Paired),
                (2, ResponseState::NotExpected),
                (3, ResponseState::Paired)
            ]
        );
        assert_eq!(r.exchanges[0].request.acks, Some(-1));
        assert_eq!(r.exchanges[1].request.acks, Some(0));
        assert_eq!(r.exchanges[2].response.unwrap().span.first_ts, 7 * MS);
        assert_eq!(r.kafka.unpaired_responses, 0);
    }

    #[test]
    fn too_many_requests_in_flight_give_up_the_oldest() {
        let mut conv = Conversation::new(40000, 9092, 1, 2);
        conv.handshake(0, MS, 2 * MS);
        for id in 1..=5 {
            let req = testkit::request_frame(
                api::METADATA,
                12,
                id,
                Some("f"),
                &MetadataRequest::default(),
            );
            conv.send(Side::Client, (2 + i64::from(id)) * MS, &req);
        }
        for id in 4..=5 {
            let resp = testkit::response_frame(api::METADATA, 12, id, &MetadataResponse::default());
            conv.send(Side::Broker, (10 + i64::from(id)) * MS, &resp);
        }
        let pcap = testkit::pcap(&conv.packets);
        let config = KafkaConfig {
            max_in_flight: 2,
            ..KafkaConfig::default()
        };
        let r = &analyse_pcap(&pcap, &config)[0];
        let states: Vec<_> = r.exchanges.iter().map(|e| e.state).collect();
        use ResponseState::*;
        assert_eq!(
            states,
            [NotCaptured, NotCaptured, NotCaptured, Paired, Paired]
        );
        assert_eq!(r.kafka.in_flight_evicted, 3);
        assert_eq!(r.kafka.unpaired_responses, 0);
        // Without the cap all five wait and the last two pair all the same.
        let r = &analyse_pcap(&pcap, &KafkaConfig::default())[0];
        assert_eq!(r.kafka.in_flight_evicted, 0);
    }
}
