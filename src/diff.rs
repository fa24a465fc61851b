//! `kapture diff`: what changed between two conversation profiles (two captures, or a
//! capture and a saved summary or spans file), per client and API. Times of day and
//! ids never enter a profile, so re-recording the same workload changes only what the
//! clients really did differently, and timing noise within the tolerances.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Value, json};

use crate::kafka::api;
use crate::profile::{Dist, Profile, Row};
use crate::stats::{Percentiles, human_duration};

/// How far a number may move before it counts as a change.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    /// Latency percentiles: relative (0.2 = 20 %)...
    pub latency: f64,
    /// ...and only past this many nanoseconds.
    pub latency_floor_ns: i64,
    /// Request and error counts: relative, and absolute (whichever is larger).
    pub count: f64,
    pub count_abs: u64,
    /// Records, bytes and batches per request (relative).
    pub size: f64,
    /// Requests per second (relative); `None`: rates are not compared.
    pub rate: Option<f64>,
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances {
            latency: 0.2,
            latency_floor_ns: 0,
            count: 0.0,
            count_abs: 0,
            size: 0.0,
            rate: None,
        }
    }
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// The client id, `(null)`, or `(all clients)`.
    pub client: String,
    pub api: String,
    /// What changed: `count`, `api_version`, `latency.total.p99`, ...; `requests` when
    /// a client/API pair is on one side only.
    pub field: String,
    pub old: Value,
    pub new: Value,
    /// `changed`, `added` (only in NEW) or `removed` (only in OLD).
    pub change: &'static str,
}

fn within(old: f64, new: f64, rel: f64, abs: f64) -> bool {
    (new - old).abs() <= (old.abs() * rel).max(abs)
}

/// The differences between two profiles. `by_client`: rows per client id (else one
/// row per API for all clients, for clients whose ids differ).
pub fn diff(old: &Profile, new: &Profile, tol: &Tolerances, by_client: bool) -> Vec<Change> {
    let rows = |p: &Profile| -> BTreeMap<(String, i16), Row> {
        p.rows
            .iter()
            .filter(|r| r.client_id.is_some() == by_client)
            .filter_map(|r| Some(((r.client_label().to_string(), r.api_key?), r.clone())))
            .collect()
    };
    let (a, b) = (rows(old), rows(new));
    let keys: BTreeSet<&(String, i16)> = a.keys().chain(b.keys()).collect();
    let mut changes = Vec::new();
    for key in keys {
        let (client, api_key) = key;
        // An API only one side looked at is not a change.
        if !old.covers(*api_key) || !new.covers(*api_key) {
            continue;
        }
        let name = api::name(*api_key).unwrap_or("Unknown").to_string();
        let mut push = |field: &str, o: Value, n: Value, change: &'static str| {
            changes.push(Change {
                client: client.clone(),
                api: name.clone(),
                field: field.to_string(),
                old: o,
                new: n,
                change,
            });
        };
        match (a.get(key), b.get(key)) {
            (Some(o), None) => push("requests", json!(o.count), Value::Null, "removed"),
            (None, Some(n)) => push("requests", Value::Null, json!(n.count), "added"),
            (Some(o), Some(n)) => row_diff(o, n, old, new, tol, &mut push),
            (None, None) => {}
        }
    }
    changes
}

fn row_diff(
    o: &Row,
    n: &Row,
    old: &Profile,
    new: &Profile,
    tol: &Tolerances,
    push: &mut dyn FnMut(&str, Value, Value, &'static str),
) {
    let count_ok = |a: u64, b: u64| within(a as f64, b as f64, tol.count, tol.count_abs as f64);
    if !count_ok(o.count, n.count) {
        push("count", json!(o.count), json!(n.count), "changed");
    }
    if let Some(rel) = tol.rate {
        let rate = |r: &Row, p: &Profile| {
            (p.duration_ns > 0).then(|| r.count as f64 / (p.duration_ns as f64 / 1e9))
        };
        if let (Some(ra), Some(rb)) = (rate(o, old), rate(n, new))
            && !within(ra, rb, rel, 0.0)
        {
            push("rate", json!(round3(ra)), json!(round3(rb)), "changed");
        }
    }
    let keys = |m: &BTreeMap<i16, u64>| m.keys().copied().collect::<Vec<_>>();
    if keys(&o.versions) != keys(&n.versions) {
        push(
            "api_version",
            json!(keys(&o.versions)),
            json!(keys(&n.versions)),
            "changed",
        );
    }
    if keys(&o.acks) != keys(&n.acks) {
        push(
            "acks",
            json!(keys(&o.acks)),
            json!(keys(&n.acks)),
            "changed",
        );
    }
    let names = |m: &BTreeMap<String, u64>| m.keys().cloned().collect::<Vec<_>>();
    if names(&o.codecs) != names(&n.codecs) {
        push(
            "codecs",
            json!(names(&o.codecs)),
            json!(names(&n.codecs)),
            "changed",
        );
    }
    let idem = |r: &Row| {
        let mut v = Vec::new();
        if r.idempotent > 0 {
            v.push(true);
        }
        if r.not_idempotent > 0 {
            v.push(false);
        }
        v
    };
    // A spans file does not say for Produce requests of several partitions: unknown
    // on one side is not a change.
    if idem(o) != idem(n) && !idem(o).is_empty() && !idem(n).is_empty() {
        push("idempotent", json!(idem(o)), json!(idem(n)), "changed");
    }
    let errors: BTreeSet<&String> = o.errors.keys().chain(n.errors.keys()).collect();
    for e in errors {
        let (a, b) = (
            o.errors.get(e).copied().unwrap_or(0),
            n.errors.get(e).copied().unwrap_or(0),
        );
        if !count_ok(a, b) {
            push(&format!("errors.{e}"), json!(a), json!(b), "changed");
        }
    }
    if !count_ok(o.unanswered, n.unanswered) {
        push(
            "unanswered",
            json!(o.unanswered),
            json!(n.unanswered),
            "changed",
        );
    }
    let dists: [(&str, Option<Dist>, Option<Dist>); 3] = [
        (
            "records_per_request",
            o.records_per_request,
            n.records_per_request,
        ),
        (
            "record_bytes_per_request",
            o.record_bytes_per_request,
            n.record_bytes_per_request,
        ),
        (
            "batches_per_request",
            o.batches_per_request,
            n.batches_per_request,
        ),
    ];
    for (field, a, b) in dists {
        match (a, b) {
            (Some(a), Some(b)) => {
                for (stat, x, y) in [("p50", a.p50, b.p50), ("max", a.max, b.max)] {
                    if !within(x as f64, y as f64, tol.size, 0.0) {
                        push(&format!("{field}.{stat}"), json!(x), json!(y), "changed");
                    }
                }
            }
            (None, None) => {}
            (a, b) => push(
                field,
                json!(a.map(|d| d.p50)),
                json!(b.map(|d| d.p50)),
                "changed",
            ),
        }
    }
    let phases: [(&str, Option<Percentiles>, Option<Percentiles>); 4] = [
        ("total", o.latency.total, n.latency.total),
        ("write", o.latency.write, n.latency.write),
        ("wait", o.latency.wait, n.latency.wait),
        ("read", o.latency.read, n.latency.read),
    ];
    for (phase, a, b) in phases {
        let (Some(a), Some(b)) = (a, b) else { continue };
        for (stat, x, y) in [("p50", a.p50_ns, b.p50_ns), ("p99", a.p99_ns, b.p99_ns)] {
            if !within(x as f64, y as f64, tol.latency, tol.latency_floor_ns as f64) {
                push(
                    &format!("latency.{phase}.{stat}"),
                    json!(x),
                    json!(y),
                    "changed",
                );
            }
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn shown(field: &str, v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::Number(n) if field.starts_with("latency.") => {
            human_duration(n.as_i64().unwrap_or(0))
        }
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(|i| shown("", i)).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The changes for people: one line each, grouped by client and API.
pub fn text(old_name: &str, new_name: &str, changes: &[Change], tol: &Tolerances) -> String {
    let mut out = String::new();
    let counts = if tol.count == 0.0 && tol.count_abs == 0 {
        "counts exact".to_string()
    } else {
        format!(
            "counts within ±{} or ±{}%",
            tol.count_abs,
            round3(tol.count * 100.0)
        )
    };
    let _ = writeln!(
        out,
        "kapture diff {old_name} → {new_name} (latency tolerance {}%{}, {counts})",
        round3(tol.latency * 100.0),
        if tol.latency_floor_ns > 0 {
            format!(" and {}", human_duration(tol.latency_floor_ns))
        } else {
            String::new()
        }
    );
    for c in changes {
        let head = format!("{} {}", c.client, c.api);
        let _ = match c.change {
            "removed" => writeln!(
                out,
                "  - {head}: removed (was {} requests)",
                shown("", &c.old)
            ),
            "added" => writeln!(out, "  + {head}: added ({} requests)", shown("", &c.new)),
            _ => writeln!(
                out,
                "  ~ {head}: {} {} → {}",
                c.field,
                shown(&c.field, &c.old),
                shown(&c.field, &c.new)
            ),
        };
    }
    if changes.is_empty() {
        out.push_str("  no change\n");
    } else {
        let _ = writeln!(out, "  {} changes", changes.len());
    }
    out
}

/// The changes as JSON.
pub fn json_text(old_name: &str, new_name: &str, changes: &[Change]) -> String {
    let v = json!({
        "old": old_name,
        "new": new_name,
        "same": changes.is_empty(),
        "changes": changes,
    });
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    s
}
