//! Reading a capture (pcap or pcapng) in parts on several threads gives exactly what
//! one pass gives: the same connections, with the same ids, segments and frame
//! numbers, and the same packet counts, wherever the parts are cut; and a cut that is
//! not a record or block boundary is refused rather than read wrong.

mod common;

use common::*;
use kapture::capture;
use kapture::pipeline::{read_connections, read_in_parts};
use kapture::summary::Summary;
use kapture::tcp::Connection;

fn shape(c: &Connection<'_>) -> String {
    let segs: Vec<_> = c
        .segments
        .iter()
        .map(|s| {
            (
                s.index,
                s.ts_ns,
                s.dir,
                s.seq,
                s.ack,
                s.flags,
                s.payload.as_ptr(),
            )
        })
        .collect();
    format!(
        "{} {:?} {:?} {:?} {:?}",
        c.id, c.ends, c.syn_seq, c.closed, segs
    )
}

fn counts(s: &Summary) -> [u64; 8] {
    [
        s.packets,
        s.tcp_packets,
        s.truncated_packets,
        s.not_ip,
        s.not_tcp,
        s.ip_fragments,
        s.unsupported_link,
        s.malformed_packets,
    ]
}

const PCAPNG: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Byte offsets of every record of a pcap, or of every packet block of a pcapng (the
/// test captures are little-endian).
fn record_offsets(bytes: &[u8]) -> Vec<usize> {
    let le32 = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    if bytes[..4] == PCAPNG {
        assert_eq!(le32(8), 0x1A2B_3C4D, "a little-endian pcapng");
        let mut offsets = Vec::new();
        let mut at = 0;
        while at + 8 <= bytes.len() {
            if matches!(le32(at), 2 | 3 | 6) {
                offsets.push(at);
            }
            at += le32(at + 4) as usize;
        }
        return offsets;
    }
    let header_len = if bytes[..4] == [0x34, 0xcd, 0xb2, 0xa1] {
        24
    } else {
        16
    };
    let mut offsets = Vec::new();
    capture::for_each_packet(bytes, |p| {
        offsets.push(p.data.as_ptr() as usize - bytes.as_ptr() as usize - header_len);
    })
    .unwrap();
    offsets
}

/// Every capture in testdata, pcap and pcapng.
fn captures() -> Vec<(String, Vec<u8>)> {
    let out = all_captures();
    // By magic, not by name: editcap writes pcapng whatever the name says.
    let ng = out.iter().filter(|(_, b)| b[..4] == PCAPNG).count();
    assert!(
        out.len() >= 15 && ng >= 2,
        "{} captures, {ng} pcapng",
        out.len()
    );
    out
}

#[test]
fn parts_cut_at_any_record_boundaries_read_as_one_pass() {
    let mut splits = 0;
    for (name, bytes) in captures() {
        let mut one = Summary::default();
        let expected: Vec<String> = read_connections(&bytes, &mut one)
            .unwrap()
            .iter()
            .map(shape)
            .collect();
        let offsets = record_offsets(&bytes);
        if offsets.is_empty() {
            continue;
        }
        let end = bytes.len();
        // Two parts at every record boundary (at most 400 per capture), and three
        // parts at boundaries spread over the file.
        let step = offsets.len().div_ceil(400);
        let mut cuts: Vec<Vec<usize>> = offsets.iter().step_by(step).map(|&o| vec![o]).collect();
        let n = offsets.len();
        cuts.push(vec![offsets[n / 3], offsets[2 * n / 3]]);
        cuts.push(vec![offsets[1.min(n - 1)], offsets[n - 1]]);
        for cut in cuts {
            let mut bounds = vec![offsets[0]];
            bounds.extend(&cut);
            bounds.push(end);
            bounds.dedup();
            let parts: Vec<_> = bounds.windows(2).map(|w| w[0]..w[1]).collect();
            let mut summary = Summary::default();
            let conns = read_in_parts(&bytes, &parts, &mut summary, None)
                .unwrap_or_else(|| panic!("{name}: parts {parts:?} refused"));
            let got: Vec<String> = conns.iter().map(shape).collect();
            assert_eq!(got, expected, "{name}: parts {parts:?}");
            assert_eq!(counts(&summary), counts(&one), "{name}: parts {parts:?}");
            splits += 1;
        }
    }
    assert!(splits > 2000, "{splits}");
}

#[test]
fn a_cut_inside_a_record_is_refused() {
    for (name, bytes) in captures() {
        let offsets = record_offsets(&bytes);
        if offsets.len() < 3 {
            continue;
        }
        let mid = offsets[offsets.len() / 2];
        for wrong in [mid + 1, mid + 7, mid - 1] {
            let parts = [offsets[0]..wrong, wrong..bytes.len()];
            let mut summary = Summary::default();
            assert!(
                read_in_parts(&bytes, &parts, &mut summary, None).is_none(),
                "{name}: cut at {wrong} accepted"
            );
            assert_eq!(summary.packets, 0, "{name}: a refused read counted packets");
        }
    }
}

/// Repeats the records (or packet-bearing blocks) of a capture until the file is over
/// `size` bytes.
fn grown(bytes: &[u8], size: usize) -> Vec<u8> {
    let first = record_offsets(bytes)[0];
    let records = &bytes[first..];
    let mut out = bytes[..first].to_vec();
    while out.len() < size {
        out.extend_from_slice(records);
    }
    out
}

#[test]
fn big_captures_are_split_where_records_start() {
    for name in ["codecs-kcat.pcap", "multi.pcapng"] {
        let bytes = std::fs::read(testdata(name)).unwrap();
        let big = grown(&bytes, 80 << 20);
        let parts = capture::split_into_parts(&big, 4).expect("an 80 MiB capture is split");
        assert_eq!(parts.len(), 4, "{name}");
        let offsets = record_offsets(&big);
        for p in &parts {
            assert!(
                offsets.binary_search(&p.start).is_ok(),
                "{name}: {} is no record",
                p.start
            );
        }
        assert_eq!(parts[0].start, offsets[0]);
        assert_eq!(parts[3].end, big.len());
        let mut one = Summary::default();
        let expected: Vec<String> = read_connections(&big, &mut one)
            .unwrap()
            .iter()
            .map(shape)
            .collect();
        let mut summary = Summary::default();
        let got: Vec<String> = read_in_parts(&big, &parts, &mut summary, None)
            .unwrap_or_else(|| panic!("{name}: parts refused"))
            .iter()
            .map(shape)
            .collect();
        assert_eq!(got, expected, "{name}");
        // Small files are read in one pass.
        assert!(capture::split_into_parts(&bytes, 4).is_none());
    }
}

#[test]
fn a_pcapng_part_holding_an_interface_description_is_refused() {
    let bytes = std::fs::read(testdata("multi.pcapng")).unwrap();
    let offsets = record_offsets(&bytes);
    // Cut before the first packet: the second part then starts on a packet but the
    // first part must start at the first packet block, not at the file's start.
    let parts = [0..offsets[1], offsets[1]..bytes.len()];
    let mut summary = Summary::default();
    assert!(read_in_parts(&bytes, &parts, &mut summary, None).is_none());
    // A file whose interfaces are described again after packets (a second section):
    // the part that meets the new section header is refused.
    let mut two_sections = bytes.clone();
    two_sections.extend_from_slice(&bytes);
    let parts = [offsets[0]..bytes.len(), bytes.len()..two_sections.len()];
    assert!(read_in_parts(&two_sections, &parts, &mut summary, None).is_none());
    let whole = offsets[0]..two_sections.len();
    assert!(
        read_in_parts(
            &two_sections,
            std::slice::from_ref(&whole),
            &mut summary,
            None
        )
        .is_none()
    );
    assert_eq!(summary.packets, 0);
}

#[test]
fn damaged_captures_read_in_parts_equal_one_pass_or_are_refused() {
    // Deterministic bit flips (xorshift), each file cut in three at record boundaries
    // of the undamaged file: reading in parts must give what one pass gives, or be
    // refused. Never a third answer.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut equal, mut refused) = (0, 0);
    for (name, bytes) in captures() {
        let offsets = record_offsets(&bytes);
        if offsets.len() < 3 {
            continue;
        }
        let n = offsets.len();
        let parts = [
            offsets[0]..offsets[n / 3],
            offsets[n / 3]..offsets[2 * n / 3],
            offsets[2 * n / 3]..bytes.len(),
        ];
        for _ in 0..60 {
            let mut damaged = bytes.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() % damaged.len() as u64) as usize;
                damaged[at] ^= 1 << (next() % 8);
            }
            let mut one = Summary::default();
            let Ok(expected) = read_connections(&damaged, &mut one) else {
                continue;
            };
            let expected: Vec<String> = expected.iter().map(shape).collect();
            let mut summary = Summary::default();
            match read_in_parts(&damaged, &parts, &mut summary, None) {
                Some(conns) => {
                    let got: Vec<String> = conns.iter().map(shape).collect();
                    assert_eq!(got, expected, "{name}");
                    assert_eq!(counts(&summary), counts(&one), "{name}");
                    equal += 1;
                }
                None => refused += 1,
            }
        }
    }
    // Most flips land in packet bytes, which reading in parts handles like one pass.
    assert!(
        equal > 500 && refused > 10,
        "{equal} equal, {refused} refused"
    );
}
