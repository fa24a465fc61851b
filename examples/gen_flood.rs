//! Builds the crafted hostile captures of the benchmark's flood cases: traffic that is
//! nothing but open state, to check that kapture's memory caps hold.
//!
//! - `syn`: N bare SYNs to the broker port, each from its own address and port, never
//!   answered (a SYN flood or a port scan);
//! - `unanswered`: N connections that complete the handshake and send one ApiVersions
//!   request each, never answered and never closed (a reconnect storm against a broker
//!   the capture does not see answer).
//!
//! Packets are 10 µs apart (a 100k packets/s flood), so in capture time no connection
//! reaches a timeout before the caps must act. The output is a legacy pcap
//! (microseconds, Ethernet, IPv4 with correct header checksums). The same arguments
//! always give the same file.
//!
//! ```text
//! cargo run --release --example gen_flood -- syn 1000000 -o /tmp/syn-1m.pcap
//! cargo run --release --example gen_flood -- unanswered 1000000 -o /tmp/unanswered-1m.pcap
//! ```

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

const USAGE: &str = "usage: gen_flood syn|unanswered N -o FILE";

/// Capture time of the first packet: 2026-12-01T00:00:00Z.
const START_US: u64 = 1_796_083_200_000_000;
const GAP_US: u64 = 10;
const BROKER: [u8; 4] = [10, 255, 0, 1];
const BROKER_PORT: u16 = 9092;

/// The flood connection `i`'s client end: an address in 10.0.0.0/9 and a port, so
/// that millions of them are distinct.
fn client(i: u64) -> ([u8; 4], u16) {
    let host = (i % (1 << 23)) as u32 + 1;
    let port = 1024 + (i >> 23) as u16;
    let [_, b, c, d] = host.to_be_bytes();
    ([10, b, c, d], port)
}

/// The TCP flags kapture and tshark read.
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;

struct Packet<'a> {
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &'a [u8],
}

fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Writes one record: pcap record header, Ethernet, IPv4, TCP (no options), payload.
fn write_packet(out: &mut impl Write, ts_us: u64, p: &Packet<'_>) -> io::Result<()> {
    let len = 14 + 20 + 20 + p.payload.len();
    let mut rec = Vec::with_capacity(16 + len);
    rec.extend_from_slice(&((ts_us / 1_000_000) as u32).to_le_bytes());
    rec.extend_from_slice(&((ts_us % 1_000_000) as u32).to_le_bytes());
    rec.extend_from_slice(&(len as u32).to_le_bytes());
    rec.extend_from_slice(&(len as u32).to_le_bytes());
    rec.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00]);
    let ip_start = rec.len();
    rec.extend_from_slice(&[0x45, 0]);
    rec.extend_from_slice(&((len - 14) as u16).to_be_bytes());
    rec.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
    rec.extend_from_slice(&p.src.0);
    rec.extend_from_slice(&p.dst.0);
    let sum = ipv4_checksum(&rec[ip_start..ip_start + 20]);
    rec[ip_start + 10..ip_start + 12].copy_from_slice(&sum.to_be_bytes());
    rec.extend_from_slice(&p.src.1.to_be_bytes());
    rec.extend_from_slice(&p.dst.1.to_be_bytes());
    rec.extend_from_slice(&p.seq.to_be_bytes());
    rec.extend_from_slice(&p.ack.to_be_bytes());
    rec.extend_from_slice(&[0x50, p.flags, 0xff, 0xff, 0, 0, 0, 0]);
    rec.extend_from_slice(p.payload);
    out.write_all(&rec)
}

/// An ApiVersions v3 request (correlation id 0, client id and software as a Java
/// client sends them).
fn api_versions_request() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&18i16.to_be_bytes()); // ApiVersions
    body.extend_from_slice(&3i16.to_be_bytes());
    body.extend_from_slice(&0i32.to_be_bytes()); // correlation id
    let client_id = b"flood";
    body.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    body.extend_from_slice(client_id);
    body.push(0); // header tagged fields
    for s in [&b"apache-kafka-java"[..], b"4.1.2"] {
        body.push(s.len() as u8 + 1); // compact string
        body.extend_from_slice(s);
    }
    body.push(0); // body tagged fields
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

fn write_flood(out: &mut impl Write, kind: &str, n: u64) -> io::Result<()> {
    // Legacy pcap header: microseconds, version 2.4, snaplen 65535, Ethernet.
    out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    out.write_all(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0])?;
    out.write_all(&65535u32.to_le_bytes())?;
    out.write_all(&1u32.to_le_bytes())?;
    let broker = (BROKER, BROKER_PORT);
    let request = api_versions_request();
    let mut ts = START_US;
    let mut next = |out: &mut dyn FnMut(u64) -> io::Result<()>| {
        ts += GAP_US;
        out(ts)
    };
    for i in 0..n {
        let me = client(i);
        let isn = (i as u32).wrapping_mul(2_654_435_761);
        let syn = Packet {
            src: me,
            dst: broker,
            seq: isn,
            ack: 0,
            flags: SYN,
            payload: &[],
        };
        next(&mut |t| write_packet(out, t, &syn))?;
        if kind == "syn" {
            continue;
        }
        let server_isn = isn ^ 0x5a5a_5a5a;
        let steps = [
            Packet {
                src: broker,
                dst: me,
                seq: server_isn,
                ack: isn.wrapping_add(1),
                flags: SYN | ACK,
                payload: &[],
            },
            Packet {
                src: me,
                dst: broker,
                seq: isn.wrapping_add(1),
                ack: server_isn.wrapping_add(1),
                flags: ACK,
                payload: &[],
            },
            Packet {
                src: me,
                dst: broker,
                seq: isn.wrapping_add(1),
                ack: server_isn.wrapping_add(1),
                flags: ACK | PSH,
                payload: &request,
            },
        ];
        for p in &steps {
            next(&mut |t| write_packet(out, t, p))?;
        }
    }
    out.flush()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (kind, n, path) = match args.as_slice() {
        [kind, n, flag, path] if flag == "-o" && (kind == "syn" || kind == "unanswered") => {
            match n.parse::<u64>() {
                Ok(n) => (kind.as_str(), n, path.as_str()),
                Err(_) => {
                    eprintln!("gen_flood: '{n}' is not a number\n{USAGE}");
                    return ExitCode::from(2);
                }
            }
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = File::create(path)
        .and_then(|f| write_flood(&mut BufWriter::with_capacity(1 << 20, f), kind, n));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen_flood: {path}: {e}");
            ExitCode::FAILURE
        }
    }
}
