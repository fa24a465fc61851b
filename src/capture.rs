//! Reads pcap and pcapng files held in memory and hands on one [`Packet`] per captured
//! frame, with an integer-nanosecond timestamp and the link type it was captured on.
//!
//! The whole capture is one byte slice (memory-mapped, or stdin read into a `Vec`), so
//! every packet borrows from it: nothing is copied and nothing is allocated per packet.
//!
//! Both formats are parsed here by hand. Their record and block layouts are a handful of
//! fixed fields, and pcap-parser 0.17 does not fit this job: its slice API yields nothing
//! for big-endian legacy files, it allocates an options `Vec` for every EPB that carries
//! options, and its errors do not say where a file went bad.
//!
//! Damaged files: everything before the first bad byte is delivered, then reading stops
//! and [`ReadReport::warnings`] says where (byte offset) and after which packet. Only a
//! file that is not a capture at all is an `Err`.

/// One captured frame. `data` borrows from the capture bytes, so nothing is copied.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// 1-based frame number, as tshark and Wireshark count them.
    pub index: u64,
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    /// LINKTYPE_* value of the interface the frame was captured on.
    pub link_type: u32,
    /// The captured bytes (possibly fewer than `orig_len`).
    pub data: &'a [u8],
    /// The frame's length on the wire.
    pub orig_len: u32,
}

/// The largest captured length we believe: libpcap's and Wireshark's standard maximum.
/// A record claiming more is where the file went corrupt.
pub const MAX_CAPLEN: u32 = 262_144;

/// Which file format was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureFormat {
    /// Legacy libpcap format. `nanos` for the nanosecond magic; the Kuznetzov
    /// "modified" variant (24-byte record headers) reads as microseconds.
    Pcap { nanos: bool, big_endian: bool },
    /// pcapng; byte order may change from section to section.
    Pcapng,
}

/// What a read delivered, and what it could not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadReport {
    pub format: CaptureFormat,
    /// Packets handed to the callback (the last `Packet::index`).
    pub packets: u64,
    /// Human-readable problems, each naming a byte offset and the last good packet.
    pub warnings: Vec<String>,
    /// Byte offset where reading stopped early (cut or corrupt file); `None` when the
    /// whole file was read.
    pub stopped_at: Option<u64>,
}

/// The input is not a capture we can read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    #[error("the input is empty")]
    Empty,
    #[error("too short for a {what}: {len} of {needed} bytes")]
    TooShort {
        what: &'static str,
        len: usize,
        needed: usize,
    },
    #[error("not a pcap or pcapng file: it starts with {}{}", hex4(.magic), guess_format(.magic))]
    NotACapture { magic: [u8; 4] },
    #[error("not a readable pcapng file: {reason}")]
    BadPcapng { reason: String },
}

/// Calls `f` for every captured frame in `bytes`, in file order.
///
/// Frame numbers count every packet record (legacy record, EPB, SPB, obsolete PB), so
/// they equal tshark's `frame.number`.
pub fn for_each_packet<'a>(
    bytes: &'a [u8],
    mut f: impl FnMut(Packet<'a>),
) -> Result<ReadReport, CaptureError> {
    let magic = match bytes.first_chunk::<4>() {
        Some(m) => *m,
        None if bytes.is_empty() => return Err(CaptureError::Empty),
        None => {
            return Err(CaptureError::TooShort {
                what: "capture file header",
                len: bytes.len(),
                needed: 4,
            });
        }
    };
    if magic == PCAPNG_SHB.to_le_bytes() {
        return pcapng::read(bytes, &mut f);
    }
    match legacy::Header::parse(bytes, magic)? {
        Some(header) => Ok(legacy::read(bytes, &header, &mut f)),
        None => Err(CaptureError::NotACapture { magic }),
    }
}

const PCAPNG_SHB: u32 = 0x0A0D_0D0A;

/// How a part of a legacy pcap read: see [`for_each_packet_in_part`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartRead {
    /// Packets delivered, numbered from 1 within the part.
    pub packets: u64,
    /// Byte offset one past the part's last record; the next part must start here.
    pub end: usize,
    /// Reading stopped at damage; the caller must read the file in one pass instead,
    /// so that the warning names the right packets.
    pub damaged: bool,
}

/// Splits a capture into at most `n` parts at record (pcap) or block (pcapng)
/// boundaries, for reading on several threads. `None` for files not worth splitting,
/// and for pcapng files whose first packet cannot be reached cleanly.
///
/// A boundary is found by looking, from a byte position, for the first offset where a
/// chain of plausible record headers (pcap) or blocks (pcapng: both length fields
/// agree) starts: a guess, which the reader checks. The part before it must end
/// exactly there ([`PartRead::end`]); when it does, the boundary is a real one (the
/// earlier part started on one and read whole records).
///
/// The first part starts at the first record (pcap) or at the first packet block
/// (pcapng, after the section header and interface descriptions).
pub fn split_into_parts(bytes: &[u8], n: usize) -> Option<Vec<std::ops::Range<usize>>> {
    let magic = *bytes.first_chunk::<4>()?;
    if n < 2 || bytes.len() < n * MIN_PART {
        return None;
    }
    // Where the first part starts, and how to find a boundary from a byte position.
    let (first, resync): (usize, Box<dyn Fn(usize) -> Option<usize>>) =
        if magic == PCAPNG_SHB.to_le_bytes() {
            let (reader, first) = pcapng::prelude(bytes)?;
            (
                first,
                Box::new(move |from| pcapng::resync(bytes, reader.endian, from)),
            )
        } else {
            let header = legacy::Header::parse(bytes, magic).ok()??;
            let first_sec = header.endian.u32(bytes, legacy::HEADER_LEN)?;
            let resync = move |from| legacy::resync(bytes, &header, from, first_sec);
            (legacy::HEADER_LEN, Box::new(resync))
        };
    let mut cuts = Vec::with_capacity(n + 1);
    cuts.push(first);
    for k in 1..n {
        let from = (bytes.len() / n * k).max(*cuts.last()?);
        cuts.push(resync(from)?);
    }
    cuts.push(bytes.len());
    cuts.dedup();
    Some(cuts.windows(2).map(|w| w[0]..w[1]).collect())
}

/// Where the first part of a capture read in parts must start: the first record of
/// a pcap, the first packet block of a pcapng. `None` when it cannot be read in parts.
pub fn first_part_start(bytes: &[u8]) -> Option<usize> {
    let magic = *bytes.first_chunk::<4>()?;
    if magic == PCAPNG_SHB.to_le_bytes() {
        return pcapng::prelude(bytes).map(|(_, first)| first);
    }
    legacy::Header::parse(bytes, magic).ok()??;
    Some(legacy::HEADER_LEN)
}

/// Smallest part worth a thread of its own.
const MIN_PART: usize = 16 << 20;

/// Calls `f` for every record or packet block that starts in `part` (a range from
/// [`split_into_parts`]), numbering packets from 1. `None` if `bytes` is no capture
/// that can be read in parts.
///
/// A pcapng part is read with the interfaces the file describes before its first
/// packet; a section header or interface description inside a part, or a simple
/// packet block before any timestamp in a part after the first, makes the part
/// [`PartRead::damaged`], so that the file is read in one pass instead.
pub fn for_each_packet_in_part<'a>(
    bytes: &'a [u8],
    part: std::ops::Range<usize>,
    mut f: impl FnMut(Packet<'a>),
) -> Option<PartRead> {
    let magic = *bytes.first_chunk::<4>()?;
    if magic == PCAPNG_SHB.to_le_bytes() {
        let (reader, first) = pcapng::prelude(bytes)?;
        return Some(pcapng::read_part(
            bytes,
            reader,
            part.start == first,
            part,
            &mut f,
        ));
    }
    let header = legacy::Header::parse(bytes, magic).ok()??;
    Some(legacy::read_part(bytes, &header, part, &mut f))
}

/// Byte order of the structure being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endian {
    Little,
    Big,
}

impl Endian {
    fn u16(self, b: &[u8], at: usize) -> Option<u16> {
        let raw = *b.get(at..)?.first_chunk::<2>()?;
        Some(match self {
            Endian::Little => u16::from_le_bytes(raw),
            Endian::Big => u16::from_be_bytes(raw),
        })
    }

    fn u32(self, b: &[u8], at: usize) -> Option<u32> {
        let raw = *b.get(at..)?.first_chunk::<4>()?;
        Some(match self {
            Endian::Little => u32::from_le_bytes(raw),
            Endian::Big => u32::from_be_bytes(raw),
        })
    }

    fn i64(self, b: &[u8], at: usize) -> Option<i64> {
        let raw = *b.get(at..)?.first_chunk::<8>()?;
        Some(match self {
            Endian::Little => i64::from_le_bytes(raw),
            Endian::Big => i64::from_be_bytes(raw),
        })
    }
}

/// Why reading stopped before the end of the file.
#[derive(Debug)]
enum Damage {
    /// The file ends inside this structure (a capture cut short, or still being written).
    Cut(&'static str),
    /// The bytes here cannot be what the format says they are.
    Corrupt(String),
}

impl ReadReport {
    fn new(format: CaptureFormat) -> Self {
        ReadReport {
            format,
            packets: 0,
            warnings: Vec::new(),
            stopped_at: None,
        }
    }

    /// Numbers `packet` and hands it to the callback.
    fn deliver<'a>(&mut self, f: &mut impl FnMut(Packet<'a>), mut packet: Packet<'a>) {
        self.packets = self.packets.saturating_add(1);
        packet.index = self.packets;
        // Some writers put a smaller wire length than captured length; downstream code
        // may rely on `data.len() <= orig_len`.
        let captured = u32::try_from(packet.data.len()).unwrap_or(u32::MAX);
        packet.orig_len = packet.orig_len.max(captured);
        f(packet);
    }

    /// Records that reading stopped at byte `offset`.
    fn stop(&mut self, offset: usize, damage: Damage) {
        let kept = match self.packets {
            0 => "no packet before it was read".to_string(),
            1 => "packet 1 before it was read".to_string(),
            n => format!("packets 1 to {n} before it were read"),
        };
        let warning = match damage {
            Damage::Cut(what) => {
                format!(
                    "the capture ends in the middle of a {what} at byte offset {offset}; {kept}"
                )
            }
            Damage::Corrupt(why) => {
                format!(
                    "corrupt data at byte offset {offset} ({why}); reading stopped there, {kept}"
                )
            }
        };
        self.warnings.push(warning);
        self.stopped_at = Some(u64::try_from(offset).unwrap_or(u64::MAX));
    }
}

/// Checks a captured length against [`MAX_CAPLEN`] and takes that many bytes of `body`
/// from `start`.
fn captured_bytes(body: &[u8], start: usize, caplen: u32) -> Result<&[u8], Damage> {
    if caplen > MAX_CAPLEN {
        return Err(Damage::Corrupt(format!(
            "captured length {caplen} exceeds the maximum of {MAX_CAPLEN}"
        )));
    }
    let end = start.saturating_add(caplen as usize);
    body.get(start..end).ok_or(Damage::Cut("packet"))
}

fn hex4(b: &[u8; 4]) -> String {
    format!("{:02x} {:02x} {:02x} {:02x}", b[0], b[1], b[2], b[3])
}

/// Names common non-capture inputs, so the user learns what to do with them.
fn guess_format(m: &[u8; 4]) -> &'static str {
    match m {
        [0x1f, 0x8b, ..] => " (gzip-compressed data: decompress it first)",
        [0x28, 0xb5, 0x2f, 0xfd] => " (zstd-compressed data: decompress it first)",
        [0xfd, b'7', b'z', b'X'] => " (xz-compressed data: decompress it first)",
        [b'B', b'Z', b'h', _] => " (bzip2-compressed data: decompress it first)",
        [b'P', b'K', 3, 4] => " (a zip archive)",
        [b's', b'n', b'o', b'o'] => " (a Solaris snoop capture: convert it with editcap)",
        _ if m
            .iter()
            .all(|&c| c.is_ascii_graphic() || c.is_ascii_whitespace()) =>
        {
            " (text, not a capture)"
        }
        _ => " (unknown magic number)",
    }
}

/// The legacy libpcap format: a 24-byte file header, then 16-byte record headers
/// (24 bytes in the Kuznetzov "modified" variant) each followed by the packet.
mod legacy {
    use super::{CaptureError, CaptureFormat, Damage, Endian, Packet, ReadReport};

    pub(super) const HEADER_LEN: usize = 24;
    /// Record headers that must look right in a row for an offset to count as a
    /// record boundary.
    const CHAIN: usize = 16;
    /// How far past a cut point a boundary is looked for before giving up.
    const RESYNC_WINDOW: usize = 4 << 20;

    /// What the file header tells about every record.
    #[derive(Debug)]
    pub(super) struct Header {
        pub(super) endian: Endian,
        nanos: bool,
        record_header_len: usize,
        link_type: u32,
    }

    impl Header {
        /// `Ok(None)` when `magic` is no legacy pcap magic at all.
        pub(super) fn parse(bytes: &[u8], magic: [u8; 4]) -> Result<Option<Header>, CaptureError> {
            // (magic as written in the file's own byte order, nanosecond timestamps,
            // record header length)
            const MAGICS: [(u32, bool, usize); 3] = [
                (0xa1b2_c3d4, false, 16), // microseconds
                (0xa1b2_3c4d, true, 16),  // nanoseconds
                (0xa1b2_cd34, false, 24), // Kuznetzov's patched libpcap
            ];
            let Some((endian, nanos, record_header_len)) =
                MAGICS.iter().find_map(|&(m, nanos, len)| {
                    if u32::from_le_bytes(magic) == m {
                        Some((Endian::Little, nanos, len))
                    } else if u32::from_be_bytes(magic) == m {
                        Some((Endian::Big, nanos, len))
                    } else {
                        None
                    }
                })
            else {
                return Ok(None);
            };
            // Offset 20: link type; the top bits may carry FCS information, which
            // libpcap masks off the same way (LT_LINKTYPE).
            let link_type = endian.u32(bytes, 20).ok_or(CaptureError::TooShort {
                what: "pcap file header",
                len: bytes.len(),
                needed: HEADER_LEN,
            })? & 0x03FF_FFFF;
            Ok(Some(Header {
                endian,
                nanos,
                record_header_len,
                link_type,
            }))
        }

        fn format(&self) -> CaptureFormat {
            CaptureFormat::Pcap {
                nanos: self.nanos,
                big_endian: self.endian == Endian::Big,
            }
        }
    }

    pub(super) fn read<'a>(
        bytes: &'a [u8],
        header: &Header,
        f: &mut impl FnMut(Packet<'a>),
    ) -> ReadReport {
        let mut report = ReadReport::new(header.format());
        let mut offset = HEADER_LEN;
        while let Some(rest) = bytes.get(offset..).filter(|r| !r.is_empty()) {
            match record(rest, header) {
                Ok((packet, len)) => {
                    report.deliver(f, packet);
                    offset = offset.saturating_add(len);
                }
                Err(damage) => {
                    report.stop(offset, damage);
                    break;
                }
            }
        }
        report
    }

    /// Reads the records that start in `part`; see [`super::for_each_packet_in_part`].
    pub(super) fn read_part<'a>(
        bytes: &'a [u8],
        header: &Header,
        part: std::ops::Range<usize>,
        f: &mut impl FnMut(Packet<'a>),
    ) -> super::PartRead {
        let mut report = ReadReport::new(header.format());
        let mut offset = part.start;
        let mut damaged = false;
        while offset < part.end {
            match bytes.get(offset..).map(|rest| record(rest, header)) {
                Some(Ok((packet, len))) => {
                    report.deliver(f, packet);
                    offset = offset.saturating_add(len);
                }
                _ => {
                    damaged = true;
                    break;
                }
            }
        }
        super::PartRead {
            packets: report.packets,
            end: offset,
            damaged,
        }
    }

    /// The first offset at or after `from` (within [`RESYNC_WINDOW`]) where
    /// [`CHAIN`] plausible records start, or the end of the file comes first.
    pub(super) fn resync(bytes: &[u8], h: &Header, from: usize, first_sec: u32) -> Option<usize> {
        let last = from.saturating_add(RESYNC_WINDOW).min(bytes.len());
        (from..=last).find(|&at| chain_at(bytes, h, at, first_sec))
    }

    /// Whether plausible record headers follow one another from `at`: lengths within
    /// bounds, the captured length no more than the wire length, the fraction of a
    /// second below one second, and seconds within a day of the first packet's.
    fn chain_at(bytes: &[u8], h: &Header, mut at: usize, first_sec: u32) -> bool {
        let frac_max = if h.nanos { 1_000_000_000 } else { 1_000_000 };
        for _ in 0..CHAIN {
            if at == bytes.len() {
                return true;
            }
            let field = |i| h.endian.u32(bytes, at + i);
            let (Some(sec), Some(frac), Some(caplen), Some(orig)) =
                (field(0), field(4), field(8), field(12))
            else {
                return false;
            };
            if sec.abs_diff(first_sec) > 86_400
                || frac >= frac_max
                || caplen > super::MAX_CAPLEN
                || orig < caplen
            {
                return false;
            }
            at = at.saturating_add(h.record_header_len + caplen as usize);
            if at > bytes.len() {
                return false;
            }
        }
        true
    }

    /// Parses the record at the start of `rest`: the packet and the record's length.
    fn record<'a>(rest: &'a [u8], h: &Header) -> Result<(Packet<'a>, usize), Damage> {
        let e = h.endian;
        let field = |at| e.u32(rest, at).ok_or(Damage::Cut("record header"));
        let secs = field(0)?; // ts_sec: seconds, unsigned as in libpcap and Wireshark
        let frac = field(4)?; // ts_usec or ts_nsec
        let caplen = field(8)?; // incl_len: bytes stored in the file
        let orig_len = field(12)?; // orig_len: bytes on the wire
        if rest.len() < h.record_header_len {
            return Err(Damage::Cut("record header"));
        }
        let data = super::captured_bytes(rest, h.record_header_len, caplen)?;
        let frac_ns = if h.nanos {
            i64::from(frac)
        } else {
            i64::from(frac) * 1_000
        };
        // Cannot overflow: (2^32 - 1) * 10^9 + (2^32 - 1) * 10^3 < 2^63.
        let ts_ns = i64::from(secs) * 1_000_000_000 + frac_ns;
        let packet = Packet {
            index: 0,
            ts_ns,
            link_type: h.link_type,
            data,
            orig_len,
        };
        Ok((packet, h.record_header_len + data.len()))
    }
}

/// pcapng: a sequence of blocks `type, total length, body, total length`, grouped into
/// sections (each opened by a Section Header Block with its own byte order) whose
/// Interface Description Blocks give the link type and timestamp unit of the packets.
mod pcapng {
    use super::{CaptureError, CaptureFormat, Damage, Endian, Packet, ReadReport};

    const SHB: u32 = super::PCAPNG_SHB;
    const IDB: u32 = 1;
    /// The obsolete Packet Block, still written by old tools.
    const PB: u32 = 2;
    const SPB: u32 = 3;
    const EPB: u32 = 6;
    const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
    /// The smallest block: type, two lengths, empty body.
    const MIN_BLOCK: usize = 12;
    /// Wireshark's bound; a larger block length is taken as corruption, not a cut.
    const MAX_BLOCK: usize = 128 * 1024 * 1024;

    const OPT_ENDOFOPT: u16 = 0;
    const OPT_IF_TSRESOL: u16 = 9;
    const OPT_IF_TSOFFSET: u16 = 14;

    /// How an interface's timestamp units turn into nanoseconds.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(super) enum TsScale {
        /// Units coarser than 1 ns (10^-e with e <= 9): multiply.
        Mul(u64),
        /// Units finer than 1 ns (10^-e with e > 9): divide, truncating like Wireshark.
        Div(u64),
        /// 2^-e units: ns = units * 10^9 / 2^e.
        Shift(u32),
        /// So fine that every u64 count is below 1 ns.
        Zero,
    }

    impl TsScale {
        /// From the if_tsresol option byte: top bit clear = negative power of ten,
        /// set = negative power of two.
        pub(super) fn from_tsresol(r: u8) -> TsScale {
            let e = u32::from(r & 0x7f);
            if r & 0x80 != 0 {
                TsScale::Shift(e)
            } else if e <= 9 {
                TsScale::Mul(10u64.pow(9 - e))
            } else {
                // 10^20 > u64::MAX: any count then rounds down to 0 ns.
                10u64.checked_pow(e - 9).map_or(TsScale::Zero, TsScale::Div)
            }
        }

        /// Exact conversion; u128 holds u64 * 10^9 (< 2^94) without overflow.
        pub(super) fn to_ns(self, units: u64) -> i128 {
            let u = u128::from(units);
            let ns = match self {
                TsScale::Mul(m) => u * u128::from(m),
                TsScale::Div(d) => u / u128::from(d),
                TsScale::Shift(e) => (u * 1_000_000_000) >> e, // e <= 127
                TsScale::Zero => 0,
            };
            i128::try_from(ns).unwrap_or(i128::MAX)
        }
    }

    /// What an Interface Description Block says about its packets.
    #[derive(Debug, Clone, Copy)]
    struct Interface {
        link_type: u32,
        snaplen: u32,
        scale: TsScale,
        /// if_tsoffset in nanoseconds.
        offset_ns: i128,
    }

    impl Interface {
        fn ts_ns(&self, units: u64) -> i64 {
            let ns = self.scale.to_ns(units).saturating_add(self.offset_ns);
            i64::try_from(ns).unwrap_or(if ns < 0 { i64::MIN } else { i64::MAX })
        }
    }

    /// The reading state: the current section's byte order and interfaces.
    pub(super) struct Reader {
        pub(super) endian: Endian,
        interfaces: Vec<Interface>,
        /// SPBs carry no timestamp and reuse the previous packet's.
        last_ts_ns: i64,
    }

    /// One framed block: its type and the body between the two length fields.
    struct Block<'a> {
        kind: u32,
        endian: Endian,
        body: &'a [u8],
        len: usize,
    }

    pub(super) fn read<'a>(
        bytes: &'a [u8],
        f: &mut impl FnMut(Packet<'a>),
    ) -> Result<ReadReport, CaptureError> {
        let mut report = ReadReport::new(CaptureFormat::Pcapng);
        let mut reader = Reader {
            endian: Endian::Little,
            interfaces: Vec::new(),
            last_ts_ns: 0,
        };
        let mut offset = 0usize;
        while let Some(rest) = bytes.get(offset..).filter(|r| !r.is_empty()) {
            let step = frame(rest, reader.endian).and_then(|b| {
                reader.block(&b, &mut report, f)?;
                Ok(b.len)
            });
            match step {
                Ok(len) => offset = offset.saturating_add(len),
                // A file whose first section header is unusable is no pcapng at all.
                Err(damage) if offset == 0 => return Err(first_block_error(bytes, damage)),
                Err(damage) => {
                    report.stop(offset, damage);
                    break;
                }
            }
        }
        Ok(report)
    }

    /// Blocks that must look right in a row for an offset to count as a block
    /// boundary.
    const CHAIN: usize = 16;
    /// How far past a cut point a boundary is looked for before giving up.
    const RESYNC_WINDOW: usize = 4 << 20;

    /// Reads the blocks before the first packet block (section header, interface
    /// descriptions, others): the reader's state there, and the packet block's offset.
    /// `None` when that prelude is damaged or there is no packet.
    pub(super) fn prelude(bytes: &[u8]) -> Option<(Reader, usize)> {
        let mut reader = Reader {
            endian: Endian::Little,
            interfaces: Vec::new(),
            last_ts_ns: 0,
        };
        let mut report = ReadReport::new(CaptureFormat::Pcapng);
        let mut offset = 0usize;
        loop {
            let b = frame(bytes.get(offset..)?, reader.endian).ok()?;
            if matches!(b.kind, EPB | PB | SPB) {
                return Some((reader, offset));
            }
            reader.block(&b, &mut report, &mut |_| {}).ok()?;
            offset = offset.checked_add(b.len)?;
        }
    }

    /// Reads the blocks that start in `part`; see [`super::for_each_packet_in_part`].
    pub(super) fn read_part<'a>(
        bytes: &'a [u8],
        mut reader: Reader,
        first_part: bool,
        part: std::ops::Range<usize>,
        f: &mut impl FnMut(Packet<'a>),
    ) -> super::PartRead {
        let mut report = ReadReport::new(CaptureFormat::Pcapng);
        let mut offset = part.start;
        let mut damaged = false;
        // A simple packet block takes the previous packet's time: unknown at the
        // start of a later part.
        let mut have_ts = first_part;
        while offset < part.end {
            let Some(Ok(b)) = bytes.get(offset..).map(|rest| frame(rest, reader.endian)) else {
                damaged = true;
                break;
            };
            let unknowable = matches!(b.kind, SHB | IDB) || (b.kind == SPB && !have_ts);
            if unknowable || reader.block(&b, &mut report, f).is_err() {
                damaged = true;
                break;
            }
            have_ts |= matches!(b.kind, EPB | PB);
            offset = offset.saturating_add(b.len);
        }
        super::PartRead {
            packets: report.packets,
            end: offset,
            damaged,
        }
    }

    /// The first 4-byte-aligned offset at or after `from` (within
    /// [`RESYNC_WINDOW`]) where [`CHAIN`] well-framed blocks start, or the end of the
    /// file comes first. Blocks are multiples of 4 bytes, so every block of a file
    /// starts on a multiple of 4.
    pub(super) fn resync(bytes: &[u8], endian: Endian, from: usize) -> Option<usize> {
        let from = from.checked_next_multiple_of(4)?;
        let last = from.saturating_add(RESYNC_WINDOW).min(bytes.len());
        (from..=last)
            .step_by(4)
            .find(|&at| chain_at(bytes, endian, at))
    }

    fn chain_at(bytes: &[u8], endian: Endian, mut at: usize) -> bool {
        for _ in 0..CHAIN {
            if at == bytes.len() {
                return true;
            }
            let Some(Ok(b)) = bytes.get(at..).map(|rest| frame(rest, endian)) else {
                return false;
            };
            at += b.len;
        }
        true
    }

    fn first_block_error(bytes: &[u8], damage: Damage) -> CaptureError {
        match damage {
            Damage::Cut(_) => CaptureError::TooShort {
                what: "pcapng section header block",
                len: bytes.len(),
                needed: shb_endian(bytes)
                    .ok()
                    .and_then(|e| e.u32(bytes, 4))
                    .map_or(28, |n| n as usize),
            },
            Damage::Corrupt(reason) => CaptureError::BadPcapng { reason },
        }
    }

    /// Frames the block at the start of `rest`, checking both length fields.
    fn frame(rest: &[u8], section_endian: Endian) -> Result<Block<'_>, Damage> {
        let cut = Damage::Cut("block header");
        let kind = section_endian.u32(rest, 0).ok_or(cut)?;
        // SHB's type reads the same in both byte orders; its byte-order magic decides
        // how everything in the new section is read, including its own length.
        let endian = if kind == SHB {
            shb_endian(rest)?
        } else {
            section_endian
        };
        let len = endian.u32(rest, 4).ok_or(Damage::Cut("block header"))? as usize;
        if len < MIN_BLOCK || !len.is_multiple_of(4) || len > MAX_BLOCK {
            return Err(Damage::Corrupt(format!(
                "block length {len} (type {kind:#x}) is not a plausible pcapng block length"
            )));
        }
        let block = rest.get(..len).ok_or(Damage::Cut("block"))?;
        let trailer = endian.u32(block, len - 4);
        if trailer != Some(len as u32) {
            return Err(Damage::Corrupt(format!(
                "block of type {kind:#x} starts with length {len} but ends with {}",
                trailer.unwrap_or(0)
            )));
        }
        let body = block.get(8..len - 4).unwrap_or_default();
        Ok(Block {
            kind,
            endian,
            body,
            len,
        })
    }

    fn shb_endian(rest: &[u8]) -> Result<Endian, Damage> {
        let bom = Endian::Little
            .u32(rest, 8)
            .ok_or(Damage::Cut("section header block"))?;
        if bom == BYTE_ORDER_MAGIC {
            Ok(Endian::Little)
        } else if bom.swap_bytes() == BYTE_ORDER_MAGIC {
            Ok(Endian::Big)
        } else {
            Err(Damage::Corrupt(format!(
                "section header has byte-order magic {bom:#010x}, not 0x1a2b3c4d"
            )))
        }
    }

    impl Reader {
        fn block<'a>(
            &mut self,
            b: &Block<'a>,
            report: &mut ReadReport,
            f: &mut impl FnMut(Packet<'a>),
        ) -> Result<(), Damage> {
            match b.kind {
                SHB => self.section(b),
                IDB => {
                    let iface = interface(b.body, b.endian)?;
                    self.interfaces.push(iface);
                    Ok(())
                }
                EPB | PB => {
                    let packet = self.enhanced(b)?;
                    self.last_ts_ns = packet.ts_ns;
                    report.deliver(f, packet);
                    Ok(())
                }
                SPB => {
                    let packet = self.simple(b)?;
                    report.deliver(f, packet);
                    Ok(())
                }
                // Statistics, name resolution, secrets, custom blocks: nothing for us.
                _ => Ok(()),
            }
        }

        /// A new section: new byte order, and its interfaces start from zero.
        fn section(&mut self, b: &Block<'_>) -> Result<(), Damage> {
            // Body: byte-order magic (4), major version (2), minor (2), section length (8).
            let major = b.endian.u16(b.body, 4);
            if b.body.len() < 16 {
                return Err(Damage::Corrupt("section header block too short".into()));
            }
            if major != Some(1) {
                return Err(Damage::Corrupt(format!(
                    "unsupported pcapng major version {}",
                    major.unwrap_or(0)
                )));
            }
            self.endian = b.endian;
            self.interfaces.clear();
            Ok(())
        }

        /// EPB and the obsolete PB: the same fields, except that PB's interface id is
        /// 16 bits followed by a 16-bit drop count.
        fn enhanced<'a>(&self, b: &Block<'a>) -> Result<Packet<'a>, Damage> {
            let e = b.endian;
            let field = |at| {
                e.u32(b.body, at)
                    .ok_or_else(|| Damage::Corrupt("packet block too short".into()))
            };
            let if_id = if b.kind == PB {
                u32::from(e.u16(b.body, 0).unwrap_or(0))
            } else {
                field(0)?
            };
            let ts_high = field(4)?;
            let ts_low = field(8)?;
            let caplen = field(12)?;
            let orig_len = field(16)?;
            let iface = self.interface(if_id)?;
            let data = super::captured_bytes(b.body, 20, caplen).map_err(|d| match d {
                // The block itself is complete, so a packet running past it is
                // corruption, not a cut file.
                Damage::Cut(_) => Damage::Corrupt(format!(
                    "captured length {caplen} exceeds its block of {} bytes",
                    b.len
                )),
                other => other,
            })?;
            Ok(Packet {
                index: 0,
                ts_ns: iface.ts_ns(u64::from(ts_high) << 32 | u64::from(ts_low)),
                link_type: iface.link_type,
                data,
                orig_len,
            })
        }

        /// SPB: interface 0, no timestamp, captured length implied by the block.
        fn simple<'a>(&self, b: &Block<'a>) -> Result<Packet<'a>, Damage> {
            let orig_len = b
                .endian
                .u32(b.body, 0)
                .ok_or_else(|| Damage::Corrupt("simple packet block too short".into()))?;
            let iface = self.interface(0)?;
            let space = b.body.len().saturating_sub(4);
            let mut caplen = space.min(orig_len as usize);
            if iface.snaplen != 0 {
                caplen = caplen.min(iface.snaplen as usize);
            }
            Ok(Packet {
                index: 0,
                ts_ns: self.last_ts_ns,
                link_type: iface.link_type,
                data: b.body.get(4..4 + caplen).unwrap_or_default(),
                orig_len,
            })
        }

        fn interface(&self, id: u32) -> Result<&Interface, Damage> {
            self.interfaces.get(id as usize).ok_or_else(|| {
                Damage::Corrupt(format!(
                    "packet on interface {id}, but the section describes {} interface(s)",
                    self.interfaces.len()
                ))
            })
        }
    }

    /// Parses an Interface Description Block body: link type (2), reserved (2),
    /// snaplen (4), options.
    fn interface(body: &[u8], e: Endian) -> Result<Interface, Damage> {
        let short = || Damage::Corrupt("interface description block too short".into());
        let link_type = e.u16(body, 0).ok_or_else(short)?;
        let snaplen = e.u32(body, 4).ok_or_else(short)?;
        let mut iface = Interface {
            link_type: u32::from(link_type),
            snaplen,
            scale: TsScale::from_tsresol(6), // the default: microseconds
            offset_ns: 0,
        };
        for (code, value) in options(body.get(8..).unwrap_or_default(), e) {
            match code {
                OPT_IF_TSRESOL => {
                    if let Some(&r) = value.first() {
                        iface.scale = TsScale::from_tsresol(r);
                    }
                }
                OPT_IF_TSOFFSET => {
                    if let Some(secs) = e.i64(value, 0) {
                        iface.offset_ns = i128::from(secs) * 1_000_000_000;
                    }
                }
                _ => {}
            }
        }
        Ok(iface)
    }

    /// Iterates over `code, value` options, each padded to 4 bytes. Stops quietly at
    /// opt_endofopt or at a malformed option: options are hints, not packet data.
    fn options(mut buf: &[u8], e: Endian) -> impl Iterator<Item = (u16, &[u8])> {
        std::iter::from_fn(move || {
            let code = e.u16(buf, 0)?;
            let len = usize::from(e.u16(buf, 2)?);
            if code == OPT_ENDOFOPT {
                return None;
            }
            let value = buf.get(4..4 + len)?;
            buf = buf.get(4 + len.next_multiple_of(4)..).unwrap_or_default();
            Some((code, value))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::pcapng::TsScale;
    use super::*;

    /// A delivered packet, owned: (index, ts_ns, link_type, data, orig_len).
    type Owned = (u64, i64, u32, Vec<u8>, u32);

    /// Reads `bytes` and keeps every packet.
    fn read_all(bytes: &[u8]) -> Result<(Vec<Owned>, ReadReport), CaptureError> {
        let mut out = Vec::new();
        let report = for_each_packet(bytes, |p| {
            out.push((p.index, p.ts_ns, p.link_type, p.data.to_vec(), p.orig_len))
        })?;
        Ok((out, report))
    }

    /// A small microsecond little-endian pcap: two Ethernet packets.
    fn pcap_usec_le() -> Vec<u8> {
        let mut v = vec![
            0xd4, 0xc3, 0xb2, 0xa1, // magic 0xa1b2c3d4, little-endian, microseconds
            0x02, 0x00, 0x04, 0x00, // version 2.4
            0x00, 0x00, 0x00, 0x00, // thiszone 0
            0x00, 0x00, 0x00, 0x00, // sigfigs 0
            0xff, 0xff, 0x00, 0x00, // snaplen 65535
            0x01, 0x00, 0x00, 0x00, // link type 1 (Ethernet)
            // record 1
            0x10, 0x00, 0x00, 0x00, // ts_sec 16
            0x40, 0x42, 0x0f, 0x00, // ts_usec 1_000_000 (0x0f4240): out of range, kept as is
            0x04, 0x00, 0x00, 0x00, // incl_len 4
            0x3c, 0x00, 0x00, 0x00, // orig_len 60
            0xaa, 0xbb, 0xcc, 0xdd, // data
            // record 2
            0x11, 0x00, 0x00, 0x00, // ts_sec 17
            0x05, 0x00, 0x00, 0x00, // ts_usec 5
            0x02, 0x00, 0x00, 0x00, // incl_len 2
            0x02, 0x00, 0x00, 0x00, // orig_len 2
        ];
        v.extend_from_slice(&[0x01, 0x02]); // data
        v
    }

    #[test]
    fn pcap_microseconds_little_endian() {
        let (pkts, report) = read_all(&pcap_usec_le()).unwrap();
        assert_eq!(
            report.format,
            CaptureFormat::Pcap {
                nanos: false,
                big_endian: false
            }
        );
        assert_eq!(report.packets, 2);
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        assert_eq!(report.stopped_at, None);
        // ts_usec of 1_000_000 is not normalised away: 16 s + 1 s.
        assert_eq!(
            pkts[0],
            (1, 17_000_000_000, 1, vec![0xaa, 0xbb, 0xcc, 0xdd], 60)
        );
        assert_eq!(pkts[1], (2, 17_000_005_000, 1, vec![0x01, 0x02], 2));
    }

    #[test]
    fn pcap_nanoseconds_big_endian() {
        let bytes = [
            0xa1, 0xb2, 0x3c, 0x4d, // magic 0xa1b23c4d, big-endian, nanoseconds
            0x00, 0x02, 0x00, 0x04, // version 2.4
            0x00, 0x00, 0x00, 0x00, // thiszone
            0x00, 0x00, 0x00, 0x00, // sigfigs
            0x00, 0x04, 0x00, 0x00, // snaplen 262144
            0x00, 0x00, 0x00, 0x71, // link type 113 (Linux SLL)
            // record 1
            0x65, 0x00, 0x00, 0x00, // ts_sec 0x65000000 = 1694498816
            0x3b, 0x9a, 0xc9, 0xff, // ts_nsec 999_999_999
            0x00, 0x00, 0x00, 0x03, // incl_len 3
            0x00, 0x00, 0x05, 0xdc, // orig_len 1500
            0x07, 0x08, 0x09, // data
        ];
        let (pkts, report) = read_all(&bytes).unwrap();
        assert_eq!(
            report.format,
            CaptureFormat::Pcap {
                nanos: true,
                big_endian: true
            }
        );
        assert_eq!(
            pkts,
            vec![(1, 1_694_498_816_999_999_999, 113, vec![7, 8, 9], 1500)]
        );
        assert!(report.warnings.is_empty());
    }

    #[test]
    fn pcap_link_type_fcs_bits_masked() {
        let mut bytes = pcap_usec_le();
        bytes[23] = 0x10; // link type 0x10000001: FCS-length bits set on Ethernet
        let (pkts, _) = read_all(&bytes).unwrap();
        assert_eq!(pkts[0].2, 1);
    }

    #[test]
    fn pcap_absurd_caplen_stops_with_warning() {
        let mut bytes = pcap_usec_le();
        // Record 2's incl_len (offset 24 + 16 + 4 + 8) becomes 0xffffffff.
        bytes[52..56].copy_from_slice(&[0xff; 4]);
        let (pkts, report) = read_all(&bytes).unwrap();
        assert_eq!(pkts.len(), 1);
        assert_eq!(report.stopped_at, Some(44));
        let w = &report.warnings[0];
        assert!(
            w.contains("byte offset 44") && w.contains("packet 1 before it was read"),
            "{w}"
        );
        assert!(w.contains("corrupt"), "{w}");
    }

    #[test]
    fn pcap_garbage_in_the_middle() {
        let mut bytes = pcap_usec_le();
        bytes.truncate(44); // header + record 1
        bytes.extend_from_slice(&[0xff; 40]);
        bytes.extend_from_slice(&pcap_usec_le()[44..]);
        let (pkts, report) = read_all(&bytes).unwrap();
        assert_eq!(pkts.len(), 1);
        assert_eq!(report.stopped_at, Some(44));
    }

    /// Appends a pcapng block: type, total length, `body` padded to 4, total length.
    fn block(out: &mut Vec<u8>, be: bool, kind: u32, body: &[u8]) {
        let padded = body.len().next_multiple_of(4);
        let total = (12 + padded) as u32;
        let w = |out: &mut Vec<u8>, x: u32| {
            out.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() })
        };
        w(out, kind); // block type
        w(out, total); // block total length
        out.extend_from_slice(body); // block body
        out.resize(out.len() + padded - body.len(), 0); // padding to 32 bits
        w(out, total); // block total length, again
    }

    /// Field writers for block bodies in either byte order.
    struct Body {
        be: bool,
        v: Vec<u8>,
    }

    impl Body {
        fn new(be: bool) -> Self {
            Body { be, v: Vec::new() }
        }
        fn u16(mut self, x: u16) -> Self {
            let b = if self.be {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            };
            self.v.extend_from_slice(&b);
            self
        }
        fn u32(mut self, x: u32) -> Self {
            let b = if self.be {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            };
            self.v.extend_from_slice(&b);
            self
        }
        fn u64(mut self, x: u64) -> Self {
            let b = if self.be {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            };
            self.v.extend_from_slice(&b);
            self
        }
        fn bytes(mut self, b: &[u8]) -> Self {
            self.v.extend_from_slice(b);
            self
        }
        /// An option: code, length, value padded to 4.
        fn opt(self, code: u16, value: &[u8]) -> Self {
            let pad = value.len().next_multiple_of(4) - value.len();
            self.u16(code)
                .u16(value.len() as u16)
                .bytes(value)
                .bytes(&vec![0; pad])
        }
    }

    fn shb(out: &mut Vec<u8>, be: bool) {
        let body = Body::new(be)
            .u32(0x1A2B_3C4D) // byte-order magic
            .u16(1) // major version
            .u16(0) // minor version
            .u64(u64::MAX) // section length: -1, unknown
            .opt(4, b"kapture test") // shb_userappl
            .u32(0); // opt_endofopt
        block(out, be, 0x0A0D_0D0A, &body.v);
    }

    /// Two interfaces: Ethernet at 10^-6 s, raw IP at 2^-10 s with if_tsoffset 1000 s.
    fn pcapng_two_interfaces(be: bool) -> Vec<u8> {
        let mut f = Vec::new();
        shb(&mut f, be);
        let idb0 = Body::new(be)
            .u16(1) // link type: Ethernet
            .u16(0) // reserved
            .u32(0) // snaplen: unlimited
            .opt(9, &[6]) // if_tsresol: 10^-6
            .u32(0); // opt_endofopt
        block(&mut f, be, 1, &idb0.v);
        let tsoffset = if be {
            1000u64.to_be_bytes()
        } else {
            1000u64.to_le_bytes()
        };
        let idb1 = Body::new(be)
            .u16(101) // link type: raw IP
            .u16(0) // reserved
            .u32(96) // snaplen 96
            .opt(2, b"eth1") // if_name
            .opt(9, &[0x8a]) // if_tsresol: 2^-10
            .opt(14, &tsoffset) // if_tsoffset: 1000 s
            .u32(0); // opt_endofopt
        block(&mut f, be, 1, &idb1.v);
        // EPB on interface 1: ts = 3 * 1024 + 512 units of 2^-10 s = 3.5 s (+ 1000 s).
        let epb1 = Body::new(be)
            .u32(1) // interface id
            .u32(0) // timestamp, high 32 bits
            .u32(3 * 1024 + 512) // timestamp, low 32 bits
            .u32(5) // captured length
            .u32(9) // original length
            .bytes(&[0x45, 1, 2, 3, 4]) // packet data (padded to 8 by block())
            .opt(2, &[0, 0, 0, 1]) // epb_flags: inbound; options after padded data
            .u32(0); // opt_endofopt
        let mut epb1v = epb1.v;
        // Insert the 3 padding bytes after the 5 data bytes (before the options).
        epb1v.splice(25..25, [0xee, 0xee, 0xee]);
        block(&mut f, be, 6, &epb1v);
        // EPB on interface 0: ts = 1_700_000_000_123_456 us.
        let us: u64 = 1_700_000_000_123_456;
        let epb0 = Body::new(be)
            .u32(0) // interface id
            .u32((us >> 32) as u32) // timestamp, high 32 bits
            .u32(us as u32) // timestamp, low 32 bits
            .u32(4) // captured length
            .u32(4) // original length
            .bytes(&[0xde, 0xad, 0xbe, 0xef]); // packet data
        block(&mut f, be, 6, &epb0.v);
        // An Interface Statistics Block, to be skipped.
        let isb = Body::new(be).u32(0).u32(0).u32(0).u32(0);
        block(&mut f, be, 5, &isb.v);
        f
    }

    #[test]
    fn pcapng_two_interfaces_both_byte_orders() {
        for be in [false, true] {
            let (pkts, report) = read_all(&pcapng_two_interfaces(be)).unwrap();
            assert_eq!(report.format, CaptureFormat::Pcapng);
            assert!(report.warnings.is_empty(), "{:?}", report.warnings);
            assert_eq!(
                pkts,
                vec![
                    (1, 1_003_500_000_000, 101, vec![0x45, 1, 2, 3, 4], 9),
                    (
                        2,
                        1_700_000_000_123_456_000,
                        1,
                        vec![0xde, 0xad, 0xbe, 0xef],
                        4
                    ),
                ],
                "big-endian: {be}"
            );
        }
    }

    #[test]
    fn pcapng_sections_reset_interfaces_and_byte_order() {
        let mut f = pcapng_two_interfaces(false);
        f.extend_from_slice(&pcapng_two_interfaces(true));
        let (pkts, report) = read_all(&f).unwrap();
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        let idx: Vec<u64> = pkts.iter().map(|p| p.0).collect();
        assert_eq!(idx, vec![1, 2, 3, 4]);
        assert_eq!(pkts[2].2, 101);
    }

    #[test]
    fn pcapng_simple_packet_block() {
        let mut f = Vec::new();
        shb(&mut f, false);
        let idb = Body::new(false)
            .u16(1) // link type: Ethernet
            .u16(0) // reserved
            .u32(6) // snaplen 6
            .u32(0); // no options, opt_endofopt
        block(&mut f, false, 1, &idb.v);
        let epb = Body::new(false)
            .u32(0) // interface id
            .u32(0) // timestamp high
            .u32(42) // timestamp low: 42 us
            .u32(2) // captured length
            .u32(2) // original length
            .bytes(&[1, 2]); // data
        block(&mut f, false, 6, &epb.v);
        let spb = Body::new(false)
            .u32(100) // original length 100; captured = min(100, snaplen 6, space 8)
            .bytes(&[9, 8, 7, 6, 5, 4, 3, 2]); // data
        block(&mut f, false, 3, &spb.v);
        let spb_short = Body::new(false)
            .u32(3) // original length 3: the data's padding is not data
            .bytes(&[1, 2, 3, 0]); // data + 1 padding byte
        block(&mut f, false, 3, &spb_short.v);
        let (pkts, report) = read_all(&f).unwrap();
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        assert_eq!(
            pkts,
            vec![
                (1, 42_000, 1, vec![1, 2], 2),
                (2, 42_000, 1, vec![9, 8, 7, 6, 5, 4], 100), // previous packet's time
                (3, 42_000, 1, vec![1, 2, 3], 3),
            ]
        );
    }

    #[test]
    fn pcapng_obsolete_packet_block() {
        let mut f = Vec::new();
        shb(&mut f, true);
        let idb = Body::new(true).u16(1).u16(0).u32(0); // Ethernet, reserved, snaplen 0
        block(&mut f, true, 1, &idb.v);
        let pb = Body::new(true)
            .u16(0) // interface id (16 bits)
            .u16(7) // drops count
            .u32(0) // timestamp high
            .u32(1_000_000) // timestamp low: 1 s in us
            .u32(1) // captured length
            .u32(1) // original length
            .bytes(&[0x55]); // data
        block(&mut f, true, 2, &pb.v);
        let (pkts, report) = read_all(&f).unwrap();
        assert!(report.warnings.is_empty());
        assert_eq!(pkts, vec![(1, 1_000_000_000, 1, vec![0x55], 1)]);
    }

    /// Where each block of a pcapng file starts, and where the file ends.
    fn block_offsets(f: &[u8], be: bool) -> Vec<usize> {
        let mut offsets = vec![0];
        let mut at = 0;
        while at < f.len() {
            let len: [u8; 4] = f[at + 4..at + 8].try_into().unwrap();
            at += if be {
                u32::from_be_bytes(len)
            } else {
                u32::from_le_bytes(len)
            } as usize;
            offsets.push(at);
        }
        offsets
    }

    #[test]
    fn pcapng_damage_is_reported_not_fatal() {
        let good = pcapng_two_interfaces(false);
        // Blocks: SHB, IDB 0, IDB 1, EPB (interface 1), EPB (interface 0), ISB.
        let [_, _, _, epb1, epb0, ..] = block_offsets(&good, false)[..] else {
            panic!("unexpected layout")
        };
        let read_damaged = |at: usize, byte: u8| {
            let mut f = good.clone();
            f[at] = byte;
            let (pkts, report) = read_all(&f).unwrap();
            (pkts.len(), report.stopped_at, report.warnings.join("\n"))
        };
        // Second EPB names interface 7.
        let (n, stop, w) = read_damaged(epb0 + 8, 7);
        assert_eq!((n, stop), (1, Some(epb0 as u64)));
        assert!(
            w.contains("interface 7") && w.contains("packet 1 before it was read"),
            "{w}"
        );
        // First EPB's captured length (200) runs past its block.
        let (n, stop, w) = read_damaged(epb1 + 8 + 12, 200);
        assert_eq!((n, stop), (0, Some(epb1 as u64)));
        assert!(w.contains("exceeds its block"), "{w}");
        // First EPB's trailing length differs from its leading one.
        let (n, stop, w) = read_damaged(epb0 - 4, 0x44);
        assert_eq!((n, stop), (0, Some(epb1 as u64)));
        assert!(w.contains("ends with"), "{w}");
        // A block length that is not a multiple of 4.
        let (n, _, w) = read_damaged(epb0 + 4, 0x31);
        assert_eq!(n, 1);
        assert!(w.contains("not a plausible"), "{w}");
    }

    #[test]
    fn ts_scales_are_exact() {
        assert_eq!(TsScale::from_tsresol(6).to_ns(1), 1_000);
        assert_eq!(TsScale::from_tsresol(9).to_ns(7), 7);
        assert_eq!(TsScale::from_tsresol(0).to_ns(2), 2_000_000_000);
        assert_eq!(TsScale::from_tsresol(12).to_ns(1_999), 1); // picoseconds, truncated
        assert_eq!(TsScale::from_tsresol(127).to_ns(u64::MAX), 0);
        assert_eq!(TsScale::from_tsresol(0x80 | 10).to_ns(1024), 1_000_000_000);
        assert_eq!(TsScale::from_tsresol(0x80 | 30).to_ns(1), 0); // 0.93 ns
        assert_eq!(TsScale::from_tsresol(0x80 | 20).to_ns(3), 2_861); // 2861.02 ns
        assert_eq!(TsScale::from_tsresol(0x80 | 127).to_ns(u64::MAX), 0);
        // u64::MAX seconds does not fit in i64 ns: it must saturate, not wrap or panic.
        let max = TsScale::from_tsresol(0).to_ns(u64::MAX);
        assert_eq!(max, i128::from(u64::MAX) * 1_000_000_000);
    }

    #[test]
    fn huge_timestamps_saturate() {
        let mut f = Vec::new();
        shb(&mut f, false);
        let idb = Body::new(false)
            .u16(1) // Ethernet
            .u16(0) // reserved
            .u32(0) // snaplen
            .opt(9, &[0]) // if_tsresol: seconds
            .opt(14, &i64::MAX.to_le_bytes()) // if_tsoffset: huge
            .u32(0);
        block(&mut f, false, 1, &idb.v);
        let epb = Body::new(false)
            .u32(0) // interface
            .u32(u32::MAX) // ts high
            .u32(u32::MAX) // ts low
            .u32(0) // caplen
            .u32(0); // orig len
        block(&mut f, false, 6, &epb.v);
        let (pkts, _) = read_all(&f).unwrap();
        assert_eq!(pkts[0].1, i64::MAX);
    }

    /// Cuts `file` at every length: never a panic, never fewer packets for a longer
    /// prefix, and a warning whenever the cut is not on a record boundary.
    fn check_every_cut(file: &[u8], boundaries: &[usize]) {
        let mut last = 0;
        for len in 0..=file.len() {
            match read_all(&file[..len]) {
                Ok((pkts, report)) => {
                    assert!(pkts.len() >= last, "cut at {len}: fewer packets");
                    last = pkts.len();
                    let on_boundary = boundaries.contains(&len);
                    assert_eq!(
                        report.warnings.is_empty(),
                        on_boundary,
                        "cut at {len}: {:?}",
                        report.warnings
                    );
                    if !on_boundary {
                        assert_eq!(
                            report.stopped_at,
                            Some(
                                boundaries
                                    .iter()
                                    .rev()
                                    .find(|&&b| b < len)
                                    .copied()
                                    .unwrap() as u64
                            )
                        );
                    }
                }
                Err(e) => assert_eq!(last, 0, "cut at {len}: error {e} after packets"),
            }
        }
        assert_eq!(read_all(file).unwrap().0.len(), last);
    }

    #[test]
    fn pcap_cut_at_every_offset() {
        // Record boundaries: after the header (24), record 1 (44), record 2 (62).
        check_every_cut(&pcap_usec_le(), &[24, 44, 62]);
    }

    #[test]
    fn pcapng_cut_at_every_offset() {
        for be in [false, true] {
            let f = pcapng_two_interfaces(be);
            check_every_cut(&f, &block_offsets(&f, be)[1..]);
            assert_eq!(read_all(&f).unwrap().0.len(), 2);
        }
    }

    #[test]
    fn not_a_capture_is_an_error() {
        assert_eq!(read_all(&[]).unwrap_err(), CaptureError::Empty);
        assert!(matches!(
            read_all(&[0xd4, 0xc3]).unwrap_err(),
            CaptureError::TooShort { needed: 4, .. }
        ));
        let e = read_all(b"hello world\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "not a pcap or pcapng file: it starts with 68 65 6c 6c (text, not a capture)"
        );
        let e = read_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0]).unwrap_err();
        assert!(e.to_string().contains("gzip"), "{e}");
        let e = read_all(&[0x00, 0x01, 0x02, 0x03, 4, 5, 6, 7, 8]).unwrap_err();
        assert!(
            e.to_string().contains("00 01 02 03 (unknown magic number)"),
            "{e}"
        );
        // pcap magic but no room for the 24-byte file header.
        let e = read_all(&pcap_usec_le()[..20]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "too short for a pcap file header: 20 of 24 bytes"
        );
        // pcapng with a bad byte-order magic.
        let mut f = pcapng_two_interfaces(false);
        f[8] = 0;
        let e = read_all(&f).unwrap_err();
        assert!(matches!(e, CaptureError::BadPcapng { .. }), "{e}");
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz: flip bytes of valid files, one at a time and in
        // pairs, and read every result.
        let files = [
            pcap_usec_le(),
            pcapng_two_interfaces(false),
            pcapng_two_interfaces(true),
        ];
        for file in &files {
            for i in 0..file.len() {
                for x in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                    let mut f = file.clone();
                    f[i] = x;
                    let _ = read_all(&f);
                    let j = (i * 7 + 3) % f.len();
                    f[j] ^= 0xa5;
                    let _ = read_all(&f);
                }
            }
        }
    }
}
