//! `kapture summary-merge` on real captures: the merged summaries of separate runs
//! equal the summary of one run over the same captures (counts exactly, percentiles
//! within the histograms' precision), merging is associative, a merged summary merges
//! again, the text form is a run's, and bad inputs are errors naming the file.

mod common;

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use common::*;

/// Captures with several APIs, brokers, clients, errors and loss.
const CAPTURES: &[&str] = &[
    "testdata/basic-kafka-python.pcap",
    "testdata/group-confluent.pcap",
    "testdata/produce-error.pcap",
    "testdata/netem.pcap",
];

fn scratch(name: &str) -> PathBuf {
    let dir = root().join("target/summary-merge-test").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes the JSON summary of one run over `captures` to `to`.
fn summarise(captures: &[&str], to: &Path) {
    let mut args: Vec<String> = ["--api", "all", "--no-spans", "--summary", "json"]
        .map(String::from)
        .into();
    args.push("--summary-file".into());
    args.push(to.display().to_string());
    args.extend(captures.iter().map(|c| c.to_string()));
    let out = kapture(&args);
    assert!(
        out.status.code().unwrap_or(99) <= 1,
        "{captures:?}: {out:?}"
    );
}

fn merge(inputs: &[&Path], format: &str) -> Vec<u8> {
    let mut args = vec![
        "summary-merge".to_string(),
        "--summary".into(),
        format.into(),
    ];
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    let out = kapture(&args);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    out.stdout
}

fn json(bytes: &[u8]) -> Json {
    serde_json::from_slice(bytes).expect("JSON")
}

const PERCENTILES: &[&str] = &["rtt_ns", "p50_ns", "p90_ns", "p99_ns", "p50", "p90", "p99"];

/// Compares a merged summary with one run's: equal everywhere, except that
/// percentiles may be the histogram's (at most 1/128 above the exact value, never
/// below it), histograms' encodings are not compared (their counts, bounds and sums
/// are), and a slowest exchange's input number is that of its own run.
fn assert_matches(merged: &Json, one: &Json, path: &str, checked: &mut u64) {
    match (merged, one) {
        (Json::Object(m), Json::Object(o)) => {
            let keys = |x: &serde_json::Map<String, Json>| x.keys().cloned().collect::<Vec<_>>();
            assert_eq!(keys(m), keys(o), "{path}");
            for (k, v) in m {
                if k == "hdr" || (k == "file" && path.contains("slowest")) {
                    continue;
                }
                let here = format!("{path}.{k}");
                if PERCENTILES.contains(&k.as_str()) {
                    let (got, exact) = (v.as_i64().unwrap(), o[k].as_i64().unwrap());
                    assert!(
                        got >= exact && got - exact <= exact.abs() / 128 + 1,
                        "{here}: merged {got}, one run {exact}"
                    );
                    *checked += 1;
                } else {
                    assert_matches(v, &o[k], &here, checked);
                }
            }
        }
        (Json::Array(m), Json::Array(o)) => {
            assert_eq!(m.len(), o.len(), "{path}: lengths");
            for (i, (a, b)) in m.iter().zip(o).enumerate() {
                assert_matches(a, b, &format!("{path}[{i}]"), checked);
            }
        }
        (m, o) => assert_eq!(m, o, "{path}"),
    }
}

#[test]
fn merged_pieces_equal_one_run() {
    let dir = scratch("pieces");
    let pieces: Vec<PathBuf> = CAPTURES
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let p = dir.join(format!("piece{i}.json"));
            summarise(&[c], &p);
            p
        })
        .collect();
    let whole = dir.join("whole.json");
    summarise(CAPTURES, &whole);
    let refs: Vec<&Path> = pieces.iter().map(PathBuf::as_path).collect();
    let merged = json(&merge(&refs, "json"));
    let one = json(&std::fs::read(&whole).unwrap());
    let mut checked = 0;
    assert_matches(&merged, &one, "", &mut checked);
    assert!(checked > 500, "only {checked} percentiles compared");
    assert!(merged["latency"].as_array().unwrap().len() > 10);
    assert!(merged["profile"]["rows"].as_array().unwrap().len() > 10);
    assert_eq!(merged["files"], 4);

    // A merged summary merges again, and the order of merging does not matter.
    let (a, b) = (dir.join("ab.json"), dir.join("cd.json"));
    std::fs::write(&a, merge(&refs[..2], "json")).unwrap();
    std::fs::write(&b, merge(&refs[2..], "json")).unwrap();
    let bc = dir.join("bcd.json");
    std::fs::write(&bc, merge(&refs[1..], "json")).unwrap();
    let left = merge(&[&a, &b], "json");
    let right = merge(&[refs[0], &bc], "json");
    assert_eq!(left, right, "(ab)(cd) and a(bcd) differ");
    assert_eq!(json(&left), merged);

    // The text form is a run's: same lines, the table's numbers from the merge.
    let text = String::from_utf8(merge(&refs, "text")).unwrap();
    let out = kapture(
        ["--api", "all", "--no-spans"]
            .iter()
            .map(|s| s.to_string())
            .chain(CAPTURES.iter().map(|s| s.to_string())),
    );
    let run = String::from_utf8(out.stderr).unwrap();
    let first = |t: &str| t.lines().take(2).collect::<Vec<_>>().join("\n");
    assert_eq!(first(&text), first(&run));
    assert_eq!(
        text.lines().count(),
        run.lines().count(),
        "{text}\n---\n{run}"
    );
}

#[test]
fn a_single_summary_merges_to_itself_within_precision() {
    let dir = scratch("single");
    let one = dir.join("one.json");
    summarise(&["testdata/netem.pcap"], &one);
    let merged = json(&merge(&[&one], "json"));
    let mut checked = 0;
    assert_matches(
        &merged,
        &json(&std::fs::read(&one).unwrap()),
        "",
        &mut checked,
    );
    assert!(checked > 0);
}

#[test]
fn bad_inputs_are_errors_naming_the_file() {
    let dir = scratch("bad");
    let good = dir.join("good.json");
    summarise(&["testdata/netem.pcap"], &good);
    let text = std::fs::read_to_string(&good).unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        ("not-json.json", "{ not json".into(), "not a JSON summary"),
        (
            "other-version.json",
            text.replace("\"summary_version\": 1", "\"summary_version\": 99"),
            "summary version 99",
        ),
        (
            "old.json",
            text.replace("\"summary_version\": 1,", ""),
            "no summary_version",
        ),
        (
            "spans.jsonl",
            "{\"resourceSpans\":[]}".into(),
            "a spans file",
        ),
        (
            "bad-histogram.json",
            text.replacen("\"hdr\": \"HIST", "\"hdr\": \"!!", 1),
            "not base64",
        ),
        (
            "wrong-count.json",
            text.replacen("\"count\": 30,", "\"count\": 31,", 1),
            "count",
        ),
    ];
    for (name, content, expect) in &cases {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        let out = kapture([
            "summary-merge".to_string(),
            good.display().to_string(),
            path.display().to_string(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(
            err.contains(&path.display().to_string()) && err.contains(expect),
            "{name}: {err}"
        );
        assert!(out.stdout.is_empty(), "{name}");
    }
    let missing = dir.join("missing.json");
    let out = kapture(["summary-merge", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.json: cannot read"));
}
