//! Helpers shared by the integration tests: running the kapture binary and reading
//! its OTLP JSON Lines output back.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::{Span, TracesData};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn testdata(name: &str) -> PathBuf {
    root().join("testdata").join(name)
}

/// Runs kapture with `args` from the crate root.
pub fn kapture<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_kapture"))
        .current_dir(root())
        .args(args)
        .output()
        .expect("kapture runs")
}

/// Parses JSON Lines of TracesData into spans, checking each line on the way.
pub fn parse_spans(jsonl: &[u8]) -> Vec<Span> {
    let text = std::str::from_utf8(jsonl).expect("output is UTF-8");
    let mut spans = Vec::new();
    for line in text.lines() {
        assert!(line.len() < 1024 * 1024, "line over 1 MiB");
        let data: TracesData = serde_json::from_str(line).expect("line is TracesData");
        for rs in data.resource_spans {
            for ss in rs.scope_spans {
                spans.extend(ss.spans);
            }
        }
    }
    spans
}

/// A span attribute value in a comparable form.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    Str(String),
    Int(i64),
    Bool(bool),
    Other,
}

pub fn attrs(span: &Span) -> BTreeMap<String, Attr> {
    span.attributes
        .iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(s)) => Attr::Str(s.clone()),
                Some(Value::IntValue(i)) => Attr::Int(*i),
                Some(Value::BoolValue(b)) => Attr::Bool(*b),
                _ => Attr::Other,
            };
            (kv.key.clone(), v)
        })
        .collect()
}

pub fn int_attr(span: &Span, key: &str) -> Option<i64> {
    match attrs(span).get(key) {
        Some(Attr::Int(i)) => Some(*i),
        _ => None,
    }
}

pub fn str_attr(span: &Span, key: &str) -> Option<String> {
    match attrs(span).get(key) {
        Some(Attr::Str(s)) => Some(s.clone()),
        _ => None,
    }
}

/// Every capture file in testdata/ (by extension: `.pcap`, `.pcapng`), with its name,
/// in name order.
pub fn all_captures() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root().join("testdata")).unwrap() {
        let path = entry.unwrap().path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext != "pcap" && ext != "pcapng" {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        out.push((path.file_name().unwrap().to_string_lossy().into(), bytes));
    }
    out.sort();
    out
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}

/// A tshark field dump (`-T fields -E header=y -E separator=/t`): column index by
/// field name, and the rows split into fields.
pub struct Tsv<'a> {
    pub col: std::collections::HashMap<&'a str, usize>,
    pub rows: Vec<Vec<&'a str>>,
}

pub fn parse_tsv(text: &str) -> Tsv<'_> {
    let mut lines = text.lines();
    let col = lines
        .next()
        .unwrap_or_default()
        .split('\t')
        .enumerate()
        .map(|(i, n)| (n, i))
        .collect();
    let rows = lines.map(|l| l.split('\t').collect()).collect();
    Tsv { col, rows }
}

/// The topics of a span: its destination, its topic list, its unresolved ids.
pub fn topics(span: &Span) -> Vec<String> {
    let mut out = Vec::new();
    for kv in &span.attributes {
        if !matches!(
            kv.key.as_str(),
            "messaging.destination.name" | "kapture.topics" | "kapture.topic_ids.unresolved"
        ) {
            continue;
        }
        match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Value::StringValue(s)) => out.push(s.clone()),
            Some(Value::ArrayValue(a)) => {
                out.extend(a.values.iter().filter_map(|v| match &v.value {
                    Some(Value::StringValue(s)) => Some(s.clone()),
                    _ => None,
                }))
            }
            _ => {}
        }
    }
    out
}
