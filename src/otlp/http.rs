//! Replay: sends spans to an OTLP/HTTP endpoint (`POST …/v1/traces`), the way an
//! OpenTelemetry SDK's exporter would: batches bounded in spans and bytes, protobuf or
//! JSON bodies, optional gzip, retries with exponential backoff and jitter on
//! 429/502/503/504 and on connection failures (honouring `Retry-After`), and
//! `partialSuccess` counted as rejected spans. Retries share one budget per outage
//! ([`RetryPolicy::max_elapsed`], 15 s by default): it is spent by the retries since
//! the endpoint last accepted a request and refilled when it accepts one, so a dead
//! endpoint costs a bounded time, while a live agent rides out any number of gateway
//! restarts over its life. The first failure is told at once (see
//! [`Exporter::on_failure`]).
//!
//! Spans arrive serialised as JSON, as the pipeline makes them for the file output. A
//! JSON body is those bytes in the usual envelope; a protobuf body deserialises each
//! span back into its opentelemetry-proto struct (the JSON is lossless) and encodes it
//! with prost. The file output is not touched either way.

use std::fmt;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

use super::Envelope;

/// The wire encoding of request bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// `application/x-protobuf`, the OTLP/HTTP default.
    #[default]
    HttpProtobuf,
    /// `application/json`, OTLP's JSON mapping (hex ids), as in the JSON Lines file.
    HttpJson,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::HttpJson => "http/json",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "application/x-protobuf",
            Protocol::HttpJson => "application/json",
        }
    }
}

/// Request body compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip,
}

/// When and how often to try a request again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Most attempts of one request, the first included (by default unbounded: the
    /// budget decides).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubles each time, with jitter.
    pub initial_backoff: Duration,
    /// Longest wait between two attempts (a longer `Retry-After` is still honoured,
    /// within `max_elapsed`).
    pub max_backoff: Duration,
    /// Longest time one outage may cost: the waits and the attempts after a failed
    /// one, all requests together since the endpoint last accepted one. A retried
    /// attempt's time limit is cut to what is left of it, so a replay never spends more
    /// than this on retries without a request getting through; an accepted request
    /// refills it.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: u32::MAX,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_elapsed: DEFAULT_RETRY_BUDGET,
        }
    }
}

/// Most spans in one request (the OpenTelemetry SDKs' default batch size).
pub const DEFAULT_BATCH_SPANS: usize = 512;
/// Most bytes in one uncompressed request body: far below the 64 MiB (Jaeger, gRPC) or
/// 20 MiB (Collector `max_request_body_size`) that receivers take.
pub const DEFAULT_BATCH_BYTES: usize = 4 << 20;
/// The OTLP exporters' default timeout per request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The time one outage may cost in retries, by default ([`RetryPolicy::max_elapsed`]).
pub const DEFAULT_RETRY_BUDGET: Duration = Duration::from_secs(15);

/// Where and how to send spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportConfig {
    /// The full URL requests go to, `/v1/traces` included.
    pub url: String,
    pub protocol: Protocol,
    /// Extra request headers (authentication, tenant, ...).
    pub headers: Vec<(String, String)>,
    pub compression: Compression,
    /// Time limit of one attempt, connection to last response byte.
    pub timeout: Duration,
    pub max_batch_spans: usize,
    pub max_batch_bytes: usize,
    pub retry: RetryPolicy,
}

impl ExportConfig {
    /// A config with the defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        ExportConfig {
            url: url.into(),
            protocol: Protocol::default(),
            headers: Vec::new(),
            compression: Compression::default(),
            timeout: DEFAULT_TIMEOUT,
            max_batch_spans: DEFAULT_BATCH_SPANS,
            max_batch_bytes: DEFAULT_BATCH_BYTES,
            retry: RetryPolicy::default(),
        }
    }
}

/// What happened to the spans handed to an [`Exporter`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    pub url: String,
    pub protocol: Protocol,
    pub compression: Compression,
    /// Spans handed over.
    pub spans: u64,
    /// Requests made (one per batch sent), retries excluded.
    pub requests: u64,
    /// Extra attempts made after 429/502/503/504 or connection failures.
    pub retries: u64,
    /// Spans in requests the endpoint answered with success, less those it rejected.
    pub accepted: u64,
    /// Spans a successful answer's `partialSuccess.rejectedSpans` rejected.
    pub rejected: u64,
    /// Spans never accepted: their request failed, or an earlier one stopped the
    /// replay.
    pub not_sent: u64,
    /// Messages from `partialSuccess.errorMessage` (the first few, deduplicated).
    pub messages: Vec<String>,
    /// Why the replay stopped, when it did.
    pub error: Option<String>,
}

impl ExportReport {
    /// True when the endpoint accepted every span.
    pub fn all_accepted(&self) -> bool {
        self.accepted == self.spans && self.rejected == 0 && self.not_sent == 0
    }
}

impl fmt::Display for ExportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let compression = match self.compression {
            Compression::None => "",
            Compression::Gzip => ", gzip",
        };
        write!(
            f,
            "replay: {} spans to {} ({}{compression}) in {} request(s)",
            self.spans,
            self.url,
            self.protocol.name(),
            self.requests
        )?;
        if self.retries > 0 {
            write!(f, ", {} retries", self.retries)?;
        }
        write!(f, ": {} accepted", self.accepted)?;
        if self.rejected > 0 {
            write!(f, ", {} rejected by the endpoint", self.rejected)?;
        }
        if self.not_sent > 0 {
            write!(f, ", {} not delivered", self.not_sent)?;
        }
        for m in &self.messages {
            write!(f, "\n  endpoint said: {m}")?;
        }
        if let Some(e) = &self.error {
            write!(f, "\n  stopped: {e}")?;
        }
        Ok(())
    }
}

/// The spans of the request being filled.
enum Batch {
    Protobuf(Vec<Span>),
    /// Serialised spans joined by commas.
    Json(Vec<u8>),
}

/// Told of a replay's first failed attempt (see [`Exporter::on_failure`]).
pub type FailureHook = Box<dyn FnMut(&str) + Send>;

/// Groups spans into requests and sends them, one request at a time.
pub struct Exporter {
    config: ExportConfig,
    envelope: Envelope,
    /// The envelope of the run's one service, and the client service of the batch
    /// being gathered under `--service-name-from` (a batch holds one service).
    base_envelope: Envelope,
    batch_service: Option<Box<str>>,
    agent: ureq::Agent,
    batch: Batch,
    batch_spans: usize,
    batch_bytes: usize,
    /// Bytes of a request body besides its spans.
    overhead: usize,
    report: ExportReport,
    jitter: u64,
    /// Retry time spent since the endpoint last accepted a request, against
    /// [`RetryPolicy::max_elapsed`].
    retrying: Duration,
    /// Told of the first failed attempt, as soon as it fails.
    on_failure: Option<FailureHook>,
}

/// The outcome of one attempt.
enum Attempt {
    /// 2xx: spans rejected by `partialSuccess`, and its message.
    Accepted(u64, String),
    /// Worth another try, after at least the delay the server asked for.
    Retry(String, Option<Duration>),
    /// Not worth another try.
    Fatal(String),
}

impl Exporter {
    pub fn new(config: ExportConfig, envelope: Envelope) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(config.timeout))
            .max_redirects(0)
            .user_agent(concat!("kapture/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let report = ExportReport {
            url: config.url.clone(),
            protocol: config.protocol,
            compression: config.compression,
            ..Default::default()
        };
        let batch = Self::empty_batch(config.protocol);
        let overhead = match config.protocol {
            // Two nested length prefixes may grow by up to 4 bytes each.
            Protocol::HttpProtobuf => {
                ExportTraceServiceRequest {
                    resource_spans: vec![envelope.resource_spans(Vec::new())],
                }
                .encoded_len()
                    + 8
            }
            Protocol::HttpJson => envelope.head.len() + envelope.tail.len(),
        };
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Exporter {
            config,
            base_envelope: envelope.clone(),
            envelope,
            batch_service: None,
            agent,
            batch,
            batch_spans: 0,
            batch_bytes: 0,
            overhead,
            report,
            jitter: seed | 1,
            retrying: Duration::ZERO,
            on_failure: None,
        }
    }

    /// Calls `tell` with a sentence about the first attempt that fails (whether it
    /// will be retried or not), when it fails, rather than only in the final report.
    pub fn on_failure(&mut self, tell: FailureHook) {
        self.on_failure = Some(tell);
    }

    /// Tells the first failure, once.
    fn tell_failure(&mut self, why: &str, retried: bool) {
        let Some(mut tell) = self.on_failure.take() else {
            return;
        };
        let budget = self.config.retry.max_elapsed;
        let left = budget.saturating_sub(self.retrying);
        let next = if retried && !left.is_zero() {
            format!(
                "retrying for at most {} more (--otlp-retry-budget {})",
                seconds(left),
                seconds(budget)
            )
        } else {
            "not retried: the spans not yet accepted will not be delivered".to_string()
        };
        tell(&format!("replay to {}: {why}; {next}", self.config.url));
    }

    fn empty_batch(protocol: Protocol) -> Batch {
        match protocol {
            Protocol::HttpProtobuf => Batch::Protobuf(Vec::new()),
            Protocol::HttpJson => Batch::Json(Vec::new()),
        }
    }

    /// Adds one span of client service `service` (`None`: the run's one service);
    /// a span of another service than the batch's sends the batch first, so each
    /// request's resource names the service of all its spans.
    pub fn push_for(&mut self, service: Option<&str>, span_json: &[u8]) {
        if self.batch_service.as_deref() != service {
            self.flush();
            self.batch_service = service.map(Box::from);
            self.envelope = match service {
                Some(name) => self.base_envelope.for_service(name),
                None => self.base_envelope.clone(),
            };
        }
        self.push(span_json);
    }

    /// Adds one span, serialised as [`super::span_json`] does; sends a request when
    /// the batch is full.
    pub fn push(&mut self, span_json: &[u8]) {
        self.report.spans += 1;
        if self.report.error.is_some() {
            self.report.not_sent += 1;
            return;
        }
        let size = match self.config.protocol {
            Protocol::HttpProtobuf => match serde_json::from_slice::<Span>(span_json) {
                Ok(span) => {
                    // Field tag, length varint and the span itself.
                    let len = span.encoded_len();
                    let size = 1 + prost::encoding::encoded_len_varint(len as u64) + len;
                    self.make_room(size);
                    if let Batch::Protobuf(spans) = &mut self.batch {
                        spans.push(span);
                    }
                    size
                }
                Err(e) => {
                    self.report.not_sent += 1;
                    self.report.error = Some(format!("a span did not parse back: {e}"));
                    return;
                }
            },
            Protocol::HttpJson => {
                let size = span_json.len() + 1;
                self.make_room(size);
                if let Batch::Json(json) = &mut self.batch {
                    if !json.is_empty() {
                        json.push(b',');
                    }
                    json.extend_from_slice(span_json);
                }
                size
            }
        };
        self.batch_spans += 1;
        self.batch_bytes += size;
        if self.batch_spans >= self.config.max_batch_spans.max(1) {
            self.flush();
        }
    }

    /// Sends the batch first when `size` more bytes would take it over the limit.
    fn make_room(&mut self, size: usize) {
        if self.batch_spans > 0
            && self.overhead + self.batch_bytes + size > self.config.max_batch_bytes
        {
            self.flush();
        }
    }

    /// Sends what is left and says what became of every span.
    pub fn finish(mut self) -> ExportReport {
        self.flush();
        self.report
    }

    /// Sends the current batch, if any.
    /// Sends the batch gathered so far (a request), if any.
    pub fn flush(&mut self) {
        if self.batch_spans == 0 {
            return;
        }
        let n = self.batch_spans as u64;
        let batch = std::mem::replace(&mut self.batch, Self::empty_batch(self.config.protocol));
        self.batch_spans = 0;
        self.batch_bytes = 0;
        if self.report.error.is_some() {
            self.report.not_sent += n;
            return;
        }
        let body = match batch {
            Batch::Protobuf(spans) => ExportTraceServiceRequest {
                resource_spans: vec![self.envelope.resource_spans(spans)],
            }
            .encode_to_vec(),
            Batch::Json(json) => self.envelope.json_around(&json),
        };
        let body = match self.config.compression {
            Compression::None => body,
            Compression::Gzip => gzip(&body),
        };
        match self.send(&body) {
            Ok((rejected, message)) => {
                let rejected = rejected.min(n);
                self.report.accepted += n - rejected;
                self.report.rejected += rejected;
                let message = message.trim();
                if !message.is_empty()
                    && self.report.messages.len() < 5
                    && !self.report.messages.iter().any(|m| m == message)
                {
                    self.report.messages.push(message.to_string());
                }
            }
            Err(e) => {
                self.report.not_sent += n;
                self.report.error = Some(e);
            }
        }
    }

    /// Sends one body, retrying as the policy allows. Returns the spans a partial
    /// success rejected and its message.
    fn send(&mut self, body: &[u8]) -> Result<(u64, String), String> {
        let policy = self.config.retry;
        let started = Instant::now();
        let mut attempt = 1;
        self.report.requests += 1;
        // A retried attempt counts against the retry budget, and its time limit is
        // what is left of it.
        let mut limit = None;
        loop {
            let before = Instant::now();
            let outcome = self.attempt(body, limit);
            if limit.is_some() {
                self.retrying += before.elapsed();
            }
            let (why, asked) = match outcome {
                Attempt::Accepted(rejected, message) => {
                    // The outage, if any, is over: the next one gets the whole budget.
                    self.retrying = Duration::ZERO;
                    return Ok((rejected, message));
                }
                Attempt::Fatal(why) => {
                    self.tell_failure(&why, false);
                    return Err(why);
                }
                Attempt::Retry(why, asked) => (why, asked),
            };
            let last = attempt >= policy.max_attempts.max(1);
            // The server's Retry-After wins over our own backoff.
            let wait = match asked {
                Some(a) => a,
                None => self.backoff(attempt),
            };
            let left = policy.max_elapsed.saturating_sub(self.retrying);
            let over_budget = wait >= left;
            self.tell_failure(&why, !last && !over_budget);
            if last {
                return Err(format!("{why} (gave up after {attempt} attempts)"));
            }
            if over_budget {
                return Err(match asked {
                    Some(a) => format!(
                        "{why}; the endpoint asked to retry after {}, past the {} retry budget",
                        seconds(a),
                        seconds(policy.max_elapsed)
                    ),
                    None => format!(
                        "{why} (gave up after {attempt} attempts in {:.1} s: the {} retry budget is spent)",
                        started.elapsed().as_secs_f64(),
                        seconds(policy.max_elapsed)
                    ),
                });
            }
            std::thread::sleep(wait);
            self.retrying += wait;
            limit = Some(
                policy
                    .max_elapsed
                    .saturating_sub(self.retrying)
                    .min(self.config.timeout)
                    .max(Duration::from_millis(1)),
            );
            attempt = attempt.saturating_add(1);
            self.report.retries += 1;
        }
    }

    /// Exponential backoff with "equal jitter": between half and all of
    /// `initial × 2^(attempt-1)`, capped at `max_backoff`.
    fn backoff(&mut self, attempt: u32) -> Duration {
        let policy = self.config.retry;
        let full = policy
            .initial_backoff
            .saturating_mul(1u32 << (attempt - 1).min(20))
            .min(policy.max_backoff);
        // xorshift64
        self.jitter ^= self.jitter << 13;
        self.jitter ^= self.jitter >> 7;
        self.jitter ^= self.jitter << 17;
        let fraction = (self.jitter >> 11) as f64 / (1u64 << 53) as f64;
        full.mul_f64(0.5 + fraction / 2.0)
    }

    /// One attempt; `limit` overrides the configured time limit.
    fn attempt(&self, body: &[u8], limit: Option<Duration>) -> Attempt {
        let mut request = self.agent.post(&self.config.url);
        if let Some(limit) = limit {
            request = request.config().timeout_global(Some(limit)).build();
        }
        let mut request = request.header("Content-Type", self.config.protocol.content_type());
        if self.config.compression == Compression::Gzip {
            request = request.header("Content-Encoding", "gzip");
        }
        for (name, value) in &self.config.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let mut response = match request.send(body) {
            Ok(r) => r,
            Err(e) => return classify_error(e),
        };
        let status = response.status().as_u16();
        let content_type = header(&response, "content-type").unwrap_or_default();
        let retry_after = header(&response, "retry-after").and_then(|v| parse_retry_after(&v));
        let location = header(&response, "location");
        let reason = response
            .status()
            .canonical_reason()
            .map_or(String::new(), |r| format!(" {r}"));
        let body = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec();
        let body = match body {
            Ok(b) => b,
            // The status is what matters for an error; a success must be readable.
            Err(e) if (200..300).contains(&status) => {
                return Attempt::Retry(format!("reading the response: {e}"), None);
            }
            Err(_) => Vec::new(),
        };
        match status {
            200..=299 => {
                let (rejected, message) = partial_success(&content_type, &body);
                Attempt::Accepted(rejected, message)
            }
            429 | 502 | 503 | 504 => Attempt::Retry(
                format!(
                    "HTTP {status}{reason}{}",
                    error_detail(&content_type, &body)
                ),
                retry_after,
            ),
            300..=399 => Attempt::Fatal(format!(
                "HTTP {status}{reason}: redirected{}; give kapture the final URL",
                location.map_or(String::new(), |l| format!(" to {l}"))
            )),
            _ => Attempt::Fatal(format!(
                "HTTP {status}{reason}{}",
                error_detail(&content_type, &body)
            )),
        }
    }
}

/// `15 s`, `500 ms`: a duration as messages give it.
fn seconds(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        let s = d.as_secs_f64();
        if s.fract() == 0.0 {
            format!("{s:.0} s")
        } else {
            format!("{s:.1} s")
        }
    } else {
        format!("{} ms", d.as_millis())
    }
}

fn header(response: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn classify_error(e: ureq::Error) -> Attempt {
    use std::io::ErrorKind;
    match e {
        // TLS failures (wrong scheme, bad certificate) come as invalid data: no retry.
        ureq::Error::Io(ref io)
            if matches!(
                io.kind(),
                ErrorKind::InvalidData | ErrorKind::InvalidInput | ErrorKind::Unsupported
            ) =>
        {
            Attempt::Fatal(e.to_string())
        }
        ureq::Error::Io(_)
        | ureq::Error::Timeout(_)
        | ureq::Error::ConnectionFailed
        | ureq::Error::Protocol(_) => Attempt::Retry(e.to_string(), None),
        ureq::Error::HostNotFound => Attempt::Fatal("host not found".into()),
        other => Attempt::Fatal(other.to_string()),
    }
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::default(),
    );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(body);
    enc.finish().unwrap_or_default()
}

/// Decompresses a gzip body (tests and tools use it to read what was sent).
pub fn gunzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body).read_to_end(&mut out)?;
    Ok(out)
}

/// `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(value)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) in seconds since the epoch.
pub fn parse_http_date(value: &str) -> Option<u64> {
    let mut parts = value.split_ascii_whitespace();
    let _weekday = parts.next()?.strip_suffix(',')?;
    let day: i64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if parts.next()? != "GMT" || parts.next().is_some() || hms.next().is_some() {
        return None;
    }
    if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = super::rebase::days_from_civil(year, month, day);
    u64::try_from(days * 86_400 + h * 3600 + m * 60 + s).ok()
}

/// `partialSuccess` of a 2xx answer: rejected spans and the message. An empty or
/// unreadable body is a full success (the spec lets servers send nothing).
fn partial_success(content_type: &str, body: &[u8]) -> (u64, String) {
    if body.is_empty() {
        return (0, String::new());
    }
    if content_type.contains("json") {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
            return (0, String::new());
        };
        let Some(partial) = value.get("partialSuccess") else {
            return (0, String::new());
        };
        let rejected = match partial.get("rejectedSpans") {
            Some(serde_json::Value::String(s)) => s.parse().unwrap_or(0),
            Some(v) => v.as_u64().unwrap_or(0),
            None => 0,
        };
        let message = partial
            .get("errorMessage")
            .and_then(|m| m.as_str())
            .unwrap_or_default();
        return (rejected, message.to_string());
    }
    match ExportTraceServiceResponse::decode(body) {
        Ok(r) => r.partial_success.map_or((0, String::new()), |p| {
            (
                u64::try_from(p.rejected_spans).unwrap_or(0),
                p.error_message,
            )
        }),
        Err(_) => (0, String::new()),
    }
}

/// `google.rpc.Status`, the body of an OTLP/HTTP protobuf error answer.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// What an error answer's body says, as `: text`, or nothing.
fn error_detail(content_type: &str, body: &[u8]) -> String {
    if body.is_empty() {
        return String::new();
    }
    let mut text = if content_type.contains("protobuf") {
        RpcStatus::decode(body)
            .map(|s| s.message)
            .unwrap_or_default()
    } else if content_type.contains("json") {
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| {
                ["message", "detail", "error"].iter().find_map(|k| {
                    v.get(*k)
                        .map(|m| m.as_str().map_or(m.to_string(), str::to_string))
                })
            })
            .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned())
    } else {
        String::from_utf8_lossy(body).into_owned()
    };
    text = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string();
    if text.is_empty() {
        return String::new();
    }
    if text.chars().count() > 300 {
        text = text.chars().take(300).collect::<String>() + "…";
    }
    format!(": {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 PST"), None);
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        // A date in the past means "now".
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_a_cap() {
        let mut e = Exporter::new(ExportConfig::new("http://127.0.0.1:9/"), Envelope::new("s"));
        for attempt in 1..10 {
            let full =
                Duration::from_millis(500 * (1 << (attempt - 1))).min(Duration::from_secs(8));
            let d = e.backoff(attempt);
            assert!(d >= full / 2 && d <= full, "{attempt}: {d:?}");
        }
    }

    #[test]
    fn partial_success_in_both_encodings() {
        let proto = ExportTraceServiceResponse {
            partial_success: Some(
                opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess {
                    rejected_spans: 3,
                    error_message: "too old".into(),
                },
            ),
        }
        .encode_to_vec();
        assert_eq!(
            partial_success("application/x-protobuf", &proto),
            (3, "too old".into())
        );
        let json = br#"{"partialSuccess":{"rejectedSpans":"2","errorMessage":"x"}}"#;
        assert_eq!(partial_success("application/json", json), (2, "x".into()));
        assert_eq!(
            partial_success("application/json", b"{}"),
            (0, String::new())
        );
        assert_eq!(partial_success("", b""), (0, String::new()));
    }

    #[test]
    fn error_bodies_are_summarised() {
        let status = RpcStatus {
            code: 3,
            message: "bad span".into(),
        }
        .encode_to_vec();
        assert_eq!(
            error_detail("application/x-protobuf", &status),
            ": bad span"
        );
        assert_eq!(
            error_detail("application/json", br#"{"detail":"no"}"#),
            ": no"
        );
        assert_eq!(error_detail("text/plain", b"line1\nline2"), ": line1 line2");
        assert_eq!(error_detail("text/plain", b""), "");
    }
}
