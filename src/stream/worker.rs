//! A worker of the streaming engine: owns the connections pinned to it, runs each
//! segment through reassembly, framing, pairing and body decoding ([`KafkaConn`]), and
//! once every worker has read past an exchange (so that what other connections said of
//! topics and groups by then is known), filters it and builds its spans. Hands the
//! merger rounds of outputs in order, each with a mark below which it will send
//! nothing more.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::kafka::body::Limits;
use crate::kafka::exchange::Exchange;
use crate::kafka::facts::Topic;
use crate::kafka::{ConnectionReport, KafkaConn};
use crate::knowledge::Knowledge;
use crate::otlp::json::JsonOut;
use crate::pipeline::PipelineConfig;
use crate::span::{self, Origin, Peers};
use crate::tcp::{Dir, SegRec};

use super::{
    Batch, Done, Ended, Item, Key, LOAD_TOP, Load, NAME_WAIT_PACKETS, OWN, Output, Place, Round,
};

/// A name, and the earliest place the capture said it.
type Said = (Arc<str>, Key);

/// A client: its client id and address.
type GroupKey = (Option<Arc<str>>, IpAddr);

/// What the capture has said so far, shared by the workers: each name with the
/// earliest place it was said at, so that a worker uses only what was said before the
/// exchange it builds, whichever thread learned it first.
#[derive(Debug, Default)]
pub struct Shared {
    topics: RwLock<HashMap<[u8; 16], Said>>,
    groups: RwLock<HashMap<GroupKey, Said>>,
    clusters: RwLock<HashMap<crate::net::Endpoint, Said>>,
    /// Per worker: every packet up to this position has been read and its names
    /// recorded.
    marks: Vec<AtomicU64>,
    /// A worker could not hand its outputs on (the merger stopped).
    abort: std::sync::atomic::AtomicBool,
    /// Per worker: its reports at the last two checkpoints, for the reader.
    loads: std::sync::Mutex<Vec<VecDeque<Load>>>,
    loads_posted: std::sync::Condvar,
}

impl Shared {
    pub fn new(workers: usize) -> Self {
        Shared {
            marks: (0..workers).map(|_| AtomicU64::new(0)).collect(),
            loads: std::sync::Mutex::new(vec![VecDeque::new(); workers]),
            ..Default::default()
        }
    }

    /// Whether a worker gave up (its outputs could not be handed on).
    pub fn aborted(&self) -> bool {
        self.abort.load(Ordering::Acquire)
    }

    /// Posts worker `w`'s report at a checkpoint.
    fn post_load(&self, w: usize, load: Load) {
        let mut loads = self.loads.lock().unwrap_or_else(|e| e.into_inner());
        let q = &mut loads[w];
        q.push_back(load);
        while q.len() > 2 {
            q.pop_front();
        }
        self.loads_posted.notify_all();
    }

    /// Every worker's report at the checkpoint at `at`, once all are posted; `None`
    /// when `stop` says the run is ending.
    pub fn loads_at(&self, at: u64, stop: &dyn Fn() -> bool) -> Option<Vec<Load>> {
        let mut loads = self.loads.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let found: Vec<Load> = loads
                .iter()
                .filter_map(|q| q.iter().find(|l| l.at == at).cloned())
                .collect();
            if found.len() == loads.len() {
                return Some(found);
            }
            if stop() || self.aborted() {
                return None;
            }
            loads = self
                .loads_posted
                .wait_timeout(loads, Duration::from_millis(20))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// How far every worker has read.
    fn read_by_all(&self) -> u64 {
        self.marks
            .iter()
            .map(|m| m.load(Ordering::Acquire))
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Records the names an exchange settled at `key` says.
    fn learn(&self, client: IpAddr, broker: crate::net::Endpoint, ex: &Exchange, key: Key) {
        if !ex.facts.topic_names.is_empty() {
            let mut topics = self.topics.write().expect("not poisoned");
            for (id, name) in &ex.facts.topic_names {
                let e = topics.entry(*id).or_insert_with(|| (name.clone(), key));
                if key < e.1 {
                    *e = (name.clone(), key);
                }
            }
        }
        if ex.facts.cluster_id.is_some() {
            let mut clusters = self.clusters.write().expect("not poisoned");
            for (endpoint, cluster) in crate::knowledge::cluster_endpoints(broker, &ex.facts) {
                let e = clusters
                    .entry(endpoint)
                    .or_insert_with(|| (cluster.clone(), key));
                if key < e.1 {
                    *e = (cluster, key);
                }
            }
        }
        if let Some(group) = &ex.facts.group {
            let mut groups = self.groups.write().expect("not poisoned");
            let e = groups
                .entry((ex.request.client_id.clone(), client))
                .or_insert_with(|| (group.clone(), key));
            if key < e.1 {
                *e = (group.clone(), key);
            }
        }
    }

    fn topic(&self, id: &[u8; 16]) -> Option<Said> {
        self.topics.read().expect("not poisoned").get(id).cloned()
    }

    fn cluster(&self, broker: &crate::net::Endpoint) -> Option<Said> {
        self.clusters
            .read()
            .expect("not poisoned")
            .get(broker)
            .cloned()
    }

    fn group(&self, client_id: &Option<Arc<str>>, ip: IpAddr) -> Option<Said> {
        self.groups
            .read()
            .expect("not poisoned")
            .get(&(client_id.clone(), ip))
            .cloned()
    }
}

/// Hashes connection ids, which kapture hands out itself (never capture bytes), by one
/// multiplication: SipHash, needed for tuples from the capture, is wasted on them.
#[derive(Default)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// One connection a worker owns.
struct Owned {
    /// Made when the first payload arrives: until then (a SYN, a scan, a handshake
    /// with nothing said) only `pre` is kept, which costs far less.
    live: Option<Box<Live>>,
    pre: Option<Box<Pre>>,
    /// Outputs settled so far (their rank).
    settled: u64,
}

/// A connection before its state is made.
struct Pre {
    ends: [crate::net::Endpoint; 2],
    first_ts: i64,
    early: Early,
}

/// A connection with payload.
struct Live {
    kafka: KafkaConn,
    peers: Option<Arc<Peers>>,
    /// Exchanges settled before the connection said what its cluster is (the first
    /// ones: ApiVersions, SASL), with their TCP events: held until a Metadata
    /// response or a Produce/Fetch settles, so that they name the cluster and the
    /// client software as the rest of the connection does.
    held: Vec<(Exchange, crate::timing::EventLog)>,
    said: bool,
}

/// Exchanges held, at most, before a connection's first Metadata response or data.
const HELD_BEFORE_METADATA: usize = 8;

/// Segments without payload kept before a connection's state is made.
const EARLY_SEGMENTS: usize = 8;

/// A segment without payload, as kept before a connection's state is made.
#[derive(Clone, Copy)]
struct EarlySeg {
    index: u64,
    ts_ns: i64,
    seq: u32,
    ack: u32,
    window: u16,
    flags: u8,
    from: u8,
}

impl EarlySeg {
    fn of(from: usize, s: &SegRec<'_>) -> EarlySeg {
        EarlySeg {
            index: s.index,
            ts_ns: s.ts_ns,
            seq: s.seq,
            ack: s.ack,
            window: s.window,
            flags: s.flags,
            from: from as u8,
        }
    }

    fn seg(&self) -> (usize, SegRec<'static>) {
        let from = usize::from(self.from);
        let seg = SegRec {
            index: self.index,
            ts_ns: self.ts_ns,
            dir: Dir::from_index(from),
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            payload: &[],
            missing: 0,
        };
        (from, seg)
    }
}

/// The payload-less segments of a connection whose state is not made yet: the first
/// inline (a lone SYN costs no allocation), the others boxed.
#[derive(Default)]
struct Early {
    first: Option<EarlySeg>,
    more: Vec<EarlySeg>,
}

impl Early {
    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.more.len()
    }

    fn push(&mut self, from: usize, seg: &SegRec<'_>) {
        let e = EarlySeg::of(from, seg);
        if self.first.is_none() {
            self.first = Some(e);
        } else {
            self.more.push(e);
        }
    }

    fn take(&mut self) -> Vec<(usize, SegRec<'static>)> {
        let first = self.first.take();
        let more = std::mem::take(&mut self.more);
        first.into_iter().chain(more).map(|e| e.seg()).collect()
    }
}

impl Owned {
    /// The connection's state, made now if need be (the early segments replayed).
    fn kafka(
        &mut self,
        id: u32,
        config: &PipelineConfig,
        limits: &mut Limits,
        out: &mut Vec<Exchange>,
    ) -> &mut KafkaConn {
        if self.live.is_none() {
            let mut pre = self.pre.take().expect("a connection before its state");
            let mut k = KafkaConn::new(
                id,
                pre.ends,
                pre.first_ts,
                &config.kafka,
                config.limits.budget_left(),
            );
            for (from, seg) in pre.early.take() {
                k.on_segment(from, &seg, &config.kafka, limits, out);
            }
            self.live = Some(Box::new(Live {
                kafka: k,
                peers: None,
                held: Vec::new(),
                said: false,
            }));
        }
        &mut self.live.as_mut().expect("made above").kafka
    }
}

/// An exchange settled, waiting until every worker has read past it.
struct Waiting {
    key: Key,
    report: Arc<ConnectionReport>,
    peers: Arc<Peers>,
    exchange: Exchange,
    request_rank: u64,
}

/// What a worker keeps until it can be sent.
enum Pending {
    Exchange(Box<Waiting>),
    Ended(
        Key,
        crate::kafka::Verdict,
        Option<Box<ConnectionReport>>,
        u64,
    ),
}

impl Pending {
    fn key(&self) -> Key {
        match self {
            Pending::Exchange(w) => w.key,
            Pending::Ended(k, ..) => *k,
        }
    }
}

/// An exchange whose topic ids nobody has named yet.
struct Unnamed {
    waiting: Box<Waiting>,
}

pub struct Worker<'a> {
    id: usize,
    config: &'a PipelineConfig,
    sources: &'a [&'a [u8]],
    origin: Origin,
    shared: &'a Shared,
    conns: HashMap<u32, Owned, std::hash::BuildHasherDefault<IdHasher>>,
    limits: Limits,
    settled: Vec<Exchange>,
    pending: VecDeque<Pending>,
    unnamed: Vec<Unnamed>,
    /// Connections are collected whole (not only counted): keep every report.
    pub collecting: bool,
    /// Connections that were not Kafka, counted by verdict.
    verdicts: crate::summary::Summary,
    /// The worker's own view of names, filled for one exchange at a time.
    knowledge: Knowledge,
    out: JsonOut,
    /// Rounds made at checkpoints, to send before the next.
    ready_rounds: Vec<Round>,
    /// Exchanges settled at or before this position wait for a topic name no longer
    /// than it (the cap on waiting exchanges was passed).
    released_upto: u64,
}

impl<'a> Worker<'a> {
    pub fn new(
        id: usize,
        config: &'a PipelineConfig,
        sources: &'a [&'a [u8]],
        origin: Origin,
        shared: &'a Shared,
    ) -> Self {
        Worker {
            id,
            config,
            sources,
            origin,
            shared,
            conns: HashMap::default(),
            limits: config.limits.clone(),
            settled: Vec::new(),
            pending: VecDeque::new(),
            unnamed: Vec::new(),
            collecting: false,
            verdicts: Default::default(),
            knowledge: Knowledge {
                topics: config.topic_map.clone(),
                ..Knowledge::default()
            },
            out: JsonOut::new(),
            ready_rounds: Vec::new(),
            released_upto: 0,
        }
    }

    /// Runs until the reader is done, then (once every worker is) settles the rest.
    pub fn run(mut self, batches: Receiver<Batch>, rounds: SyncSender<Round>) {
        let mut sent_mark = Key::default();
        loop {
            let wait = if self.pending.is_empty() && self.unnamed.is_empty() {
                Duration::from_secs(3600)
            } else {
                Duration::from_millis(2)
            };
            match batches.recv_timeout(wait) {
                Ok(batch) => {
                    self.batch(batch);
                    for round in std::mem::take(&mut self.ready_rounds) {
                        sent_mark = sent_mark.max(round.mark);
                        if rounds.send(round).is_err() {
                            self.shared.abort.store(true, Ordering::Release);
                            return;
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let all = self.shared.read_by_all();
            let round = self.round(all, false);
            if (round.mark > sent_mark || !round.outputs.is_empty()) && {
                sent_mark = round.mark;
                rounds.send(round).is_err()
            } {
                self.shared.abort.store(true, Ordering::Release);
                return;
            }
        }
        // The reader is done: once every worker is, whatever is left can go.
        self.shared.marks[self.id].store(u64::MAX, Ordering::Release);
        while self.shared.read_by_all() < u64::MAX && !self.shared.abort.load(Ordering::Acquire) {
            let round = self.round(self.shared.read_by_all(), false);
            if !round.outputs.is_empty() && rounds.send(round).is_err() {
                self.shared.abort.store(true, Ordering::Release);
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut round = self.round(u64::MAX, true);
        round.verdicts = Some(Box::new(std::mem::take(&mut self.verdicts)));
        let _ = rounds.send(round);
    }

    fn batch(&mut self, batch: Batch) {
        let Batch { items, own, upto } = batch;
        for item in items {
            match item {
                Item::Open {
                    conn,
                    ends,
                    first_ts,
                } => {
                    self.conns.insert(
                        conn,
                        Owned {
                            live: None,
                            pre: Some(Box::new(Pre {
                                ends,
                                first_ts,
                                early: Early::default(),
                            })),
                            settled: 0,
                        },
                    );
                }
                Item::Segment {
                    conn,
                    at,
                    from,
                    index,
                    ts_ns,
                    seq,
                    ack,
                    flags,
                    window,
                    missing,
                    payload,
                } => {
                    let bytes: &[u8] = if payload.source == OWN {
                        &own[payload.start..payload.start + payload.len as usize]
                    } else {
                        let src = self.sources[payload.source as usize];
                        &src[payload.start..payload.start + payload.len as usize]
                    };
                    let rec = SegRec {
                        index,
                        ts_ns,
                        dir: Dir::from_index(usize::from(from)),
                        seq,
                        ack,
                        flags,
                        window,
                        payload: bytes,
                        missing,
                    };
                    let Some(owned) = self.conns.get_mut(&conn) else {
                        continue;
                    };
                    let from = usize::from(from);
                    if let Some(pre) = &mut owned.pre
                        && rec.payload.is_empty()
                        && rec.missing == 0
                        && pre.early.len() < EARLY_SEGMENTS
                    {
                        pre.early.push(from, &rec);
                        continue;
                    }
                    let (config, limits) = (self.config, &mut self.limits);
                    owned
                        .kafka(conn, config, limits, &mut self.settled)
                        .on_segment(from, &rec, &config.kafka, limits, &mut self.settled);
                    self.take_settled(conn, at);
                }
                Item::End { conn, at, evicted } => {
                    let Some(owned) = self.conns.get_mut(&conn) else {
                        continue;
                    };
                    let (config, limits) = (self.config, &mut self.limits);
                    let kafka = owned.kafka(conn, config, limits, &mut self.settled);
                    kafka.finish(&config.kafka, limits, &mut self.settled);
                    if evicted.is_some() {
                        self.verdicts.caps.bytes_dropped += kafka.unframed_at_finish();
                        mark_evicted(&mut self.settled);
                    }
                    self.take_settled(conn, at);
                    self.release_held(conn, at);
                    let owned = self.conns.remove(&conn).expect("present");
                    if self.conns.capacity() > 4096 && self.conns.len() * 4 < self.conns.capacity()
                    {
                        self.conns.shrink_to(self.conns.len() * 2);
                    }
                    let kafka = owned.live.expect("made at the end").kafka;
                    let key = Key {
                        at,
                        conn,
                        rank: owned.settled,
                    };
                    let initial = self.config.limits.budget_left();
                    let used = initial.saturating_sub(kafka.budget_left());
                    let verdict = kafka.report.verdict;
                    if verdict != crate::kafka::Verdict::Kafka && !self.collecting {
                        // Counted by verdict alone, in any order: no need to wait.
                        self.verdicts.count_verdict(verdict);
                        continue;
                    }
                    let report = Some(Box::new(kafka.report));
                    self.pending
                        .push_back(Pending::Ended(key, verdict, report, used));
                }
                Item::Checkpoint { at } => self.checkpoint(at),
                Item::ReleaseUnnamed { at } => self.released_upto = self.released_upto.max(at),
            }
        }
        self.shared.marks[self.id].store(upto, Ordering::Release);
    }

    /// At the checkpoint at `at` (everything up to it read): once every worker is
    /// there, builds what that allows and reports what is held. Everything reported
    /// is as of `at` exactly, whatever the threads' timing.
    fn checkpoint(&mut self, at: u64) {
        self.shared.marks[self.id].store(at, Ordering::Release);
        while self.shared.read_by_all() < at {
            if self.shared.aborted() {
                return;
            }
            std::thread::sleep(Duration::from_micros(50));
        }
        let round = self.round(at, false);
        self.ready_rounds.push(round);
        let mut load = Load {
            at,
            unnamed: self.unnamed.len() as u64,
            ..Load::default()
        };
        for (&conn, owned) in &self.conns {
            let Some(live) = &owned.live else { continue };
            let bytes = live.kafka.window_bytes();
            let waiting = live.kafka.waiting_requests();
            load.reassembly_bytes += bytes;
            load.waiting_requests += waiting;
            if bytes > 0 {
                load.heaviest.push((bytes, conn));
            }
            if waiting > 0 {
                load.most_waiting.push((waiting, conn));
            }
        }
        for list in [&mut load.heaviest, &mut load.most_waiting] {
            list.sort_unstable_by(|a, b| b.cmp(a));
            list.truncate(LOAD_TOP);
        }
        self.shared.post_load(self.id, load);
    }

    /// Moves what connection `conn` settled at position `at` to the pending queue,
    /// recording the names it says; the first exchanges wait for the connection's
    /// first Metadata response or data exchange (see [`Live::held`]).
    fn take_settled(&mut self, conn: u32, at: u64) {
        if self.settled.is_empty() {
            return;
        }
        let mut settled = std::mem::take(&mut self.settled);
        for ex in settled.drain(..) {
            let owned = self.conns.get_mut(&conn).expect("present");
            let live = owned.live.as_mut().expect("settled exchanges have a state");
            let window = events_of(&live.kafka.report, &ex);
            // What it says is known from where it settled, whenever it is built.
            let said_at = Key { at, conn, rank: 0 };
            let report = &live.kafka.report;
            self.shared
                .learn(report.client.ip, report.broker, &ex, said_at);
            if !live.said {
                let key = ex.request.api_key;
                let says = (key == crate::kafka::api::METADATA && ex.response.is_some())
                    || key == crate::kafka::api::PRODUCE
                    || key == crate::kafka::api::FETCH;
                if !says && live.held.len() < HELD_BEFORE_METADATA {
                    live.held.push((ex, window));
                    continue;
                }
                self.release_held(conn, at);
            }
            self.queue(conn, at, ex, window);
        }
        self.settled = settled;
    }

    /// Queues the exchanges connection `conn` held, at position `at`.
    fn release_held(&mut self, conn: u32, at: u64) {
        let Some(live) = self.conns.get_mut(&conn).and_then(|o| o.live.as_mut()) else {
            return;
        };
        live.said = true;
        for (ex, window) in std::mem::take(&mut live.held) {
            self.queue(conn, at, ex, window);
        }
    }

    /// Puts one exchange of `conn`, settled (or released) at `at`, in the queue.
    fn queue(&mut self, conn: u32, at: u64, ex: Exchange, window: crate::timing::EventLog) {
        let owned = self.conns.get_mut(&conn).expect("present");
        let live = owned.live.as_mut().expect("settled exchanges have a state");
        let peers = live
            .peers
            .get_or_insert_with(|| Arc::new(Peers::of(&live.kafka.report)))
            .clone();
        let key = Key {
            at,
            conn,
            rank: owned.settled,
        };
        owned.settled += 1;
        let report = Arc::new(live.kafka.report.context(window));
        let request_rank = ex.seq;
        self.pending.push_back(Pending::Exchange(Box::new(Waiting {
            key,
            report,
            peers,
            exchange: ex,
            request_rank,
        })));
    }

    /// Builds what every worker has read past (`all`), and what waited for a name that
    /// is now known; `last` releases everything.
    fn round(&mut self, all: u64, last: bool) -> Round {
        let mut round = Round {
            worker: self.id,
            ..Round::default()
        };
        self.out.clear();
        let ready = Key::upto(all);
        let mut outputs: Vec<Output> = Vec::new();
        // Exchanges that waited for a topic name: named now, too long, or the end.
        let unnamed = std::mem::take(&mut self.unnamed);
        for u in unnamed {
            match self.naming(&u.waiting, all, last) {
                Some(place) => {
                    self.count_cut_short(place);
                    outputs.push(self.build(u.waiting, place));
                }
                None => self.unnamed.push(u),
            }
        }
        while self.pending.front().is_some_and(|p| p.key() <= ready) {
            match self.pending.pop_front().expect("front") {
                Pending::Ended(key, verdict, report, used) => outputs.push(Output::Ended(Ended {
                    place: Place::of(key),
                    verdict,
                    report,
                    decompressed: used,
                })),
                Pending::Exchange(w) => match self.naming(&w, all, last) {
                    Some(place) => {
                        self.count_cut_short(place);
                        outputs.push(self.build(w, place));
                    }
                    None => self.unnamed.push(Unnamed { waiting: w }),
                },
            }
        }
        outputs.sort_by_key(Output::place);
        round.outputs = outputs;
        round.spans = std::mem::take(&mut self.out.buf);
        round.ends = std::mem::take(&mut self.out.ends);
        round.mark = if last { Key::upto(u64::MAX) } else { ready };
        round
    }

    /// Where an exchange is placed: at its own key when every topic id it uses is
    /// named, or after the naming when that came later; `None` while a name may still
    /// come. After [`NAME_WAIT_PACKETS`] packets (or sooner, at the cap on waiting
    /// exchanges), or at the end, it goes unnamed, placed where its wait ended.
    fn naming(&self, w: &Waiting, all: u64, last: bool) -> Option<Place> {
        let mut at = w.key;
        let limit = self.name_limit(w.key);
        for p in &w.exchange.facts.partitions {
            let Topic::Id(id) = &p.topic else { continue };
            if self.config.topic_map.contains_key(id) {
                continue;
            }
            match self.shared.topic(id) {
                Some((_, named)) if named.at <= all && named.at <= limit => at = at.max(named),
                _ if last || all >= limit => at = at.max(Key::upto(limit)),
                _ => return None,
            }
        }
        Some(Place { at, own: w.key })
    }

    /// Counts an exchange whose wait for a name the cap on waiting exchanges ended.
    fn count_cut_short(&mut self, place: Place) {
        let cut = self.released_upto;
        if cut > 0
            && place.at == Key::upto(cut)
            && cut < place.own.at.saturating_add(NAME_WAIT_PACKETS)
        {
            self.verdicts.caps.released_unnamed += 1;
        }
    }

    /// The last position at which a name may still come for an exchange settled at
    /// `key`.
    fn name_limit(&self, key: Key) -> u64 {
        let natural = key.at.saturating_add(NAME_WAIT_PACKETS);
        if key.at <= self.released_upto {
            natural.min(self.released_upto)
        } else {
            natural
        }
    }

    /// Filters an exchange and serialises its spans with the names known at `place`.
    fn build(&mut self, w: Box<Waiting>, place: Place) -> Output {
        let Waiting {
            key,
            report,
            peers,
            exchange,
            request_rank,
        } = *w;
        self.fill_knowledge(&report, &exchange, place, key);
        let config = self.config;
        let selected = crate::pipeline::selected(config, &report, &exchange, &self.knowledge);
        let before = self.out.len();
        if selected && !config.no_spans {
            span::emit(
                &mut self.out,
                &report,
                &peers,
                &exchange,
                self.origin,
                &config.span,
                &self.knowledge,
            );
        }
        let service = config
            .service_from
            .map(|source| crate::service::service_name(&report, source));
        let released_unnamed =
            exchange.facts.partitions.iter().any(
                |p| matches!(&p.topic, Topic::Id(id) if !self.knowledge.topics.contains_key(id)),
            );
        self.clear_knowledge(&exchange);
        Output::Done(Box::new(Done {
            place,
            report,
            exchange,
            request_rank,
            selected,
            service,
            span_index: before,
            span_count: (self.out.len() - before) as u32,
            released_unnamed,
        }))
    }

    /// Puts into the worker's knowledge the names this exchange needs: topic ids
    /// named at or before `place`, the client's group as known at its own key.
    fn fill_knowledge(&mut self, report: &ConnectionReport, ex: &Exchange, place: Place, own: Key) {
        for p in &ex.facts.partitions {
            let Topic::Id(id) = &p.topic else { continue };
            if self.config.topic_map.contains_key(id) {
                continue;
            }
            if let Some((name, named)) = self.shared.topic(id)
                && named <= place.at
            {
                self.knowledge.topics.insert(*id, name);
            }
        }
        if let Some((cluster, named)) = self.shared.cluster(&report.broker)
            && named <= own
        {
            self.knowledge.clusters.insert(report.broker, cluster);
        }
        if let Some((group, named)) = self.shared.group(&ex.request.client_id, report.client.ip)
            && named <= own
        {
            self.knowledge
                .groups
                .insert((ex.request.client_id.clone(), report.client.ip), group);
        }
    }

    fn clear_knowledge(&mut self, ex: &Exchange) {
        for p in &ex.facts.partitions {
            if let Topic::Id(id) = &p.topic
                && !self.config.topic_map.contains_key(id)
            {
                self.knowledge.topics.remove(id);
            }
        }
        self.knowledge.groups.clear();
        self.knowledge.clusters.clear();
    }
}

/// The requests an evicted connection left waiting: their response may have come
/// after, but kapture no longer followed the connection.
fn mark_evicted(settled: &mut [Exchange]) {
    for ex in settled {
        if ex.state == crate::kafka::exchange::ResponseState::NotCaptured {
            ex.state = crate::kafka::exchange::ResponseState::Evicted;
        }
    }
}

/// The connection's TCP events during one exchange.
fn events_of(report: &ConnectionReport, ex: &Exchange) -> crate::timing::EventLog {
    let end = ex
        .response
        .as_ref()
        .map_or(ex.request.span.last_ts, |r| r.span.last_ts);
    let start = ex.request.span.first_ts.min(end);
    report.tcp_events.window(start, end)
}
