//! Unit tests of the capture reader: both formats, both byte orders, damaged and cut
//! files, and the stream reader against the whole-file reader.

use super::pcapng::TsScale;
use super::*;

/// A delivered packet, owned: (index, ts_ns, link_type, data, orig_len).
type Owned = (u64, i64, u32, Vec<u8>, u32);

/// Reads `bytes` and keeps every packet.
fn read_all(bytes: &[u8]) -> Result<(Vec<Owned>, ReadReport), CaptureError> {
    let mut out = Vec::new();
    let report = for_each_packet(bytes, |p| {
        out.push((p.index, p.ts_ns, p.link_type, p.data.to_vec(), p.orig_len))
    })?;
    Ok((out, report))
}

/// A small microsecond little-endian pcap: two Ethernet packets.
fn pcap_usec_le() -> Vec<u8> {
    let mut v = vec![
        0xd4, 0xc3, 0xb2, 0xa1, // magic 0xa1b2c3d4, little-endian, microseconds
        0x02, 0x00, 0x04, 0x00, // version 2.4
        0x00, 0x00, 0x00, 0x00, // thiszone 0
        0x00, 0x00, 0x00, 0x00, // sigfigs 0
        0xff, 0xff, 0x00, 0x00, // snaplen 65535
        0x01, 0x00, 0x00, 0x00, // link type 1 (Ethernet)
        // record 1
        0x10, 0x00, 0x00, 0x00, // ts_sec 16
        0x40, 0x42, 0x0f, 0x00, // ts_usec 1_000_000 (0x0f4240): out of range, kept as is
        0x04, 0x00, 0x00, 0x00, // incl_len 4
        0x3c, 0x00, 0x00, 0x00, // orig_len 60
        0xaa, 0xbb, 0xcc, 0xdd, // data
        // record 2
        0x11, 0x00, 0x00, 0x00, // ts_sec 17
        0x05, 0x00, 0x00, 0x00, // ts_usec 5
        0x02, 0x00, 0x00, 0x00, // incl_len 2
        0x02, 0x00, 0x00, 0x00, // orig_len 2
    ];
    v.extend_from_slice(&[0x01, 0x02]); // data
    v
}

#[test]
fn pcap_microseconds_little_endian() {
    let (pkts, report) = read_all(&pcap_usec_le()).unwrap();
    assert_eq!(
        report.format,
        CaptureFormat::Pcap {
            nanos: false,
            big_endian: false
        }
    );
    assert_eq!(report.packets, 2);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(report.stopped_at, None);
    // ts_usec of 1_000_000 is not normalised away: 16 s + 1 s.
    assert_eq!(
        pkts[0],
        (1, 17_000_000_000, 1, vec![0xaa, 0xbb, 0xcc, 0xdd], 60)
    );
    assert_eq!(pkts[1], (2, 17_000_005_000, 1, vec![0x01, 0x02], 2));
}

#[test]
fn pcap_nanoseconds_big_endian() {
    let bytes = [
        0xa1, 0xb2, 0x3c, 0x4d, // magic 0xa1b23c4d, big-endian, nanoseconds
        0x00, 0x02, 0x00, 0x04, // version 2.4
        0x00, 0x00, 0x00, 0x00, // thiszone
        0x00, 0x00, 0x00, 0x00, // sigfigs
        0x00, 0x04, 0x00, 0x00, // snaplen 262144
        0x00, 0x00, 0x00, 0x71, // link type 113 (Linux SLL)
        // record 1
        0x65, 0x00, 0x00, 0x00, // ts_sec 0x65000000 = 1694498816
        0x3b, 0x9a, 0xc9, 0xff, // ts_nsec 999_999_999
        0x00, 0x00, 0x00, 0x03, // incl_len 3
        0x00, 0x00, 0x05, 0xdc, // orig_len 1500
        0x07, 0x08, 0x09, // data
    ];
    let (pkts, report) = read_all(&bytes).unwrap();
    assert_eq!(
        report.format,
        CaptureFormat::Pcap {
            nanos: true,
            big_endian: true
        }
    );
    assert_eq!(
        pkts,
        vec![(1, 1_694_498_816_999_999_999, 113, vec![7, 8, 9], 1500)]
    );
    assert!(report.warnings.is_empty());
}

#[test]
fn pcap_link_type_fcs_bits_masked() {
    let mut bytes = pcap_usec_le();
    bytes[23] = 0x10; // link type 0x10000001: FCS-length bits set on Ethernet
    let (pkts, _) = read_all(&bytes).unwrap();
    assert_eq!(pkts[0].2, 1);
}

#[test]
fn pcap_absurd_caplen_stops_with_warning() {
    let mut bytes = pcap_usec_le();
    // Record 2's incl_len (offset 24 + 16 + 4 + 8) becomes 0xffffffff.
    bytes[52..56].copy_from_slice(&[0xff; 4]);
    let (pkts, report) = read_all(&bytes).unwrap();
    assert_eq!(pkts.len(), 1);
    assert_eq!(report.stopped_at, Some(44));
    let w = &report.warnings[0];
    assert!(
        w.contains("byte offset 44") && w.contains("packet 1 before it was read"),
        "{w}"
    );
    assert!(w.contains("corrupt"), "{w}");
}

#[test]
fn pcap_garbage_in_the_middle() {
    let mut bytes = pcap_usec_le();
    bytes.truncate(44); // header + record 1
    bytes.extend_from_slice(&[0xff; 40]);
    bytes.extend_from_slice(&pcap_usec_le()[44..]);
    let (pkts, report) = read_all(&bytes).unwrap();
    assert_eq!(pkts.len(), 1);
    assert_eq!(report.stopped_at, Some(44));
}

/// Appends a pcapng block: type, total length, `body` padded to 4, total length.
fn block(out: &mut Vec<u8>, be: bool, kind: u32, body: &[u8]) {
    let padded = body.len().next_multiple_of(4);
    let total = (12 + padded) as u32;
    let w = |out: &mut Vec<u8>, x: u32| {
        out.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() })
    };
    w(out, kind); // block type
    w(out, total); // block total length
    out.extend_from_slice(body); // block body
    out.resize(out.len() + padded - body.len(), 0); // padding to 32 bits
    w(out, total); // block total length, again
}

/// Field writers for block bodies in either byte order.
struct Body {
    be: bool,
    v: Vec<u8>,
}

impl Body {
    fn new(be: bool) -> Self {
        Body { be, v: Vec::new() }
    }
    fn u16(mut self, x: u16) -> Self {
        let b = if self.be {
            x.to_be_bytes()
        } else {
            x.to_le_bytes()
        };
        self.v.extend_from_slice(&b);
        self
    }
    fn u32(mut self, x: u32) -> Self {
        let b = if self.be {
            x.to_be_bytes()
        } else {
            x.to_le_bytes()
        };
        self.v.extend_from_slice(&b);
        self
    }
    fn u64(mut self, x: u64) -> Self {
        let b = if self.be {
            x.to_be_bytes()
        } else {
            x.to_le_bytes()
        };
        self.v.extend_from_slice(&b);
        self
    }
    fn bytes(mut self, b: &[u8]) -> Self {
        self.v.extend_from_slice(b);
        self
    }
    /// An option: code, length, value padded to 4.
    fn opt(self, code: u16, value: &[u8]) -> Self {
        let pad = value.len().next_multiple_of(4) - value.len();
        self.u16(code)
            .u16(value.len() as u16)
            .bytes(value)
            .bytes(&vec![0; pad])
    }
}

fn shb(out: &mut Vec<u8>, be: bool) {
    let body = Body::new(be)
        .u32(0x1A2B_3C4D) // byte-order magic
        .u16(1) // major version
        .u16(0) // minor version
        .u64(u64::MAX) // section length: -1, unknown
        .opt(4, b"kapture test") // shb_userappl
        .u32(0); // opt_endofopt
    block(out, be, 0x0A0D_0D0A, &body.v);
}

/// Two interfaces: Ethernet at 10^-6 s, raw IP at 2^-10 s with if_tsoffset 1000 s.
fn pcapng_two_interfaces(be: bool) -> Vec<u8> {
    let mut f = Vec::new();
    shb(&mut f, be);
    let idb0 = Body::new(be)
        .u16(1) // link type: Ethernet
        .u16(0) // reserved
        .u32(0) // snaplen: unlimited
        .opt(9, &[6]) // if_tsresol: 10^-6
        .u32(0); // opt_endofopt
    block(&mut f, be, 1, &idb0.v);
    let tsoffset = if be {
        1000u64.to_be_bytes()
    } else {
        1000u64.to_le_bytes()
    };
    let idb1 = Body::new(be)
        .u16(101) // link type: raw IP
        .u16(0) // reserved
        .u32(96) // snaplen 96
        .opt(2, b"eth1") // if_name
        .opt(9, &[0x8a]) // if_tsresol: 2^-10
        .opt(14, &tsoffset) // if_tsoffset: 1000 s
        .u32(0); // opt_endofopt
    block(&mut f, be, 1, &idb1.v);
    // EPB on interface 1: ts = 3 * 1024 + 512 units of 2^-10 s = 3.5 s (+ 1000 s).
    let epb1 = Body::new(be)
        .u32(1) // interface id
        .u32(0) // timestamp, high 32 bits
        .u32(3 * 1024 + 512) // timestamp, low 32 bits
        .u32(5) // captured length
        .u32(9) // original length
        .bytes(&[0x45, 1, 2, 3, 4]) // packet data (padded to 8 by block())
        .opt(2, &[0, 0, 0, 1]) // epb_flags: inbound; options after padded data
        .u32(0); // opt_endofopt
    let mut epb1v = epb1.v;
    // Insert the 3 padding bytes after the 5 data bytes (before the options).
    epb1v.splice(25..25, [0xee, 0xee, 0xee]);
    block(&mut f, be, 6, &epb1v);
    // EPB on interface 0: ts = 1_700_000_000_123_456 us.
    let us: u64 = 1_700_000_000_123_456;
    let epb0 = Body::new(be)
        .u32(0) // interface id
        .u32((us >> 32) as u32) // timestamp, high 32 bits
        .u32(us as u32) // timestamp, low 32 bits
        .u32(4) // captured length
        .u32(4) // original length
        .bytes(&[0xde, 0xad, 0xbe, 0xef]); // packet data
    block(&mut f, be, 6, &epb0.v);
    // An Interface Statistics Block, to be skipped.
    let isb = Body::new(be).u32(0).u32(0).u32(0).u32(0);
    block(&mut f, be, 5, &isb.v);
    f
}

#[test]
fn pcapng_two_interfaces_both_byte_orders() {
    for be in [false, true] {
        let (pkts, report) = read_all(&pcapng_two_interfaces(be)).unwrap();
        assert_eq!(report.format, CaptureFormat::Pcapng);
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        assert_eq!(
            pkts,
            vec![
                (1, 1_003_500_000_000, 101, vec![0x45, 1, 2, 3, 4], 9),
                (
                    2,
                    1_700_000_000_123_456_000,
                    1,
                    vec![0xde, 0xad, 0xbe, 0xef],
                    4
                ),
            ],
            "big-endian: {be}"
        );
    }
}

#[test]
fn pcapng_sections_reset_interfaces_and_byte_order() {
    let mut f = pcapng_two_interfaces(false);
    f.extend_from_slice(&pcapng_two_interfaces(true));
    let (pkts, report) = read_all(&f).unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let idx: Vec<u64> = pkts.iter().map(|p| p.0).collect();
    assert_eq!(idx, vec![1, 2, 3, 4]);
    assert_eq!(pkts[2].2, 101);
}

#[test]
fn pcapng_simple_packet_block() {
    let mut f = Vec::new();
    shb(&mut f, false);
    let idb = Body::new(false)
        .u16(1) // link type: Ethernet
        .u16(0) // reserved
        .u32(6) // snaplen 6
        .u32(0); // no options, opt_endofopt
    block(&mut f, false, 1, &idb.v);
    let epb = Body::new(false)
        .u32(0) // interface id
        .u32(0) // timestamp high
        .u32(42) // timestamp low: 42 us
        .u32(2) // captured length
        .u32(2) // original length
        .bytes(&[1, 2]); // data
    block(&mut f, false, 6, &epb.v);
    let spb = Body::new(false)
        .u32(100) // original length 100; captured = min(100, snaplen 6, space 8)
        .bytes(&[9, 8, 7, 6, 5, 4, 3, 2]); // data
    block(&mut f, false, 3, &spb.v);
    let spb_short = Body::new(false)
        .u32(3) // original length 3: the data's padding is not data
        .bytes(&[1, 2, 3, 0]); // data + 1 padding byte
    block(&mut f, false, 3, &spb_short.v);
    let (pkts, report) = read_all(&f).unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(
        pkts,
        vec![
            (1, 42_000, 1, vec![1, 2], 2),
            (2, 42_000, 1, vec![9, 8, 7, 6, 5, 4], 100), // previous packet's time
            (3, 42_000, 1, vec![1, 2, 3], 3),
        ]
    );
}

#[test]
fn pcapng_obsolete_packet_block() {
    let mut f = Vec::new();
    shb(&mut f, true);
    let idb = Body::new(true).u16(1).u16(0).u32(0); // Ethernet, reserved, snaplen 0
    block(&mut f, true, 1, &idb.v);
    let pb = Body::new(true)
        .u16(0) // interface id (16 bits)
        .u16(7) // drops count
        .u32(0) // timestamp high
        .u32(1_000_000) // timestamp low: 1 s in us
        .u32(1) // captured length
        .u32(1) // original length
        .bytes(&[0x55]); // data
    block(&mut f, true, 2, &pb.v);
    let (pkts, report) = read_all(&f).unwrap();
    assert!(report.warnings.is_empty());
    assert_eq!(pkts, vec![(1, 1_000_000_000, 1, vec![0x55], 1)]);
}

/// Where each block of a pcapng file starts, and where the file ends.
fn block_offsets(f: &[u8], be: bool) -> Vec<usize> {
    let mut offsets = vec![0];
    let mut at = 0;
    while at < f.len() {
        let len: [u8; 4] = f[at + 4..at + 8].try_into().unwrap();
        at += if be {
            u32::from_be_bytes(len)
        } else {
            u32::from_le_bytes(len)
        } as usize;
        offsets.push(at);
    }
    offsets
}

#[test]
fn pcapng_damage_is_reported_not_fatal() {
    let good = pcapng_two_interfaces(false);
    // Blocks: SHB, IDB 0, IDB 1, EPB (interface 1), EPB (interface 0), ISB.
    let [_, _, _, epb1, epb0, ..] = block_offsets(&good, false)[..] else {
        panic!("unexpected layout")
    };
    let read_damaged = |at: usize, byte: u8| {
        let mut f = good.clone();
        f[at] = byte;
        let (pkts, report) = read_all(&f).unwrap();
        (pkts.len(), report.stopped_at, report.warnings.join("\n"))
    };
    // Second EPB names interface 7.
    let (n, stop, w) = read_damaged(epb0 + 8, 7);
    assert_eq!((n, stop), (1, Some(epb0 as u64)));
    assert!(
        w.contains("interface 7") && w.contains("packet 1 before it was read"),
        "{w}"
    );
    // First EPB's captured length (200) runs past its block.
    let (n, stop, w) = read_damaged(epb1 + 8 + 12, 200);
    assert_eq!((n, stop), (0, Some(epb1 as u64)));
    assert!(w.contains("exceeds its block"), "{w}");
    // First EPB's trailing length differs from its leading one.
    let (n, stop, w) = read_damaged(epb0 - 4, 0x44);
    assert_eq!((n, stop), (0, Some(epb1 as u64)));
    assert!(w.contains("ends with"), "{w}");
    // A block length that is not a multiple of 4.
    let (n, _, w) = read_damaged(epb0 + 4, 0x31);
    assert_eq!(n, 1);
    assert!(w.contains("not a plausible"), "{w}");
}

#[test]
fn ts_scales_are_exact() {
    assert_eq!(TsScale::from_tsresol(6).to_ns(1), 1_000);
    assert_eq!(TsScale::from_tsresol(9).to_ns(7), 7);
    assert_eq!(TsScale::from_tsresol(0).to_ns(2), 2_000_000_000);
    assert_eq!(TsScale::from_tsresol(12).to_ns(1_999), 1); // picoseconds, truncated
    assert_eq!(TsScale::from_tsresol(127).to_ns(u64::MAX), 0);
    assert_eq!(TsScale::from_tsresol(0x80 | 10).to_ns(1024), 1_000_000_000);
    assert_eq!(TsScale::from_tsresol(0x80 | 30).to_ns(1), 0); // 0.93 ns
    assert_eq!(TsScale::from_tsresol(0x80 | 20).to_ns(3), 2_861); // 2861.02 ns
    assert_eq!(TsScale::from_tsresol(0x80 | 127).to_ns(u64::MAX), 0);
    // u64::MAX seconds does not fit in i64 ns: it must saturate, not wrap or panic.
    let max = TsScale::from_tsresol(0).to_ns(u64::MAX);
    assert_eq!(max, i128::from(u64::MAX) * 1_000_000_000);
}

#[test]
fn huge_timestamps_saturate() {
    let mut f = Vec::new();
    shb(&mut f, false);
    let idb = Body::new(false)
        .u16(1) // Ethernet
        .u16(0) // reserved
        .u32(0) // snaplen
        .opt(9, &[0]) // if_tsresol: seconds
        .opt(14, &i64::MAX.to_le_bytes()) // if_tsoffset: huge
        .u32(0);
    block(&mut f, false, 1, &idb.v);
    let epb = Body::new(false)
        .u32(0) // interface
        .u32(u32::MAX) // ts high
        .u32(u32::MAX) // ts low
        .u32(0) // caplen
        .u32(0); // orig len
    block(&mut f, false, 6, &epb.v);
    let (pkts, _) = read_all(&f).unwrap();
    assert_eq!(pkts[0].1, i64::MAX);
}

/// Cuts `file` at every length: never a panic, never fewer packets for a longer
/// prefix, and a warning whenever the cut is not on a record boundary.
fn check_every_cut(file: &[u8], boundaries: &[usize]) {
    let mut last = 0;
    for len in 0..=file.len() {
        match read_all(&file[..len]) {
            Ok((pkts, report)) => {
                assert!(pkts.len() >= last, "cut at {len}: fewer packets");
                last = pkts.len();
                let on_boundary = boundaries.contains(&len);
                assert_eq!(
                    report.warnings.is_empty(),
                    on_boundary,
                    "cut at {len}: {:?}",
                    report.warnings
                );
                if !on_boundary {
                    assert_eq!(
                        report.stopped_at,
                        Some(
                            boundaries
                                .iter()
                                .rev()
                                .find(|&&b| b < len)
                                .copied()
                                .unwrap() as u64
                        )
                    );
                }
            }
            Err(e) => assert_eq!(last, 0, "cut at {len}: error {e} after packets"),
        }
    }
    assert_eq!(read_all(file).unwrap().0.len(), last);
}

#[test]
fn pcap_cut_at_every_offset() {
    // Record boundaries: after the header (24), record 1 (44), record 2 (62).
    check_every_cut(&pcap_usec_le(), &[24, 44, 62]);
}

#[test]
fn pcapng_cut_at_every_offset() {
    for be in [false, true] {
        let f = pcapng_two_interfaces(be);
        check_every_cut(&f, &block_offsets(&f, be)[1..]);
        assert_eq!(read_all(&f).unwrap().0.len(), 2);
    }
}

#[test]
fn not_a_capture_is_an_error() {
    assert_eq!(read_all(&[]).unwrap_err(), CaptureError::Empty);
    assert!(matches!(
        read_all(&[0xd4, 0xc3]).unwrap_err(),
        CaptureError::TooShort { needed: 4, .. }
    ));
    let e = read_all(b"hello world\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "not a pcap or pcapng file: it starts with 68 65 6c 6c (text, not a capture)"
    );
    let e = read_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0]).unwrap_err();
    assert!(e.to_string().contains("gzip"), "{e}");
    let e = read_all(&[0x00, 0x01, 0x02, 0x03, 4, 5, 6, 7, 8]).unwrap_err();
    assert!(
        e.to_string().contains("00 01 02 03 (unknown magic number)"),
        "{e}"
    );
    // pcap magic but no room for the 24-byte file header.
    let e = read_all(&pcap_usec_le()[..20]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "too short for a pcap file header: 20 of 24 bytes"
    );
    // pcapng with a bad byte-order magic.
    let mut f = pcapng_two_interfaces(false);
    f[8] = 0;
    let e = read_all(&f).unwrap_err();
    assert!(matches!(e, CaptureError::BadPcapng { .. }), "{e}");
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A cheap deterministic fuzz: flip bytes of valid files, one at a time and in
    // pairs, and read every result.
    let files = [
        pcap_usec_le(),
        pcapng_two_interfaces(false),
        pcapng_two_interfaces(true),
    ];
    for file in &files {
        for i in 0..file.len() {
            for x in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                let mut f = file.clone();
                f[i] = x;
                let _ = read_all(&f);
                let j = (i * 7 + 3) % f.len();
                f[j] ^= 0xa5;
                let _ = read_all(&f);
            }
        }
    }
}

// The stream reader gives what the whole-file reader gives.

use crate::fuzzing::{Pieces, assert_stream_reads_as_whole, read_streamed, read_whole};

/// Pieces seeds: one byte at a time, up to 16 bytes, up to 64 KiB, and the mix with
/// interrupted reads, each mode with two size sequences.
const SEEDS: [u16; 8] = [0, 4 << 2, 1, 1 | 77 << 2, 2, 2 | 9 << 2, 3, 3 | 1234 << 2];

#[test]
fn every_testdata_capture_streams_as_read_whole() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut read = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.ends_with(".pcap") || name.ends_with(".pcapng")) {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let (pkts, _) = read_whole(&bytes).unwrap();
        assert!(!pkts.is_empty(), "{name}");
        for seed in SEEDS {
            assert_stream_reads_as_whole(&bytes, seed);
        }
        read += 1;
    }
    assert!(read >= 20, "only {read} captures in testdata");
}

/// Small crafted files of every layout, whole, cut at every length, and with bytes
/// changed: the stream gives the same packets, warnings and errors.
#[test]
fn crafted_cut_and_damaged_files_stream_as_read_whole() {
    let mut modified_be = pcap_usec_le();
    modified_be.truncate(24);
    modified_be[..4].copy_from_slice(&[0xa1, 0xb2, 0xcd, 0x34]);
    modified_be[20..24].copy_from_slice(&[0, 0, 0, 1]);
    modified_be.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0, 7, 0, 0, 0, 2, 0, 0, 0, 2]);
    modified_be.extend_from_slice(&[0xee; 8]); // ifindex, protocol, pkt_type, pad
    modified_be.extend_from_slice(&[5, 6]);
    let files = [
        pcap_usec_le(),
        pcapng_two_interfaces(false),
        pcapng_two_interfaces(true),
        modified_be,
    ];
    for file in &files {
        for len in 0..=file.len() {
            for seed in [0, 3, 3 | 5 << 2] {
                assert_stream_reads_as_whole(&file[..len], seed);
            }
        }
        for i in 0..file.len() {
            let mut f = file.clone();
            f[i] ^= 0x81;
            assert_stream_reads_as_whole(&f, 1 | (i as u16) << 2);
        }
    }
}

#[test]
fn big_endian_modified_pcap_reads() {
    let mut f = pcap_usec_le();
    f.truncate(24);
    f[..4].copy_from_slice(&[0xa1, 0xb2, 0xcd, 0x34]);
    f[20..24].copy_from_slice(&[0, 0, 0, 1]);
    f.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0, 7, 0, 0, 0, 2, 0, 0, 0, 3]);
    f.extend_from_slice(&[0xee; 8]);
    f.extend_from_slice(&[5, 6]);
    let (pkts, report) = read_all(&f).unwrap();
    assert_eq!(
        report.format,
        CaptureFormat::Pcap {
            nanos: false,
            big_endian: true
        }
    );
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(pkts, vec![(1, 9_000_007_000, 1, vec![5, 6], 3)]);
}

#[test]
fn a_cut_stream_warns_like_a_cut_file() {
    let f = pcap_usec_le();
    let (pkts, report) = read_streamed(&f[..50], 0).unwrap();
    assert_eq!(pkts.len(), 1);
    assert_eq!(
        report.warnings,
        [
            "the capture ends in the middle of a record header at byte offset 44; \
          packet 1 before it was read"
        ]
    );
    assert_eq!(report.stopped_at, Some(44));
}

/// Packets far bigger than the first buffer: it grows, and they come out whole.
#[test]
fn records_bigger_than_the_buffer_stream_whole() {
    let mut f = pcap_usec_le();
    f.truncate(24);
    for (i, len) in [MAX_CAPLEN, 7, MAX_CAPLEN - 1, 300_000]
        .into_iter()
        .enumerate()
    {
        for field in [i as u32, 0, len, len] {
            f.extend_from_slice(&field.to_le_bytes());
        }
        f.extend((0..len).map(|b| (b % 251) as u8));
    }
    let (pkts, report) = read_whole(&f).unwrap();
    assert_eq!(pkts.len(), 3, "the 300000-byte record is corrupt");
    assert!(report.warnings[0].contains("exceeds the maximum"));
    for seed in SEEDS {
        assert_stream_reads_as_whole(&f, seed);
    }
}

/// Hands out its pieces one per read, then fails: a pipe that has nothing more yet
/// would block there instead.
struct Chunks(std::collections::VecDeque<Vec<u8>>);

impl std::io::Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(mut piece) = self.0.pop_front() else {
            return Err(std::io::Error::other("no more data yet"));
        };
        if piece.is_empty() {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        let n = piece.len().min(buf.len());
        buf[..n].copy_from_slice(&piece[..n]);
        if n < piece.len() {
            self.0.push_front(piece.split_off(n));
        }
        Ok(n)
    }
}

#[test]
fn a_packet_comes_out_as_soon_as_its_last_byte_arrives() {
    let f = pcap_usec_le();
    // The header and the first record in two writes, an interrupted read, then
    // half of the second record.
    let writes = vec![
        f[..30].to_vec(),
        f[30..44].to_vec(),
        vec![],
        f[44..50].to_vec(),
    ];
    let mut reader = StreamReader::new(Chunks(writes.into()));
    let p = reader.next_packet().unwrap().unwrap();
    assert_eq!((p.index, p.data), (1, &[0xaa, 0xbb, 0xcc, 0xdd][..]));
    assert_eq!(reader.consumed(), 44);
    // The second record is not complete; the next read fails, naming the offset of
    // the bytes it would have read.
    let e = reader.next_packet().unwrap_err();
    assert_eq!(
        e.to_string(),
        "reading the capture failed at byte offset 50: no more data yet"
    );
}

#[test]
fn not_a_capture_is_the_same_error_streamed() {
    for bytes in [
        &b""[..],
        &[0xd4, 0xc3],
        b"hello world\n",
        &pcap_usec_le()[..20],
    ] {
        let whole = read_whole(bytes).unwrap_err();
        let streamed = read_streamed(bytes, 0).unwrap_err();
        assert_eq!(streamed, whole);
    }
    let mut reader = StreamReader::new(Pieces::new(b"GET / HTTP/1.1\r\n", 2));
    assert!(matches!(
        reader.next_packet(),
        Err(CaptureError::NotACapture { .. })
    ));
}

#[test]
fn for_each_packet_from_a_pipe() {
    let f = pcapng_two_interfaces(true);
    let mut seen = Vec::new();
    let report =
        for_each_packet_from(Pieces::new(&f, 3), |p| seen.push((p.index, p.ts_ns))).unwrap();
    assert_eq!(
        seen,
        [(1, 1_003_500_000_000), (2, 1_700_000_000_123_456_000)]
    );
    assert_eq!(report, for_each_packet(&f, |_| {}).unwrap());
}
