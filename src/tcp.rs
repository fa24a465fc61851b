//! Groups TCP segments into connections (both directions of one 4-tuple, split again
//! when a new SYN reuses the tuple) and reassembles each direction into a [`Stream`]:
//! the payload bytes as zero-copy chunks keyed by stream offset, each stamped with the
//! data packet that first carried it, plus the holes the capture never filled.

use std::collections::{BTreeMap, HashMap};

use crate::net::{Endpoint, Segment, flags};

/// Which way a segment travels, relative to the connection's first packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// From `Connection::ends[0]` to `ends[1]`.
    AtoB = 0,
    /// From `ends[1]` to `ends[0]`.
    BtoA = 1,
}

impl Dir {
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The facts of one segment that reassembly and timing need. `payload` borrows from
/// the capture.
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

/// Both directions of one TCP connection, in capture order.
#[derive(Debug)]
pub struct Connection<'a> {
    /// Position in the order connections were first seen; stable for a given capture.
    pub id: u32,
    /// `ends[0]` sent the first captured packet.
    pub ends: [Endpoint; 2],
    pub segments: Vec<SegRec<'a>>,
    /// Per direction: the SYN's sequence number, when captured.
    pub syn_seq: [Option<u32>; 2],
    /// Per direction: a FIN or RST was seen.
    pub closed: [bool; 2],
}

impl<'a> Connection<'a> {
    fn new(id: u32, src: Endpoint, dst: Endpoint) -> Self {
        Connection {
            id,
            ends: [src, dst],
            // Room for one segment: connections made of a lone SYN (scans, refused
            // connects) are common and should cost little.
            segments: Vec::with_capacity(1),
            syn_seq: [None, None],
            closed: [false, false],
        }
    }

    fn dir_of(&self, src: &Endpoint) -> Dir {
        if *src == self.ends[0] {
            Dir::AtoB
        } else {
            Dir::BtoA
        }
    }

    /// The end that opened the connection with a bare SYN, when that was captured.
    pub fn syn_client(&self) -> Option<usize> {
        self.segments
            .iter()
            .find(|s| s.flags & (flags::SYN | flags::ACK) == flags::SYN)
            .map(|s| s.dir.index())
    }

    pub fn start_ts(&self) -> i64 {
        self.segments.first().map_or(0, |s| s.ts_ns)
    }

    fn carried_data(&self) -> bool {
        self.segments.iter().any(|s| !s.payload.is_empty())
    }
}

/// Splits a packet stream into connections. Feed segments in capture order.
#[derive(Default)]
pub struct ConnectionTable<'a> {
    by_tuple: HashMap<(Endpoint, Endpoint), usize>,
    conns: Vec<Connection<'a>>,
    /// The tuple and slot of the previous packet: consecutive packets mostly belong to
    /// one connection, and this skips hashing for them. (The map keeps SipHash: the
    /// tuples come from untrusted captures.)
    last: Option<((Endpoint, Endpoint), usize)>,
}

impl<'a> ConnectionTable<'a> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one segment, opening a new connection for a new 4-tuple or for a SYN that
    /// starts over on a tuple whose previous connection already carried data or closed.
    pub fn push(&mut self, index: u64, ts_ns: i64, seg: &Segment<'a>) {
        let key = tuple_key(seg.src, seg.dst);
        let is_bare_syn = seg.flags & (flags::SYN | flags::ACK) == flags::SYN;
        let known = match self.last {
            Some((k, slot)) if k == key => Some(slot),
            _ => self.by_tuple.get(&key).copied(),
        };
        let slot = match known.as_ref() {
            Some(&i) if !(is_bare_syn && starts_over(&self.conns[i], &seg.src, seg.seq)) => i,
            _ => {
                let id = self.conns.len();
                self.conns
                    .push(Connection::new(id as u32, seg.src, seg.dst));
                self.by_tuple.insert(key, id);
                id
            }
        };
        self.last = Some((key, slot));
        let conn = &mut self.conns[slot];
        let dir = conn.dir_of(&seg.src);
        if seg.flags & flags::SYN != 0 && conn.syn_seq[dir.index()].is_none() {
            conn.syn_seq[dir.index()] = Some(seg.seq);
        }
        if seg.flags & (flags::FIN | flags::RST) != 0 {
            conn.closed[dir.index()] = true;
        }
        conn.segments.push(SegRec {
            index,
            ts_ns,
            dir,
            seq: seg.seq,
            ack: seg.ack,
            flags: seg.flags,
            window: seg.window,
            payload: seg.payload,
            missing: seg.missing,
        });
    }

    pub fn into_connections(self) -> Vec<Connection<'a>> {
        self.conns
    }

    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }
}

/// A bare SYN from `src` with sequence number `seq` on a known tuple is a
/// retransmitted SYN unless the old connection closed, carried data, or began with
/// another initial sequence number.
fn starts_over(conn: &Connection<'_>, src: &Endpoint, seq: u32) -> bool {
    let dir = conn.dir_of(src);
    conn.closed.iter().any(|&c| c)
        || conn.carried_data()
        || conn.syn_seq[dir.index()].is_some_and(|s| s != seq)
}

fn tuple_key(a: Endpoint, b: Endpoint) -> (Endpoint, Endpoint) {
    if a <= b { (a, b) } else { (b, a) }
}

/// A run of stream bytes that arrived in one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk<'a> {
    /// Stream offset of `data[0]`; offset 0 is the byte after the SYN, or the first
    /// captured payload byte when the capture began mid-connection.
    pub offset: u64,
    pub data: &'a [u8],
    pub ts_ns: i64,
    /// Frame number of the packet that first carried these bytes.
    pub index: u64,
}

impl Chunk<'_> {
    pub fn end(&self) -> u64 {
        self.offset + self.data.len() as u64
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

/// One direction of a connection, reassembled.
#[derive(Debug, Default)]
pub struct Stream<'a> {
    /// Non-overlapping, sorted by offset. Holes between chunks are gaps.
    pub chunks: Vec<Chunk<'a>>,
    /// Whether offset 0 is known to be the first byte the sender ever sent (SYN seen).
    pub starts_at_origin: bool,
    /// One past the highest offset the sender is known to have sent, counting bytes
    /// the snapshot length cut off; at least [`Stream::end`].
    pub sent_end: u64,
    pub stats: StreamStats,
    /// Retransmissions, out-of-order arrivals and zero windows, in capture order.
    pub events: Vec<(i64, TcpEvent)>,
}

/// A hole in a stream: bytes that were sent but never captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    pub offset: u64,
    pub len: u64,
}

impl<'a> Stream<'a> {
    /// Offset one past the last captured byte.
    pub fn end(&self) -> u64 {
        self.chunks.last().map_or(0, Chunk::end)
    }

    /// The holes in what was sent: between captured chunks, and after the last one
    /// when the snapshot length cut the final packets.
    pub fn gaps(&self) -> impl Iterator<Item = Gap> + '_ {
        let start = if self.starts_at_origin {
            0
        } else {
            self.chunks.first().map_or(0, |c| c.offset)
        };
        let mut expect = start;
        let tail = (self.sent_end > self.end()).then(|| Gap {
            offset: self.end(),
            len: self.sent_end - self.end(),
        });
        self.chunks
            .iter()
            .filter_map(move |c| {
                let gap = (c.offset > expect).then(|| Gap {
                    offset: expect,
                    len: c.offset - expect,
                });
                expect = c.end();
                gap
            })
            .chain(tail)
    }

    /// When each hole between captured chunks became visible: the time of the chunk
    /// after it.
    pub fn gap_times(&self) -> impl Iterator<Item = i64> + '_ {
        self.chunks
            .windows(2)
            .filter(|w| w[1].offset > w[0].end())
            .map(|w| w[1].ts_ns)
    }

    /// Index of the chunk holding `offset`, if that byte was captured.
    pub fn chunk_at(&self, offset: u64) -> Option<usize> {
        let i = self.chunks.partition_point(|c| c.end() <= offset);
        (i < self.chunks.len() && self.chunks[i].offset <= offset).then_some(i)
    }

    /// Offset of the first captured byte at or after `offset`.
    pub fn next_captured(&self, offset: u64) -> Option<u64> {
        let i = self.chunks.partition_point(|c| c.end() <= offset);
        self.chunks.get(i).map(|c| c.offset.max(offset))
    }

    /// Whether every byte of `[offset, offset + len)` was captured.
    pub fn is_contiguous(&self, offset: u64, len: u64) -> bool {
        let Some(mut i) = self.chunk_at(offset) else {
            return len == 0;
        };
        let end = offset + len;
        loop {
            let c = &self.chunks[i];
            if c.end() >= end {
                return true;
            }
            match self.chunks.get(i + 1) {
                Some(n) if n.offset == c.end() => i += 1,
                _ => return false,
            }
        }
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
        let Some(mut i) = self.chunk_at(offset) else {
            return out.is_empty();
        };
        let mut pos = offset;
        let mut filled = 0;
        while filled < out.len() {
            let Some(c) = self.chunks.get(i) else {
                return false;
            };
            if c.offset > pos {
                return false;
            }
            let from = (pos - c.offset) as usize;
            let take = (c.data.len() - from).min(out.len() - filled);
            out[filled..filled + take].copy_from_slice(&c.data[from..from + take]);
            filled += take;
            pos += take as u64;
            i += 1;
        }
        true
    }

    /// The bytes `[offset, offset + len)` when one chunk holds them all.
    pub fn borrow(&self, offset: u64, len: usize) -> Option<&'a [u8]> {
        let c = self.chunks[self.chunk_at(offset)?];
        let from = (offset - c.offset) as usize;
        c.data.get(from..from.checked_add(len)?)
    }

    /// Appends the bytes `[offset, offset + len)` to `out`; false (and `out` left with
    /// what was appended) when any of them was not captured.
    pub fn append_to(&self, offset: u64, len: usize, out: &mut Vec<u8>) -> bool {
        let Some(mut i) = self.chunk_at(offset) else {
            return len == 0;
        };
        out.reserve(len);
        let mut pos = offset;
        let end = offset + len as u64;
        while pos < end {
            let Some(c) = self.chunks.get(i) else {
                return false;
            };
            if c.offset > pos {
                return false;
            }
            let from = (pos - c.offset) as usize;
            let take = ((c.end() - pos).min(end - pos)) as usize;
            out.extend_from_slice(&c.data[from..from + take]);
            pos += take as u64;
            i += 1;
        }
        true
    }

    /// The bytes `[offset, offset + len)`: borrowed when one chunk holds them all,
    /// copied otherwise; `None` when any byte was not captured.
    pub fn bytes(&self, offset: u64, len: usize) -> Option<std::borrow::Cow<'a, [u8]>> {
        if let Some(b) = self.borrow(offset, len) {
            return Some(std::borrow::Cow::Borrowed(b));
        }
        let mut buf = Vec::new();
        (self.chunk_at(offset).is_some() && self.append_to(offset, len, &mut buf))
            .then_some(std::borrow::Cow::Owned(buf))
    }

    /// The chunk carrying byte `offset`, used to timestamp frame boundaries.
    pub fn chunk_containing(&self, offset: u64) -> Option<&Chunk<'a>> {
        self.chunk_at(offset).map(|i| &self.chunks[i])
    }
}

/// Reassembles one direction of `conn`. Bytes keep the timestamp of the first packet
/// that carried them, so retransmissions never move a phase boundary.
pub fn reassemble<'a>(conn: &Connection<'a>, dir: Dir) -> Stream<'a> {
    let mut stream = Stream::default();
    let syn = conn.syn_seq[dir.index()];
    let mut segs = conn.segments.iter().filter(|s| s.dir == dir);
    // Offset 0 is the byte after the SYN; without one, the first payload byte seen.
    let base = match syn {
        Some(isn) => isn.wrapping_add(1),
        None => match segs
            .clone()
            .find(|s| !s.payload.is_empty() || s.missing > 0)
        {
            Some(s) => s.seq,
            None => return stream,
        },
    };
    stream.starts_at_origin = syn.is_some();
    let mut unwrap = SeqUnwrapper::new(base);
    let mut covered = Coverage::default();
    for seg in segs.by_ref() {
        if seg.window == 0 && seg.flags & flags::RST == 0 {
            stream.stats.zero_windows += 1;
            stream.events.push((seg.ts_ns, TcpEvent::ZeroWindow));
        }
        let data_seq = if seg.flags & flags::SYN != 0 {
            seg.seq.wrapping_add(1)
        } else {
            seg.seq
        };
        if seg.payload.is_empty() && seg.missing == 0 {
            continue;
        }
        stream.stats.data_segments += 1;
        stream.stats.snaplen_missing_bytes += u64::from(seg.missing);
        let start = unwrap.offset(data_seq);
        let mut data = seg.payload;
        let mut off = start;
        if off < 0 {
            let skip = off.unsigned_abs().min(data.len() as u64) as usize;
            stream.stats.bytes_before_start += skip as u64;
            data = &data[skip..];
            off += skip as i64;
            if data.is_empty() {
                if seg.missing > 0 {
                    stream.sent_end = stream
                        .sent_end
                        .max(off.max(0) as u64 + u64::from(seg.missing));
                }
                continue;
            }
        }
        let off = off as u64;
        stream.sent_end = stream
            .sent_end
            .max(off + data.len() as u64 + u64::from(seg.missing));
        if off > covered.contiguous_end() {
            stream.stats.out_of_order_segments += 1;
            stream
                .events
                .push((seg.ts_ns, TcpEvent::OutOfOrder { offset: off }));
        }
        let mut fresh = 0usize;
        covered.insert(off, data.len() as u64, |from, to| {
            let d = &data[(from - off) as usize..(to - off) as usize];
            fresh += d.len();
            stream.chunks.push(Chunk {
                offset: from,
                data: d,
                ts_ns: seg.ts_ns,
                index: seg.index,
            });
        });
        let repeated = data.len() - fresh;
        stream.stats.retransmitted_bytes += repeated as u64;
        if fresh == 0 {
            stream.stats.retransmitted_segments += 1;
            let (start, end) = (off, off + data.len() as u64);
            stream
                .events
                .push((seg.ts_ns, TcpEvent::Retransmission { start, end }));
        }
    }
    stream.chunks.sort_unstable_by_key(|c| c.offset);
    stream
}

/// Maps 32-bit sequence numbers, which wrap, onto signed 64-bit offsets from `base`.
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
        let delta = seq.wrapping_sub(self.last_seq) as i32;
        let off = self.last_off + i64::from(delta);
        // Only move forward: an old retransmission must not drag the reference back
        // far enough for a later wrap to be misread.
        if off > self.last_off {
            self.last_seq = seq;
            self.last_off = off;
        }
        off
    }
}

/// The set of stream byte ranges already received, as disjoint `[start, end)` ranges.
#[derive(Default)]
struct Coverage {
    ranges: BTreeMap<u64, u64>,
}

impl Coverage {
    /// End of the run that starts at the lowest offset seen (where in-order data lands).
    fn contiguous_end(&self) -> u64 {
        self.ranges.iter().next().map_or(0, |(_, &e)| e)
    }

    /// Marks `[off, off+len)` received and calls `fresh(from, to)` for each part of it
    /// that was not received before.
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
    use std::net::{IpAddr, Ipv4Addr};

    fn ep(port: u16) -> Endpoint {
        Endpoint {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
        }
    }

    fn seg(src: u16, dst: u16, seq: u32, fl: u8, payload: &[u8]) -> Segment<'_> {
        Segment {
            src: ep(src),
            dst: ep(dst),
            seq,
            ack: 0,
            flags: fl,
            window: 100,
            payload,
            missing: 0,
        }
    }

    fn one_conn<'a>(segs: &[Segment<'a>]) -> Connection<'a> {
        let mut t = ConnectionTable::new();
        for (i, s) in segs.iter().enumerate() {
            t.push(i as u64 + 1, i as i64 * 10, s);
        }
        let mut c = t.into_connections();
        assert_eq!(c.len(), 1);
        c.remove(0)
    }

    fn bytes_of(s: &Stream) -> Vec<u8> {
        let mut v = vec![0; s.end() as usize];
        assert!(s.read_into(0, &mut v));
        v
    }

    #[test]
    fn in_order_with_syn() {
        let c = one_conn(&[
            seg(1, 2, 100, flags::SYN, b""),
            seg(1, 2, 101, flags::ACK, b"abc"),
            seg(1, 2, 104, flags::ACK, b"def"),
        ]);
        let s = reassemble(&c, Dir::AtoB);
        assert!(s.starts_at_origin);
        assert_eq!(bytes_of(&s), b"abcdef");
        assert_eq!(s.gaps().count(), 0);
        assert_eq!(s.chunk_containing(3).unwrap().index, 3);
    }

    #[test]
    fn wraparound() {
        let c = one_conn(&[
            seg(1, 2, u32::MAX - 1, flags::SYN, b""),
            seg(1, 2, u32::MAX, flags::ACK, b"ab"),
            seg(1, 2, 1, flags::ACK, b"cd"),
        ]);
        assert_eq!(bytes_of(&reassemble(&c, Dir::AtoB)), b"abcd");
    }

    #[test]
    fn out_of_order_and_retransmission_keep_first_time() {
        let c = one_conn(&[
            seg(1, 2, 0, flags::SYN, b""),
            seg(1, 2, 4, flags::ACK, b"def"), // index 2: arrives before "abc"
            seg(1, 2, 1, flags::ACK, b"abc"), // index 3
            seg(1, 2, 1, flags::ACK, b"abcde"), // index 4: retransmits
            seg(1, 2, 7, flags::ACK, b"gh"),  // index 5
        ]);
        let s = reassemble(&c, Dir::AtoB);
        assert_eq!(bytes_of(&s), b"abcdefgh");
        assert_eq!(s.chunk_containing(0).unwrap().index, 3);
        assert_eq!(s.chunk_containing(3).unwrap().index, 2);
        assert_eq!(s.chunk_containing(6).unwrap().index, 5);
        assert_eq!(s.stats.out_of_order_segments, 1);
        assert_eq!(s.stats.retransmitted_segments, 1);
        assert_eq!(s.stats.retransmitted_bytes, 5);
    }

    #[test]
    fn overlap_fills_only_new_bytes() {
        let c = one_conn(&[
            seg(1, 2, 0, flags::SYN, b""),
            seg(1, 2, 1, flags::ACK, b"ab"),
            seg(1, 2, 5, flags::ACK, b"ef"),
            seg(1, 2, 2, flags::ACK, b"bcdefg"),
        ]);
        let s = reassemble(&c, Dir::AtoB);
        assert_eq!(bytes_of(&s), b"abcdefg");
        assert_eq!(s.chunk_containing(2).unwrap().index, 4);
        assert_eq!(s.chunk_containing(4).unwrap().index, 3);
        assert_eq!(s.chunk_containing(6).unwrap().index, 4);
    }

    #[test]
    fn lost_segment_is_a_gap() {
        let c = one_conn(&[
            seg(1, 2, 0, flags::SYN, b""),
            seg(1, 2, 1, flags::ACK, b"ab"),
            seg(1, 2, 6, flags::ACK, b"fg"),
        ]);
        let s = reassemble(&c, Dir::AtoB);
        assert_eq!(
            s.gaps().collect::<Vec<_>>(),
            vec![Gap { offset: 2, len: 3 }]
        );
        assert!(!s.is_contiguous(0, 6));
        assert!(s.bytes(0, 6).is_none());
        assert_eq!(s.next_captured(3), Some(5));
    }

    #[test]
    fn mid_connection_start_drops_older_bytes() {
        let c = one_conn(&[
            seg(1, 2, 1000, flags::ACK, b"xyz"),
            seg(1, 2, 998, flags::ACK, b"vwxyz"),
        ]);
        let s = reassemble(&c, Dir::AtoB);
        assert!(!s.starts_at_origin);
        assert_eq!(bytes_of(&s), b"xyz");
        assert_eq!(s.stats.bytes_before_start, 2);
    }

    #[test]
    fn new_syn_after_close_starts_new_connection() {
        let mut t = ConnectionTable::new();
        t.push(1, 0, &seg(1, 2, 10, flags::SYN, b""));
        t.push(2, 1, &seg(1, 2, 10, flags::SYN, b"")); // retransmitted SYN
        t.push(3, 2, &seg(1, 2, 11, flags::ACK, b"a"));
        t.push(4, 3, &seg(1, 2, 12, flags::FIN | flags::ACK, b""));
        t.push(5, 4, &seg(1, 2, 500, flags::SYN, b""));
        t.push(6, 5, &seg(2, 1, 9, flags::SYN | flags::ACK, b""));
        let c = t.into_connections();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].segments.len(), 4);
        assert_eq!(c[1].segments.len(), 2);
        assert_eq!(c[1].syn_client(), Some(0));
        assert_eq!(c[1].segments[1].dir, Dir::BtoA);
    }

    #[test]
    fn bytes_borrow_or_copy_across_chunks() {
        let c = one_conn(&[
            seg(1, 2, 0, flags::SYN, b""),
            seg(1, 2, 1, flags::ACK, b"abc"),
            seg(1, 2, 4, flags::ACK, b"def"),
        ]);
        let s = reassemble(&c, Dir::AtoB);
        assert!(matches!(
            s.bytes(0, 2),
            Some(std::borrow::Cow::Borrowed(b"ab"))
        ));
        assert_eq!(s.bytes(1, 4).unwrap().as_ref(), b"bcde");
        assert!(s.bytes(4, 3).is_none());
    }
}
