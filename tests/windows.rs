//! Captures of more Kafka connections than one span window (256) go through the
//! writer thread: spans come out complete, in connection order, the same for any
//! thread count, and an output that fails stops the run with the output error
//! instead of hanging it.

mod common;

use common::*;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use kapture::testkit::{self, Conversation, Side};

const CONNECTIONS: u16 = 700;
const EXCHANGES: i32 = 3;

/// CONNECTIONS connections one after another, each with EXCHANGES ApiVersions
/// exchanges.
fn many_connections(name: &str) -> std::path::PathBuf {
    let mut convs = Vec::new();
    for c in 0..CONNECTIONS {
        let mut conv = Conversation::new(20_000 + c, 9092, 1_000, 5_000);
        let t0 = 1_700_000_000_000_000_000 + i64::from(c) * 1_000_000;
        conv.handshake(t0, t0 + 1_000, t0 + 2_000);
        for i in 0..EXCHANGES {
            let t = t0 + 10_000 + i64::from(i) * 10_000;
            let req = testkit::request_frame(18, 3, i, Some("w"), &ApiVersionsRequest::default());
            conv.send(Side::Client, t, &req);
            let resp = testkit::response_frame(18, 3, i, &ApiVersionsResponse::default());
            conv.send(Side::Broker, t + 2_000, &resp);
        }
        convs.push(conv);
    }
    let refs: Vec<&Conversation> = convs.iter().collect();
    let path = std::env::temp_dir().join(format!(
        "kapture-windows-{}-{name}.pcap",
        std::process::id()
    ));
    std::fs::write(&path, testkit::pcap(&testkit::merge(&refs))).unwrap();
    path
}

#[test]
fn many_connections_come_out_whole_and_in_order() {
    let path = many_connections("order");
    let p = path.to_str().unwrap();
    let one = kapture(["-q", "--api", "all", "-j", "1", p]);
    let two = kapture(["-q", "--api", "all", "-j", "2", p]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(one.status.code(), Some(0), "{one:?}");
    assert_eq!(one.stdout, two.stdout, "output depends on the thread count");
    let spans = parse_spans(&one.stdout);
    assert_eq!(spans.len(), usize::from(CONNECTIONS) * EXCHANGES as usize);
    let order: Vec<(i64, i64)> = spans
        .iter()
        .map(|s| {
            (
                int_attr(s, "kapture.connection.id").unwrap(),
                int_attr(s, "kapture.correlation_id").unwrap(),
            )
        })
        .collect();
    let expected: Vec<(i64, i64)> = (0..i64::from(CONNECTIONS))
        .flat_map(|c| (0..i64::from(EXCHANGES)).map(move |i| (c, i)))
        .collect();
    assert_eq!(order, expected);
}

#[test]
fn a_failing_output_stops_the_run_with_an_error() {
    if !std::path::Path::new("/dev/full").exists() {
        return;
    }
    let path = many_connections("full");
    let p = path.to_str().unwrap();
    let out = kapture(["-q", "--api", "all", "-o", "/dev/full", p]);
    std::fs::remove_file(&path).unwrap();
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    assert_ne!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("No space left"), "{stderr}");
}
