//! The streaming engine: one pass over a capture's packets in capture order. A reader
//! (this thread) slices packets, keeps the table of connection identities and hands
//! segments in batches to workers, each connection pinned to one worker ([`worker`]),
//! which reassemble, frame, pair, decode and build spans as exchanges settle. A merger
//! ([`merge`]) writes the spans in one deterministic order and counts everything into
//! the [`Summary`]. Memory is bounded by what is open: connections, their unanswered
//! requests and the frames being reassembled.
//!
//! ## Output order
//! Every exchange is keyed by the packet that settled it (the response's last byte,
//! the end of its connection, ...) by its position in the capture, then by connection
//! id, then by its order of settling in that connection ([`Key`]). Workers publish how
//! far they have read; the merger writes everything below the lowest mark. The order is
//! thus the same for any number of threads and any batching.

pub mod merge;
pub mod reader;
pub mod worker;

use std::sync::Arc;

use crate::kafka::ConnectionReport;
use crate::kafka::exchange::Exchange;
use crate::net::Endpoint;

/// Where an output stands in the run's order: the packet (position in the run, from
/// 1) that settled it, its connection, and its rank among what that connection settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Key {
    pub at: u64,
    pub conn: u32,
    pub rank: u64,
}

impl Key {
    /// Everything settled at or before packet `at`.
    pub fn upto(at: u64) -> Key {
        Key {
            at,
            conn: u32::MAX,
            rank: u64::MAX,
        }
    }
}

/// Position of an output: where it is written (`at`: its own key, or later when it
/// waited for a topic name) and, among outputs written at the same place, its own key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Place {
    pub at: Key,
    pub own: Key,
}

impl Place {
    pub fn of(own: Key) -> Place {
        Place { at: own, own }
    }
}

/// Where a segment's payload lies: in one of the run's mapped files, or in the batch's
/// own bytes (read from a pipe).
#[derive(Debug, Clone, Copy)]
pub struct PayloadRef {
    /// Index into the run's mapped sources, or [`OWN`] for the batch's bytes.
    pub source: u32,
    pub start: usize,
    pub len: u32,
}

pub const OWN: u32 = u32::MAX;

/// What the reader hands a worker.
#[derive(Debug)]
pub enum Item {
    /// A new connection (ends[0] sent its first captured packet).
    Open {
        conn: u32,
        ends: [Endpoint; 2],
        first_ts: i64,
    },
    /// One TCP segment of an open connection, sent by `ends[from]`.
    Segment {
        conn: u32,
        /// Position in the run, for ordering.
        at: u64,
        from: u8,
        index: u64,
        ts_ns: i64,
        seq: u32,
        ack: u32,
        flags: u8,
        window: u16,
        missing: u32,
        payload: PayloadRef,
    },
    /// The connection is over (closed, idle, replaced, or the input ended) at `at`;
    /// `evicted` says why when a memory cap ended it before its time.
    End {
        conn: u32,
        at: u64,
        evicted: Option<crate::caps::Eviction>,
    },
    /// Every item up to position `at` has been handed out: the worker waits until
    /// every worker is there, then reports what it holds ([`Load`]).
    Checkpoint { at: u64 },
    /// The memory cap on exchanges waiting for a topic name was passed: those settled
    /// at or before `at` wait no longer than `at`.
    ReleaseUnnamed { at: u64 },
}

/// What a worker holds at a checkpoint, for the memory caps.
#[derive(Debug, Clone, Default)]
pub struct Load {
    /// The checkpoint's position.
    pub at: u64,
    pub reassembly_bytes: u64,
    pub waiting_requests: u64,
    /// Exchanges waiting for a topic name.
    pub unnamed: u64,
    /// The connections holding the most reassembly bytes: (bytes, connection).
    pub heaviest: Vec<(u64, u32)>,
    /// The connections with the most requests waiting: (requests, connection).
    pub most_waiting: Vec<(u64, u32)>,
}

/// Connections a [`Load`] names in each of its lists.
pub const LOAD_TOP: usize = 64;

/// A batch of items for one worker, and how far the reader had read when it was cut.
#[derive(Debug, Default)]
pub struct Batch {
    pub items: Vec<Item>,
    /// Payload bytes of segments read from a pipe.
    pub own: Vec<u8>,
    /// Every packet up to this position has been handed out.
    pub upto: u64,
}

/// One settled exchange, with what is needed to count it, in output order.
#[derive(Debug)]
pub struct Done {
    pub place: Place,
    /// The connection as the exchange saw it (its TCP events cut to the exchange).
    pub report: Arc<ConnectionReport>,
    pub exchange: Exchange,
    /// Position of the request among its connection's.
    pub request_rank: u64,
    /// It passed the filters.
    pub selected: bool,
    /// Its client's service under `--service-name-from`.
    pub service: Option<Arc<str>>,
    /// Its serialised spans: `span_count` of the round's, from the `span_index`th.
    pub span_index: usize,
    pub span_count: u32,
    /// Whether it had to be released without a topic name it waited for.
    pub released_unnamed: bool,
}

/// The end of one connection, with its final counters.
#[derive(Debug)]
pub struct Ended {
    pub place: Place,
    pub verdict: crate::kafka::Verdict,
    /// Kept for Kafka connections only: the others count by their verdict alone.
    pub report: Option<Box<ConnectionReport>>,
    /// Bytes of records decompressed on this connection.
    pub decompressed: u64,
}

/// What a worker sends the merger.
#[derive(Debug)]
pub enum Output {
    Done(Box<Done>),
    Ended(Ended),
}

impl Output {
    pub fn place(&self) -> Place {
        match self {
            Output::Done(d) => d.place,
            Output::Ended(e) => e.place,
        }
    }
}

/// A worker's outputs of one round, in order, and its promise: nothing it sends later
/// is placed at or below `mark`.
#[derive(Debug, Default)]
pub struct Round {
    pub worker: usize,
    pub outputs: Vec<Output>,
    /// The round's serialised spans, one after another, and where each ends.
    pub spans: Vec<u8>,
    pub ends: Vec<usize>,
    pub mark: Key,
    /// In the last round: the connections that were not Kafka, counted by verdict.
    pub verdicts: Option<Box<crate::summary::Summary>>,
}

/// How long, in capture time, connections may stay quiet before they are closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// No packet for this long: the connection is over.
    pub idle_ns: i64,
    /// After a FIN or RST, this long without a packet.
    pub closed_ns: i64,
    /// A connection that never carried data (a SYN, a scan), this long without one.
    pub half_open_ns: i64,
}

impl Default for Timeouts {
    fn default() -> Self {
        const S: i64 = 1_000_000_000;
        Timeouts {
            idle_ns: 600 * S,
            closed_ns: 10 * S,
            half_open_ns: 60 * S,
        }
    }
}

/// Packets after which a span still waiting for a topic name is written without it.
pub const NAME_WAIT_PACKETS: u64 = 1_000_000;
