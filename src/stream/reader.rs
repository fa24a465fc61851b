//! The reader's side of the streaming engine: decodes each packet to a TCP segment,
//! keeps the table of connection identities (a 4-tuple, split again when a new SYN
//! reuses it; ids in the order connections were first seen), closes connections that
//! went quiet in capture time, and hands segments to the worker that owns their
//! connection, in batches. Counts packet-level problems into its [`Summary`].

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::SyncSender;

use crate::caps::{self, Cap, Caps, Eviction};
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

    /// What the connection is estimated to cost (reassembly bytes apart).
    fn state_bytes(&self) -> u64 {
        if self.analysed && self.carried_data {
            caps::LIVE_STATE_BYTES
        } else {
            caps::HALF_OPEN_STATE_BYTES
        }
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
    /// The memory caps, and what the table's connections are estimated to cost.
    caps: Caps,
    state_bytes: u64,
    /// Connections that had carried no payload when seen, oldest first: the first to
    /// go at the connection caps (entries of connections gone or grown are skipped).
    half_open: VecDeque<(TupleKey, u32)>,
    /// Connections by their last activity as last looked at, oldest first: the next to
    /// go at the caps, once the half-open ones are gone (an entry whose connection was
    /// active since goes to the back).
    by_activity: VecDeque<(TupleKey, u32, i64)>,
    /// A connection cap is hit: sweeps use the emergency timeouts.
    emergency: bool,
    /// Where the workers report at checkpoints; without it there are none.
    pub shared: Option<&'c super::worker::Shared>,
    /// The last checkpoint's position, and payload handed out since.
    last_checkpoint: Option<u64>,
    payload_since_check: u64,
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
        caps: Caps,
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
            caps,
            state_bytes: 0,
            half_open: VecDeque::new(),
            by_activity: VecDeque::new(),
            emergency: false,
            shared: None,
            last_checkpoint: None,
            payload_since_check: 0,
            last: None,
            next_conn: 0,
            at: 0,
            index_base: 0,
            summary: Summary {
                cap_limits: Some(caps),
                ..Summary::default()
            },
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
        if self.at.is_multiple_of(self.caps.checkpoint_packets.max(1))
            || self.payload_since_check >= self.caps.checkpoint_bytes
        {
            self.checkpoint();
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
        if bare_syn
            && let Some(t) = self.table.get(&key)
            && t.starts_over(&key, &seg.src, seg.seq)
        {
            let t = self.table.remove(&key).expect("known");
            self.state_bytes -= t.state_bytes();
            self.end(t.id, t.analysed, self.at, None);
        }
        let known = match self.last {
            Some((k, _)) if k == key => self.table.get_mut(&key),
            _ => self.table.get_mut(&key),
        };
        let t = match known {
            Some(t) => t,
            None => {
                self.make_room(packet.ts_ns, true, caps::HALF_OPEN_STATE_BYTES, None);
                let t = self.open(seg, packet.ts_ns);
                self.state_bytes += t.state_bytes();
                self.half_open.push_back((key, t.id));
                self.by_activity.push_back((key, t.id, t.last_ts));
                self.compact_queues();
                self.table.entry(key).or_insert(t)
            }
        };
        let from = t.end_index(&key, &seg.src);
        if seg.flags & flags::SYN != 0 && t.syn_seq[from].is_none() {
            t.syn_seq[from] = Some(seg.seq);
        }
        t.closed |= seg.flags & (flags::FIN | flags::RST) != 0;
        let before = t.state_bytes();
        t.carried_data |= !seg.payload.is_empty();
        let grown = t.state_bytes() - before;
        t.last_ts = t.last_ts.max(packet.ts_ns);
        let (id, analysed) = (t.id, t.analysed);
        self.last = Some((key, id));
        if grown > 0 {
            self.make_room(packet.ts_ns, false, grown, Some(id));
            self.state_bytes += grown;
        }
        if !analysed {
            return;
        }
        self.payload_since_check += seg.payload.len() as u64;
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

    fn end(&mut self, conn: u32, analysed: bool, at: u64, evicted: Option<Eviction>) {
        if let Some(why) = evicted {
            self.summary.caps.count_eviction(why);
        }
        if analysed {
            let worker = self.worker_of(conn);
            self.outbox.borrow_mut().batches[worker]
                .items
                .push(Item::End { conn, at, evicted });
        }
        if self.last.is_some_and(|(_, id)| id == conn) {
            self.last = None;
        }
    }

    /// Ends the connections that have been quiet too long at capture time `now`, in
    /// id order; while a connection cap is hit, by the emergency timeouts.
    fn sweep(&mut self, now: i64) {
        if self.emergency && self.below_caps(3, 4) {
            self.emergency = false;
        }
        if self.emergency {
            self.sweep_by(
                now,
                caps::emergency_timeouts(),
                Some(Eviction::EmergencyTimeout),
            );
        } else {
            self.sweep_by(now, self.timeouts, None);
        }
    }

    fn sweep_by(&mut self, now: i64, timeouts: Timeouts, evicted: Option<Eviction>) {
        let mut expired: Vec<(u32, bool)> = Vec::new();
        let mut freed = 0;
        self.table.retain(|_, t| {
            let over = t.expired(now, &timeouts);
            if over {
                expired.push((t.id, t.analysed));
                freed += t.state_bytes();
            }
            !over
        });
        self.state_bytes -= freed;
        expired.sort_unstable();
        for (id, analysed) in expired {
            self.end(id, analysed, self.at, evicted);
        }
        self.compact_queues();
    }

    /// Whether the table is below `num/den` of both connection caps.
    fn below_caps(&self, num: u64, den: u64) -> bool {
        (self.table.len() as u64) * den < self.caps.max_connections * num
            && self.state_bytes * den < self.caps.max_connection_bytes * num
    }

    /// Evicts connections until one more (`adding`) fits under the connection count
    /// cap and `bytes` more fit under the state bytes cap. The first time a cap is hit
    /// the emergency timeouts sweep the table; then the oldest half-open connections
    /// go, then the longest quiet. `keep` (the connection growing) is never evicted.
    fn make_room(&mut self, now: i64, adding: bool, bytes: u64, keep: Option<u32>) {
        loop {
            let cap = if adding && self.table.len() as u64 >= self.caps.max_connections {
                Cap::Connections
            } else if self.state_bytes + bytes > self.caps.max_connection_bytes {
                Cap::ConnectionBytes
            } else {
                return;
            };
            self.summary.caps.count_hit(cap);
            if !self.emergency {
                self.emergency = true;
                self.summary.caps.emergencies += 1;
                self.sweep_by(
                    now,
                    caps::emergency_timeouts(),
                    Some(Eviction::EmergencyTimeout),
                );
                continue;
            }
            if !self.evict_one(keep) {
                return;
            }
        }
    }

    /// Evicts the oldest connection that never carried payload, or else the one quiet
    /// for longest; `false` when there is none but `keep`.
    fn evict_one(&mut self, keep: Option<u32>) -> bool {
        while let Some((key, id)) = self.half_open.pop_front() {
            if self
                .table
                .get(&key)
                .is_some_and(|t| t.id == id && !t.carried_data && Some(id) != keep)
            {
                self.evict(&key, Eviction::HalfOpen);
                return true;
            }
        }
        for _ in 0..=self.by_activity.len() {
            let Some((key, id, seen)) = self.by_activity.pop_front() else {
                break;
            };
            let Some(t) = self.table.get(&key).filter(|t| t.id == id) else {
                continue;
            };
            if Some(id) == keep || t.last_ts > seen {
                let last = t.last_ts;
                self.by_activity.push_back((key, id, last));
                continue;
            }
            self.evict(&key, Eviction::Idle);
            return true;
        }
        false
    }

    fn evict(&mut self, key: &TupleKey, why: Eviction) {
        self.evict_at(key, why, self.at);
    }

    fn evict_at(&mut self, key: &TupleKey, why: Eviction, at: u64) {
        let t = self
            .table
            .remove(key)
            .expect("evicted connection is tracked");
        self.state_bytes -= t.state_bytes();
        self.end(t.id, t.analysed, at, Some(why));
    }

    /// Places a checkpoint here for every worker, then acts on what they held at the
    /// previous one (waiting for their reports): the caps on reassembly bytes,
    /// waiting requests and exchanges waiting for a name. Acting one checkpoint late
    /// keeps the workers busy meanwhile; what is decided depends on the capture alone.
    fn checkpoint(&mut self) {
        let Some(shared) = self.shared else { return };
        let at = self.at;
        self.payload_since_check = 0;
        {
            let mut outbox = self.outbox.borrow_mut();
            for batch in &mut outbox.batches {
                batch.items.push(Item::Checkpoint { at });
            }
            outbox.at = at;
            outbox.flush();
        }
        let previous = self.last_checkpoint.replace(at);
        let Some(previous) = previous else { return };
        let outbox = self.outbox.clone();
        let stop = move || outbox.borrow().stopped;
        if let Some(loads) = shared.loads_at(previous, &stop) {
            self.act_on(&loads);
        }
    }

    /// Evicts and releases what the workers' reports call for.
    fn act_on(&mut self, loads: &[super::Load]) {
        let sum = |f: fn(&super::Load) -> u64| loads.iter().map(f).sum::<u64>();
        let bytes = sum(|l| l.reassembly_bytes);
        if bytes > self.caps.max_reassembly_bytes {
            self.summary.caps.count_hit(Cap::ReassemblyBytes);
            let top = loads.iter().flat_map(|l| l.heaviest.iter().copied());
            self.evict_heaviest(
                top,
                bytes,
                self.caps.max_reassembly_bytes,
                Eviction::ReassemblyBytes,
            );
        }
        let waiting = sum(|l| l.waiting_requests);
        if waiting > self.caps.max_waiting_requests {
            self.summary.caps.count_hit(Cap::WaitingRequests);
            let top = loads.iter().flat_map(|l| l.most_waiting.iter().copied());
            self.evict_heaviest(
                top,
                waiting,
                self.caps.max_waiting_requests,
                Eviction::WaitingRequests,
            );
        }
        if sum(|l| l.unnamed) > self.caps.max_unnamed_spans {
            self.summary.caps.count_hit(Cap::UnnamedSpans);
            // Placed after every mark the workers have sent: just past this packet.
            let at = self.at + 1;
            for batch in &mut self.outbox.borrow_mut().batches {
                batch.items.push(Item::ReleaseUnnamed { at });
            }
        }
    }

    /// Evicts the connections holding the most (`top`: amount, connection), largest
    /// first, until the total is estimated at three quarters of `cap` or the list
    /// runs out.
    fn evict_heaviest(
        &mut self,
        top: impl Iterator<Item = (u64, u32)>,
        mut total: u64,
        cap: u64,
        why: Eviction,
    ) {
        let mut top: Vec<(u64, u32)> = top.collect();
        top.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let goal = cap / 4 * 3;
        let mut victims = Vec::new();
        for (amount, conn) in top {
            if total <= goal {
                break;
            }
            total = total.saturating_sub(amount);
            victims.push(conn);
        }
        victims.sort_unstable();
        let mut keys: Vec<(u32, TupleKey)> = self
            .table
            .iter()
            .filter(|(_, t)| victims.binary_search(&t.id).is_ok())
            .map(|(k, t)| (t.id, *k))
            .collect();
        keys.sort_unstable_by_key(|(id, _)| *id);
        // The workers have promised nothing more at or before this packet (their
        // checkpoint rounds): the evictions are placed just past it.
        for (_, key) in keys {
            self.evict_at(&key, why, self.at + 1);
        }
    }

    /// Drops the eviction queues' entries of connections gone (or, for the half-open
    /// queue, grown), once they outnumber the live ones: the queues stay bounded by
    /// the table.
    fn compact_queues(&mut self) {
        let limit = 2 * self.table.len() + 4096;
        let table = &self.table;
        if self.half_open.len() > limit {
            self.half_open
                .retain(|(k, id)| table.get(k).is_some_and(|t| t.id == *id && !t.carried_data));
        }
        if self.by_activity.len() > limit {
            self.by_activity
                .retain(|(k, id, _)| table.get(k).is_some_and(|t| t.id == *id));
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
        self.state_bytes = 0;
        self.half_open = VecDeque::new();
        self.by_activity = VecDeque::new();
        let mut open: Vec<(u32, bool)> = table.into_values().map(|t| (t.id, t.analysed)).collect();
        open.sort_unstable();
        self.at += 1;
        for (i, (id, analysed)) in open.into_iter().enumerate() {
            self.end(id, analysed, u64::MAX, None);
            if (i as u64 + 1).is_multiple_of(BATCH_PACKETS) {
                self.flush();
            }
        }
        self.flush();
    }
}
