//! `kapture check`: declarative expectations about a capture's conversation, in a
//! TOML file of `[[rule]]` tables, each an expression such as `produce.acks == -1`
//! over the exchanges its selection keeps (client id, topic, API, broker). Every rule
//! gives one line, pass or fail with the measured value; a rule file that does not
//! parse is refused with the line at fault.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use globset::{Glob, GlobMatcher};
use serde::Deserialize;

use crate::filter::{self, BrokerMatch};
use crate::kafka::api;
use crate::profile::{Dist, Loaded, Profile, Record, Row};
use crate::stats::{Percentiles, human_duration};

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    select: Selection,
    #[serde(default)]
    rule: Vec<RawRule>,
}

/// Which exchanges a rule looks at; fields left out keep everything.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Selection {
    client_id: Option<String>,
    topic: Option<String>,
    api: Option<String>,
    broker: Option<String>,
    long_polls: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<String>,
    expect: toml::Spanned<String>,
    client_id: Option<String>,
    topic: Option<String>,
    api: Option<String>,
    broker: Option<String>,
    long_polls: Option<bool>,
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// Every value measured is one of the list's (`in`, `⊆`).
    In,
}

impl Op {
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Eq => a == b,
            Op::Ne => a != b,
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::In => a == b,
        }
    }
}

/// A value of an expression's right-hand side.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    /// Nanoseconds (`100ms`).
    Duration(i64),
    Word(String),
    List(Vec<Value>),
}

/// What a metric measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Metric {
    Count,
    Rate,
    Errors(Option<String>),
    Unanswered,
    LongPolls,
    Versions,
    Acks,
    Codecs,
    Idempotent,
    /// A distribution of per-request numbers, and which statistic of it.
    Dist(DistKind, Stat),
    /// A latency phase (`total`, `write`, `wait`, `read`) and its percentile.
    Latency(Phase, Stat),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DistKind {
    Records,
    RecordBytes,
    Batches,
    RequestBytes,
    ResponseBytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Total,
    Write,
    Wait,
    Read,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    Min,
    P50,
    P90,
    P99,
    Max,
    Sum,
}

/// One rule, parsed.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub expr: String,
    /// 1-based line of the rule's `expect` in the file.
    pub line: usize,
    pub api: Option<i16>,
    pub metric: Metric,
    pub op: Op,
    pub value: Value,
    client_id: Option<(String, GlobMatcher)>,
    topic: Option<(String, GlobMatcher)>,
    broker: Option<BrokerMatch>,
    long_polls: bool,
}

/// A rule file that cannot be used: the message names the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRules(pub String);

/// Parses a rule file; `source` names it in messages.
pub fn parse_rules(source: &str, text: &str) -> Result<Vec<Rule>, BadRules> {
    let file: RuleFile = toml::from_str(text)
        .map_err(|e| BadRules(format!("{source}: {}", e.to_string().trim_end())))?;
    if file.rule.is_empty() {
        return Err(BadRules(format!("{source}: no [[rule]] in the file")));
    }
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let mut rules = Vec::new();
    for raw in file.rule {
        let line = line_of(raw.expect.span().start);
        let at = |e: String| BadRules(format!("{source}:{line}: {e}"));
        let pick = |own: &Option<String>, all: &Option<String>| own.clone().or_else(|| all.clone());
        let expr = raw.expect.get_ref().trim().to_string();
        let (expr_api, metric, op, value) = parse_expr(&expr).map_err(&at)?;
        let api = match (expr_api, pick(&raw.api, &file.select.api)) {
            (Some(k), Some(sel)) if api::parse_key(&sel) != Some(k) => {
                return Err(at(format!(
                    "the expression names {} but the rule selects api = '{sel}'",
                    api::name(k).unwrap_or("?")
                )));
            }
            (Some(k), _) => Some(k),
            (None, Some(sel)) => {
                Some(api::parse_key(&sel).ok_or_else(|| at(format!("unknown Kafka API '{sel}'")))?)
            }
            (None, None) => None,
        };
        check_value(&metric, op, &value).map_err(&at)?;
        let glob = |p: Option<String>, what: &str| -> Result<_, BadRules> {
            p.map(|p| {
                Glob::new(&p)
                    .map(|g| (p.clone(), g.compile_matcher()))
                    .map_err(|e| at(format!("{what} '{p}': {}", e.kind())))
            })
            .transpose()
        };
        let broker = pick(&raw.broker, &file.select.broker)
            .map(|b| filter::parse_broker(&b).map_err(|e| at(format!("broker '{b}': {e}"))))
            .transpose()?;
        rules.push(Rule {
            name: raw.name.unwrap_or_else(|| expr.clone()),
            expr,
            line,
            api,
            metric,
            op,
            value,
            client_id: glob(pick(&raw.client_id, &file.select.client_id), "client_id")?,
            topic: glob(pick(&raw.topic, &file.select.topic), "topic")?,
            broker,
            long_polls: raw.long_polls.or(file.select.long_polls).unwrap_or(false),
        });
    }
    Ok(rules)
}

fn stat_of(s: &str) -> Option<Stat> {
    Some(match s {
        "min" => Stat::Min,
        "p50" | "median" => Stat::P50,
        "p90" => Stat::P90,
        "p99" => Stat::P99,
        "max" => Stat::Max,
        "sum" => Stat::Sum,
        _ => return None,
    })
}

fn phase_of(s: &str) -> Option<Phase> {
    Some(match s {
        "total" | "latency" => Phase::Total,
        "write" => Phase::Write,
        "wait" => Phase::Wait,
        "read" => Phase::Read,
        _ => return None,
    })
}

const METRICS: &str = "count, rate, errors, errors.NAME, unanswered, long_polls, api_version, acks, codecs, idempotent, records_per_request.STAT, record_bytes_per_request.STAT, batches_per_request.STAT, request_bytes.STAT, response_bytes.STAT, p50/p90/p99/max, total|write|wait|read.p50/p90/p99/max (STAT: min, p50, p90, p99, max, sum)";

/// `[API.]metric[.part...]` or `metric(API)[.part...]`.
fn parse_metric(text: &str) -> Result<(Option<i16>, Metric), String> {
    let text = text.trim();
    let (api, path) = if let Some(open) = text.find('(') {
        let close = text
            .find(')')
            .filter(|&c| c > open)
            .ok_or_else(|| format!("'{text}': unclosed '('"))?;
        let name = text[open + 1..close].trim();
        let key = api::parse_key(name).ok_or_else(|| format!("unknown Kafka API '{name}'"))?;
        let rest = text[close + 1..].trim();
        let rest = rest.strip_prefix('.').unwrap_or(rest);
        let mut path = text[..open].trim().to_string();
        if !rest.is_empty() {
            path = format!("{path}.{rest}");
        }
        (Some(key), path)
    } else {
        match text.split_once('.') {
            Some((first, rest))
                if api::parse_key(first).is_some() && first.parse::<i16>().is_err() =>
            {
                (api::parse_key(first), rest.to_string())
            }
            _ => (None, text.to_string()),
        }
    };
    let parts: Vec<&str> = path.split('.').collect();
    let unknown = || format!("unknown metric '{text}' (metrics: {METRICS})");
    let dist = |kind: DistKind, rest: &[&str]| -> Result<Metric, String> {
        match rest {
            [s] => stat_of(s).map(|s| Metric::Dist(kind, s)).ok_or_else(|| {
                format!("'{text}': unknown statistic '{s}' (min, p50, p90, p99, max, sum)")
            }),
            [] => Err(format!(
                "'{text}': which statistic? e.g. '{path}.p50' (min, p50, p90, p99, max, sum)"
            )),
            _ => Err(unknown()),
        }
    };
    let metric = match parts.as_slice() {
        ["count"] | ["requests"] => Metric::Count,
        ["rate"] => Metric::Rate,
        ["errors"] => Metric::Errors(None),
        ["errors", name] => Metric::Errors(Some(name.to_ascii_uppercase())),
        ["unanswered"] => Metric::Unanswered,
        ["long_polls"] => Metric::LongPolls,
        ["api_version"] | ["version"] | ["versions"] => Metric::Versions,
        ["acks"] => Metric::Acks,
        ["codecs"] | ["codec"] | ["compression"] => Metric::Codecs,
        ["idempotent"] => Metric::Idempotent,
        ["records_per_request", rest @ ..] | ["records", rest @ ..] => {
            dist(DistKind::Records, rest)?
        }
        ["record_bytes_per_request", rest @ ..] | ["bytes_per_request", rest @ ..] => {
            dist(DistKind::RecordBytes, rest)?
        }
        ["batches_per_request", rest @ ..] => dist(DistKind::Batches, rest)?,
        ["request_bytes", rest @ ..] => dist(DistKind::RequestBytes, rest)?,
        ["response_bytes", rest @ ..] => dist(DistKind::ResponseBytes, rest)?,
        [s] if stat_of(s).is_some_and(|s| s != Stat::Sum && s != Stat::Min) => {
            Metric::Latency(Phase::Total, stat_of(s).unwrap_or(Stat::P50))
        }
        [p, s] if phase_of(p).is_some() => match stat_of(s) {
            Some(st) if st != Stat::Sum && st != Stat::Min => {
                Metric::Latency(phase_of(p).unwrap_or(Phase::Total), st)
            }
            _ => return Err(format!("'{text}': latencies have p50, p90, p99 and max")),
        },
        _ => return Err(unknown()),
    };
    Ok((api, metric))
}

fn parse_value(text: &str) -> Result<Value, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("the expression has no value after its operator".into());
    }
    if let Some(inner) = t.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or_else(|| format!("'{t}': unclosed '['"))?;
        let items = inner
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(parse_value)
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Value::List(items));
    }
    if let Ok(n) = t.parse::<f64>() {
        return Ok(Value::Number(n));
    }
    if t.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return filter::parse_duration_ns(t)
            .map(Value::Duration)
            .map_err(|e| format!("'{t}': not a number or a duration: {e}"));
    }
    let word = t.trim_matches(|c| c == '"' || c == '\'');
    if word.is_empty()
        || !word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
    {
        return Err(format!("'{t}': not a number, duration, word or [list]"));
    }
    Ok(Value::Word(word.to_string()))
}

/// Splits `metric OP value`.
pub fn parse_expr(expr: &str) -> Result<(Option<i16>, Metric, Op, Value), String> {
    const OPS: [(&str, Op); 9] = [
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("⊆", Op::In),
        (" in ", Op::In),
        ("<", Op::Lt),
        (">", Op::Gt),
        ("=", Op::Eq),
    ];
    let found = OPS
        .iter()
        .filter_map(|(s, op)| expr.find(s).map(|at| (at, *s, *op)))
        .min_by_key(|(at, s, _)| (*at, std::cmp::Reverse(s.len())));
    let Some((at, s, op)) = found else {
        return Err(format!(
            "'{expr}': no comparison (==, !=, <, <=, >, >=, in, ⊆)"
        ));
    };
    let (api, metric) = parse_metric(&expr[..at])?;
    let value = parse_value(&expr[at + s.len()..])?;
    Ok((api, metric, op, value))
}

/// Whether the value suits the metric and the operator.
fn check_value(metric: &Metric, op: Op, value: &Value) -> Result<(), String> {
    let set_valued = matches!(
        metric,
        Metric::Versions | Metric::Acks | Metric::Codecs | Metric::Idempotent
    );
    match (op, value) {
        (Op::In, Value::List(items)) if set_valued => {
            for v in items {
                set_item(metric, v)?;
            }
            return Ok(());
        }
        (Op::In, _) => {
            return Err("'in' needs a list on its right, such as [zstd, lz4], and a metric with values per request (api_version, acks, codecs, idempotent)".into());
        }
        (_, Value::List(_)) => return Err("a list goes with 'in' only".into()),
        _ => {}
    }
    if set_valued {
        if matches!(metric, Metric::Codecs | Metric::Idempotent) && !matches!(op, Op::Eq | Op::Ne) {
            return Err("codecs and idempotent compare with ==, != or in".into());
        }
        return set_item(metric, value).map(|_| ());
    }
    match (metric, value) {
        (Metric::Latency(..), Value::Duration(_)) => Ok(()),
        (Metric::Latency(..), _) => Err("a latency compares with a duration, such as 100ms".into()),
        (_, Value::Number(_)) => Ok(()),
        _ => Err("this metric compares with a number".into()),
    }
}

/// The number a value of a set-valued metric stands for.
fn set_item(metric: &Metric, v: &Value) -> Result<f64, String> {
    match (metric, v) {
        (Metric::Acks, Value::Word(w)) if w == "all" => Ok(-1.0),
        (Metric::Versions | Metric::Acks, Value::Number(n)) => Ok(*n),
        (Metric::Codecs, Value::Word(w)) => codec_id(w)
            .map(f64::from)
            .ok_or_else(|| format!("unknown codec '{w}' (none, gzip, snappy, lz4, zstd)")),
        (Metric::Idempotent, Value::Word(w)) if w == "true" => Ok(1.0),
        (Metric::Idempotent, Value::Word(w)) if w == "false" => Ok(0.0),
        (Metric::Idempotent, _) => Err("idempotent is true or false".into()),
        (Metric::Codecs, _) => Err("codecs are none, gzip, snappy, lz4 or zstd".into()),
        _ => Err("api_version and acks are numbers (acks: 0, 1, -1 or all)".into()),
    }
}

fn codec_id(name: &str) -> Option<u8> {
    ["none", "gzip", "snappy", "lz4", "zstd"]
        .iter()
        .position(|c| c.eq_ignore_ascii_case(name))
        .map(|i| i as u8)
}

/// The result of one rule on one input.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub passed: bool,
    /// What was measured, for people.
    pub measured: String,
    /// How many requests the rule looked at, and what it left out.
    pub over: String,
}

/// A rule that cannot be evaluated on this input (a selection a saved summary
/// cannot answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unanswerable(pub String);

impl Rule {
    fn keeps(&self, r: &Record) -> bool {
        self.api.is_none_or(|k| k == r.api_key)
            && self
                .client_id
                .as_ref()
                .is_none_or(|(_, m)| r.client_id.as_deref().is_some_and(|c| m.is_match(c)))
            && self
                .topic
                .as_ref()
                .is_none_or(|(_, m)| r.topics.iter().any(|t| m.is_match(t)))
            && self.broker.is_none_or(|b| {
                r.broker
                    .parse::<std::net::SocketAddr>()
                    .is_ok_and(|sa| sa.ip() == b.ip && b.port.is_none_or(|p| p == sa.port()))
            })
    }

    /// Evaluates the rule on an input.
    pub fn evaluate(&self, input: &Loaded) -> Result<Outcome, Unanswerable> {
        match input {
            Loaded::Records(records) => {
                let kept: Vec<&Record> = records.iter().filter(|r| self.keeps(r)).collect();
                let start = records.iter().map(|r| r.start_ns).min().unwrap_or(0);
                let end = records.iter().map(|r| r.end_ns).max().unwrap_or(0);
                let row = Row::of(None, self.api, kept);
                Ok(self.on_row(&row, end - start))
            }
            Loaded::Profile(p) => {
                let row = self.summary_row(p)?;
                Ok(self.on_row(&row, p.duration_ns))
            }
        }
    }

    /// The row of a saved profile this rule's selection stands for.
    fn summary_row(&self, p: &Profile) -> Result<Row, Unanswerable> {
        if self.topic.is_some() || self.broker.is_some() {
            return Err(Unanswerable(
                "a saved summary keeps no per-topic or per-broker profile: check the capture or its spans file".into(),
            ));
        }
        let client = match &self.client_id {
            None => None,
            Some((pattern, m)) => {
                let clients: BTreeSet<&str> = p
                    .rows
                    .iter()
                    .filter_map(|r| r.client_id.as_deref())
                    .filter(|c| m.is_match(c))
                    .collect();
                match clients.len() {
                    0 => Some(pattern.clone()),
                    1 => clients.first().map(|c| c.to_string()),
                    n => {
                        return Err(Unanswerable(format!(
                            "client_id '{pattern}' matches {n} clients of a saved summary, whose percentiles cannot be merged: name one, or check the capture"
                        )));
                    }
                }
            }
        };
        if let Some(key) = self.api {
            if !p.covers(key) {
                return Err(Unanswerable(format!(
                    "the saved summary does not cover {} (it was written with --api {})",
                    api::name(key).unwrap_or("?"),
                    p.apis.join(",")
                )));
            }
            return Ok(p
                .row(client.as_deref(), key)
                .cloned()
                .unwrap_or_else(|| Row::of(client, Some(key), [])));
        }
        // No API: only counts add up across APIs.
        if !matches!(
            self.metric,
            Metric::Count
                | Metric::Rate
                | Metric::Errors(_)
                | Metric::Unanswered
                | Metric::LongPolls
        ) {
            return Err(Unanswerable(
                "on a saved summary this metric needs an API (e.g. produce.…)".into(),
            ));
        }
        let mut sum = Row::default();
        for r in p.rows.iter().filter(|r| r.client_id == client) {
            sum.count += r.count;
            sum.unanswered += r.unanswered;
            sum.long_polls += r.long_polls;
            for (e, n) in &r.errors {
                *sum.errors.entry(e.clone()).or_default() += n;
            }
        }
        Ok(sum)
    }

    fn on_row(&self, row: &Row, duration_ns: i64) -> Outcome {
        let what = match self.api {
            Some(k) => format!("{} requests", api::name(k).unwrap_or("?")),
            None => "requests".into(),
        };
        let mut over = format!("{} {what}", row.count);
        if row.long_polls > 0 && matches!(self.metric, Metric::Latency(..)) {
            if self.long_polls {
                let _ = write!(over, ", {} long polls included", row.long_polls);
            } else {
                let _ = write!(over, ", {} long polls left out", row.long_polls);
            }
        }
        let fail = |measured: String| Outcome {
            passed: false,
            measured,
            over: over.clone(),
        };
        let number = |n: f64, shown: String| Outcome {
            passed: match &self.value {
                Value::Number(v) => self.op.holds(n, *v),
                Value::Duration(v) => self.op.holds(n, *v as f64),
                _ => false,
            },
            measured: shown,
            over: over.clone(),
        };
        match &self.metric {
            Metric::Count => number(row.count as f64, row.count.to_string()),
            Metric::Rate => {
                if duration_ns <= 0 {
                    return fail("no duration to divide by".into());
                }
                let rate = row.count as f64 / (duration_ns as f64 / 1e9);
                number(rate, format!("{rate:.3}/s"))
            }
            Metric::Errors(name) => {
                let n: u64 = match name {
                    None => row.errors.values().sum(),
                    Some(n) => row.errors.get(n).copied().unwrap_or(0),
                };
                let shown = if row.errors.is_empty() {
                    "0".to_string()
                } else {
                    let list: Vec<String> = row
                        .errors
                        .iter()
                        .map(|(e, n)| format!("{e} ×{n}"))
                        .collect();
                    format!("{n} ({})", list.join(", "))
                };
                number(n as f64, shown)
            }
            Metric::Unanswered => number(row.unanswered as f64, row.unanswered.to_string()),
            Metric::LongPolls => number(row.long_polls as f64, row.long_polls.to_string()),
            Metric::Versions | Metric::Acks | Metric::Codecs | Metric::Idempotent => {
                self.on_set(row, &over)
            }
            Metric::Dist(kind, stat) => {
                let d = match kind {
                    DistKind::Records => row.records_per_request,
                    DistKind::RecordBytes => row.record_bytes_per_request,
                    DistKind::Batches => row.batches_per_request,
                    DistKind::RequestBytes => row.request_bytes,
                    DistKind::ResponseBytes => row.response_bytes,
                };
                match d {
                    None => fail("no requests carried records".into()),
                    Some(d) => {
                        let v = dist_stat(&d, *stat);
                        number(v as f64, v.to_string())
                    }
                }
            }
            Metric::Latency(phase, stat) => {
                let lat = if self.long_polls {
                    &row.latency_with_long_polls
                } else {
                    &row.latency
                };
                let p = match phase {
                    Phase::Total => lat.total,
                    Phase::Write => lat.write,
                    Phase::Wait => lat.wait,
                    Phase::Read => lat.read,
                };
                match p {
                    None => fail("no latency measured".into()),
                    Some(p) => {
                        let v = latency_stat(&p, *stat);
                        number(v as f64, human_duration(v))
                    }
                }
            }
        }
    }

    /// Rules over values each request has: they hold for every request.
    fn on_set(&self, row: &Row, over: &str) -> Outcome {
        let (seen, shown): (Vec<f64>, String) = match self.metric {
            Metric::Versions => (
                row.versions.keys().map(|&v| f64::from(v)).collect(),
                list(row.versions.iter().map(|(v, n)| (v.to_string(), *n))),
            ),
            Metric::Acks => (
                row.acks.keys().map(|&v| f64::from(v)).collect(),
                list(row.acks.iter().map(|(v, n)| (v.to_string(), *n))),
            ),
            Metric::Codecs => (
                row.codecs
                    .keys()
                    .filter_map(|c| codec_id(c).map(f64::from))
                    .collect(),
                list(row.codecs.iter().map(|(v, n)| (v.clone(), *n))),
            ),
            _ => {
                let mut seen = Vec::new();
                let mut parts = Vec::new();
                if row.idempotent > 0 {
                    seen.push(1.0);
                    parts.push(("true".to_string(), row.idempotent));
                }
                if row.not_idempotent > 0 {
                    seen.push(0.0);
                    parts.push(("false".to_string(), row.not_idempotent));
                }
                (seen, list(parts.into_iter()))
            }
        };
        if seen.is_empty() {
            return Outcome {
                passed: false,
                measured: "nothing to compare: no request selected has this value".into(),
                over: over.to_string(),
            };
        }
        let passed = match &self.value {
            Value::List(items) => {
                let allowed: Vec<f64> = items
                    .iter()
                    .filter_map(|v| set_item(&self.metric, v).ok())
                    .collect();
                seen.iter().all(|s| allowed.contains(s))
            }
            v => match set_item(&self.metric, v) {
                Ok(want) => seen.iter().all(|&s| self.op.holds(s, want)),
                Err(_) => false,
            },
        };
        Outcome {
            passed,
            measured: shown,
            over: over.to_string(),
        }
    }
}

/// `[a ×3, b ×1]`.
fn list(items: impl Iterator<Item = (String, u64)>) -> String {
    let parts: Vec<String> = items.map(|(v, n)| format!("{v} ×{n}")).collect();
    format!("[{}]", parts.join(", "))
}

fn dist_stat(d: &Dist, s: Stat) -> i64 {
    match s {
        Stat::Min => d.min,
        Stat::P50 => d.p50,
        Stat::P90 => d.p90,
        Stat::P99 => d.p99,
        Stat::Max => d.max,
        Stat::Sum => d.sum,
    }
}

fn latency_stat(p: &Percentiles, s: Stat) -> i64 {
    match s {
        Stat::P50 | Stat::Min | Stat::Sum => p.p50_ns,
        Stat::P90 => p.p90_ns,
        Stat::P99 => p.p99_ns,
        Stat::Max => p.max_ns,
    }
}

/// The results of every rule on one input.
#[derive(Debug, Clone)]
pub struct Report {
    pub input: String,
    pub results: Vec<(Rule, Result<Outcome, Unanswerable>)>,
}

impl Report {
    pub fn failures(&self) -> usize {
        self.results
            .iter()
            .filter(|(_, r)| !matches!(r, Ok(o) if o.passed))
            .count()
    }

    pub fn unanswerable(&self) -> bool {
        self.results.iter().any(|(_, r)| r.is_err())
    }

    /// One line per rule.
    pub fn text(&self, rules_name: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}:", self.input);
        for (rule, r) in &self.results {
            let at = format!("{rules_name}:{}", rule.line);
            let named = if rule.name != rule.expr {
                format!("{} ({})", rule.name, rule.expr)
            } else {
                rule.expr.clone()
            };
            let _ = match r {
                Ok(o) => writeln!(
                    out,
                    "  {}  {named}: measured {} over {}  [{at}]",
                    if o.passed { "PASS" } else { "FAIL" },
                    o.measured,
                    o.over
                ),
                Err(Unanswerable(why)) => writeln!(out, "  ERROR {named}: {why}  [{at}]"),
            };
        }
        let _ = writeln!(
            out,
            "  {} rules: {} passed, {} failed",
            self.results.len(),
            self.results.len() - self.failures(),
            self.failures()
        );
        out
    }
}

fn xml(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => s.push(c),
        }
    }
    s
}

/// JUnit XML: a test suite per input, a test case per rule.
pub fn junit(reports: &[Report], rules_name: &str) -> String {
    let tests: usize = reports.iter().map(|r| r.results.len()).sum();
    let failures: usize = reports.iter().map(Report::failures).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"kapture check\" tests=\"{tests}\" failures=\"{failures}\">"
    );
    for r in reports {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\">",
            xml(&r.input),
            r.results.len(),
            r.failures()
        );
        for (rule, res) in &r.results {
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\"",
                xml(&rule.name),
                xml(&format!("{rules_name}:{}", rule.line))
            );
            match res {
                Ok(o) if o.passed => {
                    let _ = writeln!(
                        out,
                        ">\n      <system-out>{}</system-out>\n    </testcase>",
                        xml(&format!(
                            "{}: measured {} over {}",
                            rule.expr, o.measured, o.over
                        ))
                    );
                }
                Ok(o) => {
                    let msg = format!("{}: measured {} over {}", rule.expr, o.measured, o.over);
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                        xml(&msg),
                        xml(&msg)
                    );
                }
                Err(Unanswerable(why)) => {
                    let _ = writeln!(
                        out,
                        ">\n      <error message=\"{}\"/>\n    </testcase>",
                        xml(why)
                    );
                }
            }
        }
        let _ = writeln!(out, "  </testsuite>");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Checks every rule on an input.
pub fn check(input_name: &str, input: &Loaded, rules: &[Rule]) -> Report {
    Report {
        input: input_name.to_string(),
        results: rules
            .iter()
            .map(|rule| (rule.clone(), rule.evaluate(input)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_of_the_issue_parse() {
        let p = |e: &str| parse_expr(e).unwrap_or_else(|m| panic!("{e}: {m}"));
        assert_eq!(
            p("produce.acks == -1"),
            (Some(0), Metric::Acks, Op::Eq, Value::Number(-1.0))
        );
        let (api, m, op, v) = p("produce.codecs ⊆ [zstd, lz4]");
        assert_eq!((api, m, op), (Some(0), Metric::Codecs, Op::In));
        assert_eq!(
            v,
            Value::List(vec![Value::Word("zstd".into()), Value::Word("lz4".into())])
        );
        assert_eq!(
            p("errors == 0"),
            (None, Metric::Errors(None), Op::Eq, Value::Number(0.0))
        );
        assert_eq!(
            p("produce.records_per_request.p50 >= 50").1,
            Metric::Dist(DistKind::Records, Stat::P50)
        );
        assert_eq!(
            p("fetch.p99 < 100ms"),
            (
                Some(1),
                Metric::Latency(Phase::Total, Stat::P99),
                Op::Lt,
                Value::Duration(100_000_000)
            )
        );
        assert_eq!(
            p("api_version(Produce) >= 9"),
            (Some(0), Metric::Versions, Op::Ge, Value::Number(9.0))
        );
        assert_eq!(
            p("count(Metadata) <= 10"),
            (Some(3), Metric::Count, Op::Le, Value::Number(10.0))
        );
        assert_eq!(
            p("fetch.wait.p90 <= 2.5ms").1,
            Metric::Latency(Phase::Wait, Stat::P90)
        );
        assert_eq!(
            p("errors.invalid_record == 1").1,
            Metric::Errors(Some("INVALID_RECORD".into()))
        );
        assert!(parse_expr("produce.acks").is_err());
        assert!(parse_expr("produce.records_per_request > 1").is_err());
        assert!(parse_expr("count(Nonsense) > 1").is_err());
    }

    #[test]
    fn set_rules_hold_for_every_request() {
        let rules = parse_rules(
            "r.toml",
            "[[rule]]\nexpect = \"produce.acks == all\"\n[[rule]]\nexpect = \"produce.codecs in [none]\"\n",
        )
        .unwrap();
        let row = Row {
            count: 2,
            acks: [(-1, 1), (1, 1)].into_iter().collect(),
            codecs: [("none".to_string(), 2)].into_iter().collect(),
            ..Row::default()
        };
        let acks = rules[0].on_row(&row, 1);
        assert!(!acks.passed);
        assert_eq!(acks.measured, "[-1 ×1, 1 ×1]");
        assert!(rules[1].on_row(&row, 1).passed);
        assert_eq!(rules[1].line, 4);
    }
}
