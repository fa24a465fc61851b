//! Fuzz target: see `kapture::fuzzing::connection_table`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kapture::fuzzing::connection_table(data));
