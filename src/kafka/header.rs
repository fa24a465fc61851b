//! Pure parsers for the Kafka request header (v0-v2) and response header (v0-v1).
//! They read from a byte slice that starts right after the 4-byte length prefix and
//! hand on the header fields and the header's length, so the body can be found.

use super::api;

/// A decoded request header. `client_id` borrows from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeader<'a> {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<&'a [u8]>,
    /// Bytes from the start of the header to the start of the body.
    pub len: usize,
}

/// Why a byte sequence is not a request header kapture can accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// More bytes are needed.
    Short,
    UnknownApiKey(i16),
    UnsupportedVersion(i16, i16),
    NegativeCorrelationId,
    BadClientId,
    BadTaggedFields,
}

fn be_i16(b: &[u8], at: usize) -> Option<i16> {
    Some(i16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Reads an unsigned varint (at most 5 bytes for a u32) at `at`; returns the value and
/// the position after it.
pub fn uvarint(b: &[u8], at: usize) -> Option<(u32, usize)> {
    let mut value: u32 = 0;
    for i in 0..5 {
        let byte = *b.get(at + i)?;
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, at + i + 1));
        }
    }
    None
}

/// Skips a tagged-field section at `at`; returns the position after it.
pub fn skip_tagged_fields(b: &[u8], at: usize) -> Result<usize, HeaderError> {
    let (count, mut pos) = uvarint(b, at).ok_or(HeaderError::Short)?;
    for _ in 0..count {
        let (_tag, p) = uvarint(b, pos).ok_or(HeaderError::Short)?;
        let (size, p) = uvarint(b, p).ok_or(HeaderError::Short)?;
        pos = p
            .checked_add(size as usize)
            .ok_or(HeaderError::BadTaggedFields)?;
        if pos > b.len() {
            return Err(HeaderError::Short);
        }
    }
    Ok(pos)
}

/// The fixed part every request header starts with: key, version, correlation id.
pub const REQUEST_FIXED_LEN: usize = 8;

/// Parses a request header. `frame_len` is the length the prefix announced; it bounds
/// the client id, so a header that claims more than its frame holds is rejected even
/// when `b` holds only the first part of the frame.
pub fn parse_request_header(b: &[u8], frame_len: usize) -> Result<RequestHeader<'_>, HeaderError> {
    let api_key = be_i16(b, 0).ok_or(HeaderError::Short)?;
    let info = api::info(api_key).ok_or(HeaderError::UnknownApiKey(api_key))?;
    let api_version = be_i16(b, 2).ok_or(HeaderError::Short)?;
    if !info.accepts(api_version) {
        return Err(HeaderError::UnsupportedVersion(api_key, api_version));
    }
    let correlation_id = be_i32(b, 4).ok_or(HeaderError::Short)?;
    if correlation_id < 0 {
        return Err(HeaderError::NegativeCorrelationId);
    }
    let header_version = info.request_header_version(api_version);
    let mut pos = REQUEST_FIXED_LEN;
    let mut client_id = None;
    if header_version >= 1 {
        let n = be_i16(b, pos).ok_or(HeaderError::Short)?;
        pos += 2;
        if n >= 0 {
            let end = pos + n as usize;
            if end > frame_len {
                return Err(HeaderError::BadClientId);
            }
            client_id = Some(b.get(pos..end).ok_or(HeaderError::Short)?);
            pos = end;
        } else if n != -1 {
            return Err(HeaderError::BadClientId);
        }
    }
    if header_version >= 2 {
        pos = skip_tagged_fields(b, pos)?;
    }
    if pos > frame_len {
        return Err(HeaderError::BadTaggedFields);
    }
    Ok(RequestHeader {
        api_key,
        api_version,
        correlation_id,
        client_id,
        len: pos,
    })
}

/// A decoded response header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHeader {
    pub correlation_id: i32,
    /// Bytes from the start of the header to the start of the body.
    pub len: usize,
}

/// Parses a response header of the version the request's key and version imply.
pub fn parse_response_header(b: &[u8], header_version: i16) -> Result<ResponseHeader, HeaderError> {
    let correlation_id = be_i32(b, 0).ok_or(HeaderError::Short)?;
    let len = if header_version >= 1 {
        skip_tagged_fields(b, 4)?
    } else {
        4
    };
    Ok(ResponseHeader {
        correlation_id,
        len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Produce v9 (flexible, header v2) from client "kc".
    const PRODUCE_V9: &[u8] = &[
        0x00, 0x00, // api key 0 (Produce)
        0x00, 0x09, // api version 9
        0x00, 0x00, 0x00, 0x07, // correlation id 7
        0x00, 0x02, b'k', b'c', // client id "kc" (a classic, non-compact string)
        0x00, // no tagged fields
        0xAA, // first body byte
    ];

    #[test]
    fn request_header_v2() {
        let h = parse_request_header(PRODUCE_V9, PRODUCE_V9.len()).unwrap();
        assert_eq!(h.api_key, 0);
        assert_eq!(h.api_version, 9);
        assert_eq!(h.correlation_id, 7);
        assert_eq!(h.client_id, Some(&b"kc"[..]));
        assert_eq!(h.len, 13);
    }

    #[test]
    fn request_header_v1_null_client() {
        let b = [
            0x00, 0x03, // Metadata
            0x00, 0x01, // v1 (header v1)
            0x00, 0x00, 0x01, 0x00, // correlation id 256
            0xff, 0xff, // null client id
        ];
        let h = parse_request_header(&b, b.len()).unwrap();
        assert_eq!(
            (h.api_key, h.correlation_id, h.client_id, h.len),
            (3, 256, None, 10)
        );
    }

    #[test]
    fn request_header_v2_with_tags() {
        let b = [
            0x00, 0x12, // ApiVersions
            0x00, 0x03, // v3 (flexible)
            0x00, 0x00, 0x00, 0x01, // correlation id 1
            0x00, 0x00, // empty client id
            0x02, // two tagged fields
            0x00, 0x01, 0x55, // tag 0, one byte
            0x05, 0x00, // tag 5, empty
        ];
        let h = parse_request_header(&b, b.len()).unwrap();
        assert_eq!(h.client_id, Some(&b""[..]));
        assert_eq!(h.len, b.len());
    }

    #[test]
    fn rejects_implausible_headers() {
        assert_eq!(
            parse_request_header(&[0x00, 0x63, 0, 0, 0, 0, 0, 1], 8),
            Err(HeaderError::UnknownApiKey(99))
        );
        assert_eq!(
            parse_request_header(&[0, 0, 0x10, 0, 0, 0, 0, 1], 8),
            Err(HeaderError::UnsupportedVersion(0, 0x1000))
        );
        assert_eq!(
            parse_request_header(&[0, 3, 0, 1, 0x80, 0, 0, 1], 8),
            Err(HeaderError::NegativeCorrelationId)
        );
        // A client id longer than the frame.
        assert_eq!(
            parse_request_header(&[0, 3, 0, 1, 0, 0, 0, 1, 0x7f, 0xff], 10),
            Err(HeaderError::BadClientId)
        );
    }

    #[test]
    fn every_prefix_is_short_or_ok() {
        for cut in 0..PRODUCE_V9.len() {
            let r = parse_request_header(&PRODUCE_V9[..cut], PRODUCE_V9.len());
            if cut < 13 {
                assert_eq!(r, Err(HeaderError::Short), "cut at {cut}");
            }
        }
    }

    #[test]
    fn response_headers() {
        let b = [0x00, 0x00, 0x00, 0x07, 0x00, 0xEE];
        assert_eq!(
            parse_response_header(&b, 0).unwrap(),
            ResponseHeader {
                correlation_id: 7,
                len: 4
            }
        );
        assert_eq!(
            parse_response_header(&b, 1).unwrap(),
            ResponseHeader {
                correlation_id: 7,
                len: 5
            }
        );
        assert_eq!(parse_response_header(&b[..3], 0), Err(HeaderError::Short));
        assert_eq!(parse_response_header(&b[..4], 1), Err(HeaderError::Short));
    }

    #[test]
    fn uvarint_bounds() {
        assert_eq!(uvarint(&[0x96, 0x01], 0), Some((150, 2)));
        assert_eq!(uvarint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01], 0), None);
        assert_eq!(uvarint(&[0x80], 0), None);
    }
}
