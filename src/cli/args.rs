//! The raw command-line flags, as clap parses them. Nothing here is validated beyond
//! its type; [`super::Config::from_args`] does that.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  kapture capture.pcap > spans.jsonl
      Produce and Fetch spans of a capture taken on the Kafka port 9092.
  kapture --api all -o spans.jsonl capture.pcapng
      Every Kafka request, whatever its API.
  kapture --port 9093,19092 capture.pcap
      Brokers that listen on other ports.
  tcpdump -i any -w - 'tcp port 9092' | kapture -
      Read a capture from standard input.
  kapture --topic 'orders*' --min-duration 5ms capture.pcap
      Only exchanges touching a topic whose name starts with 'orders' that took at
      least 5 ms.
  kapture --api all --errors-only --broker 10.0.0.5:9092 capture.pcap
      Every exchange the broker 10.0.0.5:9092 answered with a Kafka error.
  kapture --no-spans --summary json --api all capture.pcap > summary.json
      No spans: the counters, the latency table and the conversation profile as JSON.
  kapture check capture.pcap --rules rules.toml --junit check.xml
      Test the capture's conversation against rules ('kapture check --help').
  kapture diff baseline.json capture.pcap --latency-tolerance 20%
      What changed since a saved summary or another capture ('kapture diff --help').
      A capture file named 'check' or 'diff' is given as './check'.

Filters combine with AND; a repeated flag matches any of its values. Exchanges the
filters leave out are counted ('filtered out') but not in the latency table.

Output: OTLP JSON Lines (one TracesData object per line), the format of the
OpenTelemetry Collector's otlpjsonfile receiver. A summary of what was found and
what was skipped, with a latency table (count, Kafka errors, p50/p90/p99/max of the
total time and of the write, wait and read phases, per API and broker, and per topic
for Produce and Fetch), goes to stderr.

Exit status: 0 success; 1 spans written but something was skipped or lost (see the
summary); 2 bad arguments; 3 an input could not be read or the output not written;
4 a replay (--otlp-endpoint) did not deliver every span.

A progress bar (bytes read, exchanges found) shows on stderr when it is a terminal,
unless --quiet. kapture prints no colour, so NO_COLOR is always respected.
'kapture --generate man' prints the man page; '--generate bash|zsh|fish|elvish|powershell'
prints shell completions.";

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

/// Turn packet captures of Kafka traffic into OpenTelemetry spans, one per
/// request/response exchange, timed from the packets.
#[derive(Debug, Clone, Parser)]
#[command(name = "kapture", version, about, after_long_help = EXAMPLES, after_help = "Run 'kapture --help' for examples and exit statuses.")]
pub struct Args {
    /// pcap or pcapng files to read; '-' reads standard input.
    #[arg(value_name = "CAPTURE", required_unless_present = "generate")]
    pub captures: Vec<PathBuf>,

    /// Print the man page or a shell completion script, then exit.
    #[arg(long, value_name = "KIND", exclusive = true)]
    pub generate: Option<Generate>,

    /// Write the spans to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Kafka APIs to turn into spans: names or numbers, comma-separated, or 'all'.
    #[arg(long, value_name = "LIST", default_value = "produce,fetch")]
    pub api: String,

    /// Broker ports, comma-separated. Without it, port 9092 is Kafka and other ports
    /// are recognised by their request headers.
    #[arg(long, value_name = "LIST")]
    pub port: Option<String>,

    /// The service.name resource attribute of the spans.
    #[arg(long, value_name = "NAME", default_value = "kapture")]
    pub service_name: String,

    /// Worker threads for reading the capture, analysing connections and building
    /// spans [default: one per core]; spans are written by one more thread.
    #[arg(short = 'j', long, value_name = "N")]
    pub threads: Option<usize>,

    /// Largest Kafka frame accepted, in bytes; longer length prefixes are treated as
    /// garbage.
    #[arg(long, value_name = "BYTES", default_value_t = 100 * 1024 * 1024)]
    pub max_frame_bytes: u64,

    /// Most requests waiting for a response on one connection at once; past it the
    /// oldest is given up as unanswered (and counted).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_in_flight: usize,

    /// Topic names for topic ids the capture never names: a file of
    /// '<topic id> <name>' lines (Fetch v13+ and Produce v13 carry only ids).
    #[arg(long, value_name = "FILE")]
    pub topic_map: Option<PathBuf>,

    /// Do not read record headers: no trace-context links, no decompression (faster).
    #[arg(long)]
    pub no_record_links: bool,

    /// Make each span a child of the producer's trace context when its records carry
    /// exactly one, so it shows inside the application's trace.
    #[arg(long)]
    pub parent_from_records: bool,

    /// Add a child span per phase: the request's write and the response's read.
    #[arg(long)]
    pub phase_spans: bool,

    /// Most per-partition events on one span.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_span_events: usize,

    /// Most trace-context links on one span.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub max_span_links: usize,

    /// Most bytes one record batch may decompress to.
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20)]
    pub max_batch_decompressed_bytes: u64,

    /// Most bytes decompressed in the whole run, spent in output order (the same batches
    /// are cut whatever --threads says); past it, record headers are not read.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 30)]
    pub max_decompressed_bytes: u64,

    /// Mixed into trace and span ids; change it to keep two runs' ids apart.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub id_seed: u64,

    /// No progress bar, and no summary unless --summary or --summary-file asks for one
    /// (an explicit flag wins over -q).
    #[arg(short, long)]
    pub quiet: bool,

    /// Keep exchanges touching a topic that matches PATTERN: an exact name or a glob
    /// ('*', '?', '[...]'); ids no Metadata response or --topic-map named match their
    /// UUID text. Exchanges without topics never match. Repeatable (any of them).
    #[arg(long, value_name = "PATTERN", help_heading = "Filters")]
    pub topic: Vec<String>,

    /// Keep exchanges whose request's client id matches PATTERN (exact or glob); a null
    /// client id never matches. Repeatable (any of them).
    #[arg(long, value_name = "PATTERN", help_heading = "Filters")]
    pub client_id: Vec<String>,

    /// Keep exchanges with this broker: its IP address as in server.address, and
    /// optionally its port ('10.0.0.5', '10.0.0.5:9092', '[::1]:9092'). Repeatable
    /// (any of them).
    #[arg(long, value_name = "HOST[:PORT]", help_heading = "Filters")]
    pub broker: Vec<String>,

    /// Keep exchanges whose span lasted at least DURATION (end − start), e.g. '5ms',
    /// '1.5s', '250us', '100ns'.
    #[arg(long, value_name = "DURATION", help_heading = "Filters")]
    pub min_duration: Option<String>,

    /// Keep only exchanges whose response carried a Kafka error code (the error.type
    /// of the span: Produce and Fetch responses). Bodies that did not decode are not
    /// errors here.
    #[arg(long, help_heading = "Filters")]
    pub errors_only: bool,

    /// Keep exchanges whose span started in [START, END). Each side is RFC 3339
    /// ('2026-11-25T06:30:00Z', '...T07:30:00+01:00') or Unix seconds ('1795588200.5');
    /// either may be empty ('START..', '..END').
    #[arg(long, value_name = "START..END", help_heading = "Filters")]
    pub time_range: Option<String>,

    /// The summary at the end (counters and a latency table of the exchanges that
    /// passed the filters): 'text' (on stderr), 'json' (on stdout when no spans go
    /// there: with --no-spans, -o FILE, or an OTLP endpoint without -o; else stderr) or
    /// 'off' [default: text, or off with -q].
    #[arg(long, value_enum, value_name = "FORMAT", help_heading = "Summary")]
    pub summary: Option<SummaryFormat>,

    /// How many of the slowest exchanges the summary lists, with their breakdown and
    /// frame numbers (0: none).
    #[arg(long, value_name = "N", default_value_t = 5, help_heading = "Summary")]
    pub top: usize,

    /// Also write a self-contained HTML report to FILE.
    ///
    /// One HTML file, nothing fetched: latency over time per API and broker, the
    /// percentiles per topic, the slowest exchanges and what was skipped.
    #[arg(long, value_name = "FILE", help_heading = "Summary", value_hint = ValueHint::FilePath)]
    pub report: Option<PathBuf>,

    /// Write the summary to FILE instead (with -q too).
    #[arg(long, value_name = "FILE", help_heading = "Summary")]
    pub summary_file: Option<PathBuf>,

    /// Write no spans at all (no output file is created): only the summary.
    #[arg(long, conflicts_with = "output", help_heading = "Summary")]
    pub no_spans: bool,

    #[command(flatten)]
    pub replay: super::ReplayArgs,
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
