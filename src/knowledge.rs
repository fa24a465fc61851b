//! What the whole capture knows that a single exchange may not: topic names by topic
//! id (from Metadata responses on any connection, before or after the exchange, plus
//! `--topic-map`), the consumer group each client (client id + address) joined, and
//! the cluster id of each broker endpoint (from Metadata v2+ responses: the broker that
//! answered and every broker the response lists).
//! Gathered after every connection is analysed, read while spans are built.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::kafka::ConnectionReport;
use crate::kafka::exchange::Exchange;
use crate::kafka::facts::{Facts, Topic};
use crate::net::Endpoint;

/// Topic ids a user names by hand: `--topic-map FILE`.
pub type TopicMap = HashMap<[u8; 16], Arc<str>>;

#[derive(Debug, Default, Clone)]
pub struct Knowledge {
    pub topics: TopicMap,
    /// (client id, client address) -> consumer group.
    pub groups: HashMap<(Option<Arc<str>>, IpAddr), Arc<str>>,
    /// Broker endpoint -> the cluster id a Metadata response gave for it.
    pub clusters: HashMap<Endpoint, Arc<str>>,
}

impl Knowledge {
    /// Collects what the analysed connections learned, on top of `user_topics`.
    pub fn gather(reports: &[ConnectionReport], user_topics: &TopicMap) -> Knowledge {
        let mut k = Knowledge {
            topics: user_topics.clone(),
            groups: HashMap::new(),
            clusters: HashMap::new(),
        };
        for r in reports {
            for ex in &r.exchanges {
                for (id, name) in &ex.facts.topic_names {
                    // What the capture says wins over the user's map only where the user
                    // said nothing.
                    k.topics.entry(*id).or_insert_with(|| name.clone());
                }
                if let Some(group) = &ex.facts.group {
                    k.groups
                        .entry((ex.request.client_id.clone(), r.client.ip))
                        .or_insert_with(|| group.clone());
                }
                k.learn_cluster(r.broker, &ex.facts);
            }
        }
        k
    }

    /// Adds what one exchange says (in output order: the first word stands).
    pub fn learn(&mut self, report: &ConnectionReport, ex: &Exchange) {
        for (id, name) in &ex.facts.topic_names {
            self.topics.entry(*id).or_insert_with(|| name.clone());
        }
        if let Some(group) = &ex.facts.group {
            self.groups
                .entry((ex.request.client_id.clone(), report.client.ip))
                .or_insert_with(|| group.clone());
        }
        self.learn_cluster(report.broker, &ex.facts);
    }

    /// The name of a topic, or `None` for an id nobody named.
    pub fn topic_name<'a>(&'a self, topic: &'a Topic) -> Option<&'a str> {
        match topic {
            Topic::Name(n) => Some(n),
            Topic::Id(id) => self.topics.get(id).map(|n| n.as_ref()),
        }
    }

    /// Files the cluster id of a Metadata response under the broker that sent it and
    /// the brokers it lists. A listed broker is known by the host it advertises, so
    /// only hosts that are IP addresses (or `localhost`) can be matched to connections;
    /// the first id seen for an endpoint wins.
    pub fn learn_cluster(&mut self, responder: Endpoint, facts: &Facts) {
        for (endpoint, cluster) in cluster_endpoints(responder, facts) {
            self.clusters.entry(endpoint).or_insert(cluster);
        }
    }

    /// The cluster a broker endpoint belongs to, when a Metadata response said.
    pub fn cluster_of(&self, broker: &Endpoint) -> Option<&Arc<str>> {
        self.clusters.get(broker)
    }

    pub fn group_of(&self, client_id: &Option<Arc<str>>, ip: IpAddr) -> Option<&Arc<str>> {
        self.groups.get(&(client_id.clone(), ip))
    }
}

/// The broker endpoints a Metadata response names a cluster id for: the broker that
/// sent it and the brokers it lists whose hosts are addresses.
pub fn cluster_endpoints(responder: Endpoint, facts: &Facts) -> Vec<(Endpoint, Arc<str>)> {
    let Some(cluster) = &facts.cluster_id else {
        return Vec::new();
    };
    let mut out = vec![(responder, cluster.clone())];
    for (host, port) in &facts.cluster_brokers {
        let Ok(port) = u16::try_from(*port) else {
            continue;
        };
        for ip in advertised_ips(host) {
            out.push((Endpoint { ip, port }, cluster.clone()));
        }
    }
    out
}

/// The addresses an advertised broker host stands for without a DNS lookup: an IP
/// address (IPv6 with or without brackets, as Tansu writes `[::1]`), or `localhost`.
fn advertised_ips(host: &str) -> Vec<IpAddr> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return vec![ip];
    }
    if bare.eq_ignore_ascii_case("localhost") {
        return vec![
            IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ];
    }
    Vec::new()
}

/// Reads a topic map: one `<topic id> <name>` pair per line (UUID with or without
/// hyphens, or Kafka's base64 form), `#` comments allowed.
pub fn parse_topic_map(text: &str) -> Result<TopicMap, String> {
    let mut map = TopicMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(id), Some(name), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!(
                "line {}: expected '<topic id> <topic name>'",
                n + 1
            ));
        };
        let id = parse_topic_id(id)
            .ok_or_else(|| format!("line {}: '{id}' is not a topic id", n + 1))?;
        map.insert(id, Arc::from(name));
    }
    Ok(map)
}

fn parse_topic_id(text: &str) -> Option<[u8; 16]> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    let mut out = [0u8; 16];
    if hex.len() == 32 {
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        return Some(out);
    }
    // Kafka prints topic ids as URL-safe base64 without padding (22 characters).
    if text.len() == 22 {
        let mut bits: u128 = 0;
        for c in text.chars() {
            let v = match c {
                'A'..='Z' => c as u128 - 'A' as u128,
                'a'..='z' => c as u128 - 'a' as u128 + 26,
                '0'..='9' => c as u128 - '0' as u128 + 52,
                '-' | '+' => 62,
                '_' | '/' => 63,
                _ => return None,
            };
            bits = (bits << 6) | v;
        }
        // 22 * 6 = 132 bits: the last 4 are padding.
        return Some((bits >> 4).to_be_bytes());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_id_goes_to_the_responder_and_the_brokers_listed() {
        let ep = |ip: &str, port| Endpoint {
            ip: ip.parse().unwrap(),
            port,
        };
        let facts = Facts {
            cluster_id: Some(Arc::from("c1")),
            cluster_brokers: vec![
                (Arc::from("10.0.0.2"), 9093),
                (Arc::from("kafka-3.example"), 9094),
                (Arc::from("10.0.0.4"), -1),
            ],
            ..Facts::default()
        };
        let mut k = Knowledge::default();
        k.learn_cluster(ep("10.0.0.1", 9092), &facts);
        assert_eq!(
            k.cluster_of(&ep("10.0.0.1", 9092)).map(|c| &**c),
            Some("c1")
        );
        assert_eq!(
            k.cluster_of(&ep("10.0.0.2", 9093)).map(|c| &**c),
            Some("c1")
        );
        assert_eq!(k.clusters.len(), 2, "no DNS, no port -1");
        // The first id seen for an endpoint stays.
        let other = Facts {
            cluster_id: Some(Arc::from("c2")),
            ..Facts::default()
        };
        k.learn_cluster(ep("10.0.0.1", 9092), &other);
        assert_eq!(
            k.cluster_of(&ep("10.0.0.1", 9092)).map(|c| &**c),
            Some("c1")
        );
    }

    #[test]
    fn advertised_hosts_become_addresses_without_dns() {
        assert_eq!(
            advertised_ips("10.0.0.5"),
            vec!["10.0.0.5".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            advertised_ips("[::1]"),
            vec!["::1".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(advertised_ips("localhost").len(), 2);
        assert!(advertised_ips("kafka-1.example").is_empty());
    }

    #[test]
    fn topic_maps_parse_hex_and_base64() {
        let map = parse_topic_map(
            "# id name\n01a21162-97cc-7fe0-b5b0-9efb18dfb644 orders\n\nAaIRYpfMf-C1sJ77GN-2RA payments\n",
        )
        .unwrap();
        let id = [
            0x01, 0xa2, 0x11, 0x62, 0x97, 0xcc, 0x7f, 0xe0, 0xb5, 0xb0, 0x9e, 0xfb, 0x18, 0xdf,
            0xb6, 0x44,
        ];
        assert_eq!(map.get(&id).map(|s| s.as_ref()), Some("payments"));
        assert_eq!(map.len(), 1, "both lines name the same id; the last wins");
        assert!(
            parse_topic_map("xyz orders")
                .unwrap_err()
                .contains("line 1")
        );
        assert!(parse_topic_map("01a2116297cc7fe0b5b09efb18dfb644").is_err());
    }
}
