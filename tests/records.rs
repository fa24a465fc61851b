//! Produce and Fetch in depth, on the real captures: topics, partitions and record
//! counts agree with tshark 4.4's decode; topic ids resolve through Metadata; record
//! headers become links equal to the traceparents the producer sent; Kafka errors
//! become `error.type` and an ERROR status; consumer groups reach Fetch spans.

mod common;

use std::collections::{BTreeSet, HashMap};

use common::*;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;

/// tshark's view of one Produce request or Fetch response PDU.
#[derive(Debug)]
struct TsharkBody {
    topics: BTreeSet<String>,
    partitions: BTreeSet<i64>,
    records: i64,
}

fn split(v: &str) -> Vec<&str> {
    v.split(',').filter(|s| !s.is_empty()).collect()
}

/// (client port, correlation id, api key) -> body facts, for single-PDU rows only
/// (tshark's aggregated columns cannot be split between PDUs of one frame).
fn tshark_bodies(tsv: &str) -> HashMap<(i64, i64, i64), TsharkBody> {
    let parsed = parse_tsv(tsv);
    let h = &parsed.col;
    let rows = &parsed.rows;
    // Topic id -> name from tshark's own Metadata decode (names and ids line up there).
    let mut names: HashMap<String, String> = HashMap::new();
    for r in rows {
        let (t, i) = (
            split(r[h["kafka.topic_name"]]),
            split(r[h["kafka.topic_id"]]),
        );
        if r[h["kafka.api_key"]] == "3" && t.len() == i.len() {
            for (name, id) in t.iter().zip(i) {
                names.insert(id.to_string(), name.to_string());
            }
        }
    }
    let mut out = HashMap::new();
    for r in rows {
        let ids = split(r[h["kafka.correlation_id"]]);
        let key = r[h["kafka.api_key"]];
        let is_response = !r[h["kafka.request_frame"]].is_empty();
        let wanted = (key == "0" && !is_response) || (key == "1" && is_response);
        if ids.len() != 1 || !wanted {
            continue;
        }
        let client: i64 = if is_response {
            r[h["tcp.dstport"]]
        } else {
            r[h["tcp.srcport"]]
        }
        .parse()
        .unwrap();
        let mut topics: BTreeSet<String> = split(r[h["kafka.topic_name"]])
            .iter()
            .map(|s| s.to_string())
            .collect();
        for id in split(r[h["kafka.topic_id"]]) {
            topics.insert(names.get(id).cloned().unwrap_or_else(|| id.to_string()));
        }
        let partitions = split(r[h["kafka.partition_id"]])
            .iter()
            .map(|p| p.parse().unwrap())
            .collect();
        let records = split(r[h["kafka.batch_last_offset_delta"]])
            .iter()
            .map(|d| d.parse::<i64>().unwrap() + 1)
            .sum();
        out.insert(
            (client, ids[0].parse().unwrap(), key.parse().unwrap()),
            TsharkBody {
                topics,
                partitions,
                records,
            },
        );
    }
    out
}

fn span_partitions(s: &Span) -> BTreeSet<i64> {
    s.events
        .iter()
        .filter(|e| e.name == "kafka.partition")
        .filter_map(|e| {
            e.attributes
                .iter()
                .find(|kv| kv.key == "messaging.destination.partition.id")
                .and_then(
                    |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                        Some(Value::StringValue(p)) => p.parse().ok(),
                        _ => None,
                    },
                )
        })
        .collect()
}

fn spans_of(args: &[&str]) -> Vec<Span> {
    let out = kapture(args);
    assert!(out.status.code().unwrap_or(9) <= 1, "{args:?}: {out:?}");
    parse_spans(&out.stdout)
}

#[test]
fn topics_partitions_and_record_counts_agree_with_tshark() {
    let mut compared = 0;
    for name in [
        "basic-kafka-python",
        "codecs-kcat",
        "group-confluent",
        "aiokafka",
        "large-records",
        "traceparent-otel",
        "produce-error",
        "ipv6",
        "netem",
        "netem-broker",
        "acks0",
        "midstream",
        "any-sll2",
        "nano",
        "port19092",
    ] {
        let tsv = std::fs::read_to_string(testdata(&format!("{name}.tshark.tsv"))).unwrap();
        let theirs = tshark_bodies(&tsv);
        for s in spans_of(&["-q", &format!("testdata/{name}.pcap")]) {
            let key = (
                int_attr(&s, "client.port").unwrap(),
                int_attr(&s, "kapture.correlation_id").unwrap(),
                int_attr(&s, "kapture.api_key").unwrap(),
            );
            let Some(t) = theirs.get(&key) else { continue };
            let what = format!("{name} {key:?}");
            assert_eq!(
                topics(&s).into_iter().collect::<BTreeSet<_>>(),
                t.topics,
                "{what}: topics"
            );
            if !t.partitions.is_empty() {
                assert_eq!(span_partitions(&s), t.partitions, "{what}: partitions");
            }
            assert_eq!(
                int_attr(&s, "messaging.batch.message_count"),
                Some(t.records),
                "{what}: records"
            );
            compared += 1;
        }
    }
    assert!(compared > 100, "only {compared} bodies compared");
}

#[test]
fn topic_ids_resolve_through_metadata() {
    // librdkafka's Fetch v16 carries topic ids only; Metadata on another connection
    // names them.
    let fetches: Vec<Span> = spans_of(&["-q", "--api", "fetch", "testdata/codecs-kcat.pcap"]);
    assert!(!fetches.is_empty());
    for s in &fetches {
        assert_eq!(int_attr(s, "kapture.api_version"), Some(16));
        assert_eq!(s.name, "fetch codecs");
        assert!(str_attr(s, "kapture.topic_ids.unresolved").is_none());
    }
}

#[test]
fn record_headers_become_links_to_the_producer_traces() {
    let expected: BTreeSet<String> =
        std::fs::read_to_string(testdata("traceparent-otel.expected.txt"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
    assert_eq!(expected.len(), 8);
    let spans = spans_of(&["-q", "testdata/traceparent-otel.pcap"]);
    let links = |api: &str| -> BTreeSet<String> {
        spans
            .iter()
            .filter(|s| s.name.starts_with(api))
            .flat_map(|s| &s.links)
            .map(|l| {
                format!(
                    "00-{}-{}-{:02x}",
                    hex(&l.trace_id),
                    hex(&l.span_id),
                    l.flags & 0xff
                )
            })
            .collect()
    };
    assert_eq!(
        links("produce"),
        expected,
        "Produce requests carry the producer's contexts"
    );
    assert_eq!(
        links("fetch"),
        expected,
        "Fetch responses return the same records"
    );
    // The link says where the record was.
    let produce = spans
        .iter()
        .find(|s| s.name.starts_with("produce") && !s.links.is_empty())
        .unwrap();
    let keys: Vec<&str> = produce.links[0]
        .attributes
        .iter()
        .map(|kv| kv.key.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "messaging.destination.name",
            "messaging.destination.partition.id",
            "messaging.kafka.offset"
        ]
    );

    // --parent-from-records puts each single-record Produce inside the producer's trace.
    let parented = spans_of(&[
        "-q",
        "--parent-from-records",
        "testdata/traceparent-otel.pcap",
    ]);
    let mut children = 0;
    for s in parented.iter().filter(|s| s.links.len() == 1) {
        assert_eq!(s.trace_id, s.links[0].trace_id);
        assert_eq!(s.parent_span_id, s.links[0].span_id);
        children += 1;
    }
    assert_eq!(children, 8);

    // --no-record-links reads no headers.
    let bare = spans_of(&["-q", "--no-record-links", "testdata/traceparent-otel.pcap"]);
    assert!(bare.iter().all(|s| s.links.is_empty()));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn a_kafka_error_sets_error_type_and_status() {
    let spans = spans_of(&["-q", "--api", "produce", "testdata/produce-error.pcap"]);
    let failed: Vec<&Span> = spans
        .iter()
        .filter(|s| str_attr(s, "error.type").is_some())
        .collect();
    assert_eq!(failed.len(), 1);
    let s = failed[0];
    assert_eq!(str_attr(s, "error.type").as_deref(), Some("INVALID_RECORD"));
    assert_eq!(int_attr(s, "kapture.error_code"), Some(87));
    let status = s.status.as_ref().unwrap();
    assert_eq!(status.code, 2, "ERROR");
    assert_eq!(status.message, "INVALID_RECORD on checked-0");
    // The other Produce succeeded.
    assert!(
        spans
            .iter()
            .any(|s| str_attr(s, "error.type").is_none() && s.status.as_ref().unwrap().code == 0)
    );
}

#[test]
fn fetch_spans_name_the_consumer_group() {
    let spans = spans_of(&["-q", "--api", "fetch", "testdata/group-confluent.pcap"]);
    assert!(!spans.is_empty());
    for s in &spans {
        assert_eq!(
            str_attr(s, "messaging.consumer.group.name").as_deref(),
            Some("kapture-group")
        );
    }
    // Produce spans never carry one.
    let produce = spans_of(&["-q", "--api", "produce", "testdata/group-confluent.pcap"]);
    assert!(
        produce
            .iter()
            .all(|s| str_attr(s, "messaging.consumer.group.name").is_none())
    );
}

#[test]
fn codecs_and_single_partition_offsets() {
    let spans = spans_of(&["-q", "--api", "produce", "testdata/codecs-kcat.pcap"]);
    let codecs: Vec<String> = spans
        .iter()
        .flat_map(|s| s.attributes.iter().filter(|kv| kv.key == "kapture.codecs"))
        .filter_map(
            |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::ArrayValue(a)) => match a.values.first().and_then(|v| v.value.as_ref())
                {
                    Some(Value::StringValue(c)) => Some(c.clone()),
                    _ => None,
                },
                _ => None,
            },
        )
        .collect();
    assert_eq!(codecs, ["none", "gzip", "snappy", "lz4", "zstd"]);
    // Each Produce of 3 records got the next base offset (on its partition event: a
    // span of 3 messages carries no single message's offset).
    let offsets: Vec<i64> = spans
        .iter()
        .flat_map(|s| &s.events)
        .flat_map(|e| &e.attributes)
        .filter(|kv| kv.key == "kapture.base_offset")
        .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::IntValue(v) => Some(*v),
            _ => None,
        })
        .collect();
    assert_eq!(offsets, [0, 3, 6, 9, 12]);
    assert!(
        spans
            .iter()
            .all(|s| int_attr(s, "messaging.kafka.offset").is_none())
    );
    assert!(
        spans
            .iter()
            .all(|s| int_attr(s, "messaging.batch.message_count") == Some(3))
    );
}
