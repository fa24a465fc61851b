//! Criterion micro-benchmarks of kapture's streaming stages, each on real bytes from the
//! captures in `testdata/`: the capture read pass alone, incremental TCP reassembly
//! (`DirStream::push`), Kafka framing (`Framer::advance`, over a whole direction and
//! segment by segment as `KafkaConn` drives it), request header decoding, Produce and
//! Fetch body decoding, span writing (`span::emit` into `JsonOut`, what kapture does,
//! and proto structs + serde for comparison), the whole streaming pass
//! (`pipeline::process_capture`, 1 and 2 worker threads), and `KafkaConn` on one long
//! crafted connection. Short by design (1 s warm-up, 3 s measurement each):
//!
//! ```text
//! cargo bench --bench stages               # all, a few minutes
//! cargo bench --bench stages -- framing    # those whose name contains 'framing'
//! ```

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use kapture::capture;
use kapture::kafka::api;
use kapture::kafka::body;
use kapture::kafka::exchange::RequestValidator;
use kapture::kafka::frame::Framer;
use kapture::kafka::header;
use kapture::kafka::{ConnectionReport, KafkaConn};
use kapture::knowledge::Knowledge;
use kapture::net::{self, Endpoint};
use kapture::otlp;
use kapture::pipeline::{self, PipelineConfig};
use kapture::span::{self, Origin, SpanConfig};
use kapture::summary::Summary;
use kapture::tcp::{Dir, DirStream, SegRec};

const MAX_FRAME: u64 = 100 << 20;

fn read_capture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One TCP connection of a capture: its ends (`ends[0]` sent its first captured
/// packet) and every segment in capture order, each with the direction of the end
/// that sent it.
struct Conn<'a> {
    ends: [Endpoint; 2],
    segments: Vec<SegRec<'a>>,
}

impl Conn<'_> {
    /// The end that receives requests: the one on port 9092.
    fn broker(&self) -> Dir {
        if self.ends[1].port == 9092 {
            Dir::BtoA
        } else {
            Dir::AtoB
        }
    }

    /// The direction requests travel in.
    fn to_broker(&self) -> Dir {
        Dir::from_index(1 - self.broker().index())
    }

    /// Both directions reassembled from every segment at once, each end's bytes in
    /// `dirs[end]`, peer ACKs passed on as `KafkaConn` does.
    fn reassembled(&self) -> [DirStream; 2] {
        let mut dirs = [DirStream::new(), DirStream::new()];
        for s in &self.segments {
            push(&mut dirs, s);
        }
        dirs
    }
}

/// One segment into the direction that sent it, its ACK to the other.
fn push(dirs: &mut [DirStream; 2], s: &SegRec<'_>) {
    let from = s.dir.index();
    dirs[from].push(s);
    if s.flags & net::flags::ACK != 0 {
        dirs[1 - from].on_peer_ack(s.ack);
    }
}

/// Every TCP connection of a capture, in order of first packet. A 4-tuple is one
/// connection (the test captures reuse none).
fn connections(bytes: &[u8]) -> Vec<Conn<'_>> {
    let mut conns: Vec<Conn<'_>> = Vec::new();
    let mut by_ends: HashMap<(Endpoint, Endpoint), usize> = HashMap::new();
    capture::for_each_packet(bytes, |p| {
        let Ok(seg) = net::decode_segment(&p) else {
            return;
        };
        let i = match by_ends.get(&(seg.src, seg.dst)) {
            Some(&i) => i,
            None => {
                let i = conns.len();
                conns.push(Conn {
                    ends: [seg.src, seg.dst],
                    segments: Vec::new(),
                });
                by_ends.insert((seg.src, seg.dst), i);
                by_ends.insert((seg.dst, seg.src), i);
                i
            }
        };
        let dir = if conns[i].ends[0] == seg.src {
            Dir::AtoB
        } else {
            Dir::BtoA
        };
        conns[i].segments.push(SegRec {
            index: p.index,
            ts_ns: p.ts_ns,
            dir,
            seq: seg.seq,
            ack: seg.ack,
            flags: seg.flags,
            window: seg.window,
            payload: seg.payload,
            missing: seg.missing,
        });
    })
    .expect("a readable capture");
    conns
}

fn captured_bytes(d: &DirStream) -> u64 {
    let v = d.view();
    v.chunks.iter().map(|c| u64::from(c.len)).sum()
}

/// The Kafka connections of a capture as the streaming pass reports them, with every
/// exchange (nothing filtered).
fn analysed(bytes: &[u8], config: &PipelineConfig) -> Vec<ConnectionReport> {
    let mut summary = Summary::default();
    pipeline::analyse_capture(bytes, config, &mut summary).expect("a readable capture")
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
        let dirs = conn.reassembled();
        let carried = captured_bytes(&dirs[0]) + captured_bytes(&dirs[1]);
        // Bytes are copied into the window: count both segments and bytes in the name,
        // segments as the throughput.
        g.throughput(Throughput::Elements(conn.segments.len() as u64));
        let what = format!("{} segments, {carried} bytes", conn.segments.len());
        g.bench_function(format!("DirStream::push {name} ({what})"), |b| {
            b.iter(|| {
                let mut dirs = [DirStream::new(), DirStream::new()];
                for s in black_box(&conn.segments) {
                    push(&mut dirs, s);
                }
                dirs[0].end() + dirs[1].end()
            })
        });
    }
    g.finish();
}

/// Frames every request of one direction fed whole (everything settled).
fn frame_whole(d: &DirStream) -> usize {
    let view = d.view();
    let mut framer = Framer::new();
    let mut validator = RequestValidator::new();
    let mut n = 0;
    framer.advance(&view, u64::MAX, true, MAX_FRAME, &mut validator, |_, _| {
        n += 1
    });
    n
}

/// Reassembles and frames one connection's requests segment by segment, as
/// `KafkaConn` does: after each segment, frame what has settled, then free what the
/// framer no longer needs.
fn frame_incrementally(conn: &Conn<'_>) -> usize {
    let client = conn.to_broker().index();
    let mut dirs = [DirStream::new(), DirStream::new()];
    let mut framer = Framer::new();
    let mut validator = RequestValidator::new();
    let mut n = 0;
    for s in &conn.segments {
        push(&mut dirs, s);
        let d = &dirs[client];
        let view = d.view();
        let upto = d.settled_from(framer.left_edge(), false);
        framer.advance(&view, upto, false, MAX_FRAME, &mut validator, |_, _| n += 1);
        let edge = framer.left_edge();
        dirs[client].release_before(edge);
    }
    let view = dirs[client].view();
    framer.advance(&view, u64::MAX, true, MAX_FRAME, &mut validator, |_, _| {
        n += 1
    });
    n
}

fn bench_framing(c: &mut Criterion) {
    let mut g = c.benchmark_group("framing");
    for name in ["netem.pcap", "group-confluent.pcap", "codecs-kcat.pcap"] {
        let bytes = read_capture(name);
        let conns = connections(&bytes);
        let requests: Vec<DirStream> = conns
            .iter()
            .map(|c| {
                let [a, b] = c.reassembled();
                if c.to_broker() == Dir::AtoB { a } else { b }
            })
            .collect();
        let carried: u64 = requests.iter().map(captured_bytes).sum();
        let frames: usize = requests.iter().map(frame_whole).sum();
        let stepped: usize = conns.iter().map(frame_incrementally).sum();
        assert_eq!(frames, stepped, "{name}: framing whole and stepped differ");
        // Framing reads headers, not bodies: count frames.
        g.throughput(Throughput::Elements(frames as u64));
        let what = format!("{frames} requests, {carried} bytes");
        g.bench_function(format!("Framer::advance whole {name} ({what})"), |b| {
            b.iter(|| {
                requests
                    .iter()
                    .map(|d| frame_whole(black_box(d)))
                    .sum::<usize>()
            })
        });
        // Includes reassembly of both directions: the difference to `reassembly` is
        // the framing done as segments arrive, with settling and releasing.
        g.bench_function(
            format!("push + Framer::advance per segment {name} ({what})"),
            |b| {
                b.iter(|| {
                    conns
                        .iter()
                        .map(|c| frame_incrementally(black_box(c)))
                        .sum::<usize>()
                })
            },
        );
    }
    g.finish();
}

/// The bytes of `len` stream bytes at `offset` of a direction, copied out.
fn copy(d: &DirStream, offset: u64, len: u64) -> Option<Vec<u8>> {
    d.view().bytes(offset, len as usize).map(|b| b.into_owned())
}

/// Each Kafka connection's report with its two directions reassembled whole
/// (`[client's bytes, broker's bytes]`), matched by their ends.
fn with_streams(bytes: &[u8], config: &PipelineConfig) -> Vec<(ConnectionReport, [DirStream; 2])> {
    let conns = connections(bytes);
    analysed(bytes, config)
        .into_iter()
        .filter_map(|r| {
            let conn = conns
                .iter()
                .find(|c| c.ends.contains(&r.client) && c.ends.contains(&r.broker))?;
            let [a, b] = conn.reassembled();
            let dirs = if conn.ends[0] == r.client {
                [a, b]
            } else {
                [b, a]
            };
            Some((r, dirs))
        })
        .collect()
}

/// Request bodies of `key`: (version, body).
fn request_bodies(conns: &[(ConnectionReport, [DirStream; 2])], key: i16) -> Vec<(i16, Vec<u8>)> {
    let mut out = Vec::new();
    for (report, [client, _]) in conns {
        for ex in &report.exchanges {
            let r = &ex.request;
            if r.api_key != key || !r.span.complete {
                continue;
            }
            let at = r.span.body_offset() + r.header_len;
            out.extend(copy(client, at, r.span.end() - at).map(|b| (r.api_version, b)));
        }
    }
    out
}

/// Response bodies of `key`: (version, body), the header skipped.
fn response_bodies(conns: &[(ConnectionReport, [DirStream; 2])], key: i16) -> Vec<(i16, Vec<u8>)> {
    let info = api::info(key).expect("a known key");
    let mut out = Vec::new();
    for (report, [_, broker]) in conns {
        for ex in &report.exchanges {
            let (r, Some(resp)) = (&ex.request, &ex.response) else {
                continue;
            };
            if r.api_key != key || !resp.span.complete {
                continue;
            }
            let at = resp.span.body_offset();
            let Some(frame) = copy(broker, at, resp.span.end() - at) else {
                continue;
            };
            let hv = info.response_header_version(r.api_version);
            if let Ok(h) = header::parse_response_header(&frame, hv) {
                out.push((r.api_version, frame[h.len..].to_vec()));
            }
        }
    }
    out
}

fn total_len(v: &[(i16, Vec<u8>)]) -> u64 {
    v.iter().map(|(_, b)| b.len() as u64).sum()
}

fn bench_header(c: &mut Criterion) {
    let mut g = c.benchmark_group("header");
    let config = PipelineConfig::default();
    let mut heads: Vec<(Vec<u8>, usize)> = Vec::new();
    for name in [
        "codecs-kcat.pcap",
        "group-confluent.pcap",
        "aiokafka.pcap",
        "netem.pcap",
    ] {
        let bytes = read_capture(name);
        for (report, [client, _]) in with_streams(&bytes, &config) {
            for ex in &report.exchanges {
                let span = ex.request.span;
                let len = (span.size - 4).min(256);
                if let Some(b) = copy(&client, span.body_offset(), len) {
                    heads.push((b, (span.size - 4) as usize));
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
    let config = PipelineConfig::default();
    for name in ["codecs-kcat.pcap", "large-records.pcap", "netem.pcap"] {
        let bytes = read_capture(name);
        let conns = with_streams(&bytes, &config);
        let produce = request_bodies(&conns, api::PRODUCE);
        let fetch = response_bodies(&conns, api::FETCH);
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
        let reports = analysed(&bytes, &config);
        let knowledge = Knowledge::gather(&reports, &config.topic_map);
        let origin = Origin { file_index: 0 };
        let span_config = SpanConfig::default();
        let exchanges: usize = reports.iter().map(|r| r.exchanges.len()).sum();
        g.throughput(Throughput::Elements(exchanges as u64));
        // What kapture does: the span JSON written straight into a reused buffer.
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
        // For comparison: opentelemetry-proto structs, serialised by serde.
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
    }
    g.finish();
}

fn bench_pipeline(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipeline");
    for name in ["netem.pcap", "large-records.pcap", "codecs-kcat.pcap"] {
        let bytes = read_capture(name);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        for threads in [1, 2] {
            // The default run-wide decompression budget (1 GiB, shared by clones) would
            // run out over many iterations and change what is measured.
            let config = PipelineConfig {
                limits: body::Limits::new(16 << 20, u64::MAX),
                threads,
                ..PipelineConfig::default()
            };
            g.bench_function(format!("process_capture -j {threads} {name}"), |b| {
                b.iter(|| {
                    let mut summary = Summary::default();
                    pipeline::process_capture(black_box(&bytes), 0, &config, &mut summary)
                        .map(|c| c.iter().map(|s| s.spans.len()).sum::<usize>())
                })
            });
        }
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
/// stream for every frame; a streaming window that is never freed would too).
fn bench_long_connection(c: &mut Criterion) {
    let mut g = c.benchmark_group("long connection");
    let config = PipelineConfig::default();
    for n in [5_000, 40_000] {
        let bytes = long_connection(n);
        let conns = connections(&bytes);
        let conn = &conns[0];
        let run = || {
            let mut limits = config.limits.clone();
            let mut k = KafkaConn::new(0, conn.ends, 0, &config.kafka, u64::MAX);
            let mut out = Vec::new();
            for s in &conn.segments {
                k.on_segment(s.dir.index(), s, &config.kafka, &mut limits, &mut out);
            }
            k.finish(&config.kafka, &mut limits, &mut out);
            out.len()
        };
        assert_eq!(run(), n, "every exchange of the crafted connection");
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("KafkaConn, {n} exchanges"), |b| {
            b.iter(|| black_box(run()))
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
    targets = bench_capture, bench_reassembly, bench_framing, bench_header, bench_bodies,
        bench_spans, bench_pipeline, bench_long_connection
}
criterion_main!(stages);
