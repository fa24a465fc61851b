//! Feeds damaged versions of the real testdata captures through the whole pipeline:
//! cut at many offsets, bit-flipped, overwritten with random bytes, and pure noise.
//! Each must end in a partial result or a clear error: no panic, no abort, no hang.

mod common;

use common::*;
use kapture::pipeline::{PipelineConfig, process_capture};
use kapture::summary::Summary;

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn all_apis() -> PipelineConfig {
    PipelineConfig {
        apis: kapture::kafka::api::ApiSet::all(),
        ..Default::default()
    }
}

/// Runs the pipeline; returns the number of spans, or the error text.
fn run(bytes: &[u8]) -> Result<usize, String> {
    let mut summary = Summary::default();
    process_capture(bytes, 0, &all_apis(), &mut summary)
        .map(|conns| conns.iter().map(|c| c.spans.len()).sum())
        .map_err(|e| e.to_string())
}

const CAPTURES: &[&str] = &[
    "basic-kafka-python.pcap",
    "codecs-kcat.pcap",
    "large-records.pcap",
    "any-sll2.pcap",
    "any-sll.pcap",
    "multi.pcapng",
    "nano.pcap",
    "snaplen200.pcap",
    "midstream.pcap",
];

#[test]
fn cut_anywhere_gives_a_partial_result() {
    for name in CAPTURES {
        let bytes = std::fs::read(testdata(name)).unwrap();
        let full = run(&bytes).unwrap();
        // Every offset for small files, about 2,000 offsets for large ones.
        let step = (bytes.len() / 2000).max(1);
        let mut last = 0;
        for cut in (0..bytes.len()).step_by(step) {
            match run(&bytes[..cut]) {
                Ok(n) => {
                    assert!(n <= full + 1, "{name} cut at {cut}: {n} spans > {full}");
                    last = n;
                }
                // Only a cut inside the file's own header blocks (a pcapng section
                // and interface header run to a few hundred bytes) may be an error.
                Err(e) => assert!(cut < 512 && !e.is_empty(), "{name} cut at {cut}: {e}"),
            }
        }
        assert!(last > 0 || full == 0, "{name}: late cuts keep spans");
    }
}

#[test]
fn bit_flips_never_break_the_pipeline() {
    let mut rng = Rng(0x6b61_7074_7572_6521);
    for name in CAPTURES {
        let bytes = std::fs::read(testdata(name)).unwrap();
        for _ in 0..300 {
            let mut damaged = bytes.clone();
            for _ in 0..=rng.below(16) {
                let at = rng.below(damaged.len());
                damaged[at] ^= 1 << rng.below(8);
            }
            let _ = run(&damaged);
        }
    }
}

#[test]
fn random_runs_of_bytes_never_break_the_pipeline() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for name in CAPTURES {
        let bytes = std::fs::read(testdata(name)).unwrap();
        for _ in 0..100 {
            let mut damaged = bytes.clone();
            let at = rng.below(damaged.len());
            let len = rng.below(4096).min(damaged.len() - at);
            for b in &mut damaged[at..at + len] {
                *b = rng.next() as u8;
            }
            let _ = run(&damaged);
        }
    }
}

#[test]
fn noise_is_an_error_or_nothing() {
    let mut rng = Rng(42);
    // Valid pcap header (LE, usec, Ethernet), then noise.
    let header: [u8; 24] = [
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0,
    ];
    for round in 0..300 {
        let len = rng.below(20_000);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if round % 2 == 0 {
            bytes.splice(0..0, header);
        }
        match run(&bytes) {
            Ok(_) => {}
            Err(e) => assert!(!e.is_empty()),
        }
    }
}

#[test]
fn binary_names_the_file_on_bad_input() {
    let dir = std::env::temp_dir().join(format!("kapture-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("not-a-capture.pcap");
    std::fs::write(&junk, b"GET / HTTP/1.1\r\nHost: example\r\n\r\n").unwrap();
    let out = kapture([junk.as_os_str()]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not-a-capture.pcap"), "{err}");

    let bytes = std::fs::read(testdata("basic-kafka-python.pcap")).unwrap();
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() - 37]).unwrap();
    let out = kapture([cut.as_os_str()]);
    assert_eq!(out.status.code(), Some(1), "spans written, with a warning");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cut.pcap") && err.contains("packet"), "{err}");
    assert!(!out.stdout.is_empty());

    let missing = dir.join("missing.pcap");
    let out = kapture([missing.as_os_str()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.pcap"));
    std::fs::remove_dir_all(&dir).unwrap();
}
