//! How kapture talks about its command line: the examples and exit statuses (shared by
//! `--help` and the man page), clap's errors in kapture's own words, the man page, and
//! the values shells complete after `--api`.

use std::ffi::OsString;
use std::io::{self, Write};

use clap::builder::{PossibleValue, TypedValueParser};
use clap::error::{ContextKind, ContextValue, ErrorKind};

use crate::kafka::api;

/// `(command, what it does)`, in `--help` and the man page's EXAMPLES.
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "kapture capture.pcap > spans.jsonl",
        "Produce and Fetch spans of a capture taken on the Kafka port 9092.",
    ),
    (
        "kapture --api all -o spans.jsonl capture.pcapng",
        "Every Kafka request, whatever its API.",
    ),
    (
        "kapture --port 9093,19092 capture.pcap",
        "Brokers that listen on other ports.",
    ),
    (
        "tcpdump -i any -w - 'tcp port 9092' | kapture -",
        "Read a capture from standard input.",
    ),
    (
        "kapture --topic 'orders*' --min-duration 5ms capture.pcap",
        "Only exchanges touching a topic whose name starts with 'orders' that took at \
         least 5 ms.",
    ),
    (
        "kapture --api all --errors-only --broker 10.0.0.5:9092 capture.pcap",
        "Every exchange the broker 10.0.0.5:9092 answered with a Kafka error.",
    ),
    (
        "kapture --no-spans --summary json --api all capture.pcap > summary.json",
        "No spans: the counters, the latency table and the conversation profile as JSON.",
    ),
    (
        "kapture check capture.pcap --rules rules.toml --junit check.xml",
        "Test the capture's conversation against rules ('kapture check --help').",
    ),
    (
        "kapture diff baseline.json capture.pcap --latency-tolerance 20%",
        "What changed since a saved summary or another capture ('kapture diff --help'). \
         A capture file named 'check' or 'diff' is given as './check'.",
    ),
    (
        "kapture --format otel-stdout --api all capture.pcap | less",
        "Read the spans in a terminal, as the OpenTelemetry SDK's stdout exporter prints \
         them.",
    ),
    (
        "kapture --otlp-endpoint http://localhost:4318 capture.pcap",
        "Send the spans to an OTLP/HTTP receiver (Jaeger, the OpenTelemetry Collector).",
    ),
];

/// `(status, meaning)`, in `--help` and the man page's EXIT STATUS.
pub const EXIT_STATUSES: &[(u8, &str)] = &[
    (0, "Success: everything was read and nothing was skipped."),
    (
        1,
        "Spans were written, but something was skipped or lost (see the summary).",
    ),
    (
        2,
        "Bad arguments: an unknown flag, a bad value or no capture (the message says which).",
    ),
    (
        3,
        "An input could not be read or is not a capture, or the output could not be \
         written.",
    ),
    (
        4,
        "A replay (--otlp-endpoint) did not deliver every span to the endpoint.",
    ),
];

/// Paragraphs after the examples and exit statuses in `--help`, and the man page's
/// NOTES.
pub const NOTES: &[&str] = &[
    "Filters combine with AND; a repeated flag matches any of its values. Exchanges the \
     filters leave out are counted ('filtered out') but not in the latency table.",
    "Durations take a unit: 100ns, 250us, 5ms, 1.5s, 1m. A bare number is refused \
     rather than guessed (the OTEL_EXPORTER_OTLP_*TIMEOUT variables are milliseconds, \
     as the OpenTelemetry specification says).",
    "Output: OTLP JSON Lines (one TracesData object per line), the format of the \
     OpenTelemetry Collector's otlpjsonfile receiver. A summary of what was found and \
     what was skipped, with a latency table per API and broker, and per topic for \
     Produce and Fetch, goes to stderr.",
    "Replay (--otlp-endpoint) retries a request after a connection failure or a \
     429/502/503/504 answer, with exponential backoff (0.5 s doubling up to 8 s), for at \
     most 15 s per outage (--otlp-retry-budget; an accepted request refills it); the \
     first failure is reported at once.",
    "A progress bar (bytes read, packets, connections and spans written) shows on \
     stderr when it is a terminal, unless --quiet. kapture prints no colour, so \
     NO_COLOR is always respected.",
    "'kapture --generate man' prints the man page; '--generate \
     bash|zsh|fish|elvish|powershell' prints shell completions.",
];

/// `--help`'s text after the options: examples, exit statuses and notes, wrapped for an
/// 80-column terminal.
pub fn after_long_help() -> String {
    let mut text = String::from("Examples:\n");
    for (command, what) in EXAMPLES {
        text.push_str(&format!("  {command}\n"));
        for line in wrap(what, 74) {
            text.push_str(&format!("      {line}\n"));
        }
    }
    text.push_str("\nExit status:\n");
    for (code, what) in EXIT_STATUSES {
        let mut lines = wrap(what, 74).into_iter();
        text.push_str(&format!(
            "  {code}   {}\n",
            lines.next().unwrap_or_default()
        ));
        for line in lines {
            text.push_str(&format!("      {line}\n"));
        }
    }
    for note in NOTES {
        text.push('\n');
        for line in wrap(note, 80) {
            text.push_str(&line);
            text.push('\n');
        }
    }
    text.trim_end().to_string()
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// What a failed parse prints, and the exit status: help and version go to stdout
/// with status 0; errors go to stderr as `kapture: ...` with status 2.
pub fn clap_failure(e: &clap::Error) -> i32 {
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return 0;
    }
    eprint!("{}", error_text(e));
    e.exit_code()
}

/// A clap error as kapture words it: one `kapture: ` prefix, no tip about `--` for a
/// flag kapture does not have, and tshark's `-r FILE` answered.
pub fn error_text(e: &clap::Error) -> String {
    let invalid = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => Some(s.as_str()),
        _ => None,
    };
    if e.kind() == ErrorKind::UnknownArgument
        && invalid.is_some_and(|a| a == "-r" || a.starts_with("-r") && !a.starts_with("--"))
    {
        return "kapture: kapture takes the capture as an argument, without -r: \
                kapture FILE (tshark -r FILE is kapture FILE)\n\n\
                For more information, try '--help'.\n"
            .to_string();
    }
    let rendered = e.render().to_string();
    let mut out = String::new();
    for line in rendered.lines() {
        // "to pass '--bogus' as a value, use '-- --bogus'": not what a mistyped flag
        // needs.
        if line.contains("as a value, use '-- ") {
            continue;
        }
        out.push_str(line.strip_prefix("error: ").unwrap_or(line));
        out.push('\n');
    }
    // Two blank lines where a tip was dropped.
    while out.contains("\n\n\n") {
        out = out.replace("\n\n\n", "\n\n");
    }
    format!("kapture: {}", out.trim_start())
}

/// Parses `argv` (the program name first) into `T`, or prints why not and gives the
/// status to exit with.
pub fn parse_or_status<T: clap::Parser>(argv: &[OsString]) -> Result<T, i32> {
    T::try_parse_from(argv).map_err(|e| clap_failure(&e))
}

/// The man page: clap_mangen's sections, with EXAMPLES, EXIT STATUS and NOTES
/// sections of kapture's own instead of one "EXTRA".
pub fn man_page(cmd: clap::Command, out: &mut dyn Write) -> io::Result<()> {
    let man = clap_mangen::Man::new(cmd);
    let mut title = Vec::new();
    man.render_title(&mut title)?;
    let title = String::from_utf8_lossy(&title).into_owned();
    // Every piece starts with the same preamble (the apostrophe string): keep one.
    let preamble = title.find(".TH").map_or("", |at| &title[..at]).to_string();
    out.write_all(title.as_bytes())?;
    type Render = fn(&clap_mangen::Man, &mut dyn Write) -> io::Result<()>;
    let sections: [Render; 4] = [
        clap_mangen::Man::render_name_section,
        clap_mangen::Man::render_synopsis_section,
        clap_mangen::Man::render_description_section,
        clap_mangen::Man::render_options_section,
    ];
    let piece = |render: Render, out: &mut dyn Write| -> io::Result<()> {
        let mut buf = Vec::new();
        render(&man, &mut buf)?;
        let text = String::from_utf8_lossy(&buf);
        out.write_all(text.strip_prefix(&preamble).unwrap_or(&text).as_bytes())
    };
    for render in sections {
        piece(render, out)?;
    }
    let mut roff = String::from(".SH EXAMPLES\n");
    for (command, what) in EXAMPLES {
        roff.push_str(&format!(
            ".TP\n\\fB{}\\fR\n{}\n",
            roff_text(command),
            roff_text(what)
        ));
    }
    roff.push_str(".SH \"EXIT STATUS\"\n");
    for (code, what) in EXIT_STATUSES {
        roff.push_str(&format!(".TP\n\\fB{code}\\fR\n{}\n", roff_text(what)));
    }
    roff.push_str(".SH NOTES\n");
    for (i, note) in NOTES.iter().enumerate() {
        if i > 0 {
            roff.push_str(".PP\n");
        }
        roff.push_str(&roff_text(note));
        roff.push('\n');
    }
    out.write_all(roff.as_bytes())?;
    piece(clap_mangen::Man::render_version_section, out)
}

/// Text for a roff text line: backslashes, dashes and apostrophes escaped, and no
/// leading control character.
fn roff_text(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('-', "\\-")
        .replace('\'', "\\*(Aq");
    if escaped.starts_with('.') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// `--api`'s values: any text (the list is checked later, with a message of its own),
/// with the API names and `all` offered to shell completion.
#[derive(Clone, Copy, Debug, Default)]
pub struct ApiList;

impl TypedValueParser for ApiList {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        clap::builder::StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        let names = (0..=api::MAX_KEY).filter_map(api::operation_name);
        Some(Box::new(
            std::iter::once(PossibleValue::new("all"))
                .chain(names.map(PossibleValue::new))
                .collect::<Vec<_>>()
                .into_iter(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_every_word_within_the_width() {
        let text = "a bb ccc dddd eeeee ffffff";
        let lines = wrap(text, 8);
        assert!(lines.iter().all(|l| l.chars().count() <= 8), "{lines:?}");
        assert_eq!(lines.join(" "), text);
    }

    #[test]
    fn roff_text_is_escaped() {
        assert_eq!(roff_text("--api 'x'"), "\\-\\-api \\*(Aqx\\*(Aq");
        assert_eq!(roff_text(".5 s"), "\\&.5 s");
        assert_eq!(roff_text("a\\b"), "a\\\\b");
    }

    #[test]
    fn api_names_are_offered_and_any_text_accepted() {
        let values: Vec<String> = ApiList
            .possible_values()
            .unwrap()
            .map(|v| v.get_name().to_string())
            .collect();
        for name in ["all", "produce", "fetch", "api_versions", "metadata"] {
            assert!(values.iter().any(|v| v == name), "{name}");
        }
        let cmd = clap::Command::new("t");
        assert_eq!(
            ApiList
                .parse_ref(&cmd, None, std::ffi::OsStr::new("produce,1"))
                .unwrap(),
            "produce,1"
        );
    }
}
