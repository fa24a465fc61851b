//! Walks the record batches of a records field (Produce request, Fetch response) batch
//! header by batch header, without decompressing and without allocating. Magic 2
//! batches are read in full; magic 0/1 message sets are recognised and counted. A
//! trailing batch cut short (brokers cut Fetch responses at the byte limit) is normal and
//! reported as [`Entry::Partial`].

use super::{BodyError, BodyErrorKind};

/// Bytes of a magic-2 batch header, up to and including the record count.
pub const BATCH_HEADER_LEN: usize = 61;
/// base offset (8) + batch length (4): the part not counted in the batch length.
const LOG_OVERHEAD: usize = 12;
/// Offset of the magic byte, the same for batches and legacy messages.
const MAGIC_AT: usize = 16;
/// Smallest legacy message (magic 0): crc, magic, attributes, key and value lengths.
const LEGACY_MIN: [usize; 2] = [14, 22];

/// A compression codec, from the low three bits of a batch's attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
    /// Codes 5-7, which no Kafka version defines.
    Unknown(u8),
}

impl Codec {
    pub fn from_id(id: u8) -> Codec {
        match id & 0x07 {
            0 => Codec::None,
            1 => Codec::Gzip,
            2 => Codec::Snappy,
            3 => Codec::Lz4,
            4 => Codec::Zstd,
            n => Codec::Unknown(n),
        }
    }

    /// The number Kafka gives the codec (tshark's `kafka.batch_codec`).
    pub fn id(self) -> u8 {
        match self {
            Codec::None => 0,
            Codec::Gzip => 1,
            Codec::Snappy => 2,
            Codec::Lz4 => 3,
            Codec::Zstd => 4,
            Codec::Unknown(n) => n,
        }
    }

    /// Kafka's `compression.type` name.
    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Gzip => "gzip",
            Codec::Snappy => "snappy",
            Codec::Lz4 => "lz4",
            Codec::Zstd => "zstd",
            Codec::Unknown(_) => "unknown",
        }
    }
}

/// The set of codecs seen, as a bit per codec id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct CodecSet(pub u8);

impl CodecSet {
    pub fn insert(&mut self, c: Codec) {
        self.0 |= 1 << c.id();
    }

    pub fn contains(&self, c: Codec) -> bool {
        self.0 & (1 << c.id()) != 0
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    pub fn union(self, other: CodecSet) -> CodecSet {
        CodecSet(self.0 | other.0)
    }

    /// The codecs in id order.
    pub fn iter(self) -> impl Iterator<Item = Codec> {
        (0..8u8)
            .filter(move |i| self.0 & (1 << i) != 0)
            .map(Codec::from_id)
    }
}

/// What a batch's timestamps mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// A complete magic-2 record batch. `bytes` is the whole batch, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batch<'a> {
    pub base_offset: i64,
    /// Bytes after the length field (the batch is `12 + batch_length` bytes).
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    /// CRC-32C of everything from the attributes on, as sent; see [`Batch::crc_ok`].
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
    pub bytes: &'a [u8],
}

impl<'a> Batch<'a> {
    pub fn codec(&self) -> Codec {
        Codec::from_id(self.attributes as u8)
    }

    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & 0x08 != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }

    pub fn has_delete_horizon(&self) -> bool {
        self.attributes & 0x40 != 0
    }

    /// `base_offset + last_offset_delta`: the offset of the batch's last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .wrapping_add(i64::from(self.last_offset_delta))
    }

    /// The records section (compressed when [`Batch::codec`] is not `None`).
    pub fn records_data(&self) -> &'a [u8] {
        self.bytes.get(BATCH_HEADER_LEN..).unwrap_or(&[])
    }

    /// Whether the CRC matches the bytes. Not checked while walking: it costs a pass
    /// over every byte.
    pub fn crc_ok(&self) -> bool {
        self.bytes
            .get(21..)
            .is_some_and(|covered| crc32c::crc32c(covered) == self.crc)
    }
}

/// A magic 0 or 1 message (the pre-0.11 format). Only counted, never opened: a
/// compressed one wraps more messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyMessage<'a> {
    pub offset: i64,
    pub magic: i8,
    pub codec: Codec,
    pub bytes: &'a [u8],
}

/// One step of a walk over a records field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry<'a> {
    Batch(Batch<'a>),
    Legacy(LegacyMessage<'a>),
    /// A trailing batch or message cut short: `have` bytes of it are present, of
    /// `need` when its length field was present. Always the last entry.
    Partial {
        offset: usize,
        have: usize,
        need: Option<usize>,
    },
}

/// Iterator over the batches of a records field; see [`batches`].
#[derive(Debug, Clone)]
pub struct Batches<'a> {
    data: &'a [u8],
    pos: usize,
    done: bool,
}

/// Walks the batches in `records`. Yields each complete batch or legacy message, then a
/// [`Entry::Partial`] for trailing bytes too short to be one, or a single error (with
/// the offset in `records`) for bytes that cannot be a batch, after which it stops.
pub fn batches(records: &[u8]) -> Batches<'_> {
    Batches {
        data: records,
        pos: 0,
        done: false,
    }
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().unwrap_or([0; 4]))
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]))
}

impl<'a> Batches<'a> {
    fn fail(
        &mut self,
        field: &'static str,
        offset: usize,
        kind: BodyErrorKind,
    ) -> Option<Result<Entry<'a>, BodyError>> {
        self.done = true;
        Some(Err(BodyError {
            field,
            offset,
            kind,
        }))
    }
}

impl<'a> Iterator for Batches<'a> {
    type Item = Result<Entry<'a>, BodyError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.data.len() {
            return None;
        }
        let at = self.pos;
        let rest = &self.data[at..];
        let partial = |need| {
            Some(Ok(Entry::Partial {
                offset: at,
                have: rest.len(),
                need,
            }))
        };
        if rest.len() < LOG_OVERHEAD {
            self.done = true;
            return partial(None);
        }
        let length = be_i32(rest, 8);
        let magic = rest.get(MAGIC_AT).map(|&m| m as i8);
        let min_len = match magic {
            Some(2) | None => BATCH_HEADER_LEN - LOG_OVERHEAD,
            Some(m @ (0 | 1)) => LEGACY_MIN[m as usize],
            Some(m) => return self.fail("batch.magic", at + MAGIC_AT, BodyErrorKind::BadMagic(m)),
        };
        if length < 0 || (length as usize) < min_len {
            return self.fail(
                "batch.batch_length",
                at + 8,
                BodyErrorKind::BadLength(length.into()),
            );
        }
        let total = LOG_OVERHEAD + length as usize;
        if total > rest.len() {
            self.done = true;
            return partial(Some(total));
        }
        let bytes = &rest[..total];
        self.pos += total;
        if magic != Some(2) {
            let magic = bytes[MAGIC_AT] as i8;
            return Some(Ok(Entry::Legacy(LegacyMessage {
                offset: be_i64(bytes, 0),
                magic,
                codec: Codec::from_id(bytes[17]),
                bytes,
            })));
        }
        Some(Ok(Entry::Batch(Batch {
            base_offset: be_i64(bytes, 0),
            batch_length: length,
            partition_leader_epoch: be_i32(bytes, 12),
            magic: 2,
            crc: be_i32(bytes, 17) as u32,
            attributes: be_i16(bytes, 21),
            last_offset_delta: be_i32(bytes, 23),
            base_timestamp: be_i64(bytes, 27),
            max_timestamp: be_i64(bytes, 35),
            producer_id: be_i64(bytes, 43),
            producer_epoch: be_i16(bytes, 51),
            base_sequence: be_i32(bytes, 53),
            record_count: be_i32(bytes, 57),
            bytes,
        })))
    }
}

/// The facts of one partition's records field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordsSummary {
    /// Complete magic-2 batches, control batches included.
    pub batches: u32,
    /// Records in complete non-control batches (their record count field), plus
    /// legacy messages.
    pub records: u64,
    /// Bytes of the complete batches and legacy messages.
    pub bytes: u64,
    pub codecs: CodecSet,
    /// Smallest base offset of a complete batch (or offset of a legacy message).
    pub first_offset: Option<i64>,
    /// Largest `base_offset + last_offset_delta` of a complete batch.
    pub last_offset: Option<i64>,
    /// Control batches (transaction markers) and the records in them.
    pub control_batches: u32,
    pub control_records: u64,
    pub transactional_batches: u32,
    /// Magic 0/1 messages (counted in `records` too).
    pub legacy_messages: u32,
    /// Bytes of a trailing batch cut short; 0 when there is none.
    pub partial_bytes: u32,
    /// What stopped the walk early, with the offset from the start of the body (or of
    /// the records field, from [`summarize`]).
    pub error: Option<BodyError>,
}

impl RecordsSummary {
    /// A trailing batch was cut short (normal in Fetch responses).
    pub fn partial(&self) -> bool {
        self.partial_bytes > 0
    }

    fn offsets(&mut self, first: i64, last: i64) {
        self.first_offset = Some(self.first_offset.map_or(first, |f| f.min(first)));
        self.last_offset = Some(self.last_offset.map_or(last, |l| l.max(last)));
    }

    /// Adds another partition's summary (for per-exchange totals). Keeps the first
    /// error.
    pub fn merge(&mut self, o: &RecordsSummary) {
        self.batches = self.batches.saturating_add(o.batches);
        self.records = self.records.saturating_add(o.records);
        self.bytes = self.bytes.saturating_add(o.bytes);
        self.codecs = self.codecs.union(o.codecs);
        if let (Some(f), Some(l)) = (o.first_offset, o.last_offset) {
            self.offsets(f, l);
        }
        self.control_batches = self.control_batches.saturating_add(o.control_batches);
        self.control_records = self.control_records.saturating_add(o.control_records);
        self.transactional_batches = self
            .transactional_batches
            .saturating_add(o.transactional_batches);
        self.legacy_messages = self.legacy_messages.saturating_add(o.legacy_messages);
        self.partial_bytes = self.partial_bytes.saturating_add(o.partial_bytes);
        self.error = self.error.or(o.error);
    }
}

/// Summarises a records field. Never fails: a corrupt batch ends the walk and is
/// reported in [`RecordsSummary::error`] (offsets relative to `records`).
pub fn summarize(records: &[u8]) -> RecordsSummary {
    summarize_at(records, 0)
}

/// As [`summarize`], with error offsets shifted by `base` (the records field's
/// offset in the body).
pub(crate) fn summarize_at(records: &[u8], base: usize) -> RecordsSummary {
    let mut s = RecordsSummary::default();
    for entry in batches(records) {
        match entry {
            Ok(Entry::Batch(b)) => {
                s.batches += 1;
                s.bytes += b.bytes.len() as u64;
                s.codecs.insert(b.codec());
                let count = u64::try_from(b.record_count).unwrap_or(0);
                if b.is_control() {
                    s.control_batches += 1;
                    s.control_records += count;
                } else {
                    s.records += count;
                }
                if b.is_transactional() {
                    s.transactional_batches += 1;
                }
                s.offsets(b.base_offset, b.last_offset());
            }
            Ok(Entry::Legacy(m)) => {
                s.legacy_messages += 1;
                s.records += 1;
                s.bytes += m.bytes.len() as u64;
                s.codecs.insert(m.codec);
                s.offsets(m.offset, m.offset);
            }
            Ok(Entry::Partial { have, .. }) => {
                s.partial_bytes = u32::try_from(have).unwrap_or(u32::MAX);
            }
            Err(mut e) => {
                e.offset += base;
                s.error = Some(e);
            }
        }
    }
    s
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A hand-built magic-2 batch with no compression and one record, field by field.
    pub(crate) fn one_record_batch() -> Vec<u8> {
        let mut b = vec![];
        b.extend(100i64.to_be_bytes()); // base offset 100
        b.extend(0i32.to_be_bytes()); // batch length, patched below
        b.extend(5i32.to_be_bytes()); // partition leader epoch 5
        b.push(2); // magic 2
        b.extend(0u32.to_be_bytes()); // crc, patched below
        b.extend(0x0010i16.to_be_bytes()); // attributes: none, create time, transactional
        b.extend(0i32.to_be_bytes()); // last offset delta 0
        b.extend(1_700_000_000_000i64.to_be_bytes()); // base timestamp
        b.extend(1_700_000_000_001i64.to_be_bytes()); // max timestamp
        b.extend(42i64.to_be_bytes()); // producer id 42
        b.extend(1i16.to_be_bytes()); // producer epoch 1
        b.extend(7i32.to_be_bytes()); // base sequence 7
        b.extend(1i32.to_be_bytes()); // record count 1
        // The record, varints zigzag-encoded.
        let record = [
            0x00, // attributes
            0x02, // timestamp delta 1
            0x00, // offset delta 0
            0x02, b'k', // key "k"
            0x02, b'v', // value "v"
            0x02, // one header
            0x06, b'i', b'd', b'x', // header key "idx"
            0x02, b'0', // header value "0"
        ];
        b.push((record.len() as u8) * 2); // record length
        b.extend(record);
        let len = (b.len() - 12) as i32;
        b[8..12].copy_from_slice(&len.to_be_bytes());
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        b
    }

    #[test]
    fn reads_a_batch_header() {
        let b = one_record_batch();
        let entries: Vec<_> = batches(&b).collect();
        assert_eq!(entries.len(), 1);
        let Ok(Entry::Batch(batch)) = entries[0] else {
            panic!("{entries:?}")
        };
        assert_eq!(batch.base_offset, 100);
        assert_eq!(batch.batch_length as usize, b.len() - 12);
        assert_eq!(batch.partition_leader_epoch, 5);
        assert_eq!(batch.codec(), Codec::None);
        assert_eq!(batch.timestamp_type(), TimestampType::CreateTime);
        assert!(batch.is_transactional() && !batch.is_control());
        assert_eq!(batch.last_offset(), 100);
        assert_eq!(
            (batch.producer_id, batch.producer_epoch, batch.base_sequence),
            (42, 1, 7)
        );
        assert_eq!(batch.record_count, 1);
        assert!(batch.crc_ok());
        let s = summarize(&b);
        assert_eq!((s.batches, s.records, s.bytes), (1, 1, b.len() as u64));
        assert_eq!((s.first_offset, s.last_offset), (Some(100), Some(100)));
        assert_eq!(s.transactional_batches, 1);
        assert!(!s.partial() && s.error.is_none());
    }

    #[test]
    fn partial_trailing_batch_is_counted_not_failed() {
        let one = one_record_batch();
        let mut two = one.clone();
        two.extend(&one);
        for cut in one.len() + 1..two.len() {
            let s = summarize(&two[..cut]);
            assert_eq!(s.batches, 1, "cut {cut}");
            assert_eq!(s.partial_bytes as usize, cut - one.len(), "cut {cut}");
            assert!(s.error.is_none(), "cut {cut}");
        }
        // Every prefix: no panic, at most one partial.
        for cut in 0..=two.len() {
            let _ = batches(&two[..cut]).count();
        }
    }

    #[test]
    fn corrupt_batches_stop_the_walk() {
        let mut b = one_record_batch();
        b[16] = 7; // magic 7
        let s = summarize(&b);
        assert_eq!(s.error.unwrap().kind, BodyErrorKind::BadMagic(7));
        let mut b = one_record_batch();
        b[8..12].copy_from_slice(&10i32.to_be_bytes()); // shorter than a header
        let e = summarize(&b).error.unwrap();
        assert_eq!(
            (e.field, e.offset, e.kind),
            ("batch.batch_length", 8, BodyErrorKind::BadLength(10))
        );
        let mut b = one_record_batch();
        b[8..12].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(summarize(&b).error.is_some());
        let mut b = one_record_batch();
        b[30] ^= 1;
        assert!(!matches!(batches(&b).next(), Some(Ok(Entry::Batch(x))) if x.crc_ok()));
    }

    #[test]
    fn legacy_messages_are_counted() {
        // Two magic-1 messages: offset, size, crc, magic, attributes, timestamp, key, value.
        let mut set = vec![];
        for (offset, codec) in [(3i64, 0u8), (4, 1)] {
            set.extend(offset.to_be_bytes());
            set.extend(24i32.to_be_bytes()); // message size
            set.extend(0u32.to_be_bytes()); // crc
            set.push(1); // magic 1
            set.push(codec); // attributes: codec
            set.extend(0i64.to_be_bytes()); // timestamp
            set.extend((-1i32).to_be_bytes()); // null key
            set.extend(2i32.to_be_bytes()); // value length 2
            set.extend(b"hi");
        }
        let s = summarize(&set);
        assert_eq!((s.legacy_messages, s.records, s.batches), (2, 2, 0));
        assert_eq!((s.first_offset, s.last_offset), (Some(3), Some(4)));
        assert!(s.codecs.contains(Codec::None) && s.codecs.contains(Codec::Gzip));
        assert!(s.error.is_none());
    }

    #[test]
    fn codec_set() {
        let mut c = CodecSet::default();
        assert!(c.is_empty());
        c.insert(Codec::Zstd);
        c.insert(Codec::Gzip);
        assert_eq!(c.iter().collect::<Vec<_>>(), vec![Codec::Gzip, Codec::Zstd]);
        assert_eq!(Codec::from_id(0x0b), Codec::Lz4);
        assert_eq!(Codec::from_id(6), Codec::Unknown(6));
    }
}
