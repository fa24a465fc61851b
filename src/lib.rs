//! kapture: turns packet captures of Kafka traffic into one OpenTelemetry span per
//! request/response exchange.
//!
//! The pipeline is a chain of plain data types, one stage per module:
//! `capture` (file → [`capture::Packet`]) → `net` (packet → [`net::Segment`]) →
//! `tcp` (segments → reassembled stream windows) → `kafka` (streams → exchanges, as
//! they settle) → `span` (exchange → OTLP span) → `otlp` (spans → JSON Lines).
//! `stream` runs them in one streaming pass (a reader, workers owning connections, a
//! merger writing in a deterministic order); `pipeline` is its entry point;
//! `summary` reports what was seen and what was skipped.

pub mod caps;
pub mod capture;
pub mod check;
pub mod cli;
pub mod diagnosis;
pub mod diff;
pub mod filter;
#[doc(hidden)]
pub mod fuzzing;
pub mod interrupt;
pub mod inventory;
pub mod kafka;
pub mod knowledge;
pub mod merge;
pub mod net;
pub mod otlp;
pub mod pipeline;
pub mod profile;
pub mod report;
pub mod service;
pub mod sketch;
pub mod span;
pub mod stats;
pub mod stream;
pub mod summary;
pub mod tcp;
#[doc(hidden)]
pub mod testkit;
pub mod timing;
