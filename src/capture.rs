//! Reads pcap and pcapng captures and hands on one [`Packet`] per captured frame, with
//! an integer-nanosecond timestamp and the link type it was captured on: from bytes held
//! in memory ([`for_each_packet`]), or from a pipe as they arrive ([`StreamReader`]).
//!
//! Held in memory, the whole capture is one byte slice (memory-mapped, or read into a
//! `Vec`) and every packet borrows from it; from a pipe, packets borrow from the stream
//! reader's one buffer. Nothing is copied and nothing is allocated per packet.
//!
//! pcap-parser parses the file header, the records and the blocks (zero-copy). What it
//! does not do stays here: timestamps in nanoseconds (power-of-two `if_tsresol`,
//! `if_tsoffset`), frame numbers, byte offsets, the [`MAX_CAPLEN`] sanity check, and
//! saying where and why a file went bad: its errors only say "incomplete" or "error".
//!
//! Damaged files: everything before the first bad byte is delivered, then reading stops
//! and [`ReadReport::warnings`] says where (byte offset) and after which packet. Only a
//! file that is not a capture at all is an `Err`.

mod legacy;
mod pcapng;
mod stream;
#[cfg(test)]
mod tests;

pub use stream::{StreamReader, for_each_packet_from};

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
    /// Reading from a pipe or file failed (not at a clean end of input).
    #[error("reading the capture failed at byte offset {offset}: {message}")]
    Read { offset: u64, message: String },
}

/// Calls `f` for every captured frame in `bytes`, in file order.
///
/// Frame numbers count every packet record (legacy record, EPB, SPB, obsolete PB), so
/// they equal tshark's `frame.number`.
pub fn for_each_packet<'a>(
    bytes: &'a [u8],
    mut f: impl FnMut(Packet<'a>),
) -> Result<ReadReport, CaptureError> {
    let (mut reading, mut offset) = Reading::open(bytes)?;
    let mut report = ReadReport::new(reading.format());
    while let Some(rest) = bytes.get(offset..).filter(|r| !r.is_empty()) {
        match reading.step(rest) {
            Ok(Step::Packet(packet, len)) => {
                f(report.number(packet));
                offset = offset.saturating_add(len);
            }
            Ok(Step::Skip(len)) => offset = offset.saturating_add(len),
            // A file whose first section header is unusable is no pcapng at all.
            Err(damage) if offset == 0 => return Err(pcapng::first_block_error(bytes, damage)),
            Err(damage) => {
                report.stop(offset, damage);
                break;
            }
        }
    }
    Ok(report)
}

const PCAPNG_SHB: u32 = 0x0A0D_0D0A;

/// The reading state of either format: what the file header, or the blocks read so
/// far, say about the records that follow.
#[derive(Debug)]
enum Reading {
    Legacy(legacy::Header),
    Pcapng(pcapng::Reader),
}

/// What the record or block at the reading position holds, and its length in bytes.
enum Step<'a> {
    Packet(Packet<'a>, usize),
    /// A block without a packet: section header, interface description, statistics...
    Skip(usize),
}

impl Reading {
    /// Recognises the format from the first bytes of a capture (the first 24 are
    /// enough) and reads the legacy file header: the state, and where the first record
    /// or block starts.
    fn open(bytes: &[u8]) -> Result<(Reading, usize), CaptureError> {
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
            return Ok((Reading::Pcapng(pcapng::Reader::new()), 0));
        }
        match legacy::Header::parse(bytes, magic)? {
            Some(header) => Ok((Reading::Legacy(header), legacy::HEADER_LEN)),
            None => Err(CaptureError::NotACapture { magic }),
        }
    }

    fn format(&self) -> CaptureFormat {
        match self {
            Reading::Legacy(header) => header.format(),
            Reading::Pcapng(_) => CaptureFormat::Pcapng,
        }
    }

    /// Reads the record or block at the start of `rest`. `Damage::Cut` when `rest`
    /// ends inside it: a longer `rest` may still read, and nothing here decides
    /// otherwise from bytes that are not there, so a stream read piece by piece sees
    /// what the whole file shows.
    #[inline]
    fn step<'a>(&mut self, rest: &'a [u8]) -> Result<Step<'a>, Damage> {
        match self {
            Reading::Legacy(header) => legacy::record(rest, header),
            Reading::Pcapng(reader) => reader.step(rest),
        }
    }
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

    /// Numbers `packet`, the next one delivered.
    #[inline]
    fn number<'a>(&mut self, mut packet: Packet<'a>) -> Packet<'a> {
        self.packets = self.packets.saturating_add(1);
        packet.index = self.packets;
        // Some writers put a smaller wire length than captured length; downstream code
        // may rely on `data.len() <= orig_len`.
        let captured = u32::try_from(packet.data.len()).unwrap_or(u32::MAX);
        packet.orig_len = packet.orig_len.max(captured);
        packet
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

/// A captured length no capture tool writes: where the file went corrupt.
fn caplen_too_big(caplen: u32) -> Damage {
    Damage::Corrupt(format!(
        "captured length {caplen} exceeds the maximum of {MAX_CAPLEN}"
    ))
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
