//! Peak memory on captures built to exhaust it: frames claiming 2 GB, hundreds of
//! thousands of connections, endless out-of-order data, TLS. kapture's memory (not
//! counting the memory-mapped capture itself) must stay within the bound the README
//! states: 4 × the capture's size + 64 MiB.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use etherparse::PacketBuilder;
use kapture::testkit::{CraftedPacket, pcap};

const BOUND_FIXED: u64 = 64 << 20;
const BOUND_FACTOR: u64 = 4;

fn packet(src: [u8; 4], sport: u16, seq: u32, syn: bool, payload: &[u8]) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src, [127, 0, 0, 1], 64)
        .tcp(sport, 9092, seq, 65535);
    if syn {
        b = b.syn();
    } else {
        b = b.ack(1);
    }
    let mut out = Vec::with_capacity(payload.len() + 54);
    b.write(&mut out, payload).unwrap();
    out
}

fn crafted(n: usize, f: impl Fn(usize) -> Vec<u8>) -> Vec<u8> {
    let packets: Vec<CraftedPacket> = (0..n)
        .map(|i| CraftedPacket {
            ts_ns: 1_700_000_000_000_000_000 + i as i64 * 1000,
            bytes: f(i),
        })
        .collect();
    pcap(&packets)
}

/// Runs kapture on `bytes` and returns the largest anonymous resident memory seen
/// (sampled every 2 ms from /proc; the file mapping is file-backed, so not counted).
fn peak_anon_memory(name: &str, bytes: &[u8]) -> u64 {
    let path =
        std::env::temp_dir().join(format!("kapture-memory-{}-{name}.pcap", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kapture"))
        .args(["-q", "--api", "all", "-o", "/dev/null"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let started = Instant::now();
    let mut peak = 0u64;
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_path) {
            for line in status.lines() {
                if let Some(kb) = line.strip_prefix("RssAnon:") {
                    let kb: u64 = kb.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                    peak = peak.max(kb * 1024);
                }
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.code().unwrap() <= 1, "{name}: {status:?}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{name}: no end after 120 s"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    std::fs::remove_file(&path).unwrap();
    let bound = BOUND_FACTOR * bytes.len() as u64 + BOUND_FIXED;
    println!(
        "{name}: capture {} MiB, peak anonymous memory {} MiB, bound {} MiB",
        bytes.len() >> 20,
        peak >> 20,
        bound >> 20
    );
    assert!(peak <= bound, "{name}: {peak} bytes > {bound}");
    peak
}

#[test]
fn frames_claiming_2_gb_are_not_allocated() {
    // One connection; every segment starts with a 0x7fffffff length prefix.
    let mut payload = vec![0x7f, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x12];
    payload.resize(200, 0xab);
    let bytes = crafted(100_000, |i| {
        packet([127, 0, 0, 2], 40000, 1 + (i * 200) as u32, false, &payload)
    });
    peak_anon_memory("huge-frames", &bytes);
}

#[test]
fn hundreds_of_thousands_of_connections() {
    let bytes = crafted(300_000, |i| {
        let src = [127, 1 + (i >> 16) as u8, (i >> 8) as u8, i as u8];
        packet(src, 1024 + (i % 50_000) as u16, 7, true, &[])
    });
    peak_anon_memory("connections", &bytes);
}

#[test]
fn endless_out_of_order_data() {
    // One direction: 8-byte segments with a 1-byte hole after each, so nothing is ever
    // contiguous, each held apart.
    let bytes = crafted(300_000, |i| {
        packet(
            [127, 0, 0, 3],
            40001,
            1 + (i * 9) as u32,
            false,
            &[0x00, 0x00, 0x00, 0x10, 0, 0, 0, 1],
        )
    });
    peak_anon_memory("out-of-order", &bytes);
}

#[test]
fn tls_on_the_kafka_port() {
    let mut record = vec![0x17, 0x03, 0x03, 0x05, 0xb4];
    record.resize(1400, 0x5a);
    let bytes = crafted(30_000, |i| {
        packet([127, 0, 0, 4], 40002, 1 + (i * 1400) as u32, false, &record)
    });
    peak_anon_memory("tls", &bytes);
}
