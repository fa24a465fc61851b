//! ApiVersions request bodies, v3+ (KIP-511): the client software's name and version,
//! two compact strings after the (flexible) request header. Earlier versions have an
//! empty body. Hands on the two strings, borrowed.

use super::{BodyError, Reader, check_version};

/// The versions whose request names the client software.
const FIRST_WITH_SOFTWARE: i16 = 3;

/// What an ApiVersions v3+ request says about the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersionsRequest<'a> {
    /// For example `apache-kafka-java`, `librdkafka`, `kgo`.
    pub client_software_name: &'a str,
    pub client_software_version: &'a str,
}

/// The newest version kafka-protocol 0.18 (Kafka 4.1) knows.
const LAST_KNOWN: i16 = 4;

/// Decodes an ApiVersions request body of `version` (3+; v0-2 carry nothing). A
/// version newer than v4 is read as far as the two strings, which KIP-511 put first:
/// franz-go sends v5 first and falls back to the broker's highest on the same
/// connection.
pub fn api_versions_request(
    body: &[u8],
    version: i16,
) -> Result<ApiVersionsRequest<'_>, BodyError> {
    check_version(version, FIRST_WITH_SOFTWARE, i16::MAX)?;
    let mut r = Reader::new(body);
    let client_software_name = r.str("client_software_name", true)?;
    let client_software_version = r.str("client_software_version", true)?;
    if version <= LAST_KNOWN {
        r.tags("_tagged_fields", true)?;
    }
    Ok(ApiVersionsRequest {
        client_software_name,
        client_software_version,
    })
}

#[cfg(test)]
mod tests {
    use super::super::BodyErrorKind;
    use super::*;
    use crate::kafka::body::testutil::encode;
    use kafka_protocol::messages::ApiVersionsRequest as KReq;
    use kafka_protocol::protocol::StrBytes;

    #[test]
    fn software_name_and_version_decode_and_every_cut_fails() {
        let req = KReq::default()
            .with_client_software_name(StrBytes::from_static_str("apache-kafka-java"))
            .with_client_software_version(StrBytes::from_static_str("4.1.2"));
        for v in 3..=4 {
            let body = encode(&req, v);
            let got = api_versions_request(&body, v).unwrap();
            assert_eq!(got.client_software_name, "apache-kafka-java");
            assert_eq!(got.client_software_version, "4.1.2");
            for cut in 0..body.len() {
                assert!(api_versions_request(&body[..cut], v).is_err(), "cut {cut}");
            }
        }
        let old = api_versions_request(&[], 2).unwrap_err();
        assert_eq!(old.kind, BodyErrorKind::UnsupportedVersion(2));
        // A length running past the body is an error, not a panic or a huge read.
        assert!(api_versions_request(&[0xff, 0xff, 0xff, 0x0f, b'a'], 3).is_err());
    }
}
