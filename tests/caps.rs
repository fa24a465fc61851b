//! The memory caps, one test each, on crafted captures (kapture's test kit): which
//! connections go first, what their waiting requests become, what is counted; and
//! that on the real testdata captures the caps and their checkpoints change nothing.

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiVersionsRequest, FetchRequest, FetchResponse, ProduceRequest, fetch_request, fetch_response,
    produce_request,
};
use kapture::caps::{Cap, Caps, Eviction, HALF_OPEN_STATE_BYTES, LIVE_STATE_BYTES};
use kapture::pipeline::{PipelineConfig, process_capture};
use kapture::summary::Summary;
use kapture::testkit::{self, Conversation, CraftedPacket, Side};

const MS: i64 = 1_000_000;
/// Capture time of the first packet; connections start 10 ms apart.
const T0: i64 = 1_796_083_200_000_000_000;

fn config(caps: Caps) -> PipelineConfig {
    PipelineConfig {
        apis: kapture::kafka::api::ApiSet::all(),
        caps,
        ..Default::default()
    }
}

/// Runs the pipeline on `packets`: the summary and the spans, in output order.
fn run(packets: &[CraftedPacket], caps: Caps, threads: usize) -> (Summary, Vec<String>) {
    let mut summary = Summary::default();
    let config = PipelineConfig {
        threads,
        ..config(caps)
    };
    let conns = process_capture(&testkit::pcap(packets), 0, &config, &mut summary).unwrap();
    let spans = conns
        .into_iter()
        .flat_map(|c| c.spans)
        .map(|s| String::from_utf8(s).unwrap())
        .collect();
    (summary, spans)
}

fn start(i: usize) -> i64 {
    T0 + i as i64 * 10 * MS
}

/// Connection `i`: a SYN and nothing more.
fn syn_only(i: usize) -> Conversation {
    let mut c = Conversation::new(20_000 + i as u16, 9092, 1000 * i as u32, 7);
    c.raw(Side::Client, start(i), 1000 * i as u32, &[], true, false);
    c
}

/// Connection `i`: a handshake and `requests` ApiVersions requests, never answered.
fn unanswered(i: usize, requests: i32) -> Conversation {
    let mut c = Conversation::new(20_000 + i as u16, 9092, 1000 * i as u32, 7);
    c.handshake(start(i), start(i) + 1, start(i) + 2);
    for n in 0..requests {
        let frame = testkit::request_frame(18, 3, n, Some("c"), &ApiVersionsRequest::default());
        c.send(Side::Client, start(i) + 3 + i64::from(n), &frame);
    }
    c
}

fn merged(convs: &[Conversation]) -> Vec<CraftedPacket> {
    testkit::merge(&convs.iter().collect::<Vec<_>>())
}

/// Client ports of the spans whose response state is `state`, in output order.
fn ports_with_state(spans: &[String], state: &str) -> Vec<u16> {
    spans
        .iter()
        .filter_map(|s| {
            let span: serde_json::Value = serde_json::from_str(s).expect("span JSON");
            let attr = |key: &str| {
                span["attributes"]
                    .as_array()
                    .expect("attributes")
                    .iter()
                    .find(|a| a["key"] == key)
                    .map(|a| a["value"].clone())
            };
            let matches = attr("kapture.response.state").is_some_and(|v| v["stringValue"] == state);
            let port = attr("client.port")?["intValue"].as_str()?.parse().ok()?;
            matches.then_some(port)
        })
        .collect()
}

#[test]
fn at_the_connection_cap_half_open_connections_go_first() {
    let mut convs: Vec<Conversation> = (0..6).map(syn_only).collect();
    convs.extend((6..10).map(|i| unanswered(i, 1)));
    let caps = Caps {
        max_connections: 5,
        ..Caps::default()
    };
    let (summary, spans) = run(&merged(&convs), caps, 2);
    assert_eq!(summary.caps.evicted.get(&Eviction::HalfOpen), Some(&5));
    assert_eq!(summary.caps.evicted_total(), 5);
    // The requests were all on connections kept: none was evicted.
    assert_eq!(summary.exchanges.evicted, 0);
    assert_eq!(summary.exchanges.not_captured, 4);
    assert_eq!(ports_with_state(&spans, "not_captured").len(), 4);
    assert!(summary.caps.hit.contains_key(&Cap::Connections));
    assert!(
        summary.has_losses(),
        "a cap hit is a reason for exit status 1"
    );
    let text = summary.to_string();
    assert!(text.contains("--max-connections raises it"), "{text}");
}

#[test]
fn at_the_connection_cap_the_longest_quiet_go_and_their_requests_become_evicted_spans() {
    let convs: Vec<Conversation> = (0..8).map(|i| unanswered(i, 1)).collect();
    let caps = Caps {
        max_connections: 3,
        ..Caps::default()
    };
    let (summary, spans) = run(&merged(&convs), caps, 2);
    assert_eq!(summary.caps.evicted.get(&Eviction::Idle), Some(&5));
    assert_eq!(summary.exchanges.evicted, 5);
    assert_eq!(summary.caps.unanswered_by_eviction, 5);
    // The five oldest went, in the order they were evicted.
    assert_eq!(
        ports_with_state(&spans, "evicted"),
        vec![20_000, 20_001, 20_002, 20_003, 20_004]
    );
    assert_eq!(
        ports_with_state(&spans, "not_captured"),
        vec![20_005, 20_006, 20_007]
    );
    let evicted = spans.iter().find(|s| s.contains("evicted")).unwrap();
    assert!(
        evicted.contains(kapture::span::EVICTED_MESSAGE),
        "{evicted}"
    );
    let json: serde_json::Value = serde_json::from_str(&summary.json_text()).unwrap();
    assert_eq!(json["memory_caps"]["evicted"]["idle"], 5);
    assert_eq!(json["exchanges"]["evicted"], 5);
    assert!(
        json["warnings"][0]
            .as_str()
            .unwrap()
            .contains("--max-connections")
    );
}

#[test]
fn the_connection_state_bytes_cap_evicts_as_the_count_cap_does() {
    let convs: Vec<Conversation> = (0..8).map(|i| unanswered(i, 1)).collect();
    let caps = Caps {
        max_connection_bytes: 3 * LIVE_STATE_BYTES + HALF_OPEN_STATE_BYTES,
        ..Caps::default()
    };
    let (summary, spans) = run(&merged(&convs), caps, 1);
    assert!(summary.caps.hit.contains_key(&Cap::ConnectionBytes));
    assert!(!summary.caps.hit.contains_key(&Cap::Connections));
    let evicted = summary.caps.evicted_total();
    assert!((5..=6).contains(&evicted), "{:?}", summary.caps);
    assert_eq!(ports_with_state(&spans, "evicted").len() as u64, evicted);
    assert_eq!(spans.len(), 8, "every request is a span, evicted or not");
}

/// Connection `i`: a handshake, then the first `sent` bytes of a Produce request of
/// about 1 MB.
fn big_frame_begun(i: usize, sent: usize) -> Conversation {
    let mut c = Conversation::new(20_000 + i as u16, 9092, 1000 * i as u32, 7);
    c.handshake(start(i), start(i) + 1, start(i) + 2);
    let records = testkit::record_batch(0, 0, 1, &vec![7u8; 1 << 20]);
    let request = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![
            produce_request::TopicProduceData::default()
                .with_name(kafka_protocol::messages::TopicName(
                    kafka_protocol::protocol::StrBytes::from_static_str("t"),
                ))
                .with_partition_data(vec![
                    produce_request::PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(Bytes::from(records))),
                ]),
        ]);
    let frame = testkit::request_frame(0, 9, 1, Some("c"), &request);
    for (n, piece) in frame[..sent].chunks(60_000).enumerate() {
        c.send(Side::Client, start(i) + 3 + n as i64, piece);
    }
    c
}

/// Packets after the interesting ones, so that checkpoints come after them.
fn padding(from: usize, n: usize) -> Vec<Conversation> {
    (from..from + n).map(syn_only).collect()
}

#[test]
fn past_the_reassembly_cap_the_connections_holding_most_are_evicted() {
    let mut convs: Vec<Conversation> = (0..4).map(|i| big_frame_begun(i, 200_000)).collect();
    convs.extend(padding(4, 20));
    let caps = Caps {
        max_reassembly_bytes: 500_000,
        checkpoint_packets: 4,
        ..Caps::default()
    };
    let (summary, _) = run(&merged(&convs), caps, 2);
    assert!(
        summary.caps.hit.contains_key(&Cap::ReassemblyBytes),
        "{:?}",
        summary.caps
    );
    // Three held 600 kB at the first checkpoint past the cap: two went (down to the
    // goal, three quarters of the cap); the fourth then stays under it.
    assert_eq!(
        summary.caps.evicted.get(&Eviction::ReassemblyBytes),
        Some(&2)
    );
    // Their requests, cut short, became spans marked evicted.
    assert_eq!(summary.caps.unanswered_by_eviction, 2);
    // Under the default cap nothing happens.
    let (calm, _) = run(&merged(&convs), Caps::default(), 2);
    assert!(calm.caps.is_empty(), "{:?}", calm.caps);
}

#[test]
fn past_the_waiting_requests_cap_the_connections_with_most_waiting_are_evicted() {
    let mut convs: Vec<Conversation> = (0..5).map(|i| unanswered(i, 2 + i as i32)).collect();
    convs.extend(padding(5, 20));
    let caps = Caps {
        max_waiting_requests: 12,
        checkpoint_packets: 4,
        ..Caps::default()
    };
    let (summary, spans) = run(&merged(&convs), caps, 3);
    assert!(summary.caps.hit.contains_key(&Cap::WaitingRequests));
    let evicted = summary
        .caps
        .evicted
        .get(&Eviction::WaitingRequests)
        .copied();
    assert!(evicted.is_some_and(|n| n >= 1), "{:?}", summary.caps);
    // The connection with the most (6 requests, port 20004) went first.
    let ports = ports_with_state(&spans, "evicted");
    assert!(ports.contains(&20_004), "{ports:?}");
    assert_eq!(summary.exchanges.evicted, ports.len() as u64);
    assert_eq!(summary.exchanges.total, 2 + 3 + 4 + 5 + 6);
}

const TOPIC_ID: [u8; 16] = [
    0x01, 0x9a, 0, 0, 0, 0, 0x70, 0, 0x80, 0, 0, 0, 0, 0, 0, 0x42,
];

/// Connection `i`: a Fetch v13 by topic id, answered; no Metadata names the id.
fn fetch_by_id(i: usize) -> Conversation {
    let mut c = Conversation::new(20_000 + i as u16, 9092, 1000 * i as u32, 7);
    c.handshake(start(i), start(i) + 1, start(i) + 2);
    let id = uuid::Uuid::from_bytes(TOPIC_ID);
    let request = FetchRequest::default().with_topics(vec![
        fetch_request::FetchTopic::default()
            .with_topic_id(id)
            .with_partitions(vec![fetch_request::FetchPartition::default()]),
    ]);
    let response = FetchResponse::default().with_responses(vec![
        fetch_response::FetchableTopicResponse::default()
            .with_topic_id(id)
            .with_partitions(vec![fetch_response::PartitionData::default()]),
    ]);
    c.send(
        Side::Client,
        start(i) + 3,
        &testkit::request_frame(1, 13, 5, Some("c"), &request),
    );
    c.send(
        Side::Broker,
        start(i) + 4,
        &testkit::response_frame(1, 13, 5, &response),
    );
    c
}

#[test]
fn past_the_unnamed_cap_exchanges_stop_waiting_for_a_name() {
    let mut convs: Vec<Conversation> = (0..4).map(fetch_by_id).collect();
    convs.extend(padding(4, 20));
    let caps = Caps {
        max_unnamed_spans: 1,
        checkpoint_packets: 4,
        ..Caps::default()
    };
    let (summary, spans) = run(&merged(&convs), caps, 2);
    assert!(
        summary.caps.hit.contains_key(&Cap::UnnamedSpans),
        "{:?}",
        summary.caps
    );
    assert!(summary.caps.released_unnamed >= 1, "{:?}", summary.caps);
    assert_eq!(summary.written_unnamed, 4);
    assert_eq!(spans.len(), 4);
    let (calm, calm_spans) = run(&merged(&convs), Caps::default(), 2);
    assert_eq!(calm.caps.released_unnamed, 0);
    assert_eq!(calm.written_unnamed, 4);
    // The same spans, only written sooner.
    let (mut a, mut b) = (spans.clone(), calm_spans.clone());
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

#[test]
fn caps_decide_the_same_for_any_number_of_threads() {
    let mut convs: Vec<Conversation> = (0..12).map(|i| unanswered(i, 1 + (i % 4) as i32)).collect();
    convs.extend((12..16).map(|i| big_frame_begun(i, 120_000)));
    convs.extend((16..20).map(fetch_by_id));
    convs.extend(padding(20, 30));
    let caps = Caps {
        max_connections: 9,
        max_reassembly_bytes: 250_000,
        max_waiting_requests: 10,
        max_unnamed_spans: 1,
        checkpoint_packets: 5,
        ..Caps::default()
    };
    let packets = merged(&convs);
    let (one, spans_one) = run(&packets, caps, 1);
    assert!(one.caps.evicted_total() > 0);
    for threads in [2, 3, 4] {
        let (many, spans_many) = run(&packets, caps, threads);
        let first_difference = spans_one.iter().zip(&spans_many).position(|(a, b)| a != b);
        let show = |s: &str| {
            let v: serde_json::Value = serde_json::from_str(s).unwrap();
            let attrs: Vec<String> = v["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| {
                    [
                        "client.port",
                        "kapture.response.state",
                        "kapture.correlation_id",
                    ]
                    .contains(&a["key"].as_str().unwrap())
                })
                .map(|a| a["value"].to_string())
                .collect();
            format!("{} {}", v["name"], attrs.join(" "))
        };
        assert_eq!(
            (spans_many.len(), first_difference),
            (spans_one.len(), None),
            "{threads} threads: {:?} vs {:?}",
            spans_one
                .iter()
                .map(|s| show(s))
                .skip(first_difference.unwrap_or(0))
                .take(4)
                .collect::<Vec<_>>(),
            spans_many
                .iter()
                .map(|s| show(s))
                .skip(first_difference.unwrap_or(0))
                .take(4)
                .collect::<Vec<_>>()
        );
        assert_eq!(many.caps, one.caps, "{threads} threads");
    }
}

#[test]
fn on_the_testdata_captures_the_caps_and_checkpoints_change_nothing() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    names.sort();
    assert!(names.len() > 20);
    let unlimited = Caps {
        max_connections: u64::MAX,
        max_connection_bytes: u64::MAX,
        max_reassembly_bytes: u64::MAX,
        max_waiting_requests: u64::MAX,
        max_unnamed_spans: u64::MAX,
        checkpoint_packets: u64::MAX,
        checkpoint_bytes: u64::MAX,
    };
    let frequent = Caps {
        checkpoint_packets: 3,
        ..Caps::default()
    };
    for path in names {
        let bytes = std::fs::read(&path).unwrap();
        let spans = |caps: Caps| {
            let mut summary = Summary::default();
            let conns = process_capture(&bytes, 0, &config(caps), &mut summary).unwrap();
            assert!(
                summary.caps.is_empty(),
                "{}: {:?}",
                path.display(),
                summary.caps
            );
            conns.into_iter().flat_map(|c| c.spans).collect::<Vec<_>>()
        };
        let base = spans(unlimited);
        assert_eq!(spans(Caps::default()), base, "{}", path.display());
        assert_eq!(spans(frequent), base, "{}", path.display());
    }
}

#[test]
fn what_the_caps_did_survives_summary_merge() {
    let convs: Vec<Conversation> = (0..8).map(|i| unanswered(i, 1)).collect();
    let caps = Caps {
        max_connections: 3,
        ..Caps::default()
    };
    let (summary, _) = run(&merged(&convs), caps, 2);
    let dir = std::env::temp_dir().join(format!("kapture-caps-merge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let paths: Vec<_> = (0..2).map(|i| dir.join(format!("{i}.json"))).collect();
    for p in &paths {
        std::fs::write(p, summary.json_text()).unwrap();
    }
    let merged = kapture::merge::merge_files(&paths).unwrap();
    assert_eq!(merged.caps.evicted.get(&Eviction::Idle), Some(&10));
    assert_eq!(merged.caps.unanswered_by_eviction, 10);
    assert_eq!(merged.exchanges.evicted, 10);
    let text = merged.to_string();
    assert_eq!(
        text.matches("--max-connections raises it").count(),
        1,
        "{text}"
    );
    assert!(merged.has_losses());
    std::fs::remove_dir_all(&dir).unwrap();
}
