//! The legacy libpcap format: a 24-byte file header, then 16-byte record headers
//! (24 bytes in the Kuznetzov "modified" variant) each followed by the packet.
//! pcap-parser reads the header and the records; this module turns them into packets
//! and, where pcap-parser only says "incomplete", says what is missing or wrong.

use pcap_parser::nom;
use pcap_parser::{
    LegacyPcapBlock, PcapError, parse_pcap_frame, parse_pcap_frame_be, parse_pcap_frame_modified,
    parse_pcap_header,
};

use super::{CaptureError, CaptureFormat, Damage, Endian, MAX_CAPLEN, Packet, Step};

pub(super) const HEADER_LEN: usize = 24;

/// The Kuznetzov magic 0xa1b2cd34 of a big-endian file, read little-endian.
const MODIFIED_BE_MAGIC: u32 = 0x34cd_b2a1;

/// How the records are laid out: pcap-parser has a parser for each but the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Little,
    Big,
    ModifiedLittle,
    ModifiedBig,
}

/// What the file header tells about every record.
#[derive(Debug)]
pub(super) struct Header {
    layout: Layout,
    nanos: bool,
    link_type: u32,
}

impl Header {
    /// `Ok(None)` when `magic` is no legacy pcap magic at all.
    pub(super) fn parse(bytes: &[u8], magic: [u8; 4]) -> Result<Option<Header>, CaptureError> {
        let too_short = || CaptureError::TooShort {
            what: "pcap file header",
            len: bytes.len(),
            needed: HEADER_LEN,
        };
        // pcap-parser 0.17 knows no big-endian modified file: parse_pcap_header has
        // no arm for its magic, and parse_pcap_frame_modified is little-endian only.
        // Its header is the big-endian microsecond header with another magic.
        let modified_big = u32::from_le_bytes(magic) == MODIFIED_BE_MAGIC;
        let parse = |head: &[u8]| match parse_pcap_header(head) {
            Ok((_, header)) => Ok(Some(header)),
            Err(nom::Err::Incomplete(_)) => Err(too_short()),
            Err(_) => Ok(None),
        };
        let parsed = if modified_big {
            let mut head = *bytes.first_chunk::<HEADER_LEN>().ok_or_else(too_short)?;
            head[..4].copy_from_slice(&0xa1b2_c3d4u32.to_be_bytes());
            parse(&head)?
        } else {
            parse(bytes)?
        };
        let Some(header) = parsed else {
            return Ok(None);
        };
        let layout = match (header.is_bigendian(), header.is_modified_format()) {
            _ if modified_big => Layout::ModifiedBig,
            (false, false) => Layout::Little,
            (true, false) => Layout::Big,
            (_, true) => Layout::ModifiedLittle,
        };
        Ok(Some(Header {
            layout,
            nanos: header.is_nanosecond_precision(),
            // The top bits may carry FCS information, which libpcap masks off the
            // same way (LT_LINKTYPE).
            link_type: header.network.0 as u32 & 0x03FF_FFFF,
        }))
    }

    pub(super) fn format(&self) -> CaptureFormat {
        CaptureFormat::Pcap {
            nanos: self.nanos,
            big_endian: self.endian() == Endian::Big,
        }
    }

    fn endian(&self) -> Endian {
        match self.layout {
            Layout::Little | Layout::ModifiedLittle => Endian::Little,
            Layout::Big | Layout::ModifiedBig => Endian::Big,
        }
    }

    fn record_header_len(&self) -> usize {
        match self.layout {
            Layout::Little | Layout::Big => 16,
            Layout::ModifiedLittle | Layout::ModifiedBig => 24,
        }
    }
}

type Parsed<'a> = Result<(&'a [u8], LegacyPcapBlock<'a>), nom::Err<PcapError<&'a [u8]>>>;

/// Parses the record at the start of `rest`: the packet and the record's length.
#[inline]
pub(super) fn record<'a>(rest: &'a [u8], h: &Header) -> Result<Step<'a>, Damage> {
    let parsed: Parsed<'a> = match h.layout {
        Layout::Little => parse_pcap_frame(rest),
        Layout::Big => parse_pcap_frame_be(rest),
        Layout::ModifiedLittle => parse_pcap_frame_modified(rest),
        // See Header::parse: the big-endian fields, and the packet 8 bytes further on.
        Layout::ModifiedBig => parse_pcap_frame_be(rest).and_then(|(_, block)| {
            let data = rest.get(24..).and_then(|r| r.get(..block.caplen as usize));
            let data = data.ok_or(nom::Err::Incomplete(nom::Needed::Unknown))?;
            Ok((&rest[24 + data.len()..], LegacyPcapBlock { data, ..block }))
        }),
    };
    let Ok((_, block)) = parsed else {
        return Err(unreadable(rest, h));
    };
    if block.caplen > MAX_CAPLEN {
        return Err(super::caplen_too_big(block.caplen));
    }
    // ts_sec: seconds, unsigned as in libpcap and Wireshark; then ts_usec or ts_nsec.
    let frac_ns = if h.nanos {
        i64::from(block.ts_usec)
    } else {
        i64::from(block.ts_usec) * 1_000
    };
    // Cannot overflow: (2^32 - 1) * 10^9 + (2^32 - 1) * 10^3 < 2^63.
    let ts_ns = i64::from(block.ts_sec) * 1_000_000_000 + frac_ns;
    let packet = Packet {
        index: 0,
        ts_ns,
        link_type: h.link_type,
        data: block.data,
        orig_len: block.origlen,
    };
    Ok(Step::Packet(
        packet,
        h.record_header_len() + block.data.len(),
    ))
}

/// Why pcap-parser could not read the record at the start of `rest` (it says only
/// "incomplete"): its header or its packet runs past the end of `rest`, or its
/// captured length is beyond belief.
#[cold]
fn unreadable(rest: &[u8], h: &Header) -> Damage {
    if rest.len() < h.record_header_len() {
        return Damage::Cut("record header");
    }
    match h.endian().u32(rest, 8) {
        Some(caplen) if caplen > MAX_CAPLEN => super::caplen_too_big(caplen),
        _ => Damage::Cut("packet"),
    }
}
