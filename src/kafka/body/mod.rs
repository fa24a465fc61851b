//! Pure, bounded, zero-copy decoders for the Kafka message bodies kapture reads in depth
//! (Produce and Fetch requests and responses, Metadata responses, record batches), from
//! the bytes after the request/response header. They own no state, never panic, never
//! allocate more than the bytes they have already checked justify, and hand on plain
//! fact structs that borrow from the body; record keys and values are never copied.
//!
//! kafka-protocol can abort the process on malformed input (see DESIGN.md), so capture
//! bytes are only ever decoded here. Entry points:
//! - [`produce_request`], [`produce_response`], [`fetch_request`], [`fetch_response`],
//!   [`metadata_response`], [`api_versions_request`]: `(body, api_version) -> Result<Facts, BodyError>`;
//! - [`batches`] / [`summarize`]: walk a records field batch by batch without
//!   decompressing;
//! - [`for_each_record_header`]: decompress one batch under a hard cap and a run-wide
//!   budget and hand each record header to a callback;
//! - [`error_name`]: Kafka's name of an error code.

mod api_versions;
mod errors;
mod fetch;
mod metadata;
mod produce;
mod records;
mod recs;

#[cfg(test)]
mod real_captures;
#[cfg(test)]
pub(crate) mod testutil;

use std::fmt;

pub use api_versions::{ApiVersionsRequest, api_versions_request};
pub use errors::{MAX_ERROR_CODE, error_name};
pub use fetch::{
    AbortedTransaction, FetchPartition, FetchPartitionResponse, FetchRequest, FetchResponse,
    FetchTopic, FetchTopicResponse, ForgottenTopic, fetch_request, fetch_response,
};
pub use metadata::{
    MetadataBroker, MetadataPartition, MetadataResponse, MetadataTopic, metadata_response,
};
pub use produce::{
    CutProduceCount, ProducePartition, ProducePartitionResponse, ProduceRequest, ProduceResponse,
    ProduceTopic, ProduceTopicResponse, RecordErrorEntry, produce_request, produce_request_acks,
    produce_request_cut_count, produce_response,
};
pub use records::{
    BATCH_HEADER_LEN, Batch, Batches, Codec, CodecSet, Entry, LegacyMessage, RecordsSummary,
    TimestampType, batches, summarize,
};
pub use recs::{Cap, HeaderWalk, Limits, RecordHeader, for_each_record_header};

use super::header;

/// Where and why a body could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyError {
    /// The field being read, e.g. `"topics"` or `"partition.records"`.
    pub field: &'static str,
    /// Byte offset of that field: from the start of the body for the body decoders,
    /// from the start of the records section for [`for_each_record_header`].
    pub offset: usize,
    pub kind: BodyErrorKind,
}

/// The kinds of [`BodyError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyErrorKind {
    /// The field runs past the end of the bytes.
    Truncated,
    /// A length or count that no encoding allows (e.g. a string length of -5).
    BadLength(i64),
    /// An array count that cannot fit in the bytes left, even at the smallest size an
    /// element can have.
    TooManyElements { count: u64, remaining: usize },
    /// A varint longer than its type allows.
    BadVarint,
    /// A string that is not UTF-8.
    NotUtf8,
    /// Null where the protocol does not allow it.
    UnexpectedNull,
    /// An API version this decoder does not cover.
    UnsupportedVersion(i16),
    /// A record batch or legacy message with an unknown magic byte.
    BadMagic(i8),
    /// A compressed batch whose codec stream is corrupt.
    Decompress(Codec),
    /// A batch whose attributes name a codec kapture does not know.
    UnknownCodec(u8),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}: ", self.field, self.offset)?;
        match self.kind {
            BodyErrorKind::Truncated => write!(f, "truncated"),
            BodyErrorKind::BadLength(n) => write!(f, "invalid length {n}"),
            BodyErrorKind::TooManyElements { count, remaining } => {
                write!(f, "{count} elements cannot fit in {remaining} bytes")
            }
            BodyErrorKind::BadVarint => write!(f, "varint too long"),
            BodyErrorKind::NotUtf8 => write!(f, "not UTF-8"),
            BodyErrorKind::UnexpectedNull => write!(f, "unexpected null"),
            BodyErrorKind::UnsupportedVersion(v) => write!(f, "version {v} not supported"),
            BodyErrorKind::BadMagic(m) => write!(f, "unknown magic {m}"),
            BodyErrorKind::Decompress(c) => write!(f, "corrupt {} data", c.name()),
            BodyErrorKind::UnknownCodec(c) => write!(f, "unknown codec {c}"),
        }
    }
}

impl std::error::Error for BodyError {}

/// A Kafka topic id (a UUID). Displays in the hyphenated form tshark shows.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TopicId(pub [u8; 16]);

impl TopicId {
    pub fn is_nil(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl fmt::Display for TopicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for TopicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TopicId({self})")
    }
}

/// How a Produce or Fetch body names a topic: by name up to Produce v12 / Fetch v12,
/// by id from v13.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopicRef<'a> {
    Name(&'a str),
    Id(TopicId),
}

impl<'a> TopicRef<'a> {
    pub fn name(&self) -> Option<&'a str> {
        match self {
            TopicRef::Name(n) => Some(n),
            TopicRef::Id(_) => None,
        }
    }

    pub fn id(&self) -> Option<TopicId> {
        match self {
            TopicRef::Name(_) => None,
            TopicRef::Id(id) => Some(*id),
        }
    }
}

/// Elements an array reserves room for up front; more are added as they are decoded,
/// so a count read from the input never sizes an allocation by itself.
const PREALLOC_CAP: usize = 16;

fn vec_for<T>(count: usize) -> Vec<T> {
    Vec::with_capacity(count.min(PREALLOC_CAP))
}

/// A bounded cursor over a body. Every read checks the bytes first; errors name the
/// field and the offset where it starts.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Self {
        Reader { b, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }

    pub(crate) fn err(&self, field: &'static str, kind: BodyErrorKind) -> BodyError {
        BodyError {
            field,
            offset: self.pos,
            kind,
        }
    }

    fn err_at(field: &'static str, offset: usize, kind: BodyErrorKind) -> BodyError {
        BodyError {
            field,
            offset,
            kind,
        }
    }

    pub(crate) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], BodyError> {
        if n > self.remaining() {
            return Err(self.err(field, BodyErrorKind::Truncated));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], BodyError> {
        let s = self.take(N, field)?;
        let mut a = [0; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn i8(&mut self, field: &'static str) -> Result<i8, BodyError> {
        Ok(i8::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn bool(&mut self, field: &'static str) -> Result<bool, BodyError> {
        Ok(self.i8(field)? != 0)
    }

    pub(crate) fn i16(&mut self, field: &'static str) -> Result<i16, BodyError> {
        Ok(i16::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn i32(&mut self, field: &'static str) -> Result<i32, BodyError> {
        Ok(i32::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn i64(&mut self, field: &'static str) -> Result<i64, BodyError> {
        Ok(i64::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn uuid(&mut self, field: &'static str) -> Result<TopicId, BodyError> {
        Ok(TopicId(self.array(field)?))
    }

    pub(crate) fn uvarint(&mut self, field: &'static str) -> Result<u32, BodyError> {
        match header::uvarint(self.b, self.pos) {
            Some((v, next)) => {
                self.pos = next;
                Ok(v)
            }
            // Five bytes present and still a continuation bit: too long. Otherwise the
            // bytes ran out.
            None if self.remaining() >= 5 => Err(self.err(field, BodyErrorKind::BadVarint)),
            None => Err(self.err(field, BodyErrorKind::Truncated)),
        }
    }

    /// Reads a length prefix: compact (uvarint N+1, 0 = null) or classic (`i16` for
    /// strings, `i32` for bytes and arrays, -1 = null). `None` is null.
    fn length(
        &mut self,
        field: &'static str,
        compact: bool,
        short: bool,
    ) -> Result<Option<usize>, BodyError> {
        let at = self.pos;
        let n: i64 = if compact {
            i64::from(self.uvarint(field)?) - 1
        } else if short {
            i64::from(self.i16(field)?)
        } else {
            i64::from(self.i32(field)?)
        };
        match n {
            -1 => Ok(None),
            n if n < 0 => Err(Self::err_at(field, at, BodyErrorKind::BadLength(n))),
            n => Ok(Some(n as usize)),
        }
    }

    /// A nullable string. `compact` is true in flexible versions.
    pub(crate) fn nullable_str(
        &mut self,
        field: &'static str,
        compact: bool,
    ) -> Result<Option<&'a str>, BodyError> {
        let at = self.pos;
        let Some(n) = self.length(field, compact, true)? else {
            return Ok(None);
        };
        if n > self.remaining() {
            return Err(Self::err_at(field, at, BodyErrorKind::Truncated));
        }
        let s = self.take(n, field)?;
        std::str::from_utf8(s)
            .map(Some)
            .map_err(|_| Self::err_at(field, at, BodyErrorKind::NotUtf8))
    }

    /// A string the protocol says is never null.
    pub(crate) fn str(&mut self, field: &'static str, compact: bool) -> Result<&'a str, BodyError> {
        let at = self.pos;
        self.nullable_str(field, compact)?.ok_or(Self::err_at(
            field,
            at,
            BodyErrorKind::UnexpectedNull,
        ))
    }

    /// Nullable bytes, borrowed.
    pub(crate) fn nullable_bytes(
        &mut self,
        field: &'static str,
        compact: bool,
    ) -> Result<Option<&'a [u8]>, BodyError> {
        let at = self.pos;
        let Some(n) = self.length(field, compact, false)? else {
            return Ok(None);
        };
        if n > self.remaining() {
            return Err(Self::err_at(field, at, BodyErrorKind::Truncated));
        }
        self.take(n, field).map(Some)
    }

    /// An array count, checked against the bytes left: every element takes at least
    /// `min_elem` bytes, so a count that cannot fit fails here, before any element is
    /// read or any room reserved. `None` is a null array.
    pub(crate) fn nullable_array(
        &mut self,
        field: &'static str,
        compact: bool,
        min_elem: usize,
    ) -> Result<Option<usize>, BodyError> {
        let at = self.pos;
        let Some(count) = self.length(field, compact, false)? else {
            return Ok(None);
        };
        let remaining = self.remaining();
        if count.saturating_mul(min_elem.max(1)) > remaining {
            return Err(Self::err_at(
                field,
                at,
                BodyErrorKind::TooManyElements {
                    count: count as u64,
                    remaining,
                },
            ));
        }
        Ok(Some(count))
    }

    /// An array that the protocol says is never null; a null one reads as empty, as the
    /// Java client does.
    pub(crate) fn array_len(
        &mut self,
        field: &'static str,
        compact: bool,
        min_elem: usize,
    ) -> Result<usize, BodyError> {
        Ok(self.nullable_array(field, compact, min_elem)?.unwrap_or(0))
    }

    /// An array of `i32`, e.g. partition ids.
    pub(crate) fn i32_array(
        &mut self,
        field: &'static str,
        compact: bool,
    ) -> Result<Vec<i32>, BodyError> {
        let n = self.array_len(field, compact, 4)?;
        let raw = self.take(n * 4, field)?;
        Ok(raw
            .chunks_exact(4)
            .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// Skips an `i32` array, returning its length.
    pub(crate) fn skip_i32_array(
        &mut self,
        field: &'static str,
        compact: bool,
    ) -> Result<usize, BodyError> {
        let n = self.array_len(field, compact, 4)?;
        self.take(n * 4, field)?;
        Ok(n)
    }

    /// Skips a tagged-field section when `flexible`.
    pub(crate) fn tags(&mut self, field: &'static str, flexible: bool) -> Result<(), BodyError> {
        if !flexible {
            return Ok(());
        }
        match header::skip_tagged_fields(self.b, self.pos) {
            Ok(next) => {
                self.pos = next;
                Ok(())
            }
            Err(header::HeaderError::BadTaggedFields) => {
                Err(self.err(field, BodyErrorKind::BadLength(-1)))
            }
            Err(_) => Err(self.err(field, BodyErrorKind::Truncated)),
        }
    }

    /// The topic reference of Produce/Fetch: a name up to v12, an id from v13.
    pub(crate) fn topic_ref(
        &mut self,
        by_id: bool,
        compact: bool,
    ) -> Result<TopicRef<'a>, BodyError> {
        if by_id {
            Ok(TopicRef::Id(self.uuid("topic.topic_id")?))
        } else {
            Ok(TopicRef::Name(self.str("topic.name", compact)?))
        }
    }
}

/// Checks `version` against the range a decoder covers.
pub(crate) fn check_version(version: i16, min: i16, max: i16) -> Result<(), BodyError> {
    if (min..=max).contains(&version) {
        Ok(())
    } else {
        Err(BodyError {
            field: "api_version",
            offset: 0,
            kind: BodyErrorKind::UnsupportedVersion(version),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_lengths() {
        // Classic string "ab", compact string "c", null classic string, null compact.
        let b = [0x00, 0x02, b'a', b'b', 0x02, b'c', 0xff, 0xff, 0x00];
        let mut r = Reader::new(&b);
        assert_eq!(r.nullable_str("a", false).unwrap(), Some("ab"));
        assert_eq!(r.nullable_str("b", true).unwrap(), Some("c"));
        assert_eq!(r.nullable_str("c", false).unwrap(), None);
        assert_eq!(r.nullable_str("d", true).unwrap(), None);
        assert_eq!(r.remaining(), 0);
        let e = Reader::new(&[0xff, 0xfe])
            .nullable_str("x", false)
            .unwrap_err();
        assert_eq!(e.kind, BodyErrorKind::BadLength(-2));
        let e = Reader::new(&[0x00, 0x05, b'a'])
            .str("x", false)
            .unwrap_err();
        assert_eq!((e.kind, e.offset), (BodyErrorKind::Truncated, 0));
        let e = Reader::new(&[0x00, 0x01, 0xff])
            .str("x", false)
            .unwrap_err();
        assert_eq!(e.kind, BodyErrorKind::NotUtf8);
    }

    #[test]
    fn huge_counts_fail_before_reading() {
        let mut b = vec![0x7f, 0xff, 0xff, 0xff];
        b.extend([0u8; 10]);
        let e = Reader::new(&b).array_len("topics", false, 6).unwrap_err();
        assert_eq!(e.field, "topics");
        assert_eq!(
            e.kind,
            BodyErrorKind::TooManyElements {
                count: 0x7fff_ffff,
                remaining: 10
            }
        );
        // Compact: uvarint 0xffffffff - 1.
        let e = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0])
            .array_len("t", true, 1)
            .unwrap_err();
        assert!(matches!(e.kind, BodyErrorKind::TooManyElements { .. }));
        let e = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01])
            .uvarint("v")
            .unwrap_err();
        assert_eq!(e.kind, BodyErrorKind::BadVarint);
    }

    #[test]
    fn topic_id_display() {
        let id = TopicId([
            0x01, 0xa2, 0x11, 0x64, 0x1b, 0x21, 0x77, 0x61, 0x88, 0x07, 0x69, 0x43, 0xc5, 0xc2,
            0xad, 0x8c,
        ]);
        assert_eq!(id.to_string(), "01a21164-1b21-7761-8807-6943c5c2ad8c");
        assert!(!id.is_nil());
        assert!(TopicId::default().is_nil());
    }
}
