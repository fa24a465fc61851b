//! Produce request and response bodies, v0-v13. Layouts from kafka-protocol 0.18's
//! generated `produce_request.rs` / `produce_response.rs` (v3-v13, Kafka 4.1) and, for
//! v0-v2 (removed in Kafka 4.0), from the older Kafka schemas: no transactional id
//! before v3, no throttle time before v1, no log append time before v2.

use super::records::{BATCH_HEADER_LEN, RecordsSummary, summarize_at};
use super::{BodyError, Reader, TopicRef, check_version, vec_for};

/// Flexible (compact, tagged) from this version on.
const FLEXIBLE: i16 = 9;
/// Topics named by id from this version on.
const TOPIC_IDS: i16 = 13;

/// A Produce request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceRequest<'a> {
    /// v3+; `None` when null or absent.
    pub transactional_id: Option<&'a str>,
    pub acks: i16,
    pub timeout_ms: i32,
    pub topics: Vec<ProduceTopic<'a>>,
    /// Bytes after the last field (0 in a well-formed body).
    pub trailing: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceTopic<'a> {
    pub topic: TopicRef<'a>,
    pub partitions: Vec<ProducePartition<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducePartition<'a> {
    pub index: i32,
    /// The records field, borrowed; `None` when null.
    pub records: Option<&'a [u8]>,
    pub summary: RecordsSummary,
}

impl ProduceRequest<'_> {
    /// All partitions' record facts added up.
    pub fn summary(&self) -> RecordsSummary {
        let mut s = RecordsSummary::default();
        for p in self.topics.iter().flat_map(|t| &t.partitions) {
            s.merge(&p.summary);
        }
        s
    }
}

/// Decodes a Produce request body of `version` (0-13).
pub fn produce_request(body: &[u8], version: i16) -> Result<ProduceRequest<'_>, BodyError> {
    check_version(version, 0, 13)?;
    let flex = version >= FLEXIBLE;
    let mut r = Reader::new(body);
    let transactional_id = if version >= 3 {
        r.nullable_str("transactional_id", flex)?
    } else {
        None
    };
    let acks = r.i16("acks")?;
    let timeout_ms = r.i32("timeout_ms")?;
    // A topic is at least a name or id length and a partition count.
    let n = r.array_len("topic_data", flex, 2)?;
    let mut topics = vec_for(n);
    for _ in 0..n {
        let topic = r.topic_ref(version >= TOPIC_IDS, flex)?;
        // A partition: index and records length.
        let np = r.array_len("topic_data.partition_data", flex, 5)?;
        let mut partitions = vec_for(np);
        for _ in 0..np {
            let index = r.i32("partition_data.index")?;
            let records = r.nullable_bytes("partition_data.records", flex)?;
            let summary = records
                .map(|b| summarize_at(b, r.pos() - b.len()))
                .unwrap_or_default();
            r.tags("partition_data._tagged_fields", flex)?;
            partitions.push(ProducePartition {
                index,
                records,
                summary,
            });
        }
        r.tags("topic_data._tagged_fields", flex)?;
        topics.push(ProduceTopic { topic, partitions });
    }
    r.tags("_tagged_fields", flex)?;
    Ok(ProduceRequest {
        transactional_id,
        acks,
        timeout_ms,
        topics,
        trailing: r.remaining(),
    })
}

/// Reads only the start of a Produce request: `acks`, for a body the capture cut short
/// (acks=0 means no response will come).
pub fn produce_request_acks(body: &[u8], version: i16) -> Result<i16, BodyError> {
    check_version(version, 0, 13)?;
    let mut r = Reader::new(body);
    if version >= 3 {
        r.nullable_str("transactional_id", version >= FLEXIBLE)?;
    }
    r.i16("acks")
}

/// What the start of a cut Produce request says for sure: its only partition and how
/// many records it carries, when the capture kept the header of a batch that fills the
/// whole records field and whose offsets agree with its record count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutProduceCount<'a> {
    pub topic: TopicRef<'a>,
    pub partition: i32,
    pub records: u64,
}

/// Reads a Produce request body the capture cut short, as far as the first record
/// batch's header. `None` unless the request holds exactly one topic with exactly one
/// partition whose records field is one magic-2 data batch (so no record can hide in
/// the bytes not captured) with `last_offset_delta + 1 == record_count`.
pub fn produce_request_cut_count(body: &[u8], version: i16) -> Option<CutProduceCount<'_>> {
    check_version(version, 0, 13).ok()?;
    let flex = version >= FLEXIBLE;
    let mut r = Reader::new(body);
    if version >= 3 {
        r.nullable_str("transactional_id", flex).ok()?;
    }
    r.i16("acks").ok()?;
    r.i32("timeout_ms").ok()?;
    if r.array_len("topic_data", flex, 0).ok()? != 1 {
        return None;
    }
    let topic = r.topic_ref(version >= TOPIC_IDS, flex).ok()?;
    if r.array_len("topic_data.partition_data", flex, 0).ok()? != 1 {
        return None;
    }
    let partition = r.i32("partition_data.index").ok()?;
    let field_len = r.length("partition_data.records", flex, false).ok()??;
    let head = r
        .take(BATCH_HEADER_LEN.min(r.remaining()), "records")
        .ok()?;
    let head: &[u8; BATCH_HEADER_LEN] = head.try_into().ok()?;
    let be32 = |at: usize| i32::from_be_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
    let (batch_length, magic, attributes) = (be32(8), head[16] as i8, head[21]);
    let (last_offset_delta, record_count) = (be32(23), be32(57));
    let is_control = attributes & 0x20 != 0;
    let fills_field = usize::try_from(batch_length).ok()?.checked_add(12)? == field_len;
    if magic != 2 || is_control || !fills_field || last_offset_delta.checked_add(1)? != record_count
    {
        return None;
    }
    Some(CutProduceCount {
        topic,
        partition,
        records: u64::try_from(record_count).ok()?,
    })
}

/// A Produce response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceResponse<'a> {
    pub topics: Vec<ProduceTopicResponse<'a>>,
    /// v1+; 0 before.
    pub throttle_time_ms: i32,
    pub trailing: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceTopicResponse<'a> {
    pub topic: TopicRef<'a>,
    pub partitions: Vec<ProducePartitionResponse<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducePartitionResponse<'a> {
    pub index: i32,
    pub error_code: i16,
    pub base_offset: i64,
    /// v2+; -1 (Kafka's "none") before, or when the broker used create time.
    pub log_append_time_ms: i64,
    /// v5+.
    pub log_start_offset: Option<i64>,
    /// v8+: the batches that failed, with their messages.
    pub record_errors: Vec<RecordErrorEntry<'a>>,
    /// v8+.
    pub error_message: Option<&'a str>,
}

/// One entry of a Produce response's `record_errors`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordErrorEntry<'a> {
    pub batch_index: i32,
    pub message: Option<&'a str>,
}

impl<'a> ProduceResponse<'a> {
    /// Every partition with its topic.
    pub fn partitions(
        &self,
    ) -> impl Iterator<Item = (TopicRef<'a>, &ProducePartitionResponse<'a>)> {
        self.topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(move |p| (t.topic, p)))
    }
}

/// Decodes a Produce response body of `version` (0-13). Tagged fields (v10+
/// `current_leader`, `node_endpoints`) are skipped.
pub fn produce_response(body: &[u8], version: i16) -> Result<ProduceResponse<'_>, BodyError> {
    check_version(version, 0, 13)?;
    let flex = version >= FLEXIBLE;
    let mut r = Reader::new(body);
    let n = r.array_len("responses", flex, 2)?;
    let mut topics = vec_for(n);
    for _ in 0..n {
        let topic = r.topic_ref(version >= TOPIC_IDS, flex)?;
        // index, error code, base offset.
        let np = r.array_len("responses.partition_responses", flex, 14)?;
        let mut partitions = vec_for(np);
        for _ in 0..np {
            let index = r.i32("partition_responses.index")?;
            let error_code = r.i16("partition_responses.error_code")?;
            let base_offset = r.i64("partition_responses.base_offset")?;
            let log_append_time_ms = if version >= 2 {
                r.i64("partition_responses.log_append_time_ms")?
            } else {
                -1
            };
            let log_start_offset = if version >= 5 {
                Some(r.i64("partition_responses.log_start_offset")?)
            } else {
                None
            };
            let mut record_errors = Vec::new();
            let mut error_message = None;
            if version >= 8 {
                let ne = r.array_len("partition_responses.record_errors", flex, 5)?;
                record_errors = vec_for(ne);
                for _ in 0..ne {
                    let batch_index = r.i32("record_errors.batch_index")?;
                    let message =
                        r.nullable_str("record_errors.batch_index_error_message", flex)?;
                    r.tags("record_errors._tagged_fields", flex)?;
                    record_errors.push(RecordErrorEntry {
                        batch_index,
                        message,
                    });
                }
                error_message = r.nullable_str("partition_responses.error_message", flex)?;
            }
            r.tags("partition_responses._tagged_fields", flex)?;
            partitions.push(ProducePartitionResponse {
                index,
                error_code,
                base_offset,
                log_append_time_ms,
                log_start_offset,
                record_errors,
                error_message,
            });
        }
        r.tags("responses._tagged_fields", flex)?;
        topics.push(ProduceTopicResponse { topic, partitions });
    }
    let throttle_time_ms = if version >= 1 {
        r.i32("throttle_time_ms")?
    } else {
        0
    };
    r.tags("_tagged_fields", flex)?;
    Ok(ProduceResponse {
        topics,
        throttle_time_ms,
        trailing: r.remaining(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::records::tests::one_record_batch;
    use super::super::{BodyErrorKind, TopicId};
    use super::*;
    use crate::kafka::body::testutil::{encode, topic_uuid};
    use kafka_protocol::messages::produce_request as kreq;
    use kafka_protocol::messages::produce_response as kresp;
    use kafka_protocol::messages::{
        BrokerId, ProduceRequest as KReq, ProduceResponse as KResp, TopicName,
    };
    use kafka_protocol::protocol::StrBytes;

    fn kafka_request(records: &[u8]) -> KReq {
        let records = bytes::Bytes::copy_from_slice(records);
        KReq::default()
            .with_transactional_id(Some(StrBytes::from_static_str("txn-1").into()))
            .with_acks(-1)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![
                kreq::TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_static_str("orders")))
                    .with_topic_id(topic_uuid(7))
                    .with_partition_data(vec![
                        kreq::PartitionProduceData::default()
                            .with_index(2)
                            .with_records(Some(records.clone())),
                        kreq::PartitionProduceData::default()
                            .with_index(3)
                            .with_records(None),
                    ]),
            ])
    }

    /// A v9 body with one topic holding `partitions` copies of `batch`.
    fn single_topic_body(batch: &[u8], partitions: i32) -> Vec<u8> {
        let records = bytes::Bytes::copy_from_slice(batch);
        let data = (0..partitions)
            .map(|i| {
                kreq::PartitionProduceData::default()
                    .with_index(i)
                    .with_records(Some(records.clone()))
            })
            .collect();
        let req = KReq::default().with_acks(1).with_topic_data(vec![
            kreq::TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str("orders")))
                .with_partition_data(data),
        ]);
        encode(&req, 9)
    }

    #[test]
    fn a_cut_request_gives_its_count_only_when_sure() {
        let batch = crate::testkit::record_batch(0, 0, 5, &[0u8; 400]);
        let body = single_topic_body(&batch, 1);
        let records_at = body
            .windows(batch.len())
            .position(|w| w == batch.as_slice())
            .unwrap();
        let header_end = records_at + BATCH_HEADER_LEN;
        for cut in header_end..body.len() {
            let sure = produce_request_cut_count(&body[..cut], 9).unwrap();
            assert_eq!((sure.partition, sure.records), (0, 5), "cut {cut}");
            assert_eq!(sure.topic.name(), Some("orders"));
        }
        for cut in 0..header_end {
            assert!(
                produce_request_cut_count(&body[..cut], 9).is_none(),
                "cut {cut}"
            );
        }
        // Two partitions: the second could hold anything.
        let two = single_topic_body(&batch, 2);
        assert!(produce_request_cut_count(&two[..header_end + 10], 9).is_none());
        // Offsets that disagree with the record count.
        let mut odd = batch.clone();
        odd[23..27].copy_from_slice(&7i32.to_be_bytes());
        let body = single_topic_body(&odd, 1);
        assert!(produce_request_cut_count(&body[..header_end + 10], 9).is_none());
        // Two batches in the field: the second's records were not seen.
        let mut both = batch.clone();
        both.extend_from_slice(&batch);
        let body = single_topic_body(&both, 1);
        assert!(produce_request_cut_count(&body[..header_end + 10], 9).is_none());
    }

    #[test]
    fn produce_request_v7_by_hand() {
        let batch = one_record_batch();
        let mut b = vec![
            0x00, 0x05, b't', b'x', b'n', b'-', b'1', // transactional_id "txn-1" (i16 length)
            0xff, 0xff, // acks -1
            0x00, 0x00, 0x75, 0x30, // timeout_ms 30000
            0x00, 0x00, 0x00, 0x01, // 1 topic
            0x00, 0x06, b'o', b'r', b'd', b'e', b'r', b's', // name "orders"
            0x00, 0x00, 0x00, 0x01, // 1 partition
            0x00, 0x00, 0x00, 0x02, // index 2
        ];
        b.extend((batch.len() as i32).to_be_bytes()); // records length (i32)
        let records_at = b.len();
        b.extend(&batch); // records
        let p = produce_request(&b, 7).unwrap();
        assert_eq!(p.transactional_id, Some("txn-1"));
        assert_eq!((p.acks, p.timeout_ms, p.trailing), (-1, 30_000, 0));
        assert_eq!(p.topics[0].topic, TopicRef::Name("orders"));
        let part = &p.topics[0].partitions[0];
        assert_eq!(part.index, 2);
        assert_eq!(part.records, Some(&b[records_at..]));
        assert_eq!((part.summary.batches, part.summary.records), (1, 1));
        assert_eq!(p.summary().last_offset, Some(100));
    }

    #[test]
    fn produce_request_v9_compact_by_hand() {
        let b = [
            0x00, // transactional_id null (compact)
            0x00, 0x01, // acks 1
            0x00, 0x00, 0x03, 0xe8, // timeout_ms 1000
            0x02, // 1 topic (compact)
            0x02, b't', // name "t"
            0x02, // 1 partition
            0x00, 0x00, 0x00, 0x00, // index 0
            0x00, // records null (compact)
            0x00, // partition tags
            0x00, // topic tags
            0x00, // body tags
        ];
        let p = produce_request(&b, 9).unwrap();
        assert_eq!((p.transactional_id, p.acks, p.trailing), (None, 1, 0));
        assert_eq!(produce_request_acks(&b[..3], 9), Ok(1));
        assert!(produce_request_acks(&b[..2], 9).is_err());
        assert_eq!(p.topics[0].partitions[0].records, None);
        for cut in 0..b.len() {
            assert!(produce_request(&b[..cut], 9).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn produce_request_matches_kafka_protocol_every_version() {
        let batch = one_record_batch();
        let req = kafka_request(&batch);
        for v in 3..=13 {
            let body = encode(&req, v);
            let p = produce_request(&body, v).unwrap_or_else(|e| panic!("v{v}: {e}"));
            assert_eq!(p.trailing, 0, "v{v}");
            assert_eq!(p.transactional_id, Some("txn-1"));
            assert_eq!((p.acks, p.timeout_ms), (-1, 30_000));
            let t = &p.topics[0];
            if v >= 13 {
                assert_eq!(t.topic, TopicRef::Id(TopicId(topic_uuid(7).into_bytes())));
            } else {
                assert_eq!(t.topic, TopicRef::Name("orders"));
            }
            assert_eq!(t.partitions.len(), 2);
            assert_eq!(t.partitions[0].records, Some(&batch[..]));
            assert_eq!(t.partitions[0].summary.records, 1);
            assert_eq!(t.partitions[1].records, None);
            for cut in 0..body.len() {
                assert!(produce_request(&body[..cut], v).is_err(), "v{v} cut {cut}");
            }
        }
    }

    #[test]
    fn produce_response_matches_kafka_protocol_every_version() {
        let resp = KResp::default()
            .with_throttle_time_ms(12)
            .with_responses(vec![
                kresp::TopicProduceResponse::default()
                    .with_name(TopicName(StrBytes::from_static_str("orders")))
                    .with_topic_id(topic_uuid(9))
                    .with_partition_responses(vec![
                        kresp::PartitionProduceResponse::default()
                            .with_index(1)
                            .with_error_code(87)
                            .with_base_offset(-1)
                            .with_log_append_time_ms(-1)
                            .with_log_start_offset(4)
                            .with_record_errors(vec![
                                kresp::BatchIndexAndErrorMessage::default()
                                    .with_batch_index(0)
                                    .with_batch_index_error_message(Some(
                                        StrBytes::from_static_str("bad"),
                                    )),
                            ])
                            .with_error_message(Some(StrBytes::from_static_str("Broker failed")))
                            .with_current_leader(
                                kresp::LeaderIdAndEpoch::default()
                                    .with_leader_id(BrokerId(3))
                                    .with_leader_epoch(8),
                            ),
                        kresp::PartitionProduceResponse::default()
                            .with_index(2)
                            .with_base_offset(500)
                            .with_log_append_time_ms(1_700_000_000_000),
                    ]),
            ]);
        let resp = resp.with_node_endpoints(vec![
            kresp::NodeEndpoint::default()
                .with_node_id(BrokerId(3))
                .with_host(StrBytes::from_static_str("b3"))
                .with_port(9092),
        ]);
        for v in 3..=13 {
            let body = encode(&resp, v);
            let p = produce_response(&body, v).unwrap_or_else(|e| panic!("v{v}: {e}"));
            assert_eq!(p.trailing, 0, "v{v}");
            assert_eq!(p.throttle_time_ms, 12);
            let (topic, first) = p.partitions().next().unwrap();
            assert_eq!(topic.name().is_some(), v < 13);
            assert_eq!(
                (first.index, first.error_code, first.base_offset),
                (1, 87, -1)
            );
            assert_eq!(first.log_start_offset, (v >= 5).then_some(4));
            if v >= 8 {
                assert_eq!(
                    first.record_errors,
                    vec![RecordErrorEntry {
                        batch_index: 0,
                        message: Some("bad")
                    }]
                );
                assert_eq!(first.error_message, Some("Broker failed"));
            } else {
                assert!(first.record_errors.is_empty() && first.error_message.is_none());
            }
            let second = &p.topics[0].partitions[1];
            assert_eq!((second.index, second.base_offset), (2, 500));
            assert_eq!(second.log_append_time_ms, 1_700_000_000_000);
            for cut in 0..body.len() {
                assert!(produce_response(&body[..cut], v).is_err(), "v{v} cut {cut}");
            }
        }
    }

    #[test]
    fn produce_response_v0_v2_by_hand() {
        let mut b = vec![
            0x00, 0x00, 0x00, 0x01, // 1 topic
            0x00, 0x01, b'a', // name "a"
            0x00, 0x00, 0x00, 0x01, // 1 partition
            0x00, 0x00, 0x00, 0x00, // index 0
            0x00, 0x06, // error 6
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, // base offset 9
        ];
        let v0 = produce_response(&b, 0).unwrap();
        assert_eq!((v0.throttle_time_ms, v0.trailing), (0, 0));
        assert_eq!(v0.topics[0].partitions[0].error_code, 6);
        assert_eq!(v0.topics[0].partitions[0].log_append_time_ms, -1);
        b.extend(25i32.to_be_bytes()); // throttle time (v1+)
        assert_eq!(produce_response(&b, 1).unwrap().throttle_time_ms, 25);
        // v2 inserts log_append_time before the throttle time.
        let mut v2 = b[..b.len() - 4].to_vec();
        v2.extend(77i64.to_be_bytes());
        v2.extend(25i32.to_be_bytes());
        let p = produce_response(&v2, 2).unwrap();
        assert_eq!(
            (
                p.topics[0].partitions[0].log_append_time_ms,
                p.throttle_time_ms
            ),
            (77, 25)
        );
    }

    #[test]
    fn produce_request_v0_by_hand() {
        let b = [
            0x00, 0x01, // acks 1
            0x00, 0x00, 0x00, 0x64, // timeout 100
            0x00, 0x00, 0x00, 0x00, // no topics
        ];
        let p = produce_request(&b, 2).unwrap();
        assert_eq!((p.acks, p.timeout_ms, p.topics.len()), (1, 100, 0));
        assert_eq!(p.transactional_id, None);
    }

    #[test]
    fn huge_counts_error_fast() {
        // transactional id null, acks, timeout, then 0x7fffffff topics and 10 bytes.
        let mut b = vec![
            0xff, 0xff, 0x00, 0x01, 0x00, 0x00, 0x00, 0x10, 0x7f, 0xff, 0xff, 0xff,
        ];
        b.extend([0u8; 10]);
        let e = produce_request(&b, 3).unwrap_err();
        assert_eq!((e.field, e.offset), ("topic_data", 8));
        assert!(matches!(e.kind, BodyErrorKind::TooManyElements { .. }));
        // The 14-byte body from DESIGN.md that aborts kafka-protocol.
        let b = [0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(produce_response(&b, 3).is_err());
        assert!(produce_request(&b, 3).is_err());
        assert_eq!(
            produce_request(&b, 14).unwrap_err().kind,
            BodyErrorKind::UnsupportedVersion(14)
        );
    }
}
