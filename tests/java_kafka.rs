//! The Java client (kafka-clients 4.1.2) against a real Apache Kafka 4.1.2 broker
//! (`testdata/record/kafka/`): what kapture makes of Produce v13 (topic ids only),
//! Fetch v18, KIP-848 groups, transactions, a leader change, SASL/PLAIN and TLS.
//! Expected counts come from the recording script (`record/kafka/record.sh`,
//! `Rec.java`) or from tshark 4.4's decode (`testdata/<capture>.tshark.tsv`), never from
//! kapture's own output.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use opentelemetry_proto::tonic::trace::v1::Span;

fn spans(args: &[&str]) -> Vec<Span> {
    let out = kapture(args);
    assert!(out.status.code().unwrap_or(9) <= 1, "{args:?}: {out:?}");
    parse_spans(&out.stdout)
}

fn has_attr(s: &Span, key: &str) -> bool {
    s.attributes.iter().any(|kv| kv.key == key)
}

fn api(s: &Span) -> i64 {
    int_attr(s, "kapture.api_key").unwrap()
}

/// Requests tshark decoded, by API key.
fn tshark_requests(capture: &str) -> BTreeMap<i64, usize> {
    let text = std::fs::read_to_string(testdata(&format!("{capture}.tshark.tsv"))).unwrap();
    let tsv = parse_tsv(&text);
    let mut out = BTreeMap::new();
    for r in &tsv.rows {
        if !r[tsv.col["kafka.request_frame"]].is_empty() {
            continue;
        }
        for k in r[tsv.col["kafka.api_key"]]
            .split(',')
            .filter(|k| !k.is_empty())
        {
            *out.entry(k.parse().unwrap()).or_default() += 1;
        }
    }
    out
}

/// Records in each Fetch response tshark decoded (its batches' last offset delta + 1),
/// by (client port, correlation id).
fn tshark_fetch_records(capture: &str) -> BTreeMap<(i64, i64), i64> {
    let text = std::fs::read_to_string(testdata(&format!("{capture}.tshark.tsv"))).unwrap();
    let tsv = parse_tsv(&text);
    let mut out = BTreeMap::new();
    for r in &tsv.rows {
        if r[tsv.col["kafka.request_frame"]].is_empty() || r[tsv.col["kafka.api_key"]] != "1" {
            continue;
        }
        let records: i64 = r[tsv.col["kafka.batch_last_offset_delta"]]
            .split(',')
            .filter(|d| !d.is_empty())
            .map(|d| d.parse::<i64>().unwrap() + 1)
            .sum();
        let client: i64 = r[tsv.col["tcp.dstport"]].parse().unwrap();
        let id: i64 = r[tsv.col["kafka.correlation_id"]].parse().unwrap();
        out.insert((client, id), records);
    }
    out
}

#[test]
fn produce_v13_topic_ids_are_named_from_metadata() {
    // Rec.java produce: 40 records with lz4, then 40 with zstd, to topic jp (4 partitions).
    // Produce v13 names topics by id only; the Metadata v13 response on the bootstrap
    // connection names the id.
    let all = spans(&["-q", "testdata/java-producer.pcap"]);
    let produce: Vec<&Span> = all.iter().filter(|s| api(s) == 0).collect();
    assert!(!produce.is_empty());
    let mut records = BTreeMap::new();
    for s in &produce {
        assert_eq!(int_attr(s, "kapture.api_version"), Some(13));
        assert_eq!(s.name, "produce jp");
        assert_eq!(
            str_attr(s, "messaging.destination.name").as_deref(),
            Some("jp")
        );
        assert!(!has_attr(s, "kapture.topic_ids.unresolved"));
        assert_eq!(
            str_attr(s, "kapture.response.state").as_deref(),
            Some("paired")
        );
        assert!(str_attr(s, "error.type").is_none());
        let client = str_attr(s, "messaging.client.id").unwrap();
        *records.entry(client).or_insert(0) +=
            int_attr(s, "messaging.batch.message_count").unwrap();
    }
    let want: BTreeMap<String, i64> = [
        ("java-producer-lz4".to_string(), 40),
        ("java-producer-zstd".to_string(), 40),
    ]
    .into();
    assert_eq!(records, want);
    // tshark 4.4 decodes Produce up to v11: it sees the same number of Produce requests
    // (flagged malformed) and pairs none of them.
    assert_eq!(
        tshark_requests("java-producer").get(&0),
        Some(&produce.len())
    );
}

#[test]
fn produce_v13_without_metadata_keeps_the_topic_id() {
    // The same capture without its Metadata exchange (the bootstrap connection, filtered
    // out by client port): the id stays unresolved and is said so, not made up.
    let all = spans(&["-q", "testdata/java-producer.pcap"]);
    let meta_ports: BTreeSet<i64> = all
        .iter()
        .filter(|s| api(s) == 3)
        .map(|s| int_attr(s, "client.port").unwrap())
        .collect();
    let produce_ports: BTreeSet<i64> = all
        .iter()
        .filter(|s| api(s) == 0)
        .map(|s| int_attr(s, "client.port").unwrap())
        .collect();
    assert!(
        meta_ports.is_disjoint(&produce_ports),
        "Metadata on its own connection"
    );
    let port = produce_ports.iter().next().unwrap().to_string();
    let dir = std::env::temp_dir().join(format!("kapture-java-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cut = dir.join("produce-only.pcap");
    // Keep only one produce connection's packets: a pcap filter would need libpcap;
    // kapture's own --filter does not drop knowledge, so cut the file here instead.
    let bytes = std::fs::read(testdata("java-producer.pcap")).unwrap();
    std::fs::write(&cut, only_port(&bytes, port.parse().unwrap())).unwrap();
    let only = spans(&["-q", cut.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    let produce: Vec<&Span> = only.iter().filter(|s| api(s) == 0).collect();
    assert!(!produce.is_empty());
    for s in produce {
        assert_ne!(s.name, "produce jp");
        // the id of jp in the Metadata v13 response, as tshark decodes it
        assert_eq!(s.name, "produce 8129cf7f-9d5d-4eac-807f-969b8ffa68ab");
        assert!(has_attr(s, "kapture.topic_ids.unresolved"));
    }
}

/// A classic pcap (Ethernet, IPv4, TCP) with only the packets of one client port.
fn only_port(pcap: &[u8], port: u16) -> Vec<u8> {
    assert_eq!(
        &pcap[0..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian µs pcap"
    );
    let mut out = pcap[..24].to_vec();
    let mut i = 24;
    while i + 16 <= pcap.len() {
        let incl = u32::from_le_bytes(pcap[i + 8..i + 12].try_into().unwrap()) as usize;
        let pkt = &pcap[i + 16..i + 16 + incl];
        // Ethernet (14) + IPv4 (IHL) + TCP ports
        let ihl = ((pkt[14] & 0x0f) as usize) * 4;
        let tcp = &pkt[14 + ihl..];
        let src = u16::from_be_bytes([tcp[0], tcp[1]]);
        let dst = u16::from_be_bytes([tcp[2], tcp[3]]);
        if src == port || dst == port {
            out.extend_from_slice(&pcap[i..i + 16 + incl]);
        }
        i += 16 + incl;
    }
    out
}

#[test]
fn fetch_v18_records_agree_with_tshark() {
    // Fetch v18 by topic id; tshark decodes it as v16 (the same layout for responses).
    // Rec.java consume: 30 records in each group capture, 5 in java-sasl.
    for (capture, want) in [
        ("java-group-848", 30),
        ("java-group-classic", 30),
        ("java-sasl", 5),
    ] {
        let theirs = tshark_fetch_records(capture);
        let mut total = 0;
        for s in spans(&["-q", &format!("testdata/{capture}.pcap")]) {
            if api(&s) != 1 {
                continue;
            }
            assert_eq!(int_attr(&s, "kapture.api_version"), Some(18), "{capture}");
            let key = (
                int_attr(&s, "client.port").unwrap(),
                int_attr(&s, "kapture.correlation_id").unwrap(),
            );
            let n = int_attr(&s, "messaging.batch.message_count").unwrap_or(0);
            assert_eq!(Some(&n), theirs.get(&key), "{capture} {key:?}");
            if n > 0 {
                assert!(s.name.starts_with("fetch "), "{capture}: {}", s.name);
                assert!(!has_attr(&s, "kapture.topic_ids.unresolved"));
            }
            total += n;
        }
        assert_eq!(total, want, "{capture}");
    }
}

#[test]
fn kip848_group_is_named_on_fetch() {
    // group.protocol=consumer: ConsumerGroupHeartbeat (key 68) instead of
    // JoinGroup/SyncGroup/Heartbeat; the group it names reaches the Fetch spans.
    let all = spans(&["-q", "--api", "all", "testdata/java-group-848.pcap"]);
    let keys: BTreeSet<i64> = all.iter().map(api).collect();
    assert!(keys.contains(&68));
    for k in [11, 12, 14] {
        assert!(
            !keys.contains(&k),
            "classic group API {k} in a KIP-848 group"
        );
    }
    assert_eq!(
        all.iter().filter(|s| api(s) == 68).count(),
        tshark_requests("java-group-848")[&68]
    );
    for s in all.iter().filter(|s| api(s) == 1) {
        assert_eq!(
            str_attr(s, "messaging.consumer.group.name").as_deref(),
            Some("kapture-consumer")
        );
    }
    // the classic group: JoinGroup (twice: MEMBER_ID_REQUIRED first) and SyncGroup
    let classic = spans(&["-q", "--api", "all", "testdata/java-group-classic.pcap"]);
    assert_eq!(classic.iter().filter(|s| api(s) == 11).count(), 2);
    assert!(classic.iter().all(|s| api(s) != 68));
}

#[test]
fn transactions_and_read_committed() {
    // Rec.java txn: three transactions of 5 records (commit, abort, commit) to txn (2
    // partitions); Rec.java committed reads them with isolation.level=read_committed.
    let all = spans(&["-q", "--api", "all", "testdata/java-txn.pcap"]);
    let tshark = tshark_requests("java-txn");
    for (key, name) in [
        (24, "add_partitions_to_txn"),
        (26, "end_txn"),
        (27, "write_txn_markers"),
    ] {
        let ours: Vec<&Span> = all.iter().filter(|s| api(s) == key).collect();
        assert_eq!(ours.len(), tshark[&key], "{name}");
        assert!(ours.iter().all(|s| s.name == name));
    }
    assert_eq!(
        all.iter().filter(|s| api(s) == 26).count(),
        3,
        "one EndTxn per transaction"
    );
    let produce: Vec<&Span> = all.iter().filter(|s| api(s) == 0).collect();
    let produced: i64 = produce
        .iter()
        .map(|s| int_attr(s, "messaging.batch.message_count").unwrap())
        .sum();
    assert_eq!(produced, 15);
    for s in &produce {
        assert_eq!(
            str_attr(s, "messaging.destination.name").as_deref(),
            Some("txn")
        );
    }
    // The read_committed Fetch carries every data record, the aborted ones too (the
    // consumer drops them, using the aborted-transaction list), and the transaction
    // markers, which kapture does not count as messages; tshark's batch count includes
    // the markers' records, so it is higher.
    let theirs = tshark_fetch_records("java-txn");
    let fetched: Vec<&Span> = all
        .iter()
        .filter(|s| api(s) == 1 && int_attr(s, "messaging.batch.message_count").unwrap_or(0) > 0)
        .collect();
    assert_eq!(fetched.len(), 1);
    let f = fetched[0];
    assert_eq!(
        str_attr(f, "kapture.fetch.isolation_level").as_deref(),
        Some("read_committed")
    );
    assert_eq!(int_attr(f, "messaging.batch.message_count"), Some(15));
    let key = (
        int_attr(f, "client.port").unwrap(),
        int_attr(f, "kapture.correlation_id").unwrap(),
    );
    assert!(theirs[&key] > 15, "tshark counts the marker records too");
    let aborted: i64 = f
        .events
        .iter()
        .flat_map(|e| &e.attributes)
        .filter(|kv| kv.key == "kapture.aborted_transactions")
        .filter_map(
            |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(opentelemetry_proto::tonic::common::v1::any_value::Value::IntValue(i)) => {
                    Some(*i)
                }
                _ => None,
            },
        )
        .sum();
    assert!(aborted >= 1, "the aborted transaction is listed");
}

#[test]
fn failover_not_leader_then_the_new_leader() {
    // 3-broker cluster; node 2 (port 9094) is stopped (controlled shutdown) while a
    // producer sends one record each 50 ms to fo (3 partitions, replication 3). tshark
    // 4.4 does not decode Produce v13 responses; decoded by hand, the response with
    // correlation id 44 on client port 48570 (frame 168) holds topic id
    // 6279e622-afd0-4335-b863-8d3af47d2320 (fo, from `kafka-topics --describe`),
    // partition 0, error code 6.
    let all = spans(&["-q", "--api", "all", "testdata/java-failover.pcap"]);
    let produce: Vec<&Span> = all.iter().filter(|s| api(s) == 0).collect();
    assert_eq!(produce.len(), tshark_requests("java-failover")[&0]);
    let failed: Vec<&Span> = produce
        .iter()
        .copied()
        .filter(|s| str_attr(s, "error.type").is_some())
        .collect();
    assert!(!failed.is_empty());
    let first = failed
        .iter()
        .min_by_key(|s| s.start_time_unix_nano)
        .unwrap();
    assert_eq!(int_attr(first, "client.port"), Some(48570));
    assert_eq!(int_attr(first, "kapture.correlation_id"), Some(44));
    assert_eq!(
        str_attr(first, "error.type").as_deref(),
        Some("NOT_LEADER_OR_FOLLOWER")
    );
    assert_eq!(int_attr(first, "kapture.error_code"), Some(6));
    assert_eq!(
        str_attr(first, "messaging.destination.name").as_deref(),
        Some("fo")
    );
    assert_eq!(
        str_attr(first, "messaging.destination.partition.id").as_deref(),
        Some("0")
    );
    let old = int_attr(first, "server.port").unwrap();
    assert_eq!(old, 9094);
    // The client refreshes Metadata and sends partition 0 to another broker, where it
    // succeeds.
    let later_metadata = all
        .iter()
        .any(|s| api(s) == 3 && s.start_time_unix_nano > first.end_time_unix_nano);
    assert!(later_metadata);
    let moved = produce.iter().any(|s| {
        s.start_time_unix_nano > first.end_time_unix_nano
            && str_attr(s, "messaging.destination.partition.id").as_deref() == Some("0")
            && int_attr(s, "server.port").unwrap() != old
            && str_attr(s, "error.type").is_none()
    });
    assert!(moved, "partition 0 goes to the new leader");
}

#[test]
fn sasl_plain_password_never_reaches_the_spans() {
    // kafka.sh's SASL listener: user kapture, password kapture-pw-7f3a9c. The Java
    // client sends it in SaslAuthenticate v2 (PLAIN: \0user\0password).
    const PASSWORD: &[u8] = b"kapture-pw-7f3a9c";
    let pcap = std::fs::read(testdata("java-sasl.pcap")).unwrap();
    assert!(
        pcap.windows(PASSWORD.len()).any(|w| w == PASSWORD),
        "the capture holds the password"
    );
    for args in [
        &["--api", "all", "testdata/java-sasl.pcap"][..],
        &[
            "--api",
            "all",
            "--summary",
            "json",
            "testdata/java-sasl.pcap",
        ][..],
    ] {
        let out = kapture(args);
        assert!(out.status.code().unwrap_or(9) <= 1, "{out:?}");
        for stream in [&out.stdout, &out.stderr] {
            assert!(
                !stream.windows(PASSWORD.len()).any(|w| w == PASSWORD),
                "{args:?}: the password is in kapture's output"
            );
            assert!(!stream.windows(7).any(|w| w == b"kapture\0"));
        }
    }
    let all = spans(&["-q", "--api", "all", "testdata/java-sasl.pcap"]);
    let tshark = tshark_requests("java-sasl");
    for (key, name) in [(17, "sasl_handshake"), (36, "sasl_authenticate")] {
        let ours: Vec<&Span> = all.iter().filter(|s| api(s) == key).collect();
        assert_eq!(ours.len(), tshark[&key], "{name}");
        for s in ours {
            assert_eq!(s.name, name);
            assert_eq!(
                str_attr(s, "kapture.response.state").as_deref(),
                Some("paired")
            );
            for kv in &s.attributes {
                let v = format!("{:?}", kv.value);
                assert!(!v.contains("kapture-pw"), "{}: {v}", kv.key);
            }
        }
    }
    // authenticated connections go on to Produce and Fetch
    assert!(all.iter().any(|s| api(s) == 0));
    assert!(all.iter().any(|s| api(s) == 1));
}

#[test]
fn tls_listener_is_detected_and_makes_no_spans() {
    // kafka.sh's SSL listener on 9092, a producer of 5 records. tshark with
    // `-d tcp.port==9092,tls` finds a ClientHello on each of its 2 TCP connections
    // (bootstrap and broker) and, decoding 9092 as Kafka, no Kafka at all.
    let out = kapture([
        "--api",
        "all",
        "--summary",
        "json",
        "testdata/tls-java.pcap",
    ]);
    assert!(out.status.code().unwrap_or(9) <= 1, "{out:?}");
    assert!(
        parse_spans(&out.stdout).is_empty(),
        "no spans from TLS bytes"
    );
    let summary = kapture([
        "--api",
        "all",
        "--no-spans",
        "--summary",
        "json",
        "testdata/tls-java.pcap",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&summary.stdout)
        .or_else(|_| serde_json::from_slice(&summary.stderr))
        .expect("summary JSON");
    assert_eq!(json["connections"]["tcp"], 2);
    assert_eq!(json["connections"]["tls"], 2);
    assert_eq!(json["connections"]["kafka"], 0);
    assert_eq!(json["exchanges"]["found"], 0);
    assert_eq!(json["skipped"]["resync_skipped_bytes"], 0);
    let tsv = std::fs::read_to_string(testdata("tls-java.tshark.tsv")).unwrap();
    assert_eq!(tsv.lines().count(), 1, "tshark: header only");
}
