//! Runs the whole pipeline over one capture (one file, a pipe, or several files read
//! as consecutive pieces of one capture) in a single streaming pass: see
//! [`crate::stream`] for the reader, the workers and the merger. Hands on the
//! serialised spans in the documented output order and counts everything into a
//! [`Summary`], latency statistics of the exchanges that pass the filters included.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use crate::capture::{self, CaptureError};
use crate::filter::Filter;
use crate::kafka::api::ApiSet;
use crate::kafka::body::Limits;
use crate::kafka::exchange::Exchange;
use crate::kafka::{ConnectionReport, KafkaConfig};
use crate::knowledge::{Knowledge, TopicMap};
use crate::span::{Origin, SpanConfig};
use crate::stream::merge::Merger;
use crate::stream::reader::Reader;
use crate::stream::worker::{Shared, Worker};
use crate::stream::{Batch, Round, Timeouts};
use crate::summary::Summary;

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
    /// Worker threads (0: one per core).
    pub threads: usize,
    /// When quiet connections are closed, in capture time.
    pub timeouts: Timeouts,
    /// The memory caps (`--max-connections`, ...).
    pub caps: crate::caps::Caps,
    /// `--service-name-from`: each connection's spans under their client's service.
    pub service_from: Option<crate::service::ServiceSource>,
    /// For live input: when no span was ready for this long, the sink is told to
    /// write out what it holds (an empty span, see [`EmitSpan`]).
    pub quiet_flush: Option<std::time::Duration>,
}

/// Where serialised spans go, in output order, each with the `service.name` of its
/// client under `--service-name-from` (`None`: the run's one service). An empty span
/// asks the sink to write out what it holds now: a live input went quiet.
pub type EmitSpan<'e> = dyn FnMut(&[u8], Option<&str>) -> std::io::Result<()> + Send + 'e;

/// Spans of one capture, serialised, in output order.
pub struct ConnectionSpans {
    pub spans: Vec<Vec<u8>>,
}

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
    let result = process_capture_into(bytes, file_index, config, summary, &mut |span, _| {
        all.spans.push(span.to_vec());
        Ok(())
    });
    match result {
        Ok(()) => Ok(vec![all]),
        Err(ProcessError::Capture(e)) => Err(e),
        Err(ProcessError::Output(_)) => unreachable!("collecting into memory cannot fail"),
    }
}

/// Reads one capture held in memory and hands each serialised span to `emit`, in
/// output order.
pub fn process_capture_into(
    bytes: &[u8],
    file_index: u32,
    config: &PipelineConfig,
    summary: &mut Summary,
    emit: &mut EmitSpan<'_>,
) -> Result<(), ProcessError> {
    let sources = [bytes];
    run(
        &sources,
        &mut |reader| feed_mapped(reader, bytes, 0, config.progress.as_ref()),
        Origin { file_index },
        config,
        summary,
        emit,
        false,
    )
    .map(|_| ())
}

/// Reads one capture held in memory and returns its Kafka connections, each with
/// every exchange in request order: for callers that look at exchanges rather than
/// write spans (profiles, tests).
pub fn analyse_capture(
    bytes: &[u8],
    config: &PipelineConfig,
    summary: &mut Summary,
) -> Result<Vec<ConnectionReport>, CaptureError> {
    let sources = [bytes];
    let collected = run(
        &sources,
        &mut |reader| feed_mapped(reader, bytes, 0, None),
        Origin { file_index: 0 },
        config,
        summary,
        &mut |_, _| Ok(()),
        true,
    );
    match collected {
        Ok(reports) => Ok(reports.unwrap_or_default()),
        Err(ProcessError::Capture(e)) => Err(e),
        Err(ProcessError::Output(_)) => unreachable!("collecting into memory cannot fail"),
    }
}

/// Hands every packet of a capture held in memory (`sources[source]`) to the reader,
/// moving `progress` along; stops early when the workers have stopped or a signal
/// asked to.
pub fn feed_mapped(
    reader: &mut Reader<'_>,
    bytes: &[u8],
    source: u32,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<(), ProcessError> {
    let base = progress.map_or(0, |p| p.position());
    let mut stop = false;
    let report = capture::for_each_packet(bytes, |packet| {
        if stop {
            return;
        }
        // A signal asked the run to stop: what is read so far is finished cleanly.
        if reader.stopped() || reader.at.is_multiple_of(1024) && crate::interrupt::requested() {
            stop = true;
            return;
        }
        reader.packet(&packet, Some((source, bytes)));
        if let Some(p) = progress
            && reader.at.is_multiple_of(PROGRESS_EVERY)
        {
            let offset = packet.data.as_ptr() as usize - bytes.as_ptr() as usize;
            p.set_position(base + offset as u64);
            p.set_message(reader.progress_message());
        }
    })
    .map_err(ProcessError::Capture)?;
    if let Some(p) = progress {
        p.set_position(base + bytes.len() as u64);
    }
    reader.summary.capture_warnings.extend(report.warnings);
    reader.summary.files += 1;
    reader.summary.capture_bytes += bytes.len() as u64;
    reader.next_source(report.packets);
    Ok(())
}

/// Every 64K packets: cheap enough to leave on, often enough to move.
pub const PROGRESS_EVERY: u64 = 65_536;

/// The feeding of one run: hands the capture's packets to the reader.
pub type Feed<'f> = dyn FnMut(&mut Reader<'_>) -> Result<(), ProcessError> + Send + 'f;

/// Runs the streaming engine: `feed` hands packets to the reader (packets of the
/// mapped `sources` borrow from them; others are copied), workers analyse, and the
/// merger, on this thread, counts into `summary` and hands spans to `emit`. With
/// `collect`, the Kafka connections are returned with their exchanges instead of
/// spans being written.
pub fn run(
    sources: &[&[u8]],
    feed: &mut Feed<'_>,
    origin: Origin,
    config: &PipelineConfig,
    summary: &mut Summary,
    emit: &mut EmitSpan<'_>,
    collect: bool,
) -> Result<Option<Vec<ConnectionReport>>, ProcessError> {
    let workers = if config.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        config.threads
    };
    // The workers' pool: one thread per worker, each connection pinned to one.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .thread_name(|i| format!("kapture-worker-{i}"))
        .build()
        .map_err(|e| ProcessError::Output(std::io::Error::other(e)))?;
    let shared = Shared::new(workers);
    let spans_written = Arc::new(AtomicU64::new(0));
    pool.in_place_scope(|pool_scope| {
        std::thread::scope(|scope| {
            let (round_tx, round_rx) = mpsc::sync_channel::<Round>(4 * workers);
            let mut batch_txs = Vec::with_capacity(workers);
            for id in 0..workers {
                let (tx, rx) = mpsc::sync_channel::<Batch>(4);
                batch_txs.push(tx);
                let rounds = round_tx.clone();
                let shared = &shared;
                pool_scope.spawn(move |_| {
                    let mut worker = Worker::new(id, config, sources, origin, shared);
                    worker.collecting = collect;
                    worker.run(rx, rounds)
                });
            }
            drop(round_tx);
            let written = spans_written.clone();
            let shared = &shared;
            let reader = scope.spawn(move || {
                let mut reader =
                    Reader::new(&config.kafka, config.timeouts, config.caps, batch_txs);
                reader.spans_written = Some(written);
                reader.shared = Some(shared);
                let fed = feed(&mut reader);
                reader.finish();
                let summary = std::mem::take(&mut reader.summary);
                (fed, summary)
            });
            let mut merger = Merger::new(config, workers, origin, summary, collect);
            merger.spans = spans_written.clone();
            let written = merger.run(round_rx, emit);
            let collected = merger.finish();
            let (fed, read) = reader
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            summary.add_packet_counts(&read);
            summary.files += read.files;
            summary.capture_bytes += read.capture_bytes;
            summary.capture_warnings.extend(read.capture_warnings);
            summary.tcp_connections += read.tcp_connections;
            summary.other_connections += read.other_connections;
            summary.caps.add(&read.caps);
            summary.cap_limits = Some(config.caps);
            if let Some(p) = &config.progress {
                p.set_message(format!(
                    "{} TCP connections; {} spans written",
                    summary.tcp_connections,
                    spans_written.load(Ordering::Relaxed)
                ));
            }
            fed?;
            written.map_err(ProcessError::Output)?;
            Ok(collected)
        })
    })
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
