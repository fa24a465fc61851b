//! The filters on real captures: each flag keeps exactly the spans that an
//! independent check of the unfiltered `--api all` output says it should, the summary
//! counts what it left out, flags combine with AND, and bad values exit 2 naming the
//! flag.

mod common;

use std::collections::BTreeSet;

use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::Value as Json;

use common::*;

/// The spans (stdout) and the JSON summary (stderr, since spans take stdout) of a run.
fn run(args: &[&str]) -> (Vec<Span>, Json) {
    let mut full = vec!["--summary", "json"];
    full.extend_from_slice(args);
    let out = kapture(&full);
    assert!(out.status.code().unwrap_or(99) <= 1, "{args:?}: {out:?}");
    let summary: Json = serde_json::from_slice(&out.stderr)
        .unwrap_or_else(|e| panic!("{args:?}: stderr is not JSON ({e}): {out:?}"));
    (parse_spans(&out.stdout), summary)
}

/// Span ids, which do not depend on the filters.
fn ids<'a>(spans: impl IntoIterator<Item = &'a Span>) -> Vec<Vec<u8>> {
    spans.into_iter().map(|s| s.span_id.clone()).collect()
}

fn api_name(span: &Span) -> String {
    str_attr(span, "kapture.api_name").unwrap()
}

fn total_ns(span: &Span) -> i64 {
    span.end_time_unix_nano as i64 - span.start_time_unix_nano as i64
}

/// Runs `args` on `capture` with `--api all`, checks the kept spans are exactly those
/// of the unfiltered run that `keep` accepts, and that the summary counts the rest as
/// filtered out. Returns how many were kept.
fn check(capture: &str, args: &[&str], keep: impl Fn(&Span) -> bool) -> usize {
    let path = testdata(capture);
    let path = path.to_str().unwrap();
    let (all, all_summary) = run(&["--api", "all", path]);
    let mut full = vec!["--api", "all"];
    full.extend_from_slice(args);
    full.push(path);
    let (kept, summary) = run(&full);
    let expected: Vec<&Span> = all.iter().filter(|s| keep(s)).collect();
    assert_eq!(ids(&kept), ids(expected), "{capture} {args:?}");
    let ex = &summary["exchanges"];
    let found = ex["found"].as_u64().unwrap();
    assert_eq!(found, all_summary["exchanges"]["found"].as_u64().unwrap());
    assert_eq!(found, all.len() as u64, "{capture}: one span per exchange");
    assert_eq!(
        ex["emitted"].as_u64().unwrap(),
        kept.len() as u64,
        "{args:?}"
    );
    assert_eq!(
        ex["filtered_out"].as_u64().unwrap(),
        found - kept.len() as u64,
        "{args:?}"
    );
    // The latency table covers exactly the exchanges kept: each in its API's row, or
    // in the API's long-poll row.
    let table_count: u64 = summary["latency"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["topic"].is_null() || r["topic"] == "(long poll)")
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    assert_eq!(table_count, kept.len() as u64, "{args:?}");
    kept.len()
}

#[test]
fn topic_keeps_exchanges_touching_that_topic() {
    let has = |t: &'static str| move |s: &Span| topics(s).iter().any(|x| x == t);
    let n = check(
        "group-confluent.pcap",
        &["--topic", "orders"],
        has("orders"),
    );
    assert!(n > 0);
    let m = check(
        "group-confluent.pcap",
        &["--topic", "payments"],
        has("payments"),
    );
    assert!(m > 0);
    // The unfiltered run has 38 exchanges; the Fetch responses touching both topics
    // are in both sets.
    let (kept, _) = run(&[
        "--api",
        "all",
        "--topic",
        "orders",
        "testdata/group-confluent.pcap",
    ]);
    let apis: BTreeSet<String> = kept.iter().map(api_name).collect();
    assert_eq!(
        apis,
        BTreeSet::from(["Fetch".to_string(), "Produce".to_string()]),
        "only Produce and Fetch name topics"
    );
    assert!(
        kept.iter()
            .all(|s| topics(s).contains(&"orders".to_string()))
    );
}

#[test]
fn topic_globs_and_repeats() {
    let cap = "group-confluent.pcap";
    let starts = |p: &'static str| move |s: &Span| topics(s).iter().any(|t| t.starts_with(p));
    check(cap, &["--topic", "pay*"], starts("pay"));
    check(cap, &["--topic", "o?ders"], starts("orders"));
    check(cap, &["--topic", "[op]*"], |s| !topics(s).is_empty());
    check(cap, &["--topic", "orders", "--topic", "payments"], |s| {
        !topics(s).is_empty()
    });
    assert_eq!(check(cap, &["--topic", "order"], |_| false), 0);
    assert_eq!(check(cap, &["--topic", "ORDERS"], |_| false), 0);
}

#[test]
fn exchanges_without_topics_never_match_a_topic_filter() {
    let n = check("basic-kafka-python.pcap", &["--topic", "*"], |s| {
        !topics(s).is_empty()
    });
    // 4 Produce + 1 Fetch to `basic`; ApiVersions, Metadata, ListOffsets name none
    // kapture reads.
    assert_eq!(n, 5);
}

#[test]
fn client_id_matches_exactly_or_by_glob() {
    let cap = "produce-error.pcap";
    let client = |s: &Span| str_attr(s, "messaging.client.id").unwrap_or_default();
    assert_eq!(
        check(cap, &["--client-id", "kcat-invalid"], |s| client(s)
            == "kcat-invalid"),
        5
    );
    assert_eq!(check(cap, &["--client-id", "kcat-*"], |_| true), 20);
    check(cap, &["--client-id", "kcat-?alid"], |s| {
        client(s) == "kcat-valid"
    });
    check(
        cap,
        &["--client-id", "kcat-valid", "--client-id", "kcat-consumer"],
        |s| client(s) != "kcat-invalid",
    );
    assert_eq!(check(cap, &["--client-id", "kcat"], |_| false), 0);
    assert_eq!(check(cap, &["--client-id", "rdkafka"], |_| false), 0);
}

#[test]
fn broker_matches_address_and_optional_port() {
    let cap = "port19092.pcap";
    assert_eq!(check(cap, &["--broker", "127.0.0.1:19092"], |_| true), 13);
    assert_eq!(check(cap, &["--broker", "127.0.0.1"], |_| true), 13);
    assert_eq!(check(cap, &["--broker", "127.0.0.1:9092"], |_| false), 0);
    assert_eq!(check(cap, &["--broker", "127.0.0.2"], |_| false), 0);
    assert_eq!(
        check(
            cap,
            &["--broker", "10.0.0.1", "--broker", "127.0.0.1:19092"],
            |_| true
        ),
        13
    );
    assert_eq!(
        check("ipv6.pcap", &["--broker", "[::1]:9092"], |_| true),
        17
    );
    assert_eq!(check("ipv6.pcap", &["--broker", "::1"], |_| true), 17);
    assert_eq!(check("ipv6.pcap", &["--broker", "127.0.0.1"], |_| false), 0);
}

#[test]
fn min_duration_is_inclusive_on_the_span_total() {
    let cap = "group-confluent.pcap";
    check(cap, &["--min-duration", "1ms"], |s| {
        total_ns(s) >= 1_000_000
    });
    check(cap, &["--min-duration", "1.5s"], |s| {
        total_ns(s) >= 1_500_000_000
    });
    check(cap, &["--min-duration", "250us"], |s| {
        total_ns(s) >= 250_000
    });
    // Exactly at a span's duration: kept; one nanosecond more: not.
    let (all, _) = run(&["--api", "all", "testdata/group-confluent.pcap"]);
    let mut totals: Vec<i64> = all.iter().map(total_ns).collect();
    totals.sort();
    let d = totals[totals.len() / 2];
    let at = format!("{d}ns");
    let above = format!("{}ns", d + 1);
    let n_at = check(cap, &["--min-duration", &at], |s| total_ns(s) >= d);
    let n_above = check(cap, &["--min-duration", &above], |s| total_ns(s) > d);
    assert_eq!(n_at - n_above, totals.iter().filter(|&&t| t == d).count());
}

#[test]
fn errors_only_keeps_responses_with_a_kafka_error() {
    let n = check("produce-error.pcap", &["--errors-only"], |s| {
        str_attr(s, "error.type").is_some()
    });
    assert_eq!(n, 1);
    let (kept, _) = run(&[
        "--api",
        "all",
        "--errors-only",
        "testdata/produce-error.pcap",
    ]);
    assert_eq!(api_name(&kept[0]), "Produce");
    assert_eq!(
        str_attr(&kept[0], "error.type").as_deref(),
        Some("INVALID_RECORD")
    );
    assert_eq!(
        str_attr(&kept[0], "messaging.client.id").as_deref(),
        Some("kcat-invalid")
    );
    // No Produce or Fetch error in this capture (JoinGroup's MEMBER_ID_REQUIRED is not
    // read: kapture decodes errors of Produce and Fetch responses only).
    assert_eq!(
        check("group-confluent.pcap", &["--errors-only"], |_| false),
        0
    );
}

/// Nanoseconds since the epoch as Unix seconds with nine fraction digits.
fn unix(ns: u64) -> String {
    format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000)
}

#[test]
fn time_range_is_half_open_on_the_span_start() {
    let cap = "group-confluent.pcap";
    let (all, _) = run(&["--api", "all", "testdata/group-confluent.pcap"]);
    let mut starts: Vec<u64> = all.iter().map(|s| s.start_time_unix_nano).collect();
    starts.sort();
    let (a, b) = (starts[5], starts[20]);
    let in_range = |s: &Span| (a..b).contains(&s.start_time_unix_nano);
    let range = format!("{}..{}", unix(a), unix(b));
    let n = check(cap, &["--time-range", &range], in_range);
    assert!(n >= 15, "{n}");
    // The same bounds in RFC 3339, in UTC and with an offset.
    let rfc = |ns: u64| kapture::filter::format_time(ns as i64);
    let range = format!("{}..{}", rfc(a), rfc(b));
    assert_eq!(check(cap, &["--time-range", &range], in_range), n);
    // An offset of +01:00 shows the same instant one hour later on the clock.
    let plus_one = |ns: u64| {
        let t = rfc(ns + 3_600 * 1_000_000_000);
        format!("{}+01:00", t.trim_end_matches('Z'))
    };
    let range = format!("{}..{}", plus_one(a), plus_one(b));
    assert_eq!(check(cap, &["--time-range", &range], in_range), n);
    // Open sides.
    let from = format!("{}..", unix(b));
    check(cap, &["--time-range", &from], |s| {
        s.start_time_unix_nano >= b
    });
    let until = format!("..{}", unix(a));
    assert_eq!(
        check(cap, &["--time-range", &until], |s| s.start_time_unix_nano
            < a),
        starts.iter().filter(|&&t| t < a).count()
    );
}

#[test]
fn filters_combine_with_and() {
    let cap = "group-confluent.pcap";
    let orders = |s: &Span| topics(s).contains(&"orders".to_string());
    check(
        cap,
        &["--topic", "orders", "--min-duration", "280us"],
        |s| orders(s) && total_ns(s) >= 280_000,
    );
    check(
        cap,
        &[
            "--topic",
            "payments",
            "--client-id",
            "kapture-*",
            "--broker",
            "127.0.0.1:9092",
        ],
        |s| topics(s).contains(&"payments".to_string()),
    );
    assert_eq!(
        check(cap, &["--topic", "orders", "--client-id", "nobody"], |_| {
            false
        }),
        0
    );
    assert_eq!(
        check(
            "produce-error.pcap",
            &["--errors-only", "--client-id", "kcat-valid"],
            |_| false
        ),
        0
    );
    // With --api too (an API filter, applied first).
    let (kept, summary) = run(&[
        "--api",
        "produce",
        "--topic",
        "orders",
        "testdata/group-confluent.pcap",
    ]);
    assert_eq!(kept.len(), 3);
    assert!(kept.iter().all(|s| api_name(s) == "Produce" && orders(s)));
    assert_eq!(summary["exchanges"]["filtered_out"], 35);
}

#[test]
fn bad_filter_values_exit_2_naming_the_flag() {
    for (args, needle) in [
        (vec!["--topic", "orders["], "--topic 'orders['"),
        (vec!["--topic", ""], "--topic"),
        (vec!["--client-id", "[a-"], "--client-id '[a-'"),
        (vec!["--broker", "kafka-1"], "--broker 'kafka-1'"),
        (
            vec!["--broker", "127.0.0.1:99999"],
            "--broker '127.0.0.1:99999'",
        ),
        (vec!["--broker", "127.0.0.1:0"], "--broker '127.0.0.1:0'"),
        (vec!["--min-duration", "5"], "--min-duration '5'"),
        (vec!["--min-duration", "soon"], "--min-duration 'soon'"),
        (vec!["--min-duration=-5ms"], "--min-duration '-5ms'"),
        (
            vec!["--time-range", "yesterday"],
            "--time-range 'yesterday'",
        ),
        (vec!["--time-range", ".."], "--time-range '..'"),
        (vec!["--time-range", "2026-11-25T06:30:00Z"], "--time-range"),
        (vec!["--time-range", "20..10"], "--time-range '20..10'"),
        (
            vec!["--time-range", "2026-11-25T25:30:00Z.."],
            "--time-range",
        ),
    ] {
        let mut full = args.clone();
        full.push("testdata/basic-kafka-python.pcap");
        let out = kapture(&full);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
