//! The conversation profile of a capture: what each client asked of Kafka, per API,
//! with the times and ids left out. It is what `kapture check` tests rules against
//! and what `kapture diff` compares; the JSON summary carries it (`profile`), so a
//! baseline can be kept without the capture.
//!
//! Every exchange becomes one [`Record`], from a capture (through the pipeline's own
//! stages) or from a span of a spans file (through its attributes: the same numbers).
//! Records are gathered into [`Row`]s as they come ([`RowAcc`]: counts and bounded
//! distributions, no record kept): one per client id and API, and one per API for all
//! clients together. Percentiles are nearest-rank, as in [`crate::stats`]: exact up to
//! [`crate::sketch::EXACT_LIMIT`] values, from the row's histogram past that; the rows
//! carry their histograms, so saved profiles merge.

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
use crate::sketch::{Values, Wire, values_of};
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
    /// The distributions behind the numbers above, for `kapture summary-merge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histograms: Option<RowHistograms>,
}

/// The distributions behind a profile row's numbers, for `kapture summary-merge`
/// (see [`crate::sketch`]).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowHistograms {
    /// Records, record bytes, batches, request bytes, response bytes per request.
    pub sizes: [Option<Wire>; 5],
    /// total, write, wait, read: long polls left out, then with them.
    pub latency: [Option<Wire>; 4],
    pub latency_with_long_polls: [Option<Wire>; 4],
}

/// A profile row as its exchanges arrive: counts and bounded distributions, no
/// records kept.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RowAcc {
    /// The row's counts, versions, codecs, errors, topics and brokers; its
    /// distributions are below.
    head: Row,
    topics: BTreeSet<String>,
    brokers: BTreeSet<String>,
    sizes: [Values; 5],
    latency: [Values; 4],
    latency_all: [Values; 4],
}

fn add_counts<K: Ord + Clone>(to: &mut BTreeMap<K, u64>, from: &BTreeMap<K, u64>) {
    for (k, n) in from {
        *to.entry(k.clone()).or_default() += n;
    }
}

impl RowAcc {
    pub fn new(client_id: Option<String>, api_key: Option<i16>) -> RowAcc {
        RowAcc {
            head: Row {
                client_id,
                api: api_key.map(|k| api::name(k).unwrap_or("Unknown").to_string()),
                api_key,
                ..Row::default()
            },
            ..RowAcc::default()
        }
    }

    pub fn add(&mut self, r: &Record) {
        let row = &mut self.head;
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
        let sizes = [
            opt(r.records),
            opt(r.record_bytes),
            opt(r.batches),
            Some(r.request_bytes as i64),
            opt(r.response_bytes),
        ];
        for (values, v) in self.sizes.iter_mut().zip(sizes) {
            if let Some(v) = v {
                values.push(v);
            }
        }
        let phases = [Some(r.total_ns()), Some(r.write_ns), r.wait_ns, r.read_ns];
        for (i, v) in phases.into_iter().enumerate() {
            let Some(v) = v else { continue };
            self.latency_all[i].push(v);
            if !r.long_poll {
                self.latency[i].push(v);
            }
        }
        // Cloned only when new: most exchanges repeat their row's topics and broker.
        for t in &r.topics {
            if !self.topics.contains(t) {
                self.topics.insert(t.clone());
            }
        }
        if !self.brokers.contains(&r.broker) {
            self.brokers.insert(r.broker.clone());
        }
    }

    /// Adds another accumulator of the same client and API.
    pub fn merge(&mut self, other: RowAcc) {
        let (row, o) = (&mut self.head, other.head);
        row.count += o.count;
        add_counts(&mut row.versions, &o.versions);
        add_counts(&mut row.acks, &o.acks);
        add_counts(&mut row.codecs, &o.codecs);
        row.idempotent += o.idempotent;
        row.not_idempotent += o.not_idempotent;
        add_counts(&mut row.errors, &o.errors);
        row.unanswered += o.unanswered;
        row.long_polls += o.long_polls;
        self.topics.extend(other.topics);
        self.brokers.extend(other.brokers);
        let pairs = self
            .sizes
            .iter_mut()
            .zip(other.sizes)
            .chain(self.latency.iter_mut().zip(other.latency))
            .chain(self.latency_all.iter_mut().zip(other.latency_all));
        for (to, from) in pairs {
            to.merge(from);
        }
    }

    /// The row as the summary writes it.
    pub fn row(&self) -> Row {
        let mut row = self.head.clone();
        let [records, record_bytes, batches, request, response] = &self.sizes;
        row.records_per_request = records.dist();
        row.record_bytes_per_request = record_bytes.dist();
        row.batches_per_request = batches.dist();
        row.request_bytes = request.dist();
        row.response_bytes = response.dist();
        let latency = |l: &[Values; 4]| Latency {
            total: l[0].percentiles(),
            write: l[1].percentiles(),
            wait: l[2].percentiles(),
            read: l[3].percentiles(),
        };
        row.latency = latency(&self.latency);
        row.latency_with_long_polls = latency(&self.latency_all);
        row.topics = self.topics.iter().cloned().collect();
        row.brokers = self.brokers.iter().cloned().collect();
        row.histograms = Some(RowHistograms {
            sizes: self.sizes.each_ref().map(Values::wire),
            latency: self.latency.each_ref().map(Values::wire),
            latency_with_long_polls: self.latency_all.each_ref().map(Values::wire),
        });
        row
    }

    /// The accumulator a saved row describes (its distributions from its histograms).
    pub fn from_row(row: &Row) -> Result<RowAcc, String> {
        let label = || {
            format!(
                "profile row {} {}",
                row.client_label(),
                row.api.as_deref().unwrap_or("(every API)")
            )
        };
        let h = row
            .histograms
            .as_ref()
            .ok_or_else(|| format!("{}: no histograms (written by an older kapture)", label()))?;
        let values = |ws: &[Option<Wire>]| -> Result<Vec<Values>, String> {
            ws.iter()
                .map(|w| values_of(w.as_ref()).map_err(|e| format!("{}: {e}", label())))
                .collect()
        };
        let arr = |v: Vec<Values>| -> [Values; 4] {
            let mut it = v.into_iter();
            std::array::from_fn(|_| it.next().unwrap_or_default())
        };
        let sizes = values(&h.sizes)?;
        let mut it = sizes.into_iter();
        let head = Row {
            histograms: None,
            records_per_request: None,
            record_bytes_per_request: None,
            batches_per_request: None,
            request_bytes: None,
            response_bytes: None,
            latency: Latency::default(),
            latency_with_long_polls: Latency::default(),
            topics: Vec::new(),
            brokers: Vec::new(),
            ..row.clone()
        };
        Ok(RowAcc {
            head,
            topics: row.topics.iter().cloned().collect(),
            brokers: row.brokers.iter().cloned().collect(),
            sizes: std::array::from_fn(|_| it.next().unwrap_or_default()),
            latency: arr(values(&h.latency)?),
            latency_all: arr(values(&h.latency_with_long_polls)?),
        })
    }
}

impl Row {
    /// Gathers `records` into one row.
    pub fn of<'a>(
        client_id: Option<String>,
        api_key: Option<i16>,
        records: impl IntoIterator<Item = &'a Record>,
    ) -> Row {
        let mut acc = RowAcc::new(client_id, api_key);
        for r in records {
            acc.add(r);
        }
        acc.row()
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
    /// The first exchange's start and the last one's end (Unix nanoseconds), so that
    /// `kapture summary-merge` can work out the merged duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ns: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ns: Option<i64>,
}

impl Profile {
    /// The profile of `records` (`apis`: what the records were limited to).
    pub fn of(records: &[Record], apis: Vec<String>) -> Profile {
        let mut g = Gathered {
            apis,
            ..Gathered::default()
        };
        for r in records {
            g.add_record(r);
        }
        g.profile()
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

/// The profile of the JSON summary as exchanges arrive: one accumulator per client
/// and API and one per API, no record kept (memory grows with the rows, not with the
/// exchanges).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Gathered {
    /// The APIs the run kept (`--api`), as [`api_names`] writes them.
    pub apis: Vec<String>,
    exchanges: u64,
    /// The first start and last end.
    bounds: Option<(i64, i64)>,
    rows: BTreeMap<(i16, Option<String>), RowAcc>,
}

impl Gathered {
    pub fn new(apis: &ApiSet) -> Gathered {
        Gathered {
            apis: api_names(apis),
            ..Gathered::default()
        }
    }

    pub fn add(&mut self, report: &ConnectionReport, ex: &Exchange, knowledge: &Knowledge) {
        self.add_record(&Record::from_exchange(report, ex, knowledge));
    }

    pub fn add_record(&mut self, r: &Record) {
        self.exchanges += 1;
        self.note_bounds(r.start_ns, r.end_ns);
        let client = client_key(r);
        let mut row = |client: Option<String>| {
            self.rows
                .entry((r.api_key, client.clone()))
                .or_insert_with(|| RowAcc::new(client, Some(r.api_key)))
                .add(r);
        };
        row(Some(client));
        row(None);
    }

    fn note_bounds(&mut self, start: i64, end: i64) {
        self.bounds = Some(match self.bounds {
            None => (start, end),
            Some((s, e)) => (s.min(start), e.max(end)),
        });
    }

    pub fn merge(&mut self, other: Gathered) {
        self.exchanges += other.exchanges;
        if let Some((s, e)) = other.bounds {
            self.note_bounds(s, e);
        }
        for (key, acc) in other.rows {
            match self.rows.get_mut(&key) {
                Some(mine) => mine.merge(acc),
                None => {
                    self.rows.insert(key, acc);
                }
            }
        }
    }

    /// The profile: rows per client (sorted by client, then API key), then per API
    /// for all clients.
    pub fn profile(&self) -> Profile {
        let mut rows: Vec<Row> = self.rows.values().map(RowAcc::row).collect();
        rows.sort_by(|a, b| {
            (a.client_id.is_none(), &a.client_id, a.api_key).cmp(&(
                b.client_id.is_none(),
                &b.client_id,
                b.api_key,
            ))
        });
        let (start, end) = self.bounds.unwrap_or((0, 0));
        Profile {
            apis: self.apis.clone(),
            exchanges: self.exchanges,
            duration_ns: end - start,
            rows,
            start_ns: self.bounds.map(|b| b.0),
            end_ns: self.bounds.map(|b| b.1),
        }
    }

    /// What a saved profile gathered, to merge with others.
    pub fn from_profile(p: &Profile) -> Result<Gathered, String> {
        let mut rows = BTreeMap::new();
        for row in &p.rows {
            let Some(key) = row.api_key else {
                return Err("profile row without an API".into());
            };
            rows.insert((key, row.client_id.clone()), RowAcc::from_row(row)?);
        }
        let bounds = match (p.start_ns, p.end_ns) {
            (Some(s), Some(e)) => Some((s, e)),
            _ if p.exchanges == 0 => None,
            _ => {
                return Err(
                    "profile without start_ns and end_ns (written by an older kapture)".into(),
                );
            }
        };
        Ok(Gathered {
            apis: p.apis.clone(),
            exchanges: p.exchanges,
            bounds,
            rows,
        })
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
