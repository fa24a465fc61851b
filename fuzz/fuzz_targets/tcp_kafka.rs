//! Fuzz target: see `kapture::fuzzing::tcp_kafka`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kapture::fuzzing::tcp_kafka(data));
