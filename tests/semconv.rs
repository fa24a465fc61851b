//! Semantic conventions 1.44 on real captures (issue 13): sure record counts only,
//! offsets for single messages, the cluster id, the peer address, `settle`, group names
//! read from the group APIs, the client software (KIP-511) checked against tshark, and
//! honest statuses for unanswered exchanges and long-poll Fetches.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use common::*;
use opentelemetry_proto::tonic::trace::v1::Span;

/// The (name, version) of the client software a span carries.
type Software = (Option<String>, Option<String>);

fn spans_of(capture: &str, api: &str) -> Vec<Span> {
    let out = kapture(["-q", "--api", api, testdata(capture).to_str().unwrap()]);
    assert!(out.status.code().unwrap_or(99) <= 1, "{out:?}");
    parse_spans(&out.stdout)
}

fn op(span: &Span) -> String {
    str_attr(span, "messaging.operation.name").unwrap_or_default()
}

#[test]
fn snaplen_cut_produce_counts_come_from_the_batch_header_and_unsure_counts_are_absent() {
    let spans = spans_of("snaplen200.pcap", "produce,fetch");
    let produce: Vec<&Span> = spans.iter().filter(|s| op(s) == "produce").collect();
    // Every Produce request is cut at 200 bytes; each holds one batch whose header was
    // captured. tshark's kafka.batch_size (records per batch) on frames 20, 22, 24, 26:
    // 2, 1, 1, 2. The base offsets the broker assigned (0, 2, 3, 4) agree.
    let counts: Vec<Option<i64>> = produce
        .iter()
        .map(|s| int_attr(s, "messaging.batch.message_count"))
        .collect();
    assert_eq!(counts, [Some(2), Some(1), Some(1), Some(2)]);
    assert!(
        produce
            .iter()
            .all(|s| attrs(s).contains_key("kapture.request.incomplete"))
    );
    // The Fetch response (4 096 bytes, 200 captured) may hold records nobody saw.
    let fetch: Vec<&Span> = spans.iter().filter(|s| op(s) == "fetch").collect();
    assert_eq!(fetch.len(), 1);
    assert_eq!(int_attr(fetch[0], "messaging.batch.message_count"), None);
    for e in &fetch[0].events {
        assert!(
            !e.attributes
                .iter()
                .any(|kv| kv.key == "messaging.batch.message_count"),
            "a partition event of a cut Fetch must not claim a count"
        );
    }
}

#[test]
fn offsets_sit_only_on_single_message_spans_and_stay_on_links() {
    let mut single = 0;
    for capture in [
        "snaplen200.pcap",
        "java-producer.pcap",
        "franz.pcap",
        "codecs-kcat.pcap",
    ] {
        for s in spans_of(capture, "produce,fetch") {
            let count = int_attr(&s, "messaging.batch.message_count");
            let offset = int_attr(&s, "messaging.kafka.offset");
            if count == Some(1) && int_attr(&s, "kapture.partitions") == Some(1) {
                assert!(offset.is_some(), "{capture}: {} has one message", s.name);
                single += 1;
            } else {
                assert_eq!(
                    offset, None,
                    "{capture}: {} carries {count:?} messages",
                    s.name
                );
            }
        }
    }
    assert!(single >= 2, "the captures hold single-message exchanges");
    // snaplen200's second Produce: one record, base offset 2.
    let spans = spans_of("snaplen200.pcap", "produce");
    assert_eq!(int_attr(&spans[1], "messaging.kafka.offset"), Some(2));
    // Batches keep their offsets on their links.
    let spans = spans_of("traceparent-otel.pcap", "produce,fetch");
    let links: Vec<_> = spans.iter().flat_map(|s| &s.links).collect();
    assert!(!links.is_empty());
    assert!(links.iter().all(|l| {
        l.attributes
            .iter()
            .any(|kv| kv.key == "messaging.kafka.offset")
    }));
}

#[test]
fn every_span_names_its_cluster_and_its_peer() {
    // java-failover: three Apache Kafka brokers (9092, 9094, 9096) of one cluster.
    let spans = spans_of("java-failover.pcap", "all");
    let mut ports = BTreeSet::new();
    for s in &spans {
        assert_eq!(
            str_attr(s, "messaging.kafka.cluster.id").as_deref(),
            Some("BT3U16t2Q9KNbDtkUqHLWA"),
            "{}",
            s.name
        );
        assert_eq!(
            str_attr(s, "network.peer.address"),
            str_attr(s, "server.address")
        );
        assert_eq!(int_attr(s, "network.peer.port"), int_attr(s, "server.port"));
        assert_eq!(
            str_attr(s, "service.peer.name").as_deref(),
            Some("BT3U16t2Q9KNbDtkUqHLWA")
        );
        assert_eq!(
            str_attr(s, "peer.service"),
            str_attr(s, "service.peer.name")
        );
        ports.insert(int_attr(s, "server.port").unwrap());
    }
    assert_eq!(ports, BTreeSet::from([9092, 9094, 9096]));
    // The id is the one the Metadata response carries, as bytes in the capture.
    let bytes = std::fs::read(testdata("java-failover.pcap")).unwrap();
    assert!(bytes.windows(22).any(|w| w == b"BT3U16t2Q9KNbDtkUqHLWA"));
    // Tansu's cluster, on a capture where one Metadata is never answered.
    for s in spans_of("group-confluent.pcap", "all") {
        assert_eq!(
            str_attr(&s, "messaging.kafka.cluster.id").as_deref(),
            Some("tansu_cluster")
        );
    }
}

#[test]
fn group_apis_name_their_group_and_commits_settle() {
    // tshark's kafka.consumer_group on the requests: kapture-classic for JoinGroup v9
    // (2), LeaveGroup v5, SyncGroup v5 and OffsetCommit v9; OffsetFetch v9 names it in
    // a groups array tshark does not show.
    let spans = spans_of("java-group-classic.pcap", "all");
    let mut named: BTreeMap<String, usize> = BTreeMap::new();
    for s in &spans {
        if let Some(g) = str_attr(s, "messaging.consumer.group.name") {
            assert_eq!(g, "kapture-classic", "{}", s.name);
            *named.entry(op(s)).or_default() += 1;
        }
    }
    for (api, n) in [
        ("join_group", 2),
        ("leave_group", 1),
        ("sync_group", 1),
        ("offset_commit", 1),
    ] {
        assert_eq!(named.get(api), Some(&n), "{api}: {named:?}");
    }
    assert!(named.contains_key("offset_fetch"), "{named:?}");
    assert!(named.contains_key("fetch"), "Fetch from the client's group");
    for s in &spans {
        let expected = match op(s).as_str() {
            "offset_commit" | "txn_offset_commit" => Some("settle"),
            "produce" => Some("send"),
            "fetch" => Some("receive"),
            _ => None,
        };
        assert_eq!(str_attr(s, "messaging.operation.type").as_deref(), expected);
    }
    assert!(spans.iter().any(|s| op(s) == "offset_commit"));
    // librdkafka's group APIs (older versions, not flexible for LeaveGroup v1).
    let spans = spans_of("group-confluent.pcap", "all");
    for api in [
        "join_group",
        "sync_group",
        "heartbeat",
        "leave_group",
        "offset_commit",
        "offset_fetch",
    ] {
        let s = spans
            .iter()
            .find(|s| op(s) == api)
            .unwrap_or_else(|| panic!("{api}"));
        assert_eq!(
            str_attr(s, "messaging.consumer.group.name").as_deref(),
            Some("kapture-group"),
            "{api}"
        );
    }
}

/// tshark's (client software name, version) pairs of a capture's ApiVersions
/// requests, or `None` where tshark cannot run.
fn tshark_client_software(capture: &str) -> Option<BTreeSet<(String, String)>> {
    let dir = std::path::Path::new("/opt/trixie/tmp");
    if !dir.is_dir() {
        return None;
    }
    let copy = dir.join(format!("kapture-semconv-{}-{capture}", std::process::id()));
    std::fs::copy(testdata(capture), &copy).ok()?;
    let inside = format!("/tmp/{}", copy.file_name()?.to_str()?);
    let out = Command::new("chroot")
        .args([
            "/opt/trixie",
            "tshark",
            "-r",
            &inside,
            "-d",
            "tcp.port==9092,kafka",
        ])
        .args(["-Y", "kafka.client_software_name", "-T", "fields"])
        .args([
            "-e",
            "kafka.client_software_name",
            "-e",
            "kafka.client_software_version",
        ])
        .output()
        .ok();
    let _ = std::fs::remove_file(&copy);
    let out = out.filter(|o| o.status.success())?;
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
    )
}

#[test]
fn client_software_is_on_every_span_of_its_connection_and_agrees_with_tshark() {
    let cases = [
        ("java-producer.pcap", "apache-kafka-java", "4.1.2"),
        ("java-group-848.pcap", "apache-kafka-java", "4.1.2"),
        ("franz.pcap", "kgo", "v1.22.3"),
        ("codecs-kcat.pcap", "librdkafka", "2.16.0"),
        ("snaplen200.pcap", "kafka-python", "3.0.12"),
    ];
    for (capture, name, version) in cases {
        let spans = spans_of(capture, "all");
        let mut by_connection: BTreeMap<i64, BTreeSet<Software>> = BTreeMap::new();
        for s in &spans {
            by_connection
                .entry(int_attr(s, "kapture.connection.id").unwrap())
                .or_default()
                .insert((
                    str_attr(s, "kapture.client.software.name"),
                    str_attr(s, "kapture.client.software.version"),
                ));
        }
        for (conn, seen) in &by_connection {
            let want = (Some(name.to_string()), Some(version.to_string()));
            assert_eq!(seen, &BTreeSet::from([want]), "{capture} connection {conn}");
        }
        if let Some(tshark) = tshark_client_software(capture) {
            let want = BTreeSet::from([(name.to_string(), version.to_string())]);
            assert_eq!(tshark, want, "{capture}: tshark");
        }
    }
    // aiokafka sends ApiVersions v0: nothing to say.
    for s in spans_of("aiokafka.pcap", "all") {
        assert_eq!(str_attr(&s, "kapture.client.software.name"), None);
    }
}

#[test]
fn the_summary_lists_client_libraries_with_versions_and_connections() {
    let out = kapture([
        "--no-spans",
        "--summary",
        "json",
        testdata("codecs-kcat.pcap").to_str().unwrap(),
        testdata("franz.pcap").to_str().unwrap(),
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON summary");
    assert_eq!(
        json["client_libraries"],
        serde_json::json!([
            {"name": "kgo", "version": "v1.22.3", "connections": 7},
            {"name": "librdkafka", "version": "2.16.0", "connections": 12},
        ])
    );
    let out = kapture([
        "--summary",
        "text",
        "-o",
        "/dev/null",
        testdata("java-producer.pcap").to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains(
            "client libraries (ApiVersions v3+; connections): apache-kafka-java 4.1.2 (4)"
        ),
        "{text}"
    );
}

#[test]
fn an_unanswered_exchange_says_so() {
    // group-confluent: librdkafka's close-time Metadata, never answered.
    let spans = spans_of("group-confluent.pcap", "all");
    let unanswered: Vec<&Span> = spans
        .iter()
        .filter(|s| str_attr(s, "kapture.response.state").as_deref() == Some("not_captured"))
        .collect();
    assert_eq!(unanswered.len(), 1);
    let s = unanswered[0];
    let status = s.status.as_ref().unwrap();
    assert_eq!(status.code, 0, "UNSET: nothing says it failed");
    assert_eq!(status.message, "response not captured");
    assert_eq!(str_attr(s, "error.type"), None);
    // Answered exchanges carry no such message.
    for s in spans.iter().filter(|s| !std::ptr::eq(*s, unanswered[0])) {
        assert_ne!(s.status.as_ref().unwrap().message, "response not captured");
    }
}

#[test]
fn empty_long_polls_are_marked_and_kept_apart_in_the_latency_table() {
    let spans = spans_of("franz.pcap", "fetch");
    let long: Vec<&Span> = spans
        .iter()
        .filter(|s| attrs(s).get("kapture.fetch.long_poll") == Some(&Attr::Bool(true)))
        .collect();
    assert_eq!(long.len(), 4);
    for s in &long {
        let max_wait = int_attr(s, "kapture.fetch.max_wait_ms").unwrap();
        let wait = int_attr(s, "kapture.wait_ns").unwrap();
        assert!(wait >= max_wait * 900_000, "{wait} vs {max_wait} ms");
        assert_eq!(int_attr(s, "messaging.batch.message_count").unwrap_or(0), 0);
    }
    // A Fetch that brought records is no long poll, however long it waited.
    for s in spans
        .iter()
        .filter(|s| int_attr(s, "messaging.batch.message_count") > Some(0))
    {
        assert!(!attrs(s).contains_key("kapture.fetch.long_poll"));
    }
    let out = kapture([
        "--no-spans",
        "--api",
        "fetch",
        "--summary",
        "json",
        testdata("franz.pcap").to_str().unwrap(),
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON summary");
    let rows = json["latency"].as_array().unwrap();
    let count = |topic: serde_json::Value| {
        rows.iter()
            .find(|r| r["api"] == "Fetch" && r["topic"] == topic)
            .map(|r| r["count"].as_u64().unwrap())
    };
    assert_eq!(count(serde_json::json!("(long poll)")), Some(4));
    assert_eq!(count(serde_json::Value::Null), Some(spans.len() as u64 - 4));
}
