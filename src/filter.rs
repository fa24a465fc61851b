//! Which exchanges become spans: `--topic`, `--client-id`, `--broker`,
//! `--min-duration`, `--errors-only` and `--time-range`, combined with AND (several
//! values of one repeatable flag combine with OR). `--api` stays in
//! [`crate::pipeline::PipelineConfig::apis`], since it also decides which bodies are
//! decoded. Patterns are compiled once; checking an exchange allocates nothing.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, UNIX_EPOCH};

use globset::{Candidate, GlobBuilder, GlobSet, GlobSetBuilder};

use crate::kafka::ConnectionReport;
use crate::kafka::exchange::Exchange;
use crate::kafka::facts::Topic;
use crate::knowledge::Knowledge;
use crate::stats::Timing;

/// A broker to keep: its address, and its port when one was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerMatch {
    pub ip: IpAddr,
    pub port: Option<u16>,
}

/// The filters of a run. The default keeps everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    topics: Option<GlobSet>,
    client_ids: Option<GlobSet>,
    brokers: Vec<BrokerMatch>,
    min_duration_ns: Option<i64>,
    errors_only: bool,
    /// Span start in `[start, end)`, nanoseconds since the Unix epoch.
    start_ns: Option<i64>,
    end_ns: Option<i64>,
}

impl Filter {
    /// Keeps exchanges touching a topic that matches one of `patterns` (exact names or
    /// globs: `*`, `?`, `[...]`, `{a,b}`).
    pub fn with_topics<S: AsRef<str>>(mut self, patterns: &[S]) -> Result<Self, String> {
        self.topics = compile("--topic", patterns)?;
        Ok(self)
    }

    /// Keeps exchanges whose request's client id matches one of `patterns`.
    pub fn with_client_ids<S: AsRef<str>>(mut self, patterns: &[S]) -> Result<Self, String> {
        self.client_ids = compile("--client-id", patterns)?;
        Ok(self)
    }

    /// Keeps exchanges with one of these brokers (`HOST[:PORT]` texts, HOST an IP
    /// address).
    pub fn with_brokers<S: AsRef<str>>(mut self, brokers: &[S]) -> Result<Self, String> {
        self.brokers = brokers
            .iter()
            .map(|b| {
                parse_broker(b.as_ref()).map_err(|e| format!("--broker '{}': {e}", b.as_ref()))
            })
            .collect::<Result<_, _>>()?;
        Ok(self)
    }

    /// Keeps exchanges whose span lasts at least `ns` nanoseconds.
    pub fn with_min_duration_ns(mut self, ns: Option<i64>) -> Self {
        self.min_duration_ns = ns;
        self
    }

    /// Keeps only exchanges whose response carried a Kafka error.
    pub fn with_errors_only(mut self, errors_only: bool) -> Self {
        self.errors_only = errors_only;
        self
    }

    /// Keeps exchanges whose span starts in `[start, end)` (nanoseconds since the Unix
    /// epoch; either side open).
    pub fn with_time_range(mut self, start: Option<i64>, end: Option<i64>) -> Self {
        self.start_ns = start;
        self.end_ns = end;
        self
    }

    /// Whether any filter is set.
    pub fn is_active(&self) -> bool {
        self.topics.is_some()
            || self.client_ids.is_some()
            || !self.brokers.is_empty()
            || self.min_duration_ns.is_some()
            || self.errors_only
            || self.start_ns.is_some()
            || self.end_ns.is_some()
    }

    /// Whether an exchange of `report`'s connection passes every filter. The cheap
    /// checks come first; topics, which may need a topic id's name, last.
    pub fn matches(&self, report: &ConnectionReport, ex: &Exchange, knowledge: &Knowledge) -> bool {
        if self.min_duration_ns.is_some() || self.start_ns.is_some() || self.end_ns.is_some() {
            let t = Timing::of(ex);
            if self.min_duration_ns.is_some_and(|min| t.total() < min)
                || self.start_ns.is_some_and(|s| t.start < s)
                || self.end_ns.is_some_and(|e| t.start >= e)
            {
                return false;
            }
        }
        if self.errors_only && ex.facts.first_error().is_none() {
            return false;
        }
        if !self.brokers.is_empty()
            && !self
                .brokers
                .iter()
                .any(|b| b.ip == report.broker.ip && b.port.is_none_or(|p| p == report.broker.port))
        {
            return false;
        }
        if let Some(set) = &self.client_ids {
            match &ex.request.client_id {
                Some(id) => {
                    if !set.is_match_candidate(&Candidate::from_bytes(id.as_bytes())) {
                        return false;
                    }
                }
                None => return false,
            }
        }
        if let Some(set) = &self.topics {
            let hit = ex.facts.partitions.iter().any(|p| match &p.topic {
                Topic::Name(n) => matches_text(set, n.as_bytes()),
                Topic::Id(id) => match knowledge.topics.get(id) {
                    Some(n) => matches_text(set, n.as_bytes()),
                    None => matches_text(set, &uuid_text(id)),
                },
            });
            if !hit {
                return false;
            }
        }
        true
    }
}

fn matches_text(set: &GlobSet, text: &[u8]) -> bool {
    set.is_match_candidate(&Candidate::from_bytes(text))
}

/// A topic id as text, `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, without allocating.
fn uuid_text(id: &[u8; 16]) -> [u8; 36] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'-'; 36];
    let mut at = 0;
    for (i, b) in id.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            at += 1;
        }
        out[at] = HEX[usize::from(b >> 4)];
        out[at + 1] = HEX[usize::from(b & 15)];
        at += 2;
    }
    out
}

/// Compiles glob patterns (case-sensitive; `*` also matches `/`). No patterns: `None`.
fn compile<S: AsRef<str>>(flag: &str, patterns: &[S]) -> Result<Option<GlobSet>, String> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut set = GlobSetBuilder::new();
    for p in patterns {
        let p = p.as_ref();
        if p.is_empty() {
            return Err(format!("{flag}: the pattern is empty"));
        }
        let glob = GlobBuilder::new(p)
            .literal_separator(false)
            .backslash_escape(true)
            .build()
            .map_err(|e| format!("{flag} '{p}': {}", e.kind()))?;
        set.add(glob);
    }
    set.build().map(Some).map_err(|e| format!("{flag}: {e}"))
}

/// `HOST[:PORT]`: an IPv4 or IPv6 address (IPv6 with a port in brackets:
/// `[::1]:9092`), as in the spans' `server.address`.
pub fn parse_broker(text: &str) -> Result<BrokerMatch, String> {
    if let Ok(sa) = text.parse::<SocketAddr>() {
        if sa.port() == 0 {
            return Err("port 0 is not a TCP port".into());
        }
        return Ok(BrokerMatch {
            ip: sa.ip(),
            port: Some(sa.port()),
        });
    }
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(BrokerMatch { ip, port: None });
    }
    Err("expected an IP address with an optional port, such as 127.0.0.1, 10.0.0.5:9092, ::1 or [::1]:9092 (host names are not resolved)".into())
}

/// A duration such as `5ms`, `1.5s`, `250us`, `100ns` or `1m 30s`, in nanoseconds.
pub fn parse_duration_ns(text: &str) -> Result<i64, String> {
    let d = parse_duration(text)?;
    i64::try_from(d.as_nanos()).map_err(|_| "too long".into())
}

/// A duration with its unit, as every duration flag takes it: `5ms`, `1.5s`,
/// `250us`, `100ns`, `1m 30s`. A bare number is refused, whatever the flag, rather than
/// read in a unit the user may not mean.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!(
            "a duration needs a unit: {text}ms, {text}s, {text}us or {text}ns"
        ));
    }
    humantime::parse_duration(text).map_err(|e| format!("{e} (e.g. 100ns, 250us, 5ms, 1.5s)"))
}

/// `START..END`, either side empty (open), each an RFC 3339 time
/// (`2026-11-25T06:30:00Z`, `2026-11-25T07:30:00.5+01:00`) or Unix seconds with an
/// optional fraction (`1764052200.25`). Returns nanoseconds since the Unix epoch.
pub fn parse_time_range(text: &str) -> Result<(Option<i64>, Option<i64>), String> {
    let Some((start, end)) = text.split_once("..") else {
        return Err("expected START..END (either side may be empty)".into());
    };
    let side = |s: &str| -> Result<Option<i64>, String> {
        let s = s.trim();
        if s.is_empty() {
            Ok(None)
        } else {
            parse_time(s).map(Some)
        }
    };
    let (start, end) = (side(start)?, side(end)?);
    match (start, end) {
        (None, None) => Err("give a start, an end or both (START..END)".into()),
        (Some(s), Some(e)) if s >= e => Err("the start must be before the end".into()),
        r => Ok(r),
    }
}

/// One point in time: RFC 3339 or Unix seconds.
pub fn parse_time(text: &str) -> Result<i64, String> {
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return parse_unix_seconds(text);
    }
    parse_rfc3339(text)
}

fn parse_unix_seconds(text: &str) -> Result<i64, String> {
    let bad = || format!("'{text}' is not Unix seconds (digits, optionally with a fraction)");
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    if secs.is_empty() || frac.contains('.') || frac.len() > 9 {
        return Err(bad());
    }
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    let nanos: i64 = if frac.is_empty() {
        0
    } else {
        let digits: i64 = frac.parse().map_err(|_| bad())?;
        digits * 10i64.pow(9 - frac.len() as u32)
    };
    secs.checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(nanos))
        .ok_or_else(bad)
}

/// RFC 3339 through humantime, which reads UTC (`Z`, `+00:00`) only; another offset
/// is applied here.
fn parse_rfc3339(text: &str) -> Result<i64, String> {
    let bad = |e: String| {
        format!("'{text}': {e} (use RFC 3339 such as 2026-11-25T06:30:00Z, or Unix seconds)")
    };
    let (utc, offset_s) = split_offset(text);
    let t = humantime::parse_rfc3339(&utc).map_err(|e| bad(e.to_string()))?;
    let ns = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).map_err(|_| bad("out of range".into()))?,
        Err(e) => {
            -i64::try_from(e.duration().as_nanos()).map_err(|_| bad("out of range".into()))?
        }
    };
    Ok(ns - offset_s * 1_000_000_000)
}

/// Splits a trailing `±HH:MM` offset off an RFC 3339 time: the time with `Z` instead,
/// and the offset in seconds (0 when there is none).
fn split_offset(text: &str) -> (String, i64) {
    let b = text.as_bytes();
    if b.len() > 6 {
        let tail = &b[b.len() - 6..];
        let digits = |r: std::ops::Range<usize>| tail[r].iter().all(u8::is_ascii_digit);
        if matches!(tail[0], b'+' | b'-') && digits(1..3) && tail[3] == b':' && digits(4..6) {
            let h = i64::from((tail[1] - b'0') * 10 + (tail[2] - b'0'));
            let m = i64::from((tail[4] - b'0') * 10 + (tail[5] - b'0'));
            let sign = if tail[0] == b'-' { -1 } else { 1 };
            return (
                format!("{}Z", &text[..text.len() - 6]),
                sign * (h * 3600 + m * 60),
            );
        }
    }
    (text.to_string(), 0)
}

/// Formats nanoseconds since the epoch as RFC 3339 UTC with nanoseconds (for messages).
pub fn format_time(ns: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_nanos(u64::try_from(ns).unwrap_or(0));
    humantime::format_rfc3339_nanos(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::api;
    use crate::kafka::{self, KafkaConfig};
    use crate::knowledge::TopicMap;
    use crate::pipeline;
    use crate::summary::Summary;
    use crate::testkit::{self, Conversation, Side};
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::produce_response::{
        PartitionProduceResponse, TopicProduceResponse,
    };
    use kafka_protocol::messages::{
        ApiVersionsRequest, ApiVersionsResponse, ProduceRequest, ProduceResponse, TopicName,
    };
    use kafka_protocol::protocol::StrBytes;

    const MS: i64 = 1_000_000;
    /// 2026-11-25T06:30:00Z.
    const T0: i64 = 1_795_588_200 * 1_000_000_000;

    fn produce(
        conv: &mut Conversation,
        id: i32,
        client: &str,
        topics: &[&str],
        error: i16,
        t: i64,
        took: i64,
    ) {
        let data = topics
            .iter()
            .map(|t| {
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_string(t.to_string())))
                    .with_partition_data(vec![PartitionProduceData::default().with_index(0)])
            })
            .collect();
        let req = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(1000)
            .with_topic_data(data);
        let resp = ProduceResponse::default().with_responses(
            topics
                .iter()
                .map(|t| {
                    TopicProduceResponse::default()
                        .with_name(TopicName(StrBytes::from_string(t.to_string())))
                        .with_partition_responses(vec![
                            PartitionProduceResponse::default()
                                .with_index(0)
                                .with_error_code(error),
                        ])
                })
                .collect(),
        );
        conv.send(
            Side::Client,
            t,
            &testkit::request_frame(api::PRODUCE, 9, id, Some(client), &req),
        );
        conv.send(
            Side::Broker,
            t + took,
            &testkit::response_frame(api::PRODUCE, 9, id, &resp),
        );
    }

    /// Two connections: one to 127.0.0.1:9092 from client `app-1` (ApiVersions, then
    /// Produce to orders; payments with error 87; orders+payments), one to
    /// 127.0.0.1:19092 from `other` (Produce to orders, slow).
    fn reports() -> (Vec<ConnectionReport>, Knowledge) {
        let mut a = Conversation::new(40000, 9092, 1, 2);
        a.handshake(T0, T0 + MS / 10, T0 + MS / 5);
        a.send(
            Side::Client,
            T0 + MS,
            &testkit::request_frame(
                api::API_VERSIONS,
                3,
                1,
                Some("app-1"),
                &ApiVersionsRequest::default(),
            ),
        );
        a.send(
            Side::Broker,
            T0 + 2 * MS,
            &testkit::response_frame(api::API_VERSIONS, 3, 1, &ApiVersionsResponse::default()),
        );
        produce(&mut a, 2, "app-1", &["orders"], 0, T0 + 10 * MS, MS);
        produce(&mut a, 3, "app-1", &["payments"], 87, T0 + 20 * MS, 2 * MS);
        produce(
            &mut a,
            4,
            "app-1",
            &["orders", "payments"],
            0,
            T0 + 30 * MS,
            3 * MS,
        );
        let mut b = Conversation::new(40001, 19092, 1, 2);
        b.handshake(T0 + 40 * MS, T0 + 41 * MS, T0 + 42 * MS);
        produce(&mut b, 1, "other", &["orders"], 0, T0 + 50 * MS, 100 * MS);
        let pcap = testkit::pcap(&testkit::merge(&[&a, &b]));
        let mut summary = Summary::default();
        let config = pipeline::PipelineConfig {
            kafka: KafkaConfig {
                bodies: api::ApiSet::all(),
                ..KafkaConfig::default()
            },
            ..Default::default()
        };
        let reports = pipeline::analyse_capture(&pcap, &config, &mut summary).unwrap();
        assert!(reports.iter().all(|r| r.verdict == kafka::Verdict::Kafka));
        let knowledge = Knowledge::gather(&reports, &TopicMap::new());
        (reports, knowledge)
    }

    /// (broker port, correlation id) of the exchanges `filter` keeps.
    fn kept(filter: &Filter) -> Vec<(u16, i32)> {
        let (reports, knowledge) = reports();
        reports
            .iter()
            .flat_map(|r| r.exchanges.iter().map(move |e| (r, e)))
            .filter(|(r, e)| filter.matches(r, e, &knowledge))
            .map(|(r, e)| (r.broker.port, e.request.correlation_id))
            .collect()
    }

    const ALL: [(u16, i32); 5] = [(9092, 1), (9092, 2), (9092, 3), (9092, 4), (19092, 1)];

    #[test]
    fn no_filter_keeps_everything() {
        assert!(!Filter::default().is_active());
        assert_eq!(kept(&Filter::default()), ALL);
    }

    #[test]
    fn topics_match_exactly_or_by_glob_and_need_a_topic() {
        let f = |p: &[&str]| kept(&Filter::default().with_topics(p).unwrap());
        assert_eq!(f(&["orders"]), [(9092, 2), (9092, 4), (19092, 1)]);
        assert_eq!(f(&["payments"]), [(9092, 3), (9092, 4)]);
        assert_eq!(f(&["pay*"]), [(9092, 3), (9092, 4)]);
        assert_eq!(f(&["order?"]), [(9092, 2), (9092, 4), (19092, 1)]);
        assert_eq!(
            f(&["[op]*s"]),
            [(9092, 2), (9092, 3), (9092, 4), (19092, 1)]
        );
        assert_eq!(f(&["orders", "payments"]), f(&["*"]));
        assert_eq!(f(&["{orders,payments}"]), f(&["*"]));
        assert_eq!(f(&["[!o]*"]), f(&["payments"]));
        assert!(!f(&["*"]).contains(&(9092, 1)), "ApiVersions has no topic");
        assert!(f(&["Orders"]).is_empty(), "case-sensitive");
        assert!(f(&["order"]).is_empty(), "whole names only");
    }

    #[test]
    fn unresolved_topic_ids_match_their_uuid_text() {
        let id = [
            0x01, 0xa2, 0x11, 0x62, 0x97, 0xcc, 0x7f, 0xe0, 0xb5, 0xb0, 0x9e, 0xfb, 0x18, 0xdf,
            0xb6, 0x44,
        ];
        assert_eq!(
            &uuid_text(&id),
            crate::kafka::body::TopicId(id).to_string().as_bytes()
        );
        let set = compile("--topic", &["01a21162-*"]).unwrap().unwrap();
        assert!(matches_text(&set, &uuid_text(&id)));
    }

    #[test]
    fn client_ids_match_globs() {
        let f = |p: &[&str]| kept(&Filter::default().with_client_ids(p).unwrap());
        assert_eq!(f(&["app-1"]), ALL[..4]);
        assert_eq!(f(&["oth*"]), [(19092, 1)]);
        assert_eq!(f(&["app-?", "other"]), ALL);
        assert!(f(&["app"]).is_empty());
    }

    #[test]
    fn brokers_match_address_and_optional_port() {
        let f = |p: &[&str]| kept(&Filter::default().with_brokers(p).unwrap());
        assert_eq!(f(&["127.0.0.1"]), ALL);
        assert_eq!(f(&["127.0.0.1:19092"]), [(19092, 1)]);
        assert_eq!(f(&["[127.0.0.1]"]), ALL);
        assert_eq!(f(&["127.0.0.1:9092", "127.0.0.1:19092"]), ALL);
        assert!(f(&["127.0.0.2"]).is_empty());
        assert!(f(&["::1"]).is_empty());
        for bad in [
            "localhost",
            "127.0.0.1:",
            "127.0.0.1:0",
            "1.2.3.4:99999",
            "",
        ] {
            let e = Filter::default().with_brokers(&[bad]).unwrap_err();
            assert!(e.starts_with("--broker"), "{bad}: {e}");
        }
        assert_eq!(
            parse_broker("[::1]:9092"),
            Ok(BrokerMatch {
                ip: "::1".parse().unwrap(),
                port: Some(9092)
            })
        );
    }

    #[test]
    fn min_duration_compares_the_span_total() {
        let f = |ns| kept(&Filter::default().with_min_duration_ns(Some(ns)));
        // Totals: ApiVersions 1 ms, Produce 1, 2, 3 ms, the other Produce 100 ms (all
        // in one packet each, so write and read are 0).
        assert_eq!(f(2 * MS), [(9092, 3), (9092, 4), (19092, 1)]);
        assert_eq!(f(2 * MS + 1), [(9092, 4), (19092, 1)]);
        assert_eq!(f(0), ALL);
        assert_eq!(f(parse_duration_ns("100ms").unwrap()), [(19092, 1)]);
    }

    #[test]
    fn errors_only_keeps_kafka_errors() {
        assert_eq!(kept(&Filter::default().with_errors_only(true)), [(9092, 3)]);
    }

    #[test]
    fn time_range_is_half_open_on_the_span_start() {
        let f = |s: Option<i64>, e: Option<i64>| kept(&Filter::default().with_time_range(s, e));
        assert_eq!(
            f(Some(T0 + 10 * MS), Some(T0 + 30 * MS)),
            [(9092, 2), (9092, 3)]
        );
        assert_eq!(f(None, Some(T0 + 10 * MS)), [(9092, 1)]);
        assert_eq!(f(Some(T0 + 30 * MS), None), [(9092, 4), (19092, 1)]);
    }

    #[test]
    fn filters_combine_with_and() {
        let f = Filter::default()
            .with_topics(&["orders"])
            .unwrap()
            .with_brokers(&["127.0.0.1:9092"])
            .unwrap();
        assert_eq!(kept(&f), [(9092, 2), (9092, 4)]);
        let f = f.with_min_duration_ns(Some(3 * MS));
        assert_eq!(kept(&f), [(9092, 4)]);
        let f = f.with_errors_only(true);
        assert!(f.is_active());
        assert!(kept(&f).is_empty());
    }

    #[test]
    fn durations_parse_with_units() {
        for (text, ns) in [
            ("5ms", 5 * MS),
            ("1.5s", 1_500 * MS),
            ("250us", 250_000),
            ("250µs", 250_000),
            ("100ns", 100),
            ("1m 30s", 90_000 * MS),
        ] {
            assert_eq!(parse_duration_ns(text), Ok(ns), "{text}");
        }
        for bad in ["", "5", "fast", "-5ms", "5 parsecs"] {
            assert!(parse_duration_ns(bad).is_err(), "{bad}");
        }
        // A bare number is refused with the units it could mean.
        for bare in ["5", "0", "1.5"] {
            let e = parse_duration(bare).unwrap_err();
            assert!(e.contains(&format!("{bare}ms")), "{bare}: {e}");
        }
    }

    #[test]
    fn time_ranges_parse_rfc3339_and_unix_seconds() {
        assert_eq!(
            parse_time_range("2026-11-25T06:30:00Z..2026-11-25T06:31:00.5Z"),
            Ok((Some(T0), Some(T0 + 60_500 * MS)))
        );
        assert_eq!(
            parse_time_range("2026-11-25T07:30:00+01:00.."),
            Ok((Some(T0), None))
        );
        assert_eq!(
            parse_time_range("..2026-11-25T01:30:00-05:00"),
            Ok((None, Some(T0)))
        );
        assert_eq!(
            parse_time_range("1795588200.25..1795588201"),
            Ok((Some(T0 + 250 * MS), Some(T0 + 1000 * MS)))
        );
        assert_eq!(parse_time("1795588200.000000001"), Ok(T0 + 1));
        for bad in [
            "",
            "..",
            "2026-11-25T06:30:00Z",
            "x..",
            "..1.2.3",
            "1795588201..1795588200",
            "1795588200..1795588200",
            "2026-13-25T06:30:00Z..",
            "1.0000000001..",
        ] {
            assert!(parse_time_range(bad).is_err(), "{bad}");
        }
        assert_eq!(format_time(T0 + 1), "2026-11-25T06:30:00.000000001Z");
    }

    #[test]
    fn bad_patterns_name_the_flag() {
        let e = Filter::default()
            .with_topics(&["orders[", "x"])
            .unwrap_err();
        assert!(e.starts_with("--topic 'orders['"), "{e}");
        let e = Filter::default().with_client_ids(&[""]).unwrap_err();
        assert!(e.starts_with("--client-id"), "{e}");
    }
}
