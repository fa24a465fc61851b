//! Fuzz target: see `kapture::fuzzing::capture_stream`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kapture::fuzzing::capture_stream(data));
