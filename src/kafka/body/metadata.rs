//! Metadata response bodies, v0-v13 (kafka-protocol 0.18's generated
//! `metadata_response.rs`). kapture reads them to map topic ids (Produce v13+, Fetch
//! v13+) to names and node ids to brokers.

use super::{BodyError, Reader, TopicId, check_version, vec_for};

/// Flexible (compact, tagged) from this version on.
const FLEXIBLE: i16 = 9;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataResponse<'a> {
    /// v3+.
    pub throttle_time_ms: Option<i32>,
    pub brokers: Vec<MetadataBroker<'a>>,
    /// v2+.
    pub cluster_id: Option<&'a str>,
    /// v1+.
    pub controller_id: Option<i32>,
    pub topics: Vec<MetadataTopic<'a>>,
    /// v13+: the top-level error.
    pub error_code: Option<i16>,
    pub trailing: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataBroker<'a> {
    pub node_id: i32,
    pub host: &'a str,
    pub port: i32,
    /// v1+.
    pub rack: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataTopic<'a> {
    pub error_code: i16,
    /// Null allowed from v12 (a topic asked for by id that the broker does not know).
    pub name: Option<&'a str>,
    /// v10+; nil when the broker has none.
    pub topic_id: Option<TopicId>,
    /// v1+; false before.
    pub is_internal: bool,
    pub partitions: Vec<MetadataPartition>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataPartition {
    pub error_code: i16,
    pub partition_index: i32,
    pub leader_id: i32,
}

impl<'a> MetadataResponse<'a> {
    /// `(id, name)` of every topic that has both a non-nil id and a name.
    pub fn topic_names(&self) -> impl Iterator<Item = (TopicId, &'a str)> + '_ {
        self.topics
            .iter()
            .filter_map(|t| match (t.topic_id, t.name) {
                (Some(id), Some(name)) if !id.is_nil() => Some((id, name)),
                _ => None,
            })
    }
}

/// Decodes a Metadata response body of `version` (0-13). Replica lists are skipped.
pub fn metadata_response(body: &[u8], version: i16) -> Result<MetadataResponse<'_>, BodyError> {
    check_version(version, 0, 13)?;
    let flex = version >= FLEXIBLE;
    let mut r = Reader::new(body);
    let throttle_time_ms = if version >= 3 {
        Some(r.i32("throttle_time_ms")?)
    } else {
        None
    };
    // node id, host length, port.
    let n = r.array_len("brokers", flex, 9)?;
    let mut brokers = vec_for(n);
    for _ in 0..n {
        let node_id = r.i32("brokers.node_id")?;
        let host = r.str("brokers.host", flex)?;
        let port = r.i32("brokers.port")?;
        let rack = if version >= 1 {
            r.nullable_str("brokers.rack", flex)?
        } else {
            None
        };
        r.tags("brokers._tagged_fields", flex)?;
        brokers.push(MetadataBroker {
            node_id,
            host,
            port,
            rack,
        });
    }
    let cluster_id = if version >= 2 {
        r.nullable_str("cluster_id", flex)?
    } else {
        None
    };
    let controller_id = if version >= 1 {
        Some(r.i32("controller_id")?)
    } else {
        None
    };
    // error code, name length, partition count.
    let n = r.array_len("topics", flex, 4)?;
    let mut topics = vec_for(n);
    for _ in 0..n {
        let error_code = r.i16("topics.error_code")?;
        let name = r.nullable_str("topics.name", flex)?;
        let topic_id = if version >= 10 {
            Some(r.uuid("topics.topic_id")?)
        } else {
            None
        };
        let is_internal = version >= 1 && r.bool("topics.is_internal")?;
        // error, index, leader, replica and isr counts.
        let np = r.array_len("topics.partitions", flex, 12)?;
        let mut partitions = vec_for(np);
        for _ in 0..np {
            let error_code = r.i16("partitions.error_code")?;
            let partition_index = r.i32("partitions.partition_index")?;
            let leader_id = r.i32("partitions.leader_id")?;
            if version >= 7 {
                r.i32("partitions.leader_epoch")?;
            }
            r.skip_i32_array("partitions.replica_nodes", flex)?;
            r.skip_i32_array("partitions.isr_nodes", flex)?;
            if version >= 5 {
                r.skip_i32_array("partitions.offline_replicas", flex)?;
            }
            r.tags("partitions._tagged_fields", flex)?;
            partitions.push(MetadataPartition {
                error_code,
                partition_index,
                leader_id,
            });
        }
        if version >= 8 {
            r.i32("topics.topic_authorized_operations")?;
        }
        r.tags("topics._tagged_fields", flex)?;
        topics.push(MetadataTopic {
            error_code,
            name,
            topic_id,
            is_internal,
            partitions,
        });
    }
    if (8..=10).contains(&version) {
        r.i32("cluster_authorized_operations")?;
    }
    let error_code = if version >= 13 {
        Some(r.i16("error_code")?)
    } else {
        None
    };
    r.tags("_tagged_fields", flex)?;
    Ok(MetadataResponse {
        throttle_time_ms,
        brokers,
        cluster_id,
        controller_id,
        topics,
        error_code,
        trailing: r.remaining(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::BodyErrorKind;
    use super::*;
    use crate::kafka::body::testutil::{encode, topic_uuid};
    use kafka_protocol::messages::metadata_response as km;
    use kafka_protocol::messages::{BrokerId, MetadataResponse as KResp, TopicName};
    use kafka_protocol::protocol::StrBytes;

    fn kafka_response() -> KResp {
        KResp::default()
            .with_throttle_time_ms(1)
            .with_brokers(vec![
                km::MetadataResponseBroker::default()
                    .with_node_id(BrokerId(1))
                    .with_host(StrBytes::from_static_str("broker-1"))
                    .with_port(9092)
                    .with_rack(Some(StrBytes::from_static_str("r1"))),
                km::MetadataResponseBroker::default()
                    .with_node_id(BrokerId(2))
                    .with_host(StrBytes::from_static_str("broker-2"))
                    .with_port(9093),
            ])
            .with_cluster_id(Some(StrBytes::from_static_str("cluster-x")))
            .with_controller_id(BrokerId(1))
            .with_topics(vec![
                km::MetadataResponseTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_static_str("orders"))))
                    .with_topic_id(topic_uuid(3))
                    .with_is_internal(false)
                    .with_partitions(vec![
                        km::MetadataResponsePartition::default()
                            .with_partition_index(0)
                            .with_leader_id(BrokerId(1))
                            .with_leader_epoch(5)
                            .with_replica_nodes(vec![BrokerId(1), BrokerId(2)])
                            .with_isr_nodes(vec![BrokerId(1)])
                            .with_offline_replicas(vec![BrokerId(2)]),
                        km::MetadataResponsePartition::default()
                            .with_error_code(5)
                            .with_partition_index(1)
                            .with_leader_id(BrokerId(-1)),
                    ])
                    .with_topic_authorized_operations(-2_147_483_648),
                km::MetadataResponseTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_static_str(
                        "__consumer_offsets",
                    ))))
                    .with_topic_id(topic_uuid(4))
                    .with_is_internal(true),
            ])
    }

    #[test]
    fn metadata_response_matches_kafka_protocol_every_version() {
        let resp = kafka_response();
        for v in 0..=13 {
            let resp = if (8..=10).contains(&v) {
                resp.clone().with_cluster_authorized_operations(0)
            } else {
                resp.clone()
            };
            let body = encode(&resp, v);
            let m = metadata_response(&body, v).unwrap_or_else(|e| panic!("v{v}: {e}"));
            assert_eq!(m.trailing, 0, "v{v}");
            assert_eq!(m.throttle_time_ms, (v >= 3).then_some(1));
            assert_eq!(m.brokers.len(), 2);
            assert_eq!(
                (m.brokers[0].node_id, m.brokers[0].host, m.brokers[0].port),
                (1, "broker-1", 9092)
            );
            assert_eq!(m.brokers[0].rack, (v >= 1).then_some("r1"));
            assert_eq!(m.brokers[1].rack, None);
            assert_eq!(m.cluster_id, (v >= 2).then_some("cluster-x"));
            assert_eq!(m.controller_id, (v >= 1).then_some(1));
            let t = &m.topics[0];
            assert_eq!(t.name, Some("orders"));
            assert_eq!(t.topic_id, (v >= 10).then_some(TopicId([3; 16])));
            assert_eq!(
                t.partitions,
                vec![
                    MetadataPartition {
                        error_code: 0,
                        partition_index: 0,
                        leader_id: 1
                    },
                    MetadataPartition {
                        error_code: 5,
                        partition_index: 1,
                        leader_id: -1
                    }
                ]
            );
            assert_eq!(m.topics[1].is_internal, v >= 1);
            assert_eq!(m.error_code, (v >= 13).then_some(0));
            assert_eq!(m.topic_names().count(), if v >= 10 { 2 } else { 0 });
            for cut in 0..body.len() {
                assert!(
                    metadata_response(&body[..cut], v).is_err(),
                    "v{v} cut {cut}"
                );
            }
        }
    }

    #[test]
    fn metadata_v12_null_topic_name() {
        let resp = KResp::default().with_topics(vec![
            km::MetadataResponseTopic::default()
                .with_error_code(100)
                .with_name(None)
                .with_topic_id(topic_uuid(9)),
        ]);
        let body = encode(&resp, 12);
        let m = metadata_response(&body, 12).unwrap();
        assert_eq!(m.topics[0].name, None);
        assert_eq!(m.topics[0].error_code, 100);
        assert_eq!(m.topic_names().count(), 0);
    }

    #[test]
    fn metadata_v0_by_hand() {
        let b = [
            0x00, 0x00, 0x00, 0x01, // 1 broker
            0x00, 0x00, 0x00, 0x00, // node_id 0
            0x00, 0x01, b'h', // host "h"
            0x00, 0x00, 0x23, 0x84, // port 9092
            0x00, 0x00, 0x00, 0x01, // 1 topic
            0x00, 0x00, // error_code 0
            0x00, 0x01, b't', // name "t"
            0x00, 0x00, 0x00, 0x01, // 1 partition
            0x00, 0x00, // error_code 0
            0x00, 0x00, 0x00, 0x00, // partition_index 0
            0x00, 0x00, 0x00, 0x00, // leader_id 0
            0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, // replicas [0]
            0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, // isr [0]
        ];
        let m = metadata_response(&b, 0).unwrap();
        assert_eq!(m.trailing, 0);
        assert_eq!(m.brokers[0].port, 9092);
        assert_eq!(m.topics[0].name, Some("t"));
        assert_eq!(m.topics[0].partitions.len(), 1);
        for cut in 0..b.len() {
            assert!(metadata_response(&b[..cut], 0).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn huge_counts_error_fast() {
        let mut b = vec![0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]; // v9: throttle, 2^32-2 brokers
        b.extend([0u8; 10]);
        let e = metadata_response(&b, 9).unwrap_err();
        assert!(
            matches!(e.kind, BodyErrorKind::TooManyElements { .. }),
            "{e}"
        );
        // A replica list that cannot fit.
        let resp = KResp::default().with_topics(vec![
            km::MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_static_str("t"))))
                .with_partitions(vec![km::MetadataResponsePartition::default()]),
        ]);
        let mut body = encode(&resp, 5);
        // At v5 the body ends with the partition's replica, isr and offline counts.
        let at = body.len() - 12;
        body[at..at + 4].copy_from_slice(&0x4000_0000i32.to_be_bytes());
        let e = metadata_response(&body, 5).unwrap_err();
        assert_eq!(e.field, "partitions.replica_nodes");
    }
}
