//! The raw command-line flags, as clap parses them. Nothing here is validated beyond
//! its type; [`super::Config::from_args`] does that.

use std::path::PathBuf;

use clap::Parser;

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

Output: OTLP JSON Lines (one TracesData object per line), the format of the
OpenTelemetry Collector's otlpjsonfile receiver. A summary of what was found and
what was skipped goes to stderr.

Exit status: 0 success; 1 spans written but something was skipped or lost (see the
summary); 2 bad arguments; 3 an input could not be read or the output not written.";

/// Turn packet captures of Kafka traffic into OpenTelemetry spans, one per
/// request/response exchange, timed from the packets.
#[derive(Debug, Clone, Parser)]
#[command(name = "kapture", version, about, after_long_help = EXAMPLES, after_help = "Run 'kapture --help' for examples and exit statuses.")]
pub struct Args {
    /// pcap or pcapng files to read; '-' reads standard input.
    #[arg(value_name = "CAPTURE", required = true)]
    pub captures: Vec<PathBuf>,

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

    /// Worker threads for analysing connections [default: one per core].
    #[arg(short = 'j', long, value_name = "N")]
    pub threads: Option<usize>,

    /// Largest Kafka frame accepted, in bytes; longer length prefixes are treated as
    /// garbage.
    #[arg(long, value_name = "BYTES", default_value_t = 100 * 1024 * 1024)]
    pub max_frame_bytes: u64,

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

    /// Most bytes decompressed in the whole run; past it, record headers are not read.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 30)]
    pub max_decompressed_bytes: u64,

    /// Mixed into trace and span ids; change it to keep two runs' ids apart.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub id_seed: u64,

    /// Print no summary on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}
