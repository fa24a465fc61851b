//! Turns one [`Exchange`] of a connection into an OTLP [`Span`]: semantic-convention
//! messaging attributes, kapture's own attributes (all named in [`attr`]), timing
//! from packet timestamps and ids derived from stable facts of the capture.

use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::trace::v1::{Span, Status, span::SpanKind};
use xxhash_rust::xxh3::{xxh3_64_with_seed, xxh3_128_with_seed};

use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

use crate::kafka::ConnectionReport;
use crate::kafka::api;
use crate::kafka::body::error_name;
use crate::kafka::exchange::{Exchange, ResponseState};
use crate::kafka::facts::{self, Facts, PartitionFacts, Topic};
use crate::knowledge::Knowledge;
use crate::net::Endpoint;
use crate::timing::WaitSplit;

/// Every attribute name kapture writes, in one place.
pub mod attr {
    pub const MESSAGING_SYSTEM: &str = "messaging.system";
    pub const OPERATION_NAME: &str = "messaging.operation.name";
    pub const OPERATION_TYPE: &str = "messaging.operation.type";
    pub const CLIENT_ID: &str = "messaging.client.id";
    pub const SERVER_ADDRESS: &str = "server.address";
    pub const SERVER_PORT: &str = "server.port";
    pub const CLIENT_ADDRESS: &str = "client.address";
    pub const CLIENT_PORT: &str = "client.port";
    pub const NETWORK_TRANSPORT: &str = "network.transport";
    pub const NETWORK_TYPE: &str = "network.type";
    pub const NETWORK_PEER_ADDRESS: &str = "network.peer.address";
    pub const NETWORK_PEER_PORT: &str = "network.peer.port";
    pub const KAFKA_CLUSTER_ID: &str = "messaging.kafka.cluster.id";
    /// The service on the other end (semconv's `service.peer.name`, and the older
    /// `peer.service` that service-graph builders still read).
    pub const SERVICE_PEER_NAME: &str = "service.peer.name";
    pub const PEER_SERVICE: &str = "peer.service";
    /// The client library (KIP-511). No semconv attribute names a remote peer's
    /// library (`telemetry.sdk.*` describes the telemetry SDK itself), so these keep
    /// Kafka's own field names under kapture's namespace.
    pub const CLIENT_SOFTWARE_NAME: &str = "kapture.client.software.name";
    pub const CLIENT_SOFTWARE_VERSION: &str = "kapture.client.software.version";

    pub const API_KEY: &str = "kapture.api_key";
    pub const API_NAME: &str = "kapture.api_name";
    pub const API_VERSION: &str = "kapture.api_version";
    pub const CORRELATION_ID: &str = "kapture.correlation_id";
    pub const REQUEST_BYTES: &str = "kapture.request.bytes";
    pub const RESPONSE_BYTES: &str = "kapture.response.bytes";
    pub const RESPONSE_STATE: &str = "kapture.response.state";
    pub const WRITE_NS: &str = "kapture.write_ns";
    pub const WAIT_NS: &str = "kapture.wait_ns";
    pub const READ_NS: &str = "kapture.read_ns";
    pub const REQUEST_INCOMPLETE: &str = "kapture.request.incomplete";
    pub const RESPONSE_INCOMPLETE: &str = "kapture.response.incomplete";
    pub const CONNECTION_ID: &str = "kapture.connection.id";
    pub const REQUEST_FIRST_FRAME: &str = "kapture.request.first_frame";
    pub const RESPONSE_LAST_FRAME: &str = "kapture.response.last_frame";
    pub const PRODUCE_ACKS: &str = "kapture.produce.acks";

    pub const DESTINATION_NAME: &str = "messaging.destination.name";
    pub const DESTINATION_PARTITION: &str = "messaging.destination.partition.id";
    pub const BATCH_MESSAGE_COUNT: &str = "messaging.batch.message_count";
    pub const CONSUMER_GROUP: &str = "messaging.consumer.group.name";
    pub const KAFKA_OFFSET: &str = "messaging.kafka.offset";
    pub const ERROR_TYPE: &str = "error.type";

    pub const TOPICS: &str = "kapture.topics";
    pub const UNRESOLVED_TOPIC_IDS: &str = "kapture.topic_ids.unresolved";
    pub const PARTITION_COUNT: &str = "kapture.partitions";
    pub const BATCHES: &str = "kapture.batches";
    pub const RECORD_BYTES: &str = "kapture.records.bytes";
    pub const CODECS: &str = "kapture.codecs";
    pub const THROTTLE_MS: &str = "kapture.throttle_ms";
    pub const ERROR_CODE: &str = "kapture.error_code";
    pub const TRANSACTIONAL_ID: &str = "kapture.produce.transactional_id";
    pub const PRODUCE_TIMEOUT_MS: &str = "kapture.produce.timeout_ms";
    pub const PRODUCER_ID: &str = "kapture.produce.producer_id";
    pub const FETCH_MAX_WAIT_MS: &str = "kapture.fetch.max_wait_ms";
    pub const FETCH_MIN_BYTES: &str = "kapture.fetch.min_bytes";
    pub const FETCH_MAX_BYTES: &str = "kapture.fetch.max_bytes";
    pub const FETCH_ISOLATION: &str = "kapture.fetch.isolation_level";
    pub const FETCH_SESSION_ID: &str = "kapture.fetch.session_id";
    pub const FETCH_SESSION_EPOCH: &str = "kapture.fetch.session_epoch";
    pub const FETCH_OFFSET: &str = "kapture.fetch.offset";
    pub const FETCH_LONG_POLL: &str = "kapture.fetch.long_poll";
    pub const PARTITION_ERRORS: &str = "kapture.partitions.errors";
    pub const HIGH_WATERMARK: &str = "kapture.fetch.high_watermark";
    pub const PARTIAL_BATCH: &str = "kapture.records.partial_batch";
    pub const REQUEST_DECODE_ERROR: &str = "kapture.request.decode_error";
    pub const RESPONSE_DECODE_ERROR: &str = "kapture.response.decode_error";
    pub const LINKS_DROPPED: &str = "kapture.links.dropped";
    pub const DECOMPRESSION_CAPPED: &str = "kapture.records.decompression_capped";

    pub const RTT_TO_BROKER_NS: &str = "kapture.rtt.to_broker_ns";
    pub const RTT_TO_CLIENT_NS: &str = "kapture.rtt.to_client_ns";
    pub const RTT_SOURCE: &str = "kapture.rtt.source";
    pub const CAPTURE_POINT: &str = "kapture.capture_point";
    pub const WAIT_NETWORK_ESTIMATE_NS: &str = "kapture.wait.network_estimate_ns";
    pub const WAIT_BROKER_ESTIMATE_NS: &str = "kapture.wait.broker_estimate_ns";
    pub const WAIT_LOSS_RECOVERY_NS: &str = "kapture.wait.loss_recovery_ns";
    pub const WAIT_SPLIT: &str = "kapture.wait.split";
    pub const TCP_RETRANSMISSIONS: &str = "kapture.tcp.retransmissions";
    pub const TCP_OUT_OF_ORDER: &str = "kapture.tcp.out_of_order";
    pub const TCP_ZERO_WINDOWS: &str = "kapture.tcp.zero_windows";
    pub const TCP_GAPS: &str = "kapture.tcp.gaps";
    pub const PHASE: &str = "kapture.phase";

    /// Phase-boundary span events.
    pub const EVENT_REQUEST_WRITTEN: &str = "request written";
    pub const EVENT_RESPONSE_STARTED: &str = "response started";

    /// Per-partition span events.
    pub const EVENT_PARTITION: &str = "kafka.partition";
    pub const BASE_OFFSET: &str = "kapture.base_offset";
    pub const LOG_START_OFFSET: &str = "kapture.log_start_offset";
    pub const LAST_STABLE_OFFSET: &str = "kapture.last_stable_offset";
    pub const LOG_APPEND_TIME_MS: &str = "kapture.log_append_time_ms";
    pub const FIRST_OFFSET: &str = "kapture.first_offset";
    pub const LAST_OFFSET: &str = "kapture.last_offset";
    pub const ABORTED_TRANSACTIONS: &str = "kapture.aborted_transactions";
    pub const RECORD_ERRORS: &str = "kapture.record_errors";
    pub const ERROR_MESSAGE: &str = "kapture.error_message";
}

/// Settings that shape every span.
#[derive(Debug, Clone)]
pub struct SpanConfig {
    /// Mixed into every id, so two runs that must not collide can be told apart.
    pub id_seed: u64,
    /// Most per-partition events on one span.
    pub max_events: usize,
    /// Make the span a child of the producer's context when its records carry exactly
    /// one.
    pub parent_from_records: bool,
    /// Add a child span per phase: the request's write and the response's read.
    pub phase_spans: bool,
}

impl Default for SpanConfig {
    fn default() -> Self {
        SpanConfig {
            id_seed: 0,
            max_events: 64,
            parent_from_records: false,
            phase_spans: false,
        }
    }
}

/// Where an exchange came from, for ids that stay the same on every run.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    /// Position of the capture file among the inputs.
    pub file_index: u32,
}

/// `messaging.operation.type` for the operations that have one.
fn operation_type(api_key: i16) -> Option<&'static str> {
    match api_key {
        api::PRODUCE => Some("send"),
        api::FETCH => Some("receive"),
        facts::OFFSET_COMMIT | facts::TXN_OFFSET_COMMIT => Some("settle"),
        _ => None,
    }
}

/// The peer service of every span: the cluster id of the broker when a Metadata
/// response gave it, else `kafka`.
pub fn peer_service<'k>(report: &ConnectionReport, knowledge: &'k Knowledge) -> &'k str {
    knowledge
        .cluster_of(&report.broker)
        .map_or("kafka", |c| c.as_ref())
}

/// The status message of an exchange whose response the capture lacks.
pub const NOT_CAPTURED_MESSAGE: &str = "response not captured";

/// The status message of a span whose connection a memory cap evicted while its
/// request waited.
pub const EVICTED_MESSAGE: &str = "connection evicted by a memory cap before the response";

/// Trace and span ids: hashes of facts that identify the exchange in its capture.
pub fn ids(
    report: &ConnectionReport,
    ex: &Exchange,
    origin: Origin,
    config: &SpanConfig,
) -> ([u8; 16], [u8; 8]) {
    // At most 4 + 2 × 18 + 8 + 4 + 8 + 8 = 68 bytes: on the stack.
    let mut buf = [0u8; 72];
    let mut facts = IdInput::new(&mut buf);
    facts.push(&origin.file_index.to_be_bytes());
    push_endpoint(&mut facts, &report.client);
    push_endpoint(&mut facts, &report.broker);
    facts.push(&report.start_ts.to_be_bytes());
    facts.push(&ex.request.correlation_id.to_be_bytes());
    facts.push(&ex.request.span.first_index.to_be_bytes());
    facts.push(&ex.request.span.offset.to_be_bytes());
    let facts = facts.bytes();
    let mut trace = xxh3_128_with_seed(facts, config.id_seed).to_be_bytes();
    let mut span = xxh3_64_with_seed(facts, config.id_seed ^ 0x6b61_7074_7572_6501).to_be_bytes();
    // All-zero ids are invalid in OTLP.
    if trace == [0; 16] {
        trace[15] = 1;
    }
    if span == [0; 8] {
        span[7] = 1;
    }
    (trace, span)
}

/// The facts an id is hashed from, gathered in a stack buffer.
struct IdInput<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> IdInput<'b> {
    fn new(buf: &'b mut [u8]) -> Self {
        IdInput { buf, len: 0 }
    }

    fn push(&mut self, bytes: &[u8]) {
        let end = (self.len + bytes.len()).min(self.buf.len());
        let n = end - self.len;
        self.buf[self.len..end].copy_from_slice(&bytes[..n]);
        self.len = end;
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

fn push_endpoint(out: &mut IdInput<'_>, ep: &Endpoint) {
    match ep.ip {
        std::net::IpAddr::V4(a) => out.push(&a.octets()),
        std::net::IpAddr::V6(a) => out.push(&a.octets()),
    }
    out.push(&ep.port.to_be_bytes());
}

fn nanos(ts: i64) -> u64 {
    u64::try_from(ts).unwrap_or(0)
}

/// Where a span goes as it is built: OTLP proto structs ([`ProtoOut`]) or OTLP JSON
/// bytes written straight into a buffer ([`crate::otlp::json::JsonOut`]). The builder
/// calls these in the order of the span's fields in OTLP JSON, so a writer can
/// stream: the head, the span's attributes, its events (each with attributes), its
/// links (each with attributes), then the status. Attribute calls go to whatever was
/// opened last.
pub trait SpanOut {
    fn begin_span(&mut self, head: &SpanHead<'_>);
    fn str(&mut self, key: &str, value: &str);
    fn int(&mut self, key: &str, value: i64);
    fn bool(&mut self, key: &str, value: bool);
    fn strs(&mut self, key: &str, values: &mut dyn Iterator<Item = &str>);
    /// Ends the span's own attributes.
    fn begin_events(&mut self);
    fn begin_event(&mut self, time_unix_nano: u64, name: &str);
    fn end_event(&mut self);
    fn begin_links(&mut self, dropped_events: u32);
    fn begin_link(&mut self, trace_id: &[u8], span_id: &[u8], trace_state: &str);
    fn end_link(&mut self, flags: u32);
    fn end_span(&mut self, dropped_links: u32, status_message: &str, status_code: i32);
}

/// The fields of a span that come before its attributes.
#[derive(Debug, Clone, Copy)]
pub struct SpanHead<'s> {
    pub trace_id: &'s [u8],
    pub span_id: &'s [u8],
    /// Empty for a root span.
    pub parent_span_id: &'s [u8],
    /// The name, as pieces to be joined (saves formatting it into a `String`).
    pub name: &'s [&'s str],
    pub kind: SpanKind,
    pub start_time_unix_nano: u64,
    pub end_time_unix_nano: u64,
}

/// Builds [`Span`] structs; the reference for every other [`SpanOut`].
#[derive(Debug, Default)]
pub struct ProtoOut {
    pub spans: Vec<Span>,
    /// Where attributes go now.
    target: Target,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Target {
    #[default]
    Span,
    Event,
    Link,
}

impl ProtoOut {
    fn span(&mut self) -> &mut Span {
        if self.spans.is_empty() {
            self.spans.push(Span::default());
        }
        let last = self.spans.len() - 1;
        &mut self.spans[last]
    }

    fn push_attr(&mut self, key: &str, value: Value) {
        let kv = KeyValue {
            key: key.to_string(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        };
        let target = self.target;
        let span = self.span();
        let list = match target {
            Target::Span => Some(&mut span.attributes),
            Target::Event => span.events.last_mut().map(|e| &mut e.attributes),
            Target::Link => span.links.last_mut().map(|l| &mut l.attributes),
        };
        list.push(kv);
    }
}

// `Option<&mut Vec<_>>::push` for the arms above: an event or link is always open
// when its attributes arrive; if not, the attribute is dropped rather than misfiled.
trait PushOpt<T> {
    fn push(self, value: T);
}

impl<T> PushOpt<T> for Option<&mut Vec<T>> {
    fn push(self, value: T) {
        if let Some(list) = self {
            list.push(value);
        }
    }
}

impl SpanOut for ProtoOut {
    fn begin_span(&mut self, head: &SpanHead<'_>) {
        self.target = Target::Span;
        self.spans.push(Span {
            trace_id: head.trace_id.to_vec(),
            span_id: head.span_id.to_vec(),
            parent_span_id: head.parent_span_id.to_vec(),
            name: head.name.concat(),
            kind: head.kind as i32,
            start_time_unix_nano: head.start_time_unix_nano,
            end_time_unix_nano: head.end_time_unix_nano,
            ..Default::default()
        });
    }

    fn str(&mut self, key: &str, value: &str) {
        self.push_attr(key, Value::StringValue(value.to_string()));
    }

    fn int(&mut self, key: &str, value: i64) {
        self.push_attr(key, Value::IntValue(value));
    }

    fn bool(&mut self, key: &str, value: bool) {
        self.push_attr(key, Value::BoolValue(value));
    }

    fn strs(&mut self, key: &str, values: &mut dyn Iterator<Item = &str>) {
        let values = values
            .map(|v| AnyValue {
                value: Some(Value::StringValue(v.to_string())),
            })
            .collect();
        self.push_attr(key, Value::ArrayValue(ArrayValue { values }));
    }

    fn begin_events(&mut self) {}

    fn begin_event(&mut self, time_unix_nano: u64, name: &str) {
        self.target = Target::Event;
        self.span().events.push(Event {
            time_unix_nano,
            name: name.to_string(),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
        });
    }

    fn end_event(&mut self) {
        self.target = Target::Span;
    }

    fn begin_links(&mut self, dropped_events: u32) {
        self.span().dropped_events_count = dropped_events;
    }

    fn begin_link(&mut self, trace_id: &[u8], span_id: &[u8], trace_state: &str) {
        self.target = Target::Link;
        self.span().links.push(Link {
            trace_id: trace_id.to_vec(),
            span_id: span_id.to_vec(),
            trace_state: trace_state.to_string(),
            ..Default::default()
        });
    }

    fn end_link(&mut self, flags: u32) {
        self.target = Target::Span;
        if let Some(link) = self.span().links.last_mut() {
            link.flags = flags;
        }
    }

    fn end_span(&mut self, dropped_links: u32, status_message: &str, status_code: i32) {
        let span = self.span();
        span.dropped_links_count = dropped_links;
        // Always present: some JSON readers reject `"status":null`.
        span.status = Some(Status {
            message: status_message.to_string(),
            code: status_code,
        });
    }
}

/// The text of a connection's two ends, formatted once for all its spans.
#[derive(Debug, Clone)]
pub struct Peers {
    pub broker_address: String,
    pub client_address: String,
}

impl Peers {
    pub fn of(report: &ConnectionReport) -> Self {
        Peers {
            broker_address: report.broker.ip.to_string(),
            client_address: report.client.ip.to_string(),
        }
    }
}

/// Builds the span for one exchange.
pub fn build(
    report: &ConnectionReport,
    ex: &Exchange,
    origin: Origin,
    config: &SpanConfig,
    knowledge: &Knowledge,
) -> Span {
    let no_phases = SpanConfig {
        phase_spans: false,
        ..config.clone()
    };
    let mut spans = build_all(report, ex, origin, &no_phases, knowledge);
    spans.pop().unwrap_or_default()
}

/// The exchange's span, followed by its phase spans when `config.phase_spans` asks
/// for them.
pub fn build_all(
    report: &ConnectionReport,
    ex: &Exchange,
    origin: Origin,
    config: &SpanConfig,
    knowledge: &Knowledge,
) -> Vec<Span> {
    let mut out = ProtoOut::default();
    emit(
        &mut out,
        report,
        &Peers::of(report),
        ex,
        origin,
        config,
        knowledge,
    );
    out.spans
}

/// Hands the exchange's span to `out`, then its phase spans when `config.phase_spans`
/// asks for them.
pub fn emit(
    out: &mut dyn SpanOut,
    report: &ConnectionReport,
    peers: &Peers,
    ex: &Exchange,
    origin: Origin,
    config: &SpanConfig,
    knowledge: &Knowledge,
) {
    let (trace_id, span_id) = ids(report, ex, origin, config);
    let facts = &ex.facts;
    let mut trace: &[u8] = &trace_id;
    let mut parent: &[u8] = &[];
    if config.parent_from_records && facts.links.len() == 1 && facts.links_dropped == 0 {
        trace = &facts.links[0].trace_id;
        parent = &facts.links[0].span_id;
    }
    emit_main(
        out, report, peers, ex, trace, parent, &span_id, config, knowledge,
    );
    if !config.phase_spans {
        return;
    }
    let operation = api::operation_name(ex.request.api_key).unwrap_or("unknown");
    let req = &ex.request.span;
    let write = (req.first_ts, req.last_ts, req.size);
    emit_phase(out, trace, &span_id, operation, "write", write);
    if let Some(resp) = &ex.response {
        let read = (resp.span.first_ts, resp.span.last_ts, resp.span.size);
        emit_phase(out, trace, &span_id, operation, "read", read);
    }
}

/// The exchange's own span.
#[allow(clippy::too_many_arguments)]
fn emit_main(
    out: &mut dyn SpanOut,
    report: &ConnectionReport,
    peers: &Peers,
    ex: &Exchange,
    trace_id: &[u8],
    parent_span_id: &[u8],
    span_id: &[u8],
    config: &SpanConfig,
    knowledge: &Knowledge,
) {
    let req = &ex.request;
    let facts = &ex.facts;
    let operation = api::operation_name(req.api_key).unwrap_or("unknown");
    let end_ts = ex.response.map_or(req.span.last_ts, |r| r.span.last_ts);
    let topics = Topics::of(facts, knowledge);
    let single = topics.single();
    let name: &[&str] = match single {
        Some(topic) => &[operation, " ", topic],
        None => &[operation],
    };
    out.begin_span(&SpanHead {
        trace_id,
        span_id,
        parent_span_id,
        name,
        kind: SpanKind::Client,
        start_time_unix_nano: nanos(req.span.first_ts),
        end_time_unix_nano: nanos(end_ts),
    });

    out.str(attr::MESSAGING_SYSTEM, "kafka");
    out.str(attr::OPERATION_NAME, operation);
    if let Some(kind) = operation_type(req.api_key) {
        out.str(attr::OPERATION_TYPE, kind);
    }
    if let Some(id) = &req.client_id {
        out.str(attr::CLIENT_ID, id);
    }
    out.str(attr::SERVER_ADDRESS, &peers.broker_address);
    out.int(attr::SERVER_PORT, report.broker.port.into());
    out.str(attr::CLIENT_ADDRESS, &peers.client_address);
    out.int(attr::CLIENT_PORT, report.client.port.into());
    out.str(attr::NETWORK_TRANSPORT, "tcp");
    let network = if report.broker.ip.is_ipv4() {
        "ipv4"
    } else {
        "ipv6"
    };
    out.str(attr::NETWORK_TYPE, network);
    out.str(attr::NETWORK_PEER_ADDRESS, &peers.broker_address);
    out.int(attr::NETWORK_PEER_PORT, report.broker.port.into());
    if let Some(cluster) = knowledge.cluster_of(&report.broker) {
        out.str(attr::KAFKA_CLUSTER_ID, cluster);
    }
    let peer = peer_service(report, knowledge);
    out.str(attr::SERVICE_PEER_NAME, peer);
    out.str(attr::PEER_SERVICE, peer);
    if let Some(sw) = &report.client_software {
        out.str(attr::CLIENT_SOFTWARE_NAME, &sw.name);
        out.str(attr::CLIENT_SOFTWARE_VERSION, &sw.version);
    }
    out.int(attr::API_KEY, req.api_key.into());
    out.str(attr::API_NAME, api::name(req.api_key).unwrap_or("Unknown"));
    out.int(attr::API_VERSION, req.api_version.into());
    out.int(attr::CORRELATION_ID, req.correlation_id.into());
    out.int(attr::CONNECTION_ID, report.conn_id.into());
    out.int(attr::REQUEST_BYTES, req.span.size as i64);
    out.int(attr::REQUEST_FIRST_FRAME, req.span.first_index as i64);
    out.str(attr::RESPONSE_STATE, ex.state.as_str());
    out.int(attr::WRITE_NS, req.span.last_ts - req.span.first_ts);
    if let Some(resp) = &ex.response {
        out.int(attr::RESPONSE_BYTES, resp.span.size as i64);
        out.int(attr::RESPONSE_LAST_FRAME, resp.span.last_index as i64);
        out.int(attr::WAIT_NS, resp.span.first_ts - req.span.last_ts);
        out.int(attr::READ_NS, resp.span.last_ts - resp.span.first_ts);
        if !resp.span.complete {
            out.bool(attr::RESPONSE_INCOMPLETE, true);
        }
    }
    if !req.span.complete {
        out.bool(attr::REQUEST_INCOMPLETE, true);
    }
    if let Some(acks) = req.acks {
        out.int(attr::PRODUCE_ACKS, acks.into());
    }
    debug_assert!(ex.state != ResponseState::Paired || ex.response.is_some());
    network_attributes(out, report, ex, end_ts);
    body_attributes(out, req.api_key, facts, &topics);
    if crate::stats::is_long_poll(ex) {
        out.bool(attr::FETCH_LONG_POLL, true);
    }
    let group = if facts::group_api(req.api_key) {
        facts.group.as_ref()
    } else if req.api_key == api::FETCH {
        knowledge.group_of(&req.client_id, report.client.ip)
    } else {
        None
    };
    if let Some(group) = group {
        out.str(attr::CONSUMER_GROUP, group);
    }
    let outcome = Outcome::of(ex, knowledge);
    if let Outcome::Failed { code, .. } = &outcome {
        out.str(attr::ERROR_TYPE, error_name(*code).unwrap_or("UNKNOWN"));
        out.int(attr::ERROR_CODE, (*code).into());
    }
    if let Outcome::PartlyFailed { failed, .. } = &outcome {
        out.int(attr::PARTITION_ERRORS, *failed as i64);
    }

    out.begin_events();
    phase_events(out, ex);
    let event_ts = ex.response.map_or(req.span.last_ts, |r| r.span.first_ts);
    for p in facts.partitions.iter().take(config.max_events) {
        let count_known = facts.record_count.is_some();
        partition_event(out, p, count_known, knowledge, nanos(event_ts));
    }
    let dropped_events = facts.partitions.len().saturating_sub(config.max_events) as u32;
    out.begin_links(dropped_events);
    record_links(out, facts, knowledge);
    let (code, status_message) = outcome.status();
    out.end_span(facts.links_dropped, &status_message, code as i32);
}

/// What the span's status says. Following semconv's "Recording errors", a span is
/// an error only when the operation as a whole failed: a top-level error, or an error
/// in every partition it touched. When only some partitions failed, the client got
/// the rest (and handles the others, e.g. by refreshing metadata), so the status stays
/// UNSET; the message, `kapture.partitions.errors` and the failed partitions'
/// `kafka.partition` events (with `error.type`) say what went wrong. An exchange whose
/// response the capture lacks is no success either: UNSET, with a message saying so.
enum Outcome {
    Ok,
    NotCaptured,
    Evicted,
    Failed { code: i16, message: String },
    PartlyFailed { failed: usize, message: String },
}

impl Outcome {
    fn of(ex: &Exchange, knowledge: &Knowledge) -> Outcome {
        let facts = &ex.facts;
        let Some((code, first)) = facts.first_error() else {
            return match ex.state {
                ResponseState::NotCaptured => Outcome::NotCaptured,
                ResponseState::Evicted => Outcome::Evicted,
                _ => Outcome::Ok,
            };
        };
        let name = error_name(code).unwrap_or("UNKNOWN");
        let Some(p) = first else {
            return Outcome::Failed {
                code,
                message: name.to_string(),
            };
        };
        let at = format!(
            "{name} on {}-{}",
            display_topic(&p.topic, knowledge),
            p.partition
        );
        let total = facts.partitions.len();
        let failed = facts
            .partitions
            .iter()
            .filter(|p| p.error_code != 0)
            .count();
        if failed == total {
            Outcome::Failed { code, message: at }
        } else {
            Outcome::PartlyFailed {
                failed,
                message: format!("{failed} of {total} partitions failed, first: {at}"),
            }
        }
    }

    fn status(self) -> (StatusCode, String) {
        match self {
            Outcome::Ok => (StatusCode::Unset, String::new()),
            Outcome::NotCaptured => (StatusCode::Unset, NOT_CAPTURED_MESSAGE.to_string()),
            Outcome::Evicted => (StatusCode::Unset, EVICTED_MESSAGE.to_string()),
            Outcome::Failed { message, .. } => (StatusCode::Error, message),
            Outcome::PartlyFailed { message, .. } => (StatusCode::Unset, message),
        }
    }
}

/// The distinct topics of an exchange: those named (by the capture or the user) and
/// the ids nobody named, in order of first appearance.
struct Topics<'k> {
    names: Vec<&'k str>,
    unresolved: Vec<String>,
}

impl<'k> Topics<'k> {
    fn of(facts: &'k Facts, knowledge: &'k Knowledge) -> Self {
        let mut names = Vec::new();
        let mut unresolved = Vec::new();
        for p in &facts.partitions {
            match knowledge.topic_name(&p.topic) {
                Some(n) if !names.contains(&n) => names.push(n),
                Some(_) => {}
                None => {
                    let id = p.topic.to_string();
                    if !unresolved.contains(&id) {
                        unresolved.push(id);
                    }
                }
            }
        }
        Topics { names, unresolved }
    }

    fn count(&self) -> usize {
        self.names.len() + self.unresolved.len()
    }

    /// The one topic of an exchange that has exactly one.
    fn single(&self) -> Option<&str> {
        match (self.names.as_slice(), self.unresolved.as_slice()) {
            ([name], []) => Some(name),
            ([], [id]) => Some(id),
            _ => None,
        }
    }

    fn all(&self) -> impl Iterator<Item = &str> {
        self.names
            .iter()
            .copied()
            .chain(self.unresolved.iter().map(String::as_str))
    }
}

/// A topic's display name: its name when known, else its id.
fn display_topic(topic: &Topic, knowledge: &Knowledge) -> String {
    knowledge
        .topic_name(topic)
        .map_or_else(|| topic.to_string(), str::to_string)
}

/// Round trips, capture point, the wait split into estimates, and TCP trouble while
/// the exchange was in flight.
fn network_attributes(
    out: &mut dyn SpanOut,
    report: &ConnectionReport,
    ex: &Exchange,
    end_ts: i64,
) {
    let rtt = &report.rtt;
    if let Some(b) = rtt.to_broker_ns {
        out.int(attr::RTT_TO_BROKER_NS, b);
    }
    if let Some(c) = rtt.to_client_ns {
        out.int(attr::RTT_TO_CLIENT_NS, c);
    }
    if rtt.to_broker_ns.is_some() || rtt.to_client_ns.is_some() {
        let source = if rtt.from_handshake {
            "handshake"
        } else {
            "data_ack"
        };
        out.str(attr::RTT_SOURCE, source);
    }
    if let Some(point) = rtt.capture_point() {
        out.str(attr::CAPTURE_POINT, point.as_str());
    }
    if let Some(resp) = &ex.response
        && let Some(split) = rtt.split_wait(&report.tcp_events, &ex.request.span, &resp.span)
    {
        match split {
            WaitSplit::Known {
                network,
                recovery,
                broker,
            } => {
                out.int(attr::WAIT_NETWORK_ESTIMATE_NS, network);
                if recovery > 0 {
                    out.int(attr::WAIT_LOSS_RECOVERY_NS, recovery);
                }
                out.int(attr::WAIT_BROKER_ESTIMATE_NS, broker);
            }
            WaitSplit::Unknown => out.str(attr::WAIT_SPLIT, "unknown"),
        }
    }
    let h = report.tcp_events.during(ex.request.span.first_ts, end_ts);
    out.int(attr::TCP_RETRANSMISSIONS, h.retransmissions.into());
    out.int(attr::TCP_OUT_OF_ORDER, h.out_of_order.into());
    out.int(attr::TCP_ZERO_WINDOWS, h.zero_windows.into());
    out.int(attr::TCP_GAPS, h.gaps.into());
}

/// Events at the phase boundaries, which show on a trace timeline.
fn phase_events(out: &mut dyn SpanOut, ex: &Exchange) {
    out.begin_event(nanos(ex.request.span.last_ts), attr::EVENT_REQUEST_WRITTEN);
    out.end_event();
    if let Some(resp) = &ex.response {
        out.begin_event(nanos(resp.span.first_ts), attr::EVENT_RESPONSE_STARTED);
        out.end_event();
    }
}

/// A child span covering one phase of the exchange's span: the request's write or the
/// response's read, from the first to the last byte on the wire. The write is what
/// franz-go's OnBrokerWrite times (timeToWrite, the `conn.Write` call). The read is not
/// OnBrokerRead's timeToRead: kgo starts reading as soon as the write returns (its
/// readWait is only its own reader's delay), so its timeToRead also holds the wait for
/// the first byte, which is `kapture.wait_ns` here (tests/hooks.rs).
fn emit_phase(
    out: &mut dyn SpanOut,
    trace_id: &[u8],
    parent_span_id: &[u8],
    operation: &str,
    phase: &str,
    (start, end, bytes): (i64, i64, u64),
) {
    let mut id = xxh3_64_with_seed(parent_span_id, u64::from(phase.as_bytes()[0])).to_be_bytes();
    if id == [0; 8] {
        id[7] = 1;
    }
    out.begin_span(&SpanHead {
        trace_id,
        span_id: &id,
        parent_span_id,
        name: &[operation, " ", phase],
        kind: SpanKind::Internal,
        start_time_unix_nano: nanos(start),
        end_time_unix_nano: nanos(end),
    });
    out.str(attr::PHASE, phase);
    let key = if phase == "write" {
        attr::REQUEST_BYTES
    } else {
        attr::RESPONSE_BYTES
    };
    out.int(key, bytes as i64);
    out.begin_events();
    out.begin_links(0);
    out.end_span(0, "", StatusCode::Unset as i32);
}

/// The attributes that come from decoded bodies.
fn body_attributes(out: &mut dyn SpanOut, api_key: i16, facts: &Facts, topics: &Topics<'_>) {
    let parts = &facts.partitions;
    if let Some(topic) = topics.single() {
        out.str(attr::DESTINATION_NAME, topic);
        if let [p] = parts.as_slice() {
            out.str(
                attr::DESTINATION_PARTITION,
                itoa::Buffer::new().format(p.partition),
            );
        }
    } else if topics.count() > 1 {
        out.strs(attr::TOPICS, &mut topics.all());
    }
    if !topics.unresolved.is_empty() {
        out.strs(
            attr::UNRESOLVED_TOPIC_IDS,
            &mut topics.unresolved.iter().map(String::as_str),
        );
    }
    if matches!(api_key, api::PRODUCE | api::FETCH) && !parts.is_empty() {
        let batches: u64 = parts.iter().map(|p| u64::from(p.batches)).sum();
        let bytes: u64 = parts.iter().map(|p| p.record_bytes).sum();
        // Absent when not sure: a cut body may hold records nobody saw.
        if let Some(records) = facts.record_count {
            out.int(attr::BATCH_MESSAGE_COUNT, records as i64);
        }
        out.int(attr::PARTITION_COUNT, parts.len() as i64);
        out.int(attr::BATCHES, batches as i64);
        out.int(attr::RECORD_BYTES, bytes as i64);
        let codecs = parts.iter().fold(
            Default::default(),
            |acc: crate::kafka::body::CodecSet, p| acc.union(p.codecs),
        );
        if !codecs.is_empty() {
            out.strs(attr::CODECS, &mut codecs.iter().map(|c| c.name()));
        }
        if parts.iter().any(|p| p.partial_batch) {
            out.bool(attr::PARTIAL_BATCH, true);
        }
    }
    if let [p] = parts.as_slice() {
        // The offset of a message: only when the exchange carried exactly one (semconv
        // recommends it for single messages; batches keep it on their links).
        let offset = match api_key {
            api::PRODUCE => p.base_offset.filter(|&o| o >= 0),
            api::FETCH => p.first_offset,
            _ => None,
        };
        if let Some(o) = offset.filter(|_| facts.record_count == Some(1)) {
            out.int(attr::KAFKA_OFFSET, o);
        }
        if let Some(hw) = p.high_watermark {
            out.int(attr::HIGH_WATERMARK, hw);
        }
        if let Some(fo) = p.fetch_offset {
            out.int(attr::FETCH_OFFSET, fo);
        }
        if let Some(pid) = p.producer_id {
            out.int(attr::PRODUCER_ID, pid);
        }
    }
    if let Some(t) = facts.throttle_ms {
        out.int(attr::THROTTLE_MS, t.into());
    }
    if let Some(id) = &facts.transactional_id {
        out.str(attr::TRANSACTIONAL_ID, id);
    }
    if let Some(t) = facts.timeout_ms {
        out.int(attr::PRODUCE_TIMEOUT_MS, t.into());
    }
    if let Some(f) = &facts.fetch {
        out.int(attr::FETCH_MAX_WAIT_MS, f.max_wait_ms.into());
        out.int(attr::FETCH_MIN_BYTES, f.min_bytes.into());
        if let Some(v) = f.max_bytes {
            out.int(attr::FETCH_MAX_BYTES, v.into());
        }
        if let Some(v) = f.isolation_level {
            let level = if v == 1 {
                "read_committed"
            } else {
                "read_uncommitted"
            };
            out.str(attr::FETCH_ISOLATION, level);
        }
        if let Some(v) = f.session_id {
            out.int(attr::FETCH_SESSION_ID, v.into());
        }
        if let Some(v) = f.session_epoch {
            out.int(attr::FETCH_SESSION_EPOCH, v.into());
        }
    }
    if let Some(e) = &facts.request_error {
        out.str(attr::REQUEST_DECODE_ERROR, e);
    }
    if let Some(e) = &facts.response_error {
        out.str(attr::RESPONSE_DECODE_ERROR, e);
    }
    if facts.links_dropped > 0 {
        out.int(attr::LINKS_DROPPED, facts.links_dropped.into());
    }
    if facts.decompression_capped > 0 {
        out.int(
            attr::DECOMPRESSION_CAPPED,
            facts.decompression_capped.into(),
        );
    }
}

/// One event per partition, stamped when the response began, or when the request
/// ended if there is no response.
fn partition_event(
    out: &mut dyn SpanOut,
    p: &PartitionFacts,
    count_known: bool,
    knowledge: &Knowledge,
    ts: u64,
) {
    out.begin_event(ts, attr::EVENT_PARTITION);
    topic_attribute(out, &p.topic, knowledge);
    out.str(
        attr::DESTINATION_PARTITION,
        itoa::Buffer::new().format(p.partition),
    );
    if count_known {
        out.int(attr::BATCH_MESSAGE_COUNT, p.records as i64);
    }
    out.int(attr::RECORD_BYTES, p.record_bytes as i64);
    let optional = [
        (attr::FETCH_OFFSET, p.fetch_offset),
        (attr::FIRST_OFFSET, p.first_offset),
        (attr::LAST_OFFSET, p.last_offset),
        (attr::BASE_OFFSET, p.base_offset),
        (attr::HIGH_WATERMARK, p.high_watermark),
        (attr::LAST_STABLE_OFFSET, p.last_stable_offset),
        (attr::LOG_START_OFFSET, p.log_start_offset),
        (attr::LOG_APPEND_TIME_MS, p.log_append_time_ms),
    ];
    for (key, value) in optional {
        if let Some(v) = value {
            out.int(key, v);
        }
    }
    if !p.codecs.is_empty() {
        out.strs(attr::CODECS, &mut p.codecs.iter().map(|c| c.name()));
    }
    if p.aborted_transactions > 0 {
        out.int(attr::ABORTED_TRANSACTIONS, p.aborted_transactions.into());
    }
    if p.record_errors > 0 {
        out.int(attr::RECORD_ERRORS, p.record_errors.into());
    }
    if p.error_code != 0 {
        out.str(
            attr::ERROR_TYPE,
            error_name(p.error_code).unwrap_or("UNKNOWN"),
        );
    }
    if let Some(m) = &p.error_message {
        out.str(attr::ERROR_MESSAGE, m);
    }
    out.end_event();
}

/// `messaging.destination.name` for a topic: its name, or its id when unnamed.
fn topic_attribute(out: &mut dyn SpanOut, topic: &Topic, knowledge: &Knowledge) {
    match knowledge.topic_name(topic) {
        Some(name) => out.str(attr::DESTINATION_NAME, name),
        None => out.str(attr::DESTINATION_NAME, &topic.to_string()),
    }
}

/// Span links to the trace contexts the records carried.
fn record_links(out: &mut dyn SpanOut, facts: &Facts, knowledge: &Knowledge) {
    for l in &facts.links {
        out.begin_link(
            &l.trace_id,
            &l.span_id,
            l.trace_state.as_deref().unwrap_or(""),
        );
        topic_attribute(out, &l.topic, knowledge);
        out.str(
            attr::DESTINATION_PARTITION,
            itoa::Buffer::new().format(l.partition),
        );
        out.int(attr::KAFKA_OFFSET, l.offset);
        out.end_link(u32::from(l.flags) | 0x100);
    }
}
