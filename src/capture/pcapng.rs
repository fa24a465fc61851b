//! pcapng: a sequence of blocks `type, total length, body, total length`, grouped into
//! sections (each opened by a Section Header Block with its own byte order) whose
//! Interface Description Blocks give the link type and timestamp unit of the packets.
//!
//! Each block is framed here (both length fields checked, so that a bad one is named
//! with its offset and reason), then its body is parsed by pcap-parser's block parser
//! for its type (section header, interface description, simple packet); the
//! interfaces' timestamp units become nanoseconds here. Enhanced and obsolete packet
//! blocks are read by hand: see [`packet_fields`].

use pcap_parser::{
    InterfaceDescriptionBlock, PcapError, SimplePacketBlock, nom,
    parse_interfacedescriptionblock_be, parse_interfacedescriptionblock_le,
    parse_sectionheaderblock, parse_simplepacketblock_be, parse_simplepacketblock_le,
};

use super::{CaptureError, Damage, Endian, MAX_CAPLEN, Packet, Step};

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
/// An EPB's fixed fields: interface, timestamp (2), captured and original length.
const EPB_FIELDS: usize = 20;

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
#[derive(Debug)]
pub(super) struct Reader {
    endian: Endian,
    interfaces: Vec<Interface>,
    /// SPBs carry no timestamp and reuse the previous packet's.
    last_ts_ns: i64,
}

/// One framed block: its type, the whole block, and the body between the two length
/// fields.
struct Block<'a> {
    kind: u32,
    endian: Endian,
    bytes: &'a [u8],
    body: &'a [u8],
}

/// The fields of a packet block (EPB or the obsolete PB) kapture uses.
struct PacketFields<'a> {
    if_id: u32,
    ts: u64,
    caplen: u32,
    orig_len: u32,
    /// The bytes after the fixed fields: the packet, its padding, options.
    data: &'a [u8],
}

type Parsed<'a, T> = Result<(&'a [u8], T), nom::Err<PcapError<&'a [u8]>>>;

impl Reader {
    pub(super) fn new() -> Reader {
        Reader {
            endian: Endian::Little,
            interfaces: Vec::new(),
            last_ts_ns: 0,
        }
    }

    /// Reads the block at the start of `rest`.
    #[inline]
    pub(super) fn step<'a>(&mut self, rest: &'a [u8]) -> Result<Step<'a>, Damage> {
        let b = frame(rest, self.endian)?;
        let len = b.bytes.len();
        match b.kind {
            SHB => self.section(&b)?,
            IDB => {
                let iface = interface(&b)?;
                self.interfaces.push(iface);
            }
            EPB | PB => {
                let packet = self.enhanced(&b)?;
                self.last_ts_ns = packet.ts_ns;
                return Ok(Step::Packet(packet, len));
            }
            SPB => return Ok(Step::Packet(self.simple(&b)?, len)),
            // Statistics, name resolution, secrets, custom blocks: nothing for us.
            _ => {}
        }
        Ok(Step::Skip(len))
    }

    /// A new section: new byte order, and its interfaces start from zero.
    fn section(&mut self, b: &Block<'_>) -> Result<(), Damage> {
        // Body: byte-order magic (4), major version (2), minor (2), section length
        // (8), options. The byte-order magic was checked when the block was framed,
        // so pcap-parser fails only on a body too short for the fixed fields.
        let (_, shb) = parse_sectionheaderblock(b.bytes)
            .map_err(|_| Damage::Corrupt("section header block too short".into()))?;
        if shb.major_version != 1 {
            return Err(Damage::Corrupt(format!(
                "unsupported pcapng major version {}",
                shb.major_version
            )));
        }
        self.endian = b.endian;
        self.interfaces.clear();
        Ok(())
    }

    /// EPB and the obsolete PB: the same fields, except that PB's interface id is
    /// 16 bits followed by a 16-bit drop count.
    fn enhanced<'a>(&self, b: &Block<'a>) -> Result<Packet<'a>, Damage> {
        let fields = packet_fields(b)?;
        let iface = self.interface(fields.if_id)?;
        if fields.caplen > MAX_CAPLEN {
            return Err(super::caplen_too_big(fields.caplen));
        }
        // The block itself is complete, so a packet running past it is corruption,
        // not a cut file.
        let data = fields.data.get(..fields.caplen as usize).ok_or_else(|| {
            Damage::Corrupt(format!(
                "captured length {} exceeds its block of {} bytes",
                fields.caplen,
                b.bytes.len()
            ))
        })?;
        Ok(Packet {
            index: 0,
            ts_ns: iface.ts_ns(fields.ts),
            link_type: iface.link_type,
            data,
            orig_len: fields.orig_len,
        })
    }

    /// SPB: interface 0, no timestamp, captured length implied by the block.
    fn simple<'a>(&self, b: &Block<'a>) -> Result<Packet<'a>, Damage> {
        let parsed: Parsed<'a, SimplePacketBlock<'a>> = match b.endian {
            Endian::Little => parse_simplepacketblock_le(b.bytes),
            Endian::Big => parse_simplepacketblock_be(b.bytes),
        };
        let (_, spb) =
            parsed.map_err(|_| Damage::Corrupt("simple packet block too short".into()))?;
        let iface = self.interface(0)?;
        let mut caplen = spb.data.len().min(spb.origlen as usize);
        if iface.snaplen != 0 {
            caplen = caplen.min(iface.snaplen as usize);
        }
        Ok(Packet {
            index: 0,
            ts_ns: self.last_ts_ns,
            link_type: iface.link_type,
            data: spb.data.get(..caplen).unwrap_or_default(),
            orig_len: spb.origlen,
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

/// The fixed fields of an EPB or of the obsolete PB, read by hand. pcap-parser 0.17
/// does not parse PBs (they read as unknown blocks), and its EPB parser does not fit
/// the hot path: it parses options into a `Vec` (an allocation per packet that has
/// any, e.g. epb_flags), fails a damaged block without saying why, and on a 200 MB
/// pcapng it made the read pass 20-25% slower (`examples/slice_ceiling.rs`, 17.8 ms
/// by hand against 22.0 ms through `parse_enhancedpacketblock_le`, best of 31).
fn packet_fields<'a>(b: &Block<'a>) -> Result<PacketFields<'a>, Damage> {
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
    let ts = u64::from(field(4)?) << 32 | u64::from(field(8)?);
    Ok(PacketFields {
        if_id,
        ts,
        caplen: field(12)?,
        orig_len: field(16)?,
        data: b.body.get(EPB_FIELDS..).unwrap_or_default(),
    })
}

/// What an Interface Description Block says: link type and snap length through
/// pcap-parser, the timestamp unit and offset from its options. (pcap-parser's own
/// `if_tsoffset` reads the value little-endian in every section, and may read the
/// padding of a short one.)
fn interface(b: &Block<'_>) -> Result<Interface, Damage> {
    let parsed: Parsed<'_, InterfaceDescriptionBlock<'_>> = match b.endian {
        Endian::Little => parse_interfacedescriptionblock_le(b.bytes),
        Endian::Big => parse_interfacedescriptionblock_be(b.bytes),
    };
    let (_, idb) =
        parsed.map_err(|_| Damage::Corrupt("interface description block too short".into()))?;
    let mut iface = Interface {
        link_type: u32::from(idb.linktype.0 as u16),
        snaplen: idb.snaplen,
        scale: TsScale::from_tsresol(6), // the default: microseconds
        offset_ns: 0,
    };
    let values = idb
        .options
        .iter()
        .take_while(|o| o.code.0 != OPT_ENDOFOPT)
        .filter_map(|o| Some((o.code.0, o.as_bytes().ok()?)));
    for (code, value) in values {
        match code {
            OPT_IF_TSRESOL => {
                if let Some(&r) = value.first() {
                    iface.scale = TsScale::from_tsresol(r);
                }
            }
            OPT_IF_TSOFFSET => {
                if let Some(secs) = b.endian.i64(value, 0) {
                    iface.offset_ns = i128::from(secs) * 1_000_000_000;
                }
            }
            _ => {}
        }
    }
    Ok(iface)
}

/// The error for a file whose first block, its section header, cannot be read.
pub(super) fn first_block_error(bytes: &[u8], damage: Damage) -> CaptureError {
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
    Ok(Block {
        kind,
        endian,
        bytes: block,
        body: block.get(8..len - 4).unwrap_or_default(),
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
