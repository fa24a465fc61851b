//! The command line: raw flags ([`Args`], parsed by clap) are resolved into a
//! validated [`Config`] before anything runs, and [`run`] carries a config out,
//! returning the [`ExitCode`] the binary exits with.

mod args;
pub mod commands;
mod output;
mod replay;
pub mod usage;

pub use args::{Args, Generate, SpanFormat, SummaryFormat};
pub use replay::{ReplayArgs, ReplayConfig};

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;

use crate::filter::{self, Filter};
use crate::kafka::api::ApiSet;
use crate::kafka::body::Limits;
use crate::kafka::facts::FactsOptions;
use crate::kafka::{KafkaConfig, PortRule, api};
use crate::knowledge;
use crate::pipeline::{self, PipelineConfig};
use crate::span::SpanConfig;
use crate::summary::Summary;

/// kapture's exit statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything was read and nothing was skipped.
    Success = 0,
    /// Spans were written, but something was skipped or lost (see the summary).
    Warnings = 1,
    /// The command line was wrong.
    BadArguments = 2,
    /// An input could not be read or is not a capture, or the output failed.
    Unreadable = 3,
    /// Replay (`--otlp-endpoint`): not every span was accepted by the endpoint.
    ReplayIncomplete = 4,
}

/// Where a capture comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    fn name(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".into(),
            Input::File(p) => p.display().to_string(),
        }
    }
}

/// Where the summary goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SummaryDest {
    Stderr,
    Stdout,
    File(PathBuf),
}

/// The summary a run prints at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryOutput {
    /// JSON rather than text.
    pub json: bool,
    /// Text with every row of the latency table (`--summary full`).
    pub full: bool,
    pub dest: SummaryDest,
}

/// A resolved, validated run.
#[derive(Debug, Clone)]
pub struct Config {
    pub inputs: Vec<Input>,
    /// The spans' file; `None` is standard output (unless `no_spans`).
    pub output: Option<PathBuf>,
    pub pipeline: PipelineConfig,
    pub service_name: String,
    pub threads: Option<usize>,
    /// `--continuous`: the inputs are pieces of one capture.
    pub continuous: bool,
    /// `None`: no summary (`--summary off`, or `-q` without `--summary-file`).
    pub summary: Option<SummaryOutput>,
    /// Write no spans (`--no-spans`).
    pub no_spans: bool,
    /// `--format otel-stdout`: spans printed by opentelemetry-stdout's exporter.
    pub otel_stdout: bool,
    /// The filter flags given, as `(flag, value)`, for a hint when nothing passes.
    pub filters_asked: Vec<(&'static str, String)>,
    /// `--otlp-endpoint` and `--rebase-time`.
    pub replay: ReplayConfig,
    /// `-q`: nothing on stderr but errors (no summary, no progress bar).
    pub quiet: bool,
    /// `--report FILE`: the HTML report.
    pub report: Option<PathBuf>,
}

/// The filters the flags ask for; errors name the flag.
pub fn filter_from_args(args: &Args) -> Result<Filter, String> {
    let min_duration = args
        .min_duration
        .as_deref()
        .map(|d| filter::parse_duration_ns(d).map_err(|e| format!("--min-duration '{d}': {e}")))
        .transpose()?;
    let (start, end) = match &args.time_range {
        Some(r) => filter::parse_time_range(r).map_err(|e| format!("--time-range '{r}': {e}"))?,
        None => (None, None),
    };
    Ok(Filter::default()
        .with_topics(&args.topic)?
        .with_client_ids(&args.client_id)?
        .with_brokers(&args.broker)?
        .with_min_duration_ns(min_duration)
        .with_errors_only(args.errors_only)
        .with_time_range(start, end))
}

/// Where the summary goes: `--summary-file`, else stderr for text; JSON goes to stdout
/// when no spans do (`stdout_free`: `--no-spans`, `-o FILE`, replay without `-o`),
/// else to stderr. `-q` turns it off unless `--summary` or `--summary-file` is given.
fn summary_output(args: &Args, stdout_free: bool) -> Result<Option<SummaryOutput>, String> {
    // An explicit --summary wins over -q; -q alone means none, unless a file asks.
    let format = match args.summary {
        Some(f) => f,
        None if args.quiet && args.summary_file.is_none() => SummaryFormat::Off,
        None => SummaryFormat::Text,
    };
    let json = match format {
        SummaryFormat::Off if args.summary_file.is_some() => {
            return Err("--summary-file needs --summary text or json, not off".into());
        }
        SummaryFormat::Off => return Ok(None),
        SummaryFormat::Text | SummaryFormat::Full => false,
        SummaryFormat::Json => true,
    };
    let dest = match &args.summary_file {
        Some(path) => SummaryDest::File(path.clone()),
        None if json && stdout_free => SummaryDest::Stdout,
        None => SummaryDest::Stderr,
    };
    Ok(Some(SummaryOutput {
        json,
        full: format == SummaryFormat::Full,
        dest,
    }))
}

/// Parses a comma-separated list of API names or numbers (`all` for every key).
pub fn parse_api_list(text: &str) -> Result<ApiSet, String> {
    let mut keys = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if item.eq_ignore_ascii_case("all") {
            return Ok(ApiSet::all());
        }
        let key = api::parse_key(item).ok_or_else(|| {
            format!("unknown Kafka API '{item}' (use a name such as 'produce' or 'api_versions', a number 0-93, or 'all')")
        })?;
        keys.push(key);
    }
    if keys.is_empty() {
        return Err("the API list is empty".into());
    }
    Ok(ApiSet::only(&keys))
}

/// Parses a comma-separated list of TCP ports.
pub fn parse_port_list(text: &str) -> Result<Vec<u16>, String> {
    let ports: Result<Vec<u16>, String> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|p| {
            p.parse::<u16>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("'{p}' is not a TCP port (1-65535)"))
        })
        .collect();
    let ports = ports?;
    if ports.is_empty() {
        return Err("the port list is empty".into());
    }
    Ok(ports)
}

impl Config {
    /// Resolves raw flags into a config, or explains what is wrong with them.
    pub fn from_args(args: Args) -> Result<Config, String> {
        let apis = parse_api_list(&args.api)?;
        let ports = match &args.port {
            Some(list) => PortRule {
                ports: parse_port_list(list)?,
                explicit: true,
            },
            None => PortRule::default(),
        };
        let topic_map = match &args.topic_map {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("--topic-map {}: {e}", path.display()))?;
                knowledge::parse_topic_map(&text)
                    .map_err(|e| format!("--topic-map {}: {e}", path.display()))?
            }
            None => Default::default(),
        };
        if args.threads == Some(0) {
            return Err("--threads must be at least 1".into());
        }
        if args.max_frame_bytes < 8 {
            return Err("--max-frame-bytes must be at least 8".into());
        }
        let inputs = args
            .captures
            .iter()
            .map(|c| {
                if c.as_os_str() == "-" {
                    Input::Stdin
                } else {
                    Input::File(c.clone())
                }
            })
            .collect::<Vec<_>>();
        if inputs.iter().filter(|i| **i == Input::Stdin).count() > 1 {
            return Err("standard input ('-') can be read only once".into());
        }
        let filter = filter_from_args(&args)?;
        let mut filters_asked: Vec<(&'static str, String)> = vec![("--api", args.api.clone())];
        for (flag, values) in [
            ("--topic", &args.topic),
            ("--client-id", &args.client_id),
            ("--broker", &args.broker),
        ] {
            filters_asked.extend(values.iter().map(|v| (flag, v.clone())));
        }
        for (flag, given) in [
            ("--min-duration", args.min_duration.is_some()),
            ("--time-range", args.time_range.is_some()),
            ("--errors-only", args.errors_only),
        ] {
            if given {
                filters_asked.push((flag, String::new()));
            }
        }
        let output = args.output.clone().filter(|o| o.as_os_str() != "-");
        if args.format == SpanFormat::OtelStdout && output.is_some() {
            return Err(
                "--format otel-stdout prints to standard output only (the exporter writes \
                 there): leave out --output, or redirect"
                    .into(),
            );
        }
        let replay = ReplayConfig::from_args(&args.replay, args.output.is_some())?;
        let stdout_free = args.no_spans || output.is_some() || replay.discards_output();
        let summary = summary_output(&args, stdout_free)?;
        Ok(Config {
            quiet: args.quiet,
            inputs,
            output,
            pipeline: PipelineConfig {
                progress: None,
                threads: args.threads.unwrap_or(0),
                timeouts: crate::stream::Timeouts::default(),
                caps: crate::caps::Caps {
                    max_connections: args.max_connections,
                    max_connection_bytes: args.max_connection_bytes,
                    max_reassembly_bytes: args.max_reassembly_bytes,
                    max_waiting_requests: args.max_waiting_requests,
                    max_unnamed_spans: args.max_unnamed_spans,
                    ..crate::caps::Caps::default()
                },
                quiet_flush: None,
                kafka: KafkaConfig {
                    ports,
                    max_frame: args.max_frame_bytes,
                    max_in_flight: args.max_in_flight,
                    bodies: apis.clone(),
                    facts: FactsOptions {
                        record_links: !args.no_record_links,
                        max_links: args.max_span_links,
                    },
                },
                apis,
                filter,
                span: SpanConfig {
                    id_seed: args.id_seed,
                    max_events: args.max_span_events,
                    parent_from_records: args.parent_from_records,
                    phase_spans: args.phase_spans,
                },
                topic_map,
                limits: Limits::new(
                    args.max_batch_decompressed_bytes as usize,
                    args.max_decompressed_bytes,
                ),
                no_spans: args.no_spans,
                latency: summary.is_some() || args.report.is_some(),
                top: args.top,
                report: args.report.is_some(),
                service_from: args.service_name_from,
            },
            service_name: args.service_name,
            threads: args.threads,
            continuous: args.continuous,
            summary,
            no_spans: args.no_spans,
            otel_stdout: args.format == SpanFormat::OtelStdout,
            filters_asked,
            replay,
            report: args.report.clone(),
        })
    }
}

/// One input, opened: a regular file is memory-mapped (packets borrow from it); a
/// pipe, a device or standard input is read as it arrives.
enum Opened {
    Mapped(memmap2::Mmap),
    Empty,
    Stream(Box<dyn Read + Send>),
}

/// An opened input as the feed takes it: a map by its index among the run's maps.
enum Piece {
    Mapped(usize),
    Empty,
    Stream(Box<dyn Read + Send>),
}

fn open_input(input: &Input) -> io::Result<Opened> {
    match input {
        Input::Stdin => Ok(Opened::Stream(Box::new(io::stdin()))),
        Input::File(path) => {
            let file = File::open(path)?;
            let meta = file.metadata()?;
            if !meta.is_file() {
                // A pipe or a device (`<(tcpdump ...)`): like stdin.
                return Ok(Opened::Stream(Box::new(file)));
            }
            if meta.len() == 0 {
                return Ok(Opened::Empty);
            }
            // SAFETY: the map is only read. A capture truncated by another process
            // while kapture runs could fault; tcpdump only appends, and that is the
            // price every mmap-based reader (ripgrep included) pays for zero-copy.
            let map = unsafe { memmap2::Mmap::map(&file)? };
            #[cfg(unix)]
            let _ = map.advise(memmap2::Advice::Sequential);
            Ok(Opened::Mapped(map))
        }
    }
}

/// Bytes read from a pipe at a time.
const PIPE_CHUNK: usize = 256 << 10;

/// Reads a capture from a pipe as it arrives, handing each packet to the reader as
/// soon as its last byte is in. A thread of its own does the blocking reads (a
/// signal does not end them); while it waits, the batches read so far are handed
/// out, so a quiet live capture still yields its spans. A first SIGINT or SIGTERM
/// ends the input there, as the end of the stream would (`tcpdump -w - | kapture -`,
/// stopped with Ctrl-C), and is forgotten, so a second one ends the process. Returns
/// whether a signal ended it.
fn feed_stream(
    reader: &mut crate::stream::reader::Reader<'_>,
    mut input: Box<dyn Read + Send>,
    bar: Option<&indicatif::ProgressBar>,
) -> Result<bool, pipeline::ProcessError> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(16);
    std::thread::spawn(move || {
        loop {
            let mut chunk = vec![0u8; PIPE_CHUNK];
            match input.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => {
                    chunk.truncate(n);
                    if tx.send(Ok(chunk)).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
    });
    let signalled = std::rc::Rc::new(std::cell::Cell::new(false));
    let pipe = PipeInput {
        chunks: rx,
        chunk: Vec::new(),
        pos: 0,
        outbox: reader.outbox(),
        signalled: signalled.clone(),
    };
    let base = bar.map_or(0, |p| p.position());
    let mut stream = crate::capture::StreamReader::new(pipe);
    loop {
        match stream.next_packet() {
            Ok(Some(packet)) => {
                reader.packet(&packet, None);
                if reader.stopped() {
                    break;
                }
                if reader.at.is_multiple_of(1024) && crate::interrupt::take() {
                    signalled.set(true);
                    break;
                }
                if let Some(p) = bar
                    && reader.at.is_multiple_of(4096)
                {
                    pipe_progress(p, base, stream.consumed(), reader);
                }
            }
            Ok(None) => break,
            Err(e) => return Err(pipeline::ProcessError::Capture(e)),
        }
    }
    if let Some(p) = bar {
        pipe_progress(p, base, stream.consumed(), reader);
    }
    reader.summary.capture_bytes += stream.consumed();
    if let Some(report) = stream.into_report() {
        reader.summary.files += 1;
        reader.summary.capture_warnings.extend(report.warnings);
        reader.next_source(report.packets);
    }
    Ok(signalled.get())
}

/// Moves the bar on while a pipe is read: its length is unknown until it ends, so the
/// bar grows with what was read.
fn pipe_progress(
    p: &indicatif::ProgressBar,
    base: u64,
    consumed: u64,
    reader: &crate::stream::reader::Reader<'_>,
) {
    let at = base + consumed;
    if p.length().is_none_or(|l| l < at) {
        p.set_length(at);
    }
    p.set_position(at);
    p.set_message(format!(
        "reading a pipe: {} so far; {}",
        indicatif::HumanBytes(consumed),
        reader.progress_message()
    ));
}

/// The pipe's chunks as a reader, for [`crate::capture::StreamReader`].
struct PipeInput {
    chunks: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
    outbox: std::rc::Rc<std::cell::RefCell<crate::stream::reader::Outbox>>,
    signalled: std::rc::Rc<std::cell::Cell<bool>>,
}

impl Read for PipeInput {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::sync::mpsc::RecvTimeoutError;
        while self.pos == self.chunk.len() {
            if self.signalled.get() {
                return Ok(0);
            }
            match self
                .chunks
                .recv_timeout(std::time::Duration::from_millis(20))
            {
                Ok(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(RecvTimeoutError::Disconnected) => return Ok(0),
                Err(RecvTimeoutError::Timeout) => {
                    // Nothing new: what was read so far goes to the workers now.
                    let mut outbox = self.outbox.borrow_mut();
                    if outbox.has_waiting() {
                        outbox.flush();
                    }
                    if crate::interrupt::take() {
                        self.signalled.set(true);
                        return Ok(0);
                    }
                }
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Carries out a run.
pub fn run(config: &Config) -> ExitCode {
    run_inputs(config)
}

/// Where spans are written (`Send`, because a thread of its own writes them), and
/// how the file is settled at the end: a regular file is written beside its final
/// name and renamed into place (see [`output`]).
fn open_output(config: &Config) -> io::Result<(Box<dyn Write + Send>, output::Staged)> {
    Ok(match &config.output {
        _ if config.no_spans || config.replay.discards_output() => {
            (Box::new(io::sink()), output::Staged::Direct)
        }
        Some(path) => {
            let (file, staged) = output::create(path)?;
            (Box::new(BufWriter::with_capacity(1 << 20, file)), staged)
        }
        None if config.otel_stdout => (
            Box::new(crate::otlp::stdout::StdoutDump::default()),
            output::Staged::Direct,
        ),
        // Not locked: the lock could not move to the writing thread. Writes come in
        // 1 MiB pieces, so taking the lock for each costs nothing.
        None => (
            Box::new(BufWriter::with_capacity(1 << 20, io::stdout())),
            output::Staged::Direct,
        ),
    })
}

/// Writes the HTML report (beside its name, then renamed: a failure leaves an
/// earlier report whole).
fn write_report(path: &std::path::Path, summary: &Summary) -> Result<(), ExitCode> {
    let html = crate::report::render(summary);
    output::write_whole(path, html.as_bytes()).map_err(|e| {
        eprintln!(
            "kapture: cannot write the report to {}: {e}",
            path.display()
        );
        ExitCode::Unreadable
    })
}

/// Prints or writes the summary where the config says.
fn write_summary(out: &SummaryOutput, summary: &Summary) -> Result<(), ExitCode> {
    let text = if out.json {
        summary.json_text()
    } else {
        format!("{summary}\n")
    };
    match &out.dest {
        SummaryDest::Stderr => {
            eprint!("{text}");
            Ok(())
        }
        SummaryDest::Stdout => {
            let mut stdout = io::stdout().lock();
            match stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
            {
                Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                    eprintln!("kapture: cannot write the summary: {e}");
                    Err(ExitCode::Unreadable)
                }
                _ => Ok(()),
            }
        }
        SummaryDest::File(path) => output::write_whole(path, text.as_bytes()).map_err(|e| {
            eprintln!(
                "kapture: cannot write the summary to {}: {e}",
                path.display()
            );
            ExitCode::Unreadable
        }),
    }
}

fn run_inputs(config: &Config) -> ExitCode {
    let (out, staged) = match open_output(config) {
        Ok(o) => o,
        Err(e) => {
            let name = config
                .output
                .as_ref()
                .map_or("<stdout>".into(), |p| p.display().to_string());
            eprintln!("kapture: cannot write {name}: {e}");
            return ExitCode::Unreadable;
        }
    };
    if let Err(e) = crate::interrupt::install() {
        eprintln!("kapture: warning: signals will end the run at once: {e}");
    }
    let progress = progress_bar(config);
    let mut pipeline_config = config.pipeline.clone();
    pipeline_config.progress = progress.clone();
    let mut writer = replay::sink(out, config, progress.clone());
    let mut summary = Summary {
        no_spans: config.no_spans,
        full: config.summary.as_ref().is_some_and(|s| s.full),
        // The conversation profile goes in JSON summaries only.
        profile: config
            .summary
            .as_ref()
            .filter(|s| s.json)
            .map(|_| crate::profile::Gathered::new(&config.pipeline.apis)),
        ..Summary::default()
    };
    let mut failed = false;
    let mut output_error = None;
    let mut inputs_read = 0;
    // Without --continuous each input is a capture of its own; with it, all of them
    // are consecutive pieces of one.
    let groups: Vec<Vec<usize>> = if config.continuous {
        vec![(0..config.inputs.len()).collect()]
    } else {
        (0..config.inputs.len()).map(|i| vec![i]).collect()
    };
    for group in groups {
        if crate::interrupt::requested() {
            summary.interrupted = true;
            break;
        }
        let mut opened = Vec::new();
        for &i in &group {
            let input = &config.inputs[i];
            match open_input(input) {
                Ok(o) => opened.push((input.name(), o)),
                Err(e) => {
                    eprintln!("kapture: {}: cannot read: {e}", input.name());
                    failed = true;
                }
            }
        }
        if opened.is_empty() {
            continue;
        }
        // The maps live apart from the list the feed takes its inputs from.
        let mut mapped: Vec<memmap2::Mmap> = Vec::new();
        let mut pieces: Vec<(String, Piece)> = Vec::new();
        for (name, o) in opened {
            let piece = match o {
                Opened::Mapped(m) => {
                    mapped.push(m);
                    Piece::Mapped(mapped.len() - 1)
                }
                Opened::Empty => Piece::Empty,
                Opened::Stream(r) => Piece::Stream(r),
            };
            pieces.push((name, piece));
        }
        let maps: Vec<&[u8]> = mapped.iter().map(|m| &m[..]).collect();
        // Spans of a live input reach their reader soon after their exchange.
        let live = pieces.iter().any(|(_, p)| matches!(p, Piece::Stream(_)));
        pipeline_config.quiet_flush = live.then(|| std::time::Duration::from_millis(200));
        let mut errors: Vec<String> = Vec::new();
        let mut read_ok = 0;
        let mut ended_by_signal = false;
        let bar = progress.clone();
        let mut feed = |reader: &mut crate::stream::reader::Reader<'_>| {
            for (name, piece) in pieces.drain(..) {
                if crate::interrupt::requested() || reader.stopped() {
                    break;
                }
                let warnings_before = reader.summary.capture_warnings.len();
                let result = match piece {
                    Piece::Mapped(i) => {
                        pipeline::feed_mapped(reader, maps[i], i as u32, bar.as_ref())
                            .map(|_| false)
                    }
                    Piece::Empty => Ok(false),
                    Piece::Stream(input) => feed_stream(reader, input, bar.as_ref()),
                };
                for w in &mut reader.summary.capture_warnings[warnings_before..] {
                    *w = format!("{name}: {w}");
                }
                match result {
                    Ok(by_signal) => {
                        read_ok += 1;
                        ended_by_signal |= by_signal;
                    }
                    Err(pipeline::ProcessError::Capture(e)) => errors.push(format!("{name}: {e}")),
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        };
        let result = pipeline::run(
            &maps,
            &mut feed,
            crate::span::Origin {
                file_index: group[0] as u32,
            },
            &pipeline_config,
            &mut summary,
            &mut |span, service| {
                if span.is_empty() {
                    writer.flush_quiet()
                } else {
                    writer.push_for(service, span)
                }
            },
            false,
        );
        for e in &errors {
            eprintln!("kapture: {e}");
        }
        failed |= !errors.is_empty();
        inputs_read += read_ok;
        summary.input_ended_by_signal |= ended_by_signal;
        if crate::interrupt::requested() {
            summary.interrupted = true;
        }
        match result {
            Ok(_) => {}
            Err(pipeline::ProcessError::Output(e)) => {
                output_error = Some(e);
                break;
            }
            Err(pipeline::ProcessError::Capture(e)) => {
                eprintln!("kapture: {e}");
                failed = true;
            }
        }
        if summary.interrupted {
            break;
        }
    }
    if let Some(p) = &progress {
        p.finish_and_clear();
    }
    let written = writer.spans() > 0;
    let replayed = match writer.finish() {
        Ok((_, replayed)) => replayed,
        Err(e) => {
            output_error.get_or_insert(e);
            None
        }
    };
    let cut_short = if let Some(e) = &output_error {
        Some(format!("the output failed ({e})"))
    } else if summary.interrupted {
        Some("a signal stopped the run".to_string())
    } else if failed {
        Some("an input could not be read (its spans are missing)".to_string())
    } else {
        None
    };
    let told = match settle_output(config, staged, cut_short.as_deref(), written) {
        Ok(told) => told,
        Err(code) => return code,
    };
    if let Some(e) = &output_error {
        return if told {
            ExitCode::Unreadable
        } else {
            output_failed(e)
        };
    }
    // Filters that let nothing through: what the capture has, in the JSON summary
    // or as text after the text one.
    let hint = (summary.emitted == 0 && summary.exchanges.total > 0).then(|| {
        format!(
            "kapture: none of the {} exchanges found passed the filters:\n{}",
            summary.exchanges.total,
            filter_hint(&summary, config)
        )
    });
    let json_summary = config.summary.as_ref().is_some_and(|s| s.json);
    if json_summary && let Some(h) = &hint {
        summary.nothing_passed = h.lines().skip(1).map(|l| l.trim().to_string()).collect();
    }
    // After inputs that could not be read at all, a summary of nothing would only
    // mislead.
    let nothing_read = failed && inputs_read == 0;
    if let Some(out) = &config.summary
        && !nothing_read
        && let Err(code) = write_summary(out, &summary)
    {
        return code;
    }
    if let Some(path) = &config.report
        && !nothing_read
        && let Err(code) = write_report(path, &summary)
    {
        return code;
    }
    if let Some(h) = &hint
        && !json_summary
        && !config.quiet
    {
        eprint!("{h}");
    }
    let replay_ok = replay::report(replayed.as_ref(), config.summary.is_none());
    if failed {
        ExitCode::Unreadable
    } else if !replay_ok {
        ExitCode::ReplayIncomplete
    } else if summary.has_losses() {
        ExitCode::Warnings
    } else {
        ExitCode::Success
    }
}

/// What the capture holds for each filter given; the flags without names to list
/// (durations, times, errors) are named.
fn filter_hint(summary: &Summary, config: &Config) -> String {
    // --api is worth a line only when it leaves out every API the capture has.
    let apis = &config.pipeline.apis;
    let some_api_passes = summary
        .inventory
        .apis
        .iter()
        .filter_map(|name| api::parse_key(name))
        .any(|key| apis.contains(key));
    let asked: Vec<(&'static str, String)> = config
        .filters_asked
        .iter()
        .filter(|(flag, _)| !(some_api_passes && *flag == "--api"))
        .cloned()
        .collect();
    let mut text = summary.inventory.hint(&asked);
    for (flag, _) in asked.iter().filter(|(_, v)| v.is_empty()) {
        text.push_str(&format!("  {flag} also leaves exchanges out\n"));
    }
    text
}

/// Gives `-o FILE` its final content and, when the run was `cut_short` (why), says
/// what the file holds; returns whether it said so.
fn settle_output(
    config: &Config,
    staged: output::Staged,
    cut_short: Option<&str>,
    written: bool,
) -> Result<bool, ExitCode> {
    let name = config
        .output
        .as_ref()
        .map_or("<stdout>".into(), |p| p.display().to_string());
    let ending = match cut_short {
        Some(_) => output::Ending::CutShort,
        None => output::Ending::Complete,
    };
    let why = cut_short.unwrap_or_default();
    match staged.settle(ending, written) {
        Ok(output::Settled::Written | output::Settled::Partial { bytes: 0 }) => Ok(false),
        Ok(output::Settled::Partial { bytes }) => {
            eprintln!(
                "kapture: {name}: incomplete: {why}; it keeps the {bytes} bytes of whole lines written before that"
            );
            Ok(true)
        }
        Ok(output::Settled::Untouched) => {
            let state = if config.output.as_ref().is_some_and(|p| p.exists()) {
                "left as it was"
            } else {
                "not written"
            };
            eprintln!("kapture: {name}: {state}: {why}; no whole line of spans was written");
            Ok(true)
        }
        Err(e) => {
            eprintln!("kapture: cannot write {name}: {e}");
            Err(ExitCode::Unreadable)
        }
    }
}

fn output_failed(e: &io::Error) -> ExitCode {
    // A closed pipe (`kapture x.pcap | head`) is the reader's choice, not a failure.
    if e.kind() == io::ErrorKind::BrokenPipe {
        return ExitCode::Success;
    }
    eprintln!("kapture: cannot write output: {e}");
    ExitCode::Unreadable
}

/// Prints the man page or a shell completion script to `out`.
pub fn generate(kind: Generate, out: &mut dyn Write) -> io::Result<()> {
    use clap::CommandFactory;
    let mut cmd = Args::command();
    let shell = match kind {
        Generate::Man => return usage::man_page(cmd, out),
        Generate::Bash => clap_complete::Shell::Bash,
        Generate::Zsh => clap_complete::Shell::Zsh,
        Generate::Fish => clap_complete::Shell::Fish,
        Generate::Elvish => clap_complete::Shell::Elvish,
        Generate::Powershell => clap_complete::Shell::PowerShell,
    };
    clap_complete::generate(shell, &mut cmd, "kapture", out);
    Ok(())
}

/// A progress bar on stderr (bytes read of the captures, exchanges found), only when
/// stderr is a terminal and the run is not quiet.
fn progress_bar(config: &Config) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if config.quiet || !io::stderr().is_terminal() {
        return None;
    }
    let total: u64 = config
        .inputs
        .iter()
        .filter_map(|i| match i {
            Input::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
            Input::Stdin => None,
        })
        .sum();
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr_with_hz(10),
    );
    // No colour in the template: NO_COLOR or not, kapture prints none.
    let style = indicatif::ProgressStyle::with_template(
        "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}
