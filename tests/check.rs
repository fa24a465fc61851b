//! `kapture check` on real captures: rules whose expected values come from tshark's
//! decode of the same capture (the `.tshark.tsv` beside it), so a rule that passes
//! and one that fails are both known without trusting kapture.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{kapture, parse_tsv, testdata};

/// Requests tshark decoded: (API key, version, acks when set).
fn tshark_requests(capture: &str) -> Vec<(i16, i16, Option<i16>)> {
    let text = std::fs::read_to_string(testdata(&format!("{capture}.tshark.tsv"))).unwrap();
    let tsv = parse_tsv(&text);
    let c = |n: &str| tsv.col[n];
    tsv.rows
        .iter()
        .filter(|r| r[c("tcp.dstport")] == "9092" && !r[c("kafka.api_version")].is_empty())
        .map(|r| {
            (
                r[c("kafka.api_key")].parse().unwrap(),
                r[c("kafka.api_version")].parse().unwrap(),
                r[c("kafka.required_acks")].parse().ok(),
            )
        })
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn rules_pass_and_fail_with_the_measured_value() {
    let reqs = tshark_requests("workload-confluent");
    let produce: Vec<_> = reqs.iter().filter(|r| r.0 == 0).collect();
    let n = produce.len();
    assert!(n > 0);
    let min_version = produce.iter().map(|r| r.1).min().unwrap();
    let acks: BTreeSet<i16> = produce.iter().filter_map(|r| r.2).collect();
    assert_eq!(acks.len(), 1, "one acks setting in this capture");
    let acks = *acks.first().unwrap();
    let metadata = reqs.iter().filter(|r| r.0 == 3).count();
    let dir = tempfile::tempdir().unwrap();
    let rules = write(
        dir.path(),
        "rules.toml",
        &format!(
            "[select]\nclient_id = \"kapture-*\"\n\n\
             [[rule]]\nexpect = \"count(Produce) == {n}\"\n\n\
             [[rule]]\nexpect = \"api_version(Produce) >= {min_version}\"\n\n\
             [[rule]]\nexpect = \"produce.acks == {acks}\"\n\n\
             [[rule]]\nname = \"fewer Metadata\"\nexpect = \"count(Metadata) < {metadata}\"\n"
        ),
    );
    let junit = dir.path().join("junit.xml");
    let out = kapture([
        "check",
        "testdata/workload-confluent.pcap",
        "--rules",
        &rules,
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("measured")).collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].trim_start().starts_with("PASS"), "{text}");
    assert!(lines[0].contains(&format!("measured {n} ")), "{text}");
    assert!(lines[1].trim_start().starts_with("PASS"), "{text}");
    assert!(lines[2].trim_start().starts_with("PASS"), "{text}");
    assert!(lines[2].contains(&format!("[{acks} ×{n}]")), "{text}");
    // The failing rule shows what was measured: tshark's Metadata count.
    assert!(lines[3].trim_start().starts_with("FAIL"), "{text}");
    assert!(
        lines[3].contains(&format!("measured {metadata} ")),
        "{text}"
    );
    assert!(lines[3].contains("rules.toml:15"), "{text}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"4\" failures=\"1\""), "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 1, "{xml}");
    assert!(xml.contains("name=\"fewer Metadata\""), "{xml}");
}

#[test]
fn error_rules_count_what_tshark_sees() {
    // produce-error.pcap: the broker refused one record with error 87.
    let text = std::fs::read_to_string(testdata("produce-error.tshark.tsv")).unwrap();
    let tsv = parse_tsv(&text);
    let refused = tsv
        .rows
        .iter()
        .filter(|r| r[tsv.col["kafka.error"]].split(',').any(|e| e == "87"))
        .count();
    assert_eq!(refused, 1);
    let dir = tempfile::tempdir().unwrap();
    let rules = write(
        dir.path(),
        "errors.toml",
        &format!(
            "[[rule]]\nexpect = \"errors.INVALID_RECORD == {refused}\"\n\n\
             [[rule]]\napi = \"produce\"\nexpect = \"errors == 0\"\n"
        ),
    );
    let out = kapture(["check", "testdata/produce-error.pcap", "--rules", &rules]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("PASS  errors.INVALID_RECORD == 1"), "{text}");
    assert!(
        text.contains("FAIL  errors == 0: measured 1 (INVALID_RECORD ×1)"),
        "{text}"
    );
}

#[test]
fn a_bad_rule_file_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        // An unknown metric on line 5.
        (
            "[[rule]]\nexpect = \"count(Produce) > 0\"\n\n[[rule]]\nexpect = \"produce.ack == -1\"\n",
            ":5:",
            "unknown metric",
        ),
        // A latency compared with a plain number, line 2.
        (
            "[[rule]]\nexpect = \"fetch.p99 < 100\"\n",
            ":2:",
            "duration",
        ),
        // Not TOML at all: the parser's line.
        (
            "[[rule]]\nexpect = \"errors == 0\"\nexpect = = 3\n",
            "line 3",
            "",
        ),
        // An unknown key.
        ("[[rule]]\nexpct = \"errors == 0\"\n", "line 2", "expct"),
    ];
    for (i, (rules, line, what)) in cases.iter().enumerate() {
        let path = write(dir.path(), &format!("bad{i}.toml"), rules);
        let out = kapture(["check", "testdata/acks0.pcap", "--rules", &path]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{rules}: {err}");
        assert!(err.contains("bad rule file"), "{err}");
        assert!(err.contains(line), "{rules}: {err}");
        assert!(err.contains(what), "{rules}: {err}");
        assert!(out.stdout.is_empty(), "no rule was run");
    }
}

#[test]
fn the_ci_example_runs_end_to_end() {
    // What contrib/ci runs: rules and a baseline kept in the repository.
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("check.xml");
    let out = kapture([
        "check",
        "testdata/workload-confluent.pcap",
        "--rules",
        "testdata/rules/workload.toml",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("failures=\"0\""), "{xml}");
    let out = kapture([
        "diff",
        "testdata/baselines/workload-confluent.summary.json",
        "testdata/workload-confluent.pcap",
        "--latency-tolerance",
        "20%",
        "--latency-floor",
        "1ms",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\nIf kapture now reads more of this capture, write the baseline again: \
         kapture --api all --no-spans -q --summary json --summary-file \
         testdata/baselines/workload-confluent.summary.json testdata/workload-confluent.pcap"
    );
    assert!(text.contains("no change"), "{text}");
    // The baseline is a summary of that capture: its Produce count is tshark's.
    let base: serde_json::Value = serde_json::from_slice(
        &std::fs::read(testdata("baselines/workload-confluent.summary.json")).unwrap(),
    )
    .unwrap();
    let produce = base["profile"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["client_id"] == "kapture-workload" && r["api"] == "Produce")
        .unwrap();
    let tshark = tshark_requests("workload-confluent")
        .iter()
        .filter(|r| r.0 == 0)
        .count();
    assert_eq!(produce["count"], tshark);
    // The same rules on the other library's capture fail on the Produce version.
    let out = kapture([
        "check",
        "testdata/workload-kafka-python.pcap",
        "--rules",
        "testdata/rules/workload.toml",
        "-q",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let v9 = tshark_requests("workload-kafka-python")
        .iter()
        .filter(|r| r.0 == 0)
        .all(|r| r.1 == 9);
    assert!(v9);
    assert!(text.contains("FAIL  Produce v10 or later"), "{text}");
    assert!(text.contains("measured [9 ×"), "{text}");
}

#[test]
fn a_saved_summary_answers_per_client_rules_only() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(
        dir.path(),
        "topic.toml",
        "[[rule]]\nexpect = \"count(Produce) > 0\"\n\n[[rule]]\ntopic = \"workload\"\nexpect = \"count(Produce) > 0\"\n",
    );
    let summary = "testdata/baselines/workload-confluent.summary.json";
    let out = kapture(["check", summary, "--rules", &rules]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("PASS  count(Produce) > 0"), "{text}");
    assert!(
        text.contains("ERROR count(Produce) > 0: a saved summary"),
        "{text}"
    );
    // The capture itself answers both.
    let out = kapture([
        "check",
        "testdata/workload-confluent.pcap",
        "--rules",
        &rules,
    ]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_capture_named_check_is_read_as_dot_slash_check() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(testdata("acks0.pcap"), dir.path().join("check")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kapture"))
        .current_dir(dir.path())
        .args(["--api", "all", "-q", "./check"])
        .output()
        .unwrap();
    let spans = common::parse_spans(&out.stdout);
    let tshark = tshark_requests("acks0").len();
    assert_eq!(spans.len(), tshark, "every request of acks0 is a span");
    // Without './', 'check' is the subcommand, which wants --rules.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kapture"))
        .current_dir(dir.path())
        .args(["check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rules"));
}
