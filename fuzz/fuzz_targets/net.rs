//! Fuzz target: see `kapture::fuzzing::net`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kapture::fuzzing::net(data));
