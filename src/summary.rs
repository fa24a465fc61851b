//! Counts what a run saw, emitted and skipped, and renders the report printed at the
//! end (text on stderr by default, or JSON), so nothing kapture passes over goes
//! unmentioned; the latency table of [`crate::stats`] closes it.

use std::fmt::{self, Write as _};

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::kafka::api;
use crate::kafka::exchange::{Exchange, ExchangeCounts, KafkaStats};
use crate::kafka::facts::ClientSoftware;
use crate::kafka::{ConnectionReport, Unrecognised, Verdict};
use crate::knowledge::Knowledge;
use crate::net::NetSkip;
use crate::stats::{self, LatencyRow, LatencyStats};

/// Everything counted over one run (all input files).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub files: u64,
    pub packets: u64,
    pub capture_bytes: u64,
    /// Warnings from the capture readers (file ended early, bad block, ...).
    pub capture_warnings: Vec<String>,
    /// Packets whose captured length is below their length on the wire.
    pub truncated_packets: u64,
    pub tcp_packets: u64,
    pub not_ip: u64,
    pub not_tcp: u64,
    pub ip_fragments: u64,
    pub unsupported_link: u64,
    pub malformed_packets: u64,
    pub tcp_connections: u64,
    pub kafka_connections: u64,
    /// Connections on a Kafka port holding something else, by guess.
    pub tls_connections: u64,
    /// Connections on a Kafka port carrying raw SASL/GSSAPI tokens.
    pub sasl_connections: u64,
    /// Kafka connections whose client sent raw SASL tokens after SaslHandshake v0.
    pub raw_sasl_token_connections: u64,
    pub unknown_connections: u64,
    /// Connections on a Kafka port with no payload at all.
    pub empty_connections: u64,
    /// Connections on other ports that held no Kafka.
    pub other_connections: u64,
    pub exchanges: ExchangeCounts,
    /// Exchanges that passed the filters (each became a span unless `no_spans`).
    pub emitted: u64,
    /// Exchanges the filters (`--api` included) left out.
    pub filtered_out: u64,
    /// Spans built: one per emitted exchange, plus its phase spans with
    /// `--phase-spans`; 0 with `--no-spans`.
    pub spans: u64,
    /// The run built no spans (`--no-spans`).
    pub no_spans: bool,
    pub gaps: u64,
    pub gap_bytes: u64,
    pub retransmitted_segments: u64,
    pub out_of_order_segments: u64,
    pub bytes_before_start: u64,
    pub kafka: KafkaStats,
    /// Bodies that did not decode, by API key.
    pub decode_errors: BTreeMap<i16, u64>,
    /// Bodies not decoded in full because bytes were missing.
    pub bodies_cut: u64,
    /// Exchanges whose response carried a Kafka error.
    pub error_responses: u64,
    /// Topic ids no Metadata response or topic map named.
    pub unresolved_topic_ids: BTreeSet<String>,
    /// Exchanges written with a topic id that was not named in time (the wait for a
    /// name ran out, or the input ended first).
    pub written_unnamed: u64,
    /// Kafka connections by the client library they announced (ApiVersions v3+).
    pub client_libraries: BTreeMap<ClientSoftware, u64>,
    /// Trace-context links kept, and left out by the per-span cap.
    pub record_links: u64,
    pub record_links_dropped: u64,
    /// Record batches whose decompression stopped at a cap.
    pub decompression_capped: u64,
    /// Bytes decompressed so far in the run: what `--max-decompressed-bytes` is
    /// spent on, capture after capture.
    pub decompressed_bytes: u64,
    /// A signal stopped the run before the end of its input.
    pub interrupted: bool,
    /// A signal ended a live input (a pipe): what came before it was analysed. Not a
    /// loss: it is how a live capture ends.
    pub input_ended_by_signal: bool,
    /// Latencies of the exchanges that passed the filters.
    pub latency: LatencyStats,
    /// Per broker and the slowest exchanges, of those that passed the filters.
    pub diagnosis: crate::diagnosis::Diagnosis,
    /// What the capture holds, for a hint when the filters let nothing through.
    pub inventory: crate::inventory::Inventory,
    /// That hint, for the JSON summary: one line per filter given.
    pub nothing_passed: Vec<String>,
    /// The text form prints every row and phase of the latency table
    /// (`--summary full`), not the compact one.
    pub full: bool,
    /// The exchanges that passed the filters, for the JSON summary's `profile`
    /// (gathered only when that summary is asked for).
    pub profile: Option<crate::profile::Gathered>,
    /// What the memory caps did.
    pub caps: crate::caps::CapCounts,
    /// The caps in force, for the warnings naming them (`None` for a summary read
    /// back from JSON, whose warnings already say them).
    pub cap_limits: Option<crate::caps::Caps>,
}

impl Summary {
    /// Adds the packet counters of a part of a capture read on its own.
    pub fn add_packet_counts(&mut self, part: &Summary) {
        self.packets += part.packets;
        self.truncated_packets += part.truncated_packets;
        self.tcp_packets += part.tcp_packets;
        self.not_ip += part.not_ip;
        self.not_tcp += part.not_tcp;
        self.ip_fragments += part.ip_fragments;
        self.unsupported_link += part.unsupported_link;
        self.malformed_packets += part.malformed_packets;
    }

    /// Counts one packet the network layer could not use.
    pub fn count_skip(&mut self, skip: NetSkip) {
        match skip {
            NetSkip::UnsupportedLink(_) => self.unsupported_link += 1,
            NetSkip::NotIp => self.not_ip += 1,
            NetSkip::NotTcp => self.not_tcp += 1,
            NetSkip::IpFragment => self.ip_fragments += 1,
            _ => self.malformed_packets += 1,
        }
    }

    /// Adds one analysed connection.
    /// Counts one connection by what it turned out to be.
    /// Adds the connection counts by verdict of `other`.
    pub fn add_verdict_counts(&mut self, other: &Summary) {
        self.kafka_connections += other.kafka_connections;
        self.other_connections += other.other_connections;
        self.empty_connections += other.empty_connections;
        self.tls_connections += other.tls_connections;
        self.sasl_connections += other.sasl_connections;
        self.unknown_connections += other.unknown_connections;
    }

    pub fn count_verdict(&mut self, verdict: Verdict) {
        match verdict {
            Verdict::Kafka => self.kafka_connections += 1,
            Verdict::OtherTraffic => self.other_connections += 1,
            Verdict::NoPayload => self.empty_connections += 1,
            Verdict::NotKafka(Unrecognised::Tls) => self.tls_connections += 1,
            Verdict::NotKafka(Unrecognised::SaslGssapi) => self.sasl_connections += 1,
            Verdict::NotKafka(Unrecognised::Unknown) => self.unknown_connections += 1,
        }
    }

    /// Adds one analysed connection.
    /// Counts an ended connection: its verdict and, for Kafka, its TCP and framing
    /// counters and broker. Its exchanges are counted one by one ([`Summary::add_exchange`]).
    pub fn add_connection(&mut self, report: &ConnectionReport, _knowledge: &Knowledge) {
        self.count_verdict(report.verdict);
        if report.verdict != Verdict::Kafka {
            return;
        }
        self.gaps += report.gaps;
        self.gap_bytes += report.gap_bytes;
        self.raw_sasl_token_connections += u64::from(report.raw_sasl_tokens);
        if let Some(sw) = &report.client_software {
            *self.client_libraries.entry(sw.clone()).or_default() += 1;
        }
        for s in &report.tcp {
            self.retransmitted_segments += s.retransmitted_segments;
            self.out_of_order_segments += s.out_of_order_segments;
            self.bytes_before_start += s.bytes_before_start;
        }
        self.kafka.add(&report.kafka);
        self.inventory.add_broker(report);
    }

    /// Counts one exchange of a Kafka connection (those of other connections are
    /// never handed on).
    pub fn add_exchange(
        &mut self,
        report: &ConnectionReport,
        ex: &Exchange,
        knowledge: &Knowledge,
    ) {
        self.exchanges.add(ex);
        if ex.state == crate::kafka::exchange::ResponseState::Evicted {
            self.caps.unanswered_by_eviction += 1;
        }
        self.inventory.add_exchange(ex, knowledge);
        let _ = report;
        let f = &ex.facts;
        let errors = u64::from(f.request_error.is_some()) + u64::from(f.response_error.is_some());
        if errors > 0 {
            *self.decode_errors.entry(ex.request.api_key).or_default() += errors;
        }
        self.bodies_cut += u64::from(f.request_cut) + u64::from(f.response_cut);
        self.error_responses += u64::from(f.first_error().is_some());
        self.record_links += f.links.len() as u64;
        self.record_links_dropped += u64::from(f.links_dropped);
        self.decompression_capped += u64::from(f.decompression_capped);
    }

    /// One warning per memory cap hit, naming it and its flag.
    fn cap_warnings(&self) -> Vec<String> {
        self.cap_limits
            .map(|limits| self.caps.warnings(&limits))
            .unwrap_or_default()
    }

    /// Whether anything was lost or skipped: a reason for the "warnings" exit status.
    pub fn has_losses(&self) -> bool {
        !self.capture_warnings.is_empty()
            || self.truncated_packets > 0
            || self.malformed_packets > 0
            || self.gaps > 0
            || self.tls_connections > 0
            || self.sasl_connections > 0
            || self.kafka.in_flight_evicted > 0
            || self.unknown_connections > 0
            || self.kafka.requests.skipped_bytes > 0
            || self.kafka.responses.skipped_bytes > 0
            || self.kafka.unpaired_responses > 0
            || !self.decode_errors.is_empty()
            || self.decompression_capped > 0
            || !self.caps.is_empty()
            || self.interrupted
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "kapture: {} packets in {} file(s) ({} TCP); {} TCP connections, {} Kafka",
            self.packets,
            self.files,
            self.tcp_packets,
            self.tcp_connections,
            self.kafka_connections
        );
        let e = &self.exchanges;
        let emitted = if self.no_spans {
            format!("{} passed the filters (no spans written)", self.emitted)
        } else if self.spans != self.emitted {
            format!(
                "{} emitted as spans ({} spans with the phase spans)",
                self.emitted, self.spans
            )
        } else {
            format!("{} emitted as spans", self.emitted)
        };
        let _ = writeln!(
            out,
            "  exchanges: {} found, {emitted}, {} filtered out; {} paired, {} without response (acks=0), {} unanswered in capture{}",
            e.total,
            self.filtered_out,
            e.paired,
            e.not_expected,
            e.not_captured,
            if e.evicted > 0 {
                format!(
                    ", {} unanswered when a memory cap evicted their connection",
                    e.evicted
                )
            } else {
                String::new()
            }
        );
        if !self.client_libraries.is_empty() {
            let libraries: Vec<String> = self
                .client_libraries
                .iter()
                .map(|(sw, n)| format!("{} {} ({n})", sw.name, sw.version))
                .collect();
            let _ = writeln!(
                out,
                "  client libraries (ApiVersions v3+; connections): {}",
                libraries.join(", ")
            );
        }
        if self.error_responses > 0 || self.record_links > 0 {
            let _ = writeln!(
                out,
                "  {} exchanges answered with a Kafka error; {} trace-context links from record headers",
                self.error_responses, self.record_links
            );
        }
        let k = &self.kafka;
        let mut skipped = Vec::new();
        let mut note = |n: u64, what: &str| {
            if n > 0 {
                skipped.push(format!("{n} {what}"));
            }
        };
        note(k.unpaired_responses, "unpaired responses");
        note(self.gaps, "gaps in TCP streams");
        note(self.gap_bytes, "bytes lost in gaps");
        note(
            k.requests.skipped_bytes + k.responses.skipped_bytes,
            "bytes skipped while resynchronising Kafka framing",
        );
        note(
            k.requests.incomplete_frames + k.responses.incomplete_frames,
            "frames with missing bytes",
        );
        note(
            k.requests.cut_at_end + k.responses.cut_at_end,
            "frames cut off by the end of the capture",
        );
        note(
            self.bytes_before_start,
            "bytes from before the capture began (mid-connection start)",
        );
        note(self.truncated_packets, "packets cut by the snapshot length");
        note(self.retransmitted_segments, "retransmitted segments");
        note(self.out_of_order_segments, "out-of-order segments");
        note(self.malformed_packets, "malformed packets");
        note(self.ip_fragments, "IP fragments (not reassembled)");
        note(self.not_ip + self.not_tcp, "non-TCP packets");
        note(self.unsupported_link, "packets on unsupported link types");
        note(
            self.tls_connections,
            "connections on a Kafka port carrying TLS (capture before encryption or use plaintext listeners)",
        );
        note(
            self.sasl_connections,
            "connections on a Kafka port carrying raw SASL/GSSAPI tokens",
        );
        note(
            self.raw_sasl_token_connections,
            "Kafka connections with raw SASL tokens after SaslHandshake v0 (skipped)",
        );
        note(
            self.unknown_connections,
            "connections on a Kafka port carrying no recognisable Kafka",
        );
        note(
            self.other_connections,
            "connections on other ports (not --port, or no Kafka found in them)",
        );
        note(
            self.kafka.in_flight_evicted,
            "requests given up as unanswered because over --max-in-flight were waiting",
        );
        for (key, n) in &self.decode_errors {
            note(
                *n,
                &format!(
                    "{} bodies that did not decode",
                    api::name(*key).unwrap_or("?")
                ),
            );
        }
        note(
            self.bodies_cut,
            "bodies not decoded in full (bytes not captured)",
        );
        note(
            self.unresolved_topic_ids.len() as u64,
            "topic ids no Metadata response or --topic-map named",
        );
        note(
            self.written_unnamed,
            "exchanges written with topic ids unnamed (no name within the wait)",
        );
        note(
            self.record_links_dropped,
            "trace-context links over the per-span cap",
        );
        note(
            self.decompression_capped,
            "record batches whose decompression hit a cap",
        );
        if !skipped.is_empty() {
            let _ = writeln!(out, "  skipped or seen: {}", skipped.join(", "));
        }
        if self.interrupted {
            let _ = writeln!(
                out,
                "  interrupted by a signal: the run stopped before the end of its input"
            );
        } else if self.input_ended_by_signal {
            let _ = writeln!(out, "  input from a pipe ended by a signal");
        }
        if let Some(line) = self.caps.text() {
            let _ = writeln!(out, "  {line}");
        }
        for w in &self.capture_warnings {
            let _ = writeln!(out, "  warning: {w}");
        }
        for w in self.cap_warnings() {
            let _ = writeln!(out, "  warning: {w}");
        }
        if !self.latency.is_empty() {
            let _ = writeln!(
                out,
                "  latency of the {} exchanges that passed the filters (nearest-rank percentiles):",
                self.emitted
            );
            let table = self.latency.table();
            if self.full {
                out.push_str(&stats::render_text(&table));
            } else {
                out.push_str(&stats::render_compact(&table));
            }
            let brokers = self.diagnosis.brokers();
            if !brokers.is_empty() {
                let _ = writeln!(
                    out,
                    "  brokers (round trips from the TCP handshakes; broker time = wait less round trip and loss recovery, long-poll Fetches and JoinGroup/SyncGroup left out):"
                );
                out.push_str(&crate::diagnosis::render_brokers(&brokers));
            }
            let slowest = self.diagnosis.slowest();
            if !slowest.is_empty() {
                let _ = writeln!(
                    out,
                    "  the {} slowest (--top N; frame numbers as in Wireshark, frame.number == N):",
                    slowest.len()
                );
                out.push_str(&crate::diagnosis::render_slowest(&slowest, self.files));
            }
        }
        f.write_str(out.trim_end())
    }
}

/// The version of the JSON summary's layout; 1: the first with histograms, which
/// `kapture summary-merge` merges.
pub const SUMMARY_VERSION: u32 = 1;

/// The summary as JSON (`--summary json`): every counter of [`Summary`], zeros
/// included, and the latency table with integer nanoseconds. Keys come in the order
/// of the fields below.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryJson {
    /// The layout of this JSON: [`SUMMARY_VERSION`]. `kapture summary-merge` reads
    /// only its own.
    pub summary_version: u32,
    pub files: u64,
    pub capture_bytes: u64,
    pub packets: u64,
    pub tcp_packets: u64,
    pub connections: ConnectionsJson,
    pub exchanges: ExchangesJson,
    /// Spans built (phase spans included); 0 with `--no-spans`.
    pub spans: u64,
    pub record_links: u64,
    /// The client libraries the Kafka connections announced (ApiVersions v3+), by
    /// name then version.
    pub client_libraries: Vec<ClientLibraryJson>,
    pub skipped: SkippedJson,
    /// What the memory caps did (absent when they did nothing).
    #[serde(default, skip_serializing_if = "crate::caps::CapCounts::is_empty")]
    pub memory_caps: crate::caps::CapCounts,
    pub warnings: Vec<String>,
    pub latency: Vec<LatencyRow>,
    /// Per broker: round trip, capture point, loss, broker time.
    pub brokers: Vec<crate::diagnosis::BrokerRow>,
    /// The slowest exchanges (`--top`), slowest first.
    pub slowest: Vec<crate::diagnosis::SlowExchange>,
    /// Only when the filters let no exchange through: what the capture has, for each
    /// filter given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nothing_passed: Vec<String>,
    /// The conversation profile (`kapture check` and `kapture diff` read it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<crate::profile::Profile>,
    /// Present (and true) only when a signal stopped the run early.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientLibraryJson {
    pub name: String,
    pub version: String,
    /// Kafka connections that announced it.
    pub connections: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionsJson {
    pub tcp: u64,
    pub kafka: u64,
    /// On a Kafka port: TLS, something unrecognised, no payload at all.
    pub tls: u64,
    pub sasl: u64,
    pub unknown: u64,
    pub empty: u64,
    /// On other ports, without Kafka.
    pub other: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangesJson {
    pub found: u64,
    /// Passed the filters (spans unless `--no-spans`).
    pub emitted: u64,
    pub filtered_out: u64,
    pub paired: u64,
    pub not_expected: u64,
    pub not_captured: u64,
    /// Left unanswered because a memory cap evicted their connection.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub evicted: u64,
    /// Answered with a Kafka error (all exchanges found, filtered or not).
    pub kafka_errors: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedJson {
    pub unpaired_responses: u64,
    pub gaps: u64,
    pub gap_bytes: u64,
    pub resync_skipped_bytes: u64,
    pub incomplete_frames: u64,
    pub frames_cut_at_end: u64,
    pub bytes_before_start: u64,
    pub truncated_packets: u64,
    pub retransmitted_segments: u64,
    pub out_of_order_segments: u64,
    pub malformed_packets: u64,
    pub ip_fragments: u64,
    pub non_ip_packets: u64,
    pub non_tcp_packets: u64,
    pub unsupported_link_packets: u64,
    /// Bodies that did not decode, by API name.
    pub decode_errors: BTreeMap<String, u64>,
    pub bodies_cut: u64,
    pub unresolved_topic_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub written_unnamed: u64,
    pub record_links_dropped: u64,
    pub decompression_capped: u64,
}

impl Summary {
    /// The JSON form of the summary.
    pub fn to_json(&self) -> SummaryJson {
        let k = &self.kafka;
        let e = &self.exchanges;
        SummaryJson {
            summary_version: SUMMARY_VERSION,
            files: self.files,
            capture_bytes: self.capture_bytes,
            packets: self.packets,
            tcp_packets: self.tcp_packets,
            connections: ConnectionsJson {
                tcp: self.tcp_connections,
                kafka: self.kafka_connections,
                tls: self.tls_connections,
                sasl: self.sasl_connections,
                unknown: self.unknown_connections,
                empty: self.empty_connections,
                other: self.other_connections,
            },
            exchanges: ExchangesJson {
                found: e.total,
                emitted: self.emitted,
                filtered_out: self.filtered_out,
                paired: e.paired,
                not_expected: e.not_expected,
                not_captured: e.not_captured,
                evicted: e.evicted,
                kafka_errors: self.error_responses,
            },
            spans: self.spans,
            record_links: self.record_links,
            client_libraries: self
                .client_libraries
                .iter()
                .map(|(sw, n)| ClientLibraryJson {
                    name: sw.name.to_string(),
                    version: sw.version.to_string(),
                    connections: *n,
                })
                .collect(),
            skipped: SkippedJson {
                unpaired_responses: k.unpaired_responses,
                gaps: self.gaps,
                gap_bytes: self.gap_bytes,
                resync_skipped_bytes: k.requests.skipped_bytes + k.responses.skipped_bytes,
                incomplete_frames: k.requests.incomplete_frames + k.responses.incomplete_frames,
                frames_cut_at_end: k.requests.cut_at_end + k.responses.cut_at_end,
                bytes_before_start: self.bytes_before_start,
                truncated_packets: self.truncated_packets,
                retransmitted_segments: self.retransmitted_segments,
                out_of_order_segments: self.out_of_order_segments,
                malformed_packets: self.malformed_packets,
                ip_fragments: self.ip_fragments,
                non_ip_packets: self.not_ip,
                non_tcp_packets: self.not_tcp,
                unsupported_link_packets: self.unsupported_link,
                decode_errors: self
                    .decode_errors
                    .iter()
                    .map(|(key, n)| (api::name(*key).unwrap_or("Unknown").to_string(), *n))
                    .collect(),
                bodies_cut: self.bodies_cut,
                unresolved_topic_ids: self.unresolved_topic_ids.iter().cloned().collect(),
                written_unnamed: self.written_unnamed,
                record_links_dropped: self.record_links_dropped,
                decompression_capped: self.decompression_capped,
            },
            memory_caps: self.caps.clone(),
            warnings: self
                .capture_warnings
                .iter()
                .cloned()
                .chain(self.cap_warnings())
                .collect(),
            latency: self.latency.table(),
            brokers: self.diagnosis.brokers(),
            slowest: self.diagnosis.slowest(),
            nothing_passed: self.nothing_passed.clone(),
            profile: self.profile.as_ref().map(crate::profile::Gathered::profile),
            interrupted: self.interrupted,
        }
    }

    /// The JSON summary, pretty-printed, with a final newline.
    pub fn json_text(&self) -> String {
        let mut text =
            serde_json::to_string_pretty(&self.to_json()).expect("plain structs serialise");
        text.push('\n');
        text
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
