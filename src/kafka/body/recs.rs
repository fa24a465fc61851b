//! Record-level reading of one magic-2 batch: decompresses its records section (gzip,
//! snappy raw or in the xerial framing Java clients use, lz4 frames, zstd) under a hard
//! cap per batch and a running budget (the share of the run's budget that the caller
//! hands this connection; see `pipeline::analyse_connections`), then walks the varint-encoded
//! records and hands each record header, with its record's offset, to a callback. Keys
//! and values are stepped over, never exposed. A decompression bomb stops at the cap and
//! is reported as [`HeaderWalk::capped`].

use std::io::Read;

use super::records::{BATCH_HEADER_LEN, Batch, Codec};
use super::{BodyError, BodyErrorKind};

/// Caps on decompression, and the scratch buffer decompressed bytes go into. The
/// budget belongs to this value alone: nothing else spends it, so what a walk decodes
/// never depends on other threads. A run-wide budget is split by the caller, in output
/// order ([`Limits::set_budget`] before each connection). Clones copy the caps and the
/// budget; each gets its own scratch buffer, reused across calls.
#[derive(Debug)]
pub struct Limits {
    /// Most bytes one batch may decompress to; the rest of a bigger batch is not read.
    pub max_batch_bytes: usize,
    /// Bytes still allowed to be decompressed through this value.
    budget: u64,
    scratch: Vec<u8>,
}

impl Limits {
    pub fn new(max_batch_bytes: usize, budget_bytes: u64) -> Limits {
        Limits {
            max_batch_bytes,
            budget: budget_bytes,
            scratch: Vec::new(),
        }
    }

    /// Bytes that may still be decompressed.
    pub fn budget_left(&self) -> u64 {
        self.budget
    }

    /// Replaces the budget (the scratch buffer is kept).
    pub fn set_budget(&mut self, budget_bytes: u64) {
        self.budget = budget_bytes;
    }

    /// Takes up to `want` bytes from the budget; returns what was granted.
    fn reserve(&mut self, want: u64) -> u64 {
        let granted = self.budget.min(want);
        self.budget -= granted;
        granted
    }
}

impl Clone for Limits {
    /// The same caps and budget; the scratch buffer is not copied.
    fn clone(&self) -> Limits {
        Limits::new(self.max_batch_bytes, self.budget)
    }
}

impl Default for Limits {
    /// 16 MiB a batch (Kafka's default `message.max.bytes` is 1 MiB), 1 GiB a run.
    fn default() -> Limits {
        Limits::new(16 << 20, 1 << 30)
    }
}

/// One record header. `key` is a UTF-8 string in every Kafka client, but the protocol
/// does not check it, so it is handed on as bytes; see [`RecordHeader::key_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader<'a> {
    /// The offset of the record carrying the header: base offset + offset delta.
    pub offset: i64,
    pub key: &'a [u8],
    pub value: Option<&'a [u8]>,
}

impl<'a> RecordHeader<'a> {
    pub fn key_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.key).ok()
    }
}

/// Which limit stopped a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    /// [`Limits::max_batch_bytes`].
    Batch,
    /// The budget ran out (see [`Limits::budget_left`]).
    Budget,
}

/// What one call read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeaderWalk {
    /// Records read in full.
    pub records: u32,
    pub headers: u32,
    /// Bytes decompressed (0 for an uncompressed batch), taken from the budget.
    pub decompressed_bytes: u64,
    /// Set when a limit stopped decompression: only the records that fit before it were
    /// read. A decompression bomb shows up here.
    pub capped: Option<Cap>,
    /// Corrupt data (offset within the records section, decompressed when compressed)
    /// that ended the walk.
    pub error: Option<BodyError>,
}

/// Reads the records of `batch` and calls `f` for every record header, in order.
/// Uncompressed batches are read in place; compressed ones are decompressed into the
/// scratch buffer of `limits`, at most `max_batch_bytes`, and no more than its budget
/// has left.
///
/// Never fails as a whole: a limit that stopped decompression is in
/// [`HeaderWalk::capped`], corrupt data in [`HeaderWalk::error`] (the headers before it
/// have been handed to `f`); both can be set.
pub fn for_each_record_header<F>(batch: &Batch<'_>, limits: &mut Limits, mut f: F) -> HeaderWalk
where
    F: FnMut(&RecordHeader<'_>),
{
    let mut walk = HeaderWalk::default();
    if batch.magic != 2 {
        walk.error = Some(BodyError {
            field: "batch.magic",
            offset: 16,
            kind: BodyErrorKind::BadMagic(batch.magic),
        });
        return walk;
    }
    let compressed = batch.records_data();
    let codec = batch.codec();
    let data: &[u8] = if codec == Codec::None {
        compressed
    } else {
        let want = u64::try_from(limits.max_batch_bytes).unwrap_or(u64::MAX);
        let granted = limits.reserve(want);
        let (cap, which) = if granted < want {
            (granted as usize, Cap::Budget)
        } else {
            (limits.max_batch_bytes, Cap::Batch)
        };
        limits.scratch.clear();
        let result = decompress(codec, compressed, &mut limits.scratch, cap);
        limits.scratch.truncate(cap);
        walk.decompressed_bytes = limits.scratch.len() as u64;
        // Give back what this batch did not use.
        limits.budget += granted - walk.decompressed_bytes;
        match result {
            Ok(true) => walk.capped = Some(which),
            Ok(false) => {}
            Err(kind) => {
                walk.error = Some(BodyError {
                    field: "batch.records",
                    offset: BATCH_HEADER_LEN,
                    kind,
                });
                return walk;
            }
        }
        &limits.scratch
    };
    if let Err(e) = walk_records(batch, data, &mut walk, &mut f) {
        walk.error = Some(e);
    }
    walk
}

/// Decompresses `input` into `out` (empty), stopping once it holds more than `cap`
/// bytes. Returns whether the data went past `cap`.
fn decompress(
    codec: Codec,
    input: &[u8],
    out: &mut Vec<u8>,
    cap: usize,
) -> Result<bool, BodyErrorKind> {
    let corrupt = |_| BodyErrorKind::Decompress(codec);
    match codec {
        Codec::None => {
            out.extend_from_slice(&input[..input.len().min(cap.saturating_add(1))]);
            Ok(out.len() > cap)
        }
        Codec::Gzip => read_capped(flate2::read::GzDecoder::new(input), out, cap).map_err(corrupt),
        Codec::Lz4 => {
            read_capped(lz4_flex::frame::FrameDecoder::new(input), out, cap).map_err(corrupt)
        }
        Codec::Zstd => {
            // A fresh decoder reserves nothing up front; the window it keeps grows with
            // what it decodes, which `read_capped` bounds.
            let dec = ruzstd::decoding::StreamingDecoder::new(input)
                .map_err(|_| BodyErrorKind::Decompress(codec))?;
            read_capped(dec, out, cap).map_err(corrupt)
        }
        Codec::Snappy => snappy(input, out, cap),
        Codec::Unknown(n) => Err(BodyErrorKind::UnknownCodec(n)),
    }
}

fn read_capped<R: Read>(r: R, out: &mut Vec<u8>, cap: usize) -> std::io::Result<bool> {
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    r.take(limit).read_to_end(out)?;
    Ok(out.len() > cap)
}

/// The header snappy-java writes before its blocks (magic, version 1, compatible 1).
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_LEN: usize = 16;

/// Snappy as Kafka uses it: the xerial framing (`\x82SNAPPY\0`, two `i32` versions, then
/// blocks of `i32` length + raw snappy) from Java clients, or one raw snappy block
/// (librdkafka and others). Raw snappy declares its length up front, so a block that
/// would pass the cap is not decompressed at all.
fn snappy(input: &[u8], out: &mut Vec<u8>, cap: usize) -> Result<bool, BodyErrorKind> {
    let corrupt = BodyErrorKind::Decompress(Codec::Snappy);
    if input.len() >= XERIAL_HEADER_LEN && input.starts_with(XERIAL_MAGIC) {
        let mut pos = XERIAL_HEADER_LEN;
        while pos < input.len() {
            let len_bytes = input.get(pos..pos + 4).ok_or(corrupt)?;
            let len = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]])
                as usize;
            pos += 4;
            let block = input.get(pos..pos.saturating_add(len)).ok_or(corrupt)?;
            pos += len;
            if raw_snappy(block, out, cap)? {
                return Ok(true);
            }
        }
        Ok(false)
    } else {
        raw_snappy(input, out, cap)
    }
}

/// Appends one raw snappy block to `out` unless that would pass `cap`; returns whether
/// it would have.
fn raw_snappy(block: &[u8], out: &mut Vec<u8>, cap: usize) -> Result<bool, BodyErrorKind> {
    let corrupt = |_| BodyErrorKind::Decompress(Codec::Snappy);
    let n = snap::raw::decompress_len(block).map_err(corrupt)?;
    let start = out.len();
    if n > cap - start.min(cap) {
        return Ok(true);
    }
    out.resize(start + n, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(corrupt)?;
    out.truncate(start + written);
    Ok(false)
}

/// A cursor over one batch's records; errors carry offsets within the records section.
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn err(&self, field: &'static str, kind: BodyErrorKind) -> BodyError {
        BodyError {
            field,
            offset: self.pos,
            kind,
        }
    }

    /// A zigzag varint of up to `max_bytes` bytes (5 for int, 10 for long).
    fn varlong(&mut self, field: &'static str, max_bytes: usize) -> Result<i64, BodyError> {
        let mut v: u64 = 0;
        for i in 0..max_bytes {
            let Some(&byte) = self.b.get(self.pos + i) else {
                return Err(self.err(field, BodyErrorKind::Truncated));
            };
            v |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                self.pos += i + 1;
                return Ok((v >> 1) as i64 ^ -((v & 1) as i64));
            }
        }
        Err(self.err(field, BodyErrorKind::BadVarint))
    }

    fn varint(&mut self, field: &'static str) -> Result<i64, BodyError> {
        self.varlong(field, 5)
    }

    /// A varint length then that many bytes; -1 is null.
    fn bytes(&mut self, field: &'static str) -> Result<Option<&'a [u8]>, BodyError> {
        let at = self.pos;
        let n = self.varint(field)?;
        if n == -1 {
            return Ok(None);
        }
        let bad = |kind| BodyError {
            field,
            offset: at,
            kind,
        };
        let n = usize::try_from(n).map_err(|_| bad(BodyErrorKind::BadLength(n)))?;
        if n > self.b.len() - self.pos {
            return Err(bad(BodyErrorKind::Truncated));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(Some(s))
    }
}

fn walk_records<F>(
    batch: &Batch<'_>,
    data: &[u8],
    walk: &mut HeaderWalk,
    f: &mut F,
) -> Result<(), BodyError>
where
    F: FnMut(&RecordHeader<'_>),
{
    let mut c = Cursor { b: data, pos: 0 };
    for _ in 0..batch.record_count.max(0) {
        if c.pos >= data.len() && walk.capped.is_some() {
            break;
        }
        let at = c.pos;
        let len = match c.varint("record.length") {
            Ok(n) => n,
            Err(_) if walk.capped.is_some() => break,
            Err(e) => return Err(e),
        };
        let len = usize::try_from(len).map_err(|_| BodyError {
            field: "record.length",
            offset: at,
            kind: BodyErrorKind::BadLength(len),
        })?;
        let body_at = c.pos;
        if len > data.len() - body_at {
            if walk.capped.is_some() {
                break; // the record runs past the cap
            }
            return Err(BodyError {
                field: "record.length",
                offset: at,
                kind: BodyErrorKind::Truncated,
            });
        }
        let mut r = Cursor {
            b: &data[..body_at + len],
            pos: body_at,
        };
        let _attributes =
            r.b.get(r.pos)
                .ok_or(r.err("record.attributes", BodyErrorKind::Truncated))?;
        r.pos += 1;
        r.varlong("record.timestamp_delta", 10)?;
        let offset_delta = r.varint("record.offset_delta")?;
        r.bytes("record.key")?;
        r.bytes("record.value")?;
        let count_at = r.pos;
        let count = r.varint("record.headers")?;
        let room = r.b.len() - r.pos;
        // A header is at least two one-byte varints.
        if count < 0 || count as u64 * 2 > room as u64 {
            return Err(BodyError {
                field: "record.headers",
                offset: count_at,
                kind: if count < 0 {
                    BodyErrorKind::BadLength(count)
                } else {
                    BodyErrorKind::TooManyElements {
                        count: count as u64,
                        remaining: room,
                    }
                },
            });
        }
        let offset = batch.base_offset.wrapping_add(offset_delta);
        for _ in 0..count {
            let key_at = r.pos;
            let key = r.bytes("header.key")?.ok_or(BodyError {
                field: "header.key",
                offset: key_at,
                kind: BodyErrorKind::UnexpectedNull,
            })?;
            let value = r.bytes("header.value")?;
            f(&RecordHeader { offset, key, value });
            walk.headers += 1;
        }
        c.pos = body_at + len;
        walk.records += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::records::tests::one_record_batch;
    use super::super::records::{Entry, batches};
    use super::*;
    use kafka_protocol::indexmap::IndexMap;
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType as KTs,
    };
    use std::io::Write;

    fn first_batch(b: &[u8]) -> Batch<'_> {
        match batches(b).next() {
            Some(Ok(Entry::Batch(batch))) => batch,
            other => panic!("{other:?}"),
        }
    }

    fn compress(codec: Compression, data: &[u8]) -> Vec<u8> {
        match codec {
            Compression::None => data.to_vec(),
            Compression::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Compression::Snappy => snap::raw::Encoder::new().compress_vec(data).unwrap(),
            Compression::Lz4 => {
                let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Compression::Zstd => {
                ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
            }
        }
    }

    /// Snappy in the xerial framing, blocks of `block` bytes.
    fn xerial(data: &[u8], block: usize) -> Vec<u8> {
        let mut out = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
        for chunk in data.chunks(block) {
            let c = snap::raw::Encoder::new().compress_vec(chunk).unwrap();
            out.extend((c.len() as u32).to_be_bytes());
            out.extend(c);
        }
        out
    }

    fn records(n: i64) -> Vec<Record> {
        (0..n)
            .map(|i| {
                let mut headers = IndexMap::new();
                headers.insert(
                    StrBytes::from_string(format!("h{i}")),
                    Some(bytes::Bytes::from(format!("v{i}"))),
                );
                headers.insert(StrBytes::from_static_str("null"), None);
                Record {
                    transactional: false,
                    control: false,
                    delete_horizon: false,
                    partition_leader_epoch: 0,
                    producer_id: -1,
                    producer_epoch: -1,
                    timestamp_type: KTs::Creation,
                    offset: 1000 + i,
                    sequence: i as i32,
                    timestamp: 1_700_000_000_000 + i,
                    key: Some(bytes::Bytes::from(format!("key-{i}"))),
                    value: Some(bytes::Bytes::from(vec![b'x'; 200])),
                    headers,
                }
            })
            .collect()
    }

    /// A batch built by kafka-protocol's encoder, compressed by `compressor`.
    fn encoded_batch(codec: Compression, n: i64, compressor: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
        let recs = records(n);
        let mut buf = bytes::BytesMut::new();
        let opts = RecordEncodeOptions {
            version: 2,
            compression: codec,
        };
        RecordBatchEncoder::encode_with_custom_compression(
            &mut buf,
            &recs,
            &opts,
            Some(
                |raw: &mut bytes::BytesMut, out: &mut bytes::BytesMut, _c: Compression| {
                    out.extend_from_slice(&compressor(raw));
                    Ok(())
                },
            ),
        )
        .unwrap();
        buf.to_vec()
    }

    /// A header as the tests see it: offset, key, value.
    type Seen = (i64, String, Option<Vec<u8>>);

    fn collect(batch: &Batch<'_>, limits: &mut Limits) -> (HeaderWalk, Vec<Seen>) {
        let mut seen = vec![];
        let r = for_each_record_header(batch, limits, |h| {
            seen.push((
                h.offset,
                h.key_str().unwrap().to_string(),
                h.value.map(<[u8]>::to_vec),
            ))
        });
        (r, seen)
    }

    #[test]
    fn hand_built_batch_headers() {
        let b = one_record_batch();
        let batch = first_batch(&b);
        let (walk, seen) = collect(&batch, &mut Limits::default());
        assert_eq!(walk.error, None);
        assert_eq!(
            (
                walk.records,
                walk.headers,
                walk.decompressed_bytes,
                walk.capped
            ),
            (1, 1, 0, None)
        );
        assert_eq!(seen, vec![(100, "idx".to_string(), Some(b"0".to_vec()))]);
    }

    #[test]
    fn every_codec_round_trips() {
        let codecs = [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ];
        for codec in codecs {
            let b = encoded_batch(codec, 5, |raw| compress(codec, raw));
            let batch = first_batch(&b);
            assert_eq!(batch.codec().id(), codec as u8);
            assert!(batch.crc_ok());
            assert_eq!(
                (batch.base_offset, batch.last_offset(), batch.record_count),
                (1000, 1004, 5)
            );
            let mut limits = Limits::new(1 << 20, 1 << 30);
            let (walk, seen) = collect(&batch, &mut limits);
            assert_eq!(walk.error, None, "{codec:?}");
            assert_eq!(
                (walk.records, walk.headers, walk.capped),
                (5, 10, None),
                "{codec:?}"
            );
            assert_eq!(seen[0], (1000, "h0".into(), Some(b"v0".to_vec())));
            assert_eq!(seen[1], (1000, "null".into(), None));
            assert_eq!(seen[9].0, 1004);
            if codec != Compression::None {
                assert!(walk.decompressed_bytes > 1000, "{codec:?}");
                assert_eq!(limits.budget_left(), (1 << 30) - walk.decompressed_bytes);
            }
        }
    }

    #[test]
    fn snappy_xerial_framing() {
        // Small blocks, so the records span several.
        let b = encoded_batch(Compression::Snappy, 20, |raw| xerial(raw, 1000));
        let batch = first_batch(&b);
        assert!(batch.records_data().starts_with(XERIAL_MAGIC));
        let (walk, seen) = collect(&batch, &mut Limits::default());
        assert_eq!((walk.records, walk.error), (20, None));
        assert_eq!(seen.len(), 40);
        assert_eq!(seen[38].0, 1019);
        // Capped mid-way: whole blocks only, the records inside them read.
        let mut limits = Limits::new(2500, u64::MAX);
        let (walk, seen) = collect(&batch, &mut limits);
        assert_eq!((walk.capped, walk.error), (Some(Cap::Batch), None));
        assert!(walk.decompressed_bytes <= 2500);
        assert!(walk.records >= 1 && walk.records < 20, "{walk:?}");
        assert_eq!(seen.len() as u32, walk.headers);
    }

    #[test]
    fn caps_stop_partway() {
        for codec in [Compression::Gzip, Compression::Lz4, Compression::Zstd] {
            let b = encoded_batch(codec, 50, |raw| compress(codec, raw));
            let batch = first_batch(&b);
            let mut limits = Limits::new(2000, u64::MAX);
            let (walk, seen) = collect(&batch, &mut limits);
            assert_eq!(
                (walk.capped, walk.error),
                (Some(Cap::Batch), None),
                "{codec:?}"
            );
            assert_eq!(walk.decompressed_bytes, 2000);
            assert!(walk.records >= 1 && walk.records < 50, "{codec:?} {walk:?}");
            assert_eq!(seen.len() as u32, walk.headers);
            // A budget is spent by one value only: the first walk takes it all, the
            // second gets nothing, and a clone made before keeps its own.
            let run = Limits::new(1 << 20, 3000);
            let mut one = run.clone();
            let (first, _) = collect(&batch, &mut one);
            assert_eq!(
                (first.capped, first.decompressed_bytes),
                (Some(Cap::Budget), 3000)
            );
            assert_eq!((run.budget_left(), one.budget_left()), (3000, 0));
            let (second, seen) = collect(&batch, &mut one);
            assert_eq!(
                (second.capped, second.records, second.decompressed_bytes),
                (Some(Cap::Budget), 0, 0)
            );
            assert!(seen.is_empty());
        }
        // Raw snappy says its length first: over the cap, nothing is decompressed.
        let b = encoded_batch(Compression::Snappy, 50, |raw| {
            compress(Compression::Snappy, raw)
        });
        let (walk, seen) = collect(&first_batch(&b), &mut Limits::new(2000, u64::MAX));
        assert_eq!(walk.capped, Some(Cap::Batch));
        assert!(seen.is_empty());
    }

    /// A batch header around an arbitrary records section.
    fn batch_around(codec: u8, record_count: i32, data: &[u8]) -> Vec<u8> {
        let mut b = one_record_batch()[..BATCH_HEADER_LEN].to_vec();
        b[21..23].copy_from_slice(&(codec as i16).to_be_bytes());
        b[57..61].copy_from_slice(&record_count.to_be_bytes());
        b.extend(data);
        let len = (b.len() - 12) as i32;
        b[8..12].copy_from_slice(&len.to_be_bytes());
        b
    }

    #[test]
    fn decompression_bomb_stops_at_the_cap() {
        // 1 GiB of zeros, gzip-compressed as a stream (about 1 MiB).
        const GIB: u64 = 1 << 30;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::copy(&mut std::io::repeat(0).take(GIB), &mut e).unwrap();
        let bomb = e.finish().unwrap();
        assert!(bomb.len() < 8 << 20, "{}", bomb.len());
        let b = batch_around(1, i32::MAX, &bomb);
        let batch = first_batch(&b);
        let mut limits = Limits::new(4 << 20, 64 << 20);
        let t = std::time::Instant::now();
        let walk = for_each_record_header(&batch, &mut limits, |_| {});
        assert_eq!(walk.capped, Some(Cap::Batch));
        // Zeros read as records of length 0, which lack attributes: corrupt too.
        assert_eq!(walk.error.map(|e| e.field), Some("record.attributes"));
        assert_eq!(walk.decompressed_bytes, 4 << 20);
        assert_eq!(limits.budget_left(), 60 << 20);
        assert!(
            limits.scratch.capacity() < 16 << 20,
            "{}",
            limits.scratch.capacity()
        );
        assert!(t.elapsed().as_secs() < 5, "{:?}", t.elapsed());
        // The same bomb in the other codecs, 64 MiB of zeros each.
        let zeros = vec![0u8; 64 << 20];
        for (codec, data) in [
            (3, compress(Compression::Lz4, &zeros)),
            (4, compress(Compression::Zstd, &zeros)),
            (2, xerial(&zeros, 32 << 10)),
            (2, compress(Compression::Snappy, &zeros)),
        ] {
            let b = batch_around(codec, i32::MAX, &data);
            let mut limits = Limits::new(1 << 20, u64::MAX);
            let walk = for_each_record_header(&first_batch(&b), &mut limits, |_| {});
            assert_eq!(walk.capped, Some(Cap::Batch), "codec {codec}");
            assert!(walk.decompressed_bytes <= 1 << 20, "codec {codec}");
        }
    }

    #[test]
    fn corrupt_records_are_errors_not_panics() {
        let b = encoded_batch(Compression::None, 3, |raw| raw.to_vec());
        let good = first_batch(&b);
        let data = good.records_data();
        // Cut the records section at every length, keeping the header's count.
        for cut in 0..data.len() {
            let nb = batch_around(0, 3, &data[..cut]);
            let walk = for_each_record_header(&first_batch(&nb), &mut Limits::default(), |_| {});
            assert!(walk.error.is_some(), "cut {cut}");
        }
        // Flip every byte: Ok or Err, never a panic.
        for i in 0..data.len() {
            let mut d = data.to_vec();
            d[i] ^= 0xff;
            let nb = batch_around(0, 3, &d);
            let _ = for_each_record_header(&first_batch(&nb), &mut Limits::default(), |_| {});
        }
        // A header count that cannot fit.
        let nb = batch_around(
            0,
            1,
            &[
                0x0c, 0x00, 0x00, 0x00, 0x01, 0x01, 0xfe, 0xff, 0xff, 0xff, 0x0f,
            ],
        );
        let e = for_each_record_header(&first_batch(&nb), &mut Limits::default(), |_| {})
            .error
            .unwrap();
        assert_eq!(e.field, "record.headers");
        // Garbage in every codec: a Decompress error.
        for codec in 1..=4u8 {
            let nb = batch_around(codec, 1, b"definitely not compressed data");
            let e = for_each_record_header(&first_batch(&nb), &mut Limits::default(), |_| {})
                .error
                .unwrap();
            assert!(
                matches!(e.kind, BodyErrorKind::Decompress(_)),
                "codec {codec}: {e}"
            );
        }
        let nb = batch_around(6, 1, b"x");
        let e = for_each_record_header(&first_batch(&nb), &mut Limits::default(), |_| {})
            .error
            .unwrap();
        assert_eq!(e.kind, BodyErrorKind::UnknownCodec(6));
    }
}
