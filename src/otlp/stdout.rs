//! `--format otel-stdout`: the spans as opentelemetry-stdout's span exporter prints
//! them, the dump OpenTelemetry SDK users know from their own programs, for reading in
//! a terminal. It takes the OTLP JSON lines kapture writes anyway, so the default
//! output pays nothing for it: each line is parsed back (opentelemetry-proto's serde
//! types), turned into the SDK's `SpanData` and exported.
//!
//! The exporter prints to the process's standard output itself; a closed pipe there
//! (`| head`) makes it panic, which is caught and told as `BrokenPipe`, as any other
//! write would tell it.

use std::borrow::Cow;
use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};
use std::pin::pin;
use std::sync::Once;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{
    Event, Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_proto::tonic::common::v1::{self as proto_common, any_value};
use opentelemetry_proto::tonic::trace::v1::{self as proto, TracesData};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter as _, SpanLinks};

/// Takes kapture's OTLP JSON lines as they are written and prints each line's spans.
#[derive(Default)]
pub struct StdoutDump {
    exporter: opentelemetry_stdout::SpanExporter,
    /// The start of a line not ended yet.
    pending: Vec<u8>,
    resource_set: bool,
}

impl Write for StdoutDump {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Spans come in one small write each: only the new bytes are searched.
        let mut rest = buf;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            self.pending.extend_from_slice(&rest[..end]);
            let line = std::mem::take(&mut self.pending);
            self.print_line(&line)?;
            self.pending = line;
            self.pending.clear();
            rest = &rest[end + 1..];
        }
        self.pending.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stdout().flush()
    }
}

impl StdoutDump {
    /// Prints the spans of one line of OTLP JSON (a `TracesData`).
    fn print_line(&mut self, line: &[u8]) -> io::Result<()> {
        let data: TracesData = serde_json::from_slice(line).map_err(io::Error::other)?;
        for resource_spans in &data.resource_spans {
            // Every line carries the same resource; the exporter prints it once.
            if !self.resource_set {
                let attributes = resource_spans
                    .resource
                    .iter()
                    .flat_map(|r| r.attributes.iter().map(key_value));
                let resource = Resource::builder_empty().with_attributes(attributes);
                let resource = match resource_spans.schema_url.as_str() {
                    "" => resource.build(),
                    url => resource.with_schema_url([], url.to_owned()).build(),
                };
                self.exporter.set_resource(&resource);
                self.resource_set = true;
            }
            let batch: Vec<SpanData> = resource_spans
                .scope_spans
                .iter()
                .flat_map(|scope_spans| {
                    let scope = scope_of(scope_spans);
                    scope_spans
                        .spans
                        .iter()
                        .map(move |span| span_data(span, scope.clone()))
                })
                .collect();
            self.export(batch)?;
        }
        Ok(())
    }

    fn export(&self, batch: Vec<SpanData>) -> io::Result<()> {
        silence_stdout_panics();
        let exported = panic::catch_unwind(AssertUnwindSafe(|| ready(self.exporter.export(batch))));
        match exported {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(io::Error::other(e.to_string())),
            // println! panics only when standard output cannot be written.
            Err(_) => Err(io::ErrorKind::BrokenPipe.into()),
        }
    }
}

/// The value of a future that is ready at once (the stdout exporter's is: it prints
/// and returns), polled without a runtime.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// Keeps the exporter's "failed printing to stdout" panic off standard error: it is
/// reported as a broken pipe instead. Other panics still print.
fn silence_stdout_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied());
            if !message.is_some_and(|m| m.starts_with("failed printing to stdout")) {
                previous(info);
            }
        }));
    });
}

fn scope_of(scope_spans: &proto::ScopeSpans) -> InstrumentationScope {
    let Some(scope) = &scope_spans.scope else {
        return InstrumentationScope::builder("").build();
    };
    let mut builder = InstrumentationScope::builder(scope.name.clone())
        .with_attributes(scope.attributes.iter().map(key_value));
    if !scope.version.is_empty() {
        builder = builder.with_version(scope.version.clone());
    }
    if !scope_spans.schema_url.is_empty() {
        builder = builder.with_schema_url(scope_spans.schema_url.clone());
    }
    builder.build()
}

fn span_data(span: &proto::Span, scope: InstrumentationScope) -> SpanData {
    SpanData {
        span_context: context(&span.trace_id, &span.span_id, span.flags),
        parent_span_id: span_id(&span.parent_span_id),
        // Bit 9 of the flags: the parent is remote (bit 8 says that bit 9 is known).
        parent_span_is_remote: span.flags & 0x300 == 0x300,
        span_kind: kind(span.kind),
        name: Cow::Owned(span.name.clone()),
        start_time: time(span.start_time_unix_nano),
        end_time: time(span.end_time_unix_nano),
        attributes: span.attributes.iter().map(key_value).collect(),
        dropped_attributes_count: span.dropped_attributes_count,
        events: events(span),
        links: links(span),
        status: status(span.status.as_ref()),
        instrumentation_scope: scope,
    }
}

/// The SDK's event and link lists are `non_exhaustive`: built from their defaults.
fn events(span: &proto::Span) -> SpanEvents {
    let mut events = SpanEvents::default();
    events.events = span.events.iter().map(event).collect();
    events.dropped_count = span.dropped_events_count;
    events
}

fn links(span: &proto::Span) -> SpanLinks {
    let mut links = SpanLinks::default();
    links.links = span.links.iter().map(link).collect();
    links.dropped_count = span.dropped_links_count;
    links
}

fn context(trace_id: &[u8], span: &[u8], flags: u32) -> SpanContext {
    let trace = trace_id
        .try_into()
        .map_or(TraceId::INVALID, TraceId::from_bytes);
    SpanContext::new(
        trace,
        span_id(span),
        TraceFlags::new(flags as u8),
        false,
        TraceState::default(),
    )
}

fn span_id(bytes: &[u8]) -> SpanId {
    bytes.try_into().map_or(SpanId::INVALID, SpanId::from_bytes)
}

fn kind(kind: i32) -> SpanKind {
    match proto::span::SpanKind::try_from(kind) {
        Ok(proto::span::SpanKind::Server) => SpanKind::Server,
        Ok(proto::span::SpanKind::Client) => SpanKind::Client,
        Ok(proto::span::SpanKind::Producer) => SpanKind::Producer,
        Ok(proto::span::SpanKind::Consumer) => SpanKind::Consumer,
        _ => SpanKind::Internal,
    }
}

fn time(unix_nano: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(unix_nano)
}

fn status(status: Option<&proto::Status>) -> Status {
    match status.map(|s| (proto::status::StatusCode::try_from(s.code), s)) {
        Some((Ok(proto::status::StatusCode::Error), s)) => Status::error(s.message.clone()),
        Some((Ok(proto::status::StatusCode::Ok), _)) => Status::Ok,
        _ => Status::Unset,
    }
}

fn event(e: &proto::span::Event) -> Event {
    Event::new(
        e.name.clone(),
        time(e.time_unix_nano),
        e.attributes.iter().map(key_value).collect(),
        e.dropped_attributes_count,
    )
}

fn link(l: &proto::span::Link) -> Link {
    Link::new(
        context(&l.trace_id, &l.span_id, l.flags),
        l.attributes.iter().map(key_value).collect(),
        l.dropped_attributes_count,
    )
}

fn key_value(kv: &proto_common::KeyValue) -> KeyValue {
    let value = kv.value.as_ref().and_then(|v| v.value.as_ref());
    KeyValue::new(kv.key.clone(), value.map_or(Value::from(""), value_of))
}

/// An OTLP value as the SDK holds it. The SDK has no maps, no bytes and only
/// arrays of one type: those print as their JSON.
fn value_of(v: &any_value::Value) -> Value {
    match v {
        any_value::Value::StringValue(s) => Value::from(s.clone()),
        any_value::Value::BoolValue(b) => Value::Bool(*b),
        any_value::Value::IntValue(i) => Value::I64(*i),
        any_value::Value::DoubleValue(d) => Value::F64(*d),
        any_value::Value::ArrayValue(a) => array_of(a).unwrap_or_else(|| json_value(v)),
        _ => json_value(v),
    }
}

/// An array whose items are all strings, all integers, all doubles or all bools.
fn array_of(a: &proto_common::ArrayValue) -> Option<Value> {
    let items = || a.values.iter().map(|v| v.value.as_ref());
    let strings: Option<Vec<StringValue>> = items()
        .map(|v| match v {
            Some(any_value::Value::StringValue(s)) => Some(StringValue::from(s.clone())),
            _ => None,
        })
        .collect();
    if let Some(s) = strings {
        return Some(Value::Array(Array::String(s)));
    }
    let ints: Option<Vec<i64>> = items()
        .map(|v| match v {
            Some(any_value::Value::IntValue(i)) => Some(*i),
            _ => None,
        })
        .collect();
    if let Some(i) = ints {
        return Some(Value::Array(Array::I64(i)));
    }
    let doubles: Option<Vec<f64>> = items()
        .map(|v| match v {
            Some(any_value::Value::DoubleValue(d)) => Some(*d),
            _ => None,
        })
        .collect();
    if let Some(d) = doubles {
        return Some(Value::Array(Array::F64(d)));
    }
    let bools: Option<Vec<bool>> = items()
        .map(|v| match v {
            Some(any_value::Value::BoolValue(b)) => Some(*b),
            _ => None,
        })
        .collect();
    bools.map(|b| Value::Array(Array::Bool(b)))
}

fn json_value(v: &any_value::Value) -> Value {
    let any = proto_common::AnyValue {
        value: Some(v.clone()),
    };
    Value::from(serde_json::to_string(&any).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_their_types() {
        use any_value::Value as V;
        let any = |v| proto_common::AnyValue { value: Some(v) };
        assert_eq!(value_of(&V::IntValue(7)), Value::I64(7));
        assert_eq!(value_of(&V::StringValue("a".into())), Value::from("a"));
        let strings = V::ArrayValue(proto_common::ArrayValue {
            values: vec![
                any(V::StringValue("x".into())),
                any(V::StringValue("y".into())),
            ],
        });
        assert_eq!(
            value_of(&strings),
            Value::Array(Array::String(vec!["x".into(), "y".into()]))
        );
        // Mixed arrays have no SDK type: their JSON.
        let mixed = V::ArrayValue(proto_common::ArrayValue {
            values: vec![any(V::IntValue(1)), any(V::BoolValue(true))],
        });
        assert!(matches!(value_of(&mixed), Value::String(s) if s.as_str().contains("intValue")));
    }

    #[test]
    fn ids_flags_and_times_convert() {
        let span = proto::Span {
            trace_id: vec![0xab; 16],
            span_id: vec![0xcd; 8],
            parent_span_id: vec![],
            flags: 0x301,
            name: "produce t".into(),
            kind: 3,
            start_time_unix_nano: 1_700_000_000_000_000_001,
            end_time_unix_nano: 1_700_000_000_500_000_000,
            ..Default::default()
        };
        let data = span_data(&span, InstrumentationScope::builder("kapture").build());
        assert_eq!(
            data.span_context.trace_id().to_string(),
            "abababababababababababababababab"
        );
        assert!(data.span_context.is_sampled());
        assert!(data.parent_span_is_remote);
        assert_eq!(data.parent_span_id, SpanId::INVALID);
        assert_eq!(data.span_kind, SpanKind::Client);
        assert_eq!(
            data.end_time.duration_since(UNIX_EPOCH).unwrap().as_nanos(),
            1_700_000_000_500_000_000
        );
    }
}
