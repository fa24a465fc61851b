//! Criterion micro-benchmarks of kapture's stages, each on real bytes from the captures
//! in `testdata/`: TCP reassembly, Kafka framing, request header decoding, Produce and
//! Fetch body decoding, span building (proto structs + serde, and the direct JSON
//! writer kapture uses), the capture read pass alone, the whole in-memory pipeline on one capture, and the Kafka
//! layer on one long crafted connection. Short by design (1 s warm-up, 3 s
//! measurement each):
//!
//! ```text
//! cargo bench --bench stages               # all, a few minutes
//! cargo bench --bench stages -- framing    # those whose name contains 'framing'
//! ```

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use kapture::capture;
use kapture::kafka::api;
use kapture::kafka::body;
use kapture::kafka::exchange::{self, Request, Response};
use kapture::kafka::header;
use kapture::knowledge::Knowledge;
use kapture::net;
use kapture::pipeline::{self, PipelineConfig};
use kapture::span::{self, Origin, SpanConfig};
use kapture::summary::Summary;
use kapture::tcp::{self, Connection, ConnectionTable, Dir, Stream};
use kapture::{kafka, otlp};

const MAX_FRAME: u64 = 100 << 20;

fn read_capture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every TCP connection of a capture, built with the connection table.
fn connections(bytes: &[u8]) -> Vec<Connection<'_>> {
    let mut table = ConnectionTable::new();
    capture::for_each_packet(bytes, |p| {
        if let Ok(seg) = net::decode_segment(&p) {
            table.push(p.index, p.ts_ns, &seg);
        }
    })
    .expect("a readable capture");
    table.into_connections()
}

/// The direction a connection's client sends in (towards port 9092).
fn to_broker(conn: &Connection<'_>) -> Dir {
    if conn.ends[1].port == 9092 {
        Dir::AtoB
    } else {
        Dir::BtoA
    }
}

fn other(d: Dir) -> Dir {
    match d {
        Dir::AtoB => Dir::BtoA,
        Dir::BtoA => Dir::AtoB,
    }
}

fn stream_bytes(s: &Stream<'_>) -> u64 {
    s.chunks.iter().map(|c| c.data.len() as u64).sum()
}

/// Both directions of every connection, framed.
struct Framed<'a> {
    requests: Vec<(Stream<'a>, Vec<Request>)>,
    responses: Vec<(Stream<'a>, Vec<Response>, Vec<Request>)>,
}

fn framed<'a>(conns: &[Connection<'a>]) -> Framed<'a> {
    let mut f = Framed {
        requests: Vec::new(),
        responses: Vec::new(),
    };
    for c in conns {
        let up = tcp::reassemble(c, to_broker(c));
        let down = tcp::reassemble(c, other(to_broker(c)));
        let (reqs, _) = exchange::split_requests(&up, MAX_FRAME);
        let (resps, _) = exchange::split_responses(&down, MAX_FRAME, &reqs);
        f.responses.push((down, resps, reqs.clone()));
        f.requests.push((up, reqs));
    }
    f
}

/// The bytes of `len` stream bytes at `offset`, copied out.
fn copy(stream: &Stream<'_>, offset: u64, len: u64) -> Option<Vec<u8>> {
    stream.bytes(offset, len as usize).map(|b| b.into_owned())
}

/// Request bodies of `key`: (version, body).
fn request_bodies(f: &Framed<'_>, key: i16) -> Vec<(i16, Vec<u8>)> {
    let mut out = Vec::new();
    for (stream, reqs) in &f.requests {
        for r in reqs.iter().filter(|r| r.api_key == key && r.span.complete) {
            let at = r.span.body_offset() + r.header_len;
            let len = r.span.end() - at;
            out.extend(copy(stream, at, len).map(|b| (r.api_version, b)));
        }
    }
    out
}

/// Response bodies of `key`: (version, body), the header skipped.
fn response_bodies(f: &Framed<'_>, key: i16) -> Vec<(i16, Vec<u8>)> {
    let mut out = Vec::new();
    for (stream, resps, reqs) in &f.responses {
        for resp in resps.iter().filter(|r| r.span.complete) {
            let Some(req) = reqs
                .iter()
                .find(|q| q.correlation_id == resp.correlation_id && q.api_key == key)
            else {
                continue;
            };
            let info = api::info(key).expect("a known key");
            let len = resp.span.end() - resp.span.body_offset();
            let Some(frame) = copy(stream, resp.span.body_offset(), len) else {
                continue;
            };
            let hv = info.response_header_version(req.api_version);
            if let Ok(h) = header::parse_response_header(&frame, hv) {
                out.push((req.api_version, frame[h.len..].to_vec()));
            }
        }
    }
    out
}

fn total_len(v: &[(i16, Vec<u8>)]) -> u64 {
    v.iter().map(|(_, b)| b.len() as u64).sum()
}

fn bench_reassembly(c: &mut Criterion) {
    let mut g = c.benchmark_group("reassembly");
    for name in ["netem.pcap", "netem-broker.pcap", "large-records.pcap"] {
        let bytes = read_capture(name);
        let conns = connections(&bytes);
        // The connection that carries the most segments.
        let conn = conns
            .iter()
            .max_by_key(|c| c.segments.len())
            .expect("a connection");
        // Reassembly never touches payload bytes (chunks borrow them): count segments.
        let carried = stream_bytes(&tcp::reassemble(conn, Dir::AtoB))
            + stream_bytes(&tcp::reassemble(conn, Dir::BtoA));
        g.throughput(Throughput::Elements(conn.segments.len() as u64));
        let what = format!("{} segments, {carried} bytes", conn.segments.len());
        g.bench_function(format!("{name} ({what})"), |b| {
            b.iter(|| {
                let a = tcp::reassemble(black_box(conn), Dir::AtoB);
                let z = tcp::reassemble(black_box(conn), Dir::BtoA);
                (a.chunks.len(), z.chunks.len())
            })
        });
    }
    // The connection table itself: every packet of a capture, decoded and grouped.
    let bytes = read_capture("netem.pcap");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("netem.pcap connection table", |b| {
        b.iter(|| connections(black_box(&bytes)).len())
    });
    g.finish();
}

fn bench_framing(c: &mut Criterion) {
    let mut g = c.benchmark_group("framing");
    for name in ["netem.pcap", "group-confluent.pcap", "codecs-kcat.pcap"] {
        let bytes = read_capture(name);
        let conns = connections(&bytes);
        let streams: Vec<Stream<'_>> = conns
            .iter()
            .map(|c| tcp::reassemble(c, to_broker(c)))
            .collect();
        let carried: u64 = streams.iter().map(stream_bytes).sum();
        let frames: usize = streams
            .iter()
            .map(|s| exchange::split_requests(s, MAX_FRAME).0.len())
            .sum();
        // Framing reads headers, not bodies: count frames.
        g.throughput(Throughput::Elements(frames as u64));
        let what = format!("{frames} requests, {carried} bytes");
        g.bench_function(format!("split_requests {name} ({what})"), |b| {
            b.iter(|| {
                streams
                    .iter()
                    .map(|s| exchange::split_requests(black_box(s), MAX_FRAME).0.len())
                    .sum::<usize>()
            })
        });
    }
    g.finish();
}

fn bench_header(c: &mut Criterion) {
    let mut g = c.benchmark_group("header");
    let mut heads: Vec<(Vec<u8>, usize)> = Vec::new();
    for name in [
        "codecs-kcat.pcap",
        "group-confluent.pcap",
        "aiokafka.pcap",
        "netem.pcap",
    ] {
        let bytes = read_capture(name);
        let conns = connections(&bytes);
        let f = framed(&conns);
        for (stream, reqs) in &f.requests {
            for r in reqs {
                let len = (r.span.size - 4).min(256);
                if let Some(b) = copy(stream, r.span.body_offset(), len) {
                    heads.push((b, (r.span.size - 4) as usize));
                }
            }
        }
    }
    g.throughput(Throughput::Elements(heads.len() as u64));
    g.bench_function(
        format!("parse_request_header ({} real headers)", heads.len()),
        |b| {
            b.iter(|| {
                heads
                    .iter()
                    .filter(|(h, len)| header::parse_request_header(black_box(h), *len).is_ok())
                    .count()
            })
        },
    );
    g.finish();
}

fn bench_bodies(c: &mut Criterion) {
    let mut g = c.benchmark_group("body");
    for name in ["codecs-kcat.pcap", "large-records.pcap", "netem.pcap"] {
        let bytes = read_capture(name);
        let conns = connections(&bytes);
        let f = framed(&conns);
        let produce = request_bodies(&f, api::PRODUCE);
        let fetch = response_bodies(&f, api::FETCH);
        assert!(!produce.is_empty() && !fetch.is_empty(), "{name}");
        // The decoders walk batch headers, not records: count bodies.
        g.throughput(Throughput::Elements(produce.len() as u64));
        g.bench_function(
            format!(
                "produce_request {name} ({} bodies, {} bytes)",
                produce.len(),
                total_len(&produce)
            ),
            |b| {
                b.iter(|| {
                    produce
                        .iter()
                        .filter(|(v, body)| body::produce_request(black_box(body), *v).is_ok())
                        .count()
                })
            },
        );
        g.throughput(Throughput::Elements(fetch.len() as u64));
        g.bench_function(
            format!(
                "fetch_response {name} ({} bodies, {} bytes)",
                fetch.len(),
                total_len(&fetch)
            ),
            |b| {
                b.iter(|| {
                    fetch
                        .iter()
                        .filter(|(v, body)| body::fetch_response(black_box(body), *v).is_ok())
                        .count()
                })
            },
        );
    }
    g.finish();
}

fn bench_spans(c: &mut Criterion) {
    let mut g = c.benchmark_group("span");
    let config = PipelineConfig::default();
    for name in [
        "group-confluent.pcap",
        "traceparent-otel.pcap",
        "codecs-kcat.pcap",
    ] {
        let bytes = read_capture(name);
        let mut summary = Summary::default();
        let conns = pipeline::read_connections(&bytes, &mut summary).expect("readable");
        let (reports, _) = pipeline::analyse_connections(conns, &config);
        let knowledge = Knowledge::gather(&reports, &config.topic_map);
        let origin = Origin { file_index: 0 };
        let span_config = SpanConfig::default();
        let exchanges: usize = reports.iter().map(|r| r.exchanges.len()).sum();
        g.throughput(Throughput::Elements(exchanges as u64));
        g.bench_function(format!("build {name} ({exchanges} exchanges)"), |b| {
            b.iter(|| {
                let mut n = 0;
                for r in &reports {
                    for ex in &r.exchanges {
                        let s = span::build(r, ex, origin, &span_config, &knowledge);
                        n += s.attributes.len();
                    }
                }
                n
            })
        });
        g.bench_function(
            format!("build+span_json {name} ({exchanges} exchanges)"),
            |b| {
                b.iter(|| {
                    let mut n = 0;
                    for r in &reports {
                        for ex in &r.exchanges {
                            let s = span::build(r, ex, origin, &span_config, &knowledge);
                            n += otlp::span_json(&s).len();
                        }
                    }
                    n
                })
            },
        );
        // What kapture does: the same bytes, written straight into a reused buffer.
        g.bench_function(
            format!("emit into JsonOut {name} ({exchanges} exchanges)"),
            |b| {
                let mut out = otlp::json::JsonOut::new();
                b.iter(|| {
                    out.clear();
                    for r in &reports {
                        let peers = span::Peers::of(r);
                        for ex in &r.exchanges {
                            span::emit(&mut out, r, &peers, ex, origin, &span_config, &knowledge);
                        }
                    }
                    out.buf.len()
                })
            },
        );
    }
    g.finish();
}

fn bench_pipeline(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipeline");
    // The default run-wide decompression budget (1 GiB, shared by clones) would run
    // out over many iterations and change what is measured.
    let config = PipelineConfig {
        limits: body::Limits::new(16 << 20, u64::MAX),
        ..PipelineConfig::default()
    };
    for name in ["netem.pcap", "large-records.pcap", "codecs-kcat.pcap"] {
        let bytes = read_capture(name);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(format!("process_capture {name}"), |b| {
            b.iter(|| {
                let mut summary = Summary::default();
                pipeline::process_capture(black_box(&bytes), 0, &config, &mut summary)
                    .map(|c| c.len())
            })
        });
        // The Kafka layer alone (reassembly, framing, pairing, bodies) per connection.
        let conns = connections(&bytes);
        g.bench_function(format!("kafka::analyse {name}"), |b| {
            b.iter(|| {
                let mut limits = config.limits.clone();
                conns
                    .iter()
                    .map(|c| {
                        kafka::analyse(c, &config.kafka, &mut limits)
                            .exchanges
                            .len()
                    })
                    .sum::<usize>()
            })
        });
    }
    g.finish();
}

/// One connection of `n` ApiVersions exchanges, one segment each way per exchange,
/// crafted with the test kit.
fn long_connection(n: usize) -> Vec<u8> {
    use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
    use kapture::testkit::{Conversation, Side, merge, pcap, request_frame, response_frame};
    let mut c = Conversation::new(40_000, 9092, 1_000, 5_000);
    c.handshake(1_000_000_000, 1_000_001_000, 1_000_002_000);
    let mut t = 1_000_010_000;
    for i in 0..n {
        let id = i as i32;
        let req = request_frame(18, 3, id, Some("x"), &ApiVersionsRequest::default());
        c.send(Side::Client, t, &req);
        c.send(
            Side::Broker,
            t + 1_000,
            &response_frame(18, 3, id, &ApiVersionsResponse::default()),
        );
        t += 5_000;
    }
    pcap(&merge(&[&c]))
}

/// The Kafka layer on one long-lived connection, at two lengths: the time per
/// exchange must not grow with the connection (it once did, walking the rest of the
/// stream for every frame).
fn bench_long_connection(c: &mut Criterion) {
    let mut g = c.benchmark_group("long connection");
    let config = PipelineConfig::default();
    for n in [5_000, 40_000] {
        let bytes = long_connection(n);
        let conns = connections(&bytes);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("kafka::analyse, {n} exchanges"), |b| {
            b.iter(|| {
                let mut limits = config.limits.clone();
                kafka::analyse(&conns[0], &config.kafka, &mut limits)
                    .exchanges
                    .len()
            })
        });
    }
    g.finish();
}

/// The read pass alone: every packet of a capture handed out, nothing decoded.
fn bench_capture(c: &mut Criterion) {
    let mut g = c.benchmark_group("capture");
    for name in ["netem.pcap", "large-records.pcap", "multi.pcapng"] {
        let bytes = read_capture(name);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(format!("for_each_packet {name}"), |b| {
            b.iter(|| {
                let mut n = 0u64;
                capture::for_each_packet(black_box(&bytes), |p| n += p.data.len() as u64)
                    .expect("a readable capture");
                n
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = stages;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = bench_capture, bench_reassembly, bench_framing, bench_header, bench_bodies, bench_spans, bench_pipeline,
        bench_long_connection
}
criterion_main!(stages);
