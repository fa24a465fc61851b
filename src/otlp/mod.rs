//! Writes spans as OTLP JSON Lines, the OpenTelemetry Collector's file format: one
//! compact `TracesData` object per line, each line under 1 MiB. Spans arrive already
//! serialised (workers write them in parallel with [`json::JsonOut`]); this module
//! only frames them.
//!
//! [`Sink`] sits in front of the file output: it can shift every timestamp
//! ([`rebase`]) and send the same spans to an OTLP/HTTP endpoint ([`http`]).
//! [`stdout`] prints the lines the way the OpenTelemetry SDK's stdout exporter does.

pub mod http;
pub mod json;
pub mod rebase;
mod sink;
pub mod stdout;

pub use sink::Sink;

use std::io::{self, Write};

use opentelemetry_proto::tonic::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, any_value::Value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, TracesData};

/// Semantic conventions the spans follow.
pub const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.44.0";

/// The otlpjsonfile receiver reads lines of up to 1 MiB by default.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Serialises one span struct to compact JSON through serde: the reference that
/// [`json::JsonOut`] matches byte for byte.
pub fn span_json(span: &Span) -> Vec<u8> {
    // Serialising plain proto structs to a Vec cannot fail.
    serde_json::to_vec(span).unwrap_or_default()
}

/// The `TracesData` envelope of every line, split around its span list.
#[derive(Debug, Clone)]
pub struct Envelope {
    head: Vec<u8>,
    tail: Vec<u8>,
    template: ResourceSpans,
}

impl Envelope {
    pub fn new(service_name: &str) -> Self {
        let data = TracesData {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![KeyValue {
                        key: "service.name".into(),
                        value: Some(AnyValue {
                            value: Some(Value::StringValue(service_name.into())),
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "kapture".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..Default::default()
                    }),
                    spans: Vec::new(),
                    schema_url: SCHEMA_URL.into(),
                }],
                schema_url: SCHEMA_URL.into(),
            }],
        };
        let json = serde_json::to_vec(&data).unwrap_or_default();
        let marker = b"\"spans\":[]";
        let at = json
            .windows(marker.len())
            .position(|w| w == marker)
            .map_or(json.len(), |p| p + marker.len() - 1);
        Envelope {
            head: json[..at].to_vec(),
            tail: json[at..].to_vec(),
            template: data.resource_spans.into_iter().next().unwrap_or_default(),
        }
    }

    /// The same envelope for another `service.name`: a client's, under
    /// `--service-name-from`.
    pub fn for_service(&self, service_name: &str) -> Envelope {
        Envelope::new(service_name)
    }

    /// The same envelope as a protobuf message around `spans`.
    pub fn resource_spans(&self, spans: Vec<Span>) -> ResourceSpans {
        let mut rs = self.template.clone();
        if let Some(scope) = rs.scope_spans.first_mut() {
            scope.spans = spans;
        }
        rs
    }

    /// The same envelope as JSON around `spans`, serialised spans joined by commas.
    pub fn json_around(&self, spans: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.head.len() + spans.len() + self.tail.len());
        out.extend_from_slice(&self.head);
        out.extend_from_slice(spans);
        out.extend_from_slice(&self.tail);
        out
    }

    fn overhead(&self) -> usize {
        self.head.len() + self.tail.len() + 1
    }
}

/// Groups serialised spans into lines no longer than [`MAX_LINE_BYTES`], writing each
/// span straight through to `out` (which should be buffered): a line is never held
/// whole, since its head is known before its spans and its length is counted as it
/// goes.
pub struct LineWriter<W: Write> {
    out: W,
    /// The envelope of the open line, and of the run's one service.
    envelope: Envelope,
    base: Envelope,
    /// The client service of the open line under `--service-name-from`.
    line_service: Option<Box<str>>,
    /// Bytes of the spans (and the commas between them) in the open line.
    line_len: usize,
    spans_in_line: usize,
    pub lines: u64,
    pub spans: u64,
}

impl<W: Write> LineWriter<W> {
    pub fn new(out: W, envelope: Envelope) -> Self {
        LineWriter {
            out,
            base: envelope.clone(),
            envelope,
            line_service: None,
            line_len: 0,
            spans_in_line: 0,
            lines: 0,
            spans: 0,
        }
    }

    /// Adds one span of client service `service` (`None`: the run's one service). A
    /// line holds one `ResourceSpans`, so a span of another service than the open
    /// line's starts a new line: output order, and so determinism, are kept.
    pub fn push_for(&mut self, service: Option<&str>, span: &[u8]) -> io::Result<()> {
        if self.line_service.as_deref() != service {
            self.end_line()?;
            self.line_service = service.map(Box::from);
            self.envelope = match service {
                Some(name) => self.base.for_service(name),
                None => self.base.clone(),
            };
        }
        self.push(span)
    }

    /// Adds one serialised span, starting a new line when this one would grow too long.
    pub fn push(&mut self, span: &[u8]) -> io::Result<()> {
        let needed = self.line_len + 1 + span.len() + self.envelope.overhead();
        if self.spans_in_line > 0 && needed > MAX_LINE_BYTES {
            self.end_line()?;
        }
        if self.spans_in_line == 0 {
            self.out.write_all(&self.envelope.head)?;
        } else {
            self.out.write_all(b",")?;
            self.line_len += 1;
        }
        self.out.write_all(span)?;
        self.line_len += span.len();
        self.spans_in_line += 1;
        self.spans += 1;
        Ok(())
    }

    fn end_line(&mut self) -> io::Result<()> {
        if self.spans_in_line == 0 {
            return Ok(());
        }
        self.out.write_all(&self.envelope.tail)?;
        self.out.write_all(b"\n")?;
        self.line_len = 0;
        self.spans_in_line = 0;
        self.lines += 1;
        Ok(())
    }

    /// Ends the open line and flushes the output: the input went quiet, and what was
    /// written must reach a reader now.
    pub fn flush_line(&mut self) -> io::Result<()> {
        self.end_line()?;
        self.out.flush()
    }

    /// Ends the last line and flushes the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.end_line()?;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(name: &str) -> Span {
        Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: name.into(),
            kind: 3,
            start_time_unix_nano: 1_700_000_000_000_000_001,
            end_time_unix_nano: 1_700_000_000_000_000_002,
            ..Default::default()
        }
    }

    #[test]
    fn lines_parse_back_as_traces_data() {
        let mut w = LineWriter::new(Vec::new(), Envelope::new("svc"));
        w.push(&span_json(&span("a"))).unwrap();
        w.push(&span_json(&span("b"))).unwrap();
        let out = w.finish().unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1);
        let data: TracesData = serde_json::from_str(text.trim_end()).unwrap();
        let spans = &data.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[1].name, "b");
        assert_eq!(spans[0].start_time_unix_nano, 1_700_000_000_000_000_001);
        // Ids are hex, times are strings, kind is an integer.
        assert!(text.contains("\"traceId\":\"01010101010101010101010101010101\""));
        assert!(text.contains("\"startTimeUnixNano\":\"1700000000000000001\""));
        assert!(text.contains("\"kind\":3"));
        assert!(text.contains(SCHEMA_URL));
    }

    #[test]
    fn long_output_splits_into_lines_under_the_limit() {
        let mut w = LineWriter::new(Vec::new(), Envelope::new("svc"));
        let big = span_json(&span(&"x".repeat(10_000)));
        for _ in 0..300 {
            w.push(&big).unwrap();
        }
        let out = w.finish().unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut total = 0;
        for line in text.lines() {
            assert!(line.len() < MAX_LINE_BYTES);
            let data: TracesData = serde_json::from_str(line).unwrap();
            total += data.resource_spans[0].scope_spans[0].spans.len();
        }
        assert_eq!(total, 300);
        assert!(text.lines().count() >= 3);
    }
}
