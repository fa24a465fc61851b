//! Replay (`--otlp-endpoint`) and `--rebase-time`, against a small OTLP/HTTP server on
//! 127.0.0.1 that misbehaves on purpose: each test scripts the answers it gives. The
//! server serves a bounded number of requests within a deadline, then stops by itself.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use kapture::otlp::http::{
    Compression, ExportConfig, ExportReport, Exporter, Protocol, RetryPolicy, gunzip,
};
use kapture::otlp::{Envelope, span_json};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{Span, Status};
use prost::Message;

/// One scripted answer.
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

fn ok() -> Reply {
    reply(200, &[], b"")
}

fn reply(status: u16, headers: &[(&'static str, &str)], body: &[u8]) -> Reply {
    Reply {
        status,
        headers: headers.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        body: body.to_vec(),
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: Vec<(String, String)>,
    /// The body as sent (still compressed, when it was).
    body: Vec<u8>,
    at: Instant,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body decoded as an export request, whatever its encoding.
    fn request(&self) -> ExportTraceServiceRequest {
        let body = match self.header("content-encoding") {
            Some("gzip") => gunzip(&self.body).expect("gzip body"),
            None => self.body.clone(),
            Some(other) => panic!("unexpected encoding {other}"),
        };
        match self.header("content-type") {
            Some("application/x-protobuf") => {
                ExportTraceServiceRequest::decode(body.as_slice()).expect("protobuf body")
            }
            Some("application/json") => serde_json::from_slice(&body).expect("JSON body"),
            other => panic!("unexpected content type {other:?}"),
        }
    }

    fn spans(&self) -> Vec<Span> {
        spans_of(&self.request())
    }
}

fn spans_of(req: &ExportTraceServiceRequest) -> Vec<Span> {
    req.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| ss.spans.clone())
        .collect()
}

/// A one-thread HTTP/1.1 server on 127.0.0.1 that answers with `script` in order
/// (then 200s), closing the connection after each answer. It stops after
/// `max_requests` requests or `deadline`, whichever comes first.
struct Server {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(script: Vec<Reply>) -> Server {
        Self::start_bounded(script, 64, Duration::from_secs(60))
    }

    fn start_bounded(script: Vec<Reply>, max_requests: usize, deadline: Duration) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut served = 0;
            while served < max_requests
                && started.elapsed() < deadline
                && !stopped.load(Ordering::Relaxed)
            {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let answer = script.get(served).cloned().unwrap_or_else(ok);
                        // Logged before the answer goes out, so a client that has
                        // its answer finds its request in the log.
                        if let Some((seen, stream)) = read_request(stream) {
                            log.lock().unwrap().push(seen);
                            served += 1;
                            answer_with(stream, &answer);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => break,
                }
            }
        });
        Server {
            url,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request and writes `answer`. None when the connection sent nothing useful.
fn serve(stream: TcpStream, answer: &Reply) -> Option<Seen> {
    let (seen, stream) = read_request(stream)?;
    answer_with(stream, answer);
    Some(seen)
}

/// Reads one request.
fn read_request(mut stream: TcpStream) -> Option<(Seen, TcpStream)> {
    stream.set_nonblocking(false).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    // A TLS handshake, as a plain HTTP server answers it.
    let mut first = [0u8; 1];
    if stream.peek(&mut first).ok()? == 1 && first[0] == 0x16 {
        let _ = stream.write_all(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return None;
    }
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    if method != "POST" {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .expect("the exporter sends Content-Length");
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    let seen = Seen {
        path,
        headers,
        body,
        at: Instant::now(),
    };
    Some((seen, reader.into_inner()))
}

/// Writes `answer` and closes the connection.
fn answer_with(mut stream: TcpStream, answer: &Reply) {
    let reason = match answer.status {
        200 => "OK",
        400 => "Bad Request",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Whatever",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n",
        answer.status,
        answer.body.len()
    );
    for (k, v) in &answer.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&answer.body);
    let _ = stream.flush();
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// Spans that use every part of the format kapture writes: attributes of each type,
/// events, links, status, parent ids.
fn sample_spans(n: usize) -> Vec<Span> {
    (0..n)
        .map(|i| {
            let start = 1_795_588_103_508_594_000 + i as u64 * 1_000_000;
            Span {
                trace_id: vec![(i % 250) as u8 + 1; 16],
                span_id: vec![(i % 250) as u8 + 2; 8],
                parent_span_id: if i % 3 == 0 { vec![9; 8] } else { Vec::new() },
                name: format!("produce {i}"),
                kind: 3,
                start_time_unix_nano: start,
                end_time_unix_nano: start + 250_000 + i as u64,
                attributes: vec![
                    kv("messaging.system", Value::StringValue("kafka".into())),
                    kv("kapture.correlation_id", Value::IntValue(i as i64)),
                    kv("kapture.request.incomplete", Value::BoolValue(i % 2 == 0)),
                    kv("big", Value::IntValue(i64::MAX - i as i64)),
                ],
                events: vec![Event {
                    time_unix_nano: start + 100_000,
                    name: "kafka.partition".into(),
                    attributes: vec![kv("partition", Value::IntValue(0))],
                    ..Default::default()
                }],
                links: vec![Link {
                    trace_id: vec![0xab; 16],
                    span_id: vec![0xcd; 8],
                    trace_state: "k=v".into(),
                    attributes: vec![kv("messaging.kafka.offset", Value::IntValue(42))],
                    ..Default::default()
                }],
                status: Some(Status {
                    code: if i % 5 == 0 { 2 } else { 0 },
                    message: if i % 5 == 0 {
                        "broken".into()
                    } else {
                        String::new()
                    },
                }),
                ..Default::default()
            }
        })
        .collect()
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        max_elapsed: Duration::from_secs(20),
    }
}

fn config(server: &Server) -> ExportConfig {
    ExportConfig {
        retry: fast_retry(),
        timeout: Duration::from_secs(5),
        ..ExportConfig::new(format!("{}/v1/traces", server.url))
    }
}

/// Sends `spans` through an exporter and returns its report.
fn export(config: ExportConfig, spans: &[Span]) -> ExportReport {
    let mut exporter = Exporter::new(config, Envelope::new("replay-test"));
    for s in spans {
        exporter.push(&span_json(s));
    }
    exporter.finish()
}

#[test]
fn unavailable_then_ok_is_retried() {
    for status in [503, 502, 504] {
        let server = Server::start(vec![reply(status, &[], b"busy"), ok()]);
        let spans = sample_spans(5);
        let report = export(config(&server), &spans);
        assert!(report.all_accepted(), "{status}: {report}");
        assert_eq!((report.requests, report.retries), (1, 1), "{report}");
        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].body, seen[1].body, "the same request again");
        assert_eq!(seen[1].path, "/v1/traces");
        assert_eq!(seen[1].spans(), spans);
    }
}

#[test]
fn too_many_requests_waits_for_retry_after() {
    let server = Server::start(vec![reply(429, &[("Retry-After", "1")], b""), ok()]);
    let report = export(config(&server), &sample_spans(2));
    assert!(report.all_accepted(), "{report}");
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    let waited = seen[1].at - seen[0].at;
    // The policy alone would have waited at most 40 ms.
    assert!(waited >= Duration::from_millis(950), "waited {waited:?}");
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
}

#[test]
fn retry_after_beyond_the_budget_gives_up_at_once() {
    let server = Server::start(vec![reply(429, &[("Retry-After", "3600")], b"")]);
    let started = Instant::now();
    let report = export(config(&server), &sample_spans(3));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(server.seen().len(), 1);
    assert_eq!((report.accepted, report.not_sent), (0, 3));
    let error = report.error.clone().unwrap();
    assert!(
        error.contains("HTTP 429") && error.contains("3600"),
        "{error}"
    );
}

#[test]
fn bad_request_is_not_retried_and_stops_the_replay() {
    // An OTLP/HTTP error body: google.rpc.Status { code = 3, message = 2 }.
    let mut status = vec![0x08, 0x03, 0x12];
    let message = b"span 7 has no name";
    status.push(message.len() as u8);
    status.extend_from_slice(message);
    let server = Server::start(vec![reply(
        400,
        &[("Content-Type", "application/x-protobuf")],
        &status,
    )]);
    let cfg = ExportConfig {
        max_batch_spans: 2,
        ..config(&server)
    };
    let report = export(cfg, &sample_spans(5));
    assert_eq!(server.seen().len(), 1, "no retry, no further batches");
    assert_eq!(
        (report.accepted, report.not_sent, report.retries),
        (0, 5, 0)
    );
    let error = report.error.clone().unwrap();
    assert!(
        error.contains("HTTP 400 Bad Request: span 7 has no name"),
        "{error}"
    );
    assert!(!report.all_accepted());
}

#[test]
fn redirects_are_not_followed() {
    let server = Server::start(vec![reply(
        308,
        &[("Location", "http://127.0.0.1:1/v1/traces")],
        b"",
    )]);
    let report = export(config(&server), &sample_spans(1));
    assert_eq!(server.seen().len(), 1);
    assert!(
        report
            .error
            .unwrap()
            .contains("redirected to http://127.0.0.1:1")
    );
}

#[test]
fn partial_success_counts_rejected_spans_without_retrying() {
    let response = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: 2,
            error_message: "2 spans are too old".into(),
        }),
    }
    .encode_to_vec();
    let server = Server::start(vec![reply(
        200,
        &[("Content-Type", "application/x-protobuf")],
        &response,
    )]);
    let report = export(config(&server), &sample_spans(6));
    assert_eq!(server.seen().len(), 1);
    assert_eq!(
        (report.accepted, report.rejected, report.retries),
        (4, 2, 0)
    );
    assert_eq!(report.messages, vec!["2 spans are too old".to_string()]);
    assert!(!report.all_accepted());
    assert!(report.to_string().contains("2 rejected by the endpoint"));

    // The JSON form of the same answer, to a JSON request.
    let server = Server::start(vec![reply(
        200,
        &[("Content-Type", "application/json")],
        br#"{"partialSuccess":{"rejectedSpans":"1","errorMessage":"nope"}}"#,
    )]);
    let cfg = ExportConfig {
        protocol: Protocol::HttpJson,
        ..config(&server)
    };
    let report = export(cfg, &sample_spans(3));
    assert_eq!((report.accepted, report.rejected), (2, 1));
    // A warning with nothing rejected is a success.
    let warn = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: 0,
            error_message: "deprecated attribute".into(),
        }),
    }
    .encode_to_vec();
    let server = Server::start(vec![reply(
        200,
        &[("Content-Type", "application/x-protobuf")],
        &warn,
    )]);
    let report = export(config(&server), &sample_spans(3));
    assert!(report.all_accepted());
    assert_eq!(report.messages, vec!["deprecated attribute".to_string()]);
}

#[test]
fn gzip_bodies_decode_to_the_spans() {
    for protocol in [Protocol::HttpProtobuf, Protocol::HttpJson] {
        let server = Server::start(vec![]);
        let spans = sample_spans(40);
        let cfg = ExportConfig {
            compression: Compression::Gzip,
            protocol,
            ..config(&server)
        };
        let report = export(cfg, &spans);
        assert!(report.all_accepted(), "{report}");
        let seen = server.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].header("content-encoding"), Some("gzip"));
        assert!(seen[0].body.starts_with(&[0x1f, 0x8b]));
        let req = seen[0].request();
        assert_eq!(spans_of(&req), spans);
        let rs = &req.resource_spans[0];
        let service = &rs.resource.as_ref().unwrap().attributes[0];
        assert_eq!(service.key, "service.name");
        assert_eq!(rs.scope_spans[0].scope.as_ref().unwrap().name, "kapture");
        assert_eq!(rs.scope_spans[0].schema_url, kapture::otlp::SCHEMA_URL);
    }
}

#[test]
fn batches_respect_span_and_byte_limits() {
    // By spans.
    let server = Server::start(vec![]);
    let spans = sample_spans(10);
    let cfg = ExportConfig {
        max_batch_spans: 3,
        ..config(&server)
    };
    let report = export(cfg, &spans);
    assert_eq!(report.requests, 4);
    let seen = server.seen();
    let sizes: Vec<usize> = seen.iter().map(|s| s.spans().len()).collect();
    assert_eq!(sizes, [3, 3, 3, 1]);
    let all: Vec<Span> = seen.iter().flat_map(Seen::spans).collect();
    assert_eq!(all, spans, "every span once, in order");

    // By bytes, in both encodings: every body stays under the limit.
    for protocol in [Protocol::HttpProtobuf, Protocol::HttpJson] {
        let server = Server::start(vec![]);
        let limit = 4096;
        let spans = sample_spans(50);
        let cfg = ExportConfig {
            max_batch_bytes: limit,
            protocol,
            ..config(&server)
        };
        let report = export(cfg, &spans);
        assert!(report.all_accepted(), "{report}");
        let seen = server.seen();
        assert!(seen.len() >= 3, "{protocol:?}: {} requests", seen.len());
        for s in &seen {
            assert!(
                s.body.len() <= limit,
                "{protocol:?}: {} bytes over {limit}",
                s.body.len()
            );
            assert!(s.spans().len() > 1, "batches are not needlessly small");
        }
        let all: Vec<Span> = seen.iter().flat_map(Seen::spans).collect();
        assert_eq!(all, spans);
    }

    // A span bigger than the limit still goes, alone.
    let server = Server::start(vec![]);
    let cfg = ExportConfig {
        max_batch_bytes: 10,
        ..config(&server)
    };
    let report = export(cfg, &sample_spans(3));
    assert!(report.all_accepted());
    assert_eq!(server.seen().len(), 3);
}

#[test]
fn protobuf_and_json_bodies_carry_the_same_spans() {
    let spans = sample_spans(20);
    let mut requests = Vec::new();
    for protocol in [Protocol::HttpProtobuf, Protocol::HttpJson] {
        let server = Server::start(vec![]);
        let cfg = ExportConfig {
            protocol,
            headers: vec![("x-api-key".into(), "secret value".into())],
            ..config(&server)
        };
        assert!(export(cfg, &spans).all_accepted());
        let seen = server.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].header("x-api-key"), Some("secret value"));
        assert!(
            seen[0]
                .header("user-agent")
                .unwrap()
                .starts_with("kapture/")
        );
        requests.push(seen[0].request());
    }
    assert_eq!(requests[0], requests[1]);
    assert_eq!(spans_of(&requests[0]), spans);
    // The JSON body uses OTLP's JSON mapping: hex ids, as the JSON Lines file does.
    let server = Server::start(vec![]);
    let cfg = ExportConfig {
        protocol: Protocol::HttpJson,
        ..config(&server)
    };
    export(cfg, &spans[..1]);
    let body = String::from_utf8(server.seen()[0].body.clone()).unwrap();
    assert!(body.contains("\"traceId\":\"01010101010101010101010101010101\""));
    assert!(body.starts_with("{\"resourceSpans\":["));
}

#[test]
fn connection_failures_are_retried_then_reported() {
    // A port nothing listens on.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = ExportConfig {
        retry: RetryPolicy {
            max_attempts: 3,
            ..fast_retry()
        },
        ..ExportConfig::new(format!("http://127.0.0.1:{port}/v1/traces"))
    };
    let started = Instant::now();
    let report = export(cfg, &sample_spans(4));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!((report.retries, report.not_sent), (2, 4));
    assert!(
        report.error.unwrap().contains("gave up after 3 attempts"),
        "connection refused"
    );
}

/// A port on 127.0.0.1 that was bound and closed: nothing listens there.
fn dead_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn a_dead_endpoint_is_told_at_once_and_costs_the_retry_budget_only() {
    let told = Arc::new(Mutex::new(Vec::<(Duration, String)>::new()));
    let cfg = ExportConfig {
        retry: RetryPolicy {
            max_attempts: 100,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
            max_elapsed: Duration::from_millis(800),
        },
        max_batch_spans: 2,
        ..ExportConfig::new(format!("http://127.0.0.1:{}/v1/traces", dead_port()))
    };
    let started = Instant::now();
    let mut exporter = Exporter::new(cfg, Envelope::new("replay-test"));
    let sink = Arc::clone(&told);
    exporter.on_failure(Box::new(move |m| {
        sink.lock()
            .unwrap()
            .push((started.elapsed(), m.to_string()))
    }));
    // Five requests' worth: the budget is the whole replay's, not each request's.
    for s in &sample_spans(10) {
        exporter.push(&span_json(s));
    }
    let report = exporter.finish();
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(800 + 700), "{elapsed:?}");
    assert!(
        elapsed >= Duration::from_millis(500),
        "retried: {elapsed:?}"
    );
    assert_eq!((report.accepted, report.not_sent), (0, 10), "{report}");
    assert!(report.retries >= 3, "{report}");
    assert!(
        report
            .error
            .as_deref()
            .unwrap()
            .contains("retry budget is spent"),
        "{report}"
    );
    let told = told.lock().unwrap();
    assert_eq!(told.len(), 1, "told once: {told:?}");
    assert!(told[0].0 < Duration::from_millis(300), "at once: {told:?}");
    assert!(
        told[0].1.contains("refused") && told[0].1.contains("retrying for at most"),
        "{told:?}"
    );
}

#[test]
fn each_outage_gets_the_whole_retry_budget() {
    // Four outages (two 503s each, then a 200), as four gateway restarts over a live
    // agent's life. Each costs 100-200 ms of waits, inside the 300 ms budget; together
    // they cost 400-800 ms, which a budget shared by the whole run could not pay.
    let unavailable = || reply(503, &[], b"");
    let script = (0..4)
        .flat_map(|_| [unavailable(), unavailable(), ok()])
        .collect();
    let server = Server::start(script);
    let cfg = ExportConfig {
        retry: RetryPolicy {
            max_attempts: u32::MAX,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(100),
            max_elapsed: Duration::from_millis(300),
        },
        max_batch_spans: 2,
        ..config(&server)
    };
    let started = Instant::now();
    let report = export(cfg, &sample_spans(8));
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "waited: {:?}",
        started.elapsed()
    );
    assert!(report.all_accepted(), "{report}");
    assert_eq!((report.requests, report.retries), (4, 8), "{report}");
    let seen = server.seen();
    assert_eq!(seen.len(), 12);
    // Every batch went out three times with the same spans, and once accepted never
    // again: four batches, no duplicates.
    let ids: Vec<Vec<Vec<u8>>> = seen
        .iter()
        .map(|s| s.spans().into_iter().map(|sp| sp.span_id).collect())
        .collect();
    for batch in ids.chunks(3) {
        assert_eq!(batch[0], batch[1]);
        assert_eq!(batch[1], batch[2]);
    }
    let mut distinct: Vec<_> = ids.iter().step_by(3).flatten().collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 8);
}

#[test]
fn no_retry_budget_means_no_retries() {
    let cfg = ExportConfig {
        retry: RetryPolicy {
            max_elapsed: Duration::ZERO,
            ..fast_retry()
        },
        ..ExportConfig::new(format!("http://127.0.0.1:{}/v1/traces", dead_port()))
    };
    let report = export(cfg, &sample_spans(3));
    assert_eq!((report.retries, report.not_sent), (0, 3), "{report}");
}

#[cfg(feature = "tls")]
#[test]
fn tls_to_a_plain_http_server_fails_at_once() {
    let server = Server::start(vec![]);
    let url = server.url.replace("http://", "https://");
    let started = Instant::now();
    let report = export(
        ExportConfig::new(format!("{url}/v1/traces")),
        &sample_spans(2),
    );
    assert!(started.elapsed() < Duration::from_secs(5), "not retried");
    assert_eq!((report.retries, report.not_sent), (0, 2));
    assert!(report.error.is_some());
}

#[test]
fn a_slow_endpoint_times_out_and_is_retried() {
    // Accepts the connection but never answers the first time.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (silent, _) = listener.accept().unwrap();
        let (second, _) = listener.accept().unwrap();
        let seen = serve(second, &ok());
        drop(silent);
        seen.is_some()
    });
    let cfg = ExportConfig {
        timeout: Duration::from_millis(300),
        retry: fast_retry(),
        ..ExportConfig::new(url)
    };
    let report = export(cfg, &sample_spans(2));
    assert!(report.all_accepted(), "{report}");
    assert_eq!(report.retries, 1);
    assert!(handle.join().unwrap());
}

// ---- the binary -------------------------------------------------------------------

/// Runs kapture with no OTLP variables from the caller's environment.
fn run(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kapture"));
    cmd.current_dir(root()).args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("OTEL_") {
            cmd.env_remove(k);
        }
    }
    cmd.output().expect("kapture runs")
}

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kapture-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

const CAPTURE: &str = "testdata/traceparent-otel.pcap";

#[test]
fn replay_sends_what_the_file_holds_and_leaves_the_file_alone() {
    let plain = tmp("plain.jsonl");
    let out = run(&["-q", "--api", "all", "-o", plain.to_str().unwrap(), CAPTURE]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    let server = Server::start(vec![]);
    let both = tmp("both.jsonl");
    let out = run(&[
        "--api",
        "all",
        "--otlp-endpoint",
        &server.url,
        "--otlp-batch-spans",
        "10",
        "--otlp-header",
        "x-mlflow-experiment-id=0",
        "-o",
        both.to_str().unwrap(),
        CAPTURE,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("accepted"), "{stderr}");
    let file = std::fs::read(&both).unwrap();
    assert_eq!(
        file,
        std::fs::read(&plain).unwrap(),
        "-o output is unchanged"
    );
    let spans = parse_spans(&file);
    assert!(spans.len() > 10);
    let seen = server.seen();
    assert_eq!(seen.len(), spans.len().div_ceil(10));
    assert!(seen.iter().all(|s| s.path == "/v1/traces"
        && s.header("content-type") == Some("application/x-protobuf")
        && s.header("x-mlflow-experiment-id") == Some("0")));
    let sent: Vec<Span> = seen.iter().flat_map(Seen::spans).collect();
    assert_eq!(sent, spans);
    assert!(
        sent.iter()
            .any(|s| !s.links.is_empty() && !s.events.is_empty()),
        "links and events travel too"
    );
}

#[test]
fn replay_without_output_flag_keeps_stdout_empty() {
    let server = Server::start(vec![]);
    let out = run(&[
        "-q",
        "--otlp-endpoint",
        &format!("{}/v1/traces", server.url),
        "--otlp-protocol",
        "http/json",
        "--otlp-compression",
        "gzip",
        CAPTURE,
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr.is_empty(),
        "-q: nothing to say when all went well"
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].path, "/v1/traces",
        "a URL ending in /v1/traces is kept"
    );
    assert_eq!(seen[0].header("content-encoding"), Some("gzip"));
    assert!(!seen[0].spans().is_empty());

    // '-o -' asks for standard output as well.
    let server = Server::start(vec![]);
    let out = run(&["-q", "--otlp-endpoint", &server.url, "-o", "-", CAPTURE]);
    assert_eq!(out.status.code(), Some(0));
    let spans = parse_spans(&out.stdout);
    assert_eq!(server.seen()[0].spans(), spans);
}

#[test]
fn a_refused_replay_exits_4_and_says_why() {
    let server = Server::start(vec![reply(
        401,
        &[("Content-Type", "application/json")],
        br#"{"message":"missing API key"}"#,
    )]);
    let file = tmp("refused.jsonl");
    let out = run(&[
        "-q",
        "--otlp-endpoint",
        &server.url,
        "-o",
        file.to_str().unwrap(),
        CAPTURE,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("HTTP 401 Unauthorized: missing API key"),
        "{stderr}"
    );
    assert!(stderr.contains("not delivered"), "{stderr}");
    // The file is still written in full.
    assert!(!parse_spans(&std::fs::read(&file).unwrap()).is_empty());
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn the_binary_warns_of_a_dead_endpoint_first_and_reports_after() {
    let url = format!("http://127.0.0.1:{}", dead_port());
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kapture"))
        .current_dir(root())
        .args([
            "--summary",
            "off",
            "--otlp-endpoint",
            &url,
            "--otlp-retry-budget",
            "2s",
            CAPTURE,
        ])
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lines: Vec<(Duration, String)> = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map(|l| (started.elapsed(), l.unwrap()))
        .collect();
    let status = child.wait().unwrap();
    let ended = started.elapsed();
    assert_eq!(status.code(), Some(4), "{lines:?}");
    // The warning comes as soon as the first request fails, long before the end.
    let (at, first) = &lines[0];
    assert!(
        first.starts_with("kapture: warning: replay to ") && first.contains("retrying"),
        "{lines:?}"
    );
    assert!(
        *at + Duration::from_millis(200) < ended,
        "{at:?} vs {ended:?}"
    );
    assert!(ended < Duration::from_secs(2 + 5), "bounded: {ended:?}");
    // The report line, then what is wrong with it.
    let report = lines
        .iter()
        .position(|(_, l)| l.starts_with("kapture: replay: "))
        .expect("a report line");
    let verdict = lines
        .iter()
        .position(|(_, l)| l.starts_with("kapture: not every span reached"))
        .expect("a verdict line");
    assert!(report < verdict, "{lines:?}");
    assert!(
        lines
            .iter()
            .all(|(_, l)| l.starts_with("kapture: ") || l.starts_with("  ")),
        "{lines:?}"
    );
}

#[test]
fn replay_flags_are_checked() {
    for (args, needle) in [
        (
            vec!["--otlp-header", "a=b", CAPTURE],
            "--otlp-header needs --otlp-endpoint",
        ),
        (
            vec!["--otlp-endpoint", "localhost:4318", CAPTURE],
            "expected an http:// or https:// URL",
        ),
        (
            vec![
                "--otlp-endpoint",
                "http://h",
                "--otlp-protocol",
                "grpc",
                CAPTURE,
            ],
            "grpc",
        ),
        (
            vec![
                "--otlp-endpoint",
                "http://h",
                "--otlp-timeout",
                "soon",
                CAPTURE,
            ],
            "--otlp-timeout 'soon'",
        ),
        (
            vec!["--rebase-time", "2025-02-30T00:00:00Z", CAPTURE],
            "no such date",
        ),
    ] {
        let out = run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn rebase_time_moves_everything_by_one_offset() {
    let plain = tmp("rebase-plain.jsonl");
    let moved = tmp("rebase-moved.jsonl");
    let common = ["-q", "--api", "all", "--phase-spans"];
    let out = run(&[&common[..], &["-o", plain.to_str().unwrap(), CAPTURE]].concat());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let server = Server::start(vec![]);
    let out = run(&[
        &common[..],
        &[
            "--rebase-time",
            "2030-01-01T01:00:00+01:00",
            "--otlp-endpoint",
            &server.url,
            "-o",
            moved.to_str().unwrap(),
            CAPTURE,
        ],
    ]
    .concat());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let before = parse_spans(&std::fs::read(&plain).unwrap());
    let after = parse_spans(&std::fs::read(&moved).unwrap());
    assert_eq!(before.len(), after.len());
    let target = 1_893_456_000_000_000_000u64; // 2030-01-01T00:00:00Z
    assert_eq!(
        after.iter().map(|s| s.start_time_unix_nano).min(),
        Some(target)
    );
    let offset = target - before.iter().map(|s| s.start_time_unix_nano).min().unwrap();
    let mut children = 0;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(a.start_time_unix_nano, b.start_time_unix_nano + offset);
        assert_eq!(a.end_time_unix_nano, b.end_time_unix_nano + offset);
        for (eb, ea) in b.events.iter().zip(&a.events) {
            assert_eq!(ea.time_unix_nano, eb.time_unix_nano + offset);
        }
        children += usize::from(!a.parent_span_id.is_empty());
        let mut shifted = b.clone();
        shifted.start_time_unix_nano = a.start_time_unix_nano;
        shifted.end_time_unix_nano = a.end_time_unix_nano;
        for (e, ea) in shifted.events.iter_mut().zip(&a.events) {
            e.time_unix_nano = ea.time_unix_nano;
        }
        assert_eq!(&shifted, a, "nothing else changes");
    }
    assert!(children > 0, "phase spans moved with their parents");
    let sent: Vec<Span> = server.seen().iter().flat_map(Seen::spans).collect();
    assert_eq!(sent, after, "the replay carries the moved times too");

    // 'now': the earliest span starts within a minute of now.
    let out = run(&["-q", "--rebase-time", "now", CAPTURE]);
    let spans = parse_spans(&out.stdout);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let earliest = spans.iter().map(|s| s.start_time_unix_nano).min().unwrap();
    assert!(
        now.abs_diff(earliest) < 60_000_000_000,
        "{now} vs {earliest}"
    );
}
