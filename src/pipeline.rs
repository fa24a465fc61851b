//! Runs the whole pipeline over one capture held in memory: one sequential pass groups
//! packets into TCP connections, then connections are analysed in parallel (each on
//! one rayon worker) and their spans serialised there. Hands on the serialised spans
//! in a deterministic order (connection first seen, then request order) and counts
//! everything into a [`Summary`].

use rayon::prelude::*;

use crate::capture::{self, CaptureError};
use crate::kafka::{self, ConnectionReport, KafkaConfig, api};
use crate::net;
use crate::otlp;
use crate::span::{self, Origin, SpanConfig};
use crate::summary::Summary;
use crate::tcp::{Connection, ConnectionTable};

/// The set of API keys whose exchanges become spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSet {
    keys: [bool; api::MAX_KEY as usize + 1],
}

impl ApiSet {
    pub fn all() -> Self {
        ApiSet {
            keys: [true; api::MAX_KEY as usize + 1],
        }
    }

    pub fn only(keys: &[i16]) -> Self {
        let mut set = ApiSet {
            keys: [false; api::MAX_KEY as usize + 1],
        };
        for &k in keys {
            if let Some(slot) = usize::try_from(k).ok().and_then(|i| set.keys.get_mut(i)) {
                *slot = true;
            }
        }
        set
    }

    pub fn contains(&self, key: i16) -> bool {
        usize::try_from(key)
            .ok()
            .and_then(|i| self.keys.get(i))
            .copied()
            .unwrap_or(false)
    }
}

impl Default for ApiSet {
    fn default() -> Self {
        ApiSet::only(&[api::PRODUCE, api::FETCH])
    }
}

/// Everything the pipeline needs to know, resolved from the command line.
#[derive(Debug, Clone, Default)]
pub struct PipelineConfig {
    pub kafka: KafkaConfig,
    pub apis: ApiSet,
    pub span: SpanConfig,
}

/// Spans of one connection, serialised, in request order.
pub struct ConnectionSpans {
    pub spans: Vec<Vec<u8>>,
}

/// Reads one capture and returns its spans in output order. Packet-level problems
/// are counted in `summary`; only an unreadable file is an error.
pub fn process_capture(
    bytes: &[u8],
    file_index: u32,
    config: &PipelineConfig,
    summary: &mut Summary,
) -> Result<Vec<ConnectionSpans>, CaptureError> {
    let conns = read_connections(bytes, summary)?;
    let results = analyse_connections(&conns, file_index, config);
    summary.other_connections += conns.len() as u64 - results.len() as u64;

    let mut out = Vec::with_capacity(results.len());
    for (report, spans, filtered) in results {
        summary.add_connection(&report);
        summary.filtered_out += filtered;
        summary.emitted += spans.spans.len() as u64;
        out.push(spans);
    }
    Ok(out)
}

/// The sequential pass: reads every packet and groups TCP segments by connection.
pub fn read_connections<'a>(
    bytes: &'a [u8],
    summary: &mut Summary,
) -> Result<Vec<Connection<'a>>, CaptureError> {
    let mut table = ConnectionTable::new();
    let report = capture::for_each_packet(bytes, |packet| {
        summary.packets += 1;
        if (packet.data.len() as u64) < u64::from(packet.orig_len) {
            summary.truncated_packets += 1;
        }
        match net::decode_segment(&packet) {
            Ok(seg) => {
                summary.tcp_packets += 1;
                table.push(packet.index, packet.ts_ns, &seg);
            }
            Err(skip) => summary.count_skip(skip),
        }
    })?;
    summary.files += 1;
    summary.capture_bytes += bytes.len() as u64;
    summary.capture_warnings.extend(report.warnings);
    let conns = table.into_connections();
    summary.tcp_connections += conns.len() as u64;
    Ok(conns)
}

/// The parallel pass: analyses every connection worth it on the rayon pool and
/// serialises its spans. Returns, per analysed connection in input order, its report,
/// its spans and how many exchanges the API filter dropped.
fn analyse_connections(
    conns: &[Connection<'_>],
    file_index: u32,
    config: &PipelineConfig,
) -> Vec<(ConnectionReport, ConnectionSpans, u64)> {
    let origin = Origin { file_index };
    conns
        .par_iter()
        .filter(|c| kafka::worth_analysing(c, &config.kafka))
        .map(|conn| {
            let report = kafka::analyse(conn, &config.kafka);
            let mut filtered = 0;
            let spans = report
                .exchanges
                .iter()
                .filter(|e| {
                    let keep = config.apis.contains(e.request.api_key);
                    filtered += u64::from(!keep);
                    keep
                })
                .map(|e| otlp::span_json(&span::build(&report, e, origin, &config.span)))
                .collect();
            (report, ConnectionSpans { spans }, filtered)
        })
        .collect()
}
