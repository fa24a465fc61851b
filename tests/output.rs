//! Reads kapture's output back with opentelemetry-proto's serde types and checks the
//! values: ids, kind, names, timestamps equal to the packet timestamps (read from the
//! capture, and cross-checked with tshark's frame times), the phase attributes, the
//! envelope, and byte-identical output for any thread count.

mod common;

use std::collections::{HashMap, HashSet};

use common::*;
use opentelemetry_proto::tonic::trace::v1::TracesData;

/// Frame number -> timestamp in ns, read with kapture's capture reader.
fn packet_times(name: &str) -> HashMap<u64, i64> {
    let bytes = std::fs::read(testdata(name)).unwrap();
    let mut times = HashMap::new();
    kapture::capture::for_each_packet(&bytes, |p| {
        times.insert(p.index, p.ts_ns);
    })
    .unwrap();
    times
}

/// "1795587766.697132000" -> ns since the epoch, exactly.
fn tshark_ns(text: &str) -> i64 {
    let (s, frac) = text.split_once('.').unwrap();
    let frac = format!("{frac:0<9}");
    s.parse::<i64>().unwrap() * 1_000_000_000 + frac[..9].parse::<i64>().unwrap()
}

/// tshark's frame times of response PDUs it paired: (client port, correlation id) ->
/// time of the frame that completed the response.
fn tshark_response_times(tsv: &str) -> HashMap<(i64, i64), i64> {
    let parsed = parse_tsv(tsv);
    let header = &parsed.col;
    let mut out = HashMap::new();
    for row in &parsed.rows {
        if row[header["kafka.request_frame"]].is_empty() {
            continue;
        }
        let client: i64 = row[header["tcp.dstport"]].parse().unwrap();
        let t = tshark_ns(row[header["frame.time_epoch"]]);
        for id in row[header["kafka.correlation_id"]].split(',') {
            out.insert((client, id.parse().unwrap()), t);
        }
    }
    out
}

const CAPTURES: &[&str] = &[
    "basic-kafka-python.pcap",
    "codecs-kcat.pcap",
    "group-confluent.pcap",
    "aiokafka.pcap",
    "large-records.pcap",
    "any-sll2.pcap",
    "any-sll.pcap",
    "nano.pcap",
    "multi.pcapng",
    "snaplen200.pcap",
    "midstream.pcap",
    "ipv6.pcap",
    "port19092.pcap",
    "acks0.pcap",
    "netem.pcap",
    "netem-broker.pcap",
    "traceparent-otel.pcap",
    "produce-error.pcap",
];

#[test]
fn spans_carry_ids_kind_and_packet_times() {
    for name in CAPTURES {
        let out = kapture(["--api", "all", "-q", &format!("testdata/{name}")]);
        assert!(out.status.code().unwrap() <= 1, "{name}: {out:?}");
        let spans = parse_spans(&out.stdout);
        assert!(!spans.is_empty(), "{name}");
        let times = packet_times(name);
        let tsv = std::fs::read_to_string(testdata(
            &name
                .replace(".pcapng", ".tshark.tsv")
                .replace(".pcap", ".tshark.tsv"),
        ))
        .unwrap();
        let tshark_times = tshark_response_times(&tsv);
        let mut span_ids = HashSet::new();
        let mut tshark_checked = 0;
        for s in &spans {
            assert_eq!(s.trace_id.len(), 16);
            assert_eq!(s.span_id.len(), 8);
            assert!(s.trace_id.iter().any(|&b| b != 0) && s.span_id.iter().any(|&b| b != 0));
            assert!(
                span_ids.insert(s.span_id.clone()),
                "{name}: duplicate span id"
            );
            assert!(s.parent_span_id.is_empty());
            assert_eq!(s.kind, 3, "CLIENT");
            let op = str_attr(s, "messaging.operation.name").unwrap();
            assert!(
                s.name == op || s.name.starts_with(&format!("{op} ")),
                "{name}: {}",
                s.name
            );
            assert_eq!(str_attr(s, "messaging.system").as_deref(), Some("kafka"));
            let broker_port = if name.starts_with("port19092") {
                19092
            } else {
                9092
            };
            assert_eq!(int_attr(s, "server.port"), Some(broker_port), "{name}");
            assert_eq!(str_attr(s, "network.transport").as_deref(), Some("tcp"));

            let first = int_attr(s, "kapture.request.first_frame").unwrap() as u64;
            assert_eq!(
                s.start_time_unix_nano as i64, times[&first],
                "{name}: start = request's first packet"
            );
            let write = int_attr(s, "kapture.write_ns").unwrap();
            assert!(write >= 0);
            match str_attr(s, "kapture.response.state").as_deref() {
                Some("paired") => {
                    let last = int_attr(s, "kapture.response.last_frame").unwrap() as u64;
                    assert_eq!(
                        s.end_time_unix_nano as i64, times[&last],
                        "{name}: end = response's last packet"
                    );
                    let wait = int_attr(s, "kapture.wait_ns").unwrap();
                    let read = int_attr(s, "kapture.read_ns").unwrap();
                    assert!(wait >= 0 && read >= 0);
                    assert_eq!(
                        s.end_time_unix_nano - s.start_time_unix_nano,
                        (write + wait + read) as u64,
                        "{name}: phases add up"
                    );
                    let key = (
                        int_attr(s, "client.port").unwrap(),
                        int_attr(s, "kapture.correlation_id").unwrap(),
                    );
                    if let Some(&t) = tshark_times.get(&key) {
                        assert_eq!(
                            s.end_time_unix_nano as i64, t,
                            "{name}: end = tshark's response frame time {key:?}"
                        );
                        tshark_checked += 1;
                    }
                }
                Some("not_expected") | Some("not_captured") => {
                    assert_eq!(s.end_time_unix_nano - s.start_time_unix_nano, write as u64);
                    assert!(int_attr(s, "kapture.wait_ns").is_none());
                }
                other => panic!("{name}: bad response state {other:?}"),
            }
        }
        assert!(tshark_checked > 0, "{name}: no span compared with tshark");
    }
}

#[test]
fn envelope_names_service_scope_and_schema() {
    let out = kapture([
        "--service-name",
        "orders-cluster",
        "-q",
        "testdata/basic-kafka-python.pcap",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().next().expect("one line at least");
    let data: TracesData = serde_json::from_str(line).unwrap();
    let rs = &data.resource_spans[0];
    let service = &rs.resource.as_ref().unwrap().attributes[0];
    assert_eq!(service.key, "service.name");
    assert!(line.contains("\"stringValue\":\"orders-cluster\""));
    let scope = rs.scope_spans[0].scope.as_ref().unwrap();
    assert_eq!(scope.name, "kapture");
    assert_eq!(scope.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(rs.schema_url, "https://opentelemetry.io/schemas/1.44.0");
    // Default --api: only Produce and Fetch.
    for s in parse_spans(text.as_bytes()) {
        assert!(
            ["produce basic", "fetch basic"].contains(&s.name.as_str()),
            "{}",
            s.name
        );
    }
}

#[test]
fn output_is_identical_for_any_thread_count() {
    for name in ["group-confluent.pcap", "codecs-kcat.pcap", "midstream.pcap"] {
        let path = format!("testdata/{name}");
        let one = kapture(["--api", "all", "-q", "-j", "1", &path]);
        let two = kapture(["--api", "all", "-q", "-j", "2", &path]);
        let again = kapture(["--api", "all", "-q", "-j", "2", &path]);
        assert!(!one.stdout.is_empty());
        assert_eq!(one.stdout, two.stdout, "{name}");
        assert_eq!(two.stdout, again.stdout, "{name}");
    }
}

#[test]
fn id_seed_changes_ids_only() {
    let a = parse_spans(&kapture(["-q", "testdata/basic-kafka-python.pcap"]).stdout);
    let b =
        parse_spans(&kapture(["-q", "--id-seed", "7", "testdata/basic-kafka-python.pcap"]).stdout);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_ne!(x.trace_id, y.trace_id);
        assert_eq!(x.start_time_unix_nano, y.start_time_unix_nano);
        assert_eq!(x.attributes, y.attributes);
    }
}

/// The direct JSON writer that kapture's output goes through writes, for every
/// exchange of every real capture, the same bytes as serialising the span structs
/// with opentelemetry-proto's serde types: with and without phase spans and parents
/// taken from the records.
#[test]
fn direct_json_equals_the_serde_serialisation_on_every_capture() {
    use kapture::knowledge::{Knowledge, TopicMap};
    use kapture::otlp::json::JsonOut;
    use kapture::pipeline::{PipelineConfig, analyse_capture};
    use kapture::span::{self, Origin, Peers, ProtoOut, SpanConfig};
    use kapture::summary::Summary;

    let mut compared = 0;
    for (name, bytes) in all_captures() {
        let mut summary = Summary::default();
        let reports = analyse_capture(&bytes, &PipelineConfig::default(), &mut summary).unwrap();
        let knowledge = Knowledge::gather(&reports, &TopicMap::default());
        for (phase_spans, parent_from_records) in [(false, false), (true, true)] {
            let config = SpanConfig {
                phase_spans,
                parent_from_records,
                max_events: 2,
                ..SpanConfig::default()
            };
            for report in &reports {
                let peers = Peers::of(report);
                for ex in &report.exchanges {
                    let origin = Origin { file_index: 3 };
                    let mut proto = ProtoOut::default();
                    let mut json = JsonOut::new();
                    span::emit(&mut proto, report, &peers, ex, origin, &config, &knowledge);
                    span::emit(&mut json, report, &peers, ex, origin, &config, &knowledge);
                    assert_eq!(proto.spans.len(), json.len());
                    for (p, j) in proto.spans.iter().zip(json.spans()) {
                        let reference = kapture::otlp::span_json(p);
                        assert_eq!(
                            String::from_utf8_lossy(j),
                            String::from_utf8_lossy(&reference),
                            "{name}"
                        );
                        compared += 1;
                    }
                }
            }
        }
    }
    // 20 captures, hundreds of exchanges, twice over.
    assert!(compared > 1000, "only {compared} spans compared");
}
