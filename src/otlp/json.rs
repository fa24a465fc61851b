//! Writes spans as OTLP JSON straight into a byte buffer, as the span builder hands
//! them on ([`SpanOut`]): no proto structs, no owned strings, integers formatted in
//! place. The bytes are exactly what opentelemetry-proto's serde serialiser writes for
//! the same span (field order, `""` and `0` for empty fields, ids in hex, 64-bit
//! integers as strings); the tests hold the two side by side.

use crate::span::{SpanHead, SpanOut};

/// Writes spans one after another into `buf`, remembering where each ends.
#[derive(Debug, Default)]
pub struct JsonOut {
    pub buf: Vec<u8>,
    /// `buf[ends[i-1]..ends[i]]` is span `i`.
    pub ends: Vec<usize>,
    /// Whether the list being written needs a comma before its next element.
    comma: bool,
}

impl JsonOut {
    pub fn new() -> Self {
        Self::default()
    }

    /// The serialised spans, in the order they were written.
    pub fn spans(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(self.ends.iter()).map(|(s, &e)| &self.buf[s..e])
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
        self.comma = false;
    }

    fn raw(&mut self, bytes: &str) {
        self.buf.extend_from_slice(bytes.as_bytes());
    }

    fn string(&mut self, s: &str) {
        write_string(&mut self.buf, s);
    }

    fn quoted_u64(&mut self, v: u64) {
        self.buf.push(b'"');
        self.raw(itoa::Buffer::new().format(v));
        self.buf.push(b'"');
    }

    fn hex(&mut self, bytes: &[u8]) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        self.buf.push(b'"');
        for &b in bytes {
            self.buf.push(DIGITS[usize::from(b >> 4)]);
            self.buf.push(DIGITS[usize::from(b & 15)]);
        }
        self.buf.push(b'"');
    }

    fn element(&mut self) {
        if self.comma {
            self.buf.push(b',');
        }
        self.comma = true;
    }

    fn key_value(&mut self, key: &str, kind: &str) {
        self.element();
        self.raw("{\"key\":");
        self.string(key);
        self.raw(",\"value\":{\"");
        self.raw(kind);
        self.raw("\":");
    }
}

/// Writes `s` as a JSON string with serde_json's escaping.
pub fn write_string(buf: &mut Vec<u8>, s: &str) {
    // serde_json's own string serialiser, writing into the Vec; that cannot fail.
    let _ = serde_json::to_writer(buf, s);
}

impl SpanOut for JsonOut {
    fn begin_span(&mut self, head: &SpanHead<'_>) {
        self.raw("{\"traceId\":");
        self.hex(head.trace_id);
        self.raw(",\"spanId\":");
        self.hex(head.span_id);
        self.raw(",\"traceState\":\"\",\"parentSpanId\":");
        self.hex(head.parent_span_id);
        self.raw(",\"flags\":0,\"name\":\"");
        for piece in head.name {
            // Each piece escaped alone: escaping works character by character.
            let start = self.buf.len();
            self.string(piece);
            // Drop the quotes around the piece; the name's own quotes frame it.
            self.buf.remove(start);
            self.buf.pop();
        }
        self.raw("\",\"kind\":");
        self.raw(itoa::Buffer::new().format(head.kind as i32));
        self.raw(",\"startTimeUnixNano\":");
        self.quoted_u64(head.start_time_unix_nano);
        self.raw(",\"endTimeUnixNano\":");
        self.quoted_u64(head.end_time_unix_nano);
        self.raw(",\"attributes\":[");
        self.comma = false;
    }

    fn str(&mut self, key: &str, value: &str) {
        self.key_value(key, "stringValue");
        self.string(value);
        self.raw("}}");
    }

    fn int(&mut self, key: &str, value: i64) {
        self.key_value(key, "intValue");
        self.buf.push(b'"');
        self.raw(itoa::Buffer::new().format(value));
        self.raw("\"}}");
    }

    fn bool(&mut self, key: &str, value: bool) {
        self.key_value(key, "boolValue");
        self.raw(if value { "true}}" } else { "false}}" });
    }

    fn strs(&mut self, key: &str, values: &mut dyn Iterator<Item = &str>) {
        self.key_value(key, "arrayValue");
        self.raw("{\"values\":[");
        for (i, v) in values.enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            self.raw("{\"stringValue\":");
            self.string(v);
            self.buf.push(b'}');
        }
        self.raw("]}}}");
    }

    fn begin_events(&mut self) {
        self.raw("],\"droppedAttributesCount\":0,\"events\":[");
        self.comma = false;
    }

    fn begin_event(&mut self, time_unix_nano: u64, name: &str) {
        self.element();
        self.raw("{\"timeUnixNano\":");
        self.quoted_u64(time_unix_nano);
        self.raw(",\"name\":");
        self.string(name);
        self.raw(",\"attributes\":[");
        self.comma = false;
    }

    fn end_event(&mut self) {
        self.raw("],\"droppedAttributesCount\":0}");
        // Back in the event list, which has at least this event.
        self.comma = true;
    }

    fn begin_links(&mut self, dropped_events: u32) {
        self.raw("],\"droppedEventsCount\":");
        self.raw(itoa::Buffer::new().format(dropped_events));
        self.raw(",\"links\":[");
        self.comma = false;
    }

    fn begin_link(&mut self, trace_id: &[u8], span_id: &[u8], trace_state: &str) {
        self.element();
        self.raw("{\"traceId\":");
        self.hex(trace_id);
        self.raw(",\"spanId\":");
        self.hex(span_id);
        self.raw(",\"traceState\":");
        self.string(trace_state);
        self.raw(",\"attributes\":[");
        self.comma = false;
    }

    fn end_link(&mut self, flags: u32) {
        self.raw("],\"droppedAttributesCount\":0,\"flags\":");
        self.raw(itoa::Buffer::new().format(flags));
        self.buf.push(b'}');
        self.comma = true;
    }

    fn end_span(&mut self, dropped_links: u32, status_message: &str, status_code: i32) {
        self.raw("],\"droppedLinksCount\":");
        self.raw(itoa::Buffer::new().format(dropped_links));
        self.raw(",\"status\":{\"message\":");
        self.string(status_message);
        self.raw(",\"code\":");
        self.raw(itoa::Buffer::new().format(status_code));
        self.raw("}}");
        self.ends.push(self.buf.len());
        self.comma = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::span_json;
    use crate::span::ProtoOut;
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

    /// Feeds the same calls to both writers and compares the bytes.
    fn both(calls: impl Fn(&mut dyn SpanOut)) {
        let mut proto = ProtoOut::default();
        let mut json = JsonOut::new();
        calls(&mut proto);
        calls(&mut json);
        let expected: Vec<Vec<u8>> = proto.spans.iter().map(span_json).collect();
        let actual: Vec<Vec<u8>> = json.spans().map(<[u8]>::to_vec).collect();
        assert_eq!(actual.len(), expected.len());
        for (a, e) in actual.iter().zip(&expected) {
            assert_eq!(
                String::from_utf8_lossy(a),
                String::from_utf8_lossy(e),
                "direct writer and serde disagree"
            );
        }
    }

    fn head<'s>(name: &'s [&'s str], parent: &'s [u8]) -> SpanHead<'s> {
        SpanHead {
            trace_id: &[0xab; 16],
            span_id: &[0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef],
            parent_span_id: parent,
            name,
            kind: SpanKind::Client,
            start_time_unix_nano: 1_795_588_094_638_451_000,
            end_time_unix_nano: u64::MAX,
        }
    }

    #[test]
    fn a_bare_span_matches_serde() {
        both(|o| {
            o.begin_span(&head(&["produce"], &[]));
            o.begin_events();
            o.begin_links(0);
            o.end_span(0, "", 0);
        });
    }

    #[test]
    fn every_kind_of_field_matches_serde() {
        both(|o| {
            o.begin_span(&head(&["fetch", " ", "tópic \"q\"\n\u{1}"], &[9; 8]));
            o.str("a", "plain");
            o.str("b", "esc \\ \" \t \u{7f} \u{1f} é 日本");
            o.int("c", i64::MIN);
            o.int("d", 0);
            o.bool("e", true);
            o.bool("f", false);
            o.strs("g", &mut ["x", "y\"z"].into_iter());
            o.strs("h", &mut std::iter::empty());
            o.begin_events();
            o.begin_event(5, "request written");
            o.end_event();
            o.begin_event(6, "kafka.partition");
            o.str("k", "v");
            o.int("n", -1);
            o.end_event();
            o.begin_links(3);
            o.begin_link(&[1; 16], &[2; 8], "a=b");
            o.int("off", 7);
            o.end_link(0x103);
            o.begin_link(&[3; 16], &[4; 8], "");
            o.end_link(0x100);
            o.end_span(2, "INVALID_RECORD on t-0", 2);
            // A second span in the same buffer.
            o.begin_span(&head(&["x", " ", "write"], &[1; 8]));
            o.str("kapture.phase", "write");
            o.begin_events();
            o.begin_links(0);
            o.end_span(0, "", 0);
        });
    }

    #[test]
    fn spans_are_told_apart() {
        let mut json = JsonOut::new();
        for name in ["a", "b", "c"] {
            json.begin_span(&head(&[name], &[]));
            json.begin_events();
            json.begin_links(0);
            json.end_span(0, "", 0);
        }
        let names: Vec<String> = json
            .spans()
            .map(|s| {
                let v: serde_json::Value = serde_json::from_slice(s).unwrap();
                v["name"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(json.len(), 3);
        json.clear();
        assert!(json.is_empty());
    }
}
