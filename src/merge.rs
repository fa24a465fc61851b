//! `kapture summary-merge`: JSON summaries (`--summary json`) of separate runs — the
//! tasks of one job over an archive, the hosts of a fleet — added up into one
//! [`Summary`], which then prints as a run's would (text) or as the same JSON, itself
//! mergeable again. It owns reading a summary back ([`read`]) and adding summaries
//! ([`add`]); rows merge through the histograms they carry ([`crate::sketch`]).
//!
//! Counts add up exactly. Latency, broker and profile rows of the same key merge their
//! histograms, so their percentiles are the histogram's (within 1 %), count, maximum,
//! minimum and sum exact. The slowest exchanges are the slowest of all the lists (as
//! many as the longest list). Warnings are listed one after another, topic ids and
//! decode errors joined.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::diagnosis::Diagnosis;
use crate::kafka::api;
use crate::kafka::facts::ClientSoftware;
use crate::profile::Gathered;
use crate::stats::LatencyStats;
use crate::summary::{SUMMARY_VERSION, Summary, SummaryJson};

/// Reads one JSON summary; every error names the file.
pub fn read(path: &Path) -> Result<Summary, String> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: cannot read: {e}"))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{name}: not a JSON summary (--summary json): {e}"))?;
    match value
        .get("summary_version")
        .and_then(serde_json::Value::as_u64)
    {
        Some(v) if v == u64::from(SUMMARY_VERSION) => {}
        Some(v) => {
            return Err(format!(
                "{name}: summary version {v}, this kapture reads version {SUMMARY_VERSION}"
            ));
        }
        None if value.get("resourceSpans").is_some() => {
            return Err(format!(
                "{name}: a spans file, not a JSON summary (--summary json)"
            ));
        }
        None => {
            return Err(format!(
                "{name}: no summary_version: not a JSON summary of this kapture (--summary json), or one written before summaries could be merged"
            ));
        }
    }
    let json: SummaryJson = serde_json::from_value(value)
        .map_err(|e| format!("{name}: not a JSON summary of this kapture: {e}"))?;
    from_json(&json).map_err(|e| format!("{name}: {e}"))
}

/// The summary a JSON summary describes: its counters, and its rows read back from
/// their histograms.
pub fn from_json(j: &SummaryJson) -> Result<Summary, String> {
    let mut s = Summary {
        files: j.files,
        capture_bytes: j.capture_bytes,
        packets: j.packets,
        tcp_packets: j.tcp_packets,
        tcp_connections: j.connections.tcp,
        kafka_connections: j.connections.kafka,
        tls_connections: j.connections.tls,
        sasl_connections: j.connections.sasl,
        unknown_connections: j.connections.unknown,
        empty_connections: j.connections.empty,
        other_connections: j.connections.other,
        emitted: j.exchanges.emitted,
        filtered_out: j.exchanges.filtered_out,
        error_responses: j.exchanges.kafka_errors,
        spans: j.spans,
        // --no-spans is the one way to pass exchanges and build no span.
        no_spans: j.spans == 0 && j.exchanges.emitted > 0,
        record_links: j.record_links,
        capture_warnings: j.warnings.clone(),
        nothing_passed: j.nothing_passed.clone(),
        interrupted: j.interrupted,
        ..Summary::default()
    };
    s.exchanges.total = j.exchanges.found;
    s.exchanges.paired = j.exchanges.paired;
    s.exchanges.not_expected = j.exchanges.not_expected;
    s.exchanges.not_captured = j.exchanges.not_captured;
    s.exchanges.evicted = j.exchanges.evicted;
    s.caps = j.memory_caps.clone();
    for lib in &j.client_libraries {
        let sw = ClientSoftware {
            name: Arc::from(lib.name.as_str()),
            version: Arc::from(lib.version.as_str()),
        };
        *s.client_libraries.entry(sw).or_default() += lib.connections;
    }
    let k = &j.skipped;
    // The JSON adds requests and responses up; the text does too.
    s.kafka.unpaired_responses = k.unpaired_responses;
    s.kafka.requests.skipped_bytes = k.resync_skipped_bytes;
    s.kafka.requests.incomplete_frames = k.incomplete_frames;
    s.kafka.requests.cut_at_end = k.frames_cut_at_end;
    s.gaps = k.gaps;
    s.gap_bytes = k.gap_bytes;
    s.bytes_before_start = k.bytes_before_start;
    s.truncated_packets = k.truncated_packets;
    s.retransmitted_segments = k.retransmitted_segments;
    s.out_of_order_segments = k.out_of_order_segments;
    s.malformed_packets = k.malformed_packets;
    s.ip_fragments = k.ip_fragments;
    s.not_ip = k.non_ip_packets;
    s.not_tcp = k.non_tcp_packets;
    s.unsupported_link = k.unsupported_link_packets;
    for (name, n) in &k.decode_errors {
        let key =
            api::parse_key(name).ok_or_else(|| format!("decode_errors: unknown API '{name}'"))?;
        *s.decode_errors.entry(key).or_default() += n;
    }
    s.bodies_cut = k.bodies_cut;
    s.unresolved_topic_ids = k.unresolved_topic_ids.iter().cloned().collect();
    s.written_unnamed = k.written_unnamed;
    s.record_links_dropped = k.record_links_dropped;
    s.decompression_capped = k.decompression_capped;
    s.latency = LatencyStats::from_rows(&j.latency)?;
    s.diagnosis = Diagnosis::from_rows(&j.brokers, &j.slowest, j.slowest.len())?;
    s.profile = j.profile.as_ref().map(Gathered::from_profile).transpose()?;
    Ok(s)
}

fn add_map<K: Ord>(to: &mut BTreeMap<K, u64>, from: BTreeMap<K, u64>) {
    for (k, n) in from {
        *to.entry(k).or_default() += n;
    }
}

/// Adds `other` into `into`: every counter the JSON summary has, and its rows.
pub fn add(into: &mut Summary, other: Summary) {
    let s = into;
    s.files += other.files;
    s.capture_bytes += other.capture_bytes;
    s.add_packet_counts(&other);
    s.tcp_connections += other.tcp_connections;
    s.add_verdict_counts(&other);
    s.emitted += other.emitted;
    s.filtered_out += other.filtered_out;
    s.error_responses += other.error_responses;
    s.spans += other.spans;
    s.no_spans = s.spans == 0 && s.emitted > 0;
    s.record_links += other.record_links;
    // The same warning from two tasks (a cap hit in both) is said once.
    for w in other.capture_warnings {
        if !s.capture_warnings.contains(&w) {
            s.capture_warnings.push(w);
        }
    }
    for line in other.nothing_passed {
        if !s.nothing_passed.contains(&line) {
            s.nothing_passed.push(line);
        }
    }
    s.interrupted |= other.interrupted;
    s.exchanges.total += other.exchanges.total;
    s.exchanges.paired += other.exchanges.paired;
    s.exchanges.not_expected += other.exchanges.not_expected;
    s.exchanges.not_captured += other.exchanges.not_captured;
    s.exchanges.evicted += other.exchanges.evicted;
    s.caps.add(&other.caps);
    add_map(&mut s.client_libraries, other.client_libraries);
    let (k, o) = (&mut s.kafka, &other.kafka);
    k.unpaired_responses += o.unpaired_responses;
    for (to, from) in [
        (&mut k.requests, &o.requests),
        (&mut k.responses, &o.responses),
    ] {
        to.skipped_bytes += from.skipped_bytes;
        to.incomplete_frames += from.incomplete_frames;
        to.cut_at_end += from.cut_at_end;
    }
    s.gaps += other.gaps;
    s.gap_bytes += other.gap_bytes;
    s.bytes_before_start += other.bytes_before_start;
    s.retransmitted_segments += other.retransmitted_segments;
    s.out_of_order_segments += other.out_of_order_segments;
    add_map(&mut s.decode_errors, other.decode_errors);
    s.bodies_cut += other.bodies_cut;
    s.unresolved_topic_ids.extend(other.unresolved_topic_ids);
    s.written_unnamed += other.written_unnamed;
    s.record_links_dropped += other.record_links_dropped;
    s.decompression_capped += other.decompression_capped;
    s.latency.merge(other.latency);
    s.diagnosis.merge(other.diagnosis);
    match (&mut s.profile, other.profile) {
        (Some(p), Some(o)) => p.merge(o),
        (p, o) => *p = p.take().or(o),
    }
}

/// Reads and adds up `paths`, in order.
pub fn merge_files(paths: &[impl AsRef<Path>]) -> Result<Summary, String> {
    let mut merged: Option<Summary> = None;
    for path in paths {
        let s = read(path.as_ref())?;
        match &mut merged {
            Some(m) => add(m, s),
            None => merged = Some(s),
        }
    }
    merged.ok_or_else(|| "no summary to merge".to_string())
}
