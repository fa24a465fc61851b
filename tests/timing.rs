//! Wire timing, proven to the nanosecond on crafted captures (kafka-protocol frames in
//! etherparse packets, via kapture's test kit), and checked on real ones: the phases
//! under every segmentation, retransmissions of the first and the last segment,
//! out-of-order arrival, pipelining, a response that starts before the request is
//! acknowledged; the round-trip estimates; and frame boundaries equal to tshark's.

mod common;

use std::collections::HashMap;

use common::*;
use kafka_protocol::messages::{
    MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse,
};
use kapture::testkit::{self, Conversation, Side};
use opentelemetry_proto::tonic::trace::v1::Span;

const US: i64 = 1_000;
const MS: i64 = 1_000_000;
const T0: i64 = 1_700_000_000 * 1_000_000_000;

fn produce_request(id: i32) -> Vec<u8> {
    let body = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1500);
    testkit::request_frame(0, 9, id, Some("timing"), &body)
}

fn produce_response(id: i32) -> Vec<u8> {
    testkit::response_frame(0, 9, id, &ProduceResponse::default())
}

fn run(conv: &Conversation, extra: &[&str]) -> Vec<Span> {
    let path = std::env::temp_dir().join(format!(
        "kapture-timing-{}-{:?}.pcap",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&path, testkit::pcap(&conv.packets)).unwrap();
    let mut args = vec!["-q", "--api", "all"];
    args.extend_from_slice(extra);
    args.push(path.to_str().unwrap());
    let out = kapture(&args);
    std::fs::remove_file(&path).unwrap();
    assert!(out.status.code().unwrap() <= 1, "{out:?}");
    parse_spans(&out.stdout)
}

fn opened() -> Conversation {
    let mut c = Conversation::new(45000, 9092, 1000, 9000);
    c.handshake(T0, T0 + 100 * US, T0 + 110 * US);
    c
}

/// (start, end, write, wait, read) of a span, relative to T0.
fn phases(s: &Span) -> (i64, i64, i64, i64, i64) {
    (
        s.start_time_unix_nano as i64 - T0,
        s.end_time_unix_nano as i64 - T0,
        int_attr(s, "kapture.write_ns").unwrap(),
        int_attr(s, "kapture.wait_ns").unwrap_or(-1),
        int_attr(s, "kapture.read_ns").unwrap_or(-1),
    )
}

#[test]
fn phases_are_exact_for_every_split_of_request_and_response() {
    let req = produce_request(1);
    let resp = produce_response(1);
    for cut in 1..req.len() {
        let rcut = 1 + cut % (resp.len() - 1);
        let mut c = opened();
        c.send_split(Side::Client, &req, &[cut], &[T0 + MS, T0 + MS + 30 * US]);
        c.send_split(
            Side::Broker,
            &resp,
            &[rcut],
            &[T0 + 3 * MS, T0 + 3 * MS + 7 * US],
        );
        let spans = run(&c, &[]);
        assert_eq!(spans.len(), 1, "cut {cut}");
        assert_eq!(
            phases(&spans[0]),
            (MS, 3 * MS + 7 * US, 30 * US, 2 * MS - 30 * US, 7 * US),
            "request cut at {cut}, response at {rcut}"
        );
        assert_eq!(int_attr(&spans[0], "kapture.tcp.retransmissions"), Some(0));
    }
}

#[test]
fn a_retransmitted_first_or_last_segment_keeps_its_first_time() {
    let req = produce_request(1);
    let resp = produce_response(1);
    let cut = 20;
    for retransmit_first in [true, false] {
        let mut c = opened();
        let seq0 = c.next_seq(Side::Client);
        c.send_split(Side::Client, &req, &[cut], &[T0 + MS, T0 + 2 * MS]);
        // The retransmission comes 5 ms later, before the response.
        let (seq, bytes) = if retransmit_first {
            (seq0, &req[..cut])
        } else {
            (seq0.wrapping_add(cut as u32), &req[cut..])
        };
        c.raw(Side::Client, T0 + 7 * MS, seq, bytes, false, true);
        c.send(Side::Broker, T0 + 9 * MS, &resp);
        let s = &run(&c, &[])[0];
        assert_eq!(
            phases(s),
            (MS, 9 * MS, MS, 7 * MS, 0),
            "first={retransmit_first}"
        );
        assert_eq!(int_attr(s, "kapture.tcp.retransmissions"), Some(1));
    }
}

#[test]
fn a_lost_first_segment_makes_the_retransmission_end_the_request() {
    // The first segment never reached the capture point; its retransmission did, after
    // the second one: the request starts with the second segment and ends with it.
    let req = produce_request(1);
    let cut = 20;
    let mut c = opened();
    let seq0 = c.next_seq(Side::Client);
    c.skip(Side::Client, cut as u32);
    c.send(Side::Client, T0 + 2 * MS, &req[cut..]);
    c.raw(Side::Client, T0 + 5 * MS, seq0, &req[..cut], false, true);
    c.send(Side::Broker, T0 + 6 * MS, &produce_response(1));
    let s = &run(&c, &[])[0];
    assert_eq!(phases(s), (2 * MS, 6 * MS, 3 * MS, MS, 0));
    assert_eq!(int_attr(s, "kapture.tcp.out_of_order"), Some(1));
}

#[test]
fn out_of_order_arrival_spans_both_packets() {
    let req = produce_request(1);
    let cut = 13;
    let mut c = opened();
    let seq0 = c.next_seq(Side::Client);
    // The second half is seen first.
    c.raw(
        Side::Client,
        T0 + MS,
        seq0.wrapping_add(cut as u32),
        &req[cut..],
        false,
        true,
    );
    c.raw(
        Side::Client,
        T0 + MS + 400 * US,
        seq0,
        &req[..cut],
        false,
        true,
    );
    c.skip(Side::Client, req.len() as u32);
    c.send(Side::Broker, T0 + 2 * MS, &produce_response(1));
    let s = &run(&c, &[])[0];
    assert_eq!(phases(s), (MS, 2 * MS, 400 * US, 600 * US, 0));
    assert_eq!(int_attr(s, "kapture.tcp.out_of_order"), Some(1));
}

#[test]
fn pipelined_requests_each_get_their_own_phases() {
    let mut c = opened();
    let mut frames = Vec::new();
    for id in 1..=3 {
        frames.extend(produce_request(id));
    }
    // All three requests in one segment, then the responses in three segments.
    c.send(Side::Client, T0 + MS, &frames);
    for id in 1..=3 {
        c.send(
            Side::Broker,
            T0 + MS + i64::from(id) * 100 * US,
            &produce_response(id),
        );
    }
    let spans = run(&c, &[]);
    let got: Vec<_> = spans.iter().map(phases).collect();
    assert_eq!(
        got,
        vec![
            (MS, MS + 100 * US, 0, 100 * US, 0),
            (MS, MS + 200 * US, 0, 200 * US, 0),
            (MS, MS + 300 * US, 0, 300 * US, 0),
        ]
    );
}

#[test]
fn a_response_before_the_request_is_acknowledged_uses_data_packets_only() {
    let req = produce_request(1);
    let mut c = opened();
    c.send_split(Side::Client, &req, &[10], &[T0 + MS, T0 + MS + 50 * US]);
    // The broker answers before any pure ACK; its late ACK and the client's ACK of
    // the response must not move any boundary.
    c.send(Side::Broker, T0 + MS + 80 * US, &produce_response(1));
    let broker_seq = c.next_seq(Side::Broker);
    c.raw(Side::Broker, T0 + 9 * MS, broker_seq, &[], false, true);
    c.raw(
        Side::Client,
        T0 + 10 * MS,
        c.next_seq(Side::Client),
        &[],
        false,
        true,
    );
    let s = &run(&c, &[])[0];
    assert_eq!(phases(s), (MS, MS + 80 * US, 50 * US, 30 * US, 0));
}

#[test]
fn phase_events_and_phase_spans() {
    let mut c = opened();
    c.send_split(
        Side::Client,
        &produce_request(1),
        &[10],
        &[T0 + MS, T0 + 2 * MS],
    );
    c.send_split(
        Side::Broker,
        &produce_response(1),
        &[5],
        &[T0 + 5 * MS, T0 + 6 * MS],
    );
    let spans = run(&c, &["--phase-spans"]);
    assert_eq!(spans.len(), 3);
    let main = &spans[0];
    let events: Vec<(&str, i64)> = main
        .events
        .iter()
        .map(|e| (e.name.as_str(), e.time_unix_nano as i64 - T0))
        .collect();
    assert_eq!(
        events[..2],
        [("request written", 2 * MS), ("response started", 5 * MS)]
    );
    let (write, read) = (&spans[1], &spans[2]);
    assert_eq!(
        (write.name.as_str(), read.name.as_str()),
        ("produce write", "produce read")
    );
    for child in [write, read] {
        assert_eq!(child.trace_id, main.trace_id);
        assert_eq!(child.parent_span_id, main.span_id);
        assert_ne!(child.span_id, main.span_id);
        assert_eq!(child.kind, 1, "INTERNAL");
    }
    let bounds = |s: &Span| {
        (
            s.start_time_unix_nano as i64 - T0,
            s.end_time_unix_nano as i64 - T0,
        )
    };
    assert_eq!(bounds(write), (MS, 2 * MS));
    assert_eq!(bounds(read), (5 * MS, 6 * MS));
}

#[test]
fn round_trips_from_a_crafted_handshake_with_a_known_delay() {
    // Captured at the client; the broker is 7 ms away, the client 20 µs.
    let mut c = Conversation::new(45001, 9092, 1, 2);
    c.handshake(T0, T0 + 7 * MS, T0 + 7 * MS + 20 * US);
    let meta = testkit::request_frame(3, 12, 1, Some("rtt"), &MetadataRequest::default());
    c.send(Side::Client, T0 + 8 * MS, &meta);
    c.send(
        Side::Broker,
        T0 + 17 * MS,
        &testkit::response_frame(3, 12, 1, &MetadataResponse::default()),
    );
    let s = &run(&c, &[])[0];
    assert_eq!(int_attr(s, "kapture.rtt.to_broker_ns"), Some(7 * MS));
    assert_eq!(int_attr(s, "kapture.rtt.to_client_ns"), Some(20 * US));
    assert_eq!(
        str_attr(s, "kapture.rtt.source").as_deref(),
        Some("handshake")
    );
    assert_eq!(
        str_attr(s, "kapture.capture_point").as_deref(),
        Some("client")
    );
    assert_eq!(
        int_attr(s, "kapture.wait.network_estimate_ns"),
        Some(7 * MS)
    );
    assert_eq!(int_attr(s, "kapture.wait.broker_estimate_ns"), Some(2 * MS));
}

#[test]
fn round_trips_on_real_captures() {
    // Loopback: both round trips are tiny, the capture point is "local".
    for s in parse_spans(&kapture(["-q", "testdata/basic-kafka-python.pcap"]).stdout) {
        assert_eq!(
            str_attr(&s, "kapture.capture_point").as_deref(),
            Some("local")
        );
        assert!(int_attr(&s, "kapture.rtt.to_broker_ns").unwrap() < 100 * US);
    }
    // 5 ms one way between client and broker (testdata/README.md), seen at each end.
    for (capture, point, far) in [
        ("testdata/netem.pcap", "client", "kapture.rtt.to_broker_ns"),
        (
            "testdata/netem-broker.pcap",
            "broker",
            "kapture.rtt.to_client_ns",
        ),
    ] {
        let spans = parse_spans(&kapture(["-q", capture]).stdout);
        assert!(!spans.is_empty());
        for s in &spans {
            assert_eq!(
                str_attr(s, "kapture.capture_point").as_deref(),
                Some(point),
                "{capture}"
            );
            let rtt = int_attr(s, far).unwrap();
            assert!((5 * MS..6 * MS).contains(&rtt), "{capture}: {rtt}");
        }
    }
}

#[test]
fn frame_boundaries_equal_tsharks_segments() {
    // For every request tshark decoded, the first segment tshark lists for it is the
    // packet kapture starts the span at; the frame that completes it (the row's frame)
    // is where the request's write phase ends.
    let mut compared = 0;
    for name in [
        "large-records",
        "netem",
        "basic-kafka-python",
        "group-confluent",
        "midstream",
        "ipv6",
    ] {
        let tsv = std::fs::read_to_string(testdata(&format!("{name}.tshark.tsv"))).unwrap();
        let parsed = parse_tsv(&tsv);
        let h = &parsed.col;
        let mut first: HashMap<(i64, i64), u64> = HashMap::new();
        for r in &parsed.rows {
            let ids: Vec<&str> = r[h["kafka.correlation_id"]].split(',').collect();
            if ids.len() != 1
                || !r[h["kafka.request_frame"]].is_empty()
                || r[h["kafka.api_key"]].is_empty()
            {
                continue;
            }
            let frame: u64 = r[h["frame.number"]].parse().unwrap();
            let segs = r[h["tcp.segment"]];
            let start = segs
                .split(',')
                .next()
                .filter(|s| !s.is_empty())
                .map_or(frame, |s| s.parse().unwrap());
            first.insert(
                (
                    r[h["tcp.srcport"]].parse().unwrap(),
                    ids[0].parse().unwrap(),
                ),
                start,
            );
        }
        for s in
            parse_spans(&kapture(["-q", "--api", "all", &format!("testdata/{name}.pcap")]).stdout)
        {
            let key = (
                int_attr(&s, "client.port").unwrap(),
                int_attr(&s, "kapture.correlation_id").unwrap(),
            );
            if let Some(&f) = first.get(&key) {
                assert_eq!(
                    int_attr(&s, "kapture.request.first_frame"),
                    Some(f as i64),
                    "{name} {key:?}"
                );
                compared += 1;
            }
        }
    }
    assert!(compared > 150, "{compared}");
}
