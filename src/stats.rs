//! Latency statistics over the exchanges that pass the filters: one row per Kafka API
//! and broker, and for Produce and Fetch one more row per topic, each with the count,
//! the Kafka errors, and nearest-rank percentiles (p50, p90, p99, max) of the total
//! time and of each phase (write, wait, read), computed on exact nanosecond integers
//! while a row holds at most [`crate::sketch::EXACT_LIMIT`] exchanges and from the
//! row's HdrHistogram past that. Rows are written with their histograms, and read back
//! from them ([`LatencyStats::from_rows`]), so summaries of separate runs merge.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::kafka::ConnectionReport;
use crate::kafka::api;
use crate::kafka::body::TopicId;
use crate::kafka::exchange::Exchange;
use crate::kafka::facts::Topic;
use crate::knowledge::Knowledge;
use crate::sketch::{Values, Wire, values_of};

/// An exchange's span bounds and phases in nanoseconds, from the packet timestamps of
/// its frames (the same numbers as the span's times and `kapture.*_ns` attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// The packet carrying the request's first byte.
    pub start: i64,
    /// The packet carrying the response's last byte, or the request's last byte when
    /// there is no response.
    pub end: i64,
    /// Request last byte − request first byte.
    pub write: i64,
    /// Response first byte − request last byte (with a response only).
    pub wait: Option<i64>,
    /// Response last byte − response first byte (with a response only).
    pub read: Option<i64>,
}

impl Timing {
    pub fn of(ex: &Exchange) -> Timing {
        let req = &ex.request.span;
        match &ex.response {
            Some(resp) => Timing {
                start: req.first_ts,
                end: resp.span.last_ts,
                write: req.last_ts - req.first_ts,
                wait: Some(resp.span.first_ts - req.last_ts),
                read: Some(resp.span.last_ts - resp.span.first_ts),
            },
            None => Timing {
                start: req.first_ts,
                end: req.last_ts,
                write: req.last_ts - req.first_ts,
                wait: None,
                read: None,
            },
        }
    }

    /// End − start.
    pub fn total(&self) -> i64 {
        self.end - self.start
    }
}

/// Which topics a row covers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TopicRow {
    /// Every exchange of the API and broker, whatever its topics.
    All,
    /// Exchanges touching exactly this topic.
    Name(Arc<str>),
    /// Exchanges touching exactly this topic id, which nothing named.
    Id([u8; 16]),
    /// Exchanges touching several topics.
    Several,
    /// Exchanges naming no topic (an empty Fetch, a body that did not decode).
    NoTopic,
    /// Fetches that waited about their `max_wait_ms` and returned no records (see
    /// [`is_long_poll`]): kept out of every other row, since their time is the
    /// client's wait, not the broker's.
    LongPoll,
}

impl TopicRow {
    /// The row's label: `None` for [`TopicRow::All`].
    pub fn label(&self) -> Option<String> {
        match self {
            TopicRow::All => None,
            TopicRow::Name(n) => Some(n.to_string()),
            TopicRow::Id(id) => Some(TopicId(*id).to_string()),
            TopicRow::Several => Some("(several)".into()),
            TopicRow::NoTopic => Some("(none)".into()),
            TopicRow::LongPoll => Some("(long poll)".into()),
        }
    }

    /// The topic row of an exchange: its one topic (named through `knowledge`),
    /// `Several` or `NoTopic`. Allocates nothing but reference-count increments.
    pub fn of(ex: &Exchange, knowledge: &Knowledge) -> TopicRow {
        let mut found = TopicRow::NoTopic;
        for p in &ex.facts.partitions {
            let this = resolve(&p.topic, knowledge);
            match &found {
                TopicRow::NoTopic => found = this,
                f if *f == this => {}
                _ => return TopicRow::Several,
            }
        }
        found
    }
}

fn resolve(topic: &Topic, knowledge: &Knowledge) -> TopicRow {
    match topic {
        Topic::Name(n) => TopicRow::Name(n.clone()),
        Topic::Id(id) => match knowledge.topics.get(id) {
            Some(n) => TopicRow::Name(n.clone()),
            None => TopicRow::Id(*id),
        },
    }
}

/// What identifies one row of the table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RowKey {
    pub api_key: i16,
    pub broker: (IpAddr, u16),
    pub topic: TopicRow,
}

impl RowKey {
    /// The key of a row read back from a JSON summary.
    fn of_row(row: &LatencyRow) -> Result<RowKey, String> {
        let broker: SocketAddr = row
            .broker
            .parse()
            .map_err(|_| format!("latency row: bad broker '{}'", row.broker))?;
        let topic = match row.topic.as_deref() {
            None => TopicRow::All,
            Some("(several)") => TopicRow::Several,
            Some("(none)") => TopicRow::NoTopic,
            Some("(long poll)") => TopicRow::LongPoll,
            Some(id) if row.topic_id => TopicRow::Id(parse_topic_id(id)?),
            Some(name) => TopicRow::Name(Arc::from(name)),
        };
        Ok(RowKey {
            api_key: row.api_key,
            broker: (broker.ip(), broker.port()),
            topic,
        })
    }
}

/// A topic id as [`TopicId`] writes it (hex, dashes after bytes 4, 6, 8 and 10).
fn parse_topic_id(text: &str) -> Result<[u8; 16], String> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    let mut id = [0u8; 16];
    if hex.len() != 32 || !hex.is_ascii() {
        return Err(format!("latency row: bad topic id '{text}'"));
    }
    for (i, b) in id.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
            .map_err(|_| format!("latency row: bad topic id '{text}'"))?;
    }
    Ok(id)
}

/// The durations of one row, in nanoseconds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Samples {
    pub errors: u64,
    pub total: Values,
    pub write: Values,
    pub wait: Values,
    pub read: Values,
}

impl Samples {
    fn add(&mut self, t: &Timing, error: bool) {
        self.errors += u64::from(error);
        self.total.push(t.total());
        self.write.push(t.write);
        if let Some(w) = t.wait {
            self.wait.push(w);
        }
        if let Some(r) = t.read {
            self.read.push(r);
        }
    }

    fn merge(&mut self, other: Samples) {
        self.errors += other.errors;
        self.total.merge(other.total);
        self.write.merge(other.write);
        self.wait.merge(other.wait);
        self.read.merge(other.read);
    }

    fn of_row(row: &LatencyRow) -> Result<Samples, String> {
        let h = row.histograms.as_ref().ok_or_else(|| {
            format!(
                "latency row {} {}: no histograms (written by an older kapture)",
                row.api, row.broker
            )
        })?;
        let samples = Samples {
            errors: row.errors,
            total: values_of(Some(&h.total))?,
            write: values_of(Some(&h.write))?,
            wait: values_of(h.wait.as_ref())?,
            read: values_of(h.read.as_ref())?,
        };
        if samples.total.count() != row.count {
            return Err(format!(
                "latency row {} {}: count {} but its histogram holds {}",
                row.api,
                row.broker,
                row.count,
                samples.total.count()
            ));
        }
        Ok(samples)
    }
}

/// A row's histograms in the JSON summary (see [`crate::sketch`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowHistograms {
    pub total: Wire,
    pub write: Wire,
    pub wait: Option<Wire>,
    pub read: Option<Wire>,
}

/// Latency samples of every exchange counted, by row.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LatencyStats {
    pub rows: BTreeMap<RowKey, Samples>,
    /// The report's grid and slowest exchanges (`--report` only).
    pub timeline: Option<crate::report::Timeline>,
}

/// Whether an API gets per-topic rows.
fn per_topic(api_key: i16) -> bool {
    matches!(api_key, api::PRODUCE | api::FETCH)
}

impl LatencyStats {
    /// Counts one exchange of `report`'s connection.
    pub fn add(&mut self, report: &ConnectionReport, ex: &Exchange, knowledge: &Knowledge) {
        let timing = Timing::of(ex);
        let error = ex.facts.first_error().is_some();
        let key = |topic| RowKey {
            api_key: ex.request.api_key,
            broker: (report.broker.ip, report.broker.port),
            topic,
        };
        if is_long_poll(ex) {
            self.rows
                .entry(key(TopicRow::LongPoll))
                .or_default()
                .add(&timing, error);
            return;
        }
        if per_topic(ex.request.api_key) {
            let row = TopicRow::of(ex, knowledge);
            self.rows.entry(key(row)).or_default().add(&timing, error);
        }
        self.rows
            .entry(key(TopicRow::All))
            .or_default()
            .add(&timing, error);
    }

    /// Adds another set of samples (another connection's, another file's).
    pub fn merge(&mut self, other: LatencyStats) {
        match (&mut self.timeline, other.timeline) {
            (Some(t), Some(o)) => t.merge(o),
            (t, o) => *t = t.take().or(o),
        }
        for (key, samples) in other.rows {
            match self.rows.get_mut(&key) {
                Some(s) => s.merge(samples),
                None => {
                    self.rows.insert(key, samples);
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The statistics a JSON summary's latency rows describe (percentiles from their
    /// histograms), to merge with others.
    pub fn from_rows(rows: &[LatencyRow]) -> Result<LatencyStats, String> {
        let mut stats = LatencyStats::default();
        for row in rows {
            let key = RowKey::of_row(row)?;
            let samples = Samples::of_row(row)?;
            stats.merge(LatencyStats {
                rows: BTreeMap::from([(key, samples)]),
                timeline: None,
            });
        }
        Ok(stats)
    }

    /// The table: rows ordered by API key, broker, then the all-topics row followed by
    /// the per-topic rows (names, unnamed ids, `(several)`, `(none)`).
    pub fn table(&self) -> Vec<LatencyRow> {
        self.rows
            .iter()
            .map(|(key, s)| LatencyRow {
                api: Cow::Borrowed(api::name(key.api_key).unwrap_or("Unknown")),
                api_key: key.api_key,
                broker: SocketAddr::new(key.broker.0, key.broker.1).to_string(),
                topic: key.topic.label(),
                topic_id: matches!(key.topic, TopicRow::Id(_)),
                count: s.total.count(),
                errors: s.errors,
                total: s.total.percentiles().unwrap_or_default(),
                write: s.write.percentiles().unwrap_or_default(),
                wait: s.wait.percentiles(),
                read: s.read.percentiles(),
                histograms: s.total.wire().zip(s.write.wire()).map(|(total, write)| {
                    RowHistograms {
                        total,
                        write,
                        wait: s.wait.wire(),
                        read: s.read.wire(),
                    }
                }),
            })
            .collect()
    }
}

/// A long-poll Fetch: answered with no records (a sure count of 0) after waiting at
/// least 90% of the `max_wait_ms` its request allowed. The broker held it on purpose.
pub fn is_long_poll(ex: &Exchange) -> bool {
    let (Some(fetch), Some(resp)) = (&ex.facts.fetch, &ex.response) else {
        return false;
    };
    let wait = resp.span.first_ts - ex.request.span.last_ts;
    ex.request.api_key == api::FETCH
        && ex.facts.record_count == Some(0)
        && fetch.max_wait_ms > 0
        && wait >= i64::from(fetch.max_wait_ms) * 900_000
}

/// Nearest-rank percentiles of a set of durations, in nanoseconds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Percentiles {
    /// How many durations they summarise.
    pub count: u64,
    pub p50_ns: i64,
    pub p90_ns: i64,
    pub p99_ns: i64,
    pub max_ns: i64,
}

impl Percentiles {
    /// `None` for no samples.
    pub fn of(samples: &[i64]) -> Option<Percentiles> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        Some(Percentiles {
            count: sorted.len() as u64,
            p50_ns: nearest_rank(&sorted, 50),
            p90_ns: nearest_rank(&sorted, 90),
            p99_ns: nearest_rank(&sorted, 99),
            max_ns: sorted[sorted.len() - 1],
        })
    }
}

/// The nearest-rank `p`th percentile of sorted, non-empty `sorted`: the value at rank
/// ⌈p·n/100⌉ (1-based).
pub fn nearest_rank(sorted: &[i64], p: u32) -> i64 {
    let n = sorted.len();
    let rank = (p as usize * n).div_ceil(100).max(1);
    sorted[rank.min(n) - 1]
}

/// One row of the latency table, as printed and as serialised to JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyRow {
    /// The API name as in the Kafka protocol guide (`Produce`, `ApiVersions`).
    pub api: Cow<'static, str>,
    pub api_key: i16,
    /// The broker end of the connections: `address:port`.
    pub broker: String,
    /// `null` for the row of every exchange of this API and broker; otherwise the one
    /// topic of the row's exchanges, `(several)` or `(none)` (Produce and Fetch only), or
    /// `(long poll)` for the Fetches that waited out their `max_wait_ms` empty-handed.
    pub topic: Option<String>,
    /// Present (and true) when `topic` is an unnamed topic id.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub topic_id: bool,
    pub count: u64,
    /// Exchanges whose response carried a Kafka error.
    pub errors: u64,
    /// Span end − span start.
    pub total: Percentiles,
    pub write: Percentiles,
    /// Only exchanges with a response; `null` when none had one.
    pub wait: Option<Percentiles>,
    pub read: Option<Percentiles>,
    /// The distributions behind the percentiles, for `kapture summary-merge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histograms: Option<RowHistograms>,
}

/// A duration for people: three significant digits in the largest unit that keeps the
/// number at least 1 (`870ns`, `85.2µs`, `1.23ms`, `2.50s`).
pub fn human_duration(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let n = ns.unsigned_abs();
    if n < 1000 {
        return format!("{sign}{n}ns");
    }
    let digits = n.ilog10() + 1;
    let scale = 10u64.pow(digits.saturating_sub(3));
    // Rounded to three significant digits (999.6µs becomes 1.00ms).
    let r = (n + scale / 2) / scale * scale;
    let (unit, name) = match r {
        0..1_000_000 => (1_000u64, "µs"),
        1_000_000..1_000_000_000 => (1_000_000, "ms"),
        _ => (1_000_000_000, "s"),
    };
    let whole = r / unit;
    let decimals = match whole {
        0..10 => 2,
        10..100 => 1,
        _ => 0,
    };
    if decimals == 0 {
        return format!("{sign}{whole}{name}");
    }
    let frac = (r % unit) / (unit / 10u64.pow(decimals));
    format!(
        "{sign}{whole}.{frac:0width$}{name}",
        width = decimals as usize
    )
}

/// The compact table: a topic row that only repeats its API and broker's row (the
/// broker served that API for one topic) is folded into it, and phases no exchange
/// spent time in (all zero, or none) are left out (see [`render_text`]).
pub fn compact(rows: &[LatencyRow]) -> Vec<LatencyRow> {
    let mut out: Vec<LatencyRow> = Vec::with_capacity(rows.len());
    let mut i = 0;
    while i < rows.len() {
        let group = rows[i..]
            .iter()
            .take_while(|r| r.api_key == rows[i].api_key && r.broker == rows[i].broker)
            .count();
        let (all, topics) = rows[i..i + group].split_at(1);
        let mut head = all[0].clone();
        if let [only] = topics
            && only.count == head.count
        {
            head.topic = only.topic.clone();
            out.push(head);
        } else {
            out.push(head);
            out.extend(topics.iter().cloned());
        }
        i += group;
    }
    out
}

/// The table as text: a header, then four lines per row (total, write, wait, read),
/// columns aligned. Phases no exchange of the row had show `-`.
pub fn render_text(rows: &[LatencyRow]) -> String {
    render_table(rows, false)
}

/// [`compact`] rows as text, without the phase lines no exchange spent time in.
pub fn render_compact(rows: &[LatencyRow]) -> String {
    render_table(&compact(rows), true)
}

fn render_table(rows: &[LatencyRow], skip_idle_phases: bool) -> String {
    let mut lines: Vec<[String; 9]> = Vec::with_capacity(rows.len() * 4 + 1);
    lines.push(
        [
            "API", "broker", "topic", "count", "errors", "phase", "p50", "p90", "p99",
        ]
        .map(String::from),
    );
    let mut max_col = vec!["max".to_string()];
    for row in rows {
        let phases = [
            ("total", Some(row.total)),
            ("write", Some(row.write)),
            ("wait", row.wait),
            ("read", row.read),
        ];
        for (i, (phase, p)) in phases.iter().enumerate() {
            let first = i == 0;
            if skip_idle_phases && !first && p.is_none_or(|p| p.max_ns == 0) {
                continue;
            }
            let cell = |s: String| if first { s } else { String::new() };
            let (p50, p90, p99, max) = match p {
                Some(p) => (
                    human_duration(p.p50_ns),
                    human_duration(p.p90_ns),
                    human_duration(p.p99_ns),
                    human_duration(p.max_ns),
                ),
                None => ("-".into(), "-".into(), "-".into(), "-".into()),
            };
            lines.push([
                cell(row.api.to_string()),
                cell(row.broker.clone()),
                cell(row.topic.clone().unwrap_or_default()),
                cell(row.count.to_string()),
                cell(row.errors.to_string()),
                phase.to_string(),
                p50,
                p90,
                p99,
            ]);
            max_col.push(max);
        }
    }
    let mut widths = [0usize; 10];
    for (line, max) in lines.iter().zip(&max_col) {
        for (w, cell) in widths.iter_mut().zip(line.iter().chain([max])) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // Text columns are left-aligned, numbers right-aligned.
    let right = [
        false, false, false, true, true, false, true, true, true, true,
    ];
    let mut out = String::new();
    for (line, max) in lines.iter().zip(&max_col) {
        let mut text = String::from(" ");
        for ((cell, w), r) in line.iter().chain([max]).zip(widths).zip(right) {
            let pad = w - cell.chars().count();
            text.push_str("  ");
            if r {
                text.extend(std::iter::repeat_n(' ', pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.extend(std::iter::repeat_n(' ', pad));
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles_are_exact_sample_values() {
        let v: Vec<i64> = (1..=100).collect();
        let p = Percentiles::of(&v).unwrap();
        assert_eq!(
            (p.count, p.p50_ns, p.p90_ns, p.p99_ns, p.max_ns),
            (100, 50, 90, 99, 100)
        );
        // Unsorted input, n = 10: ranks ⌈5⌉ = 5, ⌈9⌉ = 9, ⌈9.9⌉ = 10.
        let v = [9, 1, 8, 2, 7, 3, 6, 4, 5, 10];
        let p = Percentiles::of(&v).unwrap();
        assert_eq!((p.p50_ns, p.p90_ns, p.p99_ns, p.max_ns), (5, 9, 10, 10));
        let one = Percentiles::of(&[42]).unwrap();
        assert_eq!((one.p50_ns, one.p99_ns, one.max_ns), (42, 42, 42));
        // n = 3: ranks ⌈1.5⌉ = 2, ⌈2.7⌉ = 3.
        let p = Percentiles::of(&[30, 10, 20]).unwrap();
        assert_eq!((p.p50_ns, p.p90_ns), (20, 30));
        assert_eq!(Percentiles::of(&[]), None);
    }

    #[test]
    fn durations_read_well() {
        for (ns, text) in [
            (0, "0ns"),
            (999, "999ns"),
            (1_000, "1.00µs"),
            (8_524, "8.52µs"),
            (85_250, "85.3µs"),
            (850_000, "850µs"),
            (999_499, "999µs"),
            (999_600, "1.00ms"),
            (1_234_567, "1.23ms"),
            (12_345_678, "12.3ms"),
            (2_500_000_000, "2.50s"),
            (123_456_000_000, "123s"),
            (-5_000, "-5.00µs"),
            (i64::MIN, "-9220000000s"),
        ] {
            assert_eq!(human_duration(ns), text, "{ns}");
        }
    }

    #[test]
    fn text_table_aligns_columns() {
        let p = |v: i64| Percentiles {
            count: 1,
            p50_ns: v,
            p90_ns: v,
            p99_ns: v,
            max_ns: v,
        };
        let rows = vec![
            LatencyRow {
                api: "Produce".into(),
                api_key: 0,
                broker: "127.0.0.1:9092".into(),
                topic: None,
                count: 12,
                errors: 1,
                total: p(1_230_000),
                write: p(12_000),
                wait: Some(p(1_100_000)),
                read: Some(p(900)),
                topic_id: false,
                histograms: None,
            },
            LatencyRow {
                api: "Produce".into(),
                api_key: 0,
                broker: "127.0.0.1:9092".into(),
                topic: Some("orders".into()),
                count: 2,
                errors: 0,
                total: p(5),
                write: p(5),
                wait: None,
                read: None,
                topic_id: false,
                histograms: None,
            },
        ];
        let text = render_text(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 9);
        assert!(lines[0].starts_with("   API "), "{text}");
        assert!(
            lines[1].contains("Produce  127.0.0.1:9092             12       1  total"),
            "{text}"
        );
        assert!(lines[1].ends_with("1.23ms  1.23ms"), "{text}");
        assert!(
            lines[4].ends_with("read    900ns   900ns   900ns   900ns"),
            "{text}"
        );
        assert!(lines[5].contains("orders"), "{text}");
        assert!(
            lines[7].ends_with("wait        -       -       -       -"),
            "{text}"
        );
        // Every line ends in the max column, right-aligned.
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width), "{text}");
    }
}
