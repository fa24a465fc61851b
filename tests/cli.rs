//! The kapture binary from the outside: flags, exit statuses, messages, stdin, output
//! files and several inputs.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn help_explains_usage_and_exit_statuses() {
    // An 80-column terminal and clap's default width alike.
    for columns in ["80", "100"] {
        let short = Command::new(env!("CARGO_BIN_EXE_kapture"))
            .arg("-h")
            .env("COLUMNS", columns)
            .output()
            .unwrap();
        assert_eq!(short.status.code(), Some(0));
        let text = String::from_utf8_lossy(&short.stdout);
        // The capture is required: <CAPTURE>, not [CAPTURE].
        assert!(
            text.contains("Usage: kapture [OPTIONS] <CAPTURE>..."),
            "{text}"
        );
        assert!(text.contains("--api <LIST>"), "{text}");
        assert!(text.contains("--min-duration <DURATION>"), "{text}");
        assert!(
            text.lines().count() < 40,
            "-h is {} lines at {columns} columns:\n{text}",
            text.lines().count()
        );
        // The rarely needed flags are left to --help.
        assert!(!text.contains("--max-in-flight"), "{text}");
    }
    let long = kapture(["--help"]);
    assert_eq!(long.status.code(), Some(0));
    let text = String::from_utf8_lossy(&long.stdout);
    assert!(
        text.contains("Examples:") && text.contains("Exit status:"),
        "{text}"
    );
    assert!(
        text.contains("Usage: kapture [OPTIONS] <CAPTURE>..."),
        "{text}"
    );
    for flag in ["--max-in-flight", "--otlp-retry-budget", "--service-name"] {
        assert!(text.contains(flag), "{flag} in --help");
    }
    for code in 0..=4 {
        assert!(
            text.contains(&format!("\n  {code}   ")),
            "exit status {code}"
        );
    }
    let version = kapture(["--version"]);
    assert_eq!(version.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("kapture "));
}

#[test]
fn generate_needs_no_capture_but_the_rest_does() {
    let out = kapture(["--generate", "bash"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = kapture(["--api", "all"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("<CAPTURE>"), "{}", stderr(&out));
}

#[test]
fn tshark_read_flag_gets_a_pointed_answer() {
    for args in [
        vec!["-r", "testdata/nano.pcap"],
        vec!["-rtestdata/nano.pcap"],
    ] {
        let out = kapture(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(err.starts_with("kapture: "), "{err}");
        assert!(err.contains("kapture FILE"), "{err}");
        // Not clap's tip about passing '-r' as a value.
        assert!(!err.contains("'-- -r"), "{err}");
    }
}

#[test]
fn every_error_starts_with_kapture() {
    for args in [
        vec!["--bogus", "x.pcap"],
        vec![],
        vec!["--summary", "yaml", "x.pcap"],
        vec!["-j", "many", "x.pcap"],
        vec!["--apii", "all", "x.pcap"],
        vec!["--api", "nosuch", "x.pcap"],
        vec!["--generate", "bash", "x.pcap"],
        vec!["--min-duration", "fast", "x.pcap"],
    ] {
        let out = kapture(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("kapture: "), "{args:?}: {err}");
        assert!(
            !err.lines().any(|l| l.starts_with("error:")),
            "{args:?}: {err}"
        );
        assert!(
            !err.contains("as a value, use '--"),
            "{args:?}: no tip about '--' for a mistyped flag: {err}"
        );
    }
    // A near miss still gets clap's suggestion.
    assert!(stderr(&kapture(["--apii", "all", "x.pcap"])).contains("'--api'"));
}

#[test]
fn bare_numbers_are_no_duration_for_any_flag() {
    for args in [
        vec!["--min-duration", "5", "testdata/nano.pcap"],
        vec![
            "--otlp-endpoint",
            "http://127.0.0.1:9",
            "--otlp-timeout",
            "5",
            "testdata/nano.pcap",
        ],
        vec![
            "--otlp-endpoint",
            "http://127.0.0.1:9",
            "--otlp-retry-budget",
            "5",
            "testdata/nano.pcap",
        ],
        vec![
            "diff",
            "testdata/nano.pcap",
            "testdata/nano.pcap",
            "--latency-floor",
            "5",
        ],
    ] {
        let out = kapture(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("a duration needs a unit: 5ms"),
            "{args:?}: {err}"
        );
    }
    // With a unit, the same flag works.
    let out = kapture(["-q", "--min-duration", "5ms", "testdata/nano.pcap"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn completion_offers_api_names_and_summary_formats() {
    let bash = kapture(["--generate", "bash"]);
    let text = String::from_utf8_lossy(&bash.stdout);
    let case = |flag: &str| -> String {
        let at = text
            .find(&format!("                {flag})"))
            .unwrap_or_else(|| panic!("{flag} in the bash completion"));
        let rest = &text[at..];
        rest[..rest.find(";;").unwrap()].to_string()
    };
    let api = case("--api");
    assert!(!api.contains("compgen -f"), "not file names: {api}");
    for name in ["all", "produce", "fetch", "api_versions", "join_group"] {
        assert!(
            api.split(['"', ' ']).any(|w| w == name),
            "{name} offered: {api}"
        );
    }
    let summary = case("--summary");
    assert!(
        summary.contains("compgen -W \"text full json off\""),
        "{summary}"
    );
    // Files where files are meant.
    assert!(case("--output").contains("compgen -f"));
    let zsh = String::from_utf8_lossy(&kapture(["--generate", "zsh"]).stdout).into_owned();
    assert!(zsh.contains("api_versions"), "zsh offers API names too");
}

#[test]
fn bad_arguments_exit_2_with_a_reason() {
    for (args, needle) in [
        (
            vec!["--api", "produce,nosuch", "x.pcap"],
            "unknown Kafka API 'nosuch'",
        ),
        (vec!["--port", "0", "x.pcap"], "'0' is not a TCP port"),
        (vec!["--port", "http", "x.pcap"], "'http' is not a TCP port"),
        (vec!["-j", "0", "x.pcap"], "--threads must be at least 1"),
        (vec!["-", "-"], "standard input"),
        (vec![], "CAPTURE"),
    ] {
        let out = kapture(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn api_accepts_names_numbers_and_all() {
    let count = |api: &str| {
        let out = kapture(["-q", "--api", api, "testdata/basic-kafka-python.pcap"]);
        assert!(out.status.success(), "{api}: {out:?}");
        parse_spans(&out.stdout).len()
    };
    assert_eq!(count("produce"), 4);
    assert_eq!(count("0"), 4);
    assert_eq!(count("Produce,1"), 5);
    assert_eq!(count("api_versions"), 4);
    assert_eq!(count("all"), 13);
}

#[test]
fn summary_counts_found_emitted_and_filtered() {
    let out = kapture(["testdata/basic-kafka-python.pcap"]);
    assert_eq!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(err.contains("60 packets in 1 file(s)"), "{err}");
    assert!(err.contains("4 TCP connections, 4 Kafka"), "{err}");
    assert!(
        err.contains("13 found, 5 emitted as spans, 8 filtered out"),
        "{err}"
    );
    assert!(
        kapture(["-q", "testdata/basic-kafka-python.pcap"])
            .stderr
            .is_empty()
    );
}

#[test]
fn reads_standard_input() {
    let bytes = std::fs::read(testdata("nano.pcap")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kapture"))
        .args(["-q", "--api", "all", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let from_file = kapture(["-q", "--api", "all", "testdata/nano.pcap"]);
    assert_eq!(out.stdout, from_file.stdout);
}

#[test]
fn writes_to_an_output_file() {
    let path = std::env::temp_dir().join(format!("kapture-cli-{}.jsonl", std::process::id()));
    let out = kapture(["-q", "-o", path.to_str().unwrap(), "testdata/nano.pcap"]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    let written = std::fs::read(&path).unwrap();
    assert_eq!(parse_spans(&written).len(), 2);
    std::fs::remove_file(&path).unwrap();
    let bad = kapture(["-q", "-o", "/nonexistent-dir/x.jsonl", "testdata/nano.pcap"]);
    assert_eq!(bad.status.code(), Some(3));
    assert!(stderr(&bad).contains("/nonexistent-dir/x.jsonl"));
}

#[test]
fn several_inputs_give_distinct_ids() {
    let one = parse_spans(&kapture(["-q", "testdata/nano.pcap"]).stdout);
    let twice = parse_spans(&kapture(["-q", "testdata/nano.pcap", "testdata/nano.pcap"]).stdout);
    assert_eq!(twice.len(), 2 * one.len());
    let ids: std::collections::HashSet<_> = twice.iter().map(|s| s.span_id.clone()).collect();
    assert_eq!(
        ids.len(),
        twice.len(),
        "the same exchange in two inputs gets two ids"
    );
}

#[test]
fn explicit_ports_exclude_other_ports() {
    let out = kapture(["--port", "9093", "testdata/basic-kafka-python.pcap"]);
    assert!(parse_spans(&out.stdout).is_empty());
    assert!(stderr(&out).contains("0 Kafka"), "{}", stderr(&out));
    let out = kapture(["-q", "--port", "9092", "testdata/basic-kafka-python.pcap"]);
    assert_eq!(parse_spans(&out.stdout).len(), 5);
}

#[test]
fn generates_a_man_page_and_completions() {
    let man = kapture(["--generate", "man"]);
    assert_eq!(man.status.code(), Some(0));
    let text = String::from_utf8_lossy(&man.stdout);
    assert!(
        text.contains(".TH kapture 1") && text.contains("otlp\\-endpoint"),
        "{text}"
    );
    // Sections of their own, in the usual order, and no catch-all "EXTRA".
    let sections: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix(".SH "))
        .collect();
    assert!(!sections.contains(&"EXTRA"), "{sections:?}");
    let at = |name: &str| {
        sections
            .iter()
            .position(|s| *s == name)
            .unwrap_or_else(|| panic!("{name} in {sections:?}"))
    };
    assert!(at("NAME") < at("SYNOPSIS") && at("SYNOPSIS") < at("OPTIONS"));
    assert!(at("OPTIONS") < at("EXAMPLES") && at("EXAMPLES") < at("\"EXIT STATUS\""));
    let exit = &text[text.find(".SH \"EXIT STATUS\"").unwrap()..];
    let exit = &exit[..exit[4..].find(".SH ").unwrap() + 4];
    for code in 0..=4 {
        assert!(exit.contains(&format!(".TP\n\\fB{code}\\fR\n")), "{exit}");
    }
    assert!(text.contains("\\fBkapture capture.pcap > spans.jsonl\\fR"));
    // One preamble: the pieces are joined, not concatenated whole.
    assert_eq!(text.matches(".ds Aq").count(), 2, "one .ie/.el pair");
    assert!(text.contains("\\fBkapture\\fR [OPTIONS] <CAPTURE>..."));
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = kapture(["--generate", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("max-in-flight"),
            "{shell}"
        );
    }
    let mixed = kapture(["--generate", "bash", "testdata/nano.pcap"]);
    assert_eq!(mixed.status.code(), Some(2));
}

#[test]
fn no_progress_bar_when_stderr_is_not_a_terminal() {
    // The tests' stderr is a pipe: nothing but the summary may appear.
    let out = kapture(["testdata/large-records.pcap", "-o", "/dev/null"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("kapture: "), "{err}");
    assert!(!err.contains('\r') && !err.contains('\u{1b}'), "{err:?}");
}

#[test]
fn subcommand_errors_start_with_kapture_too() {
    for args in [
        vec!["check", "--nosuch", "x.pcap"],
        vec!["diff", "--latency-floor", "5", "a", "b"],
    ] {
        let out = kapture(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("kapture: "), "{args:?}: {err}");
        assert!(!err.contains("error:"), "{args:?}: {err}");
    }
}
