//! Memory caps: the limits on the state a hostile capture (a SYN flood, a scan, a
//! reconnect storm, connections that never finish a frame) can make kapture hold, their
//! defaults and flags, why a connection was evicted, and the counters the summary
//! reports. The reader enforces them ([`crate::stream::reader`]), in capture order and
//! capture time, so the same capture gives the same output on any machine and for any
//! number of threads.
//!
//! - connections tracked at once, and the bytes of their state (estimated from the
//!   sizes of the structures a connection costs: see [`HALF_OPEN_STATE_BYTES`] and
//!   [`LIVE_STATE_BYTES`]);
//! - reassembly bytes: payload held in the connections' byte windows (frames not yet
//!   complete, requests kept until their response comes);
//! - requests waiting for a response, over all connections;
//! - exchanges waiting for a topic name (Fetch v13+/Produce v13 carry only ids).
//!
//! The last three are held by the workers: each reports them at checkpoints placed at
//! fixed packet positions, and the reader acts on the report of the checkpoint before
//! the last one, so what it decides depends on the capture alone.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Why a connection was ended before its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Eviction {
    /// A connection that never carried payload (SYN-only, half-open, a handshake with
    /// nothing said), the oldest first, at the connection caps.
    HalfOpen,
    /// The connection quiet for longest, at the connection caps.
    Idle,
    /// Quiet past a shortened timeout while the connection caps were hit.
    EmergencyTimeout,
    /// Among those holding the most reassembly bytes when that cap was passed.
    ReassemblyBytes,
    /// Among those with the most requests waiting when that cap was passed.
    WaitingRequests,
}

impl Eviction {
    pub fn as_str(self) -> &'static str {
        match self {
            Eviction::HalfOpen => "half-open",
            Eviction::Idle => "idle",
            Eviction::EmergencyTimeout => "emergency-timeout",
            Eviction::ReassemblyBytes => "reassembly-bytes",
            Eviction::WaitingRequests => "waiting-requests",
        }
    }
}

/// One of the caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cap {
    Connections,
    ConnectionBytes,
    ReassemblyBytes,
    WaitingRequests,
    UnnamedSpans,
}

impl Cap {
    /// The flag that sets it.
    pub fn flag(self) -> &'static str {
        match self {
            Cap::Connections => "--max-connections",
            Cap::ConnectionBytes => "--max-connection-bytes",
            Cap::ReassemblyBytes => "--max-reassembly-bytes",
            Cap::WaitingRequests => "--max-waiting-requests",
            Cap::UnnamedSpans => "--max-unnamed-spans",
        }
    }

    /// What it limits, for the warning.
    pub fn what(self) -> &'static str {
        match self {
            Cap::Connections => "connections tracked at once",
            Cap::ConnectionBytes => "bytes of connection state",
            Cap::ReassemblyBytes => "reassembly bytes held",
            Cap::WaitingRequests => "requests waiting for a response",
            Cap::UnnamedSpans => "exchanges waiting for a topic name",
        }
    }
}

/// The caps' values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub max_connections: u64,
    pub max_connection_bytes: u64,
    pub max_reassembly_bytes: u64,
    pub max_waiting_requests: u64,
    pub max_unnamed_spans: u64,
    /// Packets between two checkpoints, and payload bytes that bring one sooner
    /// (no flag: tests shorten them).
    pub checkpoint_packets: u64,
    pub checkpoint_bytes: u64,
}

pub const DEFAULT_MAX_CONNECTIONS: u64 = 200_000;
pub const DEFAULT_MAX_CONNECTION_BYTES: u64 = 160 << 20;
pub const DEFAULT_MAX_REASSEMBLY_BYTES: u64 = 256 << 20;
pub const DEFAULT_MAX_WAITING_REQUESTS: u64 = 100_000;
pub const DEFAULT_MAX_UNNAMED_SPANS: u64 = 100_000;

impl Default for Caps {
    fn default() -> Self {
        Caps {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connection_bytes: DEFAULT_MAX_CONNECTION_BYTES,
            max_reassembly_bytes: DEFAULT_MAX_REASSEMBLY_BYTES,
            max_waiting_requests: DEFAULT_MAX_WAITING_REQUESTS,
            max_unnamed_spans: DEFAULT_MAX_UNNAMED_SPANS,
            checkpoint_packets: 65_536,
            checkpoint_bytes: 64 << 20,
        }
    }
}

/// Estimated state of a connection that never carried payload: the reader's entry
/// and its two eviction-queue entries, the worker's entry and its first segments.
/// Measured: 1,000,000 such connections held 365 MiB before the caps.
pub const HALF_OPEN_STATE_BYTES: u64 = 384;

/// Estimated state of a connection that carried payload, reassembly bytes apart:
/// the Kafka connection state (framers, pairing, TCP windows' bookkeeping, the
/// report) and a waiting request. Measured: 1,000,000 handshaked connections with one
/// unanswered request each held 3.2 GiB before the caps.
pub const LIVE_STATE_BYTES: u64 = 3_328;

/// Capture-time timeouts while a connection cap is hit (Suricata's "emergency mode"):
/// closed connections go at once, the others much sooner than usual.
pub fn emergency_timeouts() -> crate::stream::Timeouts {
    const S: i64 = 1_000_000_000;
    crate::stream::Timeouts {
        idle_ns: 30 * S,
        closed_ns: 0,
        half_open_ns: S,
    }
}

/// What the caps did in a run.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CapCounts {
    /// Connections evicted, by reason.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub evicted: BTreeMap<Eviction, u64>,
    /// Requests still waiting for a response when their connection was evicted (each
    /// became a span with `kapture.response.state` = `evicted`).
    #[serde(skip_serializing_if = "is_zero")]
    pub unanswered_by_eviction: u64,
    /// Payload bytes an evicted connection held that were never framed.
    #[serde(skip_serializing_if = "is_zero")]
    pub bytes_dropped: u64,
    /// Exchanges written without waiting longer for a topic name, at that cap.
    #[serde(skip_serializing_if = "is_zero")]
    pub released_unnamed: u64,
    /// Times the emergency timeouts were put in force.
    #[serde(skip_serializing_if = "is_zero")]
    pub emergencies: u64,
    /// The caps that were hit, and how many times each.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub hit: BTreeMap<Cap, u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl CapCounts {
    pub fn is_empty(&self) -> bool {
        *self == CapCounts::default()
    }

    pub fn evicted_total(&self) -> u64 {
        self.evicted.values().sum()
    }

    pub fn count_eviction(&mut self, why: Eviction) {
        *self.evicted.entry(why).or_default() += 1;
    }

    pub fn count_hit(&mut self, cap: Cap) {
        *self.hit.entry(cap).or_default() += 1;
    }

    pub fn add(&mut self, other: &CapCounts) {
        for (why, n) in &other.evicted {
            *self.evicted.entry(*why).or_default() += n;
        }
        for (cap, n) in &other.hit {
            *self.hit.entry(*cap).or_default() += n;
        }
        self.unanswered_by_eviction += other.unanswered_by_eviction;
        self.bytes_dropped += other.bytes_dropped;
        self.released_unnamed += other.released_unnamed;
        self.emergencies += other.emergencies;
    }

    /// One line per cap hit: what it limits, the flag that raises it.
    pub fn warnings(&self, caps: &Caps) -> Vec<String> {
        self.hit
            .keys()
            .map(|cap| {
                let limit = match cap {
                    Cap::Connections => caps.max_connections,
                    Cap::ConnectionBytes => caps.max_connection_bytes,
                    Cap::ReassemblyBytes => caps.max_reassembly_bytes,
                    Cap::WaitingRequests => caps.max_waiting_requests,
                    Cap::UnnamedSpans => caps.max_unnamed_spans,
                };
                format!(
                    "memory cap hit: {} reached {limit} ({} raises it)",
                    cap.what(),
                    cap.flag()
                )
            })
            .collect()
    }

    /// The text summary's line, when a cap did anything.
    pub fn text(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let by_reason: Vec<String> = self
            .evicted
            .iter()
            .map(|(why, n)| format!("{n} {}", why.as_str()))
            .collect();
        let by_reason = if by_reason.is_empty() {
            "none".to_string()
        } else {
            by_reason.join(", ")
        };
        Some(format!(
            "memory caps: {} connections evicted ({by_reason}); {} requests left unanswered by eviction; {} bytes dropped; {} exchanges written before their topic name came; {} emergencies",
            self.evicted_total(),
            self.unanswered_by_eviction,
            self.bytes_dropped,
            self.released_unnamed,
            self.emergencies
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_name_the_cap_and_its_flag() {
        let mut c = CapCounts::default();
        assert!(c.warnings(&Caps::default()).is_empty());
        c.count_hit(Cap::Connections);
        c.count_hit(Cap::Connections);
        c.count_hit(Cap::UnnamedSpans);
        let w = c.warnings(&Caps::default());
        assert_eq!(w.len(), 2);
        assert!(w[0].contains("--max-connections") && w[0].contains("200000"));
        assert!(w[1].contains("--max-unnamed-spans"));
    }

    #[test]
    fn counts_add_up() {
        let mut a = CapCounts::default();
        a.count_eviction(Eviction::Idle);
        a.unanswered_by_eviction = 2;
        let mut b = CapCounts::default();
        b.count_eviction(Eviction::Idle);
        b.count_eviction(Eviction::HalfOpen);
        b.bytes_dropped = 7;
        a.add(&b);
        assert_eq!(a.evicted_total(), 3);
        assert_eq!(a.evicted[&Eviction::Idle], 2);
        assert_eq!(a.bytes_dropped, 7);
        let text = a.text().expect("something happened");
        assert!(
            text.contains("3 connections evicted (1 half-open, 2 idle)"),
            "{text}"
        );
        assert!(CapCounts::default().text().is_none());
    }
}
