//! `geneve` and `vxlan`: what compiles, what is refused and why, and the meaning on packets
//! built by hand (the differential tests against libpcap are in cli/tests/filter_tunnel.rs).

use udf_pcap::cbpf;
use udf_pcap::{CompileOptions, LinkType, compile_cbpf};

fn opts(link: LinkType) -> CompileOptions {
    CompileOptions { link, ..CompileOptions::default() }
}

fn refused(expr: &str, link: LinkType, words: &str) {
    match compile_cbpf(expr, &opts(link)) {
        Ok(p) => panic!("{expr:?} on {}: compiled\n{}", link.name(), cbpf::disasm(&p)),
        Err(d) => {
            assert_eq!(d.code, "udf::pcap::unsupported", "{expr:?}: {}", d.message);
            assert!(d.message.contains(words), "{expr:?}: {:?} lacks {words:?}", d.message);
        }
    }
}

#[test]
fn refusals_say_why() {
    let en = LinkType::En10mb;
    // What follows a tunnel on a path where it did not match: libpcap reads unwritten
    // scratch memory there.
    for e in [
        "geneve or tcp",
        "not vxlan and ip",
        "vxlan 1 or vxlan 2",
        "(geneve and tcp) or udp",
        "not (vxlan and ip) and host 10.0.0.1",
        // `and` and `or` bind alike, to the left: `(host a or vxlan) and (tcp or udp)`.
        "host 10.0.0.1 or vxlan and (tcp or udp)",
    ] {
        refused(e, en, "did not match");
    }
    for link in [LinkType::Ieee80211, LinkType::Ieee80211Radio, LinkType::Ppi, LinkType::Prism] {
        refused("geneve and tcp", link, "wrong there");
        refused("vxlan", link, "wrong there");
    }
    refused("mpls and geneve", en, "after `mpls`");
    refused("geneve and pppoes", en, "after `geneve`");
    refused("vxlan and pppoes", en, "after `vxlan`");
    refused("vxlan and inbound", LinkType::LinuxSll, "after `vxlan`");
    refused("geneve and ifindex 3", LinkType::LinuxSll2, "after `geneve`");
    refused("geneve and ip protochain 6", en, "after `geneve` or `vxlan`");
    refused("geneve and geneve and geneve and geneve", en, "too many tunnel");
    // libpcap 1.11 optimises a filter with `vxlan`, and finds it rejecting everything.
    let d = compile_cbpf("vxlan and ip and ip6", &opts(en)).expect_err("rejects everything");
    assert!(d.message.contains("rejects all packets"), "{}", d.message);
    // The VNI's range, as libpcap's message.
    assert!(compile_cbpf("vxlan 16777216", &opts(en)).is_err());
}

#[test]
fn accepted() {
    for e in [
        "geneve",
        "vxlan 0",
        "geneve and vlan 100 and ip",
        "udp and vxlan and ether host 0:1:2:3:4:5 and not broadcast",
        "geneve and geneve and tcp port 80",
        "vxlan and vxlan and vxlan and icmp",
        "host 10.0.0.1 or (vxlan and (tcp or udp))",
        "vxlan and not (ip6 or arp)",
        "geneve and ether[0] & 1 != 0 and tcp[tcpflags] & tcp-syn != 0",
        "vxlan and llc",
        "geneve and ip and ip6",
        "geneve and mpls and mpls 5 and host 10.0.0.1",
        "vxlan and (tcp or not tcp)",
    ] {
        for link in [LinkType::En10mb, LinkType::Raw, LinkType::LinuxSll, LinkType::Ppp] {
            let p = compile_cbpf(e, &opts(link)).unwrap_or_else(|d| {
                panic!("{e:?} on {}: {}", link.name(), d.message);
            });
            cbpf::validate(&p).unwrap_or_else(|err| panic!("{e:?}: invalid: {err}"));
        }
    }
}

/// Ethernet / IPv4 (header length `ihl` words) / UDP to `dport` / `tunnel` / `inner`.
fn over_ipv4(ihl: u8, dport: u16, tunnel: &[u8], inner: &[u8]) -> Vec<u8> {
    let mut udp = vec![0x30, 0x39];
    udp.extend(dport.to_be_bytes());
    udp.extend(((8 + tunnel.len() + inner.len()) as u16).to_be_bytes());
    udp.extend([0, 0]);
    udp.extend(tunnel);
    udp.extend(inner);
    let mut ip = vec![0x40 | ihl, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
    ip.resize(4 * usize::from(ihl), 1);
    let total = (ip.len() + udp.len()) as u16;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend(udp);
    let mut f = vec![0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6, 0x08, 0x00];
    f.extend(ip);
    f
}

/// Ethernet / IPv6 / UDP to `dport` / `tunnel` / `inner`.
fn over_ipv6(dport: u16, tunnel: &[u8], inner: &[u8]) -> Vec<u8> {
    let mut udp = vec![0x30, 0x39];
    udp.extend(dport.to_be_bytes());
    udp.extend(((8 + tunnel.len() + inner.len()) as u16).to_be_bytes());
    udp.extend([0, 0]);
    udp.extend(tunnel);
    udp.extend(inner);
    let mut ip = vec![0x60, 0, 0, 0];
    ip.extend((udp.len() as u16).to_be_bytes());
    ip.extend([17, 64]);
    ip.extend([0x20, 1, 0xd, 0xb8].iter().chain(&[0u8; 11]).chain(&[1u8]));
    ip.extend([0x20, 1, 0xd, 0xb8].iter().chain(&[0u8; 11]).chain(&[2u8]));
    ip.extend(udp);
    let mut f = vec![0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6, 0x86, 0xdd];
    f.extend(ip);
    f
}

/// An inner Ethernet frame carrying IPv4 TCP to port `dport`.
fn inner_tcp(dport: u16) -> Vec<u8> {
    let mut f = vec![0xaa, 0xbb, 0xcc, 0, 0, 1, 0xaa, 0xbb, 0xcc, 0, 0, 2, 0x08, 0x00];
    f.extend([0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 192, 168, 0, 1, 192, 168, 0, 2]);
    f.extend([0x04, 0x00]);
    f.extend(dport.to_be_bytes());
    f.extend([0; 8]);
    f.extend([0x50, 0x02, 0, 0, 0, 0, 0, 0]);
    f
}

fn vxlan_header(flags: u8, vni: u32) -> Vec<u8> {
    let mut h = vec![flags, 0, 0, 0];
    h.extend((vni << 8).to_be_bytes());
    h
}

fn geneve_header(version: u8, opt_words: u8, proto: u16, vni: u32) -> Vec<u8> {
    let mut h = vec![(version << 6) | opt_words, 0];
    h.extend(proto.to_be_bytes());
    h.extend((vni << 8).to_be_bytes());
    h.extend(vec![0xee; 4 * usize::from(opt_words)]);
    h
}

fn accepts(expr: &str, packet: &[u8]) -> bool {
    let p = compile_cbpf(expr, &opts(LinkType::En10mb)).expect("compiles");
    cbpf::interpret(&p, packet, packet.len() as u32) != 0
}

#[test]
fn the_inner_packet_is_read_where_the_tunnel_puts_it() {
    let tcp80 = inner_tcp(80);
    for ihl in [5, 6, 15] {
        let v = over_ipv4(ihl, 4789, &vxlan_header(0x08, 100), &tcp80);
        assert!(accepts("vxlan and tcp dst port 80", &v), "ihl {ihl}");
        assert!(accepts("vxlan 100 and ether src aa:bb:cc:00:00:02 and host 192.168.0.2", &v));
        assert!(!accepts("vxlan 101 and tcp", &v));
        assert!(!accepts("vxlan and tcp dst port 81", &v));
        // Outside the tunnel, the outer packet: UDP, not TCP.
        assert!(accepts("udp and not tcp and vxlan and tcp", &v));
    }
    // The I flag alone: libpcap compares the flags byte with 0x08.
    assert!(!accepts("vxlan", &over_ipv4(5, 4789, &vxlan_header(0x0c, 1), &tcp80)));
    assert!(!accepts("vxlan", &over_ipv4(5, 4790, &vxlan_header(0x08, 1), &tcp80)));
    assert!(accepts("vxlan 7 and tcp", &over_ipv6(4789, &vxlan_header(0x08, 7), &tcp80)));

    // Geneve: the options' length moves the inner frame; TEB carries Ethernet.
    for words in [0, 1, 3, 63] {
        let g = over_ipv4(5, 6081, &geneve_header(0, words, 0x6558, 9), &tcp80);
        assert!(accepts("geneve 9 and tcp dst port 80 and ether dst aa:bb:cc:00:00:01", &g));
        let g6 = over_ipv6(6081, &geneve_header(0, words, 0x6558, 9), &tcp80);
        assert!(accepts("geneve and tcp dst port 80", &g6), "{words} option words");
    }
    // A bare IPv4 packet in Geneve: the protocol type is the "link type", no link header.
    let g = over_ipv4(5, 6081, &geneve_header(0, 2, 0x0800, 9), &tcp80[14..]);
    assert!(accepts("geneve and tcp dst port 80", &g));
    assert!(!accepts("geneve and ether host aa:bb:cc:00:00:01", &g));
    // Version 1 is not decoded.
    assert!(!accepts("geneve", &over_ipv4(5, 6081, &geneve_header(1, 0, 0x6558, 9), &tcp80)));
    // Cut inside the protocol type: the offsets cannot be computed, the packet is rejected
    // even where the rest of the filter would not need them (as libpcap).
    let g = over_ipv4(5, 6081, &geneve_header(0, 0, 0x6558, 9), &tcp80);
    let cut = &g[..14 + 20 + 8 + 3];
    let p = compile_cbpf("geneve or less 1000", &opts(LinkType::En10mb)).expect("compiles");
    assert_eq!(cbpf::interpret(&p, cut, g.len() as u32), 0);
}
