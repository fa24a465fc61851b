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
            summary,
            no_spans: args.no_spans,
            otel_stdout: args.format == SpanFormat::OtelStdout,
            filters_asked,
            replay,
            report: args.report.clone(),
        })
    }
}

/// The bytes of one capture: memory-mapped when it is a regular file, read whole
/// otherwise (stdin, pipes).
enum CaptureBytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for CaptureBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            CaptureBytes::Mapped(m) => m,
            CaptureBytes::Owned(v) => v,
        }
    }
}

fn load(input: &Input, progress: Option<&indicatif::ProgressBar>) -> io::Result<Loaded> {
    match input {
        Input::Stdin => spool(Box::new(io::stdin()), progress),
        Input::File(path) => {
            let file = File::open(path)?;
            let meta = file.metadata()?;
            if !meta.is_file() {
                // A pipe or a device (`<(tcpdump ...)`): like stdin.
                return spool(Box::new(file), progress);
            }
            if meta.len() == 0 {
                return Ok(Loaded::whole(CaptureBytes::Owned(Vec::new())));
            }
            map(&file, None).map(Loaded::whole)
        }
    }
}

/// A capture's bytes, and whether a signal ended its input early (a live capture on
/// a pipe stops that way).
struct Loaded {
    bytes: CaptureBytes,
    stopped_by_signal: bool,
}

impl Loaded {
    fn whole(bytes: CaptureBytes) -> Loaded {
        Loaded {
            bytes,
            stopped_by_signal: false,
        }
    }
}

/// Copies a stream into an unlinked temporary file and maps that, so a capture read
/// from a pipe costs disk (page cache), not memory. Falls back to memory when no
/// temporary file can be made. A first SIGINT or SIGTERM ends the input there, as the
/// end of the stream would (`tcpdump -w - | kapture -`, stopped with Ctrl-C): what was
/// read is analysed, and the signal is forgotten, so a second one interrupts the run.
fn spool(
    mut input: Box<dyn Read + Send>,
    bar: Option<&indicatif::ProgressBar>,
) -> io::Result<Loaded> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let Ok(file) = tempfile::tempfile() else {
        let mut buf = Vec::new();
        input.read_to_end(&mut buf)?;
        return Ok(Loaded::whole(CaptureBytes::Owned(buf)));
    };
    // Reads block, and a signal does not end them: they are done on a thread of their
    // own, which is left behind if a signal ends the input first.
    let copied = Arc::new(AtomicU64::new(0));
    let (done, finished) = std::sync::mpsc::channel::<io::Result<()>>();
    let mut out = file.try_clone()?;
    let progress = Arc::clone(&copied);
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 20];
        let result = loop {
            match input.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    if let Err(e) = out.write_all(&buf[..n]) {
                        break Err(e);
                    }
                    progress.fetch_add(n as u64, Ordering::Release);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        let _ = done.send(result);
    });
    let stopped_by_signal = loop {
        match finished.recv_timeout(std::time::Duration::from_millis(50)) {
            Ok(result) => {
                result?;
                break false;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break false,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if crate::interrupt::take() {
                    break true;
                }
                if let Some(p) = bar {
                    p.set_message(spool_message(copied.load(Ordering::Acquire)));
                }
            }
        }
    };
    let len = copied.load(Ordering::Acquire);
    if len == 0 {
        return Ok(Loaded {
            bytes: CaptureBytes::Owned(Vec::new()),
            stopped_by_signal,
        });
    }
    Ok(Loaded {
        bytes: map(&file, Some(len))?,
        stopped_by_signal,
    })
}

/// What the progress bar says while a pipe is read: the bytes so far (its length is
/// unknown until it ends).
fn spool_message(bytes: u64) -> String {
    format!(
        "reading a pipe: {} so far (analysed when it ends, or at Ctrl-C)",
        indicatif::HumanBytes(bytes)
    )
}

/// Maps `file`, or its first `len` bytes (a spooled stream may still be growing).
fn map(file: &File, len: Option<u64>) -> io::Result<CaptureBytes> {
    // SAFETY: the map is only read. A capture truncated by another process while
    // kapture runs could fault; tcpdump only appends, and that is the price every
    // mmap-based reader (ripgrep included) pays for zero-copy. Spooled stdin lives in
    // an unlinked file nobody else can reach.
    let mut options = memmap2::MmapOptions::new();
    if let Some(len) = len {
        options.len(usize::try_from(len).map_err(io::Error::other)?);
    }
    let map = unsafe { options.map(file)? };
    Ok(CaptureBytes::Mapped(map))
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
    for (i, input) in config.inputs.iter().enumerate() {
        if crate::interrupt::requested() {
            summary.interrupted = true;
            break;
        }
        let name = input.name();
        let bytes = match load(input, progress.as_ref()) {
            Ok(loaded) => {
                if loaded.stopped_by_signal {
                    summary.input_ended_by_signal = true;
                }
                loaded.bytes
            }
            Err(e) => {
                eprintln!("kapture: {name}: cannot read: {e}");
                failed = true;
                continue;
            }
        };
        let warnings_before = summary.capture_warnings.len();
        if let (Some(p), Input::Stdin) = (&progress, input) {
            p.inc_length(bytes.len() as u64);
        }
        let result = pipeline::process_capture_into(
            &bytes,
            i as u32,
            &pipeline_config,
            &mut summary,
            &mut |span, service| {
                if crate::interrupt::requested() {
                    return Err(crate::interrupt::error());
                }
                writer.push_for(service, span)
            },
        );
        for w in &mut summary.capture_warnings[warnings_before..] {
            *w = format!("{name}: {w}");
        }
        match result {
            Ok(()) => inputs_read += 1,
            Err(pipeline::ProcessError::Output(e)) if crate::interrupt::is_interruption(&e) => {
                summary.interrupted = true;
                break;
            }
            Err(pipeline::ProcessError::Output(e)) => {
                output_error = Some(e);
                break;
            }
            Err(pipeline::ProcessError::Capture(e)) => {
                eprintln!("kapture: {name}: {e}");
                failed = true;
            }
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
