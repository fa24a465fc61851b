//! Replays every fuzz corpus entry and every crash reproducer kept under `fuzz/`
//! through the same entry points the fuzz targets use, so `cargo test` guards what the
//! fuzzers found without needing a nightly toolchain.

mod common;

use common::root;

/// A fuzz target's name and its entry point.
type Target = (&'static str, fn(&[u8]));

#[test]
fn fuzz_corpora_and_reproducers_replay_cleanly() {
    let targets: [Target; 9] = [
        ("connection_table", kapture::fuzzing::connection_table),
        ("capture", kapture::fuzzing::capture),
        ("capture_threads", kapture::fuzzing::capture_threads),
        ("capture_stream", kapture::fuzzing::capture_stream),
        ("net", kapture::fuzzing::net),
        ("tcp_kafka", kapture::fuzzing::tcp_kafka),
        ("kafka_streams", kapture::fuzzing::kafka_streams),
        ("bodies", kapture::fuzzing::bodies),
        ("records", kapture::fuzzing::records),
    ];
    let mut replayed = 0;
    for (name, run) in targets {
        for dir in ["corpus", "artifacts", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root().join("fuzz").join(dir).join(name)) else {
                continue;
            };
            for entry in entries.flatten() {
                let data = std::fs::read(entry.path()).unwrap();
                run(&data);
                replayed += 1;
            }
        }
    }
    assert!(replayed > 100, "only {replayed} corpus entries found");
}
