//! Reassembles one direction of a TCP connection incrementally, segment by segment, into
//! a sliding window of stream bytes ([`DirStream`]): each byte keeps the data packet
//! that first carried it, holes stay holes until an ACK from the peer or the end of the
//! connection passes them, and bytes below the left edge the caller no longer needs
//! are freed. Hands on a borrowed [`Stream`] view of the window for framing and body
//! decoding, plus the direction's counters and TCP health events.

use std::collections::BTreeMap;

use crate::net::flags;

/// Which way a segment travels, relative to the connection's first packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// From `ends[0]` (the end that sent the connection's first captured packet) to
    /// `ends[1]`.
    AtoB = 0,
    /// From `ends[1]` to `ends[0]`.
    BtoA = 1,
}

impl Dir {
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn from_index(i: usize) -> Dir {
        if i == 0 { Dir::AtoB } else { Dir::BtoA }
    }
}

/// The facts of one segment that reassembly and timing need. `payload` borrows from
/// the packet for as long as the segment is being handed on.
#[derive(Debug, Clone, Copy)]
pub struct SegRec<'a> {
    pub index: u64,
    pub ts_ns: i64,
    pub dir: Dir,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub payload: &'a [u8],
    /// Payload bytes cut off by the snapshot length.
    pub missing: u32,
}

impl<'a> SegRec<'a> {
    /// A data segment of `payload` at sequence number `seq` sent by `ends[0]`, packet
    /// `index` at `ts_ns`, with nothing else set: what tests and fuzzers feed a
    /// [`DirStream`] with.
    pub fn data(index: u64, ts_ns: i64, seq: u32, payload: &'a [u8]) -> SegRec<'a> {
        SegRec {
            index,
            ts_ns,
            dir: Dir::AtoB,
            seq,
            ack: 0,
            flags: flags::ACK,
            window: 1,
            payload,
            missing: 0,
        }
    }

    pub fn is_bare_syn(&self) -> bool {
        self.flags & (flags::SYN | flags::ACK) == flags::SYN
    }
}

/// A run of stream bytes that arrived in one packet (the bytes live in the window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// Stream offset of the first byte; offset 0 is the byte after the SYN, or the
    /// first captured payload byte when the capture began mid-connection.
    pub offset: u64,
    pub len: u32,
    pub ts_ns: i64,
    /// Frame number of the packet that first carried these bytes.
    pub index: u64,
}

impl Chunk {
    pub fn end(&self) -> u64 {
        self.offset + u64::from(self.len)
    }
}

/// Counters of what reassembly met in one direction.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StreamStats {
    /// Segments that carried payload.
    pub data_segments: u64,
    /// Segments whose payload was entirely seen before.
    pub retransmitted_segments: u64,
    /// Segments that arrived beyond a hole still open.
    pub out_of_order_segments: u64,
    /// Payload bytes that repeat bytes already seen.
    pub retransmitted_bytes: u64,
    /// Payload bytes that lie before the first byte the capture saw (mid-connection
    /// start), which can never be placed.
    pub bytes_before_start: u64,
    /// Bytes the snapshot length cut from packets.
    pub snaplen_missing_bytes: u64,
    /// Segments announcing a zero receive window.
    pub zero_windows: u64,
    /// Bytes that arrived for a part of the stream already given up as a gap and
    /// handed on (a retransmission after the peer's ACK had passed the hole), or too
    /// far ahead of the window to be held.
    pub late_bytes: u64,
}

/// Something unhealthy reassembly saw in one direction, at a packet's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpEvent {
    /// A segment whose payload was all seen before: stream offsets `start..end`.
    Retransmission { start: u64, end: u64 },
    /// A segment that arrived beyond a hole still open, its data starting at `offset`.
    OutOfOrder { offset: u64 },
    /// The sender announced a zero receive window (its peer must stop sending).
    ZeroWindow,
}

/// A hole in a stream: bytes that were sent but never captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    pub offset: u64,
    pub len: u64,
}

/// A borrowed view of one direction's window: the bytes from `base` on, with the
/// chunks that carried them. Offsets are stream offsets; bytes below `base` are gone.
#[derive(Debug, Clone, Copy)]
pub struct Stream<'a> {
    /// Stream offset of `data[0]`.
    pub base: u64,
    /// The window's bytes; holes read as zeros but are never handed out.
    pub data: &'a [u8],
    /// Sorted by offset, non-overlapping; only chunks ending above `base`.
    pub chunks: &'a [Chunk],
    /// Whether offset 0 is known to be the first byte the sender ever sent (SYN seen).
    pub starts_at_origin: bool,
    /// One past the highest offset the sender is known to have sent, counting bytes
    /// the snapshot length cut off; at least [`Stream::end`].
    pub sent_end: u64,
}

impl<'a> Stream<'a> {
    /// Offset one past the last captured byte.
    pub fn end(&self) -> u64 {
        self.chunks.last().map_or(0, Chunk::end)
    }

    /// The bytes a chunk carried (the part still in the window).
    pub fn chunk_bytes(&self, c: &Chunk) -> &'a [u8] {
        let from = c.offset.max(self.base);
        let start = (from - self.base) as usize;
        let end = (c.end() - self.base) as usize;
        self.data.get(start..end).unwrap_or(&[])
    }

    /// Index of the chunk holding `offset`, if that byte was captured.
    pub fn chunk_at(&self, offset: u64) -> Option<usize> {
        if offset < self.base {
            return None;
        }
        let i = self.chunks.partition_point(|c| c.end() <= offset);
        (i < self.chunks.len() && self.chunks[i].offset <= offset).then_some(i)
    }

    /// Offset of the first captured byte at or after `offset`.
    pub fn next_captured(&self, offset: u64) -> Option<u64> {
        let offset = offset.max(self.base);
        let i = self.chunks.partition_point(|c| c.end() <= offset);
        self.chunks.get(i).map(|c| c.offset.max(offset))
    }

    /// Whether every byte of `[offset, offset + len)` was captured.
    pub fn is_contiguous(&self, offset: u64, len: u64) -> bool {
        if len == 0 {
            return true;
        }
        self.contiguous_len_upto(offset, len) >= len
    }

    /// How many bytes from `offset` on were captured without a hole.
    pub fn contiguous_len(&self, offset: u64) -> u64 {
        self.contiguous_len_upto(offset, u64::MAX)
    }

    /// [`Stream::contiguous_len`], looking no further than `limit` bytes: callers
    /// that need a few bytes must not walk the rest of a long stream for each frame.
    pub fn contiguous_len_upto(&self, offset: u64, limit: u64) -> u64 {
        let Some(mut i) = self.chunk_at(offset) else {
            return 0;
        };
        loop {
            let c = &self.chunks[i];
            let have = c.end() - offset;
            if have >= limit {
                return limit;
            }
            match self.chunks.get(i + 1) {
                Some(n) if n.offset == c.end() => i += 1,
                _ => return have,
            }
        }
    }

    /// Copies `out.len()` bytes starting at `offset` into `out`; false when any of them
    /// was not captured.
    pub fn read_into(&self, offset: u64, out: &mut [u8]) -> bool {
        match self.borrow(offset, out.len()) {
            Some(b) => {
                out.copy_from_slice(b);
                true
            }
            None => out.is_empty(),
        }
    }

    /// The bytes `[offset, offset + len)` when all were captured.
    pub fn borrow(&self, offset: u64, len: usize) -> Option<&'a [u8]> {
        if !self.is_contiguous(offset, len as u64) || offset < self.base {
            return None;
        }
        let from = (offset - self.base) as usize;
        self.data.get(from..from.checked_add(len)?)
    }

    /// Appends the bytes `[offset, offset + len)` to `out`; false (and `out`
    /// untouched) when any of them was not captured.
    pub fn append_to(&self, offset: u64, len: usize, out: &mut Vec<u8>) -> bool {
        match self.borrow(offset, len) {
            Some(b) => {
                out.extend_from_slice(b);
                true
            }
            None => len == 0,
        }
    }

    /// The bytes `[offset, offset + len)`; `None` when any byte was not captured.
    pub fn bytes(&self, offset: u64, len: usize) -> Option<std::borrow::Cow<'a, [u8]>> {
        self.borrow(offset, len).map(std::borrow::Cow::Borrowed)
    }

    /// The chunk carrying byte `offset`, used to timestamp frame boundaries.
    pub fn chunk_containing(&self, offset: u64) -> Option<&'a Chunk> {
        self.chunk_at(offset).map(|i| &self.chunks[i])
    }
}

/// Holes larger than this, ahead of the window, are not held open: the bytes beyond
/// are dropped (counted in [`StreamStats::late_bytes`]) rather than allocating the hole.
pub const MAX_HOLE: u64 = 64 << 20;

/// One direction of a connection, reassembled as segments arrive.
#[derive(Debug, Default)]
pub struct DirStream {
    /// Whether the first segment with data (or the SYN) has fixed offset 0.
    based: bool,
    unwrap: Option<SeqUnwrapper>,
    covered: Coverage,
    /// Stream bytes `[buf_base, buf_base + buf.len())`.
    buf: Vec<u8>,
    buf_base: u64,
    /// Chunks sorted by offset; those before `chunk_start` are released.
    chunks: Vec<Chunk>,
    chunk_start: usize,
    /// Offsets below this are gone: handed on, or given up as gaps.
    released: u64,
    /// Holes ending at or below this offset are known never to be filled: the peer
    /// acknowledged past them, or the snapshot length cut the bytes.
    declared_to: u64,
    pub starts_at_origin: bool,
    pub sent_end: u64,
    pub stats: StreamStats,
    /// Retransmissions, out-of-order arrivals and zero windows not yet taken.
    pub events: Vec<(i64, TcpEvent)>,
    /// Zero windows seen before offset 0 was fixed: they count only if this direction
    /// ever carries data, as a whole-connection reassembly would count them.
    early_zero_windows: Vec<i64>,
    /// Stop keeping bytes (a direction found not to carry Kafka): only counters move.
    discard: bool,
    /// Holes behind captured bytes, by where they end (the offset of the chunk after
    /// them), with the time that chunk arrived: the time the hole became visible.
    hole_ends: BTreeMap<u64, i64>,
    /// Holes between captured runs wholly below the released edge, already counted.
    pruned_gaps: u64,
    pruned_gap_bytes: u64,
    /// End of the first captured run, once holes after it were folded away: data
    /// beyond it still arrives beyond a hole.
    first_run_end: Option<u64>,
}

impl DirStream {
    pub fn new() -> Self {
        Self::default()
    }

    /// Offset 0 is the byte after this SYN.
    pub fn on_syn(&mut self, isn: u32) {
        if !self.based {
            self.based = true;
            self.starts_at_origin = true;
            self.unwrap = Some(SeqUnwrapper::new(isn.wrapping_add(1)));
        }
    }

    /// Takes one segment sent in this direction.
    pub fn push(&mut self, seg: &SegRec<'_>) {
        if seg.flags & flags::SYN != 0 {
            self.on_syn(seg.seq);
        }
        if seg.window == 0 && seg.flags & flags::RST == 0 {
            if self.based {
                self.stats.zero_windows += 1;
                self.events.push((seg.ts_ns, TcpEvent::ZeroWindow));
            } else {
                self.early_zero_windows.push(seg.ts_ns);
            }
        }
        let data_seq = if seg.flags & flags::SYN != 0 {
            seg.seq.wrapping_add(1)
        } else {
            seg.seq
        };
        if seg.payload.is_empty() && seg.missing == 0 {
            return;
        }
        if !self.based {
            self.based = true;
            self.unwrap = Some(SeqUnwrapper::new(data_seq));
            self.stats.zero_windows += self.early_zero_windows.len() as u64;
            for ts in std::mem::take(&mut self.early_zero_windows) {
                self.events.push((ts, TcpEvent::ZeroWindow));
            }
        }
        self.stats.data_segments += 1;
        self.stats.snaplen_missing_bytes += u64::from(seg.missing);
        let start = self.unwrap.as_mut().expect("based").offset(data_seq);
        let mut data = seg.payload;
        let mut off = start;
        if off < 0 {
            let skip = off.unsigned_abs().min(data.len() as u64) as usize;
            self.stats.bytes_before_start += skip as u64;
            data = &data[skip..];
            off += skip as i64;
            if data.is_empty() {
                if seg.missing > 0 {
                    let end = off.max(0) as u64 + u64::from(seg.missing);
                    self.sent_end = self.sent_end.max(end);
                    self.declared_to = self.declared_to.max(end);
                }
                return;
            }
        }
        let off = off as u64;
        let end = off + data.len() as u64;
        self.sent_end = self.sent_end.max(end + u64::from(seg.missing));
        if seg.missing > 0 {
            self.declared_to = self.declared_to.max(end + u64::from(seg.missing));
        }
        let in_order_end = self
            .first_run_end
            .unwrap_or_else(|| self.covered.contiguous_end());
        if off > in_order_end {
            self.stats.out_of_order_segments += 1;
            self.events
                .push((seg.ts_ns, TcpEvent::OutOfOrder { offset: off }));
        }
        let mut fresh = 0usize;
        let mut placed = Placed::default();
        self.covered.insert(off, data.len() as u64, |from, to| {
            fresh += (to - from) as usize;
            placed.push(from, to);
        });
        for (from, to) in placed.iter() {
            let d = &data[(from - off) as usize..(to - off) as usize];
            self.store(from, d, seg.ts_ns, seg.index);
            self.mark_holes(from, seg.ts_ns);
        }
        let repeated = data.len() - fresh;
        self.stats.retransmitted_bytes += repeated as u64;
        if fresh == 0 {
            self.stats.retransmitted_segments += 1;
            self.events
                .push((seg.ts_ns, TcpEvent::Retransmission { start: off, end }));
        }
    }

    /// Fresh bytes were placed at `from`: holes they closed are gone, and a hole
    /// right behind them now ends at `from`.
    fn mark_holes(&mut self, from: u64, ts_ns: i64) {
        let Some((&start, &end)) = self.covered.ranges.range(..=from).next_back() else {
            return;
        };
        // Ends of holes now inside one captured run are no longer holes.
        let inside: Vec<u64> = self
            .hole_ends
            .range(start + 1..=end)
            .map(|(&k, _)| k)
            .collect();
        for k in inside {
            self.hole_ends.remove(&k);
        }
        if start == from && self.covered.ranges.range(..from).next_back().is_some() {
            self.hole_ends.insert(from, ts_ns);
        }
    }

    /// The times holes ending at or below `upto` became visible (holes that can no
    /// longer be filled), each once.
    pub fn take_gap_times(&mut self, upto: u64) -> Vec<i64> {
        let rest = self.hole_ends.split_off(&upto.saturating_add(1));
        let done = std::mem::replace(&mut self.hole_ends, rest);
        done.into_values().collect()
    }

    /// Keeps fresh bytes `[from, from + d.len())` in the window.
    fn store(&mut self, from: u64, d: &[u8], ts_ns: i64, index: u64) {
        let to = from + d.len() as u64;
        if to <= self.released || self.discard {
            self.stats.late_bytes += if self.discard { 0 } else { d.len() as u64 };
            return;
        }
        let (from, d) = if from < self.released {
            let cut = (self.released - from) as usize;
            self.stats.late_bytes += cut as u64;
            (self.released, &d[cut..])
        } else {
            (from, d)
        };
        if self.buf.is_empty() {
            self.buf_base = from;
        } else if from < self.buf_base {
            // Bytes before the window's first: move the window's start down.
            let room = self.buf_base - from;
            if room > MAX_HOLE {
                self.stats.late_bytes += d.len() as u64;
                return;
            }
            self.buf
                .splice(0..0, std::iter::repeat_n(0u8, room as usize));
            self.buf_base = from;
        }
        let at = from - self.buf_base;
        if at > self.buf.len() as u64 + MAX_HOLE {
            self.stats.late_bytes += d.len() as u64;
            return;
        }
        let at = at as usize;
        let need = at + d.len();
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
        self.buf[at..need].copy_from_slice(d);
        let chunk = Chunk {
            offset: from,
            len: d.len() as u32,
            ts_ns,
            index,
        };
        let live = &self.chunks[self.chunk_start..];
        if live.last().is_none_or(|l| l.offset < from) {
            self.chunks.push(chunk);
        } else {
            let i = self.chunk_start + live.partition_point(|c| c.offset < from);
            self.chunks.insert(i, chunk);
        }
    }

    /// The peer acknowledged `ack`: holes below it will never be filled.
    pub fn on_peer_ack(&mut self, ack: u32) {
        if let Some(u) = &self.unwrap {
            let off = u.peek(ack);
            if off > 0 {
                self.declared_to = self.declared_to.max(off as u64);
            }
        }
    }

    /// The window as a borrowed stream.
    pub fn view(&self) -> Stream<'_> {
        Stream {
            base: self.buf_base,
            data: &self.buf,
            chunks: &self.chunks[self.chunk_start..],
            starts_at_origin: self.starts_at_origin,
            sent_end: self.sent_end,
        }
    }

    /// One past the last offset that can no longer change, looking from `from`: the
    /// run of captured bytes there, extended across holes already given up. `fin`
    /// (the connection is over) settles everything.
    pub fn settled_from(&self, from: u64, fin: bool) -> u64 {
        if fin {
            return u64::MAX;
        }
        let mut s = from;
        let start = self
            .covered
            .ranges
            .range(..=from)
            .next_back()
            .map_or(from, |(&k, _)| k);
        for (&a, &b) in self.covered.ranges.range(start..) {
            if b <= s {
                continue;
            }
            if a > s {
                if a <= self.declared_to {
                    s = b;
                } else {
                    return s;
                }
            } else {
                s = b;
            }
        }
        if self.sent_end <= self.declared_to {
            s = s.max(self.sent_end);
        }
        s
    }

    /// Frees what lies below `offset`: nothing there will be read again.
    pub fn release_before(&mut self, offset: u64) {
        if offset <= self.released {
            return;
        }
        self.released = offset;
        let live = &self.chunks[self.chunk_start..];
        self.chunk_start += live.partition_point(|c| c.end() <= offset);
        // Keep the chunk that straddles the edge; compact the vector now and then.
        if self.chunk_start > 1024 && self.chunk_start * 2 > self.chunks.len() {
            self.chunks.drain(..self.chunk_start);
            self.chunk_start = 0;
        }
        let keep_from = self.chunks[self.chunk_start..]
            .first()
            .map_or(offset, |c| c.offset.min(offset));
        if keep_from > self.buf_base {
            let cut = ((keep_from - self.buf_base) as usize).min(self.buf.len());
            if cut == self.buf.len() {
                self.buf.clear();
                self.buf_base = keep_from;
            } else if cut >= 64 * 1024 && cut * 2 >= self.buf.len() {
                self.buf.drain(..cut);
                self.buf_base += cut as u64;
            }
        }
        if self.chunks.len() == self.chunk_start && self.buf.capacity() > 1 << 20 {
            self.buf = Vec::new();
        }
        self.prune_coverage(offset);
    }

    /// Folds the captured runs wholly below `offset` into one, counting the holes
    /// between them: what is below the edge is only needed for the final counts.
    fn prune_coverage(&mut self, offset: u64) {
        let below: Vec<(u64, u64)> = self
            .covered
            .ranges
            .range(..offset)
            .take_while(|&(_, &e)| e <= offset)
            .map(|(&a, &b)| (a, b))
            .collect();
        if below.len() < 2 {
            return;
        }
        self.first_run_end.get_or_insert(below[0].1);
        for w in below.windows(2) {
            self.pruned_gaps += 1;
            self.pruned_gap_bytes += w[1].0 - w[0].1;
        }
        for (a, _) in &below {
            self.covered.ranges.remove(a);
        }
        let (first, last) = (below[0].0, below[below.len() - 1].1);
        self.covered.ranges.insert(first, last);
    }

    /// Offset below which every hole is known never to be filled.
    pub fn declared_to(&self) -> u64 {
        self.declared_to
    }

    /// Stop keeping bytes: the direction does not carry Kafka.
    pub fn discard_bytes(&mut self) {
        self.discard = true;
        self.buf = Vec::new();
        self.chunks = Vec::new();
        self.chunk_start = 0;
    }

    /// Whether captured bytes lie beyond a hole not yet given up (an ACK may settle it).
    pub fn has_hole(&self) -> bool {
        self.covered.ranges.len() > 1 || !self.hole_ends.is_empty()
    }

    /// Whether any payload was captured.
    pub fn has_payload(&self) -> bool {
        !self.covered.ranges.is_empty()
    }

    /// Offset one past the last captured byte.
    pub fn end(&self) -> u64 {
        self.covered
            .ranges
            .values()
            .next_back()
            .copied()
            .unwrap_or(0)
    }

    /// Offset of the first captured byte.
    pub fn first_offset(&self) -> Option<u64> {
        self.covered.ranges.keys().next().copied()
    }

    /// Payload bytes in the window now.
    pub fn window_bytes(&self) -> u64 {
        self.buf.len() as u64
    }

    /// Bytes the window holds now.
    pub fn held_bytes(&self) -> usize {
        self.buf.capacity() + self.chunks.capacity() * std::mem::size_of::<Chunk>()
    }

    /// How many holes the direction had, and their bytes: those folded away below the
    /// released edge and those still listed by [`DirStream::gaps`].
    pub fn gap_totals(&self) -> (u64, u64) {
        let listed = self.gaps();
        (
            self.pruned_gaps + listed.len() as u64,
            self.pruned_gap_bytes + listed.iter().map(|g| g.len).sum::<u64>(),
        )
    }

    /// The holes in what was sent above the released edge: between captured runs,
    /// before the first when the SYN fixed offset 0, and after the last when the
    /// snapshot length cut it.
    pub fn gaps(&self) -> Vec<Gap> {
        let mut out = Vec::new();
        let Some(first) = self.first_offset() else {
            return out;
        };
        let mut expect = if self.starts_at_origin { 0 } else { first };
        for (&a, &b) in &self.covered.ranges {
            if a > expect {
                out.push(Gap {
                    offset: expect,
                    len: a - expect,
                });
            }
            expect = b;
        }
        if self.sent_end > expect {
            out.push(Gap {
                offset: expect,
                len: self.sent_end - expect,
            });
        }
        out
    }

    /// Takes the events gathered so far.
    pub fn take_events(&mut self) -> std::vec::Drain<'_, (i64, TcpEvent)> {
        self.events.drain(..)
    }
}

/// Up to a few fresh ranges of one segment, without allocating for the usual one.
#[derive(Default)]
struct Placed {
    first: Option<(u64, u64)>,
    more: Vec<(u64, u64)>,
}

impl Placed {
    fn push(&mut self, from: u64, to: u64) {
        if self.first.is_none() {
            self.first = Some((from, to));
        } else {
            self.more.push((from, to));
        }
    }

    fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.first.into_iter().chain(self.more.iter().copied())
    }
}

/// Maps 32-bit sequence numbers, which wrap, onto signed 64-bit offsets from `base`.
#[derive(Debug, Clone, Copy)]
struct SeqUnwrapper {
    last_seq: u32,
    last_off: i64,
}

impl SeqUnwrapper {
    fn new(base: u32) -> Self {
        SeqUnwrapper {
            last_seq: base,
            last_off: 0,
        }
    }

    /// The offset of `seq`, taken as the closest one to the previous segment's.
    fn offset(&mut self, seq: u32) -> i64 {
        let off = self.peek(seq);
        // Only move forward: an old retransmission must not drag the reference back
        // far enough for a later wrap to be misread.
        if off > self.last_off {
            self.last_seq = seq;
            self.last_off = off;
        }
        off
    }

    /// The offset of `seq` without moving the reference.
    fn peek(&self, seq: u32) -> i64 {
        let delta = seq.wrapping_sub(self.last_seq) as i32;
        self.last_off + i64::from(delta)
    }
}

/// The set of stream byte ranges already received, as disjoint `[start, end)` ranges.
#[derive(Debug, Default)]
struct Coverage {
    ranges: BTreeMap<u64, u64>,
}

impl Coverage {
    /// End of the run that starts at the lowest offset seen (where in-order data lands).
    fn contiguous_end(&self) -> u64 {
        self.ranges.iter().next().map_or(0, |(_, &e)| e)
    }

    /// Marks `[off, off+len)` received and calls `fresh(from, to)` for each part of it
    /// that was not received before, in offset order.
    fn insert(&mut self, off: u64, len: u64, mut fresh: impl FnMut(u64, u64)) {
        if len == 0 {
            return;
        }
        let end = off + len;
        // Fast paths for the common cases: in-order data extending the last range, and
        // a retransmission wholly inside it.
        if let Some((&s, e)) = self.ranges.iter_mut().next_back() {
            if *e == off {
                *e = end;
                fresh(off, end);
                return;
            }
            if s <= off && end <= *e {
                return;
            }
        }
        // Collect the existing ranges that touch [off, end].
        let mut lo = off;
        let mut hi = end;
        let mut cursor = off;
        let touching: Vec<(u64, u64)> = self
            .ranges
            .range(..=end)
            .rev()
            .take_while(|&(_, &e)| e >= off)
            .map(|(&s, &e)| (s, e))
            .collect();
        for &(s, e) in touching.iter().rev() {
            if s > cursor {
                fresh(cursor, s.min(end));
            }
            cursor = cursor.max(e);
            lo = lo.min(s);
            hi = hi.max(e);
            self.ranges.remove(&s);
        }
        if cursor < end {
            fresh(cursor, end);
        }
        self.ranges.insert(lo, hi);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(seq: u32, fl: u8, payload: &[u8], i: u64) -> SegRec<'_> {
        SegRec {
            index: i,
            ts_ns: i as i64 * 10,
            dir: Dir::AtoB,
            seq,
            ack: 0,
            flags: fl,
            window: 100,
            payload,
            missing: 0,
        }
    }

    fn stream_of(segs: &[SegRec<'_>]) -> DirStream {
        let mut d = DirStream::new();
        for s in segs {
            d.push(s);
        }
        d
    }

    fn bytes_of(d: &DirStream) -> Vec<u8> {
        let s = d.view();
        let mut v = vec![0; (s.end() - s.base) as usize];
        assert!(s.read_into(s.base, &mut v));
        v
    }

    #[test]
    fn in_order_with_syn() {
        let d = stream_of(&[
            seg(100, flags::SYN, b"", 1),
            seg(101, flags::ACK, b"abc", 2),
            seg(104, flags::ACK, b"def", 3),
        ]);
        assert!(d.starts_at_origin);
        assert_eq!(bytes_of(&d), b"abcdef");
        assert_eq!(d.view().chunks.len(), 2);
        assert!(d.gaps().is_empty());
    }

    #[test]
    fn wraparound() {
        let d = stream_of(&[
            seg(u32::MAX - 1, flags::SYN, b"", 1),
            seg(u32::MAX, flags::ACK, b"ab", 2),
            seg(1, flags::ACK, b"cd", 3),
        ]);
        assert_eq!(bytes_of(&d), b"abcd");
    }

    #[test]
    fn out_of_order_and_retransmission_keep_first_time() {
        let d = stream_of(&[
            seg(0, flags::SYN, b"", 1),
            seg(4, flags::ACK, b"def", 2),
            seg(1, flags::ACK, b"abc", 3),
            seg(4, flags::ACK, b"def", 4),
        ]);
        assert_eq!(bytes_of(&d), b"abcdef");
        let s = d.view();
        assert_eq!(s.chunks[0].index, 3);
        assert_eq!(s.chunks[1].index, 2, "the first copy keeps its time");
        assert_eq!(d.stats.out_of_order_segments, 1);
        assert_eq!(d.stats.retransmitted_segments, 1);
        assert_eq!(d.stats.retransmitted_bytes, 3);
    }

    #[test]
    fn overlap_fills_only_new_bytes() {
        let d = stream_of(&[
            seg(0, flags::SYN, b"", 1),
            seg(1, flags::ACK, b"abc", 2),
            seg(2, flags::ACK, b"bcde", 3),
        ]);
        assert_eq!(bytes_of(&d), b"abcde");
        assert_eq!(d.stats.retransmitted_bytes, 2);
        assert_eq!(d.stats.retransmitted_segments, 0);
    }

    #[test]
    fn lost_segment_is_a_gap_once_acknowledged() {
        let mut d = stream_of(&[
            seg(0, flags::SYN, b"", 1),
            seg(1, flags::ACK, b"abc", 2),
            seg(7, flags::ACK, b"ghi", 3),
        ]);
        assert_eq!(d.gaps(), vec![Gap { offset: 3, len: 3 }]);
        assert_eq!(d.settled_from(0, false), 3, "the hole may still be filled");
        d.on_peer_ack(7);
        assert_eq!(d.settled_from(0, false), 9, "acknowledged past: a gap");
        assert_eq!(d.settled_from(0, true), u64::MAX);
        let s = d.view();
        assert!(!s.is_contiguous(0, 9));
        assert!(s.is_contiguous(6, 3));
    }

    #[test]
    fn mid_connection_start_drops_older_bytes() {
        let d = stream_of(&[
            seg(50, flags::ACK, b"xyz", 1),
            seg(48, flags::ACK, b"abxy", 2),
        ]);
        assert!(!d.starts_at_origin);
        assert_eq!(bytes_of(&d), b"xyz");
        assert_eq!(d.stats.bytes_before_start, 2);
        assert_eq!(d.stats.retransmitted_bytes, 2);
    }

    #[test]
    fn released_bytes_are_freed_and_late_ones_counted() {
        let mut d = DirStream::new();
        d.push(&seg(0, flags::SYN, b"", 1));
        let big = vec![7u8; 200_000];
        d.push(&seg(1, flags::ACK, &big, 2));
        d.push(&seg(200_001, flags::ACK, b"tail", 3));
        d.release_before(200_000);
        let s = d.view();
        assert_eq!(s.chunks.len(), 1, "the straddling chunk stays");
        assert!(s.data.len() < 1000, "the released bytes are gone");
        assert_eq!(s.borrow(200_000, 4), Some(&b"tail"[..]));
        d.push(&seg(1, flags::ACK, b"abc", 4));
        assert_eq!(d.stats.retransmitted_bytes, 3);
    }
}
