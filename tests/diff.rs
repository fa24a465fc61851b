//! `kapture diff` on real captures: one workload from two client libraries (what
//! changes is checked against tshark's decode of each capture), a capture against the
//! same workload re-recorded, and a capture against its own spans file and summary.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{kapture, parse_tsv, testdata};
use serde_json::Value;

/// Requests tshark decoded, by API key: their count and versions.
fn tshark_apis(capture: &str) -> BTreeMap<i16, (usize, BTreeSet<i16>)> {
    let text = std::fs::read_to_string(testdata(&format!("{capture}.tshark.tsv"))).unwrap();
    let tsv = parse_tsv(&text);
    let c = |n: &str| tsv.col[n];
    let mut out: BTreeMap<i16, (usize, BTreeSet<i16>)> = BTreeMap::new();
    for r in &tsv.rows {
        if r[c("tcp.dstport")] != "9092" || r[c("kafka.api_version")].is_empty() {
            continue;
        }
        let e = out
            .entry(r[c("kafka.api_key")].parse().unwrap())
            .or_default();
        e.0 += 1;
        e.1.insert(r[c("kafka.api_version")].parse().unwrap());
    }
    out
}

fn diff_json(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["diff", "--format", "json"];
    all.extend(args);
    let out = kapture(&all);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), v)
}

fn changes<'a>(v: &'a Value, api: &str) -> Vec<&'a Value> {
    v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["api"] == api)
        .collect()
}

fn field<'a>(v: &'a Value, api: &str, field: &str) -> Option<&'a Value> {
    changes(v, api).into_iter().find(|c| c["field"] == field)
}

#[test]
fn two_client_libraries_of_one_workload() {
    let (old, new) = ("workload-kafka-python", "workload-confluent");
    let (code, v) = diff_json(&[
        &format!("testdata/{old}.pcap"),
        &format!("testdata/{new}.pcap"),
    ]);
    assert_eq!(code, 1);
    assert_eq!(v["same"], false);
    let (a, b) = (tshark_apis(old), tshark_apis(new));
    // Produce: the version and the request count change as tshark sees them.
    let versions = field(&v, "Produce", "api_version").expect("the Produce version changed");
    let set = |s: &BTreeSet<i16>| Value::from(s.iter().copied().collect::<Vec<_>>());
    assert_eq!(versions["old"], set(&a[&0].1));
    assert_eq!(versions["new"], set(&b[&0].1));
    assert_ne!(a[&0].0, b[&0].0, "the libraries batch differently");
    let count = field(&v, "Produce", "count").expect("the Produce count changed");
    assert_eq!(count["old"], a[&0].0);
    assert_eq!(count["new"], b[&0].0);
    // Batching: records per request.
    let records = field(&v, "Produce", "records_per_request.p50").expect("batching changed");
    assert_ne!(records["old"], records["new"]);
    // Every API count tshark sees change is reported, and no other.
    for key in a.keys().chain(b.keys()).collect::<BTreeSet<_>>() {
        let name = kapture::kafka::api::name(*key).unwrap();
        let (na, nb) = (a.get(key).map_or(0, |x| x.0), b.get(key).map_or(0, |x| x.0));
        let reported = changes(&v, name)
            .into_iter()
            .find(|c| c["field"] == "count" || c["field"] == "requests");
        match (na, nb) {
            (x, y) if x == y => assert!(reported.is_none(), "{name}: {reported:?}"),
            (_, 0) => assert_eq!(reported.unwrap()["change"], "removed", "{name}"),
            (0, _) => assert_eq!(reported.unwrap()["change"], "added", "{name}"),
            _ => assert_eq!(reported.unwrap()["old"], na, "{name}"),
        }
    }
    // kafka-python with acks=all is idempotent (InitProducerId), librdkafka's default
    // producer is not.
    assert!(a.contains_key(&22) && !b.contains_key(&22));
    assert_eq!(
        field(&v, "InitProducerId", "requests").unwrap()["change"],
        "removed"
    );
    assert!(field(&v, "Produce", "idempotent").is_some());
    // The text form says the same.
    let out = kapture([
        "diff",
        &format!("testdata/{old}.pcap"),
        &format!("testdata/{new}.pcap"),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("kapture-workload Produce: api_version [9] → [10]"),
        "{text}"
    );
}

#[test]
fn a_capture_and_its_rerecording_differ_only_within_the_tolerance() {
    let (old, new) = ("group-confluent", "group-confluent-rerecorded");
    let (a, b) = (tshark_apis(old), tshark_apis(new));
    let paths = [
        format!("testdata/{old}.pcap"),
        format!("testdata/{new}.pcap"),
    ];
    // Counts exact: the changes are the API counts tshark sees change, by one at most
    // (librdkafka's Metadata refreshes and coordinator look-ups vary from run to run).
    let (code, v) = diff_json(&[&paths[0], &paths[1], "--latency-floor", "5ms"]);
    let counted: Vec<&Value> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["field"] == "count")
        .collect();
    let moved: Vec<i16> = a
        .keys()
        .filter(|k| a[*k].0 != b.get(*k).map_or(0, |x| x.0))
        .copied()
        .collect();
    assert_eq!(counted.len(), moved.len(), "{v}");
    assert_eq!(code, i32::from(!moved.is_empty()));
    for c in &counted {
        let d = c["new"].as_i64().unwrap() - c["old"].as_i64().unwrap();
        assert!(d.abs() <= 1, "{c}");
    }
    assert!(
        v["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["field"] == "count"),
        "only counts moved: {v}"
    );
    // Versions are the same on both sides.
    assert!(a.iter().all(|(k, x)| b.get(k).is_none_or(|y| y.1 == x.1)));
    // Within a count tolerance of one request: no change at all.
    let (code, v) = diff_json(&[
        &paths[0],
        &paths[1],
        "--latency-floor",
        "5ms",
        "--count-tolerance",
        "1",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["same"], true);
    // With a tight latency tolerance, loopback timing noise shows.
    let (code, v) = diff_json(&[&paths[0], &paths[1], "--count-tolerance", "1"]);
    assert_eq!(code, 1);
    assert!(
        v["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["field"].as_str().unwrap().starts_with("latency.")),
        "{v}"
    );
}

#[test]
fn a_capture_equals_its_spans_file_and_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    for capture in ["group-confluent", "workload-kafka-python", "produce-error"] {
        let pcap = format!("testdata/{capture}.pcap");
        let spans = dir.path().join(format!("{capture}.jsonl"));
        let summary = dir.path().join(format!("{capture}.json"));
        let out = kapture([
            "--api",
            "all",
            "-q",
            "-o",
            spans.to_str().unwrap(),
            "--summary",
            "json",
            "--summary-file",
            summary.to_str().unwrap(),
            &pcap,
        ]);
        assert!(matches!(out.status.code(), Some(0 | 1)));
        for saved in [&spans, &summary] {
            for (a, b) in [
                (pcap.as_str(), saved.to_str().unwrap()),
                (saved.to_str().unwrap(), pcap.as_str()),
            ] {
                let (code, v) = diff_json(&[a, b, "--latency-tolerance", "0%"]);
                assert_eq!(code, 0, "{a} vs {b}: {v}");
            }
        }
    }
}

#[test]
fn a_summary_of_some_apis_is_compared_on_those() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("pf.json");
    let out = kapture([
        "--no-spans",
        "--summary",
        "json",
        "--summary-file",
        summary.to_str().unwrap(),
        "testdata/workload-kafka-python.pcap",
    ]);
    assert!(matches!(out.status.code(), Some(0 | 1)));
    let s = summary.to_str().unwrap();
    let (code, v) = diff_json(&[s, "testdata/workload-kafka-python.pcap"]);
    assert_eq!(code, 0, "{v}");
    // Against the other library: only Produce and Fetch changes.
    let (code, v) = diff_json(&[s, "testdata/workload-confluent.pcap"]);
    assert_eq!(code, 1);
    assert!(
        v["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["api"] == "Produce" || c["api"] == "Fetch"),
        "{v}"
    );
}

#[test]
fn bad_inputs_exit_2() {
    let out = kapture(["diff", "testdata/nope.pcap", "testdata/acks0.pcap"]);
    assert_eq!(out.status.code(), Some(2));
    let out = kapture([
        "diff",
        "testdata/acks0.pcap",
        "testdata/acks0.pcap",
        "--latency-tolerance",
        "fast",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--latency-tolerance"));
    let out = kapture(["diff", "testdata/acks0.pcap", "testdata/acks0.pcap"]);
    assert_eq!(out.status.code(), Some(0));
}
