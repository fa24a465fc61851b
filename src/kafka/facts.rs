//! Decodes the bodies of one exchange (with the bounded decoders in [`super::body`])
//! into owned [`Facts`]: per-partition topics, records, errors and offsets for Produce
//! and Fetch, trace contexts found in record headers, and the knowledge other
//! exchanges need (Metadata's topic ids, the consumer group a client joined).

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use super::api;
use super::body::{self, BodyError, Codec, CodecSet, Limits, RecordsSummary, TopicRef};
use super::exchange::Exchange;
use super::frame::FrameSpan;
use super::header;
use crate::tcp::Stream;

/// A topic as the wire named it: by name, or by id (Produce v13, Fetch v13+).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    Name(Arc<str>),
    Id([u8; 16]),
}

impl Topic {
    fn from_ref(t: &TopicRef<'_>) -> Topic {
        match t {
            TopicRef::Name(n) => Topic::Name(Arc::from(*n)),
            TopicRef::Id(id) => Topic::Id(id.0),
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topic::Name(n) => f.write_str(n),
            Topic::Id(id) => write!(f, "{}", body::TopicId(*id)),
        }
    }
}

/// What one exchange says about one partition, from its request and its response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionFacts {
    pub topic: Topic,
    pub partition: i32,
    /// Records carried: in the Produce request, or in the Fetch response.
    pub records: u64,
    pub batches: u32,
    pub record_bytes: u64,
    pub codecs: CodecSet,
    pub first_offset: Option<i64>,
    pub last_offset: Option<i64>,
    /// A trailing batch was cut short (normal in Fetch responses).
    pub partial_batch: bool,
    /// Fetch request: the offset asked for.
    pub fetch_offset: Option<i64>,
    /// Response: the partition's error code (0 when none).
    pub error_code: i16,
    /// Produce response: offset given to the first record.
    pub base_offset: Option<i64>,
    pub log_append_time_ms: Option<i64>,
    pub log_start_offset: Option<i64>,
    /// Fetch response.
    pub high_watermark: Option<i64>,
    pub last_stable_offset: Option<i64>,
    pub aborted_transactions: u32,
    /// Produce response v8+.
    pub record_errors: u32,
    pub error_message: Option<Box<str>>,
    /// Produce request: the first batch's idempotence facts.
    pub producer_id: Option<i64>,
    pub producer_epoch: Option<i16>,
    pub base_sequence: Option<i32>,
}

impl PartitionFacts {
    fn new(topic: Topic, partition: i32) -> Self {
        PartitionFacts {
            topic,
            partition,
            records: 0,
            batches: 0,
            record_bytes: 0,
            codecs: CodecSet::default(),
            first_offset: None,
            last_offset: None,
            partial_batch: false,
            fetch_offset: None,
            error_code: 0,
            base_offset: None,
            log_append_time_ms: None,
            log_start_offset: None,
            high_watermark: None,
            last_stable_offset: None,
            aborted_transactions: 0,
            record_errors: 0,
            error_message: None,
            producer_id: None,
            producer_epoch: None,
            base_sequence: None,
        }
    }

    fn add_records(&mut self, s: &RecordsSummary) {
        self.records += s.records;
        self.batches += s.batches;
        self.record_bytes += s.bytes;
        self.codecs = self.codecs.union(s.codecs);
        self.first_offset = min_opt(self.first_offset, s.first_offset);
        self.last_offset = self.last_offset.max(s.last_offset);
        self.partial_batch |= s.partial_bytes > 0;
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// The settings of a Fetch request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FetchParams {
    pub max_wait_ms: i32,
    pub min_bytes: i32,
    pub max_bytes: Option<i32>,
    pub isolation_level: Option<i8>,
    pub session_id: Option<i32>,
    pub session_epoch: Option<i32>,
}

/// A W3C trace context found in a record header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordLink {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub flags: u8,
    pub trace_state: Option<Box<str>>,
    pub topic: Topic,
    pub partition: i32,
    pub offset: i64,
}

/// Everything decoded from one exchange's bodies.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facts {
    pub partitions: Vec<PartitionFacts>,
    pub transactional_id: Option<Box<str>>,
    pub timeout_ms: Option<i32>,
    pub throttle_ms: Option<i32>,
    /// Top-level response error (Fetch v7+).
    pub error_code: i16,
    pub fetch: Option<FetchParams>,
    /// Distinct trace contexts from record headers, at most the configured cap.
    pub links: Vec<RecordLink>,
    /// Distinct contexts left out by the cap.
    pub links_dropped: u32,
    /// Batches whose decompression stopped at a cap.
    pub decompression_capped: u32,
    pub request_error: Option<String>,
    pub response_error: Option<String>,
    /// Bodies not decoded in full because bytes were not captured.
    pub request_cut: bool,
    pub response_cut: bool,
    /// Group APIs: the group the request names.
    pub group: Option<Arc<str>>,
    /// Metadata responses: topic ids and their names.
    pub topic_names: Vec<([u8; 16], Arc<str>)>,
    /// Records carried (Produce request, Fetch response), only when the count is sure:
    /// the body was decoded in full, or the cut part provably held no other record.
    pub record_count: Option<u64>,
    /// Metadata v2+ responses: the cluster id, and the brokers the response lists
    /// (host as advertised, port), which belong to that cluster.
    pub cluster_id: Option<Arc<str>>,
    pub cluster_brokers: Vec<(Arc<str>, i32)>,
    /// ApiVersions v3+ requests (KIP-511): the client library's name and version.
    pub client_software: Option<ClientSoftware>,
}

/// The client library a connection announced in its ApiVersions request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientSoftware {
    pub name: Arc<str>,
    pub version: Arc<str>,
}

impl Facts {
    /// The first error code in the response: top-level, then per partition.
    pub fn first_error(&self) -> Option<(i16, Option<&PartitionFacts>)> {
        if self.error_code != 0 {
            return Some((self.error_code, None));
        }
        self.partitions
            .iter()
            .find(|p| p.error_code != 0)
            .map(|p| (p.error_code, Some(p)))
    }

    fn partition_mut(&mut self, topic: Topic, partition: i32) -> &mut PartitionFacts {
        let i = match self
            .partitions
            .iter()
            .position(|p| p.partition == partition && p.topic == topic)
        {
            Some(i) => i,
            None => {
                self.partitions.push(PartitionFacts::new(topic, partition));
                self.partitions.len() - 1
            }
        };
        &mut self.partitions[i]
    }
}

/// What to decode beyond the headers.
#[derive(Debug, Clone)]
pub struct FactsOptions {
    /// Read record headers (decompressing batches) for trace-context links.
    pub record_links: bool,
    /// Most links kept per exchange.
    pub max_links: usize,
}

impl Default for FactsOptions {
    fn default() -> Self {
        FactsOptions {
            record_links: true,
            max_links: 32,
        }
    }
}

/// Whether kapture reads the body of `api_key` at all.
pub fn has_body_facts(api_key: i16) -> bool {
    matches!(
        api_key,
        api::PRODUCE | api::FETCH | api::METADATA | api::API_VERSIONS
    ) || group_api(api_key)
}

/// OffsetCommit and TxnOffsetCommit: the consumer settles (commits) offsets.
pub const OFFSET_COMMIT: i16 = 8;
pub const OFFSET_FETCH: i16 = 9;
pub const TXN_OFFSET_COMMIT: i16 = 28;

/// APIs whose request names the consumer group itself: OffsetCommit, OffsetFetch,
/// JoinGroup, Heartbeat, LeaveGroup, SyncGroup, TxnOffsetCommit, ConsumerGroupHeartbeat.
pub fn group_api(api_key: i16) -> bool {
    matches!(api_key, 8 | 9 | 11 | 12 | 13 | 14 | 28 | 68)
}

/// Largest copy buffer a worker keeps between bodies; a bigger body's buffer is freed
/// after use.
const SCRATCH_KEEP: usize = 16 << 20;

thread_local! {
    /// Bodies that arrived in several packets are copied here to be decoded: one
    /// buffer per worker thread, reused, so no body costs a fresh (zeroed, faulted-in)
    /// allocation.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Calls `decode` with the body bytes of a frame (all of them when captured, else the
/// captured prefix, with `true`): borrowed from the capture when one packet carried
/// them, else copied into the worker's scratch buffer.
fn with_body<R>(
    stream: &Stream<'_>,
    span: &FrameSpan,
    header_len: u64,
    decode: impl FnOnce(&[u8], bool) -> R,
) -> Option<R> {
    let start = span.body_offset() + header_len;
    let len = span.end().checked_sub(start)?;
    let have = stream.contiguous_len_upto(start, len);
    let cut = have < len;
    if let Some(bytes) = stream.borrow(start, have as usize) {
        return Some(decode(bytes, cut));
    }
    if have == 0 {
        // Not one byte of the body was captured.
        return None;
    }
    SCRATCH.with_borrow_mut(|buf| {
        buf.clear();
        let copied = stream.append_to(start, have as usize, buf);
        let result = copied.then(|| decode(buf, cut));
        if buf.capacity() > SCRATCH_KEEP {
            *buf = Vec::new();
        }
        result
    })
}

/// Response header length for this request's key and version.
fn response_header_len(
    stream: &Stream<'_>,
    span: &FrameSpan,
    api_key: i16,
    version: i16,
) -> Option<u64> {
    let hv = api::info(api_key)?.response_header_version(version);
    let b = stream.bytes(
        span.body_offset(),
        stream.contiguous_len_upto(span.body_offset(), 64) as usize,
    )?;
    header::parse_response_header(&b, hv)
        .ok()
        .map(|h| h.len as u64)
}

/// Records a body that did not decode. A body the capture cut short is expected to
/// fail and is counted as cut, not as a decode error.
fn note_error(slot: &mut Option<String>, e: &BodyError, cut: bool) {
    if !cut {
        *slot = Some(format!(
            "{:?} in {} at body byte {}",
            e.kind, e.field, e.offset
        ));
    }
}

/// Decodes what kapture reads of one exchange's bodies.
pub fn decode(
    ex: &Exchange,
    to_broker: &Stream<'_>,
    to_client: &Stream<'_>,
    options: &FactsOptions,
    limits: &mut Limits,
) -> Facts {
    let mut facts = Facts::default();
    let req = &ex.request;
    if !has_body_facts(req.api_key) {
        return facts;
    }
    with_body(to_broker, &req.span, req.header_len, |bytes, cut| {
        facts.request_cut = cut;
        decode_request(
            &mut facts,
            req.api_key,
            req.api_version,
            bytes,
            cut,
            options,
            limits,
        );
    });
    let Some(resp) = &ex.response else {
        return facts;
    };
    let Some(hlen) = response_header_len(to_client, &resp.span, req.api_key, req.api_version)
    else {
        return facts;
    };
    with_body(to_client, &resp.span, hlen, |bytes, cut| {
        facts.response_cut = cut;
        decode_response(
            &mut facts,
            req.api_key,
            req.api_version,
            bytes,
            cut,
            options,
            limits,
        );
    });
    facts
}

fn decode_request(
    facts: &mut Facts,
    api_key: i16,
    version: i16,
    bytes: &[u8],
    cut: bool,
    options: &FactsOptions,
    limits: &mut Limits,
) {
    match api_key {
        api::PRODUCE => match body::produce_request(bytes, version) {
            Ok(p) => {
                facts.transactional_id = p.transactional_id.map(Box::from);
                facts.timeout_ms = Some(p.timeout_ms);
                for t in &p.topics {
                    let topic = Topic::from_ref(&t.topic);
                    for part in &t.partitions {
                        let pf = facts.partition_mut(topic.clone(), part.index);
                        pf.add_records(&part.summary);
                        if let Some(records) = part.records {
                            first_batch_ids(pf, records);
                        }
                    }
                    if options.record_links {
                        for part in &t.partitions {
                            if let Some(records) = part.records {
                                collect_links(facts, &topic, part.index, records, options, limits);
                            }
                        }
                    }
                }
            }
            Err(e) => note_error(&mut facts.request_error, &e, cut),
        },
        api::FETCH => match body::fetch_request(bytes, version) {
            Ok(f) => {
                facts.fetch = Some(FetchParams {
                    max_wait_ms: f.max_wait_ms,
                    min_bytes: f.min_bytes,
                    max_bytes: f.max_bytes,
                    isolation_level: f.isolation_level,
                    session_id: f.session_id,
                    session_epoch: f.session_epoch,
                });
                for t in &f.topics {
                    let topic = Topic::from_ref(&t.topic);
                    for p in &t.partitions {
                        facts.partition_mut(topic.clone(), p.partition).fetch_offset =
                            Some(p.fetch_offset);
                    }
                }
            }
            Err(e) => note_error(&mut facts.request_error, &e, cut),
        },
        k if group_api(k) => {
            let flexible = api::info(k).is_some_and(|i| i.is_flexible(version));
            facts.group = request_group(k, version, bytes, flexible).map(Arc::from);
        }
        api::API_VERSIONS if version >= 3 => match body::api_versions_request(bytes, version) {
            Ok(a) => {
                facts.client_software = Some(ClientSoftware {
                    name: Arc::from(a.client_software_name),
                    version: Arc::from(a.client_software_version),
                });
            }
            Err(e) => note_error(&mut facts.request_error, &e, cut),
        },
        _ => {}
    }
    if api_key == api::PRODUCE {
        facts.record_count = if facts.request_error.is_none() && !cut {
            Some(facts.partitions.iter().map(|p| p.records).sum())
        } else {
            cut_produce_count(facts, version, bytes)
        };
    }
}

/// A cut Produce request's record count, when the captured bytes make it sure (see
/// [`body::produce_request_cut_count`]); the partition then carries it too.
fn cut_produce_count(facts: &mut Facts, version: i16, bytes: &[u8]) -> Option<u64> {
    let sure = body::produce_request_cut_count(bytes, version)?;
    let pf = facts.partition_mut(Topic::from_ref(&sure.topic), sure.partition);
    pf.records = sure.records;
    Some(sure.records)
}

/// The group a group API request names: first in most, after the transactional id in
/// TxnOffsetCommit, and in OffsetFetch v8+ the only group of its `groups` array.
fn request_group(api_key: i16, version: i16, b: &[u8], flexible: bool) -> Option<&str> {
    match api_key {
        TXN_OFFSET_COMMIT => {
            let (_, after) = string_at(b, 0, flexible)?;
            string_at(b, after, flexible).map(|(g, _)| g)
        }
        OFFSET_FETCH if version >= 8 => {
            // A compact array length: exactly one group, or no single group to name.
            let (n, at) = header::uvarint(b, 0)?;
            (n == 2).then_some(())?;
            string_at(b, at, flexible).map(|(g, _)| g)
        }
        _ => group_id(b, flexible),
    }
}

fn decode_response(
    facts: &mut Facts,
    api_key: i16,
    version: i16,
    bytes: &[u8],
    cut: bool,
    options: &FactsOptions,
    limits: &mut Limits,
) {
    match api_key {
        api::PRODUCE => match body::produce_response(bytes, version) {
            Ok(r) => {
                facts.throttle_ms = Some(r.throttle_time_ms);
                for t in &r.topics {
                    let topic = Topic::from_ref(&t.topic);
                    for p in &t.partitions {
                        let pf = facts.partition_mut(topic.clone(), p.index);
                        pf.error_code = p.error_code;
                        pf.base_offset = Some(p.base_offset);
                        pf.log_append_time_ms = Some(p.log_append_time_ms).filter(|&t| t >= 0);
                        pf.log_start_offset = p.log_start_offset;
                        pf.record_errors = p.record_errors.len() as u32;
                        pf.error_message = p.error_message.map(Box::from);
                    }
                }
            }
            Err(e) => note_error(&mut facts.response_error, &e, cut),
        },
        api::FETCH => match body::fetch_response(bytes, version) {
            Ok(r) => {
                facts.throttle_ms = Some(r.throttle_time_ms);
                facts.error_code = r.error_code;
                for t in &r.topics {
                    let topic = Topic::from_ref(&t.topic);
                    for p in &t.partitions {
                        let pf = facts.partition_mut(topic.clone(), p.partition_index);
                        pf.error_code = p.error_code;
                        pf.high_watermark = Some(p.high_watermark);
                        pf.last_stable_offset = p.last_stable_offset;
                        pf.log_start_offset = p.log_start_offset;
                        pf.aborted_transactions = p
                            .aborted_transactions
                            .as_ref()
                            .map_or(0, |a| a.len() as u32);
                        pf.add_records(&p.summary);
                    }
                    if options.record_links {
                        for p in &t.partitions {
                            if let Some(records) = p.records {
                                collect_links(
                                    facts,
                                    &topic,
                                    p.partition_index,
                                    records,
                                    options,
                                    limits,
                                );
                            }
                        }
                    }
                }
            }
            Err(e) => note_error(&mut facts.response_error, &e, cut),
        },
        api::METADATA => match body::metadata_response(bytes, version) {
            Ok(m) => {
                facts.topic_names = m
                    .topic_names()
                    .map(|(id, name)| (id.0, Arc::from(name)))
                    .collect();
                facts.cluster_id = m.cluster_id.filter(|c| !c.is_empty()).map(Arc::from);
                if facts.cluster_id.is_some() {
                    facts.cluster_brokers = m
                        .brokers
                        .iter()
                        .map(|b| (Arc::from(b.host), b.port))
                        .collect();
                }
            }
            Err(e) => note_error(&mut facts.response_error, &e, cut),
        },
        _ => {}
    }
    if api_key == api::FETCH {
        // A Fetch response cut by the capture may hold records nobody saw.
        let decoded = facts.response_error.is_none() && !cut;
        facts.record_count = decoded.then(|| facts.partitions.iter().map(|p| p.records).sum());
    }
}

/// The idempotence facts of the first batch of a Produce partition.
fn first_batch_ids(pf: &mut PartitionFacts, records: &[u8]) {
    if let Some(Ok(body::Entry::Batch(b))) = body::batches(records).next() {
        pf.producer_id = Some(b.producer_id).filter(|&id| id >= 0);
        pf.producer_epoch = pf.producer_id.map(|_| b.producer_epoch);
        pf.base_sequence = pf.producer_id.map(|_| b.base_sequence);
    }
}

/// Reads the record headers of every batch in `records` and keeps the distinct W3C
/// trace contexts, up to the cap.
fn collect_links(
    facts: &mut Facts,
    topic: &Topic,
    partition: i32,
    records: &[u8],
    options: &FactsOptions,
    limits: &mut Limits,
) {
    let mut seen: HashSet<([u8; 16], [u8; 8])> = facts
        .links
        .iter()
        .map(|l| (l.trace_id, l.span_id))
        .collect();
    for entry in body::batches(records) {
        let Ok(body::Entry::Batch(batch)) = entry else {
            continue;
        };
        if batch.is_control() {
            continue;
        }
        let mut found: Vec<(i64, [u8; 16], [u8; 8], u8)> = Vec::new();
        let mut state: Vec<(i64, Box<str>)> = Vec::new();
        let walk = body::for_each_record_header(&batch, limits, |h| {
            if h.key == b"traceparent" {
                if let Some((t, s, f)) = h.value.and_then(parse_traceparent) {
                    found.push((h.offset, t, s, f));
                }
            } else if h.key == b"tracestate"
                && let Some(v) = h.value.and_then(|v| std::str::from_utf8(v).ok())
            {
                state.push((h.offset, Box::from(v)));
            }
        });
        if walk.capped.is_some() {
            facts.decompression_capped += 1;
        }
        for (offset, trace_id, span_id, flags) in found {
            if !seen.insert((trace_id, span_id)) {
                continue;
            }
            if facts.links.len() >= options.max_links {
                facts.links_dropped += 1;
                continue;
            }
            let trace_state = state
                .iter()
                .find(|(o, _)| *o == offset)
                .map(|(_, s)| s.clone());
            facts.links.push(RecordLink {
                trace_id,
                span_id,
                flags,
                trace_state,
                topic: topic.clone(),
                partition,
                offset,
            });
        }
        if batch.codec() != Codec::None && limits.budget_left() == 0 {
            break;
        }
    }
}

/// Parses a W3C `traceparent` value: `00-<32 hex>-<16 hex>-<2 hex>`. All-zero ids are
/// invalid and rejected.
pub fn parse_traceparent(v: &[u8]) -> Option<([u8; 16], [u8; 8], u8)> {
    let text = std::str::from_utf8(v).ok()?;
    let mut parts = text.trim().split('-');
    let version = parts.next()?;
    let (trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?);
    if version.len() != 2
        || version == "ff"
        || trace.len() != 32
        || span.len() != 16
        || flags.len() != 2
    {
        return None;
    }
    let mut trace_id = [0u8; 16];
    let mut span_id = [0u8; 8];
    hex_into(trace, &mut trace_id)?;
    hex_into(span, &mut span_id)?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    if trace_id == [0; 16] || span_id == [0; 8] {
        return None;
    }
    Some((trace_id, span_id, flags))
}

fn hex_into(text: &str, out: &mut [u8]) -> Option<()> {
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(())
}

/// The group id every group API request starts with: a string, compact in flexible
/// versions.
fn group_id(b: &[u8], flexible: bool) -> Option<&str> {
    string_at(b, 0, flexible).map(|(s, _)| s)
}

/// A non-null string at `at` (compact in flexible versions) and the offset after it;
/// bounds-checked, so a length past the bytes gives `None`.
fn string_at(b: &[u8], at: usize, flexible: bool) -> Option<(&str, usize)> {
    let (len, start) = if flexible {
        let (n, p) = header::uvarint(b, at)?;
        (n.checked_sub(1)? as usize, p)
    } else {
        let n = i16::from_be_bytes(b.get(at..at.checked_add(2)?)?.try_into().ok()?);
        (usize::try_from(n).ok()?, at + 2)
    };
    let end = start.checked_add(len)?;
    Some((std::str::from_utf8(b.get(start..end)?).ok()?, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_parses_and_rejects() {
        let (t, s, f) =
            parse_traceparent(b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").unwrap();
        assert_eq!(t[0], 0x0a);
        assert_eq!(s[7], 0x31);
        assert_eq!(f, 1);
        assert!(
            parse_traceparent(b"00-00000000000000000000000000000000-b7ad6b7169203331-01").is_none()
        );
        assert!(
            parse_traceparent(b"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").is_none()
        );
        assert!(
            parse_traceparent(b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b71692033-01").is_none()
        );
        assert!(
            parse_traceparent(b"00-zzf7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").is_none()
        );
        assert!(parse_traceparent(&[0xff, 0xfe]).is_none());
    }

    #[test]
    fn group_ids() {
        // Classic string: length 2, "g1".
        assert_eq!(group_id(&[0, 2, b'g', b'1', 0xAA], false), Some("g1"));
        // Compact string: length + 1 = 3, "g1".
        assert_eq!(group_id(&[3, b'g', b'1'], true), Some("g1"));
        assert_eq!(group_id(&[0, 9, b'g'], false), None);
        assert_eq!(group_id(&[0], true), None);
    }

    #[test]
    fn group_ids_after_a_transactional_id_and_in_a_groups_array() {
        // TxnOffsetCommit v3 (flexible): transactional id "t", then group "g1".
        let txn = [2, b't', 3, b'g', b'1', 0];
        assert_eq!(request_group(TXN_OFFSET_COMMIT, 3, &txn, true), Some("g1"));
        // v0: classic strings.
        let txn = [0, 1, b't', 0, 2, b'g', b'1'];
        assert_eq!(request_group(TXN_OFFSET_COMMIT, 0, &txn, false), Some("g1"));
        assert_eq!(request_group(TXN_OFFSET_COMMIT, 0, &txn[..5], false), None);
        // OffsetFetch v8+: a compact array of one group, or of two (no single group).
        assert_eq!(
            request_group(OFFSET_FETCH, 9, &[2, 3, b'g', b'1'], true),
            Some("g1")
        );
        assert_eq!(
            request_group(OFFSET_FETCH, 9, &[3, 3, b'g', b'1'], true),
            None
        );
        // OffsetFetch v7 names its group first.
        assert_eq!(
            request_group(OFFSET_FETCH, 7, &[3, b'g', b'1'], true),
            Some("g1")
        );
        // A length past the end is no group, and no panic.
        assert_eq!(request_group(OFFSET_FETCH, 9, &[2, 0x7f], true), None);
        assert_eq!(string_at(&[0xff, 0xff, 0xff, 0xff, 0x0f], 0, true), None);
    }
}
