//! The summary and its latency table on real captures: snapshots of the JSON and text
//! forms (`tests/snapshots/`, rewritten with `KAPTURE_BLESS=1`), the table checked
//! against the spans of the same run, and where `--summary`, `--summary-file`,
//! `--no-spans` and `-q` send what.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value as Json;

use common::*;

/// Snapshot cases: a name and kapture's arguments.
const CASES: &[(&str, &[&str])] = &[
    (
        "basic-all",
        &["--api", "all", "testdata/basic-kafka-python.pcap"],
    ),
    (
        "group-confluent-all",
        &["--api", "all", "testdata/group-confluent.pcap"],
    ),
    (
        "produce-error-all",
        &["--api", "all", "testdata/produce-error.pcap"],
    ),
    (
        "group-confluent-orders",
        &["--topic", "orders", "testdata/group-confluent.pcap"],
    ),
    ("ipv6", &["testdata/ipv6.pcap"]),
    // The client side of a 5 ms link: write, wait and read all non-zero.
    ("netem", &["testdata/netem.pcap"]),
];

fn snapshot_dir() -> PathBuf {
    root().join("tests/snapshots")
}

fn with(args: &[&str], extra: &[&str]) -> Vec<String> {
    extra.iter().chain(args).map(|s| s.to_string()).collect()
}

fn json_summary(args: &[&str]) -> Json {
    let out = kapture(with(args, &["--no-spans", "--summary", "json"]));
    assert!(out.status.code().unwrap_or(99) <= 1, "{args:?}: {out:?}");
    assert!(out.stderr.is_empty(), "{args:?}: {out:?}");
    serde_json::from_slice(&out.stdout).expect("the summary is JSON")
}

#[test]
fn snapshots() {
    let bless = std::env::var_os("KAPTURE_BLESS").is_some();
    let mut failures = Vec::new();
    for (name, args) in CASES {
        let json = kapture(with(args, &["--no-spans", "--summary", "json"]));
        let text = kapture(with(args, &[]));
        for (out, what) in [(&json, "json"), (&text, "text")] {
            assert!(
                out.status.code().unwrap_or(99) <= 1,
                "{name} {what}: {out:?}"
            );
        }
        for (actual, ext) in [(&json.stdout, "json"), (&text.stderr, "txt")] {
            let path = snapshot_dir().join(format!("{name}.{ext}"));
            if bless {
                std::fs::create_dir_all(snapshot_dir()).unwrap();
                std::fs::write(&path, actual).unwrap();
                continue;
            }
            let expected = std::fs::read(&path).unwrap_or_default();
            if &expected != actual {
                let written = root().join(format!("target/snapshot-{name}.{ext}"));
                std::fs::write(&written, actual).unwrap();
                failures.push(format!(
                    "{name}: differs from {} (actual in {})",
                    path.display(),
                    written.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What the table should hold for one row, computed from spans.
#[derive(Debug, Default)]
struct Expected {
    count: u64,
    errors: u64,
    total: Vec<i64>,
    write: Vec<i64>,
    wait: Vec<i64>,
    read: Vec<i64>,
}

/// Nearest rank, written independently of kapture's: the smallest value with at least
/// p% of the values at or below it.
fn percentile(values: &[i64], p: usize) -> i64 {
    let mut v = values.to_vec();
    v.sort();
    for (i, x) in v.iter().enumerate() {
        if (i + 1) * 100 >= p * v.len() {
            return *x;
        }
    }
    unreachable!()
}

fn check_phase(row: &Json, phase: &str, values: &[i64], what: &str) {
    let p = &row[phase];
    if values.is_empty() {
        assert!(p.is_null(), "{what} {phase}: {p}");
        return;
    }
    assert_eq!(p["count"], values.len() as u64, "{what} {phase}");
    for (key, pct) in [
        ("p50_ns", 50),
        ("p90_ns", 90),
        ("p99_ns", 99),
        ("max_ns", 100),
    ] {
        assert_eq!(p[key], percentile(values, pct), "{what} {phase} {key}");
    }
}

/// The table equals what the spans of the same run say, row for row.
fn check_table_against_spans(args: &[&str]) -> Json {
    let out = kapture(args);
    assert!(out.status.code().unwrap_or(99) <= 1, "{args:?}: {out:?}");
    let spans = parse_spans(&out.stdout);
    let summary = json_summary(args);
    let mut expected: BTreeMap<(String, String, Option<String>), Expected> = BTreeMap::new();
    for s in &spans {
        let api = str_attr(s, "kapture.api_name").unwrap();
        let ip = str_attr(s, "server.address").unwrap();
        let port = int_attr(s, "server.port").unwrap();
        let broker = if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        };
        let long_poll = attrs(s).contains_key("kapture.fetch.long_poll");
        let mut rows = vec![long_poll.then(|| "(long poll)".to_string())];
        if !long_poll && (api == "Produce" || api == "Fetch") {
            let t = topics(s);
            rows.push(Some(match t.len() {
                0 => "(none)".to_string(),
                1 => t[0].clone(),
                _ => "(several)".to_string(),
            }));
        }
        for topic in rows {
            let e = expected
                .entry((api.clone(), broker.clone(), topic))
                .or_default();
            e.count += 1;
            e.errors += u64::from(str_attr(s, "error.type").is_some());
            e.total
                .push(s.end_time_unix_nano as i64 - s.start_time_unix_nano as i64);
            e.write.push(int_attr(s, "kapture.write_ns").unwrap());
            e.wait.extend(int_attr(s, "kapture.wait_ns"));
            e.read.extend(int_attr(s, "kapture.read_ns"));
        }
    }
    let rows = summary["latency"].as_array().unwrap();
    assert_eq!(rows.len(), expected.len(), "{args:?}: {rows:?}");
    for row in rows {
        let key = (
            row["api"].as_str().unwrap().to_string(),
            row["broker"].as_str().unwrap().to_string(),
            row["topic"].as_str().map(String::from),
        );
        let e = expected
            .get(&key)
            .unwrap_or_else(|| panic!("{args:?}: unexpected row {key:?}"));
        let what = format!("{args:?} {key:?}");
        assert_eq!(row["count"], e.count, "{what}");
        assert_eq!(row["errors"], e.errors, "{what}");
        check_phase(row, "total", &e.total, &what);
        check_phase(row, "write", &e.write, &what);
        check_phase(row, "wait", &e.wait, &what);
        check_phase(row, "read", &e.read, &what);
        for phase in ["total", "write", "wait", "read"] {
            let p = &row[phase];
            if !p.is_null() {
                let v: Vec<i64> = ["p50_ns", "p90_ns", "p99_ns", "max_ns"]
                    .iter()
                    .map(|k| p[k].as_i64().unwrap())
                    .collect();
                assert!(v.windows(2).all(|w| w[0] <= w[1]), "{what} {phase}: {v:?}");
            }
        }
    }
    summary
}

#[test]
fn the_table_matches_the_spans_and_adds_up_to_emitted() {
    for (_, args) in CASES {
        let summary = check_table_against_spans(args);
        let rows = summary["latency"].as_array().unwrap();
        let emitted = summary["exchanges"]["emitted"].as_u64().unwrap();
        // Every exchange is in its API's row, or (a long-poll Fetch) in the API's
        // long-poll row, which no topic row repeats.
        let long_poll = |r: &&Json| r["topic"] == "(long poll)";
        let all_rows: u64 = rows
            .iter()
            .filter(|r| r["topic"].is_null() || long_poll(r))
            .map(|r| r["count"].as_u64().unwrap())
            .sum();
        assert_eq!(all_rows, emitted, "{args:?}");
        // Produce and Fetch: the per-topic rows split their API's row.
        for agg in rows.iter().filter(|r| r["topic"].is_null()) {
            let parts: Vec<&Json> = rows
                .iter()
                .filter(|r| {
                    !r["topic"].is_null()
                        && !long_poll(r)
                        && r["api"] == agg["api"]
                        && r["broker"] == agg["broker"]
                })
                .collect();
            let api = agg["api"].as_str().unwrap();
            if api == "Produce" || api == "Fetch" {
                let sum = |k: &str| parts.iter().map(|r| r[k].as_u64().unwrap()).sum::<u64>();
                assert_eq!(
                    sum("count"),
                    agg["count"].as_u64().unwrap(),
                    "{args:?} {api}"
                );
                assert_eq!(
                    sum("errors"),
                    agg["errors"].as_u64().unwrap(),
                    "{args:?} {api}"
                );
            } else {
                assert!(parts.is_empty(), "{args:?} {api}");
            }
        }
        let found = summary["exchanges"]["found"].as_u64().unwrap();
        let filtered = summary["exchanges"]["filtered_out"].as_u64().unwrap();
        assert_eq!(found, emitted + filtered, "{args:?}");
        assert_eq!(summary["spans"], 0, "--no-spans builds none");
    }
}

#[test]
fn counts_per_api_equal_the_spans_of_api_all() {
    let summary = json_summary(&["--api", "all", "testdata/produce-error.pcap"]);
    let out = kapture(["-q", "--api", "all", "testdata/produce-error.pcap"]);
    let mut per_api: BTreeMap<String, u64> = BTreeMap::new();
    for s in parse_spans(&out.stdout) {
        *per_api
            .entry(str_attr(&s, "kapture.api_name").unwrap())
            .or_default() += 1;
    }
    // Each exchange counts in its API's row, or in the API's long-poll row.
    let mut table: BTreeMap<String, u64> = BTreeMap::new();
    for r in summary["latency"].as_array().unwrap() {
        if r["topic"].is_null() || r["topic"] == "(long poll)" {
            *table
                .entry(r["api"].as_str().unwrap().to_string())
                .or_default() += r["count"].as_u64().unwrap();
        }
    }
    assert_eq!(table, per_api);
    // tshark's counts (testdata/README.md): ApiVersions 6, Metadata 5, Produce 2,
    // ListOffsets 1, Fetch 3, key 71 3.
    let expected: BTreeMap<String, u64> = [
        ("ApiVersions", 6),
        ("Metadata", 5),
        ("Produce", 2),
        ("ListOffsets", 1),
        ("Fetch", 3),
        ("GetTelemetrySubscriptions", 3),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(table, expected);
    let produce: Vec<&Json> = summary["latency"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["api"] == "Produce")
        .collect();
    assert_eq!(produce.len(), 2, "the API row and the `checked` topic row");
    assert_eq!(produce[0]["topic"], Json::Null);
    assert_eq!(produce[1]["topic"], "checked");
    for r in produce {
        assert_eq!(
            (r["count"].as_u64(), r["errors"].as_u64()),
            (Some(2), Some(1))
        );
    }
    assert_eq!(summary["exchanges"]["kafka_errors"], 1);
    let other_errors: u64 = summary["latency"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["api"] != "Produce")
        .map(|r| r["errors"].as_u64().unwrap())
        .sum();
    assert_eq!(other_errors, 0);
}

#[test]
fn json_has_every_counter_in_a_stable_order() {
    let out = kapture([
        "--no-spans",
        "--summary",
        "json",
        "testdata/basic-kafka-python.pcap",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    let keys = [
        "\"files\"",
        "\"capture_bytes\"",
        "\"packets\"",
        "\"tcp_packets\"",
        "\"connections\"",
        "\"exchanges\"",
        "\"found\"",
        "\"emitted\"",
        "\"filtered_out\"",
        "\"spans\"",
        "\"skipped\"",
        "\"unpaired_responses\"",
        "\"gaps\"",
        "\"decode_errors\"",
        "\"warnings\"",
        "\"latency\"",
    ];
    let mut at = 0;
    for k in keys {
        let found = text[at..]
            .find(k)
            .unwrap_or_else(|| panic!("{k} missing or out of order"));
        at += found;
    }
    let j: Json = serde_json::from_str(&text).unwrap();
    assert_eq!(j["packets"], 60);
    assert_eq!(j["connections"]["tcp"], 4);
    assert_eq!(j["exchanges"]["found"], 13);
    assert_eq!(j["exchanges"]["emitted"], 5);
    assert_eq!(j["exchanges"]["filtered_out"], 8);
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn temp(name: &str) -> PathBuf {
    let dir = root().join("target/summary-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

const CAP: &str = "testdata/basic-kafka-python.pcap";

#[test]
fn text_goes_to_stderr_after_the_counters() {
    let out = kapture([CAP]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(parse_spans(&out.stdout).len(), 5);
    let err = stderr(&out);
    let counters = err
        .find("13 found, 5 emitted as spans, 8 filtered out")
        .unwrap();
    let table = err.find("latency of the 5 exchanges").unwrap();
    assert!(counters < table, "{err}");
    assert!(err.contains("API"), "{err}");
    assert!(err.contains("Produce  127.0.0.1:9092"), "{err}");
    assert!(err.contains("  basic  "), "{err}");
}

#[test]
fn json_goes_to_stdout_only_when_spans_do_not() {
    // Spans on stdout: JSON on stderr.
    let out = kapture(["--summary", "json", CAP]);
    assert_eq!(parse_spans(&out.stdout).len(), 5);
    let j: Json = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(j["exchanges"]["emitted"], 5);
    assert_eq!(j["spans"], 5);
    // Spans in a file: JSON on stdout.
    let spans = temp("spans.jsonl");
    let out = kapture(["--summary", "json", "-o", spans.to_str().unwrap(), CAP]);
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    let j: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["spans"], 5);
    assert_eq!(parse_spans(&std::fs::read(&spans).unwrap()).len(), 5);
    // `-o -` is stdout: JSON on stderr.
    let out = kapture(["--summary", "json", "-o", "-", CAP]);
    assert_eq!(parse_spans(&out.stdout).len(), 5);
    assert!(serde_json::from_slice::<Json>(&out.stderr).is_ok());
    // --no-spans: nothing but the JSON on stdout.
    let out = kapture(["--no-spans", "--summary", "json", CAP]);
    assert!(out.stderr.is_empty());
    let j: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (j["exchanges"]["emitted"].as_u64(), j["spans"].as_u64()),
        (Some(5), Some(0))
    );
    std::fs::remove_file(&spans).unwrap();
}

#[test]
fn summary_file_takes_either_format() {
    let file = temp("summary.json");
    let out = kapture([
        "--summary",
        "json",
        "--summary-file",
        file.to_str().unwrap(),
        CAP,
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    assert_eq!(parse_spans(&out.stdout).len(), 5);
    let j: Json = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(j["exchanges"]["found"], 13);
    let out = kapture(["--summary-file", file.to_str().unwrap(), "--no-spans", CAP]);
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("13 found, 5 passed the filters (no spans written), 8 filtered out"),
        "{text}"
    );
    assert!(text.contains("latency of the 5 exchanges"), "{text}");
    // -q silences stderr, not the file.
    let out = kapture([
        "-q",
        "--summary-file",
        file.to_str().unwrap(),
        "--api",
        "all",
        CAP,
    ]);
    assert!(out.stderr.is_empty());
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("13 found, 13 emitted as spans")
    );
    std::fs::remove_file(&file).unwrap();
    // A summary file that cannot be written: exit 3, after the spans.
    let out = kapture(["--summary-file", "/nonexistent-dir/summary.txt", CAP]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("/nonexistent-dir/summary.txt"),
        "{}",
        stderr(&out)
    );
}

/// (An explicit `--summary json` wins over `-q`: see tests/results.rs.)
#[test]
fn quiet_and_off_print_nothing() {
    for args in [
        vec!["-q", CAP],
        vec!["--summary", "off", CAP],
        vec!["-q", "--summary", "off", CAP],
        vec!["-q", "--no-spans", CAP],
    ] {
        let out = kapture(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(out.stderr.is_empty(), "{args:?}: {}", stderr(&out));
        if args.contains(&"--no-spans") {
            assert!(out.stdout.is_empty(), "{args:?}");
        } else {
            assert_eq!(parse_spans(&out.stdout).len(), 5, "{args:?}");
        }
    }
}

#[test]
fn no_spans_writes_no_spans_and_keeps_the_exit_status() {
    let out = kapture(["--no-spans", CAP]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("5 passed the filters (no spans written)"));
    // Losses still make it 1 (midframe starts inside a frame).
    let out = kapture(["--no-spans", "testdata/midframe.pcap"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

#[test]
fn phase_spans_count_as_spans_not_exchanges() {
    let out = kapture(["--phase-spans", "--summary", "json", CAP]);
    let spans = parse_spans(&out.stdout);
    let j: Json = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(j["exchanges"]["emitted"], 5);
    assert_eq!(j["spans"], spans.len() as u64);
    assert!(spans.len() > 5);
}

#[test]
fn bad_summary_flags_exit_2() {
    for (args, needle) in [
        (vec!["--summary", "xml", CAP], "--summary"),
        (
            vec!["--summary", "off", "--summary-file", "x.txt", CAP],
            "--summary-file",
        ),
        (vec!["--no-spans", "-o", "x.jsonl", CAP], "--no-spans"),
    ] {
        let out = kapture(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
        assert!(!root().join("x.jsonl").exists() && !root().join("x.txt").exists());
    }
}
