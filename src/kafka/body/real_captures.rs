//! Tests on real bodies: `testdata/*.bin` were cut from the captures in the repository's
//! `testdata/` by `testdata/extract.py` (see `testdata/README.md` here). File names say
//! capture, frame, API, version and direction; the frame is the row of
//! `<capture>.tshark.tsv` that shows tshark's view of the same PDU, which these tests
//! compare against.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::*;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/kafka/body/testdata")
}

fn load(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(format!("{name}.bin"))).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The tshark row of `frame` in `capture`, column name → value.
fn tshark_row(capture: &str, frame: u32) -> HashMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("testdata/{capture}.tshark.tsv"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    for line in lines {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols[0] == frame.to_string() {
            return header
                .iter()
                .zip(cols.iter().chain(std::iter::repeat(&"")))
                .map(|(h, c)| (h.to_string(), c.to_string()))
                .collect();
        }
    }
    panic!("{capture}: no row for frame {frame}")
}

fn list(row: &HashMap<String, String>, col: &str) -> Vec<String> {
    row[col]
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// (capture, frame, api, version, request?) from a file stem.
fn parse_name(stem: &str) -> (String, u32, String, i16, bool) {
    let parts: Vec<&str> = stem.rsplitn(5, '-').collect();
    let [dir, ver, api, frame, capture] = parts[..] else {
        panic!("{stem}")
    };
    (
        capture.to_string(),
        frame[1..].parse().unwrap(),
        api.to_string(),
        ver[1..].parse().unwrap(),
        dir == "req",
    )
}

fn all_vectors() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".bin").map(str::to_string)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 20, "{names:?}");
    names
}

/// Decodes a body as its file name says; the error, if any.
fn decode(api: &str, version: i16, request: bool, b: &[u8]) -> Result<usize, BodyError> {
    Ok(match (api, request) {
        ("produce", true) => produce_request(b, version)?.trailing,
        ("produce", false) => produce_response(b, version)?.trailing,
        ("fetch", true) => fetch_request(b, version)?.trailing,
        ("fetch", false) => fetch_response(b, version)?.trailing,
        ("metadata", false) => metadata_response(b, version)?.trailing,
        _ => panic!("{api}"),
    })
}

#[test]
fn every_vector_decodes_exactly_and_every_prefix_is_safe() {
    for stem in all_vectors() {
        let (_, _, api, version, request) = parse_name(&stem);
        let b = load(&stem);
        let trailing = decode(&api, version, request, &b).unwrap_or_else(|e| panic!("{stem}: {e}"));
        assert_eq!(trailing, 0, "{stem}");
        for cut in 0..b.len() {
            // A cut inside a records field can still decode (the cut is then a
            // partial batch), so only "no panic" holds for every prefix.
            let _ = decode(&api, version, request, &b[..cut]);
        }
    }
}

/// Compares every Produce request and Fetch response with tshark: topic names or ids,
/// partitions, batch codecs, last offset deltas, offsets and record headers.
#[test]
fn records_match_tshark() {
    let (mut checked, mut with_records) = (0, 0);
    for stem in all_vectors() {
        let (capture, frame, api, version, request) = parse_name(&stem);
        let b = load(&stem);
        let row = tshark_row(&capture, frame);
        // Per partition: its summary, records and (Fetch) high watermark.
        type Part<'a> = (RecordsSummary, &'a [u8], Option<i64>);
        let (topics, partitions, summaries): (Vec<String>, Vec<i32>, Vec<Part<'_>>) =
            match (api.as_str(), request) {
                ("produce", true) => {
                    let p = produce_request(&b, version).unwrap();
                    assert_eq!(row["kafka.required_acks"], p.acks.to_string(), "{stem}");
                    let mut t = vec![];
                    let mut ps = vec![];
                    let mut s = vec![];
                    for topic in &p.topics {
                        t.push(topic_text(topic.topic));
                        for part in &topic.partitions {
                            ps.push(part.index);
                            s.push((part.summary, part.records.unwrap_or(&[]), None));
                        }
                    }
                    (t, ps, s)
                }
                ("fetch", false) => {
                    let f = fetch_response(&b, version).unwrap();
                    let mut t = vec![];
                    let mut ps = vec![];
                    let mut s = vec![];
                    for topic in &f.topics {
                        t.push(topic_text(topic.topic));
                        for part in &topic.partitions {
                            ps.push(part.partition_index);
                            s.push((
                                part.summary,
                                part.records.unwrap_or(&[]),
                                Some(part.high_watermark),
                            ));
                        }
                    }
                    (t, ps, s)
                }
                _ => continue,
            };
        // tshark lists topic names in `kafka.topic_name`, ids in `kafka.topic_id`.
        let col = if version >= 13 {
            "kafka.topic_id"
        } else {
            "kafka.topic_name"
        };
        assert_eq!(
            dedup(list(&row, col)),
            dedup(topics.clone()),
            "{stem} topics"
        );
        let tshark_partitions: Vec<i32> = list(&row, "kafka.partition_id")
            .iter()
            .map(|p| p.parse().unwrap())
            .collect();
        assert_eq!(tshark_partitions, partitions, "{stem} partitions");

        // Batch-level facts, in order.
        let mut codecs = vec![];
        let mut deltas = vec![];
        let mut offsets = vec![];
        let mut keys = vec![];
        let mut values = vec![];
        let mut limits = Limits::default();
        for (summary, records, high_watermark) in &summaries {
            // tshark's kafka.offset: a Fetch partition's high watermark, then for each
            // batch its base offset followed by each record's offset (those of Produce
            // requests are clients' relative offsets, from 0).
            offsets.extend(high_watermark.map(|h| h.to_string()));
            assert!(summary.error.is_none(), "{stem}: {:?}", summary.error);
            assert!(!summary.partial(), "{stem}");
            for entry in batches(records) {
                let Entry::Batch(batch) = entry.unwrap() else {
                    panic!("{stem}: not a batch")
                };
                assert!(batch.crc_ok(), "{stem}");
                codecs.push(batch.codec().id().to_string());
                deltas.push(batch.last_offset_delta.to_string());
                offsets.push(batch.base_offset.to_string());
                // The offsets of the records that carry headers, from the callback.
                let mut record_offsets: Vec<i64> = vec![];
                let walk = for_each_record_header(&batch, &mut limits, |h| {
                    if record_offsets.last() != Some(&h.offset) {
                        record_offsets.push(h.offset);
                    }
                    keys.push(h.key_str().unwrap().to_string());
                    values.push(hex(h.value.unwrap_or(&[])));
                });
                assert_eq!((walk.error, walk.capped), (None, None), "{stem}");
                assert_eq!(walk.records, batch.record_count as u32, "{stem}");
                assert!(
                    record_offsets
                        .iter()
                        .all(|o| (batch.base_offset..=batch.last_offset()).contains(o)),
                    "{stem}"
                );
                if record_offsets.len() == batch.record_count as usize {
                    offsets.extend(record_offsets.iter().map(i64::to_string));
                } else {
                    offsets.extend(
                        (0..batch.record_count)
                            .map(|i| (batch.base_offset + i64::from(i)).to_string()),
                    );
                }
            }
        }
        assert_eq!(list(&row, "kafka.batch_codec"), codecs, "{stem} codecs");
        assert_eq!(
            list(&row, "kafka.batch_last_offset_delta"),
            deltas,
            "{stem} deltas"
        );
        assert_eq!(list(&row, "kafka.offset"), offsets, "{stem} offsets");
        assert_eq!(list(&row, "kafka.header_key"), keys, "{stem} header keys");
        assert_eq!(
            list(&row, "kafka.header_value"),
            values,
            "{stem} header values"
        );
        checked += 1;
        with_records += usize::from(!codecs.is_empty());
    }
    assert!(
        checked >= 13 && with_records == checked,
        "{checked} {with_records}"
    );
}

fn topic_text(t: TopicRef<'_>) -> String {
    match t {
        TopicRef::Name(n) => n.to_string(),
        TopicRef::Id(id) => id.to_string(),
    }
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.dedup();
    v
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn codecs_kcat_fetch_has_all_five_codecs() {
    let b = load("codecs-kcat-f161-fetch-v16-resp");
    let f = fetch_response(&b, 16).unwrap();
    let s = f.summary();
    assert_eq!(
        s.codecs.iter().map(Codec::id).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4]
    );
    assert_eq!(
        (s.batches, s.records, s.first_offset, s.last_offset),
        (5, 15, Some(0), Some(14))
    );
    // Each producer run's header is `codec=<name>`.
    let mut limits = Limits::default();
    for (_, p) in f.partitions() {
        for entry in batches(p.records.unwrap()) {
            let Ok(Entry::Batch(batch)) = entry else {
                panic!()
            };
            let mut seen = vec![];
            let walk = for_each_record_header(&batch, &mut limits, |h| {
                seen.push((h.key_str().unwrap().to_string(), h.value.unwrap().to_vec()))
            });
            assert_eq!(
                (walk.records, walk.headers, walk.error, walk.capped),
                (3, 3, None, None)
            );
            // librdkafka sends raw snappy, not the xerial framing.
            assert!(!batch.records_data().starts_with(b"\x82SNAPPY"));
            let want = (
                "codec".to_string(),
                batch.codec().name().as_bytes().to_vec(),
            );
            assert!(seen.iter().all(|h| *h == want), "{seen:?}");
        }
    }
}

#[test]
fn traceparent_headers_match_what_the_producer_sent() {
    let expected = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/traceparent-otel.expected.txt"),
    )
    .unwrap();
    let expected: Vec<&str> = expected.lines().filter(|l| l.starts_with("00-")).collect();
    let b = load("traceparent-otel-f98-fetch-v16-resp");
    let f = fetch_response(&b, 16).unwrap();
    let mut got = vec![];
    let mut limits = Limits::default();
    for (_, p) in f.partitions() {
        for entry in batches(p.records.unwrap()) {
            let Ok(Entry::Batch(batch)) = entry else {
                panic!()
            };
            for_each_record_header(&batch, &mut limits, |h| {
                if h.key == b"traceparent" {
                    got.push((
                        h.offset,
                        String::from_utf8(h.value.unwrap().to_vec()).unwrap(),
                    ));
                }
            });
        }
    }
    assert_eq!(got.len(), 8);
    assert_eq!(
        got.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>(),
        expected
    );
    assert_eq!(
        got.iter().map(|(o, _)| *o).collect::<Vec<_>>(),
        (0..8).collect::<Vec<_>>()
    );
}

#[test]
fn produce_error_response_names_invalid_record() {
    let ok = load("produce-error-f23-produce-v10-resp");
    let ok = produce_response(&ok, 10).unwrap();
    let (_, p) = ok.partitions().next().unwrap();
    assert_eq!(p.error_code, 0);
    let bad = load("produce-error-f49-produce-v10-resp");
    let bad = produce_response(&bad, 10).unwrap();
    let (topic, p) = bad.partitions().next().unwrap();
    assert_eq!(topic, TopicRef::Name("checked"));
    assert_eq!(error_name(p.error_code), Some("INVALID_RECORD"));
    let row = tshark_row("produce-error", 49);
    assert_eq!(row["kafka.error"], "87");
    println!("produce error facts: {p:?}");
}

#[test]
fn metadata_maps_topic_ids_to_names() {
    // Fetch v16 names topics by id only; Metadata v12 carries the names.
    let b = load("codecs-kcat-f10-metadata-v12-resp");
    let m = metadata_response(&b, 12).unwrap();
    assert_eq!(
        m.topic_names().map(|(_, n)| n).collect::<Vec<_>>(),
        vec!["codecs"]
    );
    let b = load("group-confluent-f51-metadata-v12-resp");
    let g = metadata_response(&b, 12).unwrap();
    let names: Vec<&str> = g.topic_names().map(|(_, n)| n).collect();
    assert!(
        names.contains(&"orders") && names.contains(&"payments"),
        "{names:?}"
    );
    for t in &g.topics {
        assert_eq!(t.partitions.len(), 3);
    }
    let row = tshark_row("group-confluent", 51);
    let ids = list(&row, "kafka.topic_id");
    for (id, _) in g.topic_names() {
        assert!(ids.contains(&id.to_string()), "{id} not in {ids:?}");
    }
    assert_eq!(g.brokers.len(), 1);
    let b = load("aiokafka-f9-metadata-v5-resp");
    let a = metadata_response(&b, 5).unwrap();
    assert!(a.topics.iter().any(|t| t.name == Some("aio")));
}

#[test]
fn fetch_requests_match_tshark() {
    for stem in all_vectors() {
        let (capture, frame, api, version, request) = parse_name(&stem);
        if api != "fetch" || !request {
            continue;
        }
        let b = load(&stem);
        let f = fetch_request(&b, version).unwrap();
        let row = tshark_row(&capture, frame);
        let parts: Vec<String> = f
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.partition.to_string()))
            .collect();
        assert_eq!(list(&row, "kafka.partition_id"), parts, "{stem}");
        let col = if version >= 13 {
            "kafka.topic_id"
        } else {
            "kafka.topic_name"
        };
        let topics: Vec<String> = f.topics.iter().map(|t| topic_text(t.topic)).collect();
        assert_eq!(dedup(list(&row, col)), topics, "{stem}");
    }
}

/// Every byte of every vector replaced by a few hostile values: decoding, the batch walk
/// and the record walk return, never panic.
#[test]
fn mutated_vectors_never_panic() {
    let mut limits = Limits::new(1 << 20, u64::MAX);
    for stem in all_vectors() {
        let (_, _, api, version, request) = parse_name(&stem);
        let good = load(&stem);
        for i in 0..good.len() {
            for v in [0x00, 0x7f, 0x80, 0xff, good[i] ^ 0x01] {
                let mut b = good.clone();
                b[i] = v;
                let _ = decode(&api, version, request, &b);
                if let ("fetch", false) = (api.as_str(), request) {
                    let Ok(f) = fetch_response(&b, version) else {
                        continue;
                    };
                    for (_, p) in f.partitions() {
                        for batch in batches(p.records.unwrap_or(&[])).flatten() {
                            if let Entry::Batch(batch) = batch {
                                let _ = for_each_record_header(&batch, &mut limits, |_| {});
                            }
                        }
                    }
                }
            }
        }
    }
}
