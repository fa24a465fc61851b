//! `--format otel-stdout` on a real capture: the dump opentelemetry-stdout's span
//! exporter prints holds every span of the OTLP JSON output, with its name, trace id,
//! span id, kind and attributes; the default output is unchanged; `-o` is refused.

mod common;

use common::{kapture, parse_spans};
use opentelemetry_proto::tonic::common::v1::any_value::Value;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_dump_holds_every_span_with_its_ids_and_attributes() {
    let capture = "testdata/codecs-kcat.pcap";
    let json = kapture(["-q", "--api", "all", capture]);
    let spans = parse_spans(&json.stdout);
    assert!(spans.len() > 5, "{} spans", spans.len());
    let dump = kapture(["-q", "--api", "all", "--format", "otel-stdout", capture]);
    assert_eq!(json.status.code(), dump.status.code());
    let text = String::from_utf8(dump.stdout).expect("UTF-8");
    assert!(text.starts_with("Spans\nResource\n"), "{}", &text[..200]);
    assert!(text.contains("service.name=String(Owned(\"kapture\"))"));
    // One block per span, in output order.
    let blocks: Vec<&str> = text.split("\nSpan #").skip(1).collect();
    assert_eq!(blocks.len(), spans.len());
    for (span, block) in spans.iter().zip(&blocks) {
        assert!(
            block.contains(&format!("\tName         : {}\n", span.name)),
            "{block}"
        );
        assert!(block.contains(&format!("\tTraceId      : {}\n", hex(&span.trace_id))));
        assert!(block.contains(&format!("\tSpanId       : {}\n", hex(&span.span_id))));
        assert!(block.contains("\tKind         : Client\n"), "{block}");
        for kv in &span.attributes {
            let shown = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(s)) => format!("String(Owned({s:?}))"),
                Some(Value::IntValue(i)) => format!("I64({i})"),
                Some(Value::BoolValue(b)) => format!("Bool({b})"),
                _ => continue,
            };
            let line = format!("\t\t ->  {}: {shown}\n", kv.key);
            assert!(block.contains(&line), "{line} missing in {block}");
        }
    }
    assert!(text.contains("messaging.destination.name: String(Owned(\"codecs\"))"));
}

#[test]
fn otel_stdout_goes_to_standard_output_only() {
    let out = kapture([
        "--format",
        "otel-stdout",
        "-o",
        "/nonexistent/spans.txt",
        "testdata/codecs-kcat.pcap",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--format otel-stdout prints to standard output"),
        "{err}"
    );
    // The default format, named, still writes OTLP JSON.
    let named = kapture(["-q", "--format", "otlp-json", "testdata/codecs-kcat.pcap"]);
    let default = kapture(["-q", "testdata/codecs-kcat.pcap"]);
    assert_eq!(named.stdout, default.stdout);
}
