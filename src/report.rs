//! The visual report (`--report FILE`): owns the [`Timeline`] of exchanges (a bounded
//! grid of start time × log duration per API and broker, and the slowest exchanges),
//! gathered beside the latency statistics and merged across workers, and renders it
//! with the summary's latency table and skipped counters into one self-contained HTML
//! page (SVG charts drawn by plotters, no scripts, fonts or links to fetch), handed on
//! to the caller as text.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use plotters::prelude::*;

use crate::diagnosis::{Diagnosis, SlowExchange};
use crate::kafka::ConnectionReport;
use crate::kafka::api;
use crate::kafka::exchange::Exchange;
use crate::knowledge::Knowledge;
use crate::stats::{LatencyRow, Timing, human_duration};
use crate::summary::Summary;

/// The narrowest time column: 1 ms.
const BASE_NS: i64 = 1_000_000;
/// At most this many time columns over the whole run: columns double in width as the
/// capture's time span grows.
const MAX_COLUMNS: i64 = 240;
/// Duration rows per decade (log scale).
const PER_DECADE: f64 = 10.0;
/// How many of the slowest exchanges the report lists.
pub const SLOWEST: usize = 25;

/// What an exchange ended as, for the heatmap's colours.
const OK: usize = 0;
const ERROR: usize = 1;
const NO_RESPONSE: usize = 2;

/// One cell's key: API key, broker, time column, duration row.
type Cell = (i16, (IpAddr, u16), i64, i16);

/// A time column, a duration row and its counts by outcome.
type Counted = (i64, i16, [u64; 3]);

/// Exchanges counted by start time and duration, per API and broker, on a grid whose
/// time columns are `BASE_NS << shift` wide and aligned on multiples of that width,
/// so that grids of different workers merge exactly; and the slowest exchanges.
/// Memory is bounded: at most [`MAX_COLUMNS`] columns × the duration rows × the APIs
/// and brokers, whatever the capture's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    shift: u32,
    /// The first and last column holding an exchange, at `shift`.
    span: Option<(i64, i64)>,
    cells: BTreeMap<Cell, [u64; 3]>,
    slowest: Diagnosis,
}

impl Default for Timeline {
    fn default() -> Timeline {
        Timeline {
            shift: 0,
            span: None,
            cells: BTreeMap::new(),
            slowest: Diagnosis::new(SLOWEST),
        }
    }
}

/// The duration row of `ns`: ⌊log10(ns) · PER_DECADE⌋, 0 for 1 ns and below.
fn duration_row(ns: i64) -> i16 {
    if ns <= 1 {
        return 0;
    }
    ((ns as f64).log10() * PER_DECADE).floor() as i16
}

impl Timeline {
    fn width(&self) -> i64 {
        BASE_NS << self.shift
    }

    /// Counts one exchange of `report`'s connection, from capture `file`.
    pub fn add(
        &mut self,
        report: &ConnectionReport,
        ex: &Exchange,
        knowledge: &Knowledge,
        file: u32,
    ) {
        let t = Timing::of(ex);
        let class = if ex.response.is_none() {
            NO_RESPONSE
        } else if ex.facts.first_error().is_some() {
            ERROR
        } else {
            OK
        };
        let column = t.start.div_euclid(self.width());
        self.span = Some(match self.span {
            None => (column, column),
            Some((a, b)) => (a.min(column), b.max(column)),
        });
        let key = (
            ex.request.api_key,
            (report.broker.ip, report.broker.port),
            column,
            duration_row(t.total()),
        );
        self.cells.entry(key).or_default()[class] += 1;
        self.fit();
        self.slowest.add(report, ex, knowledge, file);
    }

    /// Widens the columns until the time span fits in [`MAX_COLUMNS`].
    fn fit(&mut self) {
        while self.span.is_some_and(|(a, b)| b - a + 1 > MAX_COLUMNS) {
            self.coarsen_to(self.shift + 1);
        }
    }

    fn coarsen_to(&mut self, shift: u32) {
        if shift <= self.shift {
            return;
        }
        let by = shift - self.shift;
        let old = std::mem::take(&mut self.cells);
        for ((api, broker, column, row), n) in old {
            let cell = self
                .cells
                .entry((api, broker, column >> by, row))
                .or_default();
            for (c, k) in cell.iter_mut().zip(n) {
                *c += k;
            }
        }
        self.span = self.span.map(|(a, b)| (a >> by, b >> by));
        self.shift = shift;
    }

    /// Adds another timeline (another connection's, another file's).
    pub fn merge(&mut self, mut other: Timeline) {
        let shift = self.shift.max(other.shift);
        self.coarsen_to(shift);
        other.coarsen_to(shift);
        for (key, n) in other.cells {
            let cell = self.cells.entry(key).or_default();
            for (c, k) in cell.iter_mut().zip(n) {
                *c += k;
            }
        }
        self.span = match (self.span, other.span) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (x, y) => x.or(y),
        };
        self.fit();
        self.slowest.merge(other.slowest);
    }

    /// The slowest exchanges, slowest first.
    pub fn slowest(&self) -> Vec<SlowExchange> {
        self.slowest.slowest()
    }
}

/// Escapes text for HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222;max-width:1100px}\
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}\
td,th{border:1px solid #ddd;padding:2px 6px;text-align:right}\
th{background:#f3f3f3}td.l,th.l{text-align:left}.charts svg{display:block;margin:.4em 0}\
.note{color:#666;font-size:.85em}.legend span{display:inline-block;width:1em;height:1em;\
vertical-align:middle;margin:0 .3em 0 1em}";

/// The report page for a run's summary (its latency table and skipped counters, the
/// very numbers of `--summary json`) and its timeline.
pub fn render(summary: &Summary) -> String {
    let empty = Timeline::default();
    let timeline = summary.latency.timeline.as_ref().unwrap_or(&empty);
    let json = summary.to_json();
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width\">");
    out.push_str("<title>kapture report</title><style>");
    out.push_str(STYLE);
    out.push_str("</style></head><body>\n<h1>kapture report</h1>\n");
    let _ = writeln!(
        out,
        "<p id=\"totals\">{} file(s), <span id=\"exchanges\">{}</span> exchanges found, \
         <span id=\"emitted\">{}</span> passed the filters.</p>",
        json.files, summary.exchanges.total, summary.emitted
    );

    out.push_str(
        "<h2>Latency over time</h2>\n<p class=\"note\">Each cell counts the exchanges \
        that started in that time column and took that long (request's first packet to \
        response's last). <span class=\"legend\"><span style=\"background:#1f6fd1\"></span>ok\
        <span style=\"background:#d62728\"></span>Kafka error\
        <span style=\"background:#ff9f1c\"></span>no response</span> \
        Darker is more.</p>\n<div class=\"charts\" id=\"timeline\">\n",
    );
    out.push_str(&timeline_charts(timeline));
    out.push_str("</div>\n");

    out.push_str(
        "<h2>Percentiles per API, broker and topic</h2>\n<div class=\"charts\" id=\"bars\">\n",
    );
    out.push_str(&percentile_chart(&json.latency));
    out.push_str("</div>\n");
    out.push_str(&latency_table(&json.latency));

    out.push_str("<h2>Slowest exchanges</h2>\n");
    out.push_str(&slowest_table(&timeline.slowest()));

    out.push_str("<h2>Skipped or seen</h2>\n<table id=\"skipped\"><tr><th class=\"l\">counter</th><th>count</th></tr>\n");
    if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(&json.skipped) {
        for (k, v) in map {
            let text = match &v {
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Object(m) => m
                    .iter()
                    .map(|(a, n)| format!("{a}: {n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                serde_json::Value::Array(a) => a.len().to_string(),
                other => other.to_string(),
            };
            let _ = writeln!(
                out,
                "<tr><td class=\"l\">{}</td><td data-skip=\"{}\">{}</td></tr>",
                esc(&k),
                esc(&k),
                esc(&text)
            );
        }
    }
    out.push_str("</table>\n<p class=\"note\">Written by kapture; self-contained, nothing is fetched.</p>\n</body></html>\n");
    out
}

fn timeline_charts(t: &Timeline) -> String {
    let Some((first, last)) = t.span else {
        return "<p>No exchanges.</p>\n".into();
    };
    let width = t.width();
    let mut groups: BTreeMap<(i16, (IpAddr, u16)), Vec<Counted>> = BTreeMap::new();
    let (mut lo, mut hi) = (i16::MAX, i16::MIN);
    for (&(api, broker, column, row), &n) in &t.cells {
        groups
            .entry((api, broker))
            .or_default()
            .push((column, row, n));
        lo = lo.min(row);
        hi = hi.max(row);
    }
    let max_count = t
        .cells
        .values()
        .map(|n| n.iter().sum::<u64>())
        .max()
        .unwrap_or(1)
        .max(1);
    let secs = (last - first + 1) as f64 * width as f64 / 1e9;
    let y0 = f64::from(lo) / PER_DECADE;
    let y1 = f64::from(hi + 1) / PER_DECADE;
    let mut out = String::new();
    for ((api_key, broker), cells) in groups {
        let name = api::name(api_key).unwrap_or("Unknown");
        let title = format!("{name} @ {}", SocketAddr::new(broker.0, broker.1));
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (1000, 260)).into_drawing_area();
            let _ = root.fill(&WHITE);
            let chart = ChartBuilder::on(&root)
                .caption(&title, ("sans-serif", 16))
                .margin(8)
                .x_label_area_size(36)
                .y_label_area_size(70)
                .build_cartesian_2d(0f64..secs, y0..y1);
            let Ok(mut chart) = chart else { continue };
            let _ = chart
                .configure_mesh()
                .disable_mesh()
                .x_desc("seconds since the first exchange")
                .y_desc("duration")
                .y_label_formatter(&|v| human_duration(10f64.powf(*v).round() as i64))
                .draw();
            let w = width as f64 / 1e9;
            let _ = chart.draw_series(cells.iter().map(|&(column, row, n)| {
                let x = (column - first) as f64 * w;
                let y = f64::from(row) / PER_DECADE;
                let total: u64 = n.iter().sum();
                let base = if n[ERROR] > 0 {
                    RGBColor(0xd6, 0x27, 0x28)
                } else if n[NO_RESPONSE] > 0 {
                    RGBColor(0xff, 0x9f, 0x1c)
                } else {
                    RGBColor(0x1f, 0x6f, 0xd1)
                };
                // Opacity on a log scale of the count, never invisible.
                let alpha = 0.25 + 0.75 * ((total as f64).ln_1p() / (max_count as f64).ln_1p());
                Rectangle::new(
                    [(x, y), (x + w, y + 1.0 / PER_DECADE)],
                    base.mix(alpha).filled(),
                )
            }));
            let _ = root.present();
        }
        let _ = writeln!(
            out,
            "<figure data-chart=\"timeline\" data-api=\"{}\">{svg}</figure>",
            esc(&title)
        );
    }
    out
}

fn row_label(r: &LatencyRow) -> String {
    match &r.topic {
        Some(t) => format!("{} {} {t}", r.api, r.broker),
        None => format!("{} {} (all)", r.api, r.broker),
    }
}

fn percentile_chart(rows: &[LatencyRow]) -> String {
    if rows.is_empty() {
        return "<p>No exchanges.</p>\n".into();
    }
    let n = rows.len();
    let lo = rows
        .iter()
        .map(|r| r.total.p50_ns.max(1))
        .min()
        .unwrap_or(1);
    let hi = rows
        .iter()
        .map(|r| r.total.max_ns.max(1))
        .max()
        .unwrap_or(1);
    let x0 = ((lo as f64).log10() - 0.3).floor();
    let x1 = ((hi as f64).log10() + 0.1).ceil().max(x0 + 1.0);
    let height = 80 + 26 * n as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, height)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let labels: Vec<String> = rows.iter().map(row_label).collect();
        let chart = ChartBuilder::on(&root)
            .caption("total time: p50, p90, p99, max", ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(36)
            .y_label_area_size(330)
            .build_cartesian_2d(x0..x1, (0..n as i32).into_segmented());
        if let Ok(mut chart) = chart {
            let _ = chart
                .configure_mesh()
                .disable_mesh()
                .y_labels(n)
                .y_label_formatter(&|v| match v {
                    SegmentValue::CenterOf(i) => usize::try_from(n as i32 - 1 - *i)
                        .ok()
                        .and_then(|i| labels.get(i).cloned())
                        .unwrap_or_default(),
                    _ => String::new(),
                })
                .x_label_formatter(&|v| human_duration(10f64.powf(*v).round() as i64))
                .x_desc("duration (log scale)")
                .draw();
            let colours = [
                RGBColor(0xc6, 0xdb, 0xef),
                RGBColor(0x6b, 0xae, 0xd6),
                RGBColor(0x21, 0x71, 0xb5),
                RGBColor(0x08, 0x30, 0x6b),
            ];
            for (i, r) in rows.iter().enumerate() {
                let seg = (n - 1 - i) as i32;
                let ps = [
                    r.total.max_ns,
                    r.total.p99_ns,
                    r.total.p90_ns,
                    r.total.p50_ns,
                ];
                let _ = chart.draw_series(ps.iter().zip(colours).map(|(&p, c)| {
                    let x = (p.max(1) as f64).log10().max(x0);
                    let mut bar = Rectangle::new(
                        [
                            (x0, SegmentValue::Exact(seg)),
                            (x, SegmentValue::Exact(seg + 1)),
                        ],
                        c.filled(),
                    );
                    bar.set_margin(3, 3, 0, 0);
                    bar
                }));
            }
        }
        let _ = root.present();
    }
    format!(
        "<figure data-chart=\"percentiles\">{svg}</figure>\n<p class=\"note legend\">\
         <span style=\"background:#08306b\"></span>p50<span style=\"background:#2171b5\"></span>p90\
         <span style=\"background:#6baed6\"></span>p99<span style=\"background:#c6dbef\"></span>max</p>\n"
    )
}

fn latency_table(rows: &[LatencyRow]) -> String {
    let mut out = String::from(
        "<table id=\"latency\"><tr><th class=\"l\">API</th><th class=\"l\">broker</th>\
         <th class=\"l\">topic</th><th>count</th><th>errors</th><th class=\"l\">phase</th>\
         <th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>\n",
    );
    for (i, r) in rows.iter().enumerate() {
        let phases = [
            ("total", Some(r.total)),
            ("write", Some(r.write)),
            ("wait", r.wait),
            ("read", r.read),
        ];
        for (phase, p) in phases {
            let Some(p) = p else { continue };
            let _ = write!(
                out,
                "<tr data-row=\"{i}\" data-phase=\"{phase}\"><td class=\"l\">{}</td><td class=\"l\">{}</td>\
                 <td class=\"l\">{}</td><td data-count>{}</td><td data-errors>{}</td><td class=\"l\">{phase}</td>",
                r.api,
                esc(&r.broker),
                esc(r.topic.as_deref().unwrap_or("")),
                r.count,
                r.errors,
            );
            for (name, ns) in [
                ("p50", p.p50_ns),
                ("p90", p.p90_ns),
                ("p99", p.p99_ns),
                ("max", p.max_ns),
            ] {
                let _ = write!(
                    out,
                    "<td data-{name}=\"{ns}\" title=\"{ns} ns\">{}</td>",
                    human_duration(ns)
                );
            }
            out.push_str("</tr>\n");
        }
    }
    out.push_str("</table>\n");
    out
}

fn opt(ns: Option<i64>) -> String {
    ns.map(human_duration).unwrap_or_else(|| "-".into())
}

fn slowest_table(slow: &[SlowExchange]) -> String {
    if slow.is_empty() {
        return "<p>No exchanges.</p>\n".into();
    }
    let mut out = String::from(
        "<table id=\"slowest\"><tr><th>#</th><th class=\"l\">API</th><th class=\"l\">broker</th>\
         <th class=\"l\">topic</th><th>total</th><th>write</th><th>wait</th><th>read</th>\
         <th>network</th><th>loss recovery</th><th>broker</th><th>retrans.</th>\
         <th class=\"l\">frames (file)</th><th class=\"l\">error</th></tr>\n",
    );
    for (i, s) in slow.iter().enumerate() {
        let frames = match s.response_frames {
            Some((a, b)) => format!(
                "req {}–{}, resp {a}–{b} ({})",
                s.request_frames.0, s.request_frames.1, s.file
            ),
            None => format!(
                "req {}–{} ({})",
                s.request_frames.0, s.request_frames.1, s.file
            ),
        };
        let broker_time = if s.split_unknown {
            "unknown".into()
        } else {
            opt(s.broker_ns)
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"l\">{} v{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td>\
             <td data-total=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td></tr>",
            i + 1,
            esc(&s.api),
            s.api_version,
            esc(&s.broker),
            esc(s.topic.as_deref().unwrap_or("")),
            s.total_ns,
            human_duration(s.total_ns),
            human_duration(s.write_ns),
            opt(s.wait_ns),
            opt(s.read_ns),
            opt(s.network_ns),
            opt(s.loss_recovery_ns),
            broker_time,
            s.retransmissions,
            esc(&frames),
            esc(s.error.as_deref().unwrap_or("")),
        );
    }
    out.push_str("</table>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_rows_are_log_scale() {
        assert_eq!(duration_row(0), 0);
        assert_eq!(duration_row(10), 10);
        assert_eq!(duration_row(1_000_000), 60);
        assert_eq!(duration_row(5_000_000), 66);
    }

    #[test]
    fn coarsened_grids_merge_exactly_and_stay_bounded() {
        let cell = |column| (0i16, ("127.0.0.1".parse().unwrap(), 9092u16), column, 5i16);
        let mut a = Timeline::default();
        let mut b = Timeline::default();
        for c in 0..200 {
            a.cells.insert(cell(c), [1, 0, 0]);
        }
        a.span = Some((0, 199));
        for c in 1000..1100 {
            b.cells.insert(cell(c), [0, 1, 0]);
        }
        b.span = Some((1000, 1099));
        a.merge(b);
        let (lo, hi) = a.span.unwrap();
        assert!(hi - lo < MAX_COLUMNS, "{lo}..{hi}");
        assert_eq!(a.shift, 3);
        let sum: u64 = a.cells.values().flatten().sum();
        assert_eq!(sum, 300);
        assert_eq!(a.cells.values().map(|n| n[ERROR]).sum::<u64>(), 100);
    }
}
