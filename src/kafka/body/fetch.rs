//! Fetch request and response bodies, v0-v18. Layouts from kafka-protocol 0.18's
//! generated `fetch_request.rs` / `fetch_response.rs` (v4-v18, Kafka 4.1) and, for
//! v0-v3 (removed in Kafka 4.0), from the older Kafka schemas: `max_bytes` from v3,
//! `isolation_level`, `last_stable_offset` and `aborted_transactions` from v4, response
//! `throttle_time_ms` from v1.

use super::records::{RecordsSummary, summarize_at};
use super::{BodyError, Reader, TopicRef, check_version, vec_for};

/// Flexible (compact, tagged) from this version on.
const FLEXIBLE: i16 = 12;
/// Topics named by id from this version on.
const TOPIC_IDS: i16 = 13;

/// A Fetch request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest<'a> {
    /// v0-v14 (a consumer sends -1); from v15 it moved into the tagged
    /// `replica_state`, which is skipped.
    pub replica_id: Option<i32>,
    pub max_wait_ms: i32,
    pub min_bytes: i32,
    /// v3+.
    pub max_bytes: Option<i32>,
    /// v4+: 0 read uncommitted, 1 read committed.
    pub isolation_level: Option<i8>,
    /// v7+.
    pub session_id: Option<i32>,
    pub session_epoch: Option<i32>,
    pub topics: Vec<FetchTopic<'a>>,
    /// v7+.
    pub forgotten_topics: Vec<ForgottenTopic<'a>>,
    /// v11+.
    pub rack_id: Option<&'a str>,
    pub trailing: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchTopic<'a> {
    pub topic: TopicRef<'a>,
    pub partitions: Vec<FetchPartition>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchPartition {
    pub partition: i32,
    /// v9+.
    pub current_leader_epoch: Option<i32>,
    pub fetch_offset: i64,
    /// v12+.
    pub last_fetched_epoch: Option<i32>,
    /// v5+.
    pub log_start_offset: Option<i64>,
    pub partition_max_bytes: i32,
}

/// A topic the consumer removes from its incremental fetch session (v7+).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgottenTopic<'a> {
    pub topic: TopicRef<'a>,
    pub partitions: Vec<i32>,
}

/// Decodes a Fetch request body of `version` (0-18). Tagged fields (`cluster_id`,
/// `replica_state`, `replica_directory_id`, `high_watermark`) are skipped.
pub fn fetch_request(body: &[u8], version: i16) -> Result<FetchRequest<'_>, BodyError> {
    check_version(version, 0, 18)?;
    let flex = version >= FLEXIBLE;
    let by_id = version >= TOPIC_IDS;
    let mut r = Reader::new(body);
    let replica_id = if version <= 14 {
        Some(r.i32("replica_id")?)
    } else {
        None
    };
    let max_wait_ms = r.i32("max_wait_ms")?;
    let min_bytes = r.i32("min_bytes")?;
    let max_bytes = if version >= 3 {
        Some(r.i32("max_bytes")?)
    } else {
        None
    };
    let isolation_level = if version >= 4 {
        Some(r.i8("isolation_level")?)
    } else {
        None
    };
    let (session_id, session_epoch) = if version >= 7 {
        (Some(r.i32("session_id")?), Some(r.i32("session_epoch")?))
    } else {
        (None, None)
    };
    // partition, fetch offset, partition max bytes at least.
    let min_partition = 16;
    let n = r.array_len("topics", flex, 2)?;
    let mut topics = vec_for(n);
    for _ in 0..n {
        let topic = r.topic_ref(by_id, flex)?;
        let np = r.array_len("topics.partitions", flex, min_partition)?;
        let mut partitions = vec_for(np);
        for _ in 0..np {
            let partition = r.i32("partitions.partition")?;
            let current_leader_epoch = if version >= 9 {
                Some(r.i32("partitions.current_leader_epoch")?)
            } else {
                None
            };
            let fetch_offset = r.i64("partitions.fetch_offset")?;
            let last_fetched_epoch = if version >= 12 {
                Some(r.i32("partitions.last_fetched_epoch")?)
            } else {
                None
            };
            let log_start_offset = if version >= 5 {
                Some(r.i64("partitions.log_start_offset")?)
            } else {
                None
            };
            let partition_max_bytes = r.i32("partitions.partition_max_bytes")?;
            r.tags("partitions._tagged_fields", flex)?;
            partitions.push(FetchPartition {
                partition,
                current_leader_epoch,
                fetch_offset,
                last_fetched_epoch,
                log_start_offset,
                partition_max_bytes,
            });
        }
        r.tags("topics._tagged_fields", flex)?;
        topics.push(FetchTopic { topic, partitions });
    }
    let mut forgotten_topics = Vec::new();
    if version >= 7 {
        let n = r.array_len("forgotten_topics_data", flex, 2)?;
        forgotten_topics = vec_for(n);
        for _ in 0..n {
            let topic = r.topic_ref(by_id, flex)?;
            let partitions = r.i32_array("forgotten_topics_data.partitions", flex)?;
            r.tags("forgotten_topics_data._tagged_fields", flex)?;
            forgotten_topics.push(ForgottenTopic { topic, partitions });
        }
    }
    let rack_id = if version >= 11 {
        Some(r.str("rack_id", flex)?)
    } else {
        None
    };
    r.tags("_tagged_fields", flex)?;
    Ok(FetchRequest {
        replica_id,
        max_wait_ms,
        min_bytes,
        max_bytes,
        isolation_level,
        session_id,
        session_epoch,
        topics,
        forgotten_topics,
        rack_id,
        trailing: r.remaining(),
    })
}

/// A Fetch response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchResponse<'a> {
    /// v1+; 0 before.
    pub throttle_time_ms: i32,
    /// v7+ (the session-level error); 0 before.
    pub error_code: i16,
    /// v7+; 0 before.
    pub session_id: i32,
    pub topics: Vec<FetchTopicResponse<'a>>,
    pub trailing: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchTopicResponse<'a> {
    pub topic: TopicRef<'a>,
    pub partitions: Vec<FetchPartitionResponse<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPartitionResponse<'a> {
    pub partition_index: i32,
    pub error_code: i16,
    pub high_watermark: i64,
    /// v4+.
    pub last_stable_offset: Option<i64>,
    /// v5+.
    pub log_start_offset: Option<i64>,
    /// v4+; `None` when null or absent.
    pub aborted_transactions: Option<Vec<AbortedTransaction>>,
    /// v11+; -1 when none.
    pub preferred_read_replica: Option<i32>,
    /// The records field, borrowed; `None` when null.
    pub records: Option<&'a [u8]>,
    pub summary: RecordsSummary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTransaction {
    pub producer_id: i64,
    pub first_offset: i64,
}

impl<'a> FetchResponse<'a> {
    /// Every partition with its topic.
    pub fn partitions(&self) -> impl Iterator<Item = (TopicRef<'a>, &FetchPartitionResponse<'a>)> {
        self.topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(move |p| (t.topic, p)))
    }

    /// All partitions' record facts added up.
    pub fn summary(&self) -> RecordsSummary {
        let mut s = RecordsSummary::default();
        for (_, p) in self.partitions() {
            s.merge(&p.summary);
        }
        s
    }
}

/// Decodes a Fetch response body of `version` (0-18). A partial trailing batch in a
/// records field is counted in its summary, not an error. Tagged fields
/// (`diverging_epoch`, `current_leader`, `snapshot_id`, `node_endpoints`) are skipped.
pub fn fetch_response(body: &[u8], version: i16) -> Result<FetchResponse<'_>, BodyError> {
    check_version(version, 0, 18)?;
    let flex = version >= FLEXIBLE;
    let mut r = Reader::new(body);
    let throttle_time_ms = if version >= 1 {
        r.i32("throttle_time_ms")?
    } else {
        0
    };
    let (error_code, session_id) = if version >= 7 {
        (r.i16("error_code")?, r.i32("session_id")?)
    } else {
        (0, 0)
    };
    // index, error, high watermark, records length at least.
    let min_partition = 4 + 2 + 8 + 1;
    let n = r.array_len("responses", flex, 2)?;
    let mut topics = vec_for(n);
    for _ in 0..n {
        let topic = r.topic_ref(version >= TOPIC_IDS, flex)?;
        let np = r.array_len("responses.partitions", flex, min_partition)?;
        let mut partitions = vec_for(np);
        for _ in 0..np {
            let partition_index = r.i32("partitions.partition_index")?;
            let error_code = r.i16("partitions.error_code")?;
            let high_watermark = r.i64("partitions.high_watermark")?;
            let mut last_stable_offset = None;
            let mut log_start_offset = None;
            let mut aborted_transactions = None;
            if version >= 4 {
                last_stable_offset = Some(r.i64("partitions.last_stable_offset")?);
                if version >= 5 {
                    log_start_offset = Some(r.i64("partitions.log_start_offset")?);
                }
                let field = "partitions.aborted_transactions";
                if let Some(na) = r.nullable_array(field, flex, 16)? {
                    let mut list = vec_for(na);
                    for _ in 0..na {
                        let producer_id = r.i64("aborted_transactions.producer_id")?;
                        let first_offset = r.i64("aborted_transactions.first_offset")?;
                        r.tags("aborted_transactions._tagged_fields", flex)?;
                        list.push(AbortedTransaction {
                            producer_id,
                            first_offset,
                        });
                    }
                    aborted_transactions = Some(list);
                }
            }
            let preferred_read_replica = if version >= 11 {
                Some(r.i32("partitions.preferred_read_replica")?)
            } else {
                None
            };
            let records = r.nullable_bytes("partitions.records", flex)?;
            let summary = records
                .map(|b| summarize_at(b, r.pos() - b.len()))
                .unwrap_or_default();
            r.tags("partitions._tagged_fields", flex)?;
            partitions.push(FetchPartitionResponse {
                partition_index,
                error_code,
                high_watermark,
                last_stable_offset,
                log_start_offset,
                aborted_transactions,
                preferred_read_replica,
                records,
                summary,
            });
        }
        r.tags("responses._tagged_fields", flex)?;
        topics.push(FetchTopicResponse { topic, partitions });
    }
    r.tags("_tagged_fields", flex)?;
    Ok(FetchResponse {
        throttle_time_ms,
        error_code,
        session_id,
        topics,
        trailing: r.remaining(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::records::tests::one_record_batch;
    use super::super::{BodyErrorKind, TopicId};
    use super::*;
    use crate::kafka::body::testutil::{encode, topic_uuid};
    use kafka_protocol::messages::fetch_request as kreq;
    use kafka_protocol::messages::fetch_response as kresp;
    use kafka_protocol::messages::{
        BrokerId, FetchRequest as KReq, FetchResponse as KResp, ProducerId, TopicName,
    };
    use kafka_protocol::protocol::StrBytes;

    fn topic(name: &'static str) -> TopicName {
        TopicName(StrBytes::from_static_str(name))
    }

    #[test]
    fn fetch_request_matches_kafka_protocol_every_version() {
        let req = KReq::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(500)
            .with_min_bytes(1)
            .with_max_bytes(52_428_800)
            .with_isolation_level(1)
            .with_session_id(77)
            .with_session_epoch(3)
            .with_topics(vec![
                kreq::FetchTopic::default()
                    .with_topic(topic("orders"))
                    .with_topic_id(topic_uuid(1))
                    .with_partitions(vec![
                        kreq::FetchPartition::default()
                            .with_partition(0)
                            .with_current_leader_epoch(4)
                            .with_fetch_offset(1234)
                            .with_last_fetched_epoch(3)
                            .with_log_start_offset(10)
                            .with_partition_max_bytes(1_048_576)
                            .with_replica_directory_id(topic_uuid(5))
                            .with_high_watermark(99),
                        kreq::FetchPartition::default()
                            .with_partition(1)
                            .with_fetch_offset(5),
                    ]),
            ])
            .with_forgotten_topics_data(vec![
                kreq::ForgottenTopic::default()
                    .with_topic(topic("old"))
                    .with_topic_id(topic_uuid(2))
                    .with_partitions(vec![7, 8]),
            ])
            .with_rack_id(StrBytes::from_static_str("rack-a"))
            .with_cluster_id(Some(StrBytes::from_static_str("cluster")))
            .with_replica_state(
                kreq::ReplicaState::default()
                    .with_replica_id(BrokerId(-1))
                    .with_replica_epoch(-1),
            );
        for v in 4..=18 {
            // kafka-protocol refuses to encode a field the version lacks unless it holds
            // the default.
            let mut req = req.clone();
            if v < 12 {
                req.topics[0].partitions[0].last_fetched_epoch = -1;
            }
            if v < 7 {
                req.forgotten_topics_data.clear();
            }
            let body = encode(&req, v);
            let f = fetch_request(&body, v).unwrap_or_else(|e| panic!("v{v}: {e}"));
            assert_eq!(f.trailing, 0, "v{v}");
            assert_eq!(f.replica_id, (v <= 14).then_some(-1));
            assert_eq!(
                (f.max_wait_ms, f.min_bytes, f.max_bytes),
                (500, 1, Some(52_428_800))
            );
            assert_eq!(f.isolation_level, Some(1));
            assert_eq!(f.session_id, (v >= 7).then_some(77));
            assert_eq!(f.session_epoch, (v >= 7).then_some(3));
            let t = &f.topics[0];
            if v >= 13 {
                assert_eq!(t.topic, TopicRef::Id(TopicId([1; 16])));
            } else {
                assert_eq!(t.topic, TopicRef::Name("orders"));
            }
            let p = t.partitions[0];
            assert_eq!(
                (p.partition, p.fetch_offset, p.partition_max_bytes),
                (0, 1234, 1_048_576)
            );
            assert_eq!(p.current_leader_epoch, (v >= 9).then_some(4));
            assert_eq!(p.last_fetched_epoch, (v >= 12).then_some(3));
            assert_eq!(p.log_start_offset, (v >= 5).then_some(10));
            assert_eq!(t.partitions[1].fetch_offset, 5);
            if v >= 7 {
                assert_eq!(f.forgotten_topics[0].partitions, vec![7, 8]);
                assert_eq!(
                    f.forgotten_topics[0].topic.name(),
                    (v < 13).then_some("old")
                );
            } else {
                assert!(f.forgotten_topics.is_empty());
            }
            assert_eq!(f.rack_id, (v >= 11).then_some("rack-a"));
            for cut in 0..body.len() {
                assert!(fetch_request(&body[..cut], v).is_err(), "v{v} cut {cut}");
            }
        }
    }

    fn kafka_response(records: Option<&[u8]>) -> KResp {
        let records = records.map(bytes::Bytes::copy_from_slice);
        KResp::default()
            .with_throttle_time_ms(3)
            .with_error_code(0)
            .with_session_id(77)
            .with_responses(vec![
                kresp::FetchableTopicResponse::default()
                    .with_topic(topic("orders"))
                    .with_topic_id(topic_uuid(1))
                    .with_partitions(vec![
                        kresp::PartitionData::default()
                            .with_partition_index(0)
                            .with_high_watermark(101)
                            .with_last_stable_offset(101)
                            .with_log_start_offset(0)
                            .with_aborted_transactions(Some(vec![
                                kresp::AbortedTransaction::default()
                                    .with_producer_id(ProducerId(42))
                                    .with_first_offset(90),
                            ]))
                            .with_preferred_read_replica(BrokerId(-1))
                            .with_records(records)
                            .with_current_leader(
                                kresp::LeaderIdAndEpoch::default()
                                    .with_leader_id(BrokerId(1))
                                    .with_leader_epoch(2),
                            ),
                        kresp::PartitionData::default()
                            .with_partition_index(1)
                            .with_error_code(6)
                            .with_high_watermark(-1)
                            .with_aborted_transactions(None)
                            .with_records(None),
                    ]),
            ])
            .with_node_endpoints(vec![
                kresp::NodeEndpoint::default()
                    .with_node_id(BrokerId(1))
                    .with_host(StrBytes::from_static_str("b1"))
                    .with_port(9092),
            ])
    }

    #[test]
    fn fetch_response_matches_kafka_protocol_every_version() {
        let batch = one_record_batch();
        let mut records = batch.clone();
        records.extend(&batch[..30]); // a partial trailing batch, as brokers send
        let resp = kafka_response(Some(&records));
        for v in 4..=18 {
            let resp = if v < 7 {
                resp.clone().with_session_id(0)
            } else {
                resp.clone()
            };
            let body = encode(&resp, v);
            let f = fetch_response(&body, v).unwrap_or_else(|e| panic!("v{v}: {e}"));
            assert_eq!(f.trailing, 0, "v{v}");
            assert_eq!(f.throttle_time_ms, 3);
            assert_eq!(f.session_id, if v >= 7 { 77 } else { 0 });
            let (t, p) = f.partitions().next().unwrap();
            assert_eq!(t.name().is_some(), v < 13);
            assert_eq!(
                (p.partition_index, p.error_code, p.high_watermark),
                (0, 0, 101)
            );
            assert_eq!(p.last_stable_offset, Some(101));
            assert_eq!(p.log_start_offset, (v >= 5).then_some(0));
            assert_eq!(
                p.aborted_transactions,
                Some(vec![AbortedTransaction {
                    producer_id: 42,
                    first_offset: 90
                }])
            );
            assert_eq!(p.preferred_read_replica, (v >= 11).then_some(-1));
            assert_eq!(p.records, Some(&records[..]));
            assert_eq!(
                (
                    p.summary.batches,
                    p.summary.records,
                    p.summary.partial_bytes
                ),
                (1, 1, 30)
            );
            let q = &f.topics[0].partitions[1];
            assert_eq!(
                (q.error_code, q.records, q.aborted_transactions.clone()),
                (6, None, None)
            );
            assert_eq!(f.summary().records, 1);
            for cut in 0..body.len() {
                assert!(fetch_response(&body[..cut], v).is_err(), "v{v} cut {cut}");
            }
        }
    }

    #[test]
    fn fetch_response_v12_by_hand() {
        let b = [
            0x00, 0x00, 0x00, 0x00, // throttle_time_ms 0
            0x00, 0x00, // error_code 0
            0x00, 0x00, 0x00, 0x05, // session_id 5
            0x02, // 1 topic (compact)
            0x04, b'a', b'b', b'c', // topic "abc" (compact)
            0x02, // 1 partition
            0x00, 0x00, 0x00, 0x02, // partition_index 2
            0x00, 0x00, // error_code 0
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, // high_watermark 9
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, // last_stable_offset 9
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // log_start_offset 0
            0x00, // aborted_transactions null (compact)
            0xff, 0xff, 0xff, 0xff, // preferred_read_replica -1
            0x01, // records: empty (compact length 0 + 1)
            0x00, // partition tags
            0x00, // topic tags
            0x00, // body tags
        ];
        let f = fetch_response(&b, 12).unwrap();
        assert_eq!((f.session_id, f.trailing), (5, 0));
        let (t, p) = f.partitions().next().unwrap();
        assert_eq!(t, TopicRef::Name("abc"));
        assert_eq!((p.partition_index, p.high_watermark), (2, 9));
        assert_eq!(p.aborted_transactions, None);
        assert_eq!(p.records, Some(&[][..]));
        assert_eq!(p.summary.batches, 0);
    }

    #[test]
    fn fetch_v0_by_hand() {
        let req = [
            0xff, 0xff, 0xff, 0xff, // replica_id -1
            0x00, 0x00, 0x01, 0xf4, // max_wait_ms 500
            0x00, 0x00, 0x00, 0x01, // min_bytes 1
            0x00, 0x00, 0x00, 0x01, // 1 topic
            0x00, 0x01, b't', // "t"
            0x00, 0x00, 0x00, 0x01, // 1 partition
            0x00, 0x00, 0x00, 0x00, // partition 0
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, // fetch_offset 3
            0x00, 0x10, 0x00, 0x00, // partition_max_bytes 1 MiB
        ];
        let f = fetch_request(&req, 0).unwrap();
        assert_eq!(
            (f.max_bytes, f.isolation_level, f.trailing),
            (None, None, 0)
        );
        assert_eq!(f.topics[0].partitions[0].fetch_offset, 3);
        let resp = [
            0x00, 0x00, 0x00, 0x01, // 1 topic
            0x00, 0x01, b't', // "t"
            0x00, 0x00, 0x00, 0x01, // 1 partition
            0x00, 0x00, 0x00, 0x00, // partition 0
            0x00, 0x01, // error 1 OFFSET_OUT_OF_RANGE
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, // high_watermark 3
            0x00, 0x00, 0x00, 0x00, // empty message set
        ];
        let f = fetch_response(&resp, 0).unwrap();
        let (_, p) = f.partitions().next().unwrap();
        assert_eq!(
            (p.error_code, p.last_stable_offset, p.records),
            (1, None, Some(&[][..]))
        );
        let mut v1 = 9i32.to_be_bytes().to_vec(); // throttle_time_ms (v1+)
        v1.extend(resp);
        assert_eq!(fetch_response(&v1, 1).unwrap().throttle_time_ms, 9);
    }

    #[test]
    fn huge_counts_error_fast() {
        // v11: throttle, error, session, then 0x7fffffff topics.
        let mut b = vec![0u8; 10];
        b.extend([0x7f, 0xff, 0xff, 0xff]);
        b.extend([0u8; 10]);
        let e = fetch_response(&b, 11).unwrap_err();
        assert_eq!((e.field, e.offset), ("responses", 10));
        assert!(matches!(e.kind, BodyErrorKind::TooManyElements { .. }));
        // A partition count that cannot fit.
        let mut b = vec![0u8; 10];
        b.extend([
            0x00, 0x00, 0x00, 0x01, 0x00, 0x01, b't', 0x00, 0x10, 0x00, 0x00,
        ]);
        b.extend([0u8; 40]);
        let e = fetch_response(&b, 11).unwrap_err();
        assert_eq!(e.field, "responses.partitions");
    }
}
