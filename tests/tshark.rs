//! Cross-checks kapture against an independent decoder: for every testdata capture
//! with a stored tshark 4.4 decode (`testdata/<capture>.tshark.tsv`, made by
//! `testdata/record/tshark.sh`), the request/response exchanges kapture pairs under
//! `--api all` must equal those tshark pairs, matched on client port, broker port,
//! API key, API version and correlation id. The only differences allowed are
//! tshark's known Produce v9+ blind spot (it decodes both headers, with the same
//! correlation id on the same connection, yet reports "Request missing": Produce v9+
//! with acks=1 and a null transactional id, and acks=0 requests that Tansu answers; checked
//! row by row below) and disagreements listed and explained in
//! `testdata/<capture>.tshark-known.tsv`.

mod common;

use std::collections::{BTreeMap, HashMap};

use common::*;

/// (client port, broker port, api key, api version, correlation id)
type Key = (i64, i64, i64, i64, i64);

fn column<'a>(header: &HashMap<&str, usize>, row: &[&'a str], name: &str) -> Vec<&'a str> {
    let i = header[name];
    row.get(i)
        .map(|v| v.split(',').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default()
}

/// What tshark made of a capture.
struct TsharkView {
    /// Exchanges tshark paired: every response PDU that names its request frame.
    pairs: Vec<Key>,
    /// Produce v9+ exchanges tshark decoded both headers of (same ports, same
    /// correlation id) but flagged "Request missing" on the response: its known blind
    /// spot for Produce v9+ with acks=1 and a null transactional id.
    produce_blind_spot: Vec<Key>,
}

fn tshark_view(tsv: &str) -> TsharkView {
    let parsed = parse_tsv(tsv);
    let header = &parsed.col;
    let rows = &parsed.rows;
    // Request versions by (frame, correlation id).
    let mut versions: HashMap<(i64, i64), i64> = HashMap::new();
    for row in rows {
        let frame: i64 = row[header["frame.number"]].parse().unwrap();
        let ids = column(header, row, "kafka.correlation_id");
        let vers = column(header, row, "kafka.api_version");
        for (id, v) in ids.iter().zip(vers.iter()) {
            versions.insert((frame, id.parse().unwrap()), v.parse().unwrap());
        }
    }
    // Produce requests by (client port, broker port, correlation id) -> version.
    let mut produce: HashMap<(i64, i64, i64), i64> = HashMap::new();
    for row in rows {
        let keys = column(header, row, "kafka.api_key");
        let vers = column(header, row, "kafka.api_version");
        let ids = column(header, row, "kafka.correlation_id");
        let src: i64 = row[header["tcp.srcport"]].parse().unwrap();
        let dst: i64 = row[header["tcp.dstport"]].parse().unwrap();
        for ((k, v), id) in keys.iter().zip(vers.iter()).zip(ids.iter()) {
            if *k == "0" {
                produce.insert((src, dst, id.parse().unwrap()), v.parse().unwrap());
            }
        }
    }
    let mut pairs = Vec::new();
    let mut produce_blind_spot = Vec::new();
    for row in rows {
        let req_frames = column(header, row, "kafka.request_frame");
        let client: i64 = row[header["tcp.dstport"]].parse().unwrap();
        let broker: i64 = row[header["tcp.srcport"]].parse().unwrap();
        if req_frames.is_empty() {
            let expert = row.get(header["_ws.expert.message"]).copied().unwrap_or("");
            if expert.contains("Request missing") {
                for id in column(header, row, "kafka.correlation_id") {
                    let id: i64 = id.parse().unwrap();
                    if let Some(&v) = produce.get(&(client, broker, id)).filter(|&&v| v >= 9) {
                        produce_blind_spot.push((client, broker, 0, v, id));
                    }
                }
            }
            continue;
        }
        let ids = column(header, row, "kafka.correlation_id");
        let keys = column(header, row, "kafka.api_key");
        for (j, rf) in req_frames.iter().enumerate() {
            let id: i64 = ids[j].parse().unwrap();
            let key: i64 = keys[j].parse().unwrap();
            let version = versions
                .get(&(rf.parse().unwrap(), id))
                .copied()
                .unwrap_or(-1);
            pairs.push((client, broker, key, version, id));
        }
    }
    pairs.sort();
    TsharkView {
        pairs,
        produce_blind_spot,
    }
}

/// The exchanges kapture paired, read back from its spans.
fn kapture_pairs(capture: &str) -> Vec<Key> {
    let out = kapture(["--api", "all", "-q", capture]);
    assert!(out.status.code().unwrap_or(99) <= 1, "{capture}: {out:?}");
    let mut pairs: Vec<Key> = parse_spans(&out.stdout)
        .iter()
        .filter(|s| str_attr(s, "kapture.response.state").as_deref() == Some("paired"))
        .map(|s| {
            let a = |k| int_attr(s, k).unwrap_or(-1);
            (
                a("client.port"),
                a("server.port"),
                a("kapture.api_key"),
                a("kapture.api_version"),
                a("kapture.correlation_id"),
            )
        })
        .collect();
    pairs.sort();
    pairs
}

/// Differences tshark and kapture are known to have, as `side key... reason` rows.
fn known(capture: &str) -> BTreeMap<(String, Key), String> {
    let path = testdata(&format!("{capture}.tshark-known.tsv"));
    let Ok(text) = std::fs::read_to_string(path) else {
        return BTreeMap::new();
    };
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let n = |i: usize| f[i].parse::<i64>().unwrap();
            (
                (f[0].to_string(), (n(1), n(2), n(3), n(4), n(5))),
                f[6].to_string(),
            )
        })
        .collect()
}

fn diff(a: &[Key], b: &[Key]) -> Vec<Key> {
    let mut rest: Vec<Key> = b.to_vec();
    a.iter()
        .filter(|k| match rest.iter().position(|r| r == *k) {
            Some(p) => {
                rest.remove(p);
                false
            }
            None => true,
        })
        .copied()
        .collect()
}

#[test]
fn kapture_pairs_what_tshark_pairs() {
    let mut checked = 0;
    let mut report = String::new();
    let mut entries: Vec<_> = std::fs::read_dir(root().join("testdata"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".tshark.tsv"))
        .collect();
    entries.sort();
    for tsv_name in entries {
        let stem = tsv_name.trim_end_matches(".tshark.tsv");
        let capture = ["pcap", "pcapng"]
            .iter()
            .map(|ext| format!("{stem}.{ext}"))
            .find(|c| testdata(c).exists())
            .unwrap_or_else(|| panic!("no capture for {tsv_name}"));
        let tsv = std::fs::read_to_string(testdata(&tsv_name)).unwrap();
        let view = tshark_view(&tsv);
        let theirs = view.pairs;
        let ours = kapture_pairs(&format!("testdata/{capture}"));
        let only_ours = diff(&ours, &theirs);
        let only_theirs = diff(&theirs, &ours);
        let mut expected = known(stem);
        let mut unexplained = Vec::new();
        let mut blind_spot = 0;
        for (side, keys) in [("kapture-only", &only_ours), ("tshark-only", &only_theirs)] {
            for k in keys.iter() {
                if side == "kapture-only" && view.produce_blind_spot.contains(k) {
                    blind_spot += 1;
                    continue;
                }
                if expected.remove(&(side.to_string(), *k)).is_none() {
                    unexplained.push(format!(
                        "{side}\t{}\t{}\t{}\t{}\t{}",
                        k.0, k.1, k.2, k.3, k.4
                    ));
                }
            }
        }
        let stale: Vec<_> = expected.keys().collect();
        println!(
            "{capture}: tshark pairs {}, kapture pairs {}, agreed {}, kapture-only {} ({blind_spot} in tshark's Produce v9+ blind spot), tshark-only {}",
            theirs.len(),
            ours.len(),
            ours.len() - only_ours.len(),
            only_ours.len(),
            only_theirs.len()
        );
        if !unexplained.is_empty() || !stale.is_empty() {
            report += &format!(
                "{capture}: unexplained differences:\n{}\nlisted but not seen: {stale:?}\n",
                unexplained.join("\n")
            );
        }
        // Captures of something else on the Kafka port hold no exchange, on both sides.
        let not_kafka = stem.starts_with("tls-");
        assert_eq!(
            not_kafka,
            theirs.is_empty() && ours.is_empty(),
            "{capture}: exchanges found where none are expected, or none where some are"
        );
        checked += 1;
    }
    assert!(checked > 0, "no tshark decodes found in testdata");
    assert!(report.is_empty(), "{report}");
}
