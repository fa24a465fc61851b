//! The streaming pass gives the same spans as the whole-capture implementation it
//! replaced, on every capture in `testdata/`: only their order may differ. Each
//! capture's spans (default APIs, and `--api all`) are put in a canonical form, sorted
//! and hashed; `tests/spanset/<capture>.<apis>` holds what the whole-capture kapture
//! (main at a898276, before the streaming pass) gave, recorded with
//!
//! ```text
//! KAPTURE_SPANSET_RECORD=/path/to/that/kapture cargo test --release --test spanset
//! ```
//!
//! The canonical form leaves out one thing, by design: `kapture.rtt.*` on spans whose
//! round trip comes from data → ACK delays (`kapture.rtt.source=data_ack`, no handshake
//! captured). A single pass knows the fastest delay so far, where the whole-capture
//! kapture used the fastest of the whole connection (README, "What it does").

mod common;

use common::*;
use serde_json::Value;

/// (file name suffix, extra arguments) of the two runs per capture.
const RUNS: [(&str, &[&str]); 2] = [("default", &[]), ("all", &["--api", "all"])];

/// The spans of a JSON Lines output, each serialised canonically, sorted.
fn canonical_spans(jsonl: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for line in jsonl.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let data: Value = serde_json::from_slice(line).expect("a TracesData line");
        for rs in data["resourceSpans"].as_array().expect("resourceSpans") {
            let resource = rs["resource"].to_string();
            for ss in rs["scopeSpans"].as_array().expect("scopeSpans") {
                for span in ss["spans"].as_array().expect("spans") {
                    let mut span = span.clone();
                    strip(&mut span);
                    out.push(format!("{resource} {span}"));
                }
            }
        }
    }
    out.sort();
    out
}

fn strip(span: &mut Value) {
    let Some(attrs) = span["attributes"].as_array_mut() else {
        return;
    };
    let from_data_acks = attrs
        .iter()
        .any(|a| a["key"] == "kapture.rtt.source" && a["value"]["stringValue"] == "data_ack");
    attrs.retain(|a| {
        let key = a["key"].as_str().unwrap_or_default();
        !(from_data_acks && key.starts_with("kapture.rtt."))
    });
}

/// `<count> <xxh3-128 of the sorted canonical spans>`.
fn digest(spans: &[String]) -> String {
    let joined = spans.join("\n");
    format!(
        "{} {:032x}",
        spans.len(),
        xxhash_rust::xxh3::xxh3_128(joined.as_bytes())
    )
}

fn run(binary: Option<&str>, capture: &std::path::Path, extra: &[&str]) -> Vec<u8> {
    let mut args: Vec<String> = vec!["-q".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(capture.display().to_string());
    match binary {
        Some(b) => {
            std::process::Command::new(b)
                .args(&args)
                .output()
                .expect("the recording kapture runs")
                .stdout
        }
        None => kapture(&args).stdout,
    }
}

#[test]
fn every_capture_gives_the_spans_of_the_whole_capture_pass() {
    let record = std::env::var("KAPTURE_SPANSET_RECORD").ok();
    let dir = root().join("tests/spanset");
    let mut captures: Vec<_> = std::fs::read_dir(root().join("testdata"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    captures.sort();
    assert!(captures.len() >= 25, "the testdata captures");
    let mut failures = Vec::new();
    let mut compared = 0;
    for capture in &captures {
        let name = capture.file_name().unwrap().to_string_lossy().to_string();
        for (suffix, extra) in RUNS {
            let path = dir.join(format!("{name}.{suffix}"));
            if let Some(binary) = &record {
                std::fs::create_dir_all(&dir).unwrap();
                let spans = canonical_spans(&run(Some(binary), capture, extra));
                std::fs::write(&path, digest(&spans) + "\n").unwrap();
                continue;
            }
            let expected = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let spans = canonical_spans(&run(None, capture, extra));
            let got = digest(&spans);
            if got != expected.trim() {
                failures.push(format!(
                    "{name} ({suffix}): {got}, recorded {}",
                    expected.trim()
                ));
            }
            compared += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        record.is_some() || compared >= 50,
        "only {compared} runs compared"
    );
}
