//! End-to-end cases no real capture here holds, built with kapture's test kit
//! (kafka-protocol encoders + etherparse packets): topic ids that nothing names (and
//! `--topic-map`), a decompression bomb, a response that never came, and a Produce
//! that failed in some of its partitions only.

mod common;

use std::io::Read;

use bytes::Bytes;
use common::*;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    FetchRequest, FetchResponse, ProduceRequest, ProduceResponse, fetch_request, fetch_response,
};
use kapture::testkit::{self, Conversation, Side};

const MS: i64 = 1_000_000;
const TOPIC_ID: [u8; 16] = [
    0x01, 0x9a, 0, 0, 0, 0, 0x70, 0, 0x80, 0, 0, 0, 0, 0, 0, 0x42,
];
const TOPIC_ID_TEXT: &str = "019a0000-0000-7000-8000-000000000042";

fn write_capture(name: &str, conv: &Conversation) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "kapture-crafted-{}-{name}.pcap",
        std::process::id()
    ));
    std::fs::write(&path, testkit::pcap(&conv.packets)).unwrap();
    path
}

/// A Fetch v13 by topic id, answered with 3 uncompressed records; no Metadata.
fn fetch_by_topic_id() -> Conversation {
    let mut conv = Conversation::new(41000, 9092, 7, 9);
    conv.handshake(0, MS, 2 * MS);
    let id = uuid::Uuid::from_bytes(TOPIC_ID);
    let request = FetchRequest::default()
        .with_max_wait_ms(500)
        .with_topics(vec![
            fetch_request::FetchTopic::default()
                .with_topic_id(id)
                .with_partitions(vec![
                    fetch_request::FetchPartition::default()
                        .with_partition(4)
                        .with_fetch_offset(100),
                ]),
        ]);
    // Three records of length 0 would not decode; records themselves are not read for
    // counts, only the batch header.
    let batch = testkit::record_batch(100, 0, 3, &[]);
    let response = FetchResponse::default().with_responses(vec![
        fetch_response::FetchableTopicResponse::default()
            .with_topic_id(id)
            .with_partitions(vec![
                fetch_response::PartitionData::default()
                    .with_partition_index(4)
                    .with_high_watermark(103)
                    .with_records(Some(Bytes::from(batch))),
            ]),
    ]);
    conv.send(
        Side::Client,
        3 * MS,
        &testkit::request_frame(1, 13, 5, Some("c"), &request),
    );
    conv.send(
        Side::Broker,
        9 * MS,
        &testkit::response_frame(1, 13, 5, &response),
    );
    conv
}

#[test]
fn unnamed_topic_ids_stay_visible_and_a_topic_map_names_them() {
    let path = write_capture("topic-ids", &fetch_by_topic_id());
    let out = kapture(["--api", "fetch", path.to_str().unwrap()]);
    let spans = parse_spans(&out.stdout);
    assert_eq!(spans.len(), 1);
    let s = &spans[0];
    assert_eq!(s.name, format!("fetch {TOPIC_ID_TEXT}"));
    assert_eq!(
        str_attr(s, "messaging.destination.name").as_deref(),
        Some(TOPIC_ID_TEXT)
    );
    assert_eq!(int_attr(s, "messaging.batch.message_count"), Some(3));
    // Three messages: no single message's offset on the span.
    assert_eq!(int_attr(s, "messaging.kafka.offset"), None);
    assert_eq!(int_attr(s, "kapture.fetch.high_watermark"), Some(103));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("1 topic ids no Metadata response or --topic-map named"),
        "{err}"
    );

    let map = path.with_extension("map");
    std::fs::write(
        &map,
        format!("# kafka-topics --describe\n{TOPIC_ID_TEXT} orders\n"),
    )
    .unwrap();
    let out = kapture([
        "-q",
        "--api",
        "fetch",
        "--topic-map",
        map.to_str().unwrap(),
        path.to_str().unwrap(),
    ]);
    let s = &parse_spans(&out.stdout)[0];
    assert_eq!(s.name, "fetch orders");
    assert!(str_attr(s, "kapture.topic_ids.unresolved").is_none());
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_file(&map).unwrap();
}

#[test]
fn a_decompression_bomb_stops_at_the_cap_and_is_reported() {
    // 256 MiB of zeros, gzip: about 256 KiB on the wire.
    let mut gz = flate2::read::GzEncoder::new(
        std::io::repeat(0).take(256 << 20),
        flate2::Compression::fast(),
    );
    let mut bomb = Vec::new();
    gz.read_to_end(&mut bomb).unwrap();
    let batch = testkit::record_batch(0, 1, i32::MAX, &bomb);
    let request = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(kafka_protocol::messages::TopicName(
                    kafka_protocol::protocol::StrBytes::from_static_str("bombs"),
                ))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(Bytes::from(batch))),
                ]),
        ]);
    let mut conv = Conversation::new(41001, 9092, 1, 2);
    conv.handshake(0, MS, 2 * MS);
    let frame = testkit::request_frame(0, 9, 1, Some("p"), &request);
    let cuts: Vec<usize> = (1..)
        .map(|i| i * 60000)
        .take_while(|&c| c < frame.len())
        .collect();
    let times: Vec<i64> = (0..=cuts.len() as i64).map(|i| 3 * MS + i * 1000).collect();
    conv.send_split(Side::Client, &frame, &cuts, &times);
    conv.send(
        Side::Broker,
        20 * MS,
        &testkit::response_frame(0, 9, 1, &ProduceResponse::default()),
    );
    let path = write_capture("bomb", &conv);
    let started = std::time::Instant::now();
    let out = kapture([
        "--max-batch-decompressed-bytes",
        "1048576",
        path.to_str().unwrap(),
    ]);
    assert!(started.elapsed().as_secs() < 10);
    assert_eq!(out.status.code(), Some(1), "a cap hit is a warning");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("1 record batches whose decompression hit a cap"),
        "{err}"
    );
    let s = &parse_spans(&out.stdout)[0];
    assert_eq!(int_attr(s, "kapture.records.decompression_capped"), Some(1));
    assert_eq!(s.name, "produce bombs");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_request_without_response_ends_at_its_own_last_byte() {
    let mut conv = Conversation::new(41002, 9092, 1, 2);
    conv.handshake(0, MS, 2 * MS);
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1000);
    let frame = testkit::request_frame(0, 9, 1, Some("p"), &request);
    conv.send_split(Side::Client, &frame, &[10], &[3 * MS, 4 * MS]);
    let path = write_capture("no-response", &conv);
    let out = kapture(["-q", path.to_str().unwrap()]);
    let s = &parse_spans(&out.stdout)[0];
    assert_eq!(
        str_attr(s, "kapture.response.state").as_deref(),
        Some("not_captured")
    );
    assert_eq!(
        (s.start_time_unix_nano, s.end_time_unix_nano),
        (3 * MS as u64, 4 * MS as u64)
    );
    assert_eq!(int_attr(s, "kapture.write_ns"), Some(MS));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn produce_v13_by_topic_id_with_a_partition_error() {
    use kafka_protocol::messages::produce_response::{
        PartitionProduceResponse, TopicProduceResponse,
    };
    let id = uuid::Uuid::from_bytes(TOPIC_ID);
    let batch = testkit::record_batch(0, 0, 2, &[]);
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_topic_id(id)
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(2)
                        .with_records(Some(Bytes::from(batch))),
                ]),
        ]);
    let response = ProduceResponse::default().with_responses(vec![
        TopicProduceResponse::default()
            .with_topic_id(id)
            .with_partition_responses(vec![
                PartitionProduceResponse::default()
                    .with_index(2)
                    .with_error_code(6)
                    .with_base_offset(-1),
            ]),
    ]);
    let mut conv = Conversation::new(41003, 9092, 1, 2);
    conv.handshake(0, MS, 2 * MS);
    conv.send(
        Side::Client,
        3 * MS,
        &testkit::request_frame(0, 13, 9, Some("p13"), &request),
    );
    conv.send(
        Side::Broker,
        4 * MS,
        &testkit::response_frame(0, 13, 9, &response),
    );
    let path = write_capture("produce-v13", &conv);
    let map = path.with_extension("map");
    std::fs::write(&map, format!("{TOPIC_ID_TEXT} orders\n")).unwrap();
    let out = kapture([
        "-q",
        "--topic-map",
        map.to_str().unwrap(),
        path.to_str().unwrap(),
    ]);
    let s = &parse_spans(&out.stdout)[0];
    assert_eq!(s.name, "produce orders");
    assert_eq!(int_attr(s, "kapture.api_version"), Some(13));
    assert_eq!(
        str_attr(s, "messaging.destination.partition.id").as_deref(),
        Some("2")
    );
    assert_eq!(int_attr(s, "messaging.batch.message_count"), Some(2));
    assert_eq!(
        str_attr(s, "error.type").as_deref(),
        Some("NOT_LEADER_OR_FOLLOWER")
    );
    assert_eq!(s.status.as_ref().unwrap().code, 2);
    assert_eq!(
        s.status.as_ref().unwrap().message,
        "NOT_LEADER_OR_FOLLOWER on orders-2"
    );
    assert!(
        int_attr(s, "messaging.kafka.offset").is_none(),
        "no offset for a failed produce"
    );
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_file(&map).unwrap();
}

#[test]
fn errors_in_some_partitions_only_leave_the_status_unset_with_a_message() {
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::messages::produce_response::{
        PartitionProduceResponse, TopicProduceResponse,
    };
    use kafka_protocol::protocol::StrBytes;
    let partition = |i: i32| {
        PartitionProduceData::default()
            .with_index(i)
            .with_records(Some(Bytes::from(testkit::record_batch(0, 0, 1, &[]))))
    };
    let name = || TopicName(StrBytes::from_static_str("orders"));
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name())
                .with_partition_data((0..3).map(partition).collect()),
        ]);
    let answer = |i: i32, error: i16| {
        PartitionProduceResponse::default()
            .with_index(i)
            .with_error_code(error)
            .with_base_offset(if error == 0 { 7 } else { -1 })
    };
    let respond = |errors: [i16; 3]| {
        ProduceResponse::default().with_responses(vec![
            TopicProduceResponse::default()
                .with_name(name())
                .with_partition_responses((0..3).map(|i| answer(i, errors[i as usize])).collect()),
        ])
    };
    let mut conv = Conversation::new(41004, 9092, 1, 2);
    conv.handshake(0, MS, 2 * MS);
    let exchanges = [(1, [0, 6, 0]), (2, [6, 6, 6])];
    for (id, errors) in exchanges {
        let t = i64::from(id) * 10 * MS;
        conv.send(
            Side::Client,
            t,
            &testkit::request_frame(0, 9, id, Some("p"), &request),
        );
        conv.send(
            Side::Broker,
            t + MS,
            &testkit::response_frame(0, 9, id, &respond(errors)),
        );
    }
    let path = write_capture("partial-errors", &conv);
    let out = kapture(["-q", path.to_str().unwrap()]);
    let spans = parse_spans(&out.stdout);
    assert_eq!(spans.len(), 2);
    // One partition of three failed: the Produce as a whole did not.
    let partly = &spans[0];
    let status = partly.status.as_ref().unwrap();
    assert_eq!(status.code, 0);
    assert_eq!(
        status.message,
        "1 of 3 partitions failed, first: NOT_LEADER_OR_FOLLOWER on orders-1"
    );
    assert_eq!(str_attr(partly, "error.type"), None);
    assert_eq!(int_attr(partly, "kapture.partitions.errors"), Some(1));
    let failed_events: Vec<_> = partly
        .events
        .iter()
        .filter(|e| e.attributes.iter().any(|kv| kv.key == "error.type"))
        .collect();
    assert_eq!(failed_events.len(), 1);
    // Every partition failed: the operation failed.
    let failed = &spans[1];
    assert_eq!(failed.status.as_ref().unwrap().code, 2);
    assert_eq!(
        str_attr(failed, "error.type").as_deref(),
        Some("NOT_LEADER_OR_FOLLOWER")
    );
    assert_eq!(int_attr(failed, "kapture.partitions.errors"), None);
    std::fs::remove_file(&path).unwrap();
}
