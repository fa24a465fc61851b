//! `--service-name-from` against the documented rules of the OpenTelemetry Collector's
//! `servicegraph` connector (connector/servicegraphconnector/connector.go): a CLIENT or
//! PRODUCER span opens an edge keyed by (trace id, span id) whose client is the
//! resource's `service.name`; a SERVER or CONSUMER span whose parent is that span
//! closes it; an edge left open expires into a virtual node (the `virtualNode` feature
//! gate, on by default) whose server is the span's first attribute among
//! `virtual_node_peer_attributes` (default `peer.service`, `db.name`, `db.system`), or
//! `unknown`. A failed edge is one with status ERROR. The rules are applied here to
//! kapture's output on real captures.

mod common;

use std::collections::{BTreeMap, HashMap};

use common::*;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::TracesData;

const PEER_ATTRIBUTES: [&str; 3] = ["peer.service", "db.name", "db.system"];
const CLIENT: i32 = 3;
const PRODUCER: i32 = 4;
const SERVER: i32 = 2;
const CONSUMER: i32 = 5;

fn string_of(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            _ => None,
        }
    })
}

#[derive(Default)]
struct Edge {
    client: Option<String>,
    server: Option<String>,
    peer: Option<String>,
    failed: bool,
}

/// The connector's edges, after every open one has expired: (client, server) ->
/// (requests, failed requests).
fn service_graph(jsonl: &[u8]) -> BTreeMap<(String, String), (u64, u64)> {
    let mut store: HashMap<(Vec<u8>, Vec<u8>), Edge> = HashMap::new();
    for line in std::str::from_utf8(jsonl).unwrap().lines() {
        let data: TracesData = serde_json::from_str(line).unwrap();
        for rs in &data.resource_spans {
            let resource = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
            let Some(service) = string_of(resource, "service.name") else {
                continue;
            };
            for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
                let failed = span.status.as_ref().is_some_and(|s| s.code == 2);
                match span.kind {
                    CLIENT | PRODUCER => {
                        let e = store
                            .entry((span.trace_id.clone(), span.span_id.clone()))
                            .or_default();
                        e.client = Some(service.clone());
                        e.failed |= failed;
                        e.peer = PEER_ATTRIBUTES
                            .iter()
                            .find_map(|k| string_of(&span.attributes, k));
                    }
                    SERVER | CONSUMER => {
                        let e = store
                            .entry((span.trace_id.clone(), span.parent_span_id.clone()))
                            .or_default();
                        e.server = Some(service.clone());
                        e.failed |= failed;
                    }
                    _ => {}
                }
            }
        }
    }
    let mut edges = BTreeMap::new();
    for e in store.into_values() {
        let Some(client) = e.client else { continue };
        let server = e.server.or(e.peer).unwrap_or_else(|| "unknown".to_string());
        let n: &mut (u64, u64) = edges.entry((client, server)).or_default();
        n.0 += 1;
        n.1 += u64::from(e.failed);
    }
    edges
}

fn run(args: &[&str]) -> Vec<u8> {
    let out = kapture(args);
    assert!(out.status.code().unwrap_or(99) <= 1, "{out:?}");
    out.stdout
}

#[test]
fn each_client_gets_an_edge_to_its_kafka_cluster() {
    let cap = testdata("codecs-kcat.pcap");
    let cap = cap.to_str().unwrap();
    let out = run(&[
        "-q",
        "--api",
        "all",
        "--service-name-from",
        "client-id",
        cap,
    ]);
    let edges = service_graph(&out);
    let clients = [
        "kcat-consumer",
        "kcat-gzip",
        "kcat-lz4",
        "kcat-none",
        "kcat-snappy",
        "kcat-zstd",
    ];
    let found: Vec<(&str, &str)> = edges
        .keys()
        .map(|(c, s)| (c.as_str(), s.as_str()))
        .collect();
    let want: Vec<(&str, &str)> = clients.iter().map(|c| (*c, "tansu_cluster")).collect();
    assert_eq!(found, want);
    let requests: u64 = edges.values().map(|n| n.0).sum();
    assert_eq!(
        requests,
        parse_spans(&out).len() as u64,
        "every span is an edge"
    );
    assert!(edges.values().all(|n| n.1 == 0), "no exchange failed");

    // Each line holds one ResourceSpans, whatever the thread count: the same bytes.
    for line in std::str::from_utf8(&out).unwrap().lines() {
        let data: TracesData = serde_json::from_str(line).unwrap();
        assert_eq!(data.resource_spans.len(), 1);
    }
    let one = run(&[
        "-q",
        "-j",
        "1",
        "--api",
        "all",
        "--service-name-from",
        "client-id",
        cap,
    ]);
    assert_eq!(one, out);

    // By default: one service, `kapture`, still with its edge to the cluster.
    let edges = service_graph(&run(&["-q", "--api", "all", cap]));
    assert_eq!(
        edges.keys().collect::<Vec<_>>(),
        [&("kapture".to_string(), "tansu_cluster".to_string())]
    );
}

#[test]
fn failed_exchanges_count_as_failed_edges_and_other_sources_name_clients() {
    // produce-error: Tansu rejects kcat-invalid's records (INVALID_RECORD).
    let cap = testdata("produce-error.pcap");
    let cap = cap.to_str().unwrap();
    let out = run(&[
        "-q",
        "--api",
        "all",
        "--service-name-from",
        "client-software",
        cap,
    ]);
    let edges = service_graph(&out);
    let (requests, failed) = edges[&("librdkafka/2.16.0".to_string(), "tansu_cluster".to_string())];
    assert_eq!(edges.len(), 1, "{edges:?}");
    assert_eq!(failed, 1, "the one Produce answered INVALID_RECORD");
    assert_eq!(requests, parse_spans(&out).len() as u64);
    // aiokafka announces no software (ApiVersions v0): the client address stands in.
    let cap = testdata("aiokafka.pcap");
    let out = run(&[
        "-q",
        "--api",
        "all",
        "--service-name-from",
        "client-software",
        cap.to_str().unwrap(),
    ]);
    let edges = service_graph(&out);
    assert!(!edges.is_empty());
    for (client, _) in edges.keys() {
        assert!(client.parse::<std::net::IpAddr>().is_ok(), "{client}");
    }
    let by_address = service_graph(&run(&[
        "-q",
        "--api",
        "all",
        "--service-name-from",
        "client-address",
        cap.to_str().unwrap(),
    ]));
    assert_eq!(by_address, edges);
}
