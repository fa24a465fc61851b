//! Runs the whole pipeline over one capture held in memory: one sequential pass groups
//! packets into TCP connections; connections are then analysed in parallel (each on
//! one rayon worker); what the capture as a whole knows (topic ids, consumer groups)
//! is gathered; and spans are built and serialised in parallel. Hands on the
//! serialised spans in a deterministic order (connection first seen, then request
//! order) and counts everything into a [`Summary`].

use rayon::prelude::*;

use crate::capture::{self, CaptureError};
use crate::kafka::api::ApiSet;
use crate::kafka::body::Limits;
use crate::kafka::{self, ConnectionReport, KafkaConfig};
use crate::knowledge::{Knowledge, TopicMap};
use crate::net;
use crate::otlp;
use crate::span::{self, Origin, SpanConfig};
use crate::summary::Summary;
use crate::tcp::{Connection, ConnectionTable};

/// Everything the pipeline needs to know, resolved from the command line.
#[derive(Debug, Clone, Default)]
pub struct PipelineConfig {
    pub kafka: KafkaConfig,
    pub apis: ApiSet,
    pub span: SpanConfig,
    /// Topic names for ids the capture may never name (`--topic-map`).
    pub topic_map: TopicMap,
    /// Decompression limits; clones share the run-wide budget.
    pub limits: Limits,
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
    let reports = analyse_connections(&conns, config);
    summary.other_connections += (conns.len() - reports.len()) as u64;
    drop(conns);
    let knowledge = Knowledge::gather(&reports, &config.topic_map);
    let origin = Origin { file_index };
    let spans: Vec<(ConnectionSpans, u64)> = reports
        .par_iter()
        .map(|report| connection_spans(report, origin, config, &knowledge))
        .collect();
    let mut out = Vec::with_capacity(spans.len());
    for (report, (spans, filtered)) in reports.iter().zip(spans) {
        summary.add_connection(report, &knowledge);
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

/// The parallel pass: analyses every connection worth it, in input order. Each
/// worker gets its own clone of the decompression limits (sharing the budget).
pub fn analyse_connections(
    conns: &[Connection<'_>],
    config: &PipelineConfig,
) -> Vec<ConnectionReport> {
    conns
        .par_iter()
        .filter(|c| kafka::worth_analysing(c, &config.kafka))
        .map_init(
            || config.limits.clone(),
            |limits, conn| kafka::analyse(conn, &config.kafka, limits),
        )
        .collect()
}

/// Filters one connection's exchanges and serialises their spans; also returns how
/// many the filters dropped.
fn connection_spans(
    report: &ConnectionReport,
    origin: Origin,
    config: &PipelineConfig,
    knowledge: &Knowledge,
) -> (ConnectionSpans, u64) {
    let mut filtered = 0;
    let spans = report
        .exchanges
        .iter()
        .filter(|e| {
            let keep = config.apis.contains(e.request.api_key);
            filtered += u64::from(!keep);
            keep
        })
        .flat_map(|e| span::build_all(report, e, origin, &config.span, knowledge))
        .map(|s| otlp::span_json(&s))
        .collect();
    (ConnectionSpans { spans }, filtered)
}
