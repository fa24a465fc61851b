//! Output that does not depend on scheduling: with every run-wide cap set low enough to
//! bite, runs with one, two and four threads, repeated, write the same spans and the
//! same summary, byte for byte.

mod common;

use common::{kapture, root, testdata};

/// Caps that span more than one connection, each with values from "nothing allowed"
/// through "bites part-way" to "never reached". Per-frame, per-connection, per-batch
/// and per-span caps cannot depend on thread timing and are not listed.
const RUN_WIDE_CAPS: &[(&str, &[u64])] = &[(
    "--max-decompressed-bytes",
    &[0, 1, 700, 2_000, 5_000, 20_000, 100_000, 1 << 30],
)];

/// Captures with compressed batches on several connections first (so that budgets
/// run out inside one capture, where connections are analysed in parallel), then the
/// rest of testdata, so that budgets also carry over from one input to the next.
fn inputs() -> Vec<String> {
    let first = ["codecs-kcat.pcap", "traceparent-otel.pcap"];
    let mut rest: Vec<String> = common::all_captures()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|n| !first.contains(&n.as_str()))
        .collect();
    let mut all: Vec<String> = first.iter().map(|s| s.to_string()).collect();
    all.append(&mut rest);
    all.iter()
        .map(|n| testdata(n).to_string_lossy().into_owned())
        .collect()
}

/// Spans and JSON summary of one run.
fn run(cap: &str, value: u64, threads: usize, inputs: &[String]) -> (Vec<u8>, String) {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let mut args: Vec<String> = vec![
        "--api".into(),
        "all".into(),
        "-j".into(),
        threads.to_string(),
        cap.into(),
        value.to_string(),
        "--summary".into(),
        "json".into(),
        "--summary-file".into(),
        summary.to_string_lossy().into_owned(),
    ];
    args.extend(inputs.iter().cloned());
    let out = kapture(&args);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{cap} {value} -j {threads}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.stdout, std::fs::read_to_string(&summary).unwrap())
}

fn capped(summary: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(summary).unwrap();
    fn find(v: &serde_json::Value) -> Option<u64> {
        match v {
            serde_json::Value::Object(m) => m
                .get("decompression_capped")
                .and_then(|x| x.as_u64())
                .or_else(|| m.values().find_map(find)),
            _ => None,
        }
    }
    find(&v).expect("the summary counts capped batches")
}

#[test]
fn run_wide_caps_give_the_same_bytes_for_any_thread_count() {
    assert!(root().join("testdata").is_dir());
    let inputs = inputs();
    for &(cap, values) in RUN_WIDE_CAPS {
        let mut outputs = Vec::new();
        for &value in values {
            let reference = run(cap, value, 1, &inputs);
            for threads in [1, 2, 4, 2, 4, 2] {
                let again = run(cap, value, threads, &inputs);
                assert!(
                    again.0 == reference.0,
                    "{cap} {value}: spans with -j {threads} differ from -j 1"
                );
                assert_eq!(
                    again.1, reference.1,
                    "{cap} {value}: summary with -j {threads} differs from -j 1"
                );
            }
            outputs.push((value, capped(&reference.1), reference.0));
        }
        // The sweep really bites: the smallest values cap batches and change the
        // spans, the largest changes nothing, and a part-way value differs from both.
        let (_, capped_none, unlimited) = outputs.last().unwrap();
        assert_eq!(*capped_none, 0, "{cap}: the largest value must not bite");
        let (_, capped_zero, nothing) = &outputs[0];
        assert!(*capped_zero > 0, "{cap} 0 must cap batches");
        assert!(nothing != unlimited, "{cap} 0 must change the spans");
        let partway = outputs[1..outputs.len() - 1]
            .iter()
            .filter(|(_, c, spans)| *c > 0 && spans != nothing && spans != unlimited)
            .count();
        assert!(partway > 0, "{cap}: no value bit part-way");
    }
}
