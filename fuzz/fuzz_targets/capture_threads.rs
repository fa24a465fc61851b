//! Fuzz target: see `kapture::fuzzing::capture_threads`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kapture::fuzzing::capture_threads(data));
