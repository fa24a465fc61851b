//! Where kapture's time and memory go, phase by phase, on one capture: the phases of
//! `kapture::pipeline::process_capture` and the output writer, rebuilt here from the
//! library's public functions and timed one by one (wall time), with the process's
//! anonymous memory (RssAnon, i.e. not the mapped capture) after each.
//!
//! ```text
//! cargo run --release --example phases -- FILE [-j N] [-o OUT.jsonl]
//! ```
//!
//! Filtering with latency statistics and span writing, done together on the workers
//! by kapture a window of connections at a time, are timed apart here over all
//! connections at once, so these phases hold more memory than kapture does. Phases
//! marked `serial` run on one thread whatever `-j` says: they bound the speed-up from
//! more threads (Amdahl). In kapture, the summary counts, the writing and the freeing
//! of reports run on a writer thread of their own, beside the span building.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::time::Instant;

use rayon::prelude::*;

use kapture::knowledge::Knowledge;
use kapture::otlp::json::JsonOut;
use kapture::otlp::{Envelope, LineWriter};
use kapture::pipeline::{self, PipelineConfig};
use kapture::span::{self, Origin};
use kapture::stats::LatencyStats;
use kapture::summary::Summary;

fn rss_anon_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("RssAnon:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

struct Clock {
    start: Instant,
    last: Instant,
    rows: Vec<(&'static str, bool, f64, f64)>,
}

impl Clock {
    fn lap(&mut self, name: &'static str, serial: bool) {
        let now = Instant::now();
        self.rows
            .push((name, serial, (now - self.last).as_secs_f64(), rss_anon_mb()));
        self.last = now;
    }
}

fn main() {
    let mut path = None;
    let mut threads = 0usize;
    let mut out_path = String::from("/dev/null");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-j" | "--threads" => threads = args.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            "-o" => out_path = args.next().unwrap_or_default(),
            _ => path = Some(a),
        }
    }
    let Some(path) = path else {
        eprintln!("usage: phases FILE [-j N] [-o OUT.jsonl]");
        std::process::exit(2);
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool");
    let threads = pool.current_num_threads();
    let file = File::open(&path).expect("a readable file");
    // SAFETY: read-only map of a file nobody truncates while we read it.
    let map = unsafe { memmap2::Mmap::map(&file) }.expect("a mappable file");
    let bytes: &[u8] = &map;
    let config = PipelineConfig {
        latency: true,
        ..PipelineConfig::default()
    };
    let now = Instant::now();
    let mut clock = Clock {
        start: now,
        last: now,
        rows: Vec::new(),
    };
    pool.install(|| {
        let mut summary = Summary::default();
        let conns = pipeline::read_connections(bytes, &mut summary).expect("a capture");
        clock.lap("read packets + connection table", false);
        let (reports, _others) = pipeline::analyse_connections(conns, &config);
        clock.lap("analyse connections (tcp + kafka)", false);
        let knowledge = Knowledge::gather(&reports, &config.topic_map);
        clock.lap("gather knowledge", true);
        let origin = Origin { file_index: 0 };
        let latencies: Vec<LatencyStats> = reports
            .par_iter()
            .map(|r| {
                let mut latency = LatencyStats::default();
                for ex in &r.exchanges {
                    if pipeline::selected(&config, r, ex, &knowledge) {
                        latency.add(r, ex, &knowledge);
                    }
                }
                latency
            })
            .collect();
        clock.lap("filters + latency stats", false);
        let json: Vec<JsonOut> = reports
            .par_iter()
            .map(|r| {
                let mut out = JsonOut::new();
                let peers = span::Peers::of(r);
                for ex in &r.exchanges {
                    if pipeline::selected(&config, r, ex, &knowledge) {
                        span::emit(&mut out, r, &peers, ex, origin, &config.span, &knowledge);
                    }
                }
                out
            })
            .collect();
        clock.lap("span::emit into JsonOut", false);
        let kept: Vec<(usize, LatencyStats)> =
            json.iter().map(JsonOut::len).zip(latencies).collect();
        let mut latency = LatencyStats::default();
        let mut n_spans = 0usize;
        for (n, lat) in kept {
            n_spans += n;
            latency.merge(lat);
        }
        for r in &reports {
            summary.add_connection(r, &knowledge);
        }
        summary.latency = latency;
        clock.lap("summary counts", true);
        let out = BufWriter::with_capacity(1 << 20, File::create(&out_path).expect("output"));
        let mut writer = LineWriter::new(out, Envelope::new("kapture"));
        for s in json.iter().flat_map(JsonOut::spans) {
            writer.push(s).expect("write");
        }
        writer.finish().expect("write").flush().expect("write");
        clock.lap("write JSON lines", true);
        drop(json);
        drop(reports);
        drop(summary);
        clock.lap("drop reports", true);
        let total = clock.start.elapsed().as_secs_f64();
        println!(
            "{path}: {} bytes, {n_spans} spans, {threads} thread(s), {total:.3} s",
            bytes.len()
        );
        println!(
            "{:<36} {:>6} {:>9} {:>7} {:>13}",
            "phase", "", "wall s", "share", "RssAnon MB"
        );
        let mut serial = 0.0;
        for (name, is_serial, secs, rss) in &clock.rows {
            if *is_serial {
                serial += secs;
            }
            println!(
                "{name:<36} {:>6} {secs:>9.3} {:>6.1}% {rss:>13.0}",
                if *is_serial { "serial" } else { "" },
                100.0 * secs / total
            );
        }
        println!(
            "serial share {:.1}%: at most {:.2}x from 2 threads (Amdahl; meaningful with -j 1)",
            100.0 * serial / total,
            1.0 / (serial / total + (1.0 - serial / total) / 2.0)
        );
    });
}
