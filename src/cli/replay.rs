//! Replay flags: sending the spans to an OTLP/HTTP endpoint (`--otlp-endpoint`) and
//! moving their timestamps (`--rebase-time`). The endpoint settings follow the
//! OpenTelemetry exporter environment variables (`OTEL_EXPORTER_OTLP_*`), which the
//! flags override.

use std::io::Write;
use std::time::Duration;

use crate::otlp::http::{Compression, ExportConfig, ExportReport, Exporter, Protocol};
use crate::otlp::rebase::RebaseTo;
use crate::otlp::{Envelope, LineWriter, Sink};

const HEADING: &str = "Replay to an OTLP endpoint";
const DEFAULT_ENDPOINT: &str = "http://localhost:4318";
const TRACES_PATH: &str = "/v1/traces";

/// The replay flags, flattened into [`super::Args`].
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ReplayArgs {
    /// Send the spans to an OTLP/HTTP receiver.
    ///
    /// Send the spans to an OTLP/HTTP receiver (Jaeger, the Collector, ...): POST
    /// URL/v1/traces (a URL already ending in /v1/traces is used as it is). Spans go to
    /// standard output only with '-o -'. Exit status 4 when not every span was accepted.
    #[arg(long, value_name = "URL", conflicts_with = "no_spans", help_heading = HEADING, value_hint = clap::ValueHint::Url)]
    pub otlp_endpoint: Option<String>,

    /// Send the spans to the endpoint the environment names:
    /// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as it is, else OTEL_EXPORTER_OTLP_ENDPOINT
    /// plus /v1/traces, else http://localhost:4318/v1/traces.
    #[arg(long, conflicts_with = "no_spans", help_heading = HEADING, hide_short_help = true)]
    pub otlp: bool,

    /// Request encoding [env: OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, OTEL_EXPORTER_OTLP_PROTOCOL]
    /// [default: http/protobuf]
    #[arg(long, value_name = "PROTOCOL", value_parser = ["http/protobuf", "http/json"], help_heading = HEADING, hide_short_help = true)]
    pub otlp_protocol: Option<String>,

    /// A request header, such as an API key; repeatable. Adds to (and overrides by name)
    /// OTEL_EXPORTER_OTLP_TRACES_HEADERS or OTEL_EXPORTER_OTLP_HEADERS.
    #[arg(long = "otlp-header", value_name = "NAME=VALUE", help_heading = HEADING, hide_short_help = true, value_hint = clap::ValueHint::Other)]
    pub otlp_headers: Vec<String>,

    /// Request body compression [env: OTEL_EXPORTER_OTLP_TRACES_COMPRESSION,
    /// OTEL_EXPORTER_OTLP_COMPRESSION] [default: none]
    #[arg(long, value_name = "gzip|none", value_parser = ["gzip", "none"], help_heading = HEADING, hide_short_help = true)]
    pub otlp_compression: Option<String>,

    /// Time limit of one request, such as 10s or 500ms (a bare number is refused; the
    /// variables are milliseconds, as the OpenTelemetry specification says) [env:
    /// OTEL_EXPORTER_OTLP_TRACES_TIMEOUT, OTEL_EXPORTER_OTLP_TIMEOUT] [default: 10s]
    #[arg(long, value_name = "DURATION", help_heading = HEADING, hide_short_help = true, value_hint = clap::ValueHint::Other)]
    pub otlp_timeout: Option<String>,

    /// Most time one outage may cost (waits and failed attempts after a connection
    /// failure or a 429/502/503/504 answer, since the endpoint last accepted a
    /// request), such as 15s, 5m for a live agent behind a gateway, or 0s for no
    /// retries; past it, the spans not yet accepted are counted as not delivered
    /// [default: 15s]
    #[arg(long, value_name = "DURATION", help_heading = HEADING, hide_short_help = true, value_hint = clap::ValueHint::Other)]
    pub otlp_retry_budget: Option<String>,

    /// Most spans in one request [default: 512]
    #[arg(long, value_name = "N", help_heading = HEADING, hide_short_help = true, value_hint = clap::ValueHint::Other)]
    pub otlp_batch_spans: Option<usize>,

    /// Move every timestamp by one offset so that the earliest span starts at this
    /// instant ('now' or RFC 3339, such as 2025-01-31T09:00:00Z), keeping every
    /// duration. Applies to the file output and the replay alike.
    #[arg(long, value_name = "now|RFC3339", hide_short_help = true, value_hint = clap::ValueHint::Other)]
    pub rebase_time: Option<String>,
}

/// The replay settings of a run, resolved from the flags and the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayConfig {
    /// Where to send spans, when replaying.
    pub export: Option<ExportConfig>,
    pub rebase: Option<RebaseTo>,
    /// `-o` was given (`-o -` included): write the file output even when replaying.
    pub explicit_output: bool,
    /// Things worth a warning, printed when the run starts.
    pub notes: Vec<String>,
}

impl ReplayConfig {
    /// Resolves the flags against the process environment.
    pub fn from_args(args: &ReplayArgs, explicit_output: bool) -> Result<ReplayConfig, String> {
        Self::resolve(args, explicit_output, |name| std::env::var(name).ok())
    }

    /// Resolves the flags, reading variables through `env`.
    pub fn resolve(
        args: &ReplayArgs,
        explicit_output: bool,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<ReplayConfig, String> {
        // A signal-specific variable wins over the general one; empty means unset.
        let var = |suffix: &str| {
            env(&format!("OTEL_EXPORTER_OTLP_TRACES_{suffix}"))
                .filter(|v| !v.trim().is_empty())
                .map(|v| (format!("OTEL_EXPORTER_OTLP_TRACES_{suffix}"), v))
                .or_else(|| {
                    env(&format!("OTEL_EXPORTER_OTLP_{suffix}"))
                        .filter(|v| !v.trim().is_empty())
                        .map(|v| (format!("OTEL_EXPORTER_OTLP_{suffix}"), v))
                })
        };
        let rebase = args
            .rebase_time
            .as_deref()
            .map(RebaseTo::parse)
            .transpose()?;
        let mut config = ReplayConfig {
            rebase,
            explicit_output,
            ..Default::default()
        };
        let url = match &args.otlp_endpoint {
            Some(url) => Some(traces_url(url, false).map_err(|e| format!("--otlp-endpoint {e}"))?),
            None if args.otlp => Some(
                match (
                    env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").filter(|v| !v.trim().is_empty()),
                    env("OTEL_EXPORTER_OTLP_ENDPOINT").filter(|v| !v.trim().is_empty()),
                ) {
                    (Some(url), _) => traces_url(&url, true)
                        .map_err(|e| format!("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT {e}"))?,
                    (None, Some(url)) => traces_url(&url, false)
                        .map_err(|e| format!("OTEL_EXPORTER_OTLP_ENDPOINT {e}"))?,
                    (None, None) => format!("{DEFAULT_ENDPOINT}{TRACES_PATH}"),
                },
            ),
            None => None,
        };
        let Some(url) = url else {
            let stray = [
                (args.otlp_protocol.is_some(), "--otlp-protocol"),
                (!args.otlp_headers.is_empty(), "--otlp-header"),
                (args.otlp_compression.is_some(), "--otlp-compression"),
                (args.otlp_timeout.is_some(), "--otlp-timeout"),
                (args.otlp_retry_budget.is_some(), "--otlp-retry-budget"),
                (args.otlp_batch_spans.is_some(), "--otlp-batch-spans"),
            ];
            if let Some((_, flag)) = stray.iter().find(|(given, _)| *given) {
                return Err(format!(
                    "{flag} needs --otlp-endpoint URL (or --otlp) to say where to send the spans"
                ));
            }
            return Ok(config);
        };
        let mut export = ExportConfig::new(url);

        export.protocol = match (&args.otlp_protocol, var("PROTOCOL")) {
            (Some(p), _) => parse_protocol(p).ok_or_else(|| format!("--otlp-protocol '{p}'"))?,
            (None, Some((name, value))) => match parse_protocol(&value) {
                Some(p) => p,
                None if value.trim().eq_ignore_ascii_case("grpc") => {
                    config.notes.push(format!(
                        "{name}=grpc ignored: kapture sends OTLP over HTTP (http/protobuf), \
                         usually to port 4318"
                    ));
                    Protocol::HttpProtobuf
                }
                None => {
                    return Err(format!(
                        "{name}='{value}': kapture sends http/protobuf or http/json"
                    ));
                }
            },
            (None, None) => Protocol::default(),
        };

        export.compression = match (&args.otlp_compression, var("COMPRESSION")) {
            (Some(c), _) => {
                parse_compression(c).ok_or_else(|| format!("--otlp-compression '{c}'"))?
            }
            (None, Some((name, value))) => parse_compression(&value)
                .ok_or_else(|| format!("{name}='{value}': use gzip or none"))?,
            (None, None) => Compression::default(),
        };

        export.timeout = match (&args.otlp_timeout, var("TIMEOUT")) {
            (Some(t), _) => parse_timeout(t).map_err(|e| format!("--otlp-timeout '{t}': {e}"))?,
            (None, Some((name, value))) => value
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|&ms| ms > 0)
                .map(Duration::from_millis)
                .ok_or_else(|| format!("{name}='{value}': expected milliseconds, such as 10000"))?,
            (None, None) => export.timeout,
        };

        if let Some(t) = &args.otlp_retry_budget {
            export.retry.max_elapsed = crate::filter::parse_duration(t)
                .map_err(|e| format!("--otlp-retry-budget '{t}': {e}"))?;
        }

        if let Some((name, value)) = var("HEADERS") {
            export.headers = parse_header_list(&value).map_err(|e| format!("{name}: {e}"))?;
        }
        for h in &args.otlp_headers {
            let (k, v) = h
                .split_once('=')
                .ok_or_else(|| format!("--otlp-header '{h}': expected NAME=VALUE"))?;
            let (k, v) = (k.trim().to_string(), v.trim().to_string());
            export
                .headers
                .retain(|(name, _)| !name.eq_ignore_ascii_case(&k));
            export.headers.push((k, v));
        }
        for (name, value) in &export.headers {
            check_header(name, value).map_err(|e| format!("header '{name}': {e}"))?;
        }

        if let Some(n) = args.otlp_batch_spans {
            if n == 0 {
                return Err("--otlp-batch-spans must be at least 1".into());
            }
            export.max_batch_spans = n;
        }
        config.export = Some(export);
        Ok(config)
    }

    /// Replaying without `-o`: the spans go to the endpoint only.
    pub fn discards_output(&self) -> bool {
        self.export.is_some() && !self.explicit_output
    }
}

/// The traces URL for `text`: as it is when `as_is` or when it already ends in
/// `/v1/traces`, else with `/v1/traces` appended to its path.
fn traces_url(text: &str, as_is: bool) -> Result<String, String> {
    let text = text.trim();
    let rest = if let Some(r) = text.strip_prefix("http://") {
        r
    } else if let Some(r) = text.strip_prefix("https://") {
        if !cfg!(feature = "tls") {
            return Err(format!(
                "'{text}': this kapture was built without the 'tls' feature, so it sends to http:// only"
            ));
        }
        r
    } else {
        return Err(format!(
            "'{text}': expected an http:// or https:// URL, such as {DEFAULT_ENDPOINT}"
        ));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(format!("'{text}': no host"));
    }
    if as_is || text.trim_end_matches('/').ends_with(TRACES_PATH) {
        return Ok(text.to_string());
    }
    Ok(format!("{}{TRACES_PATH}", text.trim_end_matches('/')))
}

fn parse_protocol(text: &str) -> Option<Protocol> {
    match text.trim().to_ascii_lowercase().as_str() {
        "http/protobuf" => Some(Protocol::HttpProtobuf),
        "http/json" => Some(Protocol::HttpJson),
        _ => None,
    }
}

fn parse_compression(text: &str) -> Option<Compression> {
    match text.trim().to_ascii_lowercase().as_str() {
        "gzip" => Some(Compression::Gzip),
        "none" => Some(Compression::None),
        _ => None,
    }
}

/// `10s`, `1500ms`, `1m`: a unit is needed, as for every duration flag (the
/// environment variables, in milliseconds, are read apart).
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let d = crate::filter::parse_duration(text)?;
    if d.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(d)
}

/// `OTEL_EXPORTER_OTLP_HEADERS`: comma-separated `name=value` pairs, percent-encoded.
pub fn parse_header_list(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| format!("'{item}': expected name=value"))?;
        let k = percent_decode(k.trim())?;
        let v = percent_decode(v.trim())?;
        headers.retain(|(name, _)| !name.eq_ignore_ascii_case(&k));
        headers.push((k, v));
    }
    Ok(headers)
}

fn percent_decode(text: &str) -> Result<String, String> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("'{text}': bad percent-encoding"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("'{text}': not UTF-8 once decoded"))
}

fn check_header(name: &str, value: &str) -> Result<(), String> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err("not a valid header name".into());
    }
    if ["content-type", "content-encoding", "content-length", "host"]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
    {
        return Err(
            "kapture sets this one itself (see --otlp-protocol, --otlp-compression)".into(),
        );
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err("the value holds control characters".into());
    }
    Ok(())
}

/// The sink of a run: JSON Lines to `out`, plus the replay and time shift asked for.
/// The replay's first failure is told at once (unless `-q`), above the progress bar.
pub(super) fn sink<W: Write>(
    out: W,
    config: &super::Config,
    progress: Option<indicatif::ProgressBar>,
) -> Sink<W> {
    let envelope = Envelope::new(&config.service_name);
    let replay = &config.replay;
    for note in &replay.notes {
        eprintln!("kapture: warning: {note}");
    }
    let exporter = replay.export.clone().map(|e| {
        let mut exporter = Exporter::new(e, envelope.clone());
        if !config.quiet {
            exporter.on_failure(Box::new(move |message| {
                let line = format!("kapture: warning: {message}");
                match &progress {
                    Some(bar) => bar.suspend(|| eprintln!("{line}")),
                    None => eprintln!("{line}"),
                }
            }));
        }
        exporter
    });
    Sink::new(LineWriter::new(out, envelope), exporter, replay.rebase)
}

/// Tells what became of the replayed spans (the report line first, then what is
/// wrong with it); false when some were not accepted.
pub(super) fn report(outcome: Option<&ExportReport>, quiet: bool) -> bool {
    let Some(r) = outcome else {
        return true;
    };
    let ok = r.all_accepted();
    if !ok || !quiet {
        eprintln!("kapture: {r}");
    }
    if !ok {
        eprintln!(
            "kapture: not every span reached the OTLP endpoint (exit status 4): {} of {} delivered",
            r.accepted, r.spans
        );
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(args: &ReplayArgs, env: &[(&str, &str)]) -> Result<ReplayConfig, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ReplayConfig::resolve(args, false, move |k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
    }

    fn endpoint(url: &str) -> ReplayArgs {
        ReplayArgs {
            otlp_endpoint: Some(url.into()),
            ..Default::default()
        }
    }

    #[test]
    fn endpoints_follow_the_exporter_spec() {
        let url = |args: &ReplayArgs, env: &[(&str, &str)]| {
            resolve(args, env).unwrap().export.map(|e| e.url)
        };
        assert_eq!(
            url(
                &ReplayArgs::default(),
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x:1")]
            ),
            None
        );
        assert_eq!(
            url(&endpoint("http://localhost:4318"), &[]).as_deref(),
            Some("http://localhost:4318/v1/traces")
        );
        assert_eq!(
            url(&endpoint("http://h:4318/base/"), &[]).as_deref(),
            Some("http://h:4318/base/v1/traces")
        );
        assert_eq!(
            url(&endpoint("http://h:4318/v1/traces"), &[]).as_deref(),
            Some("http://h:4318/v1/traces")
        );
        let otlp = ReplayArgs {
            otlp: true,
            ..Default::default()
        };
        assert_eq!(
            url(&otlp, &[]).as_deref(),
            Some("http://localhost:4318/v1/traces")
        );
        assert_eq!(
            url(&otlp, &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/")]).as_deref(),
            Some("http://c:4318/v1/traces")
        );
        assert_eq!(
            url(
                &otlp,
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                    ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:9/custom")
                ]
            )
            .as_deref(),
            Some("http://t:9/custom")
        );
        // The flag wins over the environment.
        assert_eq!(
            url(
                &ReplayArgs {
                    otlp: true,
                    ..endpoint("http://f:1")
                },
                &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:9/custom")]
            )
            .as_deref(),
            Some("http://f:1/v1/traces")
        );
        for bad in ["localhost:4318", "ftp://x", "http://", "http:///v1/traces"] {
            assert!(resolve(&endpoint(bad), &[]).is_err(), "{bad}");
        }
    }

    #[test]
    fn settings_come_from_flags_then_signal_then_general_variables() {
        let e = resolve(&endpoint("http://h"), &[]).unwrap().export.unwrap();
        assert_eq!(
            (e.protocol, e.compression, e.timeout, e.max_batch_spans),
            (
                Protocol::HttpProtobuf,
                Compression::None,
                Duration::from_secs(10),
                512
            )
        );
        let env = [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1500"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%20b,x-tenant=t1"),
        ];
        let e = resolve(&endpoint("http://h"), &env)
            .unwrap()
            .export
            .unwrap();
        assert_eq!(e.protocol, Protocol::HttpJson);
        assert_eq!(e.compression, Compression::Gzip);
        assert_eq!(e.timeout, Duration::from_millis(1500));
        assert_eq!(
            e.headers,
            vec![
                ("api-key".into(), "a b".into()),
                ("x-tenant".into(), "t1".into())
            ]
        );
        let flags = ReplayArgs {
            otlp_protocol: Some("http/protobuf".into()),
            otlp_compression: Some("none".into()),
            otlp_timeout: Some("3s".into()),
            otlp_headers: vec!["X-Tenant=t2".into(), "extra=1=2".into()],
            otlp_batch_spans: Some(7),
            ..endpoint("http://h")
        };
        let e = resolve(&flags, &env).unwrap().export.unwrap();
        assert_eq!(e.protocol, Protocol::HttpProtobuf);
        assert_eq!(e.compression, Compression::None);
        assert_eq!(e.timeout, Duration::from_secs(3));
        assert_eq!(e.max_batch_spans, 7);
        assert_eq!(
            e.headers,
            vec![
                ("api-key".into(), "a b".into()),
                ("X-Tenant".into(), "t2".into()),
                ("extra".into(), "1=2".into())
            ]
        );
        // gRPC in the environment is someone else's setting: noted, not fatal.
        let c = resolve(
            &endpoint("http://h"),
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
        )
        .unwrap();
        assert_eq!(c.export.unwrap().protocol, Protocol::HttpProtobuf);
        assert_eq!(c.notes.len(), 1);
    }

    #[test]
    fn mistakes_are_explained() {
        let bad = |args: ReplayArgs, env: &[(&str, &str)], needle: &str| {
            let e = resolve(&args, env).unwrap_err();
            assert!(e.contains(needle), "{e}");
        };
        bad(
            ReplayArgs {
                otlp_headers: vec!["a=b".into()],
                ..Default::default()
            },
            &[],
            "--otlp-header needs --otlp-endpoint",
        );
        bad(
            ReplayArgs {
                otlp_headers: vec!["novalue".into()],
                ..endpoint("http://h")
            },
            &[],
            "NAME=VALUE",
        );
        bad(
            ReplayArgs {
                otlp_headers: vec!["bad name=1".into()],
                ..endpoint("http://h")
            },
            &[],
            "not a valid header name",
        );
        bad(
            ReplayArgs {
                otlp_headers: vec!["Content-Type=text/plain".into()],
                ..endpoint("http://h")
            },
            &[],
            "sets this one itself",
        );
        bad(
            ReplayArgs {
                otlp_timeout: Some("0s".into()),
                ..endpoint("http://h")
            },
            &[],
            "more than zero",
        );
        // A bare number is refused, as for --min-duration, not read as milliseconds.
        bad(
            ReplayArgs {
                otlp_timeout: Some("5".into()),
                ..endpoint("http://h")
            },
            &[],
            "'5': a duration needs a unit: 5ms",
        );
        bad(
            ReplayArgs {
                otlp_retry_budget: Some("30".into()),
                ..endpoint("http://h")
            },
            &[],
            "--otlp-retry-budget '30': a duration needs a unit",
        );
        bad(
            endpoint("http://h"),
            &[("OTEL_EXPORTER_OTLP_HEADERS", "k=%zz")],
            "percent-encoding",
        );
        bad(
            endpoint("http://h"),
            &[("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "zstd")],
            "gzip or none",
        );
        bad(
            ReplayArgs {
                rebase_time: Some("tomorrow".into()),
                ..Default::default()
            },
            &[],
            "RFC 3339",
        );
    }

    #[test]
    fn replay_without_output_flag_writes_no_stdout() {
        let c = ReplayConfig::resolve(&endpoint("http://h"), false, |_| None).unwrap();
        assert!(c.discards_output());
        let c = ReplayConfig::resolve(&endpoint("http://h"), true, |_| None).unwrap();
        assert!(!c.discards_output());
        let c = ReplayConfig::resolve(&ReplayArgs::default(), false, |_| None).unwrap();
        assert!(!c.discards_output());
    }
}
