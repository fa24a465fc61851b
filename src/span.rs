//! Turns one [`Exchange`] of a connection into an OTLP [`Span`]: semantic-convention
//! messaging attributes, kapture's own attributes (all named in [`attr`]), timing
//! from packet timestamps and ids derived from stable facts of the capture.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::trace::v1::{Span, Status, span::SpanKind};
use xxhash_rust::xxh3::{xxh3_64_with_seed, xxh3_128_with_seed};

use crate::kafka::ConnectionReport;
use crate::kafka::api;
use crate::kafka::exchange::{Exchange, ResponseState};
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
}

/// Settings that shape every span.
#[derive(Debug, Clone, Default)]
pub struct SpanConfig {
    /// Mixed into every id, so two runs that must not collide can be told apart.
    pub id_seed: u64,
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

/// Builds the span for one exchange.
pub fn build(
    report: &ConnectionReport,
    ex: &Exchange,
    origin: Origin,
    config: &SpanConfig,
) -> Span {
    let req = &ex.request;
    let (trace_id, span_id) = ids(report, ex, origin, config);
    let operation = api::operation_name(req.api_key).unwrap_or("unknown");
    let end_ts = ex.response.map_or(req.span.last_ts, |r| r.span.last_ts);

    let mut attributes = Vec::with_capacity(24);
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

    Span {
        trace_id: trace_id.to_vec(),
        span_id: span_id.to_vec(),
        name: operation.to_string(),
        kind: SpanKind::Client as i32,
        start_time_unix_nano: nanos(req.span.first_ts),
        end_time_unix_nano: nanos(end_ts),
        attributes,
        // Always present: some JSON readers reject `"status":null`.
        status: Some(Status::default()),
        ..Default::default()
    }
}
