//! Turns one [`Exchange`] of a connection into an OTLP [`Span`]: semantic-convention
//! messaging attributes, kapture's own attributes (all named in [`attr`]), timing
//! from packet timestamps and ids derived from stable facts of the capture.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::trace::v1::{Span, Status, span::SpanKind};
use xxhash_rust::xxh3::{xxh3_64_with_seed, xxh3_128_with_seed};

use opentelemetry_proto::tonic::common::v1::ArrayValue;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

use crate::kafka::ConnectionReport;
use crate::kafka::api;
use crate::kafka::body::error_name;
use crate::kafka::exchange::{Exchange, ResponseState};
use crate::kafka::facts::{Facts, PartitionFacts, Topic};
use crate::knowledge::Knowledge;
use crate::net::Endpoint;

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

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn string(key: &str, value: impl Into<String>) -> KeyValue {
    kv(key, Value::StringValue(value.into()))
}

fn int(key: &str, value: impl Into<i64>) -> KeyValue {
    kv(key, Value::IntValue(value.into()))
}

fn boolean(key: &str, value: bool) -> KeyValue {
    kv(key, Value::BoolValue(value))
}

/// `messaging.operation.type` for the operations that have one.
fn operation_type(api_key: i16) -> Option<&'static str> {
    match api_key {
        api::PRODUCE => Some("send"),
        api::FETCH => Some("receive"),
        _ => None,
    }
}

/// Trace and span ids: hashes of facts that identify the exchange in its capture.
pub fn ids(
    report: &ConnectionReport,
    ex: &Exchange,
    origin: Origin,
    config: &SpanConfig,
) -> ([u8; 16], [u8; 8]) {
    let mut facts = Vec::with_capacity(96);
    facts.extend_from_slice(&origin.file_index.to_be_bytes());
    push_endpoint(&mut facts, &report.client);
    push_endpoint(&mut facts, &report.broker);
    facts.extend_from_slice(&report.start_ts.to_be_bytes());
    facts.extend_from_slice(&ex.request.correlation_id.to_be_bytes());
    facts.extend_from_slice(&ex.request.span.first_index.to_be_bytes());
    facts.extend_from_slice(&ex.request.span.offset.to_be_bytes());
    let mut trace = xxh3_128_with_seed(&facts, config.id_seed).to_be_bytes();
    let mut span = xxh3_64_with_seed(&facts, config.id_seed ^ 0x6b61_7074_7572_6501).to_be_bytes();
    // All-zero ids are invalid in OTLP.
    if trace == [0; 16] {
        trace[15] = 1;
    }
    if span == [0; 8] {
        span[7] = 1;
    }
    (trace, span)
}

fn push_endpoint(out: &mut Vec<u8>, ep: &Endpoint) {
    match ep.ip {
        std::net::IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
        std::net::IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
    }
    out.extend_from_slice(&ep.port.to_be_bytes());
}

fn nanos(ts: i64) -> u64 {
    u64::try_from(ts).unwrap_or(0)
}

fn strings(key: &str, values: Vec<String>) -> KeyValue {
    kv(
        key,
        Value::ArrayValue(ArrayValue {
            values: values
                .into_iter()
                .map(|v| AnyValue {
                    value: Some(Value::StringValue(v)),
                })
                .collect(),
        }),
    )
}

/// The distinct topics of an exchange, named where the capture or the user named them.
fn topic_names(facts: &Facts, knowledge: &Knowledge) -> (Vec<String>, Vec<String>) {
    let mut names = Vec::new();
    let mut unresolved = Vec::new();
    for p in &facts.partitions {
        match knowledge.topic_name(&p.topic) {
            Some(n) if !names.iter().any(|x: &String| x == n) => names.push(n.to_string()),
            Some(_) => {}
            None => {
                let id = p.topic.to_string();
                if !unresolved.contains(&id) {
                    unresolved.push(id);
                }
            }
        }
    }
    (names, unresolved)
}

/// A topic's display name: its name when known, else its id.
fn display_topic(topic: &Topic, knowledge: &Knowledge) -> String {
    knowledge
        .topic_name(topic)
        .map_or_else(|| topic.to_string(), str::to_string)
}

/// Builds the span for one exchange.
pub fn build(
    report: &ConnectionReport,
    ex: &Exchange,
    origin: Origin,
    config: &SpanConfig,
    knowledge: &Knowledge,
) -> Span {
    let req = &ex.request;
    let facts = &ex.facts;
    let (trace_id, span_id) = ids(report, ex, origin, config);
    let operation = api::operation_name(req.api_key).unwrap_or("unknown");
    let end_ts = ex.response.map_or(req.span.last_ts, |r| r.span.last_ts);

    let mut attributes = Vec::with_capacity(40);
    attributes.push(string(attr::MESSAGING_SYSTEM, "kafka"));
    attributes.push(string(attr::OPERATION_NAME, operation));
    if let Some(kind) = operation_type(req.api_key) {
        attributes.push(string(attr::OPERATION_TYPE, kind));
    }
    if let Some(id) = &req.client_id {
        attributes.push(string(attr::CLIENT_ID, id.as_ref()));
    }
    attributes.push(string(attr::SERVER_ADDRESS, report.broker.ip.to_string()));
    attributes.push(int(attr::SERVER_PORT, report.broker.port));
    attributes.push(string(attr::CLIENT_ADDRESS, report.client.ip.to_string()));
    attributes.push(int(attr::CLIENT_PORT, report.client.port));
    attributes.push(string(attr::NETWORK_TRANSPORT, "tcp"));
    attributes.push(string(
        attr::NETWORK_TYPE,
        if report.broker.ip.is_ipv4() {
            "ipv4"
        } else {
            "ipv6"
        },
    ));
    attributes.push(int(attr::API_KEY, req.api_key));
    attributes.push(string(
        attr::API_NAME,
        api::name(req.api_key).unwrap_or("Unknown"),
    ));
    attributes.push(int(attr::API_VERSION, req.api_version));
    attributes.push(int(attr::CORRELATION_ID, req.correlation_id));
    attributes.push(int(attr::CONNECTION_ID, report.conn_id));
    attributes.push(int(attr::REQUEST_BYTES, req.span.size as i64));
    attributes.push(int(attr::REQUEST_FIRST_FRAME, req.span.first_index as i64));
    attributes.push(string(attr::RESPONSE_STATE, ex.state.as_str()));
    attributes.push(int(attr::WRITE_NS, req.span.last_ts - req.span.first_ts));
    if let Some(resp) = &ex.response {
        attributes.push(int(attr::RESPONSE_BYTES, resp.span.size as i64));
        attributes.push(int(attr::RESPONSE_LAST_FRAME, resp.span.last_index as i64));
        attributes.push(int(attr::WAIT_NS, resp.span.first_ts - req.span.last_ts));
        attributes.push(int(attr::READ_NS, resp.span.last_ts - resp.span.first_ts));
        if !resp.span.complete {
            attributes.push(boolean(attr::RESPONSE_INCOMPLETE, true));
        }
    }
    if !req.span.complete {
        attributes.push(boolean(attr::REQUEST_INCOMPLETE, true));
    }
    if let Some(acks) = req.acks {
        attributes.push(int(attr::PRODUCE_ACKS, acks));
    }
    debug_assert!(ex.state != ResponseState::Paired || ex.response.is_some());
    add_network_attributes(&mut attributes, report, ex, end_ts);

    let (topics, unresolved) = topic_names(facts, knowledge);
    let name = match (topics.as_slice(), unresolved.as_slice()) {
        ([topic], []) => format!("{operation} {topic}"),
        ([], [id]) => format!("{operation} {id}"),
        _ => operation.to_string(),
    };
    add_body_attributes(&mut attributes, req.api_key, facts, &topics, &unresolved);
    if req.api_key == api::FETCH
        && let Some(group) = knowledge.group_of(&req.client_id, report.client.ip)
    {
        attributes.push(string(attr::CONSUMER_GROUP, group.as_ref()));
    }

    let event_ts = ex.response.map_or(req.span.last_ts, |r| r.span.first_ts);
    let (partition_events, dropped_events) =
        partition_events(facts, knowledge, event_ts, config.max_events);
    let mut events = phase_events(ex);
    events.extend(partition_events);
    let links = record_links(facts, knowledge);
    let status = match facts.first_error() {
        Some((code, part)) => {
            let name = error_name(code).unwrap_or("UNKNOWN");
            attributes.push(string(attr::ERROR_TYPE, name));
            attributes.push(int(attr::ERROR_CODE, code));
            let message = match part {
                Some(p) => format!(
                    "{name} on {}-{}",
                    display_topic(&p.topic, knowledge),
                    p.partition
                ),
                None => name.to_string(),
            };
            Status {
                message,
                code: StatusCode::Error as i32,
            }
        }
        None => Status::default(),
    };

    let mut trace = trace_id.to_vec();
    let mut parent_span_id = Vec::new();
    if config.parent_from_records && facts.links.len() == 1 && facts.links_dropped == 0 {
        trace = facts.links[0].trace_id.to_vec();
        parent_span_id = facts.links[0].span_id.to_vec();
    }

    Span {
        trace_id: trace,
        span_id: span_id.to_vec(),
        parent_span_id,
        name,
        kind: SpanKind::Client as i32,
        start_time_unix_nano: nanos(req.span.first_ts),
        end_time_unix_nano: nanos(end_ts),
        attributes,
        events,
        dropped_events_count: dropped_events,
        links,
        dropped_links_count: facts.links_dropped,
        // Always present: some JSON readers reject `"status":null`.
        status: Some(status),
        ..Default::default()
    }
}

/// Round trips, capture point, the wait split into estimates, and TCP trouble while
/// the exchange was in flight.
fn add_network_attributes(
    attributes: &mut Vec<KeyValue>,
    report: &ConnectionReport,
    ex: &Exchange,
    end_ts: i64,
) {
    let rtt = &report.rtt;
    if let Some(b) = rtt.to_broker_ns {
        attributes.push(int(attr::RTT_TO_BROKER_NS, b));
    }
    if let Some(c) = rtt.to_client_ns {
        attributes.push(int(attr::RTT_TO_CLIENT_NS, c));
    }
    if rtt.to_broker_ns.is_some() || rtt.to_client_ns.is_some() {
        let source = if rtt.from_handshake {
            "handshake"
        } else {
            "data_ack"
        };
        attributes.push(string(attr::RTT_SOURCE, source));
    }
    if let Some(point) = rtt.capture_point() {
        attributes.push(string(attr::CAPTURE_POINT, point.as_str()));
    }
    if let Some(resp) = &ex.response
        && let Some((network, broker)) =
            rtt.split_wait(resp.span.first_ts - ex.request.span.last_ts)
    {
        attributes.push(int(attr::WAIT_NETWORK_ESTIMATE_NS, network));
        attributes.push(int(attr::WAIT_BROKER_ESTIMATE_NS, broker));
    }
    let h = report.tcp_events.during(ex.request.span.first_ts, end_ts);
    attributes.push(int(attr::TCP_RETRANSMISSIONS, h.retransmissions));
    attributes.push(int(attr::TCP_OUT_OF_ORDER, h.out_of_order));
    attributes.push(int(attr::TCP_ZERO_WINDOWS, h.zero_windows));
    attributes.push(int(attr::TCP_GAPS, h.gaps));
}

/// Events at the phase boundaries, which show on a trace timeline.
fn phase_events(ex: &Exchange) -> Vec<Event> {
    let event = |ts: i64, name: &str| Event {
        time_unix_nano: nanos(ts),
        name: name.to_string(),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
    };
    let mut events = vec![event(ex.request.span.last_ts, attr::EVENT_REQUEST_WRITTEN)];
    if let Some(resp) = &ex.response {
        events.push(event(resp.span.first_ts, attr::EVENT_RESPONSE_STARTED));
    }
    events
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
    let main = build(report, ex, origin, config, knowledge);
    if !config.phase_spans {
        return vec![main];
    }
    let operation = api::operation_name(ex.request.api_key).unwrap_or("unknown");
    let req = &ex.request.span;
    let mut spans = Vec::with_capacity(3);
    let write = phase_span(
        &main,
        operation,
        "write",
        req.first_ts,
        req.last_ts,
        req.size,
    );
    spans.push(main);
    spans.push(write);
    if let Some(resp) = &ex.response {
        let main = &spans[0];
        let read = phase_span(
            main,
            operation,
            "read",
            resp.span.first_ts,
            resp.span.last_ts,
            resp.span.size,
        );
        spans.push(read);
    }
    spans
}

/// A child span covering one phase of `parent`: the request's write or the
/// response's read (franz-go's OnBrokerWrite / OnBrokerRead, seen on the wire).
fn phase_span(
    parent: &Span,
    operation: &str,
    phase: &str,
    start: i64,
    end: i64,
    bytes: u64,
) -> Span {
    let mut id = xxh3_64_with_seed(&parent.span_id, u64::from(phase.as_bytes()[0])).to_be_bytes();
    if id == [0; 8] {
        id[7] = 1;
    }
    Span {
        trace_id: parent.trace_id.clone(),
        span_id: id.to_vec(),
        parent_span_id: parent.span_id.clone(),
        name: format!("{operation} {phase}"),
        kind: SpanKind::Internal as i32,
        start_time_unix_nano: nanos(start),
        end_time_unix_nano: nanos(end),
        attributes: vec![
            string(attr::PHASE, phase),
            int(
                if phase == "write" {
                    attr::REQUEST_BYTES
                } else {
                    attr::RESPONSE_BYTES
                },
                bytes as i64,
            ),
        ],
        status: Some(Status::default()),
        ..Default::default()
    }
}

/// The attributes that come from decoded bodies.
fn add_body_attributes(
    attributes: &mut Vec<KeyValue>,
    api_key: i16,
    facts: &Facts,
    topics: &[String],
    unresolved: &[String],
) {
    let parts = &facts.partitions;
    if topics.len() + unresolved.len() == 1 {
        let topic = topics
            .first()
            .or(unresolved.first())
            .cloned()
            .unwrap_or_default();
        attributes.push(string(attr::DESTINATION_NAME, topic));
        if let [p] = parts.as_slice() {
            attributes.push(string(attr::DESTINATION_PARTITION, p.partition.to_string()));
        }
    } else if topics.len() + unresolved.len() > 1 {
        let mut all = topics.to_vec();
        all.extend(unresolved.iter().cloned());
        attributes.push(strings(attr::TOPICS, all));
    }
    if !unresolved.is_empty() {
        attributes.push(strings(attr::UNRESOLVED_TOPIC_IDS, unresolved.to_vec()));
    }
    if matches!(api_key, api::PRODUCE | api::FETCH) && !parts.is_empty() {
        let records: u64 = parts.iter().map(|p| p.records).sum();
        let batches: u64 = parts.iter().map(|p| u64::from(p.batches)).sum();
        let bytes: u64 = parts.iter().map(|p| p.record_bytes).sum();
        attributes.push(int(attr::BATCH_MESSAGE_COUNT, records as i64));
        attributes.push(int(attr::PARTITION_COUNT, parts.len() as i64));
        attributes.push(int(attr::BATCHES, batches as i64));
        attributes.push(int(attr::RECORD_BYTES, bytes as i64));
        let codecs = parts.iter().fold(
            Default::default(),
            |acc: crate::kafka::body::CodecSet, p| acc.union(p.codecs),
        );
        if !codecs.is_empty() {
            attributes.push(strings(
                attr::CODECS,
                codecs.iter().map(|c| c.name().to_string()).collect(),
            ));
        }
        if parts.iter().any(|p| p.partial_batch) {
            attributes.push(boolean(attr::PARTIAL_BATCH, true));
        }
    }
    if let [p] = parts.as_slice() {
        let offset = match api_key {
            api::PRODUCE => p.base_offset.filter(|&o| o >= 0),
            api::FETCH => p.first_offset.or(p.fetch_offset),
            _ => None,
        };
        if let Some(o) = offset {
            attributes.push(int(attr::KAFKA_OFFSET, o));
        }
        if let Some(hw) = p.high_watermark {
            attributes.push(int(attr::HIGH_WATERMARK, hw));
        }
        if let Some(fo) = p.fetch_offset {
            attributes.push(int(attr::FETCH_OFFSET, fo));
        }
        if let Some(pid) = p.producer_id {
            attributes.push(int(attr::PRODUCER_ID, pid));
        }
    }
    if let Some(t) = facts.throttle_ms {
        attributes.push(int(attr::THROTTLE_MS, t));
    }
    if let Some(id) = &facts.transactional_id {
        attributes.push(string(attr::TRANSACTIONAL_ID, id.as_ref()));
    }
    if let Some(t) = facts.timeout_ms {
        attributes.push(int(attr::PRODUCE_TIMEOUT_MS, t));
    }
    if let Some(f) = &facts.fetch {
        attributes.push(int(attr::FETCH_MAX_WAIT_MS, f.max_wait_ms));
        attributes.push(int(attr::FETCH_MIN_BYTES, f.min_bytes));
        if let Some(v) = f.max_bytes {
            attributes.push(int(attr::FETCH_MAX_BYTES, v));
        }
        if let Some(v) = f.isolation_level {
            let level = if v == 1 {
                "read_committed"
            } else {
                "read_uncommitted"
            };
            attributes.push(string(attr::FETCH_ISOLATION, level));
        }
        if let Some(v) = f.session_id {
            attributes.push(int(attr::FETCH_SESSION_ID, v));
        }
        if let Some(v) = f.session_epoch {
            attributes.push(int(attr::FETCH_SESSION_EPOCH, v));
        }
    }
    if let Some(e) = &facts.request_error {
        attributes.push(string(attr::REQUEST_DECODE_ERROR, e.clone()));
    }
    if let Some(e) = &facts.response_error {
        attributes.push(string(attr::RESPONSE_DECODE_ERROR, e.clone()));
    }
    if facts.links_dropped > 0 {
        attributes.push(int(attr::LINKS_DROPPED, facts.links_dropped));
    }
    if facts.decompression_capped > 0 {
        attributes.push(int(attr::DECOMPRESSION_CAPPED, facts.decompression_capped));
    }
}

/// One event per partition (at most `max`), stamped when the response began, or when
/// the request ended if there is no response.
fn partition_events(
    facts: &Facts,
    knowledge: &Knowledge,
    ts: i64,
    max: usize,
) -> (Vec<Event>, u32) {
    let events = facts
        .partitions
        .iter()
        .take(max)
        .map(|p| partition_event(p, knowledge, ts))
        .collect();
    let dropped = facts.partitions.len().saturating_sub(max) as u32;
    (events, dropped)
}

fn partition_event(p: &PartitionFacts, knowledge: &Knowledge, ts: i64) -> Event {
    let mut a = vec![
        string(attr::DESTINATION_NAME, display_topic(&p.topic, knowledge)),
        string(attr::DESTINATION_PARTITION, p.partition.to_string()),
        int(attr::BATCH_MESSAGE_COUNT, p.records as i64),
        int(attr::RECORD_BYTES, p.record_bytes as i64),
    ];
    let mut opt = |key: &str, v: Option<i64>| {
        if let Some(v) = v {
            a.push(int(key, v));
        }
    };
    opt(attr::FETCH_OFFSET, p.fetch_offset);
    opt(attr::FIRST_OFFSET, p.first_offset);
    opt(attr::LAST_OFFSET, p.last_offset);
    opt(attr::BASE_OFFSET, p.base_offset);
    opt(attr::HIGH_WATERMARK, p.high_watermark);
    opt(attr::LAST_STABLE_OFFSET, p.last_stable_offset);
    opt(attr::LOG_START_OFFSET, p.log_start_offset);
    opt(attr::LOG_APPEND_TIME_MS, p.log_append_time_ms);
    if !p.codecs.is_empty() {
        a.push(strings(
            attr::CODECS,
            p.codecs.iter().map(|c| c.name().to_string()).collect(),
        ));
    }
    if p.aborted_transactions > 0 {
        a.push(int(attr::ABORTED_TRANSACTIONS, p.aborted_transactions));
    }
    if p.record_errors > 0 {
        a.push(int(attr::RECORD_ERRORS, p.record_errors));
    }
    if p.error_code != 0 {
        a.push(string(
            attr::ERROR_TYPE,
            error_name(p.error_code).unwrap_or("UNKNOWN"),
        ));
    }
    if let Some(m) = &p.error_message {
        a.push(string(attr::ERROR_MESSAGE, m.as_ref()));
    }
    Event {
        time_unix_nano: nanos(ts),
        name: attr::EVENT_PARTITION.to_string(),
        attributes: a,
        dropped_attributes_count: 0,
    }
}

/// Span links to the trace contexts the records carried.
fn record_links(facts: &Facts, knowledge: &Knowledge) -> Vec<Link> {
    facts
        .links
        .iter()
        .map(|l| Link {
            trace_id: l.trace_id.to_vec(),
            span_id: l.span_id.to_vec(),
            trace_state: l.trace_state.as_deref().unwrap_or("").to_string(),
            attributes: vec![
                string(attr::DESTINATION_NAME, display_topic(&l.topic, knowledge)),
                string(attr::DESTINATION_PARTITION, l.partition.to_string()),
                int(attr::KAFKA_OFFSET, l.offset),
            ],
            dropped_attributes_count: 0,
            flags: u32::from(l.flags) | 0x100,
        })
        .collect()
}
