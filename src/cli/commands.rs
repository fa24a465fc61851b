//! The `check`, `diff` and `summary-merge` subcommands. They are told apart from captures by the first
//! argument alone (`kapture check ...`), so plain `kapture CAPTURE...` is untouched;
//! a capture file named `check` or `diff` is read as `./check`.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::check;
use crate::diff::{self, Tolerances};
use crate::profile::{self, ReadOptions};

/// The runner of a subcommand, given its arguments (its name first).
pub type Command = fn(&[OsString]) -> i32;

/// The subcommand the first argument names, if any.
pub fn dispatch(first: &OsStr) -> Option<Command> {
    match first.to_str()? {
        "check" => Some(run_check),
        "diff" => Some(run_diff),
        "summary-merge" => Some(run_summary_merge),
        _ => None,
    }
}

const CHECK_HELP: &str = "\
Rules (TOML): one [[rule]] table per expectation, with 'expect' and optional selection
keys (client_id, topic: globs; api: a name or number; broker: HOST[:PORT]; long_polls:
true keeps long-poll Fetches in latencies); a [select] table gives the selection of
every rule. Examples:
  [[rule]]
  expect = \"produce.acks == -1\"
  [[rule]]
  expect = \"produce.codecs in [zstd, lz4]\"
  [[rule]]
  expect = \"fetch.p99 < 100ms\"
  [[rule]]
  name = \"no Metadata storm\"
  client_id = \"orders-*\"
  expect = \"count(Metadata) <= 10\"

Exit status: 0 every rule passed; 1 a rule failed; 2 a bad rule file (the message
names its line), bad arguments, an unreadable input, or a rule a saved summary cannot
answer.";

/// Check captures against rules: one line per rule, pass or fail with the value
/// measured.
#[derive(Debug, Parser)]
#[command(name = "kapture check", after_long_help = CHECK_HELP)]
pub struct CheckArgs {
    /// Captures (pcap, pcapng), spans files (kapture's OTLP JSON Lines) or JSON
    /// summaries (--summary json), each checked on its own.
    #[arg(value_name = "CAPTURE", required = true)]
    pub inputs: Vec<PathBuf>,
    /// The rule file (TOML).
    #[arg(long, value_name = "FILE")]
    pub rules: PathBuf,
    /// Also write the results as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Broker ports, comma-separated (as for kapture itself).
    #[arg(long, value_name = "LIST")]
    pub port: Option<String>,
    /// Print only failing rules.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `diff`'s output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Text,
    Json,
}

const DIFF_HELP: &str = "\
Compared per client id and API: request counts, API versions, acks, codecs,
idempotence, errors by name, unanswered requests, records / record bytes / batches per
request (p50, max), and the p50 and p99 of each latency phase (total, write, wait,
read; long-poll Fetches left out). Times of day and ids never count. A client/API pair
on one side only is 'added' or 'removed'; APIs a saved summary did not cover (--api)
are skipped.

Exit status: 0 no change beyond the tolerances; 1 something changed; 2 bad arguments
or an unreadable input.";

/// Compare the Kafka conversations of two captures, saved summaries or spans files.
#[derive(Debug, Parser)]
#[command(name = "kapture diff", after_long_help = DIFF_HELP)]
pub struct DiffArgs {
    /// The baseline: a capture, a JSON summary (--summary json) or a spans file.
    #[arg(value_name = "OLD")]
    pub old: PathBuf,
    /// What to compare with it.
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
    /// How far latency percentiles may move, relatively.
    #[arg(long, value_name = "PERCENT", default_value = "20%")]
    pub latency_tolerance: String,
    /// Latency moves smaller than DURATION never count (e.g. 500us).
    #[arg(long, value_name = "DURATION", default_value = "0ns")]
    pub latency_floor: String,
    /// How far request and error counts may move: 'N' requests or 'N%'
    /// [default: exact].
    #[arg(long, value_name = "N|PERCENT")]
    pub count_tolerance: Option<String>,
    /// How far records, bytes and batches per request may move [default: exact].
    #[arg(long, value_name = "PERCENT")]
    pub size_tolerance: Option<String>,
    /// Compare requests per second too, within PERCENT [default: not compared].
    #[arg(long, value_name = "PERCENT")]
    pub rate_tolerance: Option<String>,
    /// One row per API for all clients together, instead of one per client id (for
    /// clients whose ids differ).
    #[arg(long)]
    pub all_clients: bool,
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
    /// Broker ports, comma-separated (as for kapture itself).
    #[arg(long, value_name = "LIST")]
    pub port: Option<String>,
}

/// Parses a subcommand's flags; errors say `kapture: ...` like the main command's.
fn parse<T: Parser>(args: &[OsString]) -> Result<T, i32> {
    super::usage::parse_or_status(args)
}

fn read_options(port: &Option<String>) -> Result<ReadOptions, String> {
    Ok(ReadOptions {
        ports: port
            .as_deref()
            .map(super::parse_port_list)
            .transpose()
            .map_err(|e| format!("--port: {e}"))?,
    })
}

fn run_check(argv: &[OsString]) -> i32 {
    let args: CheckArgs = match parse(argv) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let rules_name = args.rules.display().to_string();
    let text = match std::fs::read_to_string(&args.rules) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("kapture: check: {rules_name}: cannot read: {e}");
            return 2;
        }
    };
    let rules = match check::parse_rules(&rules_name, &text) {
        Ok(r) => r,
        Err(check::BadRules(msg)) => {
            eprintln!("kapture: check: bad rule file: {msg}");
            return 2;
        }
    };
    let options = match read_options(&args.port) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("kapture: check: {e}");
            return 2;
        }
    };
    let mut reports = Vec::new();
    for input in &args.inputs {
        let name = input.display().to_string();
        let loaded = match profile::load(input, &options) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("kapture: check: {e}");
                return 2;
            }
        };
        reports.push(check::check(&name, &loaded, &rules));
    }
    for r in &reports {
        let text = r.text(&rules_name);
        if args.quiet {
            for line in text.lines().filter(|l| !l.trim_start().starts_with("PASS")) {
                println!("{line}");
            }
        } else {
            print!("{text}");
        }
    }
    if let Some(path) = &args.junit
        && let Err(e) = std::fs::write(path, check::junit(&reports, &rules_name))
    {
        eprintln!("kapture: check: cannot write {}: {e}", path.display());
        return 2;
    }
    if reports.iter().any(check::Report::unanswerable) {
        2
    } else if reports.iter().any(|r| r.failures() > 0) {
        1
    } else {
        0
    }
}

/// `20%` → 0.2.
fn percent(flag: &str, text: &str) -> Result<f64, String> {
    text.trim()
        .strip_suffix('%')
        .and_then(|n| n.trim().parse::<f64>().ok())
        .filter(|n| *n >= 0.0 && n.is_finite())
        .map(|n| n / 100.0)
        .ok_or_else(|| format!("{flag} '{text}': expected a percentage such as 20%"))
}

fn tolerances(args: &DiffArgs) -> Result<Tolerances, String> {
    let mut t = Tolerances {
        latency: percent("--latency-tolerance", &args.latency_tolerance)?,
        latency_floor_ns: crate::filter::parse_duration_ns(&args.latency_floor)
            .map_err(|e| format!("--latency-floor '{}': {e}", args.latency_floor))?,
        ..Tolerances::default()
    };
    if let Some(c) = &args.count_tolerance {
        if c.trim().ends_with('%') {
            t.count = percent("--count-tolerance", c)?;
        } else {
            t.count_abs = c.trim().parse().map_err(|_| {
                format!("--count-tolerance '{c}': expected a number of requests or a percentage")
            })?;
        }
    }
    if let Some(s) = &args.size_tolerance {
        t.size = percent("--size-tolerance", s)?;
    }
    if let Some(r) = &args.rate_tolerance {
        t.rate = Some(percent("--rate-tolerance", r)?);
    }
    Ok(t)
}

fn run_diff(argv: &[OsString]) -> i32 {
    let args: DiffArgs = match parse(argv) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let setup = tolerances(&args).and_then(|t| read_options(&args.port).map(|o| (t, o)));
    let (tol, options) = match setup {
        Ok(x) => x,
        Err(e) => {
            eprintln!("kapture: diff: {e}");
            return 2;
        }
    };
    let load = |p: &PathBuf| profile::load(p, &options).map(|l| l.profile());
    let (old, new) = match (load(&args.old), load(&args.new)) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("kapture: diff: {e}");
            return 2;
        }
    };
    let changes = diff::diff(&old, &new, &tol, !args.all_clients);
    let (a, b) = (
        args.old.display().to_string(),
        args.new.display().to_string(),
    );
    match args.format {
        DiffFormat::Text => print!("{}", diff::text(&a, &b, &changes, &tol)),
        DiffFormat::Json => print!("{}", diff::json_text(&a, &b, &changes)),
    }
    i32::from(!changes.is_empty())
}

/// `summary-merge`'s output formats: as `--summary` writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MergeFormat {
    /// The text summary, compact latency table.
    Text,
    /// The text summary with every row and phase.
    Full,
    /// The JSON summary, mergeable again.
    Json,
}

const SUMMARY_MERGE_HELP: &str = "\
Counts add up exactly. Latency, broker and profile rows with the same key merge the
HdrHistograms they carry: their p50/p90/p99 come from the merged histogram (2
significant digits: at most 1/128 above the exact value); count, max, min and sum stay
exact. The slowest exchanges are the slowest of all the lists; their 'input' is the
position among the inputs of the run that wrote them.

Exit status: 0 merged; 2 bad arguments, or an input that cannot be read, is not a JSON
summary, or is of another summary version (the message names the file); 3 the
output could not be written.";

/// Add up JSON summaries (--summary json / --summary-file) of separate runs, e.g.
/// the tasks of one job.
#[derive(Debug, Parser)]
#[command(name = "kapture summary-merge", after_long_help = SUMMARY_MERGE_HELP)]
pub struct SummaryMergeArgs {
    /// JSON summaries written by `kapture --summary json`.
    #[arg(value_name = "SUMMARY", required = true)]
    pub inputs: Vec<PathBuf>,
    /// The merged summary's format.
    #[arg(long, value_enum, default_value_t = MergeFormat::Text)]
    pub summary: MergeFormat,
    /// Write the merged summary to FILE (written beside it, then renamed) instead of
    /// standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

fn run_summary_merge(argv: &[OsString]) -> i32 {
    let args: SummaryMergeArgs = match parse(argv) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let mut merged = match crate::merge::merge_files(&args.inputs) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("kapture: summary-merge: {e}");
            return 2;
        }
    };
    merged.full = args.summary == MergeFormat::Full;
    let text = match args.summary {
        MergeFormat::Json => merged.json_text(),
        MergeFormat::Text | MergeFormat::Full => format!("{merged}\n"),
    };
    let written = match &args.output {
        Some(path) => super::output::write_whole(path, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display())),
        None => {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .map_err(|e| format!("cannot write: {e}"))
        }
    };
    match written {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("kapture: summary-merge: {e}");
            3
        }
    }
}
