//! Helpers for the tests: kafka-protocol's encoders build expected bodies (encoding our
//! own trusted structs is safe; only its decoders are a hazard).

use kafka_protocol::protocol::Encodable;

/// Encodes a kafka-protocol message body at `version`.
pub(crate) fn encode<T: Encodable>(msg: &T, version: i16) -> Vec<u8> {
    let mut buf = bytes::BytesMut::new();
    msg.encode(&mut buf, version)
        .unwrap_or_else(|e| panic!("encode v{version}: {e}"));
    buf.to_vec()
}

/// A recognisable topic id: sixteen bytes of `n`.
pub(crate) fn topic_uuid(n: u8) -> uuid::Uuid {
    uuid::Uuid::from_bytes([n; 16])
}
