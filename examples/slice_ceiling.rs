//! The slicing ceiling: how fast this machine can read a capture and slice every packet
//! down to its TCP payload with kapture's own reader and link/IP/TCP decoder, doing
//! nothing else (no connection table, no reassembly, no Kafka, no output). kapture end
//! to end cannot beat this; `bench/run.sh` compares the two.
//!
//! ```text
//! cargo run --release --example slice_ceiling -- FILE [--threads N] [--repeat N]
//! ```
//!
//! `--threads 1` (the default) memory-maps the file and runs
//! `kapture::capture::for_each_packet` + `kapture::net::decode_segment`, summing payload
//! lengths. `--threads N` (N > 1, little-endian legacy pcap only) cuts the file into N
//! parts of about equal size, each thread finding its part's first record by itself
//! (the first offset where a chain of 16 plausible record headers starts), and slices
//! each part with the same `decode_segment` (the record walk is a few lines here).
//!
//! Prints one line per repeat: `threads=N secs=S bytes=B packets=P tcp=T payload=Y
//! mb_s=M mpkt_s=K`, and the median last.

use std::fs::File;
use std::process::ExitCode;
use std::time::Instant;

use kapture::capture::{self, Packet};
use kapture::net;

#[derive(Default, Clone, Copy)]
struct Counts {
    packets: u64,
    tcp: u64,
    payload: u64,
}

impl Counts {
    fn add(&mut self, o: Counts) {
        self.packets += o.packets;
        self.tcp += o.tcp;
        self.payload += o.payload;
    }

    fn packet(&mut self, p: &Packet<'_>) {
        self.packets += 1;
        if let Ok(seg) = net::decode_segment(p) {
            self.tcp += 1;
            self.payload += seg.payload.len() as u64;
        }
    }
}

fn one_thread(bytes: &[u8]) -> Result<Counts, String> {
    let mut c = Counts::default();
    capture::for_each_packet(bytes, |p| c.packet(&p)).map_err(|e| e.to_string())?;
    Ok(c)
}

/// A little-endian legacy pcap's layout: (nanosecond timestamps, link type).
fn legacy_le(bytes: &[u8]) -> Option<(bool, u32)> {
    let magic = u32::from_le_bytes(bytes.get(0..4)?.try_into().ok()?);
    let nanos = match magic {
        0xa1b2_c3d4 => false,
        0xa1b2_3c4d => true,
        _ => return None,
    };
    let link = u32::from_le_bytes(bytes.get(20..24)?.try_into().ok()?) & 0x03FF_FFFF;
    Some((nanos, link))
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// Slices the records in `bytes[from..to]`, which starts on a record boundary.
fn slice_range(bytes: &[u8], from: usize, to: usize, nanos: bool, link_type: u32) -> Counts {
    let mut c = Counts::default();
    let mut off = from;
    while off + 16 <= to {
        let caplen = le32(bytes, off + 8) as usize;
        let end = off + 16 + caplen;
        if end > to {
            break;
        }
        let frac = i64::from(le32(bytes, off + 4));
        let p = Packet {
            index: c.packets + 1,
            ts_ns: i64::from(le32(bytes, off)) * 1_000_000_000
                + if nanos { frac } else { frac * 1000 },
            link_type,
            data: &bytes[off + 16..end],
            orig_len: le32(bytes, off + 12),
        };
        c.packet(&p);
        off = end;
    }
    c
}

/// Whether a plausible chain of `CHAIN` records (or the end of the file) starts at
/// `at`: sane lengths and timestamps within a day of the first packet's.
fn chain_at(bytes: &[u8], mut at: usize, first_sec: u32, nanos: bool) -> bool {
    const CHAIN: usize = 16;
    let frac_max = if nanos { 1_000_000_000 } else { 1_000_000 };
    for _ in 0..CHAIN {
        if at == bytes.len() {
            return true;
        }
        if at + 16 > bytes.len() {
            return false;
        }
        let (sec, frac) = (le32(bytes, at), le32(bytes, at + 4));
        let (caplen, orig) = (le32(bytes, at + 8), le32(bytes, at + 12));
        if sec.abs_diff(first_sec) > 86_400
            || frac >= frac_max
            || caplen > capture::MAX_CAPLEN
            || orig < caplen
        {
            return false;
        }
        at += 16 + caplen as usize;
    }
    true
}

/// The first record boundary at or after `from`, found without reading the file
/// from its start: the way a parallel reader can split a pcap.
fn resync(bytes: &[u8], from: usize, first_sec: u32, nanos: bool) -> usize {
    (from..bytes.len())
        .find(|&at| chain_at(bytes, at, first_sec, nanos))
        .unwrap_or(bytes.len())
}

fn many_threads(bytes: &[u8], threads: usize) -> Result<Counts, String> {
    let (nanos, link) =
        legacy_le(bytes).ok_or("--threads > 1 needs a little-endian legacy pcap")?;
    if bytes.len() < 40 {
        return one_thread(bytes);
    }
    let first_sec = le32(bytes, 24);
    let parts: Vec<Counts> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                s.spawn(move || {
                    // Each thread finds its own first and last record.
                    let cut = |k: usize| match k {
                        0 => 24,
                        k if k == threads => bytes.len(),
                        k => resync(bytes, bytes.len() / threads * k, first_sec, nanos),
                    };
                    slice_range(bytes, cut(k), cut(k + 1), nanos, link)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut total = Counts::default();
    for p in parts {
        total.add(p);
    }
    Ok(total)
}

fn main() -> ExitCode {
    let mut path = None;
    let mut threads = 1usize;
    let mut repeat = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--threads" | "-j" => threads = args.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            "--repeat" => repeat = args.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            _ if path.is_none() => path = Some(a),
            _ => path = None,
        }
    }
    let (Some(path), true, true) = (path, threads > 0, repeat > 0) else {
        eprintln!("usage: slice_ceiling FILE [--threads N] [--repeat N]");
        return ExitCode::from(2);
    };
    let map = match File::open(&path).and_then(|f| {
        // SAFETY: read-only map of a file nobody truncates while we read it.
        unsafe { memmap2::Mmap::map(&f) }
    }) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("slice_ceiling: {path}: {e}");
            return ExitCode::from(1);
        }
    };
    let bytes: &[u8] = &map;
    let mut secs = Vec::new();
    for _ in 0..repeat {
        let t = Instant::now();
        let counts = if threads == 1 {
            one_thread(bytes)
        } else {
            many_threads(bytes, threads)
        };
        let s = t.elapsed().as_secs_f64();
        let c = match counts {
            Ok(c) => c,
            Err(e) => {
                eprintln!("slice_ceiling: {path}: {e}");
                return ExitCode::from(1);
            }
        };
        println!(
            "threads={threads} secs={s:.4} bytes={} packets={} tcp={} payload={} mb_s={:.1} mpkt_s={:.3}",
            bytes.len(),
            c.packets,
            c.tcp,
            c.payload,
            bytes.len() as f64 / s / 1e6,
            c.packets as f64 / s / 1e6
        );
        secs.push(s);
    }
    secs.sort_by(f64::total_cmp);
    let median = secs[secs.len() / 2];
    println!(
        "median threads={threads} secs={median:.4} mb_s={:.1}",
        bytes.len() as f64 / median / 1e6
    );
    ExitCode::SUCCESS
}
