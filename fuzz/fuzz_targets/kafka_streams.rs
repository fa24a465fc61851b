//! Fuzz target: see `kapture::fuzzing::kafka_streams`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kapture::fuzzing::kafka_streams(data));
