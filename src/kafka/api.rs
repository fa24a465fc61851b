//! What kapture knows of each Kafka API key: its name, the versions that exist, and
//! which versions are "flexible" (tagged fields, header v2 for requests, v1 for
//! responses). Versions come from kafka-protocol where it knows the key.

use std::sync::OnceLock;

use kafka_protocol::messages::ApiKey;

include!("names.rs");

/// Highest API key kapture has a name for.
pub const MAX_KEY: i16 = 93;

/// Versions beyond a key's known maximum that still count as plausible, so a capture
/// from a client newer than kapture's tables is not thrown away.
const NEWER_VERSION_SLACK: i16 = 3;

pub const PRODUCE: i16 = 0;
pub const FETCH: i16 = 1;
pub const METADATA: i16 = 3;
pub const JOIN_GROUP: i16 = 11;
pub const SYNC_GROUP: i16 = 14;
pub const API_VERSIONS: i16 = 18;

/// The version facts of one API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiInfo {
    pub key: i16,
    pub min_version: i16,
    pub max_version: i16,
    /// First version that uses flexible (tagged-field) encoding, if any.
    pub flexible_from: Option<i16>,
}

/// `CamelCase` name of an API key, as in the Kafka protocol guide.
pub fn name(key: i16) -> Option<&'static str> {
    usize::try_from(key)
        .ok()
        .and_then(|k| API_NAMES.get(k))
        .map(|n| n.0)
}

/// `snake_case` operation name, as used for `messaging.operation.name`.
pub fn operation_name(key: i16) -> Option<&'static str> {
    usize::try_from(key)
        .ok()
        .and_then(|k| API_NAMES.get(k))
        .map(|n| n.1)
}

/// Looks a key up by number, CamelCase name or snake_case name (case-insensitive).
pub fn parse_key(text: &str) -> Option<i16> {
    if let Ok(n) = text.parse::<i16>() {
        return name(n).map(|_| n);
    }
    let wanted: String = text.chars().filter(|c| *c != '_' && *c != '-').collect();
    API_NAMES
        .iter()
        .position(|(camel, _)| camel.eq_ignore_ascii_case(&wanted))
        .map(|k| k as i16)
}

/// Version facts of `key`, or `None` for keys kapture does not know.
pub fn info(key: i16) -> Option<&'static ApiInfo> {
    static TABLE: OnceLock<Vec<Option<ApiInfo>>> = OnceLock::new();
    let table = TABLE.get_or_init(|| (0..=MAX_KEY).map(build_info).collect());
    usize::try_from(key)
        .ok()
        .and_then(|k| table.get(k)?.as_ref())
}

fn build_info(key: i16) -> Option<ApiInfo> {
    if let Ok(api) = ApiKey::try_from(key) {
        let range = api.valid_versions();
        let flexible_from = (range.min..=range.max).find(|&v| api.request_header_version(v) >= 2);
        return Some(ApiInfo {
            key,
            min_version: range.min,
            max_version: range.max,
            flexible_from,
        });
    }
    // Keys kafka-protocol 0.18 does not carry: the inter-broker APIs removed in Kafka
    // 4.0, and APIs added after Kafka 4.1. From the Kafka message definitions.
    let (min_version, max_version, flexible_from) = match key {
        4 => (0, 7, Some(4)), // LeaderAndIsr
        5 => (0, 4, Some(2)), // StopReplica
        6 => (0, 8, Some(6)), // UpdateMetadata
        7 => (0, 3, Some(3)), // ControlledShutdown
        88 | 89 | 93 => (0, 0, Some(0)),
        _ => return None,
    };
    Some(ApiInfo {
        key,
        min_version,
        max_version,
        flexible_from,
    })
}

impl ApiInfo {
    /// Whether a request header naming this key could carry `version`. Versions below
    /// the known minimum are allowed: old clients still speak them.
    pub fn accepts(&self, version: i16) -> bool {
        (0..=self.max_version.saturating_add(NEWER_VERSION_SLACK)).contains(&version)
    }

    pub fn is_flexible(&self, version: i16) -> bool {
        self.flexible_from.is_some_and(|f| version >= f)
    }

    /// Request header version: 2 for flexible versions, 0 for ControlledShutdown v0,
    /// 1 otherwise.
    pub fn request_header_version(&self, version: i16) -> i16 {
        if self.is_flexible(version) {
            2
        } else if self.key == 7 && version == 0 {
            0
        } else {
            1
        }
    }

    /// Response header version: 1 for flexible versions, except ApiVersions, whose
    /// response header stays v0 so that any client can read it.
    pub fn response_header_version(&self, version: i16) -> i16 {
        if self.key != API_VERSIONS && self.is_flexible(version) {
            1
        } else {
            0
        }
    }
}

/// The set of API keys whose exchanges become spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSet {
    keys: [bool; MAX_KEY as usize + 1],
}

impl ApiSet {
    pub fn all() -> Self {
        ApiSet {
            keys: [true; MAX_KEY as usize + 1],
        }
    }

    pub fn only(keys: &[i16]) -> Self {
        let mut set = ApiSet {
            keys: [false; MAX_KEY as usize + 1],
        };
        for &k in keys {
            if let Some(slot) = usize::try_from(k).ok().and_then(|i| set.keys.get_mut(i)) {
                *slot = true;
            }
        }
        set
    }

    pub fn contains(&self, key: i16) -> bool {
        usize::try_from(key)
            .ok()
            .and_then(|i| self.keys.get(i))
            .copied()
            .unwrap_or(false)
    }
}

impl Default for ApiSet {
    fn default() -> Self {
        ApiSet::only(&[PRODUCE, FETCH])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_a_name_and_versions() {
        for key in 0..=MAX_KEY {
            assert!(name(key).is_some(), "key {key}");
            assert!(info(key).is_some(), "key {key}");
        }
        assert_eq!(name(94), None);
        assert_eq!(name(-1), None);
        assert_eq!(operation_name(18), Some("api_versions"));
        assert_eq!(operation_name(71), Some("get_telemetry_subscriptions"));
    }

    #[test]
    fn parses_names_and_numbers() {
        assert_eq!(parse_key("produce"), Some(0));
        assert_eq!(parse_key("Fetch"), Some(1));
        assert_eq!(parse_key("api_versions"), Some(18));
        assert_eq!(parse_key("ApiVersions"), Some(18));
        assert_eq!(parse_key("71"), Some(71));
        assert_eq!(parse_key("94"), None);
        assert_eq!(parse_key("nope"), None);
    }

    #[test]
    fn header_versions_follow_flexibility() {
        let produce = info(PRODUCE).unwrap();
        assert_eq!(produce.request_header_version(8), 1);
        assert_eq!(produce.request_header_version(9), 2);
        assert_eq!(produce.response_header_version(9), 1);
        let fetch = info(FETCH).unwrap();
        assert_eq!(fetch.flexible_from, Some(12));
        let apiv = info(API_VERSIONS).unwrap();
        assert_eq!(apiv.request_header_version(3), 2);
        assert_eq!(apiv.response_header_version(3), 0);
        assert_eq!(info(7).unwrap().request_header_version(0), 0);
    }
}
