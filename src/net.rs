//! Decodes link layer, IP and TCP headers of one [`crate::capture::Packet`] and hands on
//! a [`Segment`]: the TCP endpoints, sequence numbers, flags and payload slice.
//!
//! etherparse's lax slicer does the work from Ethernet (with VLAN/QinQ) or a bare
//! EtherType or IP header down to TCP, IPv6 extension headers included. The link layers
//! it lacks (Linux cooked v1/v2, BSD loopback) are stripped here first. Nothing is
//! allocated and nothing is copied: the payload borrows from the capture.

use std::net::IpAddr;

use etherparse::err::packet::SliceError;
use etherparse::err::{Layer, LenError};
use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, LenSource, TransportSlice};

use crate::capture::Packet;

/// One TCP endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

/// TCP flag bits as they appear in the header's flags byte.
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// One TCP segment taken from a packet. `payload` borrows from the capture.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    pub src: Endpoint,
    pub dst: Endpoint,
    pub seq: u32,
    pub ack: u32,
    /// FIN/SYN/RST/PSH/ACK bits (see [`flags`]).
    pub flags: u8,
    pub window: u16,
    /// The captured part of the payload.
    pub payload: &'a [u8],
    /// Payload bytes the IP header announces but the capture cut off (snaplen).
    pub missing: u32,
}

/// Why a packet yields no TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum NetSkip {
    #[error("unsupported link type {0}")]
    UnsupportedLink(u32),
    /// ARP, LLDP, an unknown EtherType or address family...
    #[error("not IP")]
    NotIp,
    /// UDP, ICMP, ESP...
    #[error("not TCP")]
    NotTcp,
    /// Fragments are not reassembled; Kafka traffic does not fragment in practice.
    #[error("IP fragment")]
    IpFragment,
    /// The capture cut the packet (snaplen) before the end of its TCP header.
    #[error("headers cut short by the snaplen")]
    Truncated,
    /// Headers that contradict themselves (bad lengths, IP version...).
    #[error("malformed headers")]
    Malformed,
}

/// LINKTYPE_* values (https://www.tcpdump.org/linktypes.html).
mod linktype {
    /// BSD loopback: 4-byte address family in the writer's byte order.
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    /// DLT_RAW as some systems wrote it into files before LINKTYPE_RAW existed.
    pub const RAW_DLT: u32 = 12;
    /// DLT_RAW on OpenBSD.
    pub const RAW_OPENBSD: u32 = 14;
    pub const RAW: u32 = 101;
    /// OpenBSD loopback: like NULL, but the family is in network byte order.
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const LINUX_SLL2: u32 = 276;
}

/// Linux cooked v1 header: packet type (2), ARPHRD (2), address length (2),
/// address (8), protocol (2).
const SLL_LEN: usize = 16;
/// Linux cooked v2 header: protocol (2), reserved (2), interface index (4), ARPHRD (2),
/// packet type (1), address length (1), address (8).
const SLL2_LEN: usize = 20;

/// Decodes `p` down to its TCP segment.
pub fn decode_segment<'a>(p: &Packet<'a>) -> Result<Segment<'a>, NetSkip> {
    let sliced = slice_link(p.link_type, p.data)?;
    segment(&sliced)
}

/// Strips the link layer and lets etherparse slice the rest.
fn slice_link(link_type: u32, data: &[u8]) -> Result<LaxSlicedPacket<'_>, NetSkip> {
    use linktype::*;
    match link_type {
        ETHERNET => LaxSlicedPacket::from_ethernet(data).map_err(|_| NetSkip::Truncated),
        LINUX_SLL => cooked(data, SLL_LEN - 2, SLL_LEN),
        LINUX_SLL2 => cooked(data, 0, SLL2_LEN),
        RAW | RAW_DLT | RAW_OPENBSD | IPV4 | IPV6 => from_ip(data),
        NULL | LOOP => loopback(data),
        other => Err(NetSkip::UnsupportedLink(other)),
    }
}

/// Linux cooked captures: the protocol field is an EtherType (for every device type
/// that carries IP), and the payload follows the fixed-size header.
fn cooked(
    data: &[u8],
    protocol_at: usize,
    header_len: usize,
) -> Result<LaxSlicedPacket<'_>, NetSkip> {
    let protocol = data
        .get(protocol_at..)
        .and_then(|d| d.first_chunk::<2>())
        .ok_or(NetSkip::Truncated)?;
    let payload = data.get(header_len..).ok_or(NetSkip::Truncated)?;
    let ether_type = EtherType(u16::from_be_bytes(*protocol));
    Ok(LaxSlicedPacket::from_ether_type(ether_type, payload))
}

/// BSD NULL and LOOP: a 4-byte address family, then IP. NULL writes it in the
/// capturing host's byte order and LOOP in network order, but files get moved between
/// hosts, so both orders are accepted for both. AF_INET is 2 everywhere; AF_INET6 is
/// 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS), 23 (Windows) or 10 (Linux).
fn loopback(data: &[u8]) -> Result<LaxSlicedPacket<'_>, NetSkip> {
    const IP_FAMILIES: [u32; 6] = [2, 10, 23, 24, 28, 30];
    let family = *data.first_chunk::<4>().ok_or(NetSkip::Truncated)?;
    let known = |f: u32| IP_FAMILIES.contains(&f);
    if !known(u32::from_le_bytes(family)) && !known(u32::from_be_bytes(family)) {
        return Err(NetSkip::NotIp);
    }
    from_ip(data.get(4..).unwrap_or_default())
}

/// A bare IPv4 or IPv6 packet; the version nibble decides which.
fn from_ip(data: &[u8]) -> Result<LaxSlicedPacket<'_>, NetSkip> {
    use etherparse::err::ip::{HeaderError, LaxHeaderSliceError};
    LaxSlicedPacket::from_ip(data).map_err(|e| match e {
        LaxHeaderSliceError::Len(l) => len_skip(&l),
        LaxHeaderSliceError::Content(HeaderError::UnsupportedIpVersion { .. }) => NetSkip::NotIp,
        LaxHeaderSliceError::Content(_) => NetSkip::Malformed,
    })
}

/// A header that does not fit: the capture's fault when the bytes simply ran out, the
/// packet's when a length field inside it says there is no room.
fn len_skip(e: &LenError) -> NetSkip {
    if e.len_source == LenSource::Slice {
        NetSkip::Truncated
    } else {
        NetSkip::Malformed
    }
}

fn slice_skip(e: &SliceError) -> NetSkip {
    match e {
        SliceError::Len(l) => len_skip(l),
        _ => NetSkip::Malformed,
    }
}

/// What the IP layer tells about the segment.
struct IpFacts {
    src: IpAddr,
    dst: IpAddr,
    /// Where the IP header starts in the capture.
    start: usize,
    /// IP packet length the header announces, when it announces one.
    announced: Option<usize>,
}

fn ip_facts(net: &LaxNetSlice<'_>) -> Result<IpFacts, NetSkip> {
    match net {
        LaxNetSlice::Ipv4(ip) => {
            let h = ip.header();
            let p = ip.payload();
            Ok(IpFacts {
                src: h.source_addr().into(),
                dst: h.destination_addr().into(),
                start: h.slice().as_ptr() as usize,
                // A total length of 0 (TSO on the capturing host) leaves etherparse
                // falling back to the captured length: nothing is known missing then.
                announced: (p.incomplete || p.len_source != LenSource::Slice)
                    .then_some(usize::from(h.total_len())),
            })
        }
        LaxNetSlice::Ipv6(ip) => {
            let h = ip.header();
            let p = ip.payload();
            Ok(IpFacts {
                src: h.source_addr().into(),
                dst: h.destination_addr().into(),
                start: h.slice().as_ptr() as usize,
                // Payload length 0 means a jumbogram; its real length is not decoded.
                announced: (p.incomplete || p.len_source != LenSource::Slice)
                    .then_some(h.slice().len() + usize::from(h.payload_length())),
            })
        }
        LaxNetSlice::Arp(_) => Err(NetSkip::NotIp),
    }
}

/// Turns etherparse's slices into a [`Segment`], or says why there is none.
fn segment<'a>(s: &LaxSlicedPacket<'a>) -> Result<Segment<'a>, NetSkip> {
    let Some(net) = &s.net else {
        return Err(s
            .stop_err
            .as_ref()
            .map_or(NetSkip::NotIp, |(e, _)| slice_skip(e)));
    };
    let ip = ip_facts(net)?;
    if s.ip_payload().is_some_and(|p| p.fragmented) {
        return Err(NetSkip::IpFragment);
    }
    let tcp = match &s.transport {
        Some(TransportSlice::Tcp(tcp)) => tcp,
        Some(_) => return Err(NetSkip::NotTcp),
        None => return Err(no_transport(s)),
    };
    let payload = tcp.payload();
    // The payload ends where the captured IP packet ends (etherparse bounds it by the IP
    // length, which also drops Ethernet padding), so the capture's shortfall is the
    // announced IP length minus the captured IP bytes.
    let captured_ip_len = (payload.as_ptr() as usize + payload.len()).saturating_sub(ip.start);
    let missing = ip
        .announced
        .map_or(0, |a| a.saturating_sub(captured_ip_len));
    Ok(Segment {
        src: Endpoint {
            ip: ip.src,
            port: tcp.source_port(),
        },
        dst: Endpoint {
            ip: ip.dst,
            port: tcp.destination_port(),
        },
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: tcp.header_slice().get(13).copied().unwrap_or(0),
        window: tcp.window_size(),
        payload,
        missing: u32::try_from(missing).unwrap_or(u32::MAX),
    })
}

/// IP but no transport slice: another protocol, or the IP extensions or TCP header
/// failed to decode.
fn no_transport(s: &LaxSlicedPacket<'_>) -> NetSkip {
    match &s.stop_err {
        Some((e, layer)) if !is_other_transport(*layer) => slice_skip(e),
        _ => NetSkip::NotTcp,
    }
}

fn is_other_transport(layer: Layer) -> bool {
    matches!(
        layer,
        Layer::UdpHeader
            | Layer::UdpPayload
            | Layer::Icmpv4
            | Layer::Icmpv4Timestamp
            | Layer::Icmpv4TimestampReply
            | Layer::Icmpv6
            | Layer::Igmp
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture;
    use etherparse::PacketBuilder;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
    const BROKER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 2];
    const CLIENT4: [u8; 4] = [10, 0, 0, 1];
    const BROKER4: [u8; 4] = [10, 0, 0, 2];
    const KAFKA_REQ: &[u8] = b"\x00\x00\x00\x08kafka!!!";

    fn packet(link_type: u32, data: &[u8]) -> Packet<'_> {
        Packet {
            index: 1,
            ts_ns: 0,
            link_type,
            data,
            orig_len: data.len() as u32,
        }
    }

    fn decode(link_type: u32, data: &[u8]) -> Result<Segment<'_>, NetSkip> {
        decode_segment(&packet(link_type, data))
    }

    /// IPv4 + TCP (client 10.0.0.1:40000 -> broker 10.0.0.2:9092, PSH|ACK) + `payload`.
    fn ipv4_tcp(payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ipv4(CLIENT4, BROKER4, 64)
            .tcp(40000, 9092, 1000, 65535)
            .psh()
            .ack(2000)
            .write(&mut v, payload)
            .unwrap();
        v
    }

    fn ipv6_tcp(payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ipv6([0xfd; 16], [0xfe; 16], 64)
            .tcp(40000, 9092, 1000, 65535)
            .syn()
            .write(&mut v, payload)
            .unwrap();
        v
    }

    fn ethernet(ether_type: u16, l3: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&BROKER_MAC); // destination MAC
        v.extend_from_slice(&CLIENT_MAC); // source MAC
        v.extend_from_slice(&ether_type.to_be_bytes()); // EtherType
        v.extend_from_slice(l3);
        v
    }

    fn assert_kafka_v4(seg: &Segment<'_>) {
        assert_eq!(
            seg.src,
            Endpoint {
                ip: Ipv4Addr::from(CLIENT4).into(),
                port: 40000
            }
        );
        assert_eq!(
            seg.dst,
            Endpoint {
                ip: Ipv4Addr::from(BROKER4).into(),
                port: 9092
            }
        );
        assert_eq!(seg.seq, 1000);
        assert_eq!(seg.ack, 2000);
        assert_eq!(seg.flags, flags::PSH | flags::ACK);
        assert_eq!(seg.window, 65535);
        assert_eq!(seg.payload, KAFKA_REQ);
        assert_eq!(seg.missing, 0);
    }

    #[test]
    fn ethernet_ipv4_tcp() {
        let frame = ethernet(0x0800, &ipv4_tcp(KAFKA_REQ));
        assert_kafka_v4(&decode(linktype::ETHERNET, &frame).unwrap());
    }

    #[test]
    fn ethernet_vlan_and_qinq() {
        let ip = ipv4_tcp(KAFKA_REQ);
        let mut vlan = vec![
            0x00, 0x64, // TCI: VLAN 100
            0x08, 0x00, // inner EtherType: IPv4
        ];
        vlan.extend_from_slice(&ip);
        let frame = ethernet(0x8100, &vlan); // 802.1Q
        assert_kafka_v4(&decode(linktype::ETHERNET, &frame).unwrap());

        let mut qinq = vec![
            0x00, 0x0a, // outer TCI: service VLAN 10
            0x81, 0x00, // next EtherType: 802.1Q
            0x00, 0x64, // inner TCI: customer VLAN 100
            0x08, 0x00, // EtherType: IPv4
        ];
        qinq.extend_from_slice(&ip);
        let frame = ethernet(0x88a8, &qinq); // 802.1ad
        assert_kafka_v4(&decode(linktype::ETHERNET, &frame).unwrap());
    }

    #[test]
    fn linux_sll() {
        let mut frame = vec![
            0x00, 0x04, // packet type: sent by us
            0x00, 0x01, // ARPHRD_ETHER
            0x00, 0x06, // link-layer address length
            0x02, 0, 0, 0, 0, 1, 0, 0, // address, padded to 8
            0x08, 0x00, // protocol: IPv4
        ];
        frame.extend_from_slice(&ipv4_tcp(KAFKA_REQ));
        assert_kafka_v4(&decode(linktype::LINUX_SLL, &frame).unwrap());
    }

    #[test]
    fn linux_sll2() {
        let mut frame = vec![
            0x86, 0xdd, // protocol: IPv6
            0x00, 0x00, // reserved
            0x00, 0x00, 0x00, 0x01, // interface index 1 (lo)
            0x03, 0x04, // ARPHRD_LOOPBACK (772)
            0x00, // packet type: to us
            0x06, // link-layer address length
            0, 0, 0, 0, 0, 0, 0, 0, // address, padded to 8
        ];
        frame.extend_from_slice(&ipv6_tcp(b"x"));
        let seg = decode(linktype::LINUX_SLL2, &frame).unwrap();
        assert_eq!(seg.src.ip, IpAddr::from(Ipv6Addr::from([0xfd; 16])));
        assert_eq!(seg.dst.port, 9092);
        assert_eq!(seg.flags, flags::SYN);
        assert_eq!(seg.payload, b"x");
    }

    #[test]
    fn bsd_null_both_byte_orders_and_loop() {
        let ip = ipv4_tcp(KAFKA_REQ);
        for family in [
            [2, 0, 0, 0], // AF_INET, little-endian host (NULL)
            [0, 0, 0, 2], // AF_INET, big-endian host (NULL) or network order (LOOP)
        ] {
            let mut frame = family.to_vec();
            frame.extend_from_slice(&ip);
            assert_kafka_v4(&decode(linktype::NULL, &frame).unwrap());
            assert_kafka_v4(&decode(linktype::LOOP, &frame).unwrap());
        }
        for af_inet6 in [24u32, 28, 30] {
            let mut frame = af_inet6.to_le_bytes().to_vec(); // AF_INET6 of a BSD or macOS
            frame.extend_from_slice(&ipv6_tcp(b""));
            assert_eq!(decode(linktype::NULL, &frame).unwrap().dst.port, 9092);
        }
        let mut frame = 7u32.to_le_bytes().to_vec(); // AF_7: not IP
        frame.extend_from_slice(&ip);
        assert_eq!(decode(linktype::NULL, &frame).unwrap_err(), NetSkip::NotIp);
    }

    #[test]
    fn raw_ip_link_types() {
        let ip = ipv4_tcp(KAFKA_REQ);
        for lt in [
            linktype::RAW,
            linktype::RAW_DLT,
            linktype::RAW_OPENBSD,
            linktype::IPV4,
        ] {
            assert_kafka_v4(&decode(lt, &ip).unwrap());
        }
        assert_eq!(
            decode(linktype::IPV6, &ipv6_tcp(b"k")).unwrap().payload,
            b"k"
        );
    }

    #[test]
    fn ipv6_hop_by_hop_extension_header() {
        let tcp = {
            let v6 = ipv6_tcp(KAFKA_REQ);
            v6[40..].to_vec() // TCP header + payload from a builder-made packet
        };
        let mut ip = vec![
            0x60, 0x00, 0x00, 0x00, // version 6, traffic class 0, flow label 0
        ];
        ip.extend_from_slice(&((8 + tcp.len()) as u16).to_be_bytes()); // payload length
        ip.push(0); // next header: hop-by-hop options
        ip.push(64); // hop limit
        ip.extend_from_slice(&[0xfd; 16]); // source
        ip.extend_from_slice(&[0xfe; 16]); // destination
        ip.extend_from_slice(&[
            6, // hop-by-hop: next header TCP
            0, // header extension length: 8 bytes in all
            5, 2, 0, 0, // router alert option (type 5, length 2, value 0)
            1, 0, // PadN option, length 0
        ]);
        ip.extend_from_slice(&tcp);
        let seg = decode(linktype::RAW, &ip).unwrap();
        assert_eq!(seg.payload, KAFKA_REQ);
        assert_eq!(seg.missing, 0);
        assert_eq!(seg.src.ip, IpAddr::from(Ipv6Addr::from([0xfd; 16])));
        // The same packet cut inside the extension header is truncated, not "not TCP".
        assert_eq!(
            decode(linktype::RAW, &ip[..44]).unwrap_err(),
            NetSkip::Truncated
        );
    }

    #[test]
    fn snaplen_cut_payload_counts_missing_bytes() {
        let frame = ethernet(0x0800, &ipv4_tcp(KAFKA_REQ));
        let headers = 14 + 20 + 20;
        let cut = &frame[..headers + 5];
        let seg = decode(linktype::ETHERNET, cut).unwrap();
        assert_eq!(seg.payload, &KAFKA_REQ[..5]);
        assert_eq!(seg.missing, (KAFKA_REQ.len() - 5) as u32);
        // No payload captured at all.
        let seg = decode(linktype::ETHERNET, &frame[..headers]).unwrap();
        assert_eq!(
            (seg.payload.len(), seg.missing),
            (0, KAFKA_REQ.len() as u32)
        );
        // Cut inside the TCP header.
        assert_eq!(
            decode(linktype::ETHERNET, &frame[..headers - 1]).unwrap_err(),
            NetSkip::Truncated
        );
        // IPv6 likewise.
        let v6 = ipv6_tcp(KAFKA_REQ);
        let seg = decode(linktype::RAW, &v6[..40 + 20 + 3]).unwrap();
        assert_eq!(seg.missing, (KAFKA_REQ.len() - 3) as u32);
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        // A bare ACK is 54 bytes; Ethernet pads it to 60 with zeros.
        let mut frame = ethernet(0x0800, &ipv4_tcp(b""));
        frame.resize(60, 0);
        let seg = decode(linktype::ETHERNET, &frame).unwrap();
        assert!(seg.payload.is_empty());
        assert_eq!(seg.missing, 0);
        // And with a 2-byte payload plus padding plus a 4-byte FCS.
        let mut frame = ethernet(0x0800, &ipv4_tcp(b"ab"));
        frame.resize(64, 0xcc);
        assert_eq!(decode(linktype::ETHERNET, &frame).unwrap().payload, b"ab");
    }

    #[test]
    fn ipv4_total_length_zero_uses_the_capture() {
        // TSO: the capturing host saw a super-packet whose total length field is 0.
        let mut ip = ipv4_tcp(KAFKA_REQ);
        ip[2..4].copy_from_slice(&[0, 0]); // total length 0
        let seg = decode(linktype::RAW, &ip).unwrap();
        assert_eq!((seg.payload, seg.missing), (KAFKA_REQ, 0));
    }

    #[test]
    fn fragments_are_skipped() {
        let mut ip = ipv4_tcp(KAFKA_REQ);
        ip[6] = 0x20; // flags: more fragments, offset 0
        assert_eq!(decode(linktype::RAW, &ip).unwrap_err(), NetSkip::IpFragment);
        let mut ip = ipv4_tcp(KAFKA_REQ);
        ip[6..8].copy_from_slice(&[0x00, 0x10]); // last fragment, offset 128 bytes
        assert_eq!(decode(linktype::RAW, &ip).unwrap_err(), NetSkip::IpFragment);
    }

    #[test]
    fn other_traffic_is_classified() {
        let arp = ethernet(0x0806, &[0; 28]);
        assert_eq!(
            decode(linktype::ETHERNET, &arp).unwrap_err(),
            NetSkip::NotIp
        );
        let lldp = ethernet(0x88cc, &[0; 20]);
        assert_eq!(
            decode(linktype::ETHERNET, &lldp).unwrap_err(),
            NetSkip::NotIp
        );
        let mut udp = Vec::new();
        PacketBuilder::ipv4(CLIENT4, BROKER4, 64)
            .udp(5353, 5353)
            .write(&mut udp, b"dns")
            .unwrap();
        assert_eq!(decode(linktype::RAW, &udp).unwrap_err(), NetSkip::NotTcp);
        assert_eq!(
            decode(linktype::RAW, &udp[..22]).unwrap_err(),
            NetSkip::NotTcp
        );
        assert_eq!(
            decode(147, &udp).unwrap_err(),
            NetSkip::UnsupportedLink(147)
        );
        assert_eq!(
            decode(linktype::RAW, &[0x50; 40]).unwrap_err(),
            NetSkip::NotIp
        );
        let mut bad_ihl = ipv4_tcp(KAFKA_REQ);
        bad_ihl[0] = 0x44; // IHL 4: shorter than the minimum header
        assert_eq!(
            decode(linktype::RAW, &bad_ihl).unwrap_err(),
            NetSkip::Malformed
        );
        let mut bad_offset = ipv4_tcp(KAFKA_REQ);
        bad_offset[20 + 12] = 0x40; // TCP data offset 4
        assert_eq!(
            decode(linktype::RAW, &bad_offset).unwrap_err(),
            NetSkip::Malformed
        );
        let mut short_total = ipv4_tcp(KAFKA_REQ);
        short_total[2..4].copy_from_slice(&30u16.to_be_bytes()); // no room for TCP
        assert_eq!(
            decode(linktype::RAW, &short_total).unwrap_err(),
            NetSkip::Malformed
        );
    }

    #[test]
    fn every_prefix_decodes_without_panic() {
        let v4 = ipv4_tcp(KAFKA_REQ);
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(&v4);
        let mut sll2 = vec![0x86, 0xdd];
        sll2.extend_from_slice(&[0; 18]);
        sll2.extend_from_slice(&ipv6_tcp(KAFKA_REQ));
        let mut null = vec![2, 0, 0, 0];
        null.extend_from_slice(&v4);
        let cases = [
            (linktype::ETHERNET, ethernet(0x0800, &v4)),
            (
                linktype::ETHERNET,
                ethernet(0x8100, &[&[0, 1, 0x08, 0x00][..], &v4].concat()),
            ),
            (linktype::LINUX_SLL, sll),
            (linktype::LINUX_SLL2, sll2),
            (linktype::NULL, null),
            (linktype::RAW, ipv6_tcp(KAFKA_REQ)),
        ];
        for (lt, full) in &cases {
            let full_seg = decode(*lt, full).unwrap();
            for len in 0..full.len() {
                if let Ok(seg) = decode(*lt, &full[..len]) {
                    // Once the headers fit, payload + missing always add up to the whole.
                    assert_eq!(
                        seg.payload.len() + seg.missing as usize,
                        full_seg.payload.len(),
                        "link type {lt}, prefix {len}"
                    );
                }
            }
        }
    }

    /// Real captures recorded by testdata/record/record.sh: (file, packets, link types).
    /// Packet counts measured with `tcpdump -r FILE | wc -l`, except multi.pcapng, where
    /// tcpdump stops at the second interface's different link type ("an interface has a
    /// type 276 different from the type of the first interface"); its count is
    /// `tshark -r FILE | wc -l` (tshark 4.4), 28 + 30 packets from its two inputs.
    const REAL_CAPTURES: &[(&str, u64, &[u32])] = &[
        ("aiokafka.pcap", 100, &[1]),
        ("any-sll.pcap", 54, &[113]),
        ("any-sll2.pcap", 56, &[276]),
        ("basic-kafka-python.pcap", 60, &[1]),
        ("codecs-kcat.pcap", 168, &[1]),
        ("group-confluent.pcap", 129, &[1]),
        ("large-records.pcap", 116, &[1]),
        ("midframe.pcap", 86, &[1]),
        ("midstream.pcap", 166, &[1]),
        ("multi.pcapng", 58, &[1, 276]),
        ("nano.pcap", 56, &[1]),
        ("produce-error.pcap", 90, &[1]),
        ("snaplen200.pcap", 60, &[1]),
        ("traceparent-otel.pcap", 115, &[1]),
    ];

    /// What one real packet decoded to, for comparison with tshark.
    struct Decoded {
        ts: String,
        ports: (u16, u16),
        tcp_len: usize,
        captured: usize,
    }

    fn decode_file(bytes: &[u8]) -> (Vec<Decoded>, Vec<u32>, capture::ReadReport) {
        let mut out = Vec::new();
        let mut links = Vec::new();
        let report = capture::for_each_packet(bytes, |p| {
            let seg = decode_segment(&p).unwrap_or_else(|e| panic!("packet {}: {e}", p.index));
            assert!(
                seg.src.port == 9092 || seg.dst.port == 9092,
                "packet {}",
                p.index
            );
            if !links.contains(&p.link_type) {
                links.push(p.link_type);
            }
            let (secs, nanos) = (
                p.ts_ns.div_euclid(1_000_000_000),
                p.ts_ns.rem_euclid(1_000_000_000),
            );
            out.push(Decoded {
                ts: format!("{secs}.{nanos:09}"),
                ports: (seg.src.port, seg.dst.port),
                tcp_len: seg.payload.len() + seg.missing as usize,
                captured: p.data.len(),
            });
        })
        .unwrap();
        (out, links, report)
    }

    /// Checks every row of FILE.tshark.tsv (tshark 4.4's view of the Kafka frames,
    /// recorded with the capture) against what we decoded for that frame number.
    fn check_against_tshark(name: &str, tsv: &str, decoded: &[Decoded]) {
        let mut lines = tsv.lines();
        let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
        let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
        let (num, time, sport, dport, len) = (
            col("frame.number"),
            col("frame.time_epoch"),
            col("tcp.srcport"),
            col("tcp.dstport"),
            col("tcp.len"),
        );
        for line in lines {
            let f: Vec<&str> = line.split('\t').collect();
            let frame: usize = f[num].parse().unwrap();
            let d = &decoded[frame - 1];
            let what = format!("{name} frame {frame}");
            assert_eq!(d.ts, f[time], "{what}: timestamp");
            assert_eq!(
                d.ports,
                (f[sport].parse().unwrap(), f[dport].parse().unwrap()),
                "{what}"
            );
            assert_eq!(d.tcp_len.to_string(), f[len], "{what}: tcp.len");
        }
    }

    #[test]
    fn real_captures_decode_completely() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/");
        for &(name, packets, link_types) in REAL_CAPTURES {
            let Ok(bytes) = std::fs::read(format!("{dir}{name}")) else {
                eprintln!("skipping {name}: not recorded");
                continue;
            };
            let (decoded, links, report) = decode_file(&bytes);
            assert!(report.warnings.is_empty(), "{name}: {:?}", report.warnings);
            assert_eq!(report.packets, packets, "{name}");
            assert_eq!(links, link_types, "{name}");
            let stem = name.rsplit_once('.').unwrap().0;
            if let Ok(tsv) = std::fs::read_to_string(format!("{dir}{stem}.tshark.tsv")) {
                check_against_tshark(name, &tsv, &decoded);
            }
            if name == "snaplen200.pcap" {
                assert!(decoded.iter().all(|d| d.captured <= 200));
                assert!(
                    decoded.iter().any(|d| d.tcp_len > d.captured),
                    "some payload is cut"
                );
            }
            if name == "nano.pcap" {
                assert!(matches!(
                    report.format,
                    capture::CaptureFormat::Pcap { nanos: true, .. }
                ));
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let base = ethernet(0x86dd, &ipv6_tcp(KAFKA_REQ));
        for lt in [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 9999] {
            for i in 0..base.len() {
                for x in [0x00, 0x06, 0x2c, 0x3b, 0x80, 0xff] {
                    let mut f = base.clone();
                    f[i] = x;
                    let _ = decode(lt, &f);
                }
            }
        }
    }
}
