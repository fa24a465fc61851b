//! Network timing around the Kafka phases: each connection's round-trip time seen from
//! the capture point (from the TCP handshake, or else from data→ACK delays), where the
//! capture point lies, how the wait for a response splits into network and broker
//! estimates, and the TCP trouble (retransmissions, out-of-order arrivals, zero
//! windows, gaps) that happened while an exchange was in flight.

use crate::kafka::frame::FrameSpan;
use crate::net::flags;
use crate::tcp::{SegRec, TcpEvent};

/// Below this, both ends are as close to the capture point as a loopback or a host's
/// own interface: the side of the capture cannot be told.
const LOCAL_RTT_NS: i64 = 100_000;

/// Round trips from the capture point, per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rtt {
    /// Capture point → broker → capture point.
    pub to_broker_ns: Option<i64>,
    /// Capture point → client → capture point.
    pub to_client_ns: Option<i64>,
    /// Whether the handshake gave them (else the fastest data→ACK delays did).
    pub from_handshake: bool,
}

/// Where the capture was taken, as far as the round trips tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapturePoint {
    Client,
    Broker,
    Between,
    /// Both round trips are tiny (same host, loopback): no side can be told.
    Local,
}

impl CapturePoint {
    pub fn as_str(self) -> &'static str {
        match self {
            CapturePoint::Client => "client",
            CapturePoint::Broker => "broker",
            CapturePoint::Between => "between",
            CapturePoint::Local => "local",
        }
    }
}

impl Rtt {
    /// The full round trip client ↔ broker, when both halves are known.
    pub fn total_ns(&self) -> Option<i64> {
        Some(self.to_broker_ns? + self.to_client_ns?)
    }

    /// The side whose round trip is much shorter is the side the capture was taken on.
    /// Only the handshake says so reliably: data→ACK delays include delayed ACKs and
    /// broker time.
    pub fn capture_point(&self) -> Option<CapturePoint> {
        if !self.from_handshake {
            return None;
        }
        let (b, c) = (self.to_broker_ns?, self.to_client_ns?);
        Some(if b.max(c) < LOCAL_RTT_NS {
            CapturePoint::Local
        } else if b * 4 < c {
            CapturePoint::Broker
        } else if c * 4 < b {
            CapturePoint::Client
        } else {
            CapturePoint::Between
        })
    }

    /// Splits the wait of one exchange (request's last byte → response's first byte,
    /// at the capture point) into the network round trip to the broker, the time TCP
    /// spent recovering lost request bytes, and what is left, the broker's own time.
    /// `None` without a handshake round trip; [`WaitSplit::Unknown`] when the split
    /// cannot be made honestly (see there).
    ///
    /// Loss recovery: the broker cannot answer before it holds the whole request, so
    /// when the capture saw bytes of the request sent again after its last byte was
    /// first seen (a capture at or near the client), the time to the last such
    /// retransmission is recovery, not broker time. A capture behind the loss (at
    /// the broker) stamps the request with the retransmission's arrival already.
    pub fn split_wait(
        &self,
        events: &EventLog,
        request: &FrameSpan,
        response: &FrameSpan,
    ) -> Option<WaitSplit> {
        if !self.from_handshake {
            return None;
        }
        let to_broker = self.to_broker_ns?;
        let wait = (response.first_ts - request.last_ts).max(0);
        // Response bytes that reached the capture point beyond a hole before the
        // response's first byte did: the first segment was lost on the way here, and
        // how long its recovery took is not in the capture.
        if events.response_hole_before(response.offset, response.end(), response.first_ts) {
            return Some(WaitSplit::Unknown);
        }
        let recovery = events
            .last_resend_to_broker(request.offset, request.end(), response.first_ts)
            .map_or(0, |t| (t - request.last_ts).clamp(0, wait));
        let network = to_broker.clamp(0, wait - recovery);
        Some(WaitSplit::Known {
            network,
            recovery,
            broker: wait - recovery - network,
        })
    }
}

/// How an exchange's wait divides, as far as the capture tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitSplit {
    /// Estimates in nanoseconds: the round trip to the broker (from the handshake),
    /// TCP recovering lost request bytes, and the broker's own time.
    Known {
        network: i64,
        recovery: i64,
        broker: i64,
    },
    /// The response's first bytes were lost before the capture point: broker time
    /// and loss recovery cannot be told apart.
    Unknown,
}

/// Measures the round trips of one connection as its segments arrive: from the
/// handshake when it was captured, otherwise from the fastest data → ACK delay each way
/// so far.
#[derive(Debug, Default, Clone)]
pub struct RttTracker {
    /// Time of the latest bare SYN and the end that sent it.
    syn: Option<(i64, usize)>,
    /// Time and sequence number of the first SYN-ACK answering it.
    synack: Option<(i64, u32)>,
    handshake: Option<Rtt>,
    /// Per direction (index of the sending end): data → ACK delays.
    acks: [AckTimer; 2],
}

impl RttTracker {
    /// Takes one segment sent by `ends[from]`.
    pub fn on_segment(&mut self, from: usize, seg: &SegRec<'_>) {
        let syn_ack = seg.flags & (flags::SYN | flags::ACK);
        if self.handshake.is_none() {
            if syn_ack == flags::SYN && self.synack.is_none() {
                self.syn = Some((seg.ts_ns, from));
            } else if syn_ack == flags::SYN | flags::ACK {
                if let (Some((_, client)), None) = (self.syn, self.synack)
                    && client != from
                {
                    self.synack = Some((seg.ts_ns, seg.seq));
                }
            } else if let (Some((syn_ts, client)), Some((synack_ts, synack_seq))) =
                (self.syn, self.synack)
                && from == client
                && seg.flags & flags::ACK != 0
                && seg.ack == synack_seq.wrapping_add(1)
            {
                self.handshake = Some(Rtt {
                    to_broker_ns: Some(synack_ts - syn_ts),
                    to_client_ns: Some(seg.ts_ns - synack_ts),
                    from_handshake: true,
                });
            }
        }
        self.acks[from].on_data(seg);
        self.acks[1 - from].on_ack(seg);
    }

    /// The round trips known so far; `client` is the index of the client end.
    pub fn rtt(&self, client: usize) -> Rtt {
        if let Some(r) = self.handshake {
            return r;
        }
        Rtt {
            // Client data acknowledged by the broker measures the broker side.
            to_broker_ns: self.acks[client].best,
            to_client_ns: self.acks[1 - client].best,
            from_handshake: false,
        }
    }
}

/// The shortest delay between data sent one way and the first ACK from the other side
/// that covers it: an upper bound on the round trip, since the peer may delay its ACK
/// or send it with its response. Retransmitted data gives no sample (Karn's rule).
#[derive(Debug, Default, Clone)]
struct AckTimer {
    /// (end sequence number, time sent) of data still waiting for its ACK.
    waiting: std::collections::VecDeque<(u32, i64)>,
    highest_end: Option<u32>,
    best: Option<i64>,
}

/// Data segments timed at once, at most: a peer that never acknowledges must not make
/// the list grow without end.
const MAX_TIMED: usize = 4096;

impl AckTimer {
    fn on_data(&mut self, s: &SegRec<'_>) {
        let len = s.payload.len() as u32 + s.missing;
        if len == 0 {
            return;
        }
        let end = s.seq.wrapping_add(len);
        let fresh = self
            .highest_end
            .is_none_or(|h| (end.wrapping_sub(h) as i32) > 0);
        if fresh {
            self.highest_end = Some(end);
            if self.waiting.len() == MAX_TIMED {
                self.waiting.pop_front();
            }
            self.waiting.push_back((end, s.ts_ns));
        } else {
            // A retransmission: whatever it covers can no longer be timed.
            self.waiting
                .retain(|&(e, _)| (e.wrapping_sub(end) as i32) > 0);
        }
    }

    fn on_ack(&mut self, s: &SegRec<'_>) {
        if s.flags & flags::ACK == 0 {
            return;
        }
        while let Some(&(end, sent)) = self.waiting.front() {
            if (s.ack.wrapping_sub(end) as i32) < 0 {
                break;
            }
            self.waiting.pop_front();
            let delay = s.ts_ns - sent;
            if delay >= 0 {
                self.best = Some(self.best.map_or(delay, |b| b.min(delay)));
            }
        }
    }
}

/// TCP trouble during one exchange, both directions together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Health {
    pub retransmissions: u32,
    pub out_of_order: u32,
    pub zero_windows: u32,
    pub gaps: u32,
}

/// Which way a TCP event's segment travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Client → broker: requests.
    ToBroker,
    /// Broker → client: responses.
    ToClient,
}

/// The TCP events of a connection, sorted by time, for per-exchange counting and
/// for splitting waits.
#[derive(Debug, Clone, Default)]
pub struct EventLog {
    events: Vec<(i64, Flow, TcpEvent)>,
    gaps: Vec<i64>,
}

impl EventLog {
    pub fn new(mut events: Vec<(i64, Flow, TcpEvent)>, mut gaps: Vec<i64>) -> Self {
        events.sort_by_key(|e| e.0);
        gaps.sort_unstable();
        EventLog { events, gaps }
    }

    /// Adds an event, keeping the log in time order.
    pub fn push(&mut self, ts: i64, flow: Flow, event: TcpEvent) {
        let at = self.events.partition_point(|e| e.0 <= ts);
        self.events.insert(at, (ts, flow, event));
    }

    /// Adds the time a hole in a stream became visible.
    pub fn push_gap(&mut self, ts: i64) {
        let at = self.gaps.partition_point(|&t| t <= ts);
        self.gaps.insert(at, ts);
    }

    /// Forgets what happened before `ts`: no exchange still open began earlier.
    pub fn forget_before(&mut self, ts: i64) {
        let e = self.events.partition_point(|e| e.0 < ts);
        if e > 256 && e * 2 > self.events.len() {
            self.events.drain(..e);
        }
        let g = self.gaps.partition_point(|&t| t < ts);
        if g > 256 && g * 2 > self.gaps.len() {
            self.gaps.drain(..g);
        }
    }

    pub fn len(&self) -> usize {
        self.events.len() + self.gaps.len()
    }

    /// A copy of what happened between `start` and `end` (inclusive), and nothing
    /// else: all an exchange of that time needs.
    pub fn window(&self, start: i64, end: i64) -> EventLog {
        let from = self.events.partition_point(|e| e.0 < start);
        let to = self.events.partition_point(|e| e.0 <= end);
        let g0 = self.gaps.partition_point(|&t| t < start);
        let g1 = self.gaps.partition_point(|&t| t <= end);
        EventLog {
            events: self.events[from..to.max(from)].to_vec(),
            gaps: self.gaps[g0..g1.max(g0)].to_vec(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What happened between `start` and `end` (inclusive).
    pub fn during(&self, start: i64, end: i64) -> Health {
        let mut h = Health::default();
        for (_, _, kind) in self.between(start, end) {
            match kind {
                TcpEvent::Retransmission { .. } => h.retransmissions += 1,
                TcpEvent::OutOfOrder { .. } => h.out_of_order += 1,
                TcpEvent::ZeroWindow => h.zero_windows += 1,
            }
        }
        let g0 = self.gaps.partition_point(|&t| t < start);
        let g1 = self.gaps.partition_point(|&t| t <= end);
        h.gaps = (g1 - g0) as u32;
        h
    }

    fn between(&self, start: i64, end: i64) -> impl Iterator<Item = &(i64, Flow, TcpEvent)> {
        let from = self.events.partition_point(|e| e.0 < start);
        self.events[from..].iter().take_while(move |e| e.0 <= end)
    }

    /// The time of the last retransmission toward the broker, before `until`, that
    /// carried bytes of `start..end`.
    pub fn last_resend_to_broker(&self, start: u64, end: u64, until: i64) -> Option<i64> {
        self.events
            .iter()
            .take_while(|e| e.0 <= until)
            .filter(|(_, flow, kind)| {
                *flow == Flow::ToBroker
                    && matches!(*kind, TcpEvent::Retransmission { start: s, end: e } if s < end && e > start)
            })
            .map(|e| e.0)
            .last()
    }

    /// Whether bytes of `start..end` toward the client arrived beyond a hole before
    /// `until`.
    pub fn response_hole_before(&self, start: u64, end: u64, until: i64) -> bool {
        self.events.iter().take_while(|e| e.0 < until).any(|(_, flow, kind)| {
            *flow == Flow::ToClient
                && matches!(*kind, TcpEvent::OutOfOrder { offset } if offset > start && offset < end)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{Endpoint, Segment};
    use std::net::{IpAddr, Ipv4Addr};

    fn seg(src: u16, seq: u32, ack: u32, fl: u8, payload: &'static [u8]) -> Segment<'static> {
        let ep = |port| Endpoint {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
        };
        let dst = if src == 1 { 2 } else { 1 };
        Segment {
            src: ep(src),
            dst: ep(dst),
            seq,
            ack,
            flags: fl,
            window: 100,
            payload,
            missing: 0,
        }
    }

    /// The round trips a tracker fed these segments gives; port 1 is end 0.
    fn rtt_of(segs: &[(i64, Segment<'static>)], client: usize) -> Rtt {
        let mut t = RttTracker::default();
        for (i, (ts, s)) in segs.iter().enumerate() {
            let from = if s.src.port == 1 { 0 } else { 1 };
            t.on_segment(
                from,
                &SegRec {
                    index: i as u64 + 1,
                    ts_ns: *ts,
                    dir: crate::tcp::Dir::from_index(from),
                    seq: s.seq,
                    ack: s.ack,
                    flags: s.flags,
                    window: s.window,
                    payload: s.payload,
                    missing: s.missing,
                },
            );
        }
        t.rtt(client)
    }

    const A: u8 = flags::ACK;

    #[test]
    fn handshake_gives_both_sides() {
        // Captured near the client: the broker is 5 ms away, the client 20 µs.
        let c = [
            (0, seg(1, 100, 0, flags::SYN, b"")),
            (5_000_000, seg(2, 900, 101, flags::SYN | A, b"")),
            (5_020_000, seg(1, 101, 901, A, b"")),
        ];
        let r = rtt_of(&c, 0);
        assert_eq!(
            r,
            Rtt {
                to_broker_ns: Some(5_000_000),
                to_client_ns: Some(20_000),
                from_handshake: true
            }
        );
        assert_eq!(r.capture_point(), Some(CapturePoint::Client));
        assert_eq!(r.total_ns(), Some(5_020_000));
        let none = EventLog::default();
        let (req, resp) = (frame(0, 100, 0, 10), frame(0, 50, 7_000_010, 7_000_020));
        assert_eq!(
            r.split_wait(&none, &req, &resp),
            Some(WaitSplit::Known {
                network: 5_000_000,
                recovery: 0,
                broker: 2_000_000
            })
        );
        let fast = frame(0, 50, 3_000_010, 3_000_020);
        assert_eq!(
            r.split_wait(&none, &req, &fast),
            Some(WaitSplit::Known {
                network: 3_000_000,
                recovery: 0,
                broker: 0
            })
        );
    }

    fn frame(offset: u64, size: u64, first_ts: i64, last_ts: i64) -> FrameSpan {
        FrameSpan {
            offset,
            size,
            first_ts,
            first_index: 1,
            last_ts,
            last_index: 2,
            complete: true,
        }
    }

    #[test]
    fn request_bytes_sent_again_are_recovery_not_broker_time() {
        let r = Rtt {
            to_broker_ns: Some(5_000_000),
            to_client_ns: Some(20_000),
            from_handshake: true,
        };
        // A request at offsets 100..300, last byte first seen at 10; part of it sent
        // again at 5 ms; the response starts at 10.4 ms: 5 ms recovery, 5 ms round
        // trip, 0.4 ms broker.
        let resend = |ts, start, end| (ts, Flow::ToBroker, TcpEvent::Retransmission { start, end });
        let log = EventLog::new(
            vec![
                resend(5_000_010, 200, 300),
                // Other bytes, or the other way: not this request's recovery.
                resend(6_000_000, 300, 400),
                (
                    7_000_000,
                    Flow::ToClient,
                    TcpEvent::Retransmission { start: 0, end: 9 },
                ),
            ],
            vec![],
        );
        let (req, resp) = (frame(100, 200, 0, 10), frame(0, 50, 10_400_010, 10_400_020));
        assert_eq!(
            r.split_wait(&log, &req, &resp),
            Some(WaitSplit::Known {
                network: 5_000_000,
                recovery: 5_000_000,
                broker: 400_000
            })
        );
        // Response bytes beyond a hole before its first byte arrived: unknown.
        let holed = EventLog::new(
            vec![(
                9_000_000,
                Flow::ToClient,
                TcpEvent::OutOfOrder { offset: 20 },
            )],
            vec![],
        );
        assert_eq!(r.split_wait(&holed, &req, &resp), Some(WaitSplit::Unknown));
        // A hole after the first byte touches the read phase only.
        let later = EventLog::new(
            vec![(
                10_500_000,
                Flow::ToClient,
                TcpEvent::OutOfOrder { offset: 20 },
            )],
            vec![],
        );
        assert!(matches!(
            r.split_wait(&later, &req, &resp),
            Some(WaitSplit::Known { recovery: 0, .. })
        ));
    }

    #[test]
    fn data_acks_give_the_fastest_delay_and_skip_retransmissions() {
        // No handshake. Client data at 0 acked at 3 ms; data at 10 ms retransmitted at
        // 30 ms and acked at 31 ms (no sample); data at 40 ms acked at 42 ms.
        let c = [
            (0, seg(1, 1000, 500, A, b"aaaa")),
            (3_000_000, seg(2, 500, 1004, A, b"")),
            (10_000_000, seg(1, 1004, 500, A, b"bbbb")),
            (30_000_000, seg(1, 1004, 500, A, b"bbbb")),
            (31_000_000, seg(2, 500, 1008, A, b"")),
            (40_000_000, seg(1, 1008, 500, A, b"cc")),
            (42_000_000, seg(2, 500, 1010, A, b"")),
        ];
        let r = rtt_of(&c, 0);
        assert_eq!(r.to_broker_ns, Some(2_000_000));
        assert_eq!(r.to_client_ns, None);
        assert!(!r.from_handshake);
        assert_eq!(r.capture_point(), None);
    }

    #[test]
    fn capture_points() {
        let r = |b, c| Rtt {
            to_broker_ns: Some(b),
            to_client_ns: Some(c),
            from_handshake: true,
        };
        assert_eq!(r(30_000, 40_000).capture_point(), Some(CapturePoint::Local));
        let from_data = Rtt {
            from_handshake: false,
            ..r(100_000, 5_000_000)
        };
        let f = frame(0, 10, 0, 0);
        assert_eq!(
            (
                from_data.capture_point(),
                from_data.split_wait(&EventLog::default(), &f, &f)
            ),
            (None, None)
        );
        assert_eq!(
            r(100_000, 5_000_000).capture_point(),
            Some(CapturePoint::Broker)
        );
        assert_eq!(
            r(2_000_000, 3_000_000).capture_point(),
            Some(CapturePoint::Between)
        );
    }

    #[test]
    fn health_counts_events_in_the_window() {
        let log = EventLog::new(
            vec![
                (
                    5,
                    Flow::ToBroker,
                    TcpEvent::Retransmission { start: 0, end: 1 },
                ),
                (1, Flow::ToClient, TcpEvent::OutOfOrder { offset: 1 }),
                (9, Flow::ToBroker, TcpEvent::ZeroWindow),
                (
                    20,
                    Flow::ToClient,
                    TcpEvent::Retransmission { start: 0, end: 1 },
                ),
            ],
            vec![8, 30],
        );
        assert_eq!(
            log.during(1, 10),
            Health {
                retransmissions: 1,
                out_of_order: 1,
                zero_windows: 1,
                gaps: 1
            }
        );
        assert_eq!(log.during(11, 19), Health::default());
        assert_eq!(log.during(20, 30).retransmissions, 1);
        assert_eq!(log.during(20, 30).gaps, 1);
    }
}
