//! Builds a large benchmark capture out of the real captures in `testdata/`.
//!
//! Every packet written is a real packet of a real Kafka exchange: whole captures
//! (all their TCP connections to the broker port) are replayed again and again, each
//! replay ("instance") with its own client address and ports, broker address, initial
//! sequence numbers and start time, many instances overlapping in time. Nothing inside
//! the TCP payload changes, so Produce and Fetch keep their real batch sizes and codecs,
//! `netem*.pcap` keep their real loss, retransmissions and out-of-order arrivals, and
//! `midstream.pcap` keeps its mid-connection start. Rewritten per packet: IP addresses
//! (IPv4 header checksum recomputed), client port, sequence and acknowledgement numbers
//! and SACK blocks (TCP checksum updated incrementally), timestamp.
//!
//! The output is a legacy pcap (microseconds, Ethernet), written in timestamp order,
//! cut at the last whole packet that fits in `--size`. The same arguments always give
//! the same file.
//!
//! ```text
//! cargo run --release --example gen_bench -- --size 1G -o /tmp/kapture-bench.pcap
//! ```

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Templates and how often each is picked, by default. Big captures (`netem*`,
/// `large-records`) carry most of the bytes, the small ones most of the exchanges.
const DEFAULT_MIX: &str = "codecs-kcat=3,group-confluent=3,traceparent-otel=2,aiokafka=2,\
ipv6=1,acks0=1,produce-error=1,basic-kafka-python=1,midstream=1,netem=2,netem-broker=1,\
large-records=1";

const USAGE: &str = "\
usage: gen_bench -o FILE [--size SIZE] [--seed N] [--concurrency N] [--mix LIST]
                 [--testdata DIR] [--clients N] [--brokers N] [--drop P]

  -o FILE          output pcap ('-' for stdout)
  --size SIZE      target size: bytes, or with K/M/G suffix (default 1G)
  --seed N         PRNG seed (default 1)
  --concurrency N  replays in flight at once (default 64)
  --mix LIST       template=weight,... (default: all templates below)
  --testdata DIR   where the templates are (default: the crate's testdata/)
  --clients N      client hosts (default 1024)
  --brokers N      broker hosts (default 3)
  --drop P         probability to drop each packet, as a capture point that loses
                   packets would (default 0)
";

struct Options {
    output: PathBuf,
    size: u64,
    seed: u64,
    concurrency: usize,
    mix: Vec<(String, u32)>,
    testdata: PathBuf,
    clients: u32,
    brokers: u32,
    drop: f64,
}

fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().trim_end_matches(['B', 'b']);
    let (num, mul) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 1u64 << 10),
        'm' | 'M' => (&s[..s.len() - 1], 1 << 20),
        'g' | 'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let v: f64 = num.parse().ok()?;
    (v > 0.0).then_some((v * mul as f64) as u64)
}

fn parse_mix(s: &str) -> Result<Vec<(String, u32)>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, w) = p.split_once('=').unwrap_or((p, "1"));
            let w: u32 = w.parse().map_err(|_| format!("bad weight in '{p}'"))?;
            Ok((name.trim_end_matches(".pcap").to_string(), w))
        })
        .filter(|r| !matches!(r, Ok((_, 0))))
        .collect()
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        output: PathBuf::new(),
        size: 1 << 30,
        seed: 1,
        concurrency: 64,
        mix: parse_mix(DEFAULT_MIX)?,
        testdata: Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata"),
        clients: 1024,
        brokers: 3,
        drop: 0.0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        let bad = |what: &str| format!("bad {what}");
        match a.as_str() {
            "-o" | "--output" => o.output = PathBuf::from(val()?),
            "--size" => o.size = parse_size(&val()?).ok_or_else(|| bad("--size"))?,
            "--seed" => o.seed = val()?.parse().map_err(|_| bad("--seed"))?,
            "--concurrency" => {
                o.concurrency = val()?.parse().map_err(|_| bad("--concurrency"))?;
            }
            "--mix" => o.mix = parse_mix(&val()?)?,
            "--testdata" => o.testdata = PathBuf::from(val()?),
            "--clients" => o.clients = val()?.parse().map_err(|_| bad("--clients"))?,
            "--brokers" => o.brokers = val()?.parse().map_err(|_| bad("--brokers"))?,
            "--drop" => o.drop = val()?.parse().map_err(|_| bad("--drop"))?,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    if o.output.as_os_str().is_empty() {
        return Err("-o FILE is required".into());
    }
    if o.concurrency == 0 || o.clients == 0 || o.brokers == 0 || o.mix.is_empty() {
        return Err("--concurrency, --clients, --brokers and --mix must not be zero".into());
    }
    if !(0.0..1.0).contains(&o.drop) {
        return Err("--drop must be in [0, 1)".into());
    }
    Ok(o)
}

/// splitmix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Ports the brokers listen on in the templates.
const BROKER_PORTS: [u16; 2] = [9092, 19092];

/// One packet of a template, with where its fields are.
struct TPacket {
    /// Microseconds since the template's first packet.
    rel_us: i64,
    orig_len: u32,
    data: Vec<u8>,
    ip_off: usize,
    v6: bool,
    tcp_off: usize,
    /// The client sent it.
    from_client: bool,
    /// Index of its connection (client port) in the template.
    conn: usize,
}

struct Template {
    name: String,
    packets: Vec<TPacket>,
    conns: usize,
    bytes: u64,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Finds the IP and TCP headers of an Ethernet frame; `None` for anything else.
fn locate(d: &[u8]) -> Option<(usize, bool, usize)> {
    let mut off = 12;
    let mut et = be16(d.get(..14)?, off);
    while et == 0x8100 || et == 0x88a8 {
        off += 4;
        et = be16(d.get(..off + 2)?, off);
    }
    let ip = off + 2;
    match et {
        0x0800 => {
            let ihl = usize::from(*d.get(ip)? & 0x0f) * 4;
            (*d.get(ip + 9)? == 6 && ihl >= 20).then_some((ip, false, ip + ihl))
        }
        0x86dd => (*d.get(ip + 6)? == 6).then_some((ip, true, ip + 40)),
        _ => None,
    }
    .filter(|&(_, _, tcp)| d.len() >= tcp + 20)
}

fn load_template(path: &Path, name: &str) -> Result<Template, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() < 24 {
        return Err(format!("{}: too short", path.display()));
    }
    let magic = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
    let nanos = match magic {
        0xa1b2_c3d4 => false,
        0xa1b2_3c4d => true,
        _ => return Err(format!("{}: not a little-endian pcap", path.display())),
    };
    if u32::from_le_bytes(bytes[20..24].try_into().unwrap()) != 1 {
        return Err(format!("{}: not Ethernet", path.display()));
    }
    let mut packets = Vec::new();
    let mut conns: HashMap<(Vec<u8>, u16), usize> = HashMap::new();
    let mut first_us = None;
    let mut off = 24;
    while off + 16 <= bytes.len() {
        let le = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        let (secs, frac, caplen, orig_len) = (le(off), le(off + 4), le(off + 8), le(off + 12));
        let end = off + 16 + caplen as usize;
        if end > bytes.len() {
            break;
        }
        let data = &bytes[off + 16..end];
        off = end;
        let us = i64::from(secs) * 1_000_000 + i64::from(if nanos { frac / 1000 } else { frac });
        let Some((ip_off, v6, tcp_off)) = locate(data) else {
            continue;
        };
        let (sport, dport) = (be16(data, tcp_off), be16(data, tcp_off + 2));
        let from_client = match (BROKER_PORTS.contains(&sport), BROKER_PORTS.contains(&dport)) {
            (false, true) => true,
            (true, false) => false,
            _ => continue,
        };
        let (alen, src) = if v6 {
            (16, ip_off + 8)
        } else {
            (4, ip_off + 12)
        };
        let client_ip = if from_client { src } else { src + alen };
        let key = (
            data[client_ip..client_ip + alen].to_vec(),
            if from_client { sport } else { dport },
        );
        let n = conns.len();
        let conn = *conns.entry(key).or_insert(n);
        let first = *first_us.get_or_insert(us);
        packets.push(TPacket {
            rel_us: us - first,
            orig_len,
            data: data.to_vec(),
            ip_off,
            v6,
            tcp_off,
            from_client,
            conn,
        });
    }
    if packets.is_empty() {
        return Err(format!(
            "{}: no TCP packet to or from a broker port",
            path.display()
        ));
    }
    let bytes = packets.iter().map(|p| 16 + p.data.len() as u64).sum();
    Ok(Template {
        name: name.to_string(),
        packets,
        conns: conns.len(),
        bytes,
    })
}

/// One replay of a template in progress.
struct Instance {
    template: usize,
    next: usize,
    base_us: i64,
    client: u32,
    broker: u32,
    /// Per template connection: client port and ISN shifts `[client, broker]`.
    ports: Vec<u16>,
    shifts: Vec<[u32; 2]>,
}

fn client_ip(h: u32, v6: bool, out: &mut [u8]) {
    if v6 {
        out.copy_from_slice(&[0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out[12..16].copy_from_slice(&(h + 1).to_be_bytes());
    } else {
        // 10.1.0.1 and up.
        out.copy_from_slice(&(0x0a01_0001u32 + h).to_be_bytes());
    }
}

fn broker_ip(b: u32, v6: bool, out: &mut [u8]) {
    if v6 {
        out.copy_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out[12..16].copy_from_slice(&(b + 1).to_be_bytes());
    } else {
        // 10.0.0.1 and up.
        out.copy_from_slice(&(0x0a00_0001u32 + b).to_be_bytes());
    }
}

/// Incremental Internet checksum update (RFC 1624) over changed 16-bit words.
struct CsumDelta(u32);

impl CsumDelta {
    fn word(&mut self, old: u16, new: u16) {
        self.0 += u32::from(!old) + u32::from(new);
    }

    fn bytes(&mut self, old: &[u8], new: &[u8]) {
        for (o, n) in old.chunks_exact(2).zip(new.chunks_exact(2)) {
            self.word(be16(o, 0), be16(n, 0));
        }
    }

    fn apply(mut self, csum: u16) -> u16 {
        self.0 += u32::from(!csum);
        while self.0 > 0xffff {
            self.0 = (self.0 & 0xffff) + (self.0 >> 16);
        }
        !(self.0 as u16)
    }
}

fn ipv4_checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = h
        .chunks_exact(2)
        .enumerate()
        .filter(|&(i, _)| i != 5)
        .map(|(_, w)| u32::from(be16(w, 0)))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Adds `by` to the 32-bit big-endian field at `at`.
fn shift32(buf: &mut [u8], at: usize, by: u32, delta: &mut CsumDelta) {
    let old = be32(buf, at);
    let new = old.wrapping_add(by);
    delta.bytes(&old.to_be_bytes(), &new.to_be_bytes());
    buf[at..at + 4].copy_from_slice(&new.to_be_bytes());
}

/// Rewrites a copy of `p` (already in `buf`) for instance `inst`.
fn rewrite(buf: &mut [u8], p: &TPacket, inst: &Instance) {
    let mut delta = CsumDelta(0);
    let (alen, src) = if p.v6 {
        (16, p.ip_off + 8)
    } else {
        (4, p.ip_off + 12)
    };
    let mut cip = [0u8; 16];
    let mut bip = [0u8; 16];
    client_ip(inst.client, p.v6, &mut cip[..alen]);
    broker_ip(inst.broker, p.v6, &mut bip[..alen]);
    let (s_new, d_new) = if p.from_client {
        (&cip[..alen], &bip[..alen])
    } else {
        (&bip[..alen], &cip[..alen])
    };
    delta.bytes(&buf[src..src + alen], s_new);
    buf[src..src + alen].copy_from_slice(s_new);
    delta.bytes(&buf[src + alen..src + 2 * alen], d_new);
    buf[src + alen..src + 2 * alen].copy_from_slice(d_new);
    if !p.v6 {
        let ihl = p.tcp_off - p.ip_off;
        let c = ipv4_checksum(&buf[p.ip_off..p.ip_off + ihl]);
        buf[p.ip_off + 10..p.ip_off + 12].copy_from_slice(&c.to_be_bytes());
    }
    let t = p.tcp_off;
    let port = inst.ports[p.conn];
    let port_at = if p.from_client { t } else { t + 2 };
    delta.word(be16(buf, port_at), port);
    buf[port_at..port_at + 2].copy_from_slice(&port.to_be_bytes());
    let (mine, theirs) = if p.from_client {
        (inst.shifts[p.conn][0], inst.shifts[p.conn][1])
    } else {
        (inst.shifts[p.conn][1], inst.shifts[p.conn][0])
    };
    shift32(buf, t + 4, mine, &mut delta);
    let flags = buf[t + 13];
    if flags & 0x10 != 0 {
        shift32(buf, t + 8, theirs, &mut delta);
    }
    // SACK blocks acknowledge the peer's sequence numbers.
    let hlen = usize::from(buf[t + 12] >> 4) * 4;
    let opts_end = (t + hlen).min(buf.len());
    let mut o = t + 20;
    while o < opts_end {
        match buf[o] {
            0 => break,
            1 => o += 1,
            kind => {
                let Some(&len) = buf.get(o + 1) else { break };
                let len = usize::from(len);
                if len < 2 || o + len > opts_end {
                    break;
                }
                if kind == 5 {
                    let mut e = o + 2;
                    while e + 4 <= o + len {
                        shift32(buf, e, theirs, &mut delta);
                        e += 4;
                    }
                }
                o += len;
            }
        }
    }
    let ck = t + 16;
    let c = delta.apply(be16(buf, ck));
    buf[ck..ck + 2].copy_from_slice(&c.to_be_bytes());
}

struct Generator<'t> {
    templates: &'t [Template],
    /// Cumulative weights for picking a template.
    cumulative: Vec<u64>,
    rng: Rng,
    next_port: Vec<u16>,
    opts: &'t Options,
    started: Vec<u64>,
}

const FIRST_PORT: u16 = 32768;
const LAST_PORT: u16 = 60999;

impl Generator<'_> {
    fn start(&mut self, at_us: i64) -> Instance {
        let total = *self.cumulative.last().unwrap();
        let pick = self.rng.below(total);
        let template = self.cumulative.partition_point(|&c| c <= pick);
        self.started[template] += 1;
        let t = &self.templates[template];
        let client = self.rng.below(u64::from(self.opts.clients)) as u32;
        let broker = self.rng.below(u64::from(self.opts.brokers)) as u32;
        let ports = (0..t.conns)
            .map(|_| {
                let p = &mut self.next_port[client as usize];
                let port = *p;
                *p = if *p >= LAST_PORT { FIRST_PORT } else { *p + 1 };
                port
            })
            .collect();
        let shifts = (0..t.conns)
            .map(|_| {
                let r = self.rng.next();
                [r as u32, (r >> 32) as u32]
            })
            .collect();
        Instance {
            template,
            next: 0,
            base_us: at_us,
            client,
            broker,
            ports,
            shifts,
        }
    }

    fn ts_of(&self, inst: &Instance) -> Option<i64> {
        self.templates[inst.template]
            .packets
            .get(inst.next)
            .map(|p| inst.base_us + p.rel_us)
    }
}

struct Totals {
    packets: u64,
    dropped: u64,
    bytes: u64,
    first_us: i64,
    last_us: i64,
}

fn generate(opts: &Options, templates: &[Template], out: &mut impl Write) -> io::Result<Totals> {
    let mut cumulative = Vec::new();
    let mut acc = 0u64;
    for (_, w) in &opts.mix {
        acc += u64::from(*w);
        cumulative.push(acc);
    }
    let mut g = Generator {
        templates,
        cumulative,
        rng: Rng(opts.seed),
        next_port: vec![FIRST_PORT; opts.clients as usize],
        opts,
        started: vec![0; templates.len()],
    };
    // pcap header: microseconds, snaplen 262144, Ethernet.
    let mut header = Vec::with_capacity(24);
    header.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    header.extend_from_slice(&2u16.to_le_bytes());
    header.extend_from_slice(&4u16.to_le_bytes());
    header.extend_from_slice(&[0; 8]);
    header.extend_from_slice(&262_144u32.to_le_bytes());
    header.extend_from_slice(&1u32.to_le_bytes());
    out.write_all(&header)?;
    let mut totals = Totals {
        packets: 0,
        dropped: 0,
        bytes: 24,
        first_us: 0,
        last_us: 0,
    };
    // 2026-01-01T00:00:00Z.
    let t0: i64 = 1_767_225_600_000_000;
    totals.first_us = t0;
    let mut slots: Vec<Instance> = Vec::with_capacity(opts.concurrency);
    let mut heap = BinaryHeap::new();
    for i in 0..opts.concurrency {
        // Spread the first replays over one second.
        let at = t0 + g.rng.below(1_000_000) as i64;
        let inst = g.start(at);
        heap.push(Reverse((g.ts_of(&inst).unwrap(), i)));
        slots.push(inst);
    }
    let mut buf = Vec::with_capacity(1 << 18);
    while let Some(Reverse((ts, slot))) = heap.pop() {
        let inst = &slots[slot];
        let p = &templates[inst.template].packets[inst.next];
        let rec = 16 + p.data.len() as u64;
        if totals.bytes + rec > opts.size {
            break;
        }
        if opts.drop > 0.0 && g.rng.unit() < opts.drop {
            totals.dropped += 1;
        } else {
            buf.clear();
            buf.extend_from_slice(&((ts / 1_000_000) as u32).to_le_bytes());
            buf.extend_from_slice(&((ts % 1_000_000) as u32).to_le_bytes());
            buf.extend_from_slice(&(p.data.len() as u32).to_le_bytes());
            buf.extend_from_slice(&p.orig_len.to_le_bytes());
            buf.extend_from_slice(&p.data);
            rewrite(&mut buf[16..], p, inst);
            out.write_all(&buf)?;
            totals.bytes += rec;
            totals.packets += 1;
            totals.last_us = ts;
        }
        slots[slot].next += 1;
        match g.ts_of(&slots[slot]) {
            Some(next) => heap.push(Reverse((next, slot))),
            None => {
                // The next replay starts up to 1 ms after this one ended.
                let at = ts + g.rng.below(1_000) as i64;
                slots[slot] = g.start(at);
                heap.push(Reverse((g.ts_of(&slots[slot]).unwrap(), slot)));
            }
        }
    }
    out.flush()?;
    eprintln!("replays started per template:");
    for (t, n) in templates.iter().zip(&g.started) {
        eprintln!(
            "  {:<20} {:>8}  ({} connections, {} packets, {} bytes each)",
            t.name,
            n,
            t.conns,
            t.packets.len(),
            t.bytes
        );
    }
    Ok(totals)
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("gen_bench: {e}");
            }
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut templates = Vec::new();
    for (name, _) in &opts.mix {
        match load_template(&opts.testdata.join(format!("{name}.pcap")), name) {
            Ok(t) => templates.push(t),
            Err(e) => {
                eprintln!("gen_bench: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let result = if opts.output.as_os_str() == "-" {
        generate(&opts, &templates, &mut BufWriter::new(io::stdout().lock()))
    } else {
        match File::create(&opts.output) {
            Ok(f) => generate(&opts, &templates, &mut BufWriter::with_capacity(1 << 20, f)),
            Err(e) => Err(e),
        }
    };
    match result {
        Ok(t) => {
            eprintln!(
                "wrote {} bytes, {} packets ({} dropped), {:.1} s of traffic",
                t.bytes,
                t.packets,
                t.dropped,
                (t.last_us - t.first_us) as f64 / 1e6
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen_bench: {}: {e}", opts.output.display());
            ExitCode::from(1)
        }
    }
}
