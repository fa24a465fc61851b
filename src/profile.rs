//! The conversation profile of a capture: what each client asked of Kafka, per API,
//! with the times and ids left out. It is what `kapture check` tests rules against
//! and what `kapture diff` compares; the JSON summary carries it (`profile`), so a
//! baseline can be kept without the capture.
//!
//! Every exchange becomes one [`Record`], from a capture (through the pipeline's own
//! stages) or from a span of a spans file (through its attributes: the same numbers).
//! Records are gathered into [`Row`]s: one per client id and API, and one per API for
//! all clients together. Percentiles are nearest-rank, as in [`crate::stats`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::kafka::ConnectionReport;
use crate::kafka::api::{self, ApiSet};
use crate::kafka::body::error_name;
use crate::kafka::exchange::{Exchange, ResponseState};
use crate::kafka::{KafkaConfig, PortRule};
use crate::knowledge::{Knowledge, TopicMap};
use crate::pipeline::{self, PipelineConfig};
use crate::span::attr;
use crate::stats::{Percentiles, Timing, nearest_rank};
use crate::summary::Summary;

/// What one exchange says about the conversation, without times of day or ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub client_id: Option<String>,
    pub api_key: i16,
    pub api_version: i16,
    /// `address:port` of the broker end.
    pub broker: String,
    /// The topics the exchange touched (names, or the id's text when unnamed).
    pub topics: Vec<String>,
    /// Produce only.
    pub acks: Option<i16>,
    /// Produce only: the request's batches carry a producer id (≥ 0); `None` when
    /// not known.
    pub idempotent: Option<bool>,
    /// Produce requests and Fetch responses: records, their bytes, their batches.
    pub records: Option<u64>,
    pub record_bytes: Option<u64>,
    pub batches: Option<u64>,
    /// Codecs of the record batches.
    pub codecs: Vec<String>,
    pub request_bytes: u64,
    pub response_bytes: Option<u64>,
    /// The name of the response's first Kafka error.
    pub error: Option<String>,
    /// A response was expected and the capture holds none.
    pub unanswered: bool,
    /// A Fetch that waited (max wait > 0) and brought no records: its latency is the
    /// broker's wait for data, not its speed.
    pub long_poll: bool,
    pub start_ns: i64,
    pub end_ns: i64,
    pub write_ns: i64,
    pub wait_ns: Option<i64>,
    pub read_ns: Option<i64>,
}

impl Record {
    /// The record of an exchange of `report`'s connection.
    pub fn from_exchange(
        report: &ConnectionReport,
        ex: &Exchange,
        knowledge: &Knowledge,
    ) -> Record {
        let req = &ex.request;
        let f = &ex.facts;
        let timing = Timing::of(ex);
        let mut topics = BTreeSet::new();
        for p in &f.partitions {
            topics.insert(
                knowledge
                    .topic_name(&p.topic)
                    .map_or_else(|| p.topic.to_string(), str::to_string),
            );
        }
        let body = matches!(req.api_key, api::PRODUCE | api::FETCH) && !f.partitions.is_empty();
        let sum = |g: &dyn Fn(&crate::kafka::facts::PartitionFacts) -> u64| {
            body.then(|| f.partitions.iter().map(g).sum::<u64>())
        };
        let mut codecs = BTreeSet::new();
        for p in &f.partitions {
            for c in p.codecs.iter() {
                codecs.insert(c.name().to_string());
            }
        }
        let records = sum(&|p| p.records);
        let idempotent = (req.api_key == api::PRODUCE && !f.partitions.is_empty()).then(|| {
            f.partitions
                .iter()
                .any(|p| p.producer_id.is_some_and(|id| id >= 0))
        });
        let max_wait = f.fetch.map(|p| p.max_wait_ms);
        Record {
            client_id: req.client_id.as_deref().map(str::to_string),
            api_key: req.api_key,
            api_version: req.api_version,
            broker: std::net::SocketAddr::new(report.broker.ip, report.broker.port).to_string(),
            topics: topics.into_iter().collect(),
            acks: req.acks,
            idempotent,
            records,
            record_bytes: sum(&|p| p.record_bytes),
            batches: sum(&|p| u64::from(p.batches)),
            codecs: codecs.into_iter().collect(),
            request_bytes: req.span.size,
            response_bytes: ex.response.map(|r| r.span.size),
            error: f
                .first_error()
                .map(|(code, _)| error_name(code).unwrap_or("UNKNOWN").to_string()),
            unanswered: matches!(
                ex.state,
                ResponseState::NotCaptured | ResponseState::Evicted
            ),
            long_poll: long_poll(req.api_key, max_wait, records, ex.response.is_some()),
            start_ns: timing.start,
            end_ns: timing.end,
            write_ns: timing.write,
            wait_ns: timing.wait,
            read_ns: timing.read,
        }
    }

    /// The record of a span of a spans file; `None` for phase spans and spans that
    /// are not kapture's exchanges.
    pub fn from_span(span: &opentelemetry_proto::tonic::trace::v1::Span) -> Option<Record> {
        use opentelemetry_proto::tonic::common::v1::any_value::Value;
        let mut a: BTreeMap<&str, &Value> = BTreeMap::new();
        for kv in &span.attributes {
            if let Some(v) = kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                a.insert(kv.key.as_str(), v);
            }
        }
        if a.contains_key(attr::PHASE) {
            return None;
        }
        let int = |k: &str| match a.get(k) {
            Some(Value::IntValue(i)) => Some(*i),
            _ => None,
        };
        let text = |k: &str| match a.get(k) {
            Some(Value::StringValue(s)) => Some(s.clone()),
            _ => None,
        };
        let list = |k: &str| -> Vec<String> {
            match a.get(k) {
                Some(Value::ArrayValue(arr)) => arr
                    .values
                    .iter()
                    .filter_map(|v| match &v.value {
                        Some(Value::StringValue(s)) => Some(s.clone()),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            }
        };
        let api_key = i16::try_from(int(attr::API_KEY)?).ok()?;
        let api_version = i16::try_from(int(attr::API_VERSION)?).ok()?;
        let broker_ip: std::net::IpAddr = text(attr::SERVER_ADDRESS)?.parse().ok()?;
        let broker_port = u16::try_from(int(attr::SERVER_PORT)?).ok()?;
        let mut topics: Vec<String> = match text(attr::DESTINATION_NAME) {
            Some(t) => vec![t],
            None => list(attr::TOPICS),
        };
        topics.extend(list(attr::UNRESOLVED_TOPIC_IDS));
        topics.sort();
        topics.dedup();
        let records = int(attr::BATCH_MESSAGE_COUNT).map(|v| v as u64);
        let answered = int(attr::RESPONSE_BYTES).is_some();
        let write_ns = int(attr::WRITE_NS)?;
        let wait_ns = int(attr::WAIT_NS);
        let read_ns = int(attr::READ_NS);
        let mut codecs = list(attr::CODECS);
        codecs.sort();
        let idempotent = (api_key == api::PRODUCE && records.is_some())
            .then(|| int(attr::PRODUCER_ID).map(|id| id >= 0))
            .flatten();
        Some(Record {
            client_id: text(attr::CLIENT_ID),
            api_key,
            api_version,
            broker: std::net::SocketAddr::new(broker_ip, broker_port).to_string(),
            topics,
            acks: int(attr::PRODUCE_ACKS).and_then(|v| i16::try_from(v).ok()),
            idempotent,
            records,
            record_bytes: int(attr::RECORD_BYTES).map(|v| v as u64),
            batches: int(attr::BATCHES).map(|v| v as u64),
            codecs,
            request_bytes: int(attr::REQUEST_BYTES).unwrap_or(0) as u64,
            response_bytes: int(attr::RESPONSE_BYTES).map(|v| v as u64),
            error: text(attr::ERROR_TYPE),
            unanswered: matches!(
                text(attr::RESPONSE_STATE).as_deref(),
                Some("not_captured" | "evicted")
            ),
            long_poll: long_poll(
                api_key,
                int(attr::FETCH_MAX_WAIT_MS).map(|v| v as i32),
                records,
                answered,
            ),
            start_ns: span.start_time_unix_nano as i64,
            end_ns: span.end_time_unix_nano as i64,
            write_ns,
            wait_ns,
            read_ns,
        })
    }

    /// The total time (end − start).
    pub fn total_ns(&self) -> i64 {
        self.end_ns - self.start_ns
    }
}

fn long_poll(api_key: i16, max_wait_ms: Option<i32>, records: Option<u64>, answered: bool) -> bool {
    api_key == api::FETCH
        && answered
        && max_wait_ms.is_some_and(|w| w > 0)
        && records.unwrap_or(0) == 0
}

/// Nearest-rank statistics of a set of numbers (records, bytes per request).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dist {
    pub count: u64,
    pub min: i64,
    pub p50: i64,
    pub p90: i64,
    pub p99: i64,
    pub max: i64,
    pub sum: i64,
}

impl Dist {
    pub fn of(samples: &[i64]) -> Option<Dist> {
        if samples.is_empty() {
            return None;
        }
        let mut s = samples.to_vec();
        s.sort_unstable();
        Some(Dist {
            count: s.len() as u64,
            min: s[0],
            p50: nearest_rank(&s, 50),
            p90: nearest_rank(&s, 90),
            p99: nearest_rank(&s, 99),
            max: s[s.len() - 1],
            sum: s.iter().sum(),
        })
    }
}

/// Latency percentiles of each phase, long-poll Fetches left out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    pub total: Option<Percentiles>,
    pub write: Option<Percentiles>,
    pub wait: Option<Percentiles>,
    pub read: Option<Percentiles>,
}

/// One row of the profile: the exchanges of one client (or of all clients) with one
/// API (or with every API, for rules that name none).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// `null`: every client.
    pub client_id: Option<String>,
    /// `null`: every API (only in rows made for a rule, never in a summary).
    pub api: Option<String>,
    pub api_key: Option<i16>,
    /// Requests.
    pub count: u64,
    /// Requests by API version.
    pub versions: BTreeMap<i16, u64>,
    /// Produce requests by acks.
    pub acks: BTreeMap<i16, u64>,
    /// Requests by codec of their batches (a request with two codecs counts twice).
    pub codecs: BTreeMap<String, u64>,
    /// Produce requests with a producer id (idempotent or transactional) and without.
    pub idempotent: u64,
    pub not_idempotent: u64,
    /// Responses by the name of their first Kafka error.
    pub errors: BTreeMap<String, u64>,
    /// Requests whose response the capture does not hold.
    pub unanswered: u64,
    /// Fetches that waited and brought nothing (left out of `latency`).
    pub long_polls: u64,
    pub records_per_request: Option<Dist>,
    pub record_bytes_per_request: Option<Dist>,
    pub batches_per_request: Option<Dist>,
    pub request_bytes: Option<Dist>,
    pub response_bytes: Option<Dist>,
    /// Long polls left out.
    pub latency: Latency,
    /// Latency of every request, long polls included.
    pub latency_with_long_polls: Latency,
    pub topics: Vec<String>,
    pub brokers: Vec<String>,
}

impl Row {
    /// Gathers `records` into one row.
    pub fn of<'a>(
        client_id: Option<String>,
        api_key: Option<i16>,
        records: impl IntoIterator<Item = &'a Record>,
    ) -> Row {
        let mut row = Row {
            client_id,
            api: api_key.map(|k| api::name(k).unwrap_or("Unknown").to_string()),
            api_key,
            ..Row::default()
        };
        let mut s: [Vec<i64>; 5] = Default::default();
        let mut lat: [Vec<i64>; 4] = Default::default();
        let mut lat_all: [Vec<i64>; 4] = Default::default();
        let mut topics = BTreeSet::new();
        let mut brokers = BTreeSet::new();
        for r in records {
            row.count += 1;
            *row.versions.entry(r.api_version).or_default() += 1;
            if let Some(a) = r.acks {
                *row.acks.entry(a).or_default() += 1;
            }
            for c in &r.codecs {
                *row.codecs.entry(c.clone()).or_default() += 1;
            }
            match r.idempotent {
                Some(true) => row.idempotent += 1,
                Some(false) => row.not_idempotent += 1,
                None => {}
            }
            if let Some(e) = &r.error {
                *row.errors.entry(e.clone()).or_default() += 1;
            }
            row.unanswered += u64::from(r.unanswered);
            row.long_polls += u64::from(r.long_poll);
            let opt = |v: Option<u64>| v.map(|v| v as i64);
            for (i, v) in [
                opt(r.records),
                opt(r.record_bytes),
                opt(r.batches),
                Some(r.request_bytes as i64),
                opt(r.response_bytes),
            ]
            .into_iter()
            .enumerate()
            {
                s[i].extend(v);
            }
            let phases = [Some(r.total_ns()), Some(r.write_ns), r.wait_ns, r.read_ns];
            for (i, v) in phases.into_iter().enumerate() {
                lat_all[i].extend(v);
                if !r.long_poll {
                    lat[i].extend(v);
                }
            }
            topics.extend(r.topics.iter().cloned());
            brokers.insert(r.broker.clone());
        }
        row.records_per_request = Dist::of(&s[0]);
        row.record_bytes_per_request = Dist::of(&s[1]);
        row.batches_per_request = Dist::of(&s[2]);
        row.request_bytes = Dist::of(&s[3]);
        row.response_bytes = Dist::of(&s[4]);
        let latency = |l: &[Vec<i64>; 4]| Latency {
            total: Percentiles::of(&l[0]),
            write: Percentiles::of(&l[1]),
            wait: Percentiles::of(&l[2]),
            read: Percentiles::of(&l[3]),
        };
        row.latency = latency(&lat);
        row.latency_with_long_polls = latency(&lat_all);
        row.topics = topics.into_iter().collect();
        row.brokers = brokers.into_iter().collect();
        row
    }

    /// The client's label: its id, `(null)` for a null client id, `(all clients)`.
    pub fn client_label(&self) -> &str {
        self.client_id.as_deref().unwrap_or("(all clients)")
    }
}

/// The label of a record's client in a profile: its id, or `(null)`.
pub fn client_key(r: &Record) -> String {
    r.client_id.clone().unwrap_or_else(|| "(null)".into())
}

/// The whole profile: rows per client and API, then per API for all clients.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Which APIs it covers: `all`, or the API names the run's `--api` kept.
    pub apis: Vec<String>,
    /// Exchanges profiled.
    pub exchanges: u64,
    /// From the first exchange's start to the last one's end: what rates divide by.
    pub duration_ns: i64,
    pub rows: Vec<Row>,
}

impl Profile {
    /// The profile of `records` (`apis`: what the records were limited to).
    pub fn of(records: &[Record], apis: Vec<String>) -> Profile {
        let mut groups: BTreeMap<(i16, Option<String>), Vec<&Record>> = BTreeMap::new();
        for r in records {
            groups
                .entry((r.api_key, Some(client_key(r))))
                .or_default()
                .push(r);
            groups.entry((r.api_key, None)).or_default().push(r);
        }
        let start = records.iter().map(|r| r.start_ns).min().unwrap_or(0);
        let end = records.iter().map(|r| r.end_ns).max().unwrap_or(0);
        // Per client first (sorted by client, then API key), then all clients.
        let mut rows: Vec<Row> = groups
            .into_iter()
            .map(|((key, client), rs)| Row::of(client, Some(key), rs))
            .collect();
        rows.sort_by(|a, b| {
            (a.client_id.is_none(), &a.client_id, a.api_key).cmp(&(
                b.client_id.is_none(),
                &b.client_id,
                b.api_key,
            ))
        });
        Profile {
            apis,
            exchanges: records.len() as u64,
            duration_ns: end - start,
            rows,
        }
    }

    /// The row of a client (`None`: all clients) and API.
    pub fn row(&self, client: Option<&str>, api_key: i16) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.client_id.as_deref() == client && r.api_key == Some(api_key))
    }

    /// Whether the profile covers an API.
    pub fn covers(&self, api_key: i16) -> bool {
        self.apis.iter().any(|a| a == "all")
            || self.apis.iter().any(|a| api::parse_key(a) == Some(api_key))
    }
}

/// The `apis` of a profile limited by an [`ApiSet`].
pub fn api_names(apis: &ApiSet) -> Vec<String> {
    if *apis == ApiSet::all() {
        return vec!["all".into()];
    }
    (0..200i16)
        .filter(|k| apis.contains(*k))
        .map(|k| api::name(k).map_or_else(|| k.to_string(), str::to_string))
        .collect()
}

/// Records gathered for the JSON summary, exchange by exchange, as the pipeline
/// selects them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Gathered {
    /// The APIs the run kept (`--api`), as [`api_names`] writes them.
    pub apis: Vec<String>,
    pub records: Vec<Record>,
}

impl Gathered {
    pub fn new(apis: &ApiSet) -> Gathered {
        Gathered {
            apis: api_names(apis),
            records: Vec::new(),
        }
    }

    pub fn add(&mut self, report: &ConnectionReport, ex: &Exchange, knowledge: &Knowledge) {
        self.records
            .push(Record::from_exchange(report, ex, knowledge));
    }

    pub fn merge(&mut self, other: Gathered) {
        self.records.extend(other.records);
    }
}

/// What an input of `check` or `diff` holds.
#[derive(Debug, Clone)]
pub enum Loaded {
    /// Exchange by exchange: a capture or a spans file.
    Records(Vec<Record>),
    /// A saved JSON summary's profile.
    Profile(Profile),
}

impl Loaded {
    pub fn profile(&self) -> Profile {
        match self {
            Loaded::Records(r) => Profile::of(r, vec!["all".into()]),
            Loaded::Profile(p) => p.clone(),
        }
    }
}

/// How captures are read for a profile.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub ports: Option<Vec<u16>>,
}

/// Reads a capture (pcap, pcapng), a spans file (OTLP JSON Lines) or a JSON summary
/// with a `profile` section, telling them apart by their first bytes.
pub fn load(path: &Path, options: &ReadOptions) -> Result<Loaded, String> {
    let name = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("{name}: cannot read: {e}"))?;
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if first != Some(b'{') {
        return records_of_capture(&bytes, options)
            .map(Loaded::Records)
            .map_err(|e| format!("{name}: {e}"));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| format!("{name}: not UTF-8 JSON"))?;
    // A summary is one JSON object; a spans file is one per line.
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text)
        && v.get("resourceSpans").is_none()
    {
        let Some(p) = v.get("profile") else {
            return Err(format!(
                "{name}: a JSON summary without a profile (write it with --summary json)"
            ));
        };
        return serde_json::from_value::<Profile>(p.clone())
            .map(Loaded::Profile)
            .map_err(|e| format!("{name}: profile: {e}"));
    }
    let mut records = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let data: opentelemetry_proto::tonic::trace::v1::TracesData = serde_json::from_str(line)
            .map_err(|e| format!("{name}:{}: not OTLP JSON: {e}", i + 1))?;
        for rs in &data.resource_spans {
            for ss in &rs.scope_spans {
                records.extend(ss.spans.iter().filter_map(Record::from_span));
            }
        }
    }
    Ok(Loaded::Records(records))
}

/// Every exchange of a capture, whatever its API, as records in output order.
pub fn records_of_capture(bytes: &[u8], options: &ReadOptions) -> Result<Vec<Record>, String> {
    let mut summary = Summary::default();
    let ports = match &options.ports {
        Some(p) => PortRule {
            ports: p.clone(),
            explicit: true,
        },
        None => PortRule::default(),
    };
    let config = PipelineConfig {
        kafka: KafkaConfig {
            ports,
            bodies: ApiSet::all(),
            ..KafkaConfig::default()
        },
        apis: ApiSet::all(),
        no_spans: true,
        ..PipelineConfig::default()
    };
    let reports =
        pipeline::analyse_capture(bytes, &config, &mut summary).map_err(|e| e.to_string())?;
    let knowledge = Knowledge::gather(&reports, &TopicMap::default());
    Ok(reports
        .iter()
        .flat_map(|r| {
            r.exchanges
                .iter()
                .map(|ex| Record::from_exchange(r, ex, &knowledge))
        })
        .collect())
}
