//! Where the time went: per broker, the network round trip from handshakes, where the
//! capture point is, how many exchanges saw TCP loss, and the broker's own time once
//! the network and loss recovery are taken out of each wait; and the slowest
//! exchanges, each with its breakdown and frame numbers. Gathered per worker from the
//! exchanges that pass the filters, merged with [`Diagnosis::merge`], handed on to the
//! summary as plain rows. Its distributions are bounded ([`crate::sketch`]) and the
//! rows carry them, so [`Diagnosis::from_rows`] reads a saved summary back to merge.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::kafka::ConnectionReport;
use crate::kafka::api;
use crate::kafka::body::error_name;
use crate::kafka::exchange::Exchange;
use crate::knowledge::Knowledge;
use crate::sketch::{Values, Wire, values_of};
use crate::stats::{Percentiles, Timing, TopicRow, human_duration};
use crate::timing::WaitSplit;

/// What one broker's exchanges say about the network and the broker.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct BrokerSamples {
    exchanges: u64,
    /// Exchanges during which TCP retransmitted, reordered or lost segments.
    with_loss: u64,
    /// Round trips to the broker from the handshakes, one per exchange.
    rtt: Values,
    capture_points: BTreeMap<&'static str, u64>,
    /// Broker time of the waits that could be split.
    broker: Values,
    /// Loss recovery of the waits that had some.
    recovery: Values,
    /// Waits that could not be split honestly.
    unknown: u64,
}

impl BrokerSamples {
    fn merge(&mut self, other: BrokerSamples) {
        self.exchanges += other.exchanges;
        self.with_loss += other.with_loss;
        self.rtt.merge(other.rtt);
        for (k, n) in other.capture_points {
            *self.capture_points.entry(k).or_default() += n;
        }
        self.broker.merge(other.broker);
        self.recovery.merge(other.recovery);
        self.unknown += other.unknown;
    }
}

/// Exchanges the broker holds on purpose: a Fetch that waited about its
/// `max_wait_ms` for data (a long poll), JoinGroup and SyncGroup (held until the
/// group rebalances). Their waits say nothing about how fast the broker is.
fn waits_by_design(ex: &Exchange, wait: Option<i64>) -> bool {
    match ex.request.api_key {
        api::JOIN_GROUP | api::SYNC_GROUP => true,
        api::FETCH => long_poll(ex.facts.fetch.map(|f| f.max_wait_ms), wait),
        _ => false,
    }
}

/// Whether a Fetch waited at least 90% of the `max_wait_ms` it allowed.
fn long_poll(max_wait_ms: Option<i32>, wait: Option<i64>) -> bool {
    match (max_wait_ms, wait) {
        (Some(max), Some(w)) => max > 0 && w >= i64::from(max) * 900_000,
        _ => false,
    }
}

/// One of the slowest exchanges, with what explains it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlowExchange {
    /// Position of the capture among the inputs (0 for the first).
    pub file: u32,
    pub api: String,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<String>,
    pub client: String,
    pub broker: String,
    pub topic: Option<String>,
    pub total_ns: i64,
    pub write_ns: i64,
    pub wait_ns: Option<i64>,
    pub read_ns: Option<i64>,
    /// The wait's split (see [`WaitSplit`]): absent without a handshake round trip.
    pub network_ns: Option<i64>,
    pub loss_recovery_ns: Option<i64>,
    pub broker_ns: Option<i64>,
    /// Loss before the response's first byte made the split impossible.
    pub split_unknown: bool,
    pub retransmissions: u32,
    pub out_of_order: u32,
    pub zero_windows: u32,
    pub gaps: u32,
    pub throttle_ms: Option<i32>,
    /// Fetch only: how long the consumer let the broker wait for data.
    pub fetch_max_wait_ms: Option<i32>,
    pub error: Option<String>,
    /// Frame numbers (as Wireshark counts them in that file) of the request's first
    /// and last packets, and of the response's.
    pub request_frames: (u64, u64),
    pub response_frames: Option<(u64, u64)>,
}

/// The broker line of the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRow {
    pub broker: String,
    pub exchanges: u64,
    pub with_loss: u64,
    /// Median round trip capture point → broker → capture point, from handshakes.
    pub rtt_ns: Option<i64>,
    /// `client`, `broker`, `between` or `local`, the most frequent; absent without
    /// handshakes.
    pub capture_point: Option<String>,
    /// The broker's own time, over the waits that could be split.
    pub broker_time: Option<Percentiles>,
    pub loss_recovery: Option<Percentiles>,
    pub split_unknown: u64,
    /// The distributions and counts behind the numbers above, for
    /// `kapture summary-merge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histograms: Option<BrokerHistograms>,
}

/// What a broker row is computed from (see [`crate::sketch`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerHistograms {
    pub rtt: Option<Wire>,
    pub broker_time: Option<Wire>,
    pub loss_recovery: Option<Wire>,
    /// Exchanges by capture point.
    pub capture_points: BTreeMap<String, u64>,
}

/// The capture point names [`crate::timing`] gives, as the static strings the
/// samples count by.
fn capture_point_name(name: &str) -> Result<&'static str, String> {
    ["client", "broker", "between", "local"]
        .into_iter()
        .find(|n| *n == name)
        .ok_or_else(|| format!("broker row: unknown capture point '{name}'"))
}

impl BrokerSamples {
    fn of_row(row: &BrokerRow) -> Result<BrokerSamples, String> {
        let h = row.histograms.as_ref().ok_or_else(|| {
            format!(
                "broker row {}: no histograms (written by an older kapture)",
                row.broker
            )
        })?;
        let mut capture_points = BTreeMap::new();
        for (name, n) in &h.capture_points {
            capture_points.insert(capture_point_name(name)?, *n);
        }
        let values = |w: &Option<Wire>| {
            values_of(w.as_ref()).map_err(|e| format!("broker row {}: {e}", row.broker))
        };
        Ok(BrokerSamples {
            exchanges: row.exchanges,
            with_loss: row.with_loss,
            rtt: values(&h.rtt)?,
            capture_points,
            broker: values(&h.broker_time)?,
            recovery: values(&h.loss_recovery)?,
            unknown: row.split_unknown,
        })
    }
}

/// Per-broker samples and the slowest exchanges of the exchanges counted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    brokers: BTreeMap<(IpAddr, u16), BrokerSamples>,
    /// How many slowest exchanges to keep.
    top: usize,
    slowest: Vec<(Rank, SlowExchange)>,
}

/// Slowest first; ties in input order, so the list does not depend on threads.
type Rank = (std::cmp::Reverse<i64>, u32, u64);

impl Diagnosis {
    pub fn new(top: usize) -> Diagnosis {
        Diagnosis {
            top,
            ..Diagnosis::default()
        }
    }

    /// Counts one exchange of `report`'s connection, from capture `file`.
    pub fn add(
        &mut self,
        report: &ConnectionReport,
        ex: &Exchange,
        knowledge: &Knowledge,
        file: u32,
    ) {
        let timing = Timing::of(ex);
        let health = report.tcp_events.during(timing.start, timing.end);
        let split = ex.response.as_ref().and_then(|resp| {
            report
                .rtt
                .split_wait(&report.tcp_events, &ex.request.span, &resp.span)
        });
        let b = self
            .brokers
            .entry((report.broker.ip, report.broker.port))
            .or_default();
        b.exchanges += 1;
        if health.retransmissions + health.out_of_order + health.gaps > 0 {
            b.with_loss += 1;
        }
        if report.rtt.from_handshake
            && let Some(rtt) = report.rtt.to_broker_ns
        {
            b.rtt.push(rtt);
        }
        if let Some(point) = report.rtt.capture_point() {
            *b.capture_points.entry(point.as_str()).or_default() += 1;
        }
        match split {
            _ if waits_by_design(ex, timing.wait) => {}
            Some(WaitSplit::Known {
                recovery, broker, ..
            }) => {
                b.broker.push(broker);
                if recovery > 0 {
                    b.recovery.push(recovery);
                }
            }
            Some(WaitSplit::Unknown) => b.unknown += 1,
            None => {}
        }
        if self.top == 0 {
            return;
        }
        let rank = (
            std::cmp::Reverse(timing.total()),
            file,
            ex.request.span.first_index,
        );
        // Kept sorted: the last is the fastest kept.
        if self.slowest.len() >= self.top && self.slowest.last().is_some_and(|(r, _)| *r < rank) {
            return;
        }
        let (network_ns, loss_recovery_ns, broker_ns) = match split {
            Some(WaitSplit::Known {
                network,
                recovery,
                broker,
            }) => (Some(network), Some(recovery), Some(broker)),
            _ => (None, None, None),
        };
        let slow = SlowExchange {
            file,
            api: api::name(ex.request.api_key)
                .unwrap_or("Unknown")
                .to_string(),
            api_version: ex.request.api_version,
            correlation_id: ex.request.correlation_id,
            client_id: ex.request.client_id.as_deref().map(str::to_string),
            client: SocketAddr::new(report.client.ip, report.client.port).to_string(),
            broker: SocketAddr::new(report.broker.ip, report.broker.port).to_string(),
            topic: TopicRow::of(ex, knowledge).label(),
            total_ns: timing.total(),
            write_ns: timing.write,
            wait_ns: timing.wait,
            read_ns: timing.read,
            network_ns,
            loss_recovery_ns,
            broker_ns,
            split_unknown: split == Some(WaitSplit::Unknown),
            retransmissions: health.retransmissions,
            out_of_order: health.out_of_order,
            zero_windows: health.zero_windows,
            gaps: health.gaps,
            throttle_ms: ex.facts.throttle_ms,
            fetch_max_wait_ms: ex.facts.fetch.map(|f| f.max_wait_ms),
            error: ex
                .facts
                .first_error()
                .map(|(code, _)| error_name(code).unwrap_or("UNKNOWN").to_string()),
            request_frames: (ex.request.span.first_index, ex.request.span.last_index),
            response_frames: ex
                .response
                .as_ref()
                .map(|r| (r.span.first_index, r.span.last_index)),
        };
        let at = self.slowest.partition_point(|(r, _)| *r < rank);
        self.slowest.insert(at, (rank, slow));
        self.slowest.truncate(self.top);
    }

    /// The diagnosis a saved summary's broker rows and slowest exchanges describe,
    /// keeping the `top` slowest, to merge with others.
    pub fn from_rows(
        brokers: &[BrokerRow],
        slowest: &[SlowExchange],
        top: usize,
    ) -> Result<Diagnosis, String> {
        let mut d = Diagnosis::new(top);
        for row in brokers {
            let addr: SocketAddr = row
                .broker
                .parse()
                .map_err(|_| format!("broker row: bad broker '{}'", row.broker))?;
            d.brokers
                .entry((addr.ip(), addr.port()))
                .or_default()
                .merge(BrokerSamples::of_row(row)?);
        }
        d.slowest = slowest
            .iter()
            .map(|s| {
                let rank = (std::cmp::Reverse(s.total_ns), s.file, s.request_frames.0);
                (rank, s.clone())
            })
            .collect();
        d.slowest.sort_by_key(|(rank, _)| *rank);
        d.slowest.truncate(top);
        Ok(d)
    }

    /// Adds another worker's (another connection's, another file's) samples.
    pub fn merge(&mut self, other: Diagnosis) {
        self.top = self.top.max(other.top);
        for (key, samples) in other.brokers {
            self.brokers.entry(key).or_default().merge(samples);
        }
        self.slowest.extend(other.slowest);
        self.slowest.sort_by_key(|(rank, _)| *rank);
        self.slowest.truncate(self.top);
    }

    pub fn brokers(&self) -> Vec<BrokerRow> {
        self.brokers
            .iter()
            .map(|(&(ip, port), b)| BrokerRow {
                broker: SocketAddr::new(ip, port).to_string(),
                exchanges: b.exchanges,
                with_loss: b.with_loss,
                // The lower median: the nearest-rank p50.
                rtt_ns: b.rtt.percentiles().map(|p| p.p50_ns),
                capture_point: b
                    .capture_points
                    .iter()
                    .max_by_key(|(_, n)| **n)
                    .map(|(p, _)| p.to_string()),
                broker_time: b.broker.percentiles(),
                loss_recovery: b.recovery.percentiles(),
                split_unknown: b.unknown,
                histograms: Some(BrokerHistograms {
                    rtt: b.rtt.wire(),
                    broker_time: b.broker.wire(),
                    loss_recovery: b.recovery.wire(),
                    capture_points: b
                        .capture_points
                        .iter()
                        .map(|(p, n)| (p.to_string(), *n))
                        .collect(),
                }),
            })
            .collect()
    }

    /// The slowest exchanges, slowest first.
    pub fn slowest(&self) -> Vec<SlowExchange> {
        self.slowest.iter().map(|(_, s)| s.clone()).collect()
    }
}

/// The per-broker lines of the text summary.
pub fn render_brokers(rows: &[BrokerRow]) -> String {
    let mut out = String::new();
    for b in rows {
        let mut line = format!("   {}", b.broker);
        match (b.rtt_ns, &b.capture_point) {
            (Some(rtt), Some(point)) => {
                let _ = write!(
                    line,
                    ": round trip {} (handshakes), capture at the {point}",
                    human_duration(rtt)
                );
                if point == "local" {
                    line.truncate(line.len() - " at the local".len());
                    line.push_str(" on the same host");
                }
            }
            _ => line.push_str(": no handshake captured (round trip unknown)"),
        }
        let share = 100.0 * b.with_loss as f64 / b.exchanges.max(1) as f64;
        let _ = write!(
            line,
            "; {} of {} exchanges saw TCP loss ({share:.0}%)",
            b.with_loss, b.exchanges
        );
        let _ = writeln!(out, "{line}");
        if let Some(p) = &b.broker_time {
            let mut detail = format!(
                "     broker time p50 {} p99 {} max {} (wait less round trip",
                human_duration(p.p50_ns),
                human_duration(p.p99_ns),
                human_duration(p.max_ns)
            );
            if let Some(r) = &b.loss_recovery {
                let _ = write!(
                    detail,
                    " and loss recovery, which {} waits held: median {}, max {}",
                    r.count,
                    human_duration(r.p50_ns),
                    human_duration(r.max_ns)
                );
            }
            detail.push(')');
            if b.split_unknown > 0 {
                let _ = write!(
                    detail,
                    "; {} waits not split (response lost before the capture point)",
                    b.split_unknown
                );
            }
            let _ = writeln!(out, "{detail}");
        }
    }
    out
}

/// The slowest exchanges, one line each plus their breakdown.
pub fn render_slowest(rows: &[SlowExchange], files: u64) -> String {
    let mut out = String::new();
    for s in rows {
        let mut line = format!(
            "   {:>8}  {} v{}",
            human_duration(s.total_ns),
            s.api,
            s.api_version
        );
        if let Some(t) = s.topic.as_deref().filter(|t| *t != "(none)") {
            let _ = write!(line, " {t}");
        }
        let _ = write!(line, "  {} → {}", s.client, s.broker);
        if let Some(e) = &s.error {
            let _ = write!(line, "  {e}");
        }
        let range = |(a, b): (u64, u64)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        };
        let frames = match s.response_frames {
            Some(r) => format!("frames {} → {}", range(s.request_frames), range(r)),
            None => format!("frames {}, no response", range(s.request_frames)),
        };
        let _ = write!(line, "  {frames}");
        if files > 1 {
            let _ = write!(line, " of input {}", s.file + 1);
        }
        let _ = writeln!(out, "{line}");
        let mut parts = vec![format!("write {}", human_duration(s.write_ns))];
        if let Some(w) = s.wait_ns {
            let mut wait = format!("wait {}", human_duration(w));
            if let (Some(n), Some(r), Some(b)) = (s.network_ns, s.loss_recovery_ns, s.broker_ns) {
                let _ = write!(wait, " = network {}", human_duration(n));
                if r > 0 {
                    let _ = write!(wait, " + loss recovery {}", human_duration(r));
                }
                let _ = write!(wait, " + broker {}", human_duration(b));
            } else if s.split_unknown {
                wait.push_str(" (response lost before the capture point: split unknown)");
            }
            parts.push(wait);
        }
        if let Some(r) = s.read_ns {
            parts.push(format!("read {}", human_duration(r)));
        }
        let mut tcp = Vec::new();
        for (n, one, many) in [
            (s.retransmissions, "retransmission", "retransmissions"),
            (
                s.out_of_order,
                "out-of-order segment",
                "out-of-order segments",
            ),
            (s.zero_windows, "zero window", "zero windows"),
            (s.gaps, "gap", "gaps"),
        ] {
            match n {
                0 => {}
                1 => tcp.push(format!("1 {one}")),
                n => tcp.push(format!("{n} {many}")),
            }
        }
        if !tcp.is_empty() {
            parts.push(tcp.join(", "));
        }
        if let Some(t) = s.throttle_ms.filter(|&t| t > 0) {
            parts.push(format!("throttled {t} ms"));
        }
        if long_poll(s.fetch_max_wait_ms, s.wait_ns) {
            let max = s.fetch_max_wait_ms.unwrap_or_default();
            parts.push(format!("long poll (max_wait_ms {max})"));
        }
        let _ = writeln!(out, "             {}", parts.join("; "));
    }
    out
}
