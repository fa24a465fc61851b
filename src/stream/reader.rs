//! The reader's side of the streaming engine: decodes each packet to a TCP segment,
//! keeps the table of connection identities (a 4-tuple, split again when a new SYN
//! reuses it; ids in the order connections were first seen), closes connections that
//! went quiet in capture time, and hands segments to the worker that owns their
//! connection, in batches. Counts packet-level problems into its [`Summary`].

use std::collections::HashMap;
use std::sync::mpsc::SyncSender;

use crate::capture::Packet;
use crate::kafka::{self, KafkaConfig};
use crate::net::{self, Endpoint, Segment, flags};
use crate::summary::Summary;

use super::{Batch, Item, OWN, PayloadRef, Timeouts};

/// Packets handed out before every worker gets its batch.
pub const BATCH_PACKETS: u64 = 2048;

/// Packets between two sweeps for connections gone quiet.
const SWEEP_EVERY: u64 = 65_536;

/// What the reader keeps of one open connection.
#[derive(Debug, Clone)]
struct Tracked {
    id: u32,
    /// Whether the lower endpoint of the tuple key sent the first packet (is `ends[0]`).
    low_first: bool,
    last_ts: i64,
    closed: bool,
    carried_data: bool,
    syn_seq: [Option<u32>; 2],
    /// Handed to a worker (with explicit ports, connections on others are only
    /// counted).
    analysed: bool,
}

impl Tracked {
    /// Index of the end `src` is, given the tuple key: 0 for the first sender.
    fn end_index(&self, key: &TupleKey, src: &Endpoint) -> usize {
        let is_low = *src == key.0;
        usize::from(is_low != self.low_first)
    }

    /// A bare SYN from `src` with sequence number `seq` on this tuple is a
    /// retransmitted SYN unless the connection closed, carried data, or began with
    /// another initial sequence number.
    fn starts_over(&self, key: &TupleKey, src: &Endpoint, seq: u32) -> bool {
        self.closed
            || self.carried_data
            || self.syn_seq[self.end_index(key, src)].is_some_and(|s| s != seq)
    }

    /// Whether the connection has been quiet long enough, at `now`, to be over.
    fn expired(&self, now: i64, t: &Timeouts) -> bool {
        let quiet = now.saturating_sub(self.last_ts);
        let limit = if self.closed {
            t.closed_ns
        } else if !self.carried_data {
            t.half_open_ns
        } else {
            t.idle_ns
        };
        quiet > limit
    }
}

type TupleKey = (Endpoint, Endpoint);

fn tuple_key(a: Endpoint, b: Endpoint) -> TupleKey {
    if a <= b { (a, b) } else { (b, a) }
}

/// The batches being filled, one per worker, and the channels to the workers. Shared
/// with the input of a pipe, which hands them out before it waits for more bytes, so
/// that nothing already read waits with it.
pub struct Outbox {
    workers: Vec<SyncSender<Batch>>,
    batches: Vec<Batch>,
    /// Position of the last packet put in a batch.
    at: u64,
    /// Packets put in batches since they were last handed out.
    waiting: u64,
    /// The workers stopped (the output failed).
    pub stopped: bool,
}

impl Outbox {
    /// Hands every worker its batch (an empty one too: it says how far reading got).
    pub fn flush(&mut self) {
        self.waiting = 0;
        if self.stopped {
            return;
        }
        for (batch, worker) in self.batches.iter_mut().zip(&self.workers) {
            let full = std::mem::take(batch);
            let full = Batch {
                upto: self.at,
                ..full
            };
            if worker.send(full).is_err() {
                self.stopped = true;
            }
        }
    }

    /// Whether packets were read since the batches were last handed out.
    pub fn has_waiting(&self) -> bool {
        self.waiting > 0
    }
}

/// Slices packets and hands their segments out.
pub struct Reader<'c> {
    kafka: &'c KafkaConfig,
    timeouts: Timeouts,
    outbox: std::rc::Rc<std::cell::RefCell<Outbox>>,
    table: HashMap<TupleKey, Tracked>,
    /// The tuple of the previous packet: consecutive packets mostly belong to one
    /// connection, and this skips hashing for them. (The map keeps SipHash: the tuples
    /// come from untrusted captures.)
    last: Option<(TupleKey, u32)>,
    next_conn: u32,
    /// Packets read in this run so far (the position of the last one).
    pub at: u64,
    /// Added to frame numbers: the packets of earlier pieces of the capture.
    index_base: u64,
    pub summary: Summary,
    /// Spans the merger has written, for the progress bar.
    pub spans_written: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
}

impl<'c> Reader<'c> {
    pub fn new(
        kafka: &'c KafkaConfig,
        timeouts: Timeouts,
        workers: Vec<SyncSender<Batch>>,
    ) -> Self {
        let batches = workers.iter().map(|_| Batch::default()).collect();
        let outbox = Outbox {
            workers,
            batches,
            at: 0,
            waiting: 0,
            stopped: false,
        };
        Reader {
            kafka,
            timeouts,
            outbox: std::rc::Rc::new(std::cell::RefCell::new(outbox)),
            table: HashMap::new(),
            last: None,
            next_conn: 0,
            at: 0,
            index_base: 0,
            summary: Summary::default(),
            spans_written: None,
        }
    }

    /// What the progress bar says beside the bytes read.
    pub fn progress_message(&self) -> String {
        let spans = self
            .spans_written
            .as_ref()
            .map_or(0, |s| s.load(std::sync::atomic::Ordering::Relaxed));
        format!(
            "{} packets; {} TCP connections open; {spans} spans written",
            self.at,
            self.table.len()
        )
    }

    /// The next input is the next piece of the same capture: its frame numbers go on
    /// from the `packets` of this one.
    pub fn next_source(&mut self, packets: u64) {
        self.index_base += packets;
    }

    /// The batches, for an input that must hand them out before it waits.
    pub fn outbox(&self) -> std::rc::Rc<std::cell::RefCell<Outbox>> {
        self.outbox.clone()
    }

    /// The workers stopped (the output failed): reading on is pointless.
    pub fn stopped(&self) -> bool {
        self.outbox.borrow().stopped
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.table.len()
    }

    /// Takes one packet. `source` is the index and bytes of the mapped file it
    /// borrows from, or `None` when its bytes must be copied (a pipe).
    pub fn packet(&mut self, packet: &Packet<'_>, source: Option<(u32, &[u8])>) {
        self.at += 1;
        self.summary.packets += 1;
        if (packet.data.len() as u64) < u64::from(packet.orig_len) {
            self.summary.truncated_packets += 1;
        }
        match net::decode_segment(packet) {
            Ok(seg) => {
                self.summary.tcp_packets += 1;
                self.segment(packet, &seg, source);
            }
            Err(skip) => self.summary.count_skip(skip),
        }
        if self.at.is_multiple_of(SWEEP_EVERY) {
            self.sweep(packet.ts_ns);
        }
        let mut outbox = self.outbox.borrow_mut();
        outbox.at = self.at;
        outbox.waiting += 1;
        if outbox.waiting >= BATCH_PACKETS {
            outbox.flush();
        }
    }

    fn segment(&mut self, packet: &Packet<'_>, seg: &Segment<'_>, source: Option<(u32, &[u8])>) {
        let key = tuple_key(seg.src, seg.dst);
        let bare_syn = seg.flags & (flags::SYN | flags::ACK) == flags::SYN;
        let mut known = match self.last {
            Some((k, _)) if k == key => self.table.get_mut(&key),
            _ => self.table.get_mut(&key),
        };
        if let Some(t) = &known
            && bare_syn
            && t.starts_over(&key, &seg.src, seg.seq)
        {
            let (id, analysed) = (t.id, t.analysed);
            self.table.remove(&key);
            self.end(id, analysed, self.at);
            known = None;
        }
        let t = match known {
            Some(t) => t,
            None => {
                let t = self.open(seg, packet.ts_ns);
                self.table.entry(key).or_insert(t)
            }
        };
        let from = t.end_index(&key, &seg.src);
        if seg.flags & flags::SYN != 0 && t.syn_seq[from].is_none() {
            t.syn_seq[from] = Some(seg.seq);
        }
        t.closed |= seg.flags & (flags::FIN | flags::RST) != 0;
        t.carried_data |= !seg.payload.is_empty();
        t.last_ts = t.last_ts.max(packet.ts_ns);
        let (id, analysed) = (t.id, t.analysed);
        self.last = Some((key, id));
        if !analysed {
            return;
        }
        let worker = self.worker_of(id);
        let mut outbox = self.outbox.borrow_mut();
        let batch = &mut outbox.batches[worker];
        let payload = match source {
            Some((index, bytes)) if !seg.payload.is_empty() => PayloadRef {
                source: index,
                start: seg.payload.as_ptr() as usize - bytes.as_ptr() as usize,
                len: seg.payload.len() as u32,
            },
            _ => {
                let start = batch.own.len();
                batch.own.extend_from_slice(seg.payload);
                PayloadRef {
                    source: OWN,
                    start,
                    len: seg.payload.len() as u32,
                }
            }
        };
        batch.items.push(Item::Segment {
            conn: id,
            at: self.at,
            from: from as u8,
            index: packet.index + self.index_base,
            ts_ns: packet.ts_ns,
            seq: seg.seq,
            ack: seg.ack,
            flags: seg.flags,
            window: seg.window,
            missing: seg.missing,
            payload,
        });
    }

    fn open(&mut self, seg: &Segment<'_>, ts: i64) -> Tracked {
        let id = self.next_conn;
        self.next_conn += 1;
        self.summary.tcp_connections += 1;
        let ends = [seg.src, seg.dst];
        let analysed = kafka::worth_analysing(&ends, self.kafka);
        if analysed {
            let worker = self.worker_of(id);
            self.outbox.borrow_mut().batches[worker]
                .items
                .push(Item::Open {
                    conn: id,
                    ends,
                    first_ts: ts,
                });
        } else {
            self.summary.other_connections += 1;
        }
        Tracked {
            id,
            low_first: seg.src <= seg.dst,
            last_ts: ts,
            closed: false,
            carried_data: false,
            syn_seq: [None, None],
            analysed,
        }
    }

    fn worker_of(&self, conn: u32) -> usize {
        conn as usize % self.outbox.borrow().workers.len()
    }

    fn end(&mut self, conn: u32, analysed: bool, at: u64) {
        if analysed {
            let worker = self.worker_of(conn);
            self.outbox.borrow_mut().batches[worker]
                .items
                .push(Item::End { conn, at });
        }
        if self.last.is_some_and(|(_, id)| id == conn) {
            self.last = None;
        }
    }

    /// Ends the connections that have been quiet too long at capture time `now`, in
    /// id order.
    fn sweep(&mut self, now: i64) {
        let timeouts = self.timeouts;
        let mut expired: Vec<(u32, bool)> = Vec::new();
        self.table.retain(|_, t| {
            let over = t.expired(now, &timeouts);
            if over {
                expired.push((t.id, t.analysed));
            }
            !over
        });
        expired.sort_unstable();
        for (id, analysed) in expired {
            self.end(id, analysed, self.at);
        }
    }

    /// Hands every worker its batch.
    pub fn flush(&mut self) {
        let mut outbox = self.outbox.borrow_mut();
        outbox.at = self.at;
        outbox.flush();
    }

    /// The input is over: every connection still open ends, in id order.
    pub fn finish(&mut self) {
        let table = std::mem::take(&mut self.table);
        let mut open: Vec<(u32, bool)> = table.into_values().map(|t| (t.id, t.analysed)).collect();
        open.sort_unstable();
        self.at += 1;
        for (i, (id, analysed)) in open.into_iter().enumerate() {
            self.end(id, analysed, u64::MAX);
            if (i as u64 + 1).is_multiple_of(BATCH_PACKETS) {
                self.flush();
            }
        }
        self.flush();
    }
}
