//! Splits one reassembled direction into Kafka frames (a 4-byte big-endian length and
//! that many bytes), stamping each with the packets that carried its first and last
//! byte. When the stream starts mid-connection or loses bytes in a gap, framing
//! resumes only at an offset the caller's validator accepts as a plausible header.

use crate::tcp::{DirStream, Stream};

/// Length prefix of every Kafka frame.
pub const PREFIX: u64 = 4;

/// Where one frame lies in its stream and when its first and last bytes were seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSpan {
    /// Stream offset of the length prefix.
    pub offset: u64,
    /// Size on the wire, length prefix included.
    pub size: u64,
    pub first_ts: i64,
    pub first_index: u64,
    /// Time and packet of the last byte, or of the last captured byte when the frame
    /// is not complete.
    pub last_ts: i64,
    pub last_index: u64,
    /// Every byte of the frame was captured.
    pub complete: bool,
}

impl FrameSpan {
    pub fn end(&self) -> u64 {
        self.offset + self.size
    }

    /// Stream offset of the first byte after the length prefix.
    pub fn body_offset(&self) -> u64 {
        self.offset + PREFIX
    }
}

/// What framing met in one direction.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FramingStats {
    pub frames: u64,
    /// Times framing had to search for the next plausible header.
    pub resyncs: u64,
    /// Captured bytes passed over while searching for a header.
    pub skipped_bytes: u64,
    /// Frames with at least one byte missing inside (gap or snaplen).
    pub incomplete_frames: u64,
    /// The capture ended inside the last frame (or inside its length prefix).
    pub cut_at_end: u64,
    /// Length prefixes outside the accepted range met while in sync.
    pub bad_lengths: u64,
    /// The stream began (SYN seen) with something that is not a frame of this kind.
    pub not_kafka_from_start: bool,
}

impl FramingStats {
    pub fn add(&mut self, other: &FramingStats) {
        self.frames += other.frames;
        self.resyncs += other.resyncs;
        self.skipped_bytes += other.skipped_bytes;
        self.incomplete_frames += other.incomplete_frames;
        self.cut_at_end += other.cut_at_end;
        self.bad_lengths += other.bad_lengths;
        self.not_kafka_from_start |= other.not_kafka_from_start;
    }
}

/// Decides whether a frame can start at a stream offset.
pub trait FrameValidator {
    /// What the validator extracts from an accepted header.
    type Head;
    /// The smallest body length this kind of frame can have.
    fn min_len(&self) -> u64;
    /// Parses the header of a frame whose body (`len` bytes) starts at `body`.
    /// `resync` says whether framing is searching (stricter checks apply) or in sync.
    fn accept(
        &mut self,
        stream: &Stream<'_>,
        body: u64,
        len: u64,
        resync: bool,
    ) -> Option<Self::Head>;
}

/// Splits one direction into frames as its bytes settle: call [`Framer::advance`]
/// after each segment, and once more with `fin` when the connection is over. The
/// frames handed out, and the counters, are those a pass over the whole direction
/// would give, since every decision waits until the bytes it reads can no longer
/// change (captured, or given up as a gap).
#[derive(Debug, Default, Clone)]
pub struct Framer {
    started: bool,
    pos: u64,
    synced: bool,
    /// A search for the next header in progress: where it goes on, and the bytes it
    /// has passed over so far.
    scan: Option<(u64, u64)>,
    /// Nothing more will be framed.
    pub done: bool,
    /// The direction began with bytes that are not frames: all of it is skipped.
    not_frames: bool,
    pub stats: FramingStats,
}

/// What a look at some bytes found.
enum Look<T> {
    Found(T),
    Not,
    /// The bytes needed are not settled yet.
    Wait,
}

impl Framer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the framer has found its footing: started, in sync, not searching.
    pub fn in_sync(&self) -> bool {
        self.done || (self.started && self.synced && self.scan.is_none())
    }

    /// The lowest offset this framer may still read: nothing below it is needed.
    pub fn left_edge(&self) -> u64 {
        match self.scan {
            Some((at, _)) => at,
            None => self.pos,
        }
    }

    /// Frames what `dir` has settled (everything once `fin`): [`Framer::advance`] with
    /// the settled edge read from the direction itself.
    pub fn step<V: FrameValidator>(
        &mut self,
        dir: &DirStream,
        fin: bool,
        max_frame: u64,
        validator: &mut V,
        out: impl FnMut(&Stream<'_>, FrameSpan, V::Head),
    ) {
        let view = dir.view();
        let settled = dir.settled_from(self.left_edge(), fin);
        let mut out = out;
        self.advance(&view, settled, fin, max_frame, validator, |span, head| {
            out(&view, span, head)
        });
    }

    /// Frames what `settled` allows (offsets below it are final; `fin` settles all).
    pub fn advance<V: FrameValidator>(
        &mut self,
        stream: &Stream<'_>,
        settled: u64,
        fin: bool,
        max_frame: u64,
        validator: &mut V,
        mut out: impl FnMut(FrameSpan, V::Head),
    ) {
        if self.done {
            return;
        }
        let ready = |end: u64| fin || end <= settled;
        if !self.started {
            let Some(first) = stream.chunks.first() else {
                self.done = fin;
                return;
            };
            if stream.starts_at_origin && first.offset > 0 && !ready(1) {
                return;
            }
            self.started = true;
            self.pos = first.offset;
            self.synced = stream.starts_at_origin && first.offset == 0;
        }
        let end = stream.end();
        loop {
            if self.pos >= end {
                self.done = fin;
                return;
            }
            if !self.synced {
                match self.resync(stream, settled, fin, max_frame, validator) {
                    Look::Found(p) => {
                        self.pos = p;
                        self.synced = true;
                    }
                    Look::Not => {
                        self.done = true;
                        return;
                    }
                    Look::Wait => return,
                }
            }
            let pos = self.pos;
            if !ready(pos + PREFIX) {
                return;
            }
            let mut prefix = [0u8; 4];
            if !stream.read_into(pos, &mut prefix) {
                if pos + PREFIX > stream.sent_end.max(end) {
                    self.stats.cut_at_end += 1;
                    self.done = true;
                    return;
                }
                // The prefix lies (partly) in a gap.
                self.synced = false;
                self.pos = stream.next_captured(pos + 1).unwrap_or(end);
                continue;
            }
            let len = u64::from(u32::from_be_bytes(prefix));
            let head = if len < validator.min_len() || len > max_frame {
                self.stats.bad_lengths += 1;
                None
            } else {
                if !ready(pos + PREFIX + len) {
                    return;
                }
                validator.accept(stream, pos + PREFIX, len, false)
            };
            let Some(head) = head else {
                // A stream whose very first bytes (SYN seen) are not this kind of frame
                // is another protocol (TLS, SASL tokens, ...): searching it for headers
                // would only find noise that happens to look like one.
                if pos == 0 && stream.starts_at_origin {
                    self.stats.not_kafka_from_start = true;
                    self.not_frames = true;
                    self.done = true;
                    return;
                }
                self.synced = false;
                self.pos = pos + 1;
                continue;
            };
            let span = frame_span(stream, pos, PREFIX + len);
            self.stats.frames += 1;
            if span.end() > stream.sent_end.max(end) {
                self.stats.cut_at_end += 1;
            } else if !span.complete {
                self.stats.incomplete_frames += 1;
            }
            out(span, head);
            self.pos = span.end();
        }
    }

    /// The connection is over and its direction held `end` bytes: a direction that was
    /// not frames at all counts them as skipped.
    pub fn finish(&mut self, end: u64) {
        if self.not_frames {
            self.stats.skipped_bytes += end;
            self.not_frames = false;
        }
        self.done = true;
    }

    /// Looks for the first offset at or after the current one where a plausible frame
    /// starts, confirmed by the frame after it (which must also be plausible, or lie
    /// past the captured data).
    fn resync<V: FrameValidator>(
        &mut self,
        stream: &Stream<'_>,
        settled: u64,
        fin: bool,
        max_frame: u64,
        validator: &mut V,
    ) -> Look<u64> {
        let (from, mut scanned) = match self.scan {
            Some(s) => s,
            None => {
                self.stats.resyncs += 1;
                (self.pos, 0)
            }
        };
        let mut i = stream.chunks.partition_point(|c| c.end() <= from);
        while let Some(chunk) = stream.chunks.get(i) {
            let start = chunk.offset.max(from);
            for pos in start..chunk.end() {
                let found = match plausible_at(stream, pos, settled, fin, max_frame, validator) {
                    Look::Found(next) => {
                        match confirms(stream, next, settled, fin, max_frame, validator) {
                            Look::Found(()) => true,
                            Look::Not => false,
                            Look::Wait => {
                                self.scan = Some((pos, scanned));
                                return Look::Wait;
                            }
                        }
                    }
                    Look::Not => false,
                    Look::Wait => {
                        self.scan = Some((pos, scanned));
                        return Look::Wait;
                    }
                };
                if found {
                    self.stats.skipped_bytes += scanned;
                    self.scan = None;
                    return Look::Found(pos);
                }
                scanned += 1;
            }
            i += 1;
        }
        if !fin {
            let next = stream.end().max(from);
            self.scan = Some((next, scanned));
            return Look::Wait;
        }
        self.stats.skipped_bytes += scanned;
        self.scan = None;
        Look::Not
    }
}

/// Bytes of a frame's body a validator may read to judge its header while searching.
const HEAD_LOOK: u64 = 4096;

/// If a frame can start at `pos`, the offset where the next one would start.
fn plausible_at<V: FrameValidator>(
    stream: &Stream<'_>,
    pos: u64,
    settled: u64,
    fin: bool,
    max_frame: u64,
    validator: &mut V,
) -> Look<u64> {
    let ready = |end: u64| fin || end <= settled;
    if !ready(pos + PREFIX) {
        return Look::Wait;
    }
    let mut prefix = [0u8; 4];
    if !stream.read_into(pos, &mut prefix) {
        return Look::Not;
    }
    let len = u64::from(u32::from_be_bytes(prefix));
    if len < validator.min_len() || len > max_frame {
        return Look::Not;
    }
    if !ready(pos + PREFIX + len.min(HEAD_LOOK)) {
        return Look::Wait;
    }
    match validator.accept(stream, pos + PREFIX, len, true) {
        Some(_) => Look::Found(pos + PREFIX + len),
        None => Look::Not,
    }
}

/// A candidate frame is confirmed when whatever follows it is either not captured
/// (end of data, or a gap) or itself looks like a frame.
fn confirms<V: FrameValidator>(
    stream: &Stream<'_>,
    next: u64,
    settled: u64,
    fin: bool,
    max_frame: u64,
    validator: &mut V,
) -> Look<()> {
    if !fin && next + PREFIX > settled {
        return Look::Wait;
    }
    // A candidate running past everything the sender sent cannot be checked: a length
    // read from noise usually does that, so it does not count as confirmed.
    if next > stream.sent_end.max(stream.end()) {
        return Look::Not;
    }
    let mut prefix = [0u8; 4];
    if !stream.read_into(next, &mut prefix) {
        return Look::Found(());
    }
    match plausible_at(stream, next, settled, fin, max_frame, validator) {
        Look::Found(_) => Look::Found(()),
        Look::Not => Look::Not,
        Look::Wait => Look::Wait,
    }
}

/// Splits a whole direction at once (everything settled): what the streaming
/// [`Framer`] gives once the connection is over.
pub fn split<V: FrameValidator>(
    stream: &Stream<'_>,
    max_frame: u64,
    validator: &mut V,
    out: impl FnMut(FrameSpan, V::Head),
) -> FramingStats {
    let mut framer = Framer::new();
    framer.advance(stream, u64::MAX, true, max_frame, validator, out);
    framer.finish(stream.end());
    framer.stats
}

/// Timing and completeness of the frame occupying `[offset, offset + size)`. The frame
/// starts when the first packet carrying any of its bytes was seen and ends when the
/// last of its bytes was first seen: in order these are the packets holding its first
/// and last byte; after a loss, the retransmission that completed it sets the end.
pub fn frame_span(stream: &Stream<'_>, offset: u64, size: u64) -> FrameSpan {
    let end = offset + size;
    let from = stream.chunks.partition_point(|c| c.end() <= offset);
    let mut first: Option<(i64, u64)> = None;
    let mut last: Option<(i64, u64)> = None;
    for c in stream.chunks[from..].iter().take_while(|c| c.offset < end) {
        let here = (c.ts_ns, c.index);
        if first.is_none_or(|f| here < f) {
            first = Some(here);
        }
        if last.is_none_or(|l| here > l) {
            last = Some(here);
        }
    }
    let first = first.unwrap_or((0, 0));
    let last = last.unwrap_or(first);
    FrameSpan {
        offset,
        size,
        first_ts: first.0,
        first_index: first.1,
        last_ts: last.0,
        last_index: last.1,
        complete: stream.is_contiguous(offset, size),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::SegRec;

    /// Accepts any frame whose body starts with 0xK1 and carries the marker byte.
    struct Marker;
    impl FrameValidator for Marker {
        type Head = u8;
        fn min_len(&self) -> u64 {
            1
        }
        fn accept(&mut self, s: &Stream<'_>, body: u64, _len: u64, _resync: bool) -> Option<u8> {
            let mut b = [0u8; 1];
            (s.read_into(body, &mut b) && b[0] & 0xF0 == 0xA0).then_some(b[0])
        }
    }

    fn stream_of(chunks: &[(u64, &[u8])], origin: bool) -> DirStream {
        let mut d = DirStream::new();
        if origin {
            d.on_syn(u32::MAX);
        }
        for (i, &(offset, data)) in chunks.iter().enumerate() {
            d.push(&seg(i, offset, data));
        }
        d
    }

    /// Chunk `i` of a test stream: packet `i + 1`, seen at `100 × (i + 1)`.
    fn seg(i: usize, offset: u64, data: &[u8]) -> SegRec<'_> {
        SegRec::data(i as u64 + 1, 100 * (i as i64 + 1), offset as u32, data)
    }

    fn frames(d: &DirStream) -> (Vec<(FrameSpan, u8)>, FramingStats) {
        let mut v = Vec::new();
        let stats = split(&d.view(), 1000, &mut Marker, |f, h| v.push((f, h)));
        (v, stats)
    }

    /// Frames a direction fed one chunk at a time, with `settled` moving as a real
    /// connection's would (everything captured so far; holes only at the end).
    fn frames_streamed(chunks: &[(u64, &[u8])]) -> Vec<(FrameSpan, u8)> {
        let mut d = DirStream::new();
        d.on_syn(u32::MAX);
        let mut framer = Framer::new();
        let mut v = Vec::new();
        for (i, &(offset, data)) in chunks.iter().enumerate() {
            d.push(&seg(i, offset, data));
            framer.step(&d, false, 1000, &mut Marker, |_, f, h| v.push((f, h)));
            d.release_before(framer.left_edge());
        }
        framer.step(&d, true, 1000, &mut Marker, |_, f, h| v.push((f, h)));
        v
    }

    #[test]
    fn streaming_gives_what_a_whole_pass_gives() {
        for cut in 1..THREE.len() {
            for cut2 in cut + 1..THREE.len() {
                let pieces: [(u64, &[u8]); 3] = [
                    (0, &THREE[..cut]),
                    (cut as u64, &THREE[cut..cut2]),
                    (cut2 as u64, &THREE[cut2..]),
                ];
                let whole = frames(&stream_of(&pieces, true)).0;
                assert_eq!(frames_streamed(&pieces), whole, "cuts {cut} {cut2}");
            }
        }
    }

    /// Three frames: bodies [A1], [A2 xx], [A3].
    const THREE: &[u8] = &[0, 0, 0, 1, 0xA1, 0, 0, 0, 2, 0xA2, 0xFF, 0, 0, 0, 1, 0xA3];

    #[test]
    fn splits_at_every_chunk_boundary() {
        for cut in 1..THREE.len() {
            let s = stream_of(&[(0, &THREE[..cut]), (cut as u64, &THREE[cut..])], true);
            let (f, stats) = frames(&s);
            assert_eq!(
                f.iter().map(|x| x.1).collect::<Vec<_>>(),
                vec![0xA1, 0xA2, 0xA3],
                "cut {cut}"
            );
            assert_eq!(stats.resyncs, 0);
            assert!(f.iter().all(|x| x.0.complete));
            // The frame holding the cut starts in packet 1 and ends in packet 2.
            let split_frame = f
                .iter()
                .find(|x| x.0.offset < cut as u64 && x.0.end() > cut as u64);
            if let Some((span, _)) = split_frame {
                assert_eq!((span.first_index, span.last_index), (1, 2));
                assert_eq!((span.first_ts, span.last_ts), (100, 200));
            }
        }
    }

    #[test]
    fn mid_stream_start_resyncs() {
        // Starts inside the first frame's body.
        let s = stream_of(&[(3, &THREE[3..])], false);
        let (f, stats) = frames(&s);
        assert_eq!(f.iter().map(|x| x.1).collect::<Vec<_>>(), vec![0xA2, 0xA3]);
        assert_eq!(stats.resyncs, 1);
        assert_eq!(stats.skipped_bytes, 2);
    }

    #[test]
    fn gap_over_a_prefix_resyncs_after_it() {
        let s = stream_of(&[(0, &THREE[..6]), (11, &THREE[11..])], true);
        let (f, stats) = frames(&s);
        assert_eq!(f.iter().map(|x| x.1).collect::<Vec<_>>(), vec![0xA1, 0xA3]);
        assert_eq!(stats.resyncs, 1);
    }

    #[test]
    fn gap_inside_a_body_keeps_sync() {
        let s = stream_of(&[(0, &THREE[..10]), (11, &THREE[11..])], true);
        let (f, stats) = frames(&s);
        assert_eq!(f.len(), 3);
        assert!(!f[1].0.complete);
        assert_eq!(stats.incomplete_frames, 1);
        assert_eq!(stats.resyncs, 0);
    }

    #[test]
    fn a_late_retransmission_ends_the_frame() {
        // Frame 2 ([A2 FF], offsets 5..11): its middle arrives last, in packet 3.
        let s = stream_of(
            &[(0, &THREE[..8]), (9, &THREE[9..]), (8, &THREE[8..9])],
            true,
        );
        let (f, _) = frames(&s);
        assert_eq!(f[1].1, 0xA2);
        assert_eq!((f[1].0.first_index, f[1].0.last_index), (1, 3));
        assert_eq!((f[1].0.first_ts, f[1].0.last_ts), (100, 300));
        // Frame 3 lies wholly in packet 2, which was seen before packet 3.
        assert_eq!((f[2].0.first_index, f[2].0.last_index), (2, 2));
    }

    #[test]
    fn cut_at_end_is_counted() {
        let s = stream_of(&[(0, &THREE[..13])], true);
        let (f, stats) = frames(&s);
        assert_eq!(f.len(), 2);
        assert_eq!(stats.cut_at_end, 1);
    }

    #[test]
    fn garbage_yields_nothing() {
        let junk = [0x16u8, 0x03, 0x01, 0x02, 0x00, 0x01, 0xfc, 0x03, 0x03];
        let s = stream_of(&[(0, &junk)], true);
        let (f, stats) = frames(&s);
        assert!(f.is_empty());
        assert_eq!(stats.bad_lengths, 1);
    }
}
