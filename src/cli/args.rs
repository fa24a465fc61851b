//! The raw command-line flags, as clap parses them. Nothing here is validated beyond
//! its type; [`super::Config::from_args`] does that.

use std::path::PathBuf;

use clap::{Parser, ValueEnum, ValueHint};

/// The usage lines of `--help` and of error messages: a capture is required, except
/// for `--generate` and the subcommands.
const USAGE: &str = "kapture [OPTIONS] <CAPTURE>...
       kapture check [OPTIONS] --rules <FILE> <CAPTURE>...
       kapture diff [OPTIONS] <OLD> <NEW>
       kapture --generate <KIND>";

/// What `--generate` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Generate {
    Man,
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

/// Kafka packet captures to OpenTelemetry spans, timed from the packets.
///
/// Turn packet captures (pcap, pcapng) of Kafka traffic into OpenTelemetry spans, one
/// per request/response exchange, timed from the packets, with a summary of where the
/// time went.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "kapture",
    version,
    about,
    long_about,
    override_usage = USAGE,
    after_long_help = super::usage::after_long_help(),
    after_help = "Run 'kapture --help' for every flag, examples and exit statuses."
)]
pub struct Args {
    /// pcap or pcapng files to read; '-' reads standard input.
    #[arg(value_name = "CAPTURE", required = true, value_hint = ValueHint::FilePath)]
    pub captures: Vec<PathBuf>,

    /// Print the man page or a shell completion script, then exit.
    #[arg(long, value_name = "KIND", exclusive = true, hide_short_help = true)]
    pub generate: Option<Generate>,

    /// Write the spans to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub output: Option<PathBuf>,

    /// How the spans are written.
    ///
    /// 'otlp-json': OTLP JSON Lines, for the Collector, jq and kapture diff.
    /// 'otel-stdout': the OpenTelemetry SDK's stdout exporter dump, for reading in a
    /// terminal (standard output only).
    #[arg(
        long,
        value_name = "FORMAT",
        value_enum,
        default_value = "otlp-json",
        hide_short_help = true
    )]
    pub format: SpanFormat,

    /// Kafka APIs to turn into spans.
    ///
    /// Names or numbers, comma-separated, or 'all'.
    #[arg(
        long,
        value_name = "LIST",
        default_value = "produce,fetch",
        value_parser = super::usage::ApiList,
        hide_possible_values = true
    )]
    pub api: String,

    /// Broker ports, comma-separated.
    ///
    /// Without it, port 9092 is Kafka and other ports are recognised by their request
    /// headers.
    #[arg(long, value_name = "LIST", value_hint = ValueHint::Other)]
    pub port: Option<String>,

    /// The service.name resource attribute of the spans.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "kapture",
        hide_short_help = true,
        value_hint = ValueHint::Other
    )]
    pub service_name: String,

    /// Group spans by client: one resource per client, its service.name taken from
    /// the client id, the client address or the client software (ApiVersions v3+),
    /// falling back to the client address.
    #[arg(long, value_name = "SOURCE", hide_short_help = true)]
    pub service_name_from: Option<crate::service::ServiceSource>,

    /// Worker threads [default: one per core].
    ///
    /// Worker threads analysing connections and building spans [default: one per
    /// core]; one more thread reads the capture, and the calling thread writes spans.
    /// Each connection is owned by one worker; the output is the same for any number.
    #[arg(short = 'j', long, value_name = "N", value_hint = ValueHint::Other)]
    pub threads: Option<usize>,

    /// Read the captures as consecutive pieces of one capture.
    ///
    /// The files, in the order given, are read as one capture cut into pieces, as
    /// `tcpdump -C`/`-G` rotates them: a connection running across files stays one
    /// connection, and frame numbers go on counting from one file to the next.
    /// Without it each file is a capture of its own.
    #[arg(long, hide_short_help = true)]
    pub continuous: bool,

    /// Largest Kafka frame accepted, in bytes; longer length prefixes are treated as
    /// garbage.
    #[arg(long, value_name = "BYTES", default_value_t = 100 * 1024 * 1024, hide_short_help = true)]
    pub max_frame_bytes: u64,

    /// Most requests waiting for a response on one connection at once; past it the
    /// oldest is given up as unanswered (and counted).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 10_000,
        hide_short_help = true
    )]
    pub max_in_flight: usize,

    /// Most connections tracked at once (memory cap).
    ///
    /// Most TCP connections tracked at once. At the cap, connections are evicted in
    /// capture time: first those that never carried payload (SYN-only, half-open),
    /// the oldest first, then the longest quiet; the first time it is hit, shortened
    /// (emergency) timeouts sweep the table. An evicted connection's waiting requests
    /// become spans marked `kapture.response.state=evicted`. Counted in the summary;
    /// exit status 1.
    #[arg(long, value_name = "N", default_value_t = crate::caps::DEFAULT_MAX_CONNECTIONS, hide_short_help = true)]
    pub max_connections: u64,

    /// Most bytes of connection state (memory cap).
    ///
    /// Most bytes of connection state, estimated: 3,328 per connection that carried
    /// payload, 384 per one that did not (reassembly bytes apart). At the cap,
    /// connections are evicted as at --max-connections.
    #[arg(long, value_name = "BYTES", default_value_t = crate::caps::DEFAULT_MAX_CONNECTION_BYTES, hide_short_help = true)]
    pub max_connection_bytes: u64,

    /// Most payload bytes held for reassembly, over all connections (memory cap).
    ///
    /// Most payload bytes held in the connections' windows (frames not yet complete,
    /// requests kept until their response), over all connections. Past it, the
    /// connections holding the most are evicted (checked every 65,536 packets or
    /// 16 MiB of payload).
    #[arg(long, value_name = "BYTES", default_value_t = crate::caps::DEFAULT_MAX_REASSEMBLY_BYTES, hide_short_help = true)]
    pub max_reassembly_bytes: u64,

    /// Most requests waiting for a response, over all connections (memory cap).
    ///
    /// Most requests waiting for a response, over all connections. Past it, the
    /// connections with the most waiting are evicted; their requests become spans
    /// marked evicted.
    #[arg(long, value_name = "N", default_value_t = crate::caps::DEFAULT_MAX_WAITING_REQUESTS, hide_short_help = true)]
    pub max_waiting_requests: u64,

    /// Most exchanges waiting for a topic name (memory cap).
    ///
    /// Most exchanges held back until a Metadata response names their topic ids. Past
    /// it, the held exchanges are written with the ids unnamed.
    #[arg(long, value_name = "N", default_value_t = crate::caps::DEFAULT_MAX_UNNAMED_SPANS, hide_short_help = true)]
    pub max_unnamed_spans: u64,

    /// Topic names for topic ids the capture never names: a file of
    /// '<topic id> <name>' lines (Fetch v13+ and Produce v13 carry only ids).
    #[arg(long, value_name = "FILE", hide_short_help = true, value_hint = ValueHint::FilePath)]
    pub topic_map: Option<PathBuf>,

    /// Do not read record headers: no trace-context links, no decompression (faster).
    #[arg(long, hide_short_help = true)]
    pub no_record_links: bool,

    /// Make each span a child of the producer's trace context when its records carry
    /// exactly one, so it shows inside the application's trace.
    #[arg(long, hide_short_help = true)]
    pub parent_from_records: bool,

    /// Add a child span per phase: the request's write and the response's read.
    #[arg(long, hide_short_help = true)]
    pub phase_spans: bool,

    /// Most per-partition events on one span.
    #[arg(long, value_name = "N", default_value_t = 64, hide_short_help = true)]
    pub max_span_events: usize,

    /// Most trace-context links on one span.
    #[arg(long, value_name = "N", default_value_t = 32, hide_short_help = true)]
    pub max_span_links: usize,

    /// Most bytes one record batch may decompress to.
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20, hide_short_help = true)]
    pub max_batch_decompressed_bytes: u64,

    /// Most bytes decompressed on one connection, spent in the order its batches
    /// arrive (the same batches are cut whatever --threads says); past it, record
    /// headers are not read.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 30, hide_short_help = true)]
    pub max_decompressed_bytes: u64,

    /// Mixed into trace and span ids; change it to keep two runs' ids apart.
    #[arg(long, value_name = "N", default_value_t = 0, hide_short_help = true)]
    pub id_seed: u64,

    /// No progress bar, no summary.
    ///
    /// No progress bar, and no summary unless --summary or --summary-file asks for one
    /// (an explicit flag wins over -q).
    #[arg(short, long)]
    pub quiet: bool,

    /// Keep exchanges touching a matching topic.
    ///
    /// Keep exchanges touching a topic that matches PATTERN: an exact name or a glob
    /// ('*', '?', '[...]'); ids no Metadata response or --topic-map named match their
    /// UUID text. Exchanges without topics never match. Repeatable (any of them).
    #[arg(long, value_name = "PATTERN", help_heading = "Filters", value_hint = ValueHint::Other)]
    pub topic: Vec<String>,

    /// Keep exchanges of a matching client id.
    ///
    /// Keep exchanges whose request's client id matches PATTERN (exact or glob); a null
    /// client id never matches. Repeatable (any of them).
    #[arg(long, value_name = "PATTERN", help_heading = "Filters", value_hint = ValueHint::Other)]
    pub client_id: Vec<String>,

    /// Keep exchanges with this broker.
    ///
    /// Keep exchanges with this broker: its IP address as in server.address, and
    /// optionally its port ('10.0.0.5', '10.0.0.5:9092', '[::1]:9092'). Repeatable
    /// (any of them).
    #[arg(long, value_name = "HOST[:PORT]", help_heading = "Filters", value_hint = ValueHint::Other)]
    pub broker: Vec<String>,

    /// Keep exchanges that took DURATION or more.
    ///
    /// Keep exchanges whose span lasted at least DURATION (end − start), e.g. '5ms',
    /// '1.5s', '250us', '100ns'; a bare number is refused.
    #[arg(long, value_name = "DURATION", help_heading = "Filters", value_hint = ValueHint::Other)]
    pub min_duration: Option<String>,

    /// Keep only exchanges with a Kafka error.
    ///
    /// Keep only exchanges whose response carried a Kafka error code (the error.type
    /// of the span: Produce and Fetch responses). Bodies that did not decode are not
    /// errors here.
    #[arg(long, help_heading = "Filters")]
    pub errors_only: bool,

    /// Keep exchanges that started in [START, END).
    ///
    /// Keep exchanges whose span started in [START, END). Each side is RFC 3339
    /// ('2026-11-25T06:30:00Z', '...T07:30:00+01:00') or Unix seconds ('1795588200.5');
    /// either may be empty ('START..', '..END').
    #[arg(long, value_name = "START..END", help_heading = "Filters", value_hint = ValueHint::Other)]
    pub time_range: Option<String>,

    /// The summary at the end: text, full, json or off.
    ///
    /// The summary at the end (counters and a latency table of the exchanges that
    /// passed the filters): 'text' (compact, on stderr: no repeated rows, no idle
    /// phases), 'full' (text with every row and phase), 'json' (on stdout when no spans
    /// go there: with --no-spans, -o FILE, or an OTLP endpoint without -o; else stderr)
    /// or 'off' [default: text, or off with -q].
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        help_heading = "Summary",
        hide_possible_values = true
    )]
    pub summary: Option<SummaryFormat>,

    /// How many of the slowest exchanges to list.
    ///
    /// How many of the slowest exchanges the summary lists, with their breakdown and
    /// frame numbers (0: none).
    #[arg(long, value_name = "N", default_value_t = 5, help_heading = "Summary", value_hint = ValueHint::Other)]
    pub top: usize,

    /// Also write a self-contained HTML report to FILE.
    ///
    /// One HTML file, nothing fetched: latency over time per API and broker, the
    /// percentiles per topic, the slowest exchanges and what was skipped.
    #[arg(long, value_name = "FILE", help_heading = "Summary", value_hint = ValueHint::FilePath)]
    pub report: Option<PathBuf>,

    /// Write the summary to FILE instead (with -q too).
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Summary",
        hide_short_help = true,
        value_hint = ValueHint::FilePath
    )]
    pub summary_file: Option<PathBuf>,

    /// Write no spans at all, only the summary.
    ///
    /// Write no spans at all (no output file is created): only the summary.
    #[arg(long, conflicts_with = "output", help_heading = "Summary")]
    pub no_spans: bool,

    #[command(flatten)]
    pub replay: super::ReplayArgs,
}

/// `--format`'s span formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SpanFormat {
    OtlpJson,
    OtelStdout,
}

/// `--summary`'s formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SummaryFormat {
    /// Compact text: no repeated rows, no idle phases.
    Text,
    /// Text with every row and phase of the latency table.
    Full,
    Json,
    Off,
}
