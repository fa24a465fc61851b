//! Turns the two framed directions of one Kafka connection into [`Exchange`]s: each
//! request paired with the response that carries its correlation id, or marked as
//! expecting none (Produce with acks=0) or as unanswered in the capture.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::api;
use super::frame::{self, FrameSpan, FrameValidator, FramingStats};
use super::header::{self, HeaderError};
use crate::tcp::Stream;

/// Bytes of a frame read to parse its header; longer headers are read in full.
const HEAD_PEEK: usize = 256;

/// One request frame and its header fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub span: FrameSpan,
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<Arc<str>>,
    /// Header length, so the body starts at `span.body_offset() + header_len`.
    pub header_len: u64,
    /// Produce only: the acks the request asked for, when the body was readable.
    pub acks: Option<i16>,
}

impl Request {
    /// Produce with acks=0 gets no response from the broker.
    pub fn expects_response(&self) -> bool {
        !(self.api_key == api::PRODUCE && self.acks == Some(0))
    }
}

/// One response frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    pub span: FrameSpan,
    pub correlation_id: i32,
}

/// What became of a request's response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseState {
    Paired,
    /// The request asked for no response (Produce acks=0).
    NotExpected,
    /// A response was expected but the capture holds none.
    NotCaptured,
    /// A response was expected, but a memory cap evicted the connection first.
    Evicted,
}

impl ResponseState {
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseState::Paired => "paired",
            ResponseState::NotExpected => "not_expected",
            ResponseState::NotCaptured => "not_captured",
            ResponseState::Evicted => "evicted",
        }
    }
}

/// A request and, when captured, its response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// Position of the request among its connection's, from 0.
    pub seq: u64,
    pub request: Request,
    pub response: Option<Response>,
    pub state: ResponseState,
    /// What the bodies say (empty for APIs whose bodies kapture does not read).
    pub facts: super::facts::Facts,
}

/// Counters for one connection's Kafka layer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct KafkaStats {
    pub requests: FramingStats,
    pub responses: FramingStats,
    /// Responses whose correlation id matches no outstanding request.
    pub unpaired_responses: u64,
    /// Requests that expected a response and got none in the capture.
    pub unanswered_requests: u64,
    /// Requests given up because too many were waiting at once.
    pub in_flight_evicted: u64,
}

/// Validates request headers while framing and interns client ids.
pub struct RequestValidator {
    last_client_id: Option<Arc<str>>,
}

impl RequestValidator {
    pub fn new() -> Self {
        RequestValidator {
            last_client_id: None,
        }
    }

    fn client_id(&mut self, raw: Option<&[u8]>) -> Option<Arc<str>> {
        let raw = raw?;
        let text = String::from_utf8_lossy(raw);
        match &self.last_client_id {
            Some(prev) if **prev == *text => Some(prev.clone()),
            _ => {
                let id: Arc<str> = Arc::from(text.as_ref());
                self.last_client_id = Some(id.clone());
                Some(id)
            }
        }
    }
}

impl Default for RequestValidator {
    fn default() -> Self {
        Self::new()
    }
}

/// Parses the header at `body` of a frame `len` bytes long, reading more than the
/// usual peek when a long client id needs it.
pub fn read_request_header<T>(
    stream: &Stream<'_>,
    body: u64,
    len: u64,
    then: impl FnOnce(Result<header::RequestHeader<'_>, HeaderError>) -> T,
) -> Option<T> {
    let captured = stream.contiguous_len_upto(body, len) as usize;
    let mut want = HEAD_PEEK.min(captured);
    loop {
        let bytes = stream.bytes(body, want)?;
        match header::parse_request_header(&bytes, len as usize) {
            Err(HeaderError::Short) if want < captured => want = captured.min(want * 64),
            r => return Some(then(r)),
        }
    }
}

/// The header fields of a request frame, as found while framing.
#[derive(Debug, Clone)]
pub struct RequestHead {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<Arc<str>>,
    pub header_len: u64,
}

impl FrameValidator for RequestValidator {
    type Head = RequestHead;

    fn min_len(&self) -> u64 {
        header::REQUEST_FIXED_LEN as u64
    }

    fn accept(
        &mut self,
        stream: &Stream<'_>,
        body: u64,
        len: u64,
        resync: bool,
    ) -> Option<RequestHead> {
        read_request_header(stream, body, len, |r| {
            let h = r.ok()?;
            // While searching, only plausibility matters: skip interning.
            let client_id = if resync {
                None
            } else {
                self.client_id(h.client_id)
            };
            Some(RequestHead {
                api_key: h.api_key,
                api_version: h.api_version,
                correlation_id: h.correlation_id,
                client_id,
                header_len: h.len as u64,
            })
        })?
    }
}

/// Reads `acks` from the start of a Produce request body.
fn produce_acks(stream: &Stream<'_>, req: &Request) -> Option<i16> {
    let body = req.span.body_offset() + req.header_len;
    let avail = stream.contiguous_len_upto(body, 64) as usize;
    let b = stream.bytes(body, avail)?;
    let mut pos = 0usize;
    if req.api_version >= 3 {
        // transactional_id: a nullable string, compact from v9 on.
        if req.api_version >= 9 {
            let (n, p) = header::uvarint(&b, 0)?;
            pos = p + (n as usize).saturating_sub(1);
        } else {
            let n = i16::from_be_bytes(b.get(0..2)?.try_into().ok()?);
            pos = 2 + usize::try_from(n).unwrap_or(0);
        }
    }
    Some(i16::from_be_bytes(b.get(pos..pos + 2)?.try_into().ok()?))
}

/// The request a framed header makes, with its `acks` read when it is a Produce.
pub fn request_from(stream: &Stream<'_>, span: FrameSpan, head: RequestHead) -> Request {
    let mut request = Request {
        span,
        api_key: head.api_key,
        api_version: head.api_version,
        correlation_id: head.correlation_id,
        client_id: head.client_id,
        header_len: head.header_len,
        acks: None,
    };
    if request.api_key == api::PRODUCE {
        request.acks = produce_acks(stream, &request);
    }
    request
}

/// Splits a whole direction into requests (used to guess which end is the broker).
pub fn split_requests(stream: &Stream<'_>, max_frame: u64) -> (Vec<Request>, FramingStats) {
    let mut validator = RequestValidator::new();
    let mut requests = Vec::new();
    let stats = frame::split(stream, max_frame, &mut validator, |span, head| {
        requests.push(request_from(stream, span, head));
    });
    (requests, stats)
}

/// Validates response frames. In sync any length will do. While searching, the
/// correlation id must belong to a request of the same connection that is still
/// waiting for its answer and was sent before the candidate's bytes arrived.
pub struct ResponseValidator {
    /// Send times of the requests still waiting, by correlation id.
    waiting: HashMap<i32, Vec<i64>>,
}

impl ResponseValidator {
    pub fn new() -> Self {
        ResponseValidator {
            waiting: HashMap::new(),
        }
    }

    /// A request was framed: a response with its correlation id may follow.
    pub fn expect(&mut self, r: &Request) {
        self.waiting
            .entry(r.correlation_id)
            .or_default()
            .push(r.span.first_ts);
    }

    fn answer(&mut self, id: i32, ts: i64) -> bool {
        let Some(times) = self.waiting.get_mut(&id) else {
            return false;
        };
        let found = match times.iter().position(|&t| t <= ts) {
            Some(i) => {
                times.remove(i);
                true
            }
            None => false,
        };
        if times.is_empty() {
            self.waiting.remove(&id);
        }
        found
    }

    /// A request was settled (answered, given up, or not expecting an answer): a
    /// response can no longer be searched for by its correlation id and time.
    pub fn forget(&mut self, r: &Request) {
        if let Some(times) = self.waiting.get_mut(&r.correlation_id) {
            if let Some(i) = times.iter().position(|&t| t == r.span.first_ts) {
                times.remove(i);
            }
            if times.is_empty() {
                self.waiting.remove(&r.correlation_id);
            }
        }
    }

    fn is_waiting(&self, id: i32, ts: i64) -> bool {
        self.waiting
            .get(&id)
            .is_some_and(|times| times.iter().any(|&t| t <= ts))
    }
}

impl FrameValidator for ResponseValidator {
    type Head = i32;

    fn min_len(&self) -> u64 {
        4
    }

    fn accept(&mut self, stream: &Stream<'_>, body: u64, _len: u64, resync: bool) -> Option<i32> {
        let mut b = [0u8; 4];
        if !stream.read_into(body, &mut b) {
            return None;
        }
        let id = i32::from_be_bytes(b);
        let ts = stream.chunk_containing(body)?.ts_ns;
        if resync {
            return self.is_waiting(id, ts).then_some(id);
        }
        self.answer(id, ts);
        Some(id)
    }
}

impl Default for ResponseValidator {
    fn default() -> Self {
        Self::new()
    }
}

/// A request whose fate is decided: answered, given up, or left unanswered.
#[derive(Debug)]
pub struct Settled {
    /// Position among the connection's requests.
    pub seq: u64,
    pub request: Request,
    pub response: Option<Response>,
    pub state: ResponseState,
}

/// Pairs responses with requests as both arrive, in capture order: a response takes the
/// oldest waiting request with its correlation id among those sent before it. At most
/// `max_in_flight` requests wait at once: beyond that the oldest is given up. Once a
/// response answers a request, the requests before it that are still waiting are
/// settled too (a broker answers in order), so nothing waits longer than it must.
#[derive(Debug)]
pub struct Pairing {
    max_in_flight: usize,
    /// Framed, not yet sent before any response seen.
    queued: VecDeque<(u64, Request)>,
    /// Waiting for a response, by correlation id, oldest first.
    waiting: HashMap<i32, VecDeque<u64>>,
    /// Every request waiting, oldest first, by sequence number.
    open: std::collections::BTreeMap<u64, Request>,
    next_seq: u64,
}

impl Pairing {
    pub fn new(max_in_flight: usize) -> Self {
        Pairing {
            max_in_flight,
            queued: VecDeque::new(),
            waiting: HashMap::new(),
            open: std::collections::BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// Requests not yet settled.
    pub fn pending(&self) -> usize {
        self.queued.len() + self.open.len()
    }

    /// The lowest stream offset of a request not yet settled (its bytes are still
    /// needed to read its body).
    pub fn oldest_offset(&self) -> Option<u64> {
        let open = self.open.values().map(|r| r.span.offset).min();
        let queued = self.queued.front().map(|(_, r)| r.span.offset);
        match (open, queued) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// When the oldest request not yet settled began.
    pub fn oldest_first_ts(&self) -> Option<i64> {
        let open = self.open.values().map(|r| r.span.first_ts).min();
        let queued = self.queued.iter().map(|(_, r)| r.span.first_ts).min();
        match (open, queued) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A request was framed.
    pub fn request(&mut self, request: Request) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queued.push_back((seq, request));
    }

    /// Requests that expect no answer would otherwise wait for the connection's end
    /// when no response ever comes: beyond `max` of them waiting, the oldest settle
    /// as not expected, as they would then.
    pub fn settle_unanswerable(
        &mut self,
        max: usize,
        out: &mut Vec<Settled>,
        stats: &mut KafkaStats,
    ) {
        let waiting = self
            .queued
            .iter()
            .filter(|(_, r)| !r.expects_response())
            .count();
        if waiting <= max
            || self
                .queued
                .front()
                .is_some_and(|(_, r)| r.expects_response())
        {
            return;
        }
        // Only from the front, so requests settle in order.
        let mut excess = waiting - max;
        while excess > 0 {
            match self.queued.front() {
                Some((_, r)) if !r.expects_response() => {
                    let (seq, request) = self.queued.pop_front().expect("front");
                    out.push(settle(seq, request, None, stats));
                    excess -= 1;
                }
                _ => break,
            }
        }
    }

    /// A response was framed.
    pub fn response(&mut self, resp: Response, out: &mut Vec<Settled>, stats: &mut KafkaStats) {
        while let Some((_, r)) = self.queued.front() {
            if r.span.first_ts > resp.span.first_ts {
                break;
            }
            let (seq, r) = self.queued.pop_front().expect("front");
            self.waiting
                .entry(r.correlation_id)
                .or_default()
                .push_back(seq);
            self.open.insert(seq, r);
            while self.open.len() > self.max_in_flight {
                let (old, request) = self.open.pop_first().expect("non-empty");
                self.forget(old, request.correlation_id);
                stats.in_flight_evicted += u64::from(request.expects_response());
                out.push(settle(old, request, None, stats));
            }
        }
        let found = self
            .waiting
            .get_mut(&resp.correlation_id)
            .and_then(|q| q.pop_front());
        let Some(seq) = found else {
            stats.unpaired_responses += 1;
            return;
        };
        if self
            .waiting
            .get(&resp.correlation_id)
            .is_some_and(|q| q.is_empty())
        {
            self.waiting.remove(&resp.correlation_id);
        }
        while let Some((&old, _)) = self.open.first_key_value() {
            if old >= seq {
                break;
            }
            let (old, request) = self.open.pop_first().expect("non-empty");
            self.forget(old, request.correlation_id);
            out.push(settle(old, request, None, stats));
        }
        let request = self.open.remove(&seq).expect("waiting request is open");
        out.push(settle(seq, request, Some(resp), stats));
    }

    /// The connection is over: whatever still waits stays unanswered.
    pub fn finish(&mut self, out: &mut Vec<Settled>, stats: &mut KafkaStats) {
        let mut rest: Vec<(u64, Request)> = std::mem::take(&mut self.open).into_iter().collect();
        rest.extend(self.queued.drain(..));
        rest.sort_by_key(|(seq, _)| *seq);
        self.waiting.clear();
        for (seq, request) in rest {
            out.push(settle(seq, request, None, stats));
        }
    }

    fn forget(&mut self, seq: u64, correlation_id: i32) {
        if let Some(q) = self.waiting.get_mut(&correlation_id) {
            q.retain(|&s| s != seq);
            if q.is_empty() {
                self.waiting.remove(&correlation_id);
            }
        }
    }
}

fn settle(
    seq: u64,
    request: Request,
    response: Option<Response>,
    stats: &mut KafkaStats,
) -> Settled {
    let state = match (&response, request.expects_response()) {
        (Some(_), _) => ResponseState::Paired,
        (None, false) => ResponseState::NotExpected,
        (None, true) => {
            stats.unanswered_requests += 1;
            ResponseState::NotCaptured
        }
    };
    Settled {
        seq,
        request,
        response,
        state,
    }
}

/// How many exchanges ended in each [`ResponseState`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExchangeCounts {
    pub total: u64,
    pub paired: u64,
    pub not_expected: u64,
    pub not_captured: u64,
    /// Left unanswered because a memory cap evicted their connection.
    pub evicted: u64,
}

impl ExchangeCounts {
    pub fn add_all(&mut self, exchanges: &[Exchange]) {
        for e in exchanges {
            self.add(e);
        }
    }

    pub fn add(&mut self, e: &Exchange) {
        self.total += 1;
        match e.state {
            ResponseState::Paired => self.paired += 1,
            ResponseState::NotExpected => self.not_expected += 1,
            ResponseState::NotCaptured => self.not_captured += 1,
            ResponseState::Evicted => self.evicted += 1,
        }
    }

    pub fn merge(&mut self, o: &ExchangeCounts) {
        self.total += o.total;
        self.paired += o.paired;
        self.not_expected += o.not_expected;
        self.not_captured += o.not_captured;
        self.evicted += o.evicted;
    }
}

impl KafkaStats {
    pub fn add(&mut self, other: &KafkaStats) {
        self.requests.add(&other.requests);
        self.responses.add(&other.responses);
        self.unpaired_responses += other.unpaired_responses;
        self.unanswered_requests += other.unanswered_requests;
        self.in_flight_evicted += other.in_flight_evicted;
    }
}
