//! The Kafka layer: follows one TCP connection segment by segment ([`KafkaConn`]),
//! decides which end is the broker, frames both directions as their bytes settle,
//! pairs requests with responses and reads their bodies. Hands on each
//! [`exchange::Exchange`] as soon as it is settled, and at the connection's end a
//! [`ConnectionReport`] with what was counted and skipped.

pub mod api;
pub mod body;
pub mod exchange;
pub mod facts;
pub mod frame;
pub mod header;

use crate::net::{Endpoint, flags};
use crate::tcp::{DirStream, SegRec, Stream, StreamStats};
use crate::timing;
use exchange::{Exchange, KafkaStats, Pairing, RequestValidator, ResponseValidator, Settled};
use frame::Framer;

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
    /// The first client id its requests gave.
    pub client_id: Option<std::sync::Arc<str>>,
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

impl ConnectionReport {
    /// The connection without its exchanges, with `tcp_events` as its event log.
    pub fn context(&self, tcp_events: timing::EventLog) -> ConnectionReport {
        ConnectionReport {
            conn_id: self.conn_id,
            client: self.client,
            broker: self.broker,
            start_ts: self.start_ts,
            verdict: self.verdict,
            exchanges: Vec::new(),
            kafka: self.kafka,
            tcp: self.tcp,
            gaps: self.gaps,
            gap_bytes: self.gap_bytes,
            rtt: self.rtt,
            tcp_events,
            raw_sasl_tokens: self.raw_sasl_tokens,
            client_software: self.client_software.clone(),
            client_id: self.client_id.clone(),
        }
    }

    /// The connection without its exchanges or TCP events.
    pub fn without_exchanges(&self) -> ConnectionReport {
        self.context(timing::EventLog::default())
    }
}

/// Whether a connection between these ends is worth analysing: with explicit ports,
/// only connections on them are.
pub fn worth_analysing(ends: &[Endpoint; 2], config: &KafkaConfig) -> bool {
    !config.ports.explicit || ends.iter().any(|e| config.ports.ports.contains(&e.port))
}

/// Bytes held per direction before a connection with neither a SYN nor a Kafka port
/// to go by is judged by its content.
const PROBE_BYTES: usize = 64 * 1024;

/// Requests expecting no response (Produce with acks=0) that may wait at once for a
/// response some brokers send anyway; older ones settle as not expected.
const MAX_UNANSWERED_ACKS0: usize = 64;

/// One connection followed as its segments arrive.
pub struct KafkaConn {
    /// What spans and summaries need to know of the connection; `client`/`broker`
    /// are set once the broker end is known, the counters at the end.
    pub report: ConnectionReport,
    ends: [Endpoint; 2],
    /// `dirs[i]` carries the bytes `ends[i]` sent.
    dirs: [DirStream; 2],
    broker: Option<usize>,
    syn_client: Option<usize>,
    port_broker: Option<usize>,
    candidate: bool,
    requests: Framer,
    responses: Framer,
    request_validator: RequestValidator,
    response_validator: ResponseValidator,
    pairing: Pairing,
    rtt: timing::RttTracker,
    /// Decompression still allowed to this connection.
    budget: u64,
    /// Exchanges handed on, and whether one of them had a response.
    exchanges: u64,
    answered: bool,
    /// Exchanges kept back until the connection shows it is Kafka (it is on no
    /// Kafka port, so only a paired response proves it).
    held: Vec<Exchange>,
    settled: Vec<Settled>,
    /// The first payload bytes each end sent, to name what a non-Kafka stream is.
    first_bytes: [[u8; 8]; 2],
    first_len: [usize; 2],
    finished: bool,
    unframed_at_finish: u64,
}

impl KafkaConn {
    pub fn new(
        conn_id: u32,
        ends: [Endpoint; 2],
        start_ts: i64,
        config: &KafkaConfig,
        budget: u64,
    ) -> Self {
        let on_port = |i: usize| config.ports.ports.contains(&ends[i].port);
        let port_broker = match (on_port(0), on_port(1)) {
            (true, false) => Some(0),
            (false, true) => Some(1),
            _ => None,
        };
        KafkaConn {
            report: ConnectionReport {
                conn_id,
                client: ends[0],
                broker: ends[1],
                start_ts,
                verdict: Verdict::NoPayload,
                exchanges: Vec::new(),
                kafka: KafkaStats::default(),
                tcp: Default::default(),
                gaps: 0,
                gap_bytes: 0,
                rtt: timing::Rtt::default(),
                tcp_events: timing::EventLog::default(),
                raw_sasl_tokens: false,
                client_software: None,
                client_id: None,
            },
            ends,
            dirs: [DirStream::new(), DirStream::new()],
            broker: None,
            syn_client: None,
            port_broker,
            candidate: on_port(0) || on_port(1),
            requests: Framer::new(),
            responses: Framer::new(),
            request_validator: RequestValidator::new(),
            response_validator: ResponseValidator::new(),
            pairing: Pairing::new(config.max_in_flight),
            rtt: timing::RttTracker::default(),
            budget,
            exchanges: 0,
            answered: false,
            held: Vec::new(),
            settled: Vec::new(),
            first_bytes: [[0; 8]; 2],
            first_len: [0; 2],
            finished: false,
            unframed_at_finish: 0,
        }
    }

    /// Bytes this connection holds now (windows and waiting exchanges), roughly.
    pub fn held_bytes(&self) -> usize {
        self.dirs.iter().map(DirStream::held_bytes).sum::<usize>()
            + self.held.len() * std::mem::size_of::<Exchange>()
            + self.pairing.pending() * std::mem::size_of::<exchange::Request>()
    }

    /// Payload bytes held in the two byte windows now (the reassembly cap's measure).
    pub fn window_bytes(&self) -> u64 {
        self.dirs.iter().map(|d| d.window_bytes()).sum()
    }

    /// Requests waiting for a response now.
    pub fn waiting_requests(&self) -> u64 {
        self.pairing.pending() as u64
    }

    /// Payload bytes received past the last complete frame, in both directions, when
    /// the connection finished: what is lost when it was evicted.
    pub fn unframed_at_finish(&self) -> u64 {
        self.unframed_at_finish
    }

    fn unframed_bytes(&self) -> u64 {
        match self.broker {
            Some(broker) => {
                let client = 1 - broker;
                self.dirs[client]
                    .end()
                    .saturating_sub(self.requests.left_edge())
                    + self.dirs[broker]
                        .end()
                        .saturating_sub(self.responses.left_edge())
            }
            None => self.dirs.iter().map(DirStream::end).sum(),
        }
    }

    /// Decompression this connection may still do.
    pub fn budget_left(&self) -> u64 {
        self.budget
    }

    /// Whether requests still wait for their response.
    pub fn has_open_requests(&self) -> bool {
        self.pairing.pending() > 0
    }

    /// Takes one segment sent by `ends[from]`; exchanges it settles go to `out`.
    pub fn on_segment(
        &mut self,
        from: usize,
        seg: &SegRec<'_>,
        config: &KafkaConfig,
        limits: &mut body::Limits,
        out: &mut Vec<Exchange>,
    ) {
        if seg.is_bare_syn() && self.syn_client.is_none() {
            self.syn_client = Some(from);
        }
        self.rtt.on_segment(from, seg);
        if self.first_len[from] == 0 && !seg.payload.is_empty() {
            let n = seg.payload.len().min(8);
            self.first_bytes[from][..n].copy_from_slice(&seg.payload[..n]);
            self.first_len[from] = n;
        }
        self.dirs[from].push(seg);
        if seg.flags & flags::ACK != 0 {
            self.dirs[1 - from].on_peer_ack(seg.ack);
        }
        // A segment without payload changes what can be framed only by settling a
        // hole (its ACK), or by deciding the broker; most are plain ACKs.
        let bare = seg.payload.is_empty() && seg.missing == 0;
        if bare && self.broker.is_some() && !self.dirs.iter().any(DirStream::has_hole) {
            self.report.rtt = self.rtt.rtt(1 - self.broker.unwrap_or(1));
            return;
        }
        self.step(false, config, limits, out);
    }

    /// The connection is over: everything still open settles.
    pub fn finish(
        &mut self,
        config: &KafkaConfig,
        limits: &mut body::Limits,
        out: &mut Vec<Exchange>,
    ) {
        if self.finished {
            return;
        }
        self.step(true, config, limits, out);
        self.unframed_at_finish = self.unframed_bytes();
        if let Some(broker) = self.broker {
            let client = 1 - broker;
            let mut settled = std::mem::take(&mut self.settled);
            self.pairing.finish(&mut settled, &mut self.report.kafka);
            self.hand_on(&mut settled, client, config, limits, out);
            self.settled = settled;
            self.requests.finish(self.dirs[client].end());
            self.responses.finish(self.dirs[broker].end());
        }
        self.finished = true;
        self.settle_report();
        if self.report.verdict == Verdict::Kafka {
            out.append(&mut self.held);
        }
        self.held = Vec::new();
    }

    /// Frames, pairs and hands on what the bytes seen so far settle.
    fn step(
        &mut self,
        fin: bool,
        config: &KafkaConfig,
        limits: &mut body::Limits,
        out: &mut Vec<Exchange>,
    ) {
        let Some(broker) = self.decide_broker(fin, config) else {
            return;
        };
        let client = 1 - broker;
        let mut settled = std::mem::take(&mut self.settled);
        let (pairing, validator) = (&mut self.pairing, &mut self.response_validator);
        self.requests.step(
            &self.dirs[client],
            fin,
            config.max_frame,
            &mut self.request_validator,
            |view, span, head| {
                let request = exchange::request_from(view, span, head);
                validator.expect(&request);
                pairing.request(request);
            },
        );
        // A response is framed only once the requests before it are: searching for a
        // response header checks that a request with its correlation id waits.
        if fin || self.requests.in_sync() {
            let (pairing, stats) = (&mut self.pairing, &mut self.report.kafka);
            self.responses.step(
                &self.dirs[broker],
                fin,
                config.max_frame,
                &mut self.response_validator,
                |_, span, correlation_id| {
                    let response = exchange::Response {
                        span,
                        correlation_id,
                    };
                    pairing.response(response, &mut settled, stats);
                },
            );
        }
        self.pairing.settle_unanswerable(
            MAX_UNANSWERED_ACKS0,
            &mut settled,
            &mut self.report.kafka,
        );
        self.note_health(client, fin);
        self.hand_on(&mut settled, client, config, limits, out);
        self.settled = settled;
        self.release(client);
    }

    /// Decides which end is the broker once it can be: a SYN says it, then the Kafka
    /// port, then (after enough bytes, or at the end) which end receives requests.
    fn decide_broker(&mut self, fin: bool, config: &KafkaConfig) -> Option<usize> {
        if self.broker.is_some() {
            return self.broker;
        }
        let by_rule = self.syn_client.map(|c| 1 - c).or(self.port_broker);
        let broker = match by_rule {
            Some(b) => b,
            None => {
                let held = self
                    .dirs
                    .iter()
                    .map(|d| d.view().data.len())
                    .max()
                    .unwrap_or(0);
                if !fin && held < PROBE_BYTES {
                    return None;
                }
                broker_by_content(
                    &[self.dirs[0].view(), self.dirs[1].view()],
                    config.max_frame,
                )
            }
        };
        self.broker = Some(broker);
        self.report.client = self.ends[1 - broker];
        self.report.broker = self.ends[broker];
        Some(broker)
    }

    /// Moves the TCP trouble seen so far into the report's event log, and the holes
    /// that can no longer be filled.
    fn note_health(&mut self, client: usize, fin: bool) {
        for (i, dir) in self.dirs.iter_mut().enumerate() {
            let flow = if i == client {
                timing::Flow::ToBroker
            } else {
                timing::Flow::ToClient
            };
            for (ts, e) in dir.take_events() {
                self.report.tcp_events.push(ts, flow, e);
            }
            let upto = if fin { u64::MAX } else { dir.declared_to() };
            for ts in dir.take_gap_times(upto) {
                self.report.tcp_events.push_gap(ts);
            }
        }
        self.report.rtt = self.rtt.rtt(client);
    }

    /// Reads the bodies of settled exchanges and hands them on (or holds them while
    /// the connection has not shown it is Kafka).
    fn hand_on(
        &mut self,
        settled: &mut Vec<Settled>,
        client: usize,
        config: &KafkaConfig,
        limits: &mut body::Limits,
        out: &mut Vec<Exchange>,
    ) {
        if settled.is_empty() {
            return;
        }
        let (to_broker, to_client) = (self.dirs[client].view(), self.dirs[1 - client].view());
        for s in settled.drain(..) {
            // Answered requests left the validator when their response was framed;
            // the others leave now, so that it holds only what may still be answered.
            if s.response.is_none() {
                self.response_validator.forget(&s.request);
            }
            let mut ex = Exchange {
                seq: s.seq,
                request: s.request,
                response: s.response,
                state: s.state,
                facts: Default::default(),
            };
            let key = ex.request.api_key;
            // Metadata and the group APIs are read whatever the filter: other exchanges
            // need what they say. Produce and Fetch only when they will become spans.
            let wanted = !matches!(key, api::PRODUCE | api::FETCH) || config.bodies.contains(key);
            if wanted && facts::has_body_facts(key) {
                limits.set_budget(self.budget);
                ex.facts = facts::decode(&ex, &to_broker, &to_client, &config.facts, limits);
                self.budget = limits.budget_left();
            }
            self.report.raw_sasl_tokens |= key == 17 && ex.request.api_version == 0;
            if self.report.client_software.is_none() {
                self.report.client_software = ex.facts.client_software.clone();
            }
            if self.report.client_id.is_none() {
                self.report.client_id = ex.request.client_id.clone();
            }
            self.exchanges += 1;
            self.answered |= ex.response.is_some();
            if self.candidate || (!config.ports.explicit && self.answered) {
                out.append(&mut self.held);
                out.push(ex);
            } else {
                self.held.push(ex);
            }
        }
    }

    /// Frees the bytes nothing will read again, and the TCP events older than any
    /// exchange still open.
    fn release(&mut self, client: usize) {
        let broker = 1 - client;
        let mut edge = self.requests.left_edge();
        if let Some(o) = self.pairing.oldest_offset() {
            edge = edge.min(o);
        }
        self.dirs[client].release_before(edge);
        self.dirs[broker].release_before(self.responses.left_edge());
        if self.requests.done && self.requests.stats.not_kafka_from_start {
            self.dirs[client].discard_bytes();
            self.dirs[broker].discard_bytes();
        }
        let since = self.pairing.oldest_first_ts().unwrap_or(i64::MAX);
        self.report.tcp_events.forget_before(since);
    }

    /// Fills in the report's counters and verdict at the connection's end.
    fn settle_report(&mut self) {
        let Some(broker) = self.broker else {
            // No payload either way and nothing to decide by.
            self.report.verdict = if self.candidate {
                Verdict::NoPayload
            } else {
                Verdict::OtherTraffic
            };
            return;
        };
        let client = 1 - broker;
        let r = &mut self.report;
        r.kafka.requests = self.requests.stats;
        r.kafka.responses = self.responses.stats;
        r.tcp = [self.dirs[client].stats, self.dirs[broker].stats];
        let (gaps, gap_bytes) = self
            .dirs
            .iter()
            .map(DirStream::gap_totals)
            .fold((0, 0), |(n, b), (gn, gb)| (n + gn, b + gb));
        r.gaps = gaps;
        r.gap_bytes = gap_bytes;
        let has_payload = self.dirs.iter().any(DirStream::has_payload);
        let found_by_content = self.answered && !self.candidate;
        let classify = || classify(&self.first_bytes[client][..self.first_len[client]]);
        r.verdict = if r.kafka.requests.not_kafka_from_start {
            if self.candidate {
                Verdict::NotKafka(classify())
            } else {
                Verdict::OtherTraffic
            }
        } else if self.exchanges > 0 && (self.candidate || found_by_content) {
            Verdict::Kafka
        } else if !self.candidate {
            Verdict::OtherTraffic
        } else if !has_payload {
            Verdict::NoPayload
        } else {
            Verdict::NotKafka(classify())
        };
        if r.verdict != Verdict::Kafka {
            r.kafka = KafkaStats::default();
            r.rtt = timing::Rtt::default();
            r.tcp_events = timing::EventLog::default();
        }
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
fn classify(first: &[u8]) -> Unrecognised {
    match first {
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
    use crate::pipeline::{PipelineConfig, analyse_capture};
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
        let config = PipelineConfig {
            kafka: config.clone(),
            threads: 1,
            ..PipelineConfig::default()
        };
        analyse_capture(pcap, &config, &mut summary).unwrap()
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
