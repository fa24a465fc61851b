//! The kapture binary from the outside: flags, exit statuses, messages, stdin, output
//! files and several inputs.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn help_explains_usage_and_exit_statuses() {
    let short = kapture(["-h"]);
    assert_eq!(short.status.code(), Some(0));
    let text = String::from_utf8_lossy(&short.stdout);
    assert!(
        text.contains("Usage: kapture [OPTIONS] [CAPTURE]..."),
        "{text}"
    );
    assert!(text.contains("--api <LIST>"));
    let long = kapture(["--help"]);
    let text = String::from_utf8_lossy(&long.stdout);
    assert!(
        text.contains("Examples:") && text.contains("Exit status"),
        "{text}"
    );
    assert_eq!(kapture(["--version"]).status.code(), Some(0));
}

#[test]
fn bad_arguments_exit_2_with_a_reason() {
    for (args, needle) in [
        (
            vec!["--api", "produce,nosuch", "x.pcap"],
            "unknown Kafka API 'nosuch'",
        ),
        (vec!["--port", "0", "x.pcap"], "'0' is not a TCP port"),
        (vec!["--port", "http", "x.pcap"], "'http' is not a TCP port"),
        (vec!["-j", "0", "x.pcap"], "--threads must be at least 1"),
        (vec!["-", "-"], "standard input"),
        (vec![], "CAPTURE"),
    ] {
        let out = kapture(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn api_accepts_names_numbers_and_all() {
    let count = |api: &str| {
        let out = kapture(["-q", "--api", api, "testdata/basic-kafka-python.pcap"]);
        assert!(out.status.success(), "{api}: {out:?}");
        parse_spans(&out.stdout).len()
    };
    assert_eq!(count("produce"), 4);
    assert_eq!(count("0"), 4);
    assert_eq!(count("Produce,1"), 5);
    assert_eq!(count("api_versions"), 4);
    assert_eq!(count("all"), 13);
}

#[test]
fn summary_counts_found_emitted_and_filtered() {
    let out = kapture(["testdata/basic-kafka-python.pcap"]);
    assert_eq!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(err.contains("60 packets in 1 file(s)"), "{err}");
    assert!(err.contains("4 TCP connections, 4 Kafka"), "{err}");
    assert!(
        err.contains("13 found, 5 emitted as spans, 8 filtered out"),
        "{err}"
    );
    assert!(
        kapture(["-q", "testdata/basic-kafka-python.pcap"])
            .stderr
            .is_empty()
    );
}

#[test]
fn reads_standard_input() {
    let bytes = std::fs::read(testdata("nano.pcap")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kapture"))
        .args(["-q", "--api", "all", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let from_file = kapture(["-q", "--api", "all", "testdata/nano.pcap"]);
    assert_eq!(out.stdout, from_file.stdout);
}

#[test]
fn writes_to_an_output_file() {
    let path = std::env::temp_dir().join(format!("kapture-cli-{}.jsonl", std::process::id()));
    let out = kapture(["-q", "-o", path.to_str().unwrap(), "testdata/nano.pcap"]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    let written = std::fs::read(&path).unwrap();
    assert_eq!(parse_spans(&written).len(), 2);
    std::fs::remove_file(&path).unwrap();
    let bad = kapture(["-q", "-o", "/nonexistent-dir/x.jsonl", "testdata/nano.pcap"]);
    assert_eq!(bad.status.code(), Some(3));
    assert!(stderr(&bad).contains("/nonexistent-dir/x.jsonl"));
}

#[test]
fn several_inputs_give_distinct_ids() {
    let one = parse_spans(&kapture(["-q", "testdata/nano.pcap"]).stdout);
    let twice = parse_spans(&kapture(["-q", "testdata/nano.pcap", "testdata/nano.pcap"]).stdout);
    assert_eq!(twice.len(), 2 * one.len());
    let ids: std::collections::HashSet<_> = twice.iter().map(|s| s.span_id.clone()).collect();
    assert_eq!(
        ids.len(),
        twice.len(),
        "the same exchange in two inputs gets two ids"
    );
}

#[test]
fn explicit_ports_exclude_other_ports() {
    let out = kapture(["--port", "9093", "testdata/basic-kafka-python.pcap"]);
    assert!(parse_spans(&out.stdout).is_empty());
    assert!(stderr(&out).contains("0 Kafka"), "{}", stderr(&out));
    let out = kapture(["-q", "--port", "9092", "testdata/basic-kafka-python.pcap"]);
    assert_eq!(parse_spans(&out.stdout).len(), 5);
}

#[test]
fn generates_a_man_page_and_completions() {
    let man = kapture(["--generate", "man"]);
    assert_eq!(man.status.code(), Some(0));
    let text = String::from_utf8_lossy(&man.stdout);
    assert!(
        text.contains(".TH kapture 1") && text.contains("otlp\\-endpoint"),
        "{text}"
    );
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = kapture(["--generate", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("max-in-flight"),
            "{shell}"
        );
    }
    let mixed = kapture(["--generate", "bash", "testdata/nano.pcap"]);
    assert_eq!(mixed.status.code(), Some(2));
}

#[test]
fn no_progress_bar_when_stderr_is_not_a_terminal() {
    // The tests' stderr is a pipe: nothing but the summary may appear.
    let out = kapture(["testdata/large-records.pcap", "-o", "/dev/null"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("kapture: "), "{err}");
    assert!(!err.contains('\r') && !err.contains('\u{1b}'), "{err:?}");
}
