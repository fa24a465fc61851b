//! Runs the whole pipeline over one capture held in memory: one sequential pass groups
//! packets into TCP connections; connections are then analysed in parallel (each on
//! one rayon worker); what the capture as a whole knows (topic ids, consumer groups)
//! is gathered; and spans are built and serialised in parallel. Hands on the
//! serialised spans in a deterministic order (connection first seen, then request
//! order) and counts everything into a [`Summary`], latency statistics of the
//! exchanges that pass the filters included.

use std::sync::mpsc;

use rayon::prelude::*;

use crate::capture::{self, CaptureError};
use crate::diagnosis::Diagnosis;
use crate::filter::Filter;
use crate::kafka::api::ApiSet;
use crate::kafka::body::Limits;
use crate::kafka::exchange::Exchange;
use crate::kafka::{self, ConnectionReport, KafkaConfig, Verdict};
use crate::knowledge::{Knowledge, TopicMap};
use crate::net;
use crate::otlp::json::JsonOut;
use crate::span::{self, Origin, SpanConfig};
use crate::stats::LatencyStats;
use crate::summary::Summary;
use crate::tcp::{Connection, ConnectionTable};

/// Everything the pipeline needs to know, resolved from the command line.
#[derive(Debug, Clone, Default)]
pub struct PipelineConfig {
    pub kafka: KafkaConfig,
    /// APIs turned into spans (`--api`); the others are filtered out.
    pub apis: ApiSet,
    /// The other filters (`--topic`, `--broker`, ...), applied after `apis`.
    pub filter: Filter,
    pub span: SpanConfig,
    /// Topic names for ids the capture may never name (`--topic-map`).
    pub topic_map: TopicMap,
    /// Decompression limits; the budget is the run's, spent in output order.
    pub limits: Limits,
    /// Build no spans (`--no-spans`): exchanges are only counted.
    pub no_spans: bool,
    /// Gather latency statistics of the exchanges that pass the filters.
    pub latency: bool,
    /// How many of the slowest exchanges the summary lists (`--top`).
    pub top: usize,
    /// Gather the report's timeline of exchanges too (`--report`).
    pub report: bool,
    /// Shows bytes read and exchanges found while the run goes on.
    pub progress: Option<indicatif::ProgressBar>,
}

/// Spans of one connection, serialised, in request order.
pub struct ConnectionSpans {
    pub spans: Vec<Vec<u8>>,
}

/// Connections whose spans are built (in parallel) and written before the next ones
/// are started: the serialised spans of a whole capture are never all in memory.
const SPAN_WINDOW: usize = 256;

/// Why a capture could not be processed to the end.
#[derive(Debug)]
pub enum ProcessError {
    /// The capture is unreadable (see [`CaptureError`]).
    Capture(CaptureError),
    /// Handing a span on failed (the output could not be written).
    Output(std::io::Error),
}

/// Reads one capture and returns its spans in output order. Packet-level problems
/// are counted in `summary`; only an unreadable file is an error. Holds every span in
/// memory: [`process_capture_into`] streams them instead.
pub fn process_capture(
    bytes: &[u8],
    file_index: u32,
    config: &PipelineConfig,
    summary: &mut Summary,
) -> Result<Vec<ConnectionSpans>, CaptureError> {
    let mut all = ConnectionSpans { spans: Vec::new() };
    let result = process_capture_into(bytes, file_index, config, summary, &mut |span| {
        all.spans.push(span.to_vec());
        Ok(())
    });
    match result {
        Ok(()) => Ok(vec![all]),
        Err(ProcessError::Capture(e)) => Err(e),
        Err(ProcessError::Output(_)) => unreachable!("collecting into memory cannot fail"),
    }
}

/// Reads one capture and hands each serialised span to `emit`, in output order,
/// building them a window of connections at a time.
pub fn process_capture_into(
    bytes: &[u8],
    file_index: u32,
    config: &PipelineConfig,
    summary: &mut Summary,
    emit: &mut (dyn FnMut(&[u8]) -> std::io::Result<()> + Send),
) -> Result<(), ProcessError> {
    let conns = read_connections_with_progress(bytes, summary, config.progress.as_ref())
        .map_err(ProcessError::Capture)?;
    let connections = conns.len();
    tick(config, Progress::analysing(connections as u64, 0));
    let budget = config
        .limits
        .budget_left()
        .saturating_sub(summary.decompressed_bytes);
    let (reports, others, used) = analyse_connections_within(conns, config, budget);
    summary.decompressed_bytes += used;
    summary.other_connections += (connections - reports.len() - others.len()) as u64;
    for verdict in others {
        summary.count_verdict(verdict);
    }
    let knowledge = Knowledge::gather(&reports, &config.topic_map);
    let origin = Origin { file_index };
    let build = |window: &[ConnectionReport], buffers: Vec<JsonOut>| -> Vec<Selected> {
        window
            .par_iter()
            .zip(buffers)
            .map(|(report, buffer)| connection_spans(report, buffer, origin, config, &knowledge))
            .collect()
    };
    if reports.len() <= SPAN_WINDOW {
        // One window: nothing to overlap, so no writer thread to start.
        let buffers = reports.iter().map(|_| JsonOut::new()).collect();
        let selected = build(&reports, buffers);
        write_window(&reports, selected, config, &knowledge, summary, emit)
            .map_err(ProcessError::Output)?;
        tick(config, Progress::writing(connections as u64, summary.spans));
    } else {
        write_overlapped(
            reports,
            &build,
            config,
            &knowledge,
            summary,
            emit,
            connections,
        )
        .map_err(ProcessError::Output)?;
    }
    if let Some(p) = &config.progress {
        p.set_position(p.position().max(bytes.len() as u64));
        p.set_message(format!("{} exchanges", summary.exchanges.total));
    }
    Ok(())
}

/// What the progress bar says beside the bytes read, from plain counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// TCP connections of the capture.
    pub connections: u64,
    /// Of them, analysed so far (all of them once spans are written).
    pub analysed: u64,
    /// Spans written so far, once writing has begun.
    pub spans: Option<u64>,
}

impl Progress {
    pub fn analysing(connections: u64, analysed: u64) -> Progress {
        Progress {
            connections,
            analysed: analysed.min(connections),
            spans: None,
        }
    }

    pub fn writing(connections: u64, spans: u64) -> Progress {
        Progress {
            connections,
            analysed: connections,
            spans: Some(spans),
        }
    }

    /// The bar's message.
    pub fn message(&self) -> String {
        match self.spans {
            None => format!(
                "analysing TCP connections: {}/{}",
                self.analysed, self.connections
            ),
            Some(spans) => format!(
                "{} TCP connections analysed; {spans} spans written",
                self.connections
            ),
        }
    }
}

/// Moves the progress bar's message on, when there is a bar.
fn tick(config: &PipelineConfig, progress: Progress) {
    if let Some(p) = &config.progress {
        p.set_message(progress.message());
    }
}

/// Windows built ahead of the one being written.
const WINDOWS_AHEAD: usize = 2;

/// Largest buffer kept for reuse once its window is written; bigger ones (a
/// connection with very many spans) are freed.
const SPARE_BUFFER_MAX: usize = 4 << 20;

/// Builds the spans of a window of connections, each into the buffer given for it.
type BuildWindow<'a> = dyn Fn(&[ConnectionReport], Vec<JsonOut>) -> Vec<Selected> + Sync + 'a;

/// Builds window after window on the pool, without pausing, while a writer thread of
/// its own counts and writes each window in order, frees its reports, and hands the
/// emptied span buffers back for reuse. The channel holds at most [`WINDOWS_AHEAD`]
/// windows, which bounds memory when the output is slow.
fn write_overlapped(
    reports: Vec<ConnectionReport>,
    build: &BuildWindow<'_>,
    config: &PipelineConfig,
    knowledge: &Knowledge,
    summary: &mut Summary,
    emit: &mut (dyn FnMut(&[u8]) -> std::io::Result<()> + Send),
    connections: usize,
) -> std::io::Result<()> {
    let (to_writer, windows) =
        mpsc::sync_channel::<(Vec<ConnectionReport>, Vec<Selected>)>(WINDOWS_AHEAD);
    let (give_back, spare) = mpsc::channel::<JsonOut>();
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> std::io::Result<()> {
            for (window, selected) in windows {
                for buffer in write_window(&window, selected, config, knowledge, summary, emit)? {
                    // The builder may have finished; then the buffer is just freed.
                    let _ = give_back.send(buffer);
                }
                tick(config, Progress::writing(connections as u64, summary.spans));
            }
            Ok(())
        });
        let mut reports = reports.into_iter();
        loop {
            let window: Vec<ConnectionReport> = reports.by_ref().take(SPAN_WINDOW).collect();
            if window.is_empty() {
                break;
            }
            let mut buffers: Vec<JsonOut> = spare.try_iter().take(window.len()).collect();
            buffers.resize_with(window.len(), JsonOut::new);
            let selected = build(&window, buffers);
            if to_writer.send((window, selected)).is_err() {
                // The writer stopped on an output error, which it returns.
                break;
            }
        }
        drop(to_writer);
        writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Counts a built window into `summary` and hands its spans to `emit`, in order;
/// returns the emptied buffers.
fn write_window(
    window: &[ConnectionReport],
    selected: Vec<Selected>,
    config: &PipelineConfig,
    knowledge: &Knowledge,
    summary: &mut Summary,
    emit: &mut (dyn FnMut(&[u8]) -> std::io::Result<()> + Send),
) -> std::io::Result<Vec<JsonOut>> {
    let mut buffers = Vec::with_capacity(selected.len());
    for (report, sel) in window.iter().zip(selected) {
        summary.add_connection(report, knowledge);
        if let Some(profile) = &mut summary.profile {
            for ex in &report.exchanges {
                if self::selected(config, report, ex, knowledge) {
                    profile.add(report, ex, knowledge);
                }
            }
        }
        summary.filtered_out += sel.filtered;
        summary.emitted += sel.kept;
        summary.spans += sel.spans.len() as u64;
        summary.latency.merge(sel.latency);
        summary.diagnosis.merge(sel.diagnosis);
        for span in sel.spans.spans() {
            emit(span)?;
        }
        let mut buffer = sel.spans;
        if buffer.buf.capacity() <= SPARE_BUFFER_MAX {
            buffer.clear();
            buffers.push(buffer);
        }
    }
    Ok(buffers)
}

/// The sequential pass: reads every packet and groups TCP segments by connection.
pub fn read_connections<'a>(
    bytes: &'a [u8],
    summary: &mut Summary,
) -> Result<Vec<Connection<'a>>, CaptureError> {
    read_connections_with_progress(bytes, summary, None)
}

/// [`read_connections`], moving `progress` along as the capture is read.
pub fn read_connections_with_progress<'a>(
    bytes: &'a [u8],
    summary: &mut Summary,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<Vec<Connection<'a>>, CaptureError> {
    let conns = read_in_one_pass(bytes, summary, progress)?;
    summary.files += 1;
    summary.capture_bytes += bytes.len() as u64;
    summary.tcp_connections += conns.len() as u64;
    Ok(conns)
}

/// Hands one packet to the connection table, counting what it is.
fn table_packet<'a>(
    table: &mut ConnectionTable<'a>,
    packet: &capture::Packet<'a>,
    summary: &mut Summary,
) {
    summary.packets += 1;
    if (packet.data.len() as u64) < u64::from(packet.orig_len) {
        summary.truncated_packets += 1;
    }
    match net::decode_segment(packet) {
        Ok(seg) => {
            summary.tcp_packets += 1;
            table.push(packet.index, packet.ts_ns, &seg);
        }
        Err(skip) => summary.count_skip(skip),
    }
}

/// Every 64K packets: cheap enough to leave on, often enough to move.
const PROGRESS_EVERY: u64 = 65_536;

fn read_in_one_pass<'a>(
    bytes: &'a [u8],
    summary: &mut Summary,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<Vec<Connection<'a>>, CaptureError> {
    let mut table = ConnectionTable::new();
    let base = progress.map_or(0, |p| p.position());
    let report = capture::for_each_packet(bytes, |packet| {
        if let Some(p) = progress
            && summary.packets.is_multiple_of(PROGRESS_EVERY)
        {
            let offset = packet.data.as_ptr() as usize - bytes.as_ptr() as usize;
            p.set_position(base + offset as u64);
        }
        table_packet(&mut table, &packet, summary);
    })?;
    summary.capture_warnings.extend(report.warnings);
    Ok(table.into_connections())
}

/// Connections analysed in parallel between two settlements of the run's
/// decompression budget, at first and whenever the budget may run out soon. A window
/// bounds the work done past the point where the budget runs out: later windows
/// decompress nothing. While the budget stays far from its end, windows double (up to
/// [`MAX_ANALYSIS_WINDOW`]), so that a normal run waits at few window boundaries.
const ANALYSIS_WINDOW: usize = 512;
const MAX_ANALYSIS_WINDOW: usize = 1 << 20;

/// The parallel pass: analyses every connection worth it, in input order, a window of
/// connections at a time. Each connection's segments are freed once its window is
/// settled, so the segments and the reports are never all in memory at once.
///
/// The run's decompression budget (`--max-decompressed-bytes`) is spent in output
/// order, as if the connections were analysed one after another: connection `n` may
/// decompress what connections `0..n` left. That keeps the output the same for any
/// number of threads. In parallel, each connection of a window is first analysed with
/// all that was left when the window started; settling the window in order then keeps
/// every result that cannot have been touched by the budget (it used less than what
/// was really left) and analyses the others again with their exact share, which
/// happens only in the window where the budget runs out.
pub fn analyse_connections(
    conns: Vec<Connection<'_>>,
    config: &PipelineConfig,
) -> (Vec<ConnectionReport>, Vec<Verdict>) {
    let (reports, others, _) =
        analyse_connections_within(conns, config, config.limits.budget_left());
    (reports, others)
}

/// [`analyse_connections`] with `budget` bytes of decompression left for this capture
/// (what earlier captures of the run did not use); also returns the bytes decompressed.
pub fn analyse_connections_within(
    conns: Vec<Connection<'_>>,
    config: &PipelineConfig,
    budget: u64,
) -> (Vec<ConnectionReport>, Vec<Verdict>, u64) {
    let mut reports = Vec::new();
    let mut others = Vec::new();
    let mut left = budget;
    let mut scratch = config.limits.clone();
    let total = conns.len() as u64;
    let seen = std::cell::Cell::new(0u64);
    let mut conns = conns
        .into_iter()
        .inspect(|_| seen.set(seen.get() + 1))
        .filter(|c| kafka::worth_analysing(c, &config.kafka));
    let mut window_len = ANALYSIS_WINDOW;
    loop {
        let window: Vec<Connection<'_>> = conns.by_ref().take(window_len).collect();
        if window.is_empty() {
            break;
        }
        let allowance = left;
        let first_pass: Vec<(Result<Box<ConnectionReport>, Verdict>, u64)> = window
            .par_iter()
            .map_init(
                || config.limits.clone(),
                |limits, conn| analyse_within(conn, config, limits, allowance),
            )
            .collect();
        for (conn, (report, used)) in window.iter().zip(first_pass) {
            // Untouched by the budget: it never ran short, so with `left` (no more
            // than `allowance`) it would have decoded the same bytes.
            let (report, used) = if allowance == left || used < left {
                (report, used)
            } else {
                analyse_within(conn, config, &mut scratch, left)
            };
            left -= used;
            match report {
                Ok(r) => reports.push(*r),
                Err(v) => others.push(v),
            }
        }
        tick(config, Progress::analysing(total, seen.get()));
        // Far from the end (this window took under a quarter of what is left, so the
        // next, twice as long, is unlikely to reach it): longer windows.
        let took = allowance - left;
        window_len = if took.saturating_mul(4) < left {
            (window_len * 2).min(MAX_ANALYSIS_WINDOW)
        } else {
            ANALYSIS_WINDOW
        };
    }
    (reports, others, budget - left)
}

/// Analyses one connection with `budget` bytes of decompression; returns its report
/// (only Kafka connections keep theirs: the others shrink to their verdict at once,
/// so a capture of many non-Kafka connections costs little memory) and the bytes it
/// decompressed.
fn analyse_within(
    conn: &Connection<'_>,
    config: &PipelineConfig,
    limits: &mut Limits,
    budget: u64,
) -> (Result<Box<ConnectionReport>, Verdict>, u64) {
    limits.set_budget(budget);
    let report = kafka::analyse(conn, &config.kafka, limits);
    let used = budget - limits.budget_left();
    let report = match report.verdict {
        Verdict::Kafka => Ok(Box::new(report)),
        other => Err(other),
    };
    (report, used)
}

/// What the filters made of one connection's exchanges.
struct Selected {
    /// The serialised spans, one after another.
    spans: JsonOut,
    /// Exchanges that passed the filters, and those that did not.
    kept: u64,
    filtered: u64,
    latency: LatencyStats,
    diagnosis: Diagnosis,
}

/// Whether an exchange passes `--api` and the other filters.
pub fn selected(
    config: &PipelineConfig,
    report: &ConnectionReport,
    ex: &Exchange,
    knowledge: &Knowledge,
) -> bool {
    config.apis.contains(ex.request.api_key) && config.filter.matches(report, ex, knowledge)
}

/// Filters one connection's exchanges, serialises their spans (unless `no_spans`)
/// and gathers their latencies (when `latency`); also counts what the filters kept
/// and dropped.
fn connection_spans(
    report: &ConnectionReport,
    buffer: JsonOut,
    origin: Origin,
    config: &PipelineConfig,
    knowledge: &Knowledge,
) -> Selected {
    let mut sel = Selected {
        spans: buffer,
        kept: 0,
        filtered: 0,
        latency: LatencyStats::default(),
        diagnosis: Diagnosis::new(config.top),
    };
    let peers = span::Peers::of(report);
    for ex in &report.exchanges {
        if !selected(config, report, ex, knowledge) {
            sel.filtered += 1;
            continue;
        }
        sel.kept += 1;
        if config.latency {
            sel.latency.add(report, ex, knowledge);
            sel.diagnosis.add(report, ex, knowledge, origin.file_index);
            if config.report {
                let timeline = sel.latency.timeline.get_or_insert_default();
                timeline.add(report, ex, knowledge, origin.file_index);
            }
        }
        if !config.no_spans {
            let out = &mut sel.spans;
            span::emit(out, report, &peers, ex, origin, &config.span, knowledge);
        }
    }
    sel
}

#[cfg(test)]
mod progress_tests {
    use super::Progress;

    #[test]
    fn progress_says_where_the_run_is() {
        assert_eq!(
            Progress::analysing(1200, 512).message(),
            "analysing TCP connections: 512/1200"
        );
        // Never past the total.
        assert_eq!(Progress::analysing(3, 9), Progress::analysing(3, 3));
        assert_eq!(
            Progress::writing(1200, 4096).message(),
            "1200 TCP connections analysed; 4096 spans written"
        );
    }
}
