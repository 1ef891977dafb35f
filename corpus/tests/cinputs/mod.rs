//! Inputs for the C programs of `corpus/c`: packets from the libpcap captures and crafted ones for
//! each protocol feature the filters parse (every one also cut at every captured length), and
//! objects for `owns`/`acl`/`size`: crafted ones, mutations of them and random ones, all from a
//! fixed seed.

use std::path::Path;

/// One context: its bytes and, for filters, the packet's length on the wire (`r3`).
#[derive(Clone, Debug)]
pub struct Input {
    pub bytes: Vec<u8>,
    pub wire: u64,
    /// Where it came from, for failure messages.
    pub what: String,
}

/// The seeded generator of the inputs.
pub use udf_bytecode::rng::Rng;

// ---------------------------------------------------------------------------------------------
// Captures

/// Most packets taken from the captures.
const MAX_CAPTURED: usize = 400;

/// The Ethernet packets of the classic pcap files in `dir` (sorted by name), at most
/// [`MAX_CAPTURED`]. A capture that cannot be read is an error, never skipped.
pub fn captured(dir: &Path) -> Vec<Input> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let data = std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        for (k, (bytes, wire)) in pcap_ethernet(&data).into_iter().enumerate() {
            if out.len() == MAX_CAPTURED {
                return out;
            }
            out.push(Input { bytes, wire, what: format!("{name} packet {}", k + 1) });
        }
    }
    out
}

/// The packets of a classic pcap file when its link type is Ethernet (none otherwise): the
/// captured bytes and the length on the wire.
fn pcap_ethernet(d: &[u8]) -> Vec<(Vec<u8>, u64)> {
    if d.len() < 24 {
        return Vec::new();
    }
    let le = match d[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => return Vec::new(),
    };
    let u32_at = |o: usize| {
        let b: [u8; 4] = d[o..o + 4].try_into().unwrap();
        if le { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) }
    };
    if u32_at(20) & 0xffff != 1 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= d.len() {
        let incl = u32_at(off + 8) as usize;
        let orig = u32_at(off + 12) as u64;
        off += 16;
        if incl > d.len() - off {
            break;
        }
        out.push((d[off..off + incl].to_vec(), orig.max(incl as u64)));
        off += incl;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Crafted packets

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_ARP: u16 = 0x0806;
const TCP: u8 = 6;
const UDP: u8 = 17;

fn eth(tags: &[(u16, u16)], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    for &(tpid, tci) in tags {
        p.extend_from_slice(&tpid.to_be_bytes());
        p.extend_from_slice(&tci.to_be_bytes());
    }
    p.extend_from_slice(&ethertype.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// An IPv4 header with `opt_words` 32-bit words of options (NOPs) and the fragment field `frag`.
fn ipv4_raw(version_ihl: u8, proto: u8, frag: u16, opts: usize, payload: &[u8]) -> Vec<u8> {
    let total = (20 + opts + payload.len()) as u16;
    let mut p = vec![version_ihl, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0x12, 0x34]);
    p.extend_from_slice(&frag.to_be_bytes());
    p.extend_from_slice(&[64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    p.extend(std::iter::repeat_n(1u8, opts));
    p.extend_from_slice(payload);
    p
}

fn ipv4(proto: u8, opt_words: u8, payload: &[u8]) -> Vec<u8> {
    ipv4_raw(0x45 + opt_words, proto, 0x4000, 4 * opt_words as usize, payload)
}

fn tcp(dport: u16, flags: u8, opts: &[u8], doff_words: Option<u8>) -> Vec<u8> {
    let mut o = opts.to_vec();
    while !o.len().is_multiple_of(4) {
        o.push(0);
    }
    let doff = doff_words.unwrap_or(5 + (o.len() / 4) as u8);
    let mut p = Vec::new();
    p.extend_from_slice(&40000u16.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, doff << 4, flags, 0xff, 0xff, 0, 0, 0, 0]);
    p.extend_from_slice(&o);
    p.extend_from_slice(b"data");
    p
}

fn udp(dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&5353u16.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

/// A DNS message: header (`flags`, `qdcount`), then the `name` bytes as given, then QTYPE and
/// QCLASS IN.
fn dns(flags: u16, qdcount: u16, name: &[u8], qtype: u16) -> Vec<u8> {
    let mut p = vec![0xab, 0xcd];
    p.extend_from_slice(&flags.to_be_bytes());
    p.extend_from_slice(&qdcount.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    p.extend_from_slice(name);
    p.extend_from_slice(&qtype.to_be_bytes());
    p.extend_from_slice(&1u16.to_be_bytes());
    p
}

fn name(labels: &[&str]) -> Vec<u8> {
    let mut n = Vec::new();
    for l in labels {
        n.push(l.len() as u8);
        n.extend_from_slice(l.as_bytes());
    }
    n.push(0);
    n
}

/// An IPv6 header with the extension headers `ext` (each: its type and its length in 8-byte
/// units after the first 8) ending in `last` carrying `payload`.
fn ipv6(ext: &[(u8, u8)], last: u8, payload: &[u8]) -> Vec<u8> {
    let first = ext.first().map_or(last, |e| e.0);
    let mut body = Vec::new();
    for (k, &(ty, units)) in ext.iter().enumerate() {
        let next = ext.get(k + 1).map_or(last, |e| e.0);
        let len = 8 * (units as usize + 1);
        let mut h = vec![0u8; len];
        h[0] = next;
        if ty == 44 {
            h[1] = 0; // the fragment header's reserved byte; first fragment, M = 1
            h[3] = 1;
        } else {
            h[1] = units;
            if len > 2 {
                h[2] = 1; // a PadN option would start here; contents do not matter
            }
        }
        body.extend_from_slice(&h);
    }
    body.extend_from_slice(payload);
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(body.len() as u16).to_be_bytes());
    p.extend_from_slice(&[first, 64]);
    p.extend(std::iter::repeat_n(0xfe, 16));
    p.extend(std::iter::repeat_n(0xfd, 16));
    p.extend_from_slice(&body);
    p
}

/// Packets for each feature the filters parse, named.
pub fn crafted_packets() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |what: String, p: Vec<u8>| v.push((what, p));

    // IPv4, with and without options, TCP and UDP ports.
    for opt in [0u8, 1, 3, 10] {
        for dport in [22u16, 80, 443, 8080] {
            add(
                format!("ipv4 ihl {} tcp syn :{dport}", 5 + opt),
                eth(&[], ETH_P_IP, &ipv4(TCP, opt, &tcp(dport, 0x02, &[], None))),
            );
        }
        for dport in [53u16, 123, 5353] {
            add(
                format!("ipv4 ihl {} udp :{dport}", 5 + opt),
                eth(&[], ETH_P_IP, &ipv4(UDP, opt, &udp(dport, b"0123456789ab"))),
            );
        }
    }
    let syn80 = tcp(80, 0x02, &[], None);
    add("ipv4 ihl 4".into(), eth(&[], ETH_P_IP, &ipv4_raw(0x44, TCP, 0, 0, &syn80)));
    add("ipv4 version 6".into(), eth(&[], ETH_P_IP, &ipv4_raw(0x65, TCP, 0, 0, &syn80)));
    add("ipv4 later fragment".into(), eth(&[], ETH_P_IP, &ipv4_raw(0x45, TCP, 0x0001, 0, &syn80)));
    add(
        "ipv4 first fragment MF".into(),
        eth(&[], ETH_P_IP, &ipv4_raw(0x45, TCP, 0x2000, 0, &syn80)),
    );
    add("ipv4 icmp".into(), eth(&[], ETH_P_IP, &ipv4(1, 0, &[8, 0, 0, 0, 0, 1, 0, 1])));
    add("arp".into(), eth(&[], ETH_P_ARP, &[0u8; 28]));

    // TCP options.
    let mss = |v: u16| [2u8, 4, (v >> 8) as u8, v as u8];
    let opts: Vec<(&str, Vec<u8>)> = vec![
        ("mss 1460", mss(1460).to_vec()),
        ("mss 1200", mss(1200).to_vec()),
        ("mss 1399", mss(1399).to_vec()),
        ("mss 1400", mss(1400).to_vec()),
        ("nop nop mss 536", [&[1u8, 1][..], &mss(536)].concat()),
        (
            "linux syn options",
            [&mss(1360)[..], &[4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7]].concat(),
        ),
        (
            "wscale sack ts then mss",
            [&[1u8, 3, 3, 7, 4, 2, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8][..], &mss(1000)].concat(),
        ),
        ("eol before mss", [&[0u8][..], &mss(1000)].concat()),
        ("option length 0", vec![8, 0, 2, 4, 3, 0]),
        ("option length 1", vec![8, 1, 2, 4, 3, 0]),
        ("mss length 3", vec![2, 3, 4, 0]),
        ("option past doff", vec![1, 1, 1, 8, 10, 0, 0, 0]),
        ("kind at last byte", vec![1, 1, 1, 2]),
        ("forty nops", vec![1; 40]),
        ("39 nops then mss kind", [vec![1; 39], vec![2]].concat()),
        ("36 nops then mss", [vec![1; 36], mss(700).to_vec()].concat()),
    ];
    for (what, o) in &opts {
        for flags in [0x02u8, 0x12] {
            add(
                format!("tcp {what} flags {flags:#x}"),
                eth(&[], ETH_P_IP, &ipv4(TCP, 1, &tcp(443, flags, o, None))),
            );
        }
    }
    add("tcp doff 4".into(), eth(&[], ETH_P_IP, &ipv4(TCP, 0, &tcp(80, 0x02, &mss(500), Some(4)))));
    add(
        "tcp doff 15 short packet".into(),
        eth(&[], ETH_P_IP, &ipv4(TCP, 0, &tcp(80, 0x02, &mss(500), Some(15)))),
    );

    // DNS.
    let q = name(&["www", "example", "com"]);
    for (what, msg) in [
        ("dns any", dns(0x0100, 1, &q, 255)),
        ("dns a", dns(0x0100, 1, &q, 1)),
        ("dns any response", dns(0x8180, 1, &q, 255)),
        ("dns any opcode 2", dns(0x1000, 1, &q, 255)),
        ("dns any qdcount 2", dns(0x0100, 2, &q, 255)),
        ("dns any qdcount 0", dns(0x0100, 0, &q, 255)),
        ("dns any root", dns(0x0100, 1, &[0], 255)),
        ("dns any label 64", dns(0x0100, 1, &[64; 70], 255)),
        ("dns any pointer", dns(0x0100, 1, &[3, b'w', b'w', b'w', 0xc0, 12], 255)),
        ("dns any 63-byte labels", dns(0x0100, 1, &name(&["a".repeat(63).as_str(); 3]), 255)),
        ("dns any name over 255", dns(0x0100, 1, &name(&["b".repeat(63).as_str(); 5]), 255)),
        ("dns any 130 labels", dns(0x0100, 1, &name(&["c"; 130]), 255)),
        ("dns any unterminated", {
            let mut m = dns(0x0100, 1, &[3, b'w', b'w', b'w'], 255);
            m.truncate(12 + 4);
            m
        }),
    ] {
        add(what.to_string(), eth(&[], ETH_P_IP, &ipv4(UDP, 0, &udp(53, &msg))));
        add(format!("{what} ihl 7"), eth(&[], ETH_P_IP, &ipv4(UDP, 2, &udp(53, &msg))));
    }
    add(
        "dns any to 5353".into(),
        eth(&[], ETH_P_IP, &ipv4(UDP, 0, &udp(5353, &dns(0x0100, 1, &q, 255)))),
    );

    // IPv6 extension headers.
    let web = tcp(443, 0x02, &mss(1220), None);
    let chains: Vec<(&str, Vec<(u8, u8)>)> = vec![
        ("none", vec![]),
        ("hop", vec![(0, 0)]),
        ("hop routing dest", vec![(0, 0), (43, 2), (60, 1)]),
        ("fragment", vec![(44, 0)]),
        ("dest fragment", vec![(60, 0), (44, 0)]),
        ("eight", vec![(0, 0), (60, 0), (43, 0), (60, 0), (60, 1), (43, 0), (60, 0), (44, 0)]),
        (
            "nine",
            vec![(0, 0), (60, 0), (43, 0), (60, 0), (60, 1), (43, 0), (60, 0), (60, 0), (44, 0)],
        ),
        ("long dest", vec![(60, 30)]),
    ];
    for (what, chain) in &chains {
        add(format!("ipv6 {what} tcp :443"), eth(&[], ETH_P_IPV6, &ipv6(chain, TCP, &web)));
    }
    add(
        "ipv6 tcp :22".into(),
        eth(&[], ETH_P_IPV6, &ipv6(&[(0, 0)], TCP, &tcp(22, 0x02, &[], None))),
    );
    add("ipv6 udp :53".into(), eth(&[], ETH_P_IPV6, &ipv6(&[], UDP, &udp(53, b"x"))));
    add("ipv6 no next header".into(), eth(&[], ETH_P_IPV6, &ipv6(&[(60, 0)], 59, &[])));
    let mut later = eth(&[], ETH_P_IPV6, &ipv6(&[(44, 0)], TCP, &web));
    later[14 + 40 + 3] = 0x09; // fragment offset 1
    add("ipv6 later fragment".into(), later);
    let mut v4in6 = eth(&[], ETH_P_IPV6, &ipv6(&[], TCP, &web));
    v4in6[14] = 0x40;
    add("ipv6 ethertype with version 4".into(), v4in6);

    // VLAN tags.
    let ip4 = ipv4(TCP, 0, &syn80);
    let ip6 = ipv6(&[], TCP, &web);
    for vid in [0u16, 99, 100, 150, 199, 200, 4095] {
        add(format!("vlan {vid} ipv4"), eth(&[(0x8100, 0x2000 | vid)], ETH_P_IP, &ip4));
    }
    add("vlan 120 ipv6".into(), eth(&[(0x8100, 120)], ETH_P_IPV6, &ip6));
    add("vlan 120 arp".into(), eth(&[(0x8100, 120)], ETH_P_ARP, &[0; 28]));
    add("qinq 150/7 ipv4".into(), eth(&[(0x88a8, 150), (0x8100, 7)], ETH_P_IP, &ip4));
    add("qinq 7/150 ipv4".into(), eth(&[(0x88a8, 7), (0x8100, 150)], ETH_P_IP, &ip4));
    add("8100 8100 ipv6".into(), eth(&[(0x8100, 101), (0x8100, 102)], ETH_P_IPV6, &ip6));
    add("three tags".into(), eth(&[(0x88a8, 150), (0x8100, 1), (0x8100, 2)], ETH_P_IP, &ip4));
    add("untagged ipv4".into(), eth(&[], ETH_P_IP, &ip4));

    // VXLAN: flags, VNI, then an inner Ethernet frame.
    let vxlan = |flags: u8, vni: u32, inner: &[u8]| {
        let mut h = vec![flags, 0, 0, 0];
        h.extend_from_slice(&(vni << 8).to_be_bytes());
        h.extend_from_slice(inner);
        h
    };
    let icmp = ipv4(1, 0, &[8, 0, 0, 0, 0, 1, 0, 1]);
    for (what, flags, vni, inner, ihl) in [
        ("vxlan 100 icmp", 0x08, 100, eth(&[], ETH_P_IP, &icmp), 0),
        ("vxlan 100 icmp, outer ihl 8", 0x08, 100, eth(&[], ETH_P_IP, &icmp), 3),
        ("vxlan 100 tcp, inner ihl 6", 0x08, 100, eth(&[], ETH_P_IP, &ipv4(TCP, 1, &syn80)), 0),
        ("vxlan 100 udp", 0x08, 100, eth(&[], ETH_P_IP, &ipv4(UDP, 0, &udp(53, b"q"))), 0),
        ("vxlan 100 arp", 0x08, 100, eth(&[], ETH_P_ARP, &[0; 28]), 0),
        ("vxlan 100 ipv6", 0x08, 100, eth(&[], ETH_P_IPV6, &ip6), 0),
        ("vxlan 101 icmp", 0x08, 101, eth(&[], ETH_P_IP, &icmp), 0),
        ("vxlan no I flag", 0x00, 100, eth(&[], ETH_P_IP, &icmp), 0),
    ] {
        add(
            what.to_string(),
            eth(&[], ETH_P_IP, &ipv4(UDP, ihl, &udp(4789, &vxlan(flags, vni, &inner)))),
        );
    }

    // Raw IP (no link-layer header): pings and others.
    let echo = |ty: u8| vec![ty, 0, 0, 0, 0, 1, 0, 1, b'p', b'i', b'n', b'g'];
    for (what, p) in [
        ("raw ipv4 echo request", ipv4(1, 0, &echo(8))),
        ("raw ipv4 ihl 7 echo request", ipv4(1, 2, &echo(8))),
        ("raw ipv4 echo reply", ipv4(1, 0, &echo(0))),
        ("raw ipv4 later fragment echo", ipv4_raw(0x45, 1, 0x0010, 0, &echo(8))),
        ("raw ipv4 tcp", ipv4(TCP, 0, &syn80)),
        ("raw ipv6 echo request", ipv6(&[], 58, &echo(128))),
        ("raw ipv6 echo reply", ipv6(&[], 58, &echo(129))),
        ("raw ipv6 hop echo request", ipv6(&[(0, 0)], 58, &echo(128))),
    ] {
        add(what.to_string(), p);
    }
    v
}

/// The crafted packets, each also cut at every shorter captured length (wire length unchanged),
/// and `mutants` mutations of them.
pub fn packets(captures: &Path, mutants: usize, rng: &mut Rng) -> Vec<Input> {
    let mut out = captured(captures);
    let crafted = crafted_packets();
    for (what, p) in &crafted {
        for cut in 0..=p.len() {
            out.push(Input {
                bytes: p[..cut].to_vec(),
                wire: p.len() as u64,
                what: if cut == p.len() {
                    what.clone()
                } else {
                    format!("{what}, first {cut} bytes")
                },
            });
        }
    }
    for k in 0..mutants {
        let (what, p) = &crafted[rng.below(crafted.len() as u64) as usize];
        let mut p = p.clone();
        mutate(&mut p, rng);
        out.push(Input { wire: p.len() as u64, bytes: p, what: format!("mutant {k} of {what}") });
    }
    out
}

/// Changes one to four bytes (sometimes to values a parser tests for).
fn mutate(p: &mut [u8], rng: &mut Rng) {
    if p.is_empty() {
        return;
    }
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(p.len() as u64) as usize;
        p[at] = match rng.below(4) {
            0 => 0,
            1 => 0xff,
            2 => p[at] ^ (1 << rng.below(8)),
            _ => rng.next_u64() as u8,
        };
    }
}

// ---------------------------------------------------------------------------------------------
// Objects

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// An ext2 inode: mode, size, flags, block pointers, xattr block, uid (low and high halves).
fn inode(mode: u16, size: u64, flags: u32, blocks: &[u32], acl: u32, uid: u32) -> Vec<u8> {
    let mut b = vec![0u8; 128];
    put16(&mut b, 0, mode);
    put16(&mut b, 2, uid as u16);
    put32(&mut b, 4, size as u32);
    put16(&mut b, 26, 1);
    put32(&mut b, 28, 8 * blocks.iter().filter(|&&x| x != 0).count() as u32);
    put32(&mut b, 32, flags);
    for (k, &x) in blocks.iter().enumerate() {
        put32(&mut b, 40 + 4 * k, x);
    }
    put32(&mut b, 104, acl);
    put32(&mut b, 108, (size >> 32) as u32);
    put16(&mut b, 120, (uid >> 16) as u16);
    b
}

fn inodes() -> Vec<(String, Vec<u8>)> {
    let all: Vec<u32> = (1000..1015).collect();
    let holes = [0, 2001, 0, 2003, 0, 0, 0, 0, 0, 0, 0, 2011, 0, 3000, 0];
    let mut v = vec![
        ("regular, 15 pointers, xattr".into(), inode(0o100644, 123_456, 0, &all, 77, 1000)),
        ("regular with holes".into(), inode(0o100600, 40_000, 0, &holes, 0, 0)),
        ("regular, 5 GiB".into(), inode(0o100644, 5 << 30, 0, &all[..12], 0, 70_000)),
        ("directory".into(), inode(0o40755, 1024, 0, &[500], 0, 1000)),
        ("directory, size_high set".into(), inode(0o40755, (7 << 32) | 4096, 0, &[501, 502], 0, 0)),
        ("fast symlink".into(), {
            let mut b = inode(0o120777, 20, 0, &[], 0, 1000);
            b[40..60].copy_from_slice(b"/some/where/else/xyz");
            b
        }),
        ("slow symlink".into(), inode(0o120777, 100, 0, &[777], 0, 1000)),
        ("char device".into(), inode(0o20644, 0, 0, &[0x0501], 0, 0)),
        ("block device".into(), inode(0o60660, 0, 0, &[0x0801], 0, 0)),
        ("fifo".into(), inode(0o10644, 0, 0, &[], 0, 0)),
        ("socket".into(), inode(0o140755, 0, 0, &[], 9, 0)),
        ("inline data".into(), inode(0o100644, 50, 0x1000_0000, &all, 0, 1000)),
        ("free".into(), vec![0u8; 128]),
        ("deleted, mode kept".into(), {
            let mut b = inode(0o100644, 10, 0, &all[..2], 0, 1000);
            put16(&mut b, 26, 0);
            b
        }),
        ("bad file type".into(), inode(0o170644, 10, 0, &all[..2], 0, 1000)),
        ("no file type, linked".into(), inode(0o644, 10, 0, &all[..2], 0, 1000)),
        ("world-writable".into(), inode(0o100666, 10, 0, &all[..1], 0, 1000)),
        ("read-only".into(), inode(0o100444, 10, 0, &all[..1], 0, 1000)),
        ("max pointers".into(), inode(0o100644, u64::MAX, 0, &[u32::MAX; 15], u32::MAX, u32::MAX)),
    ];
    v.retain(|(_, b)| b.len() == 128);
    v
}

fn indirect(size: usize) -> Vec<(String, Vec<u8>)> {
    let n = size / 4;
    let block = |f: &dyn Fn(usize) -> u32| {
        let mut b = vec![0u8; size];
        for k in 0..n {
            put32(&mut b, 4 * k, f(k));
        }
        b
    };
    vec![
        ("all holes".into(), vec![0u8; size]),
        ("one run".into(), block(&|k| 5000 + k as u32)),
        ("half full".into(), block(&|k| if k < n / 2 { 7000 + k as u32 } else { 0 })),
        ("runs of 3".into(), block(&|k| (k as u32 / 3) * 100 + k as u32 % 3 + 1)),
        ("holes between".into(), block(&|k| if k % 2 == 0 { 9000 + k as u32 } else { 0 })),
        ("same block".into(), block(&|_| 42)),
        ("descending".into(), block(&|k| 100_000 - k as u32)),
        ("near the top".into(), block(&|k| u32::MAX - 3 + k.min(3) as u32)),
        ("last only".into(), block(&|k| if k == n - 1 { 12345 } else { 0 })),
    ]
}

fn extent_list(magic: u16, count: u16, max: u16, depth: u16, ext: &[(u32, u32)]) -> Vec<u8> {
    let mut b = vec![0u8; 256];
    put16(&mut b, 0, magic);
    put16(&mut b, 2, count);
    put16(&mut b, 4, max);
    put16(&mut b, 6, depth);
    for (k, &(s, l)) in ext.iter().enumerate().take(31) {
        put32(&mut b, 8 + 8 * k, s);
        put32(&mut b, 12 + 8 * k, l);
    }
    b
}

fn extent_lists() -> Vec<(String, Vec<u8>)> {
    let sorted: Vec<(u32, u32)> = (0..31).map(|k| (1000 + 100 * k, 1 + k)).collect();
    let mut v: Vec<(String, Vec<u8>)> = Vec::new();
    for count in [0u16, 1, 2, 5, 30, 31] {
        v.push((format!("{count} sorted"), extent_list(0xe47e, count, 31, 0, &sorted)));
    }
    v.push(("max 4, count 4".into(), extent_list(0xe47e, 4, 4, 0, &sorted)));
    v.push(("count over max".into(), extent_list(0xe47e, 5, 4, 0, &sorted)));
    v.push(("max over slots".into(), extent_list(0xe47e, 3, 32, 0, &sorted)));
    v.push(("count 65535".into(), extent_list(0xe47e, 65535, 65535, 0, &sorted)));
    v.push(("bad magic".into(), extent_list(0xf30a, 2, 4, 0, &sorted)));
    v.push(("depth 1".into(), extent_list(0xe47e, 2, 4, 1, &sorted)));
    v.push(("overlap".into(), extent_list(0xe47e, 3, 4, 0, &[(100, 10), (105, 2), (200, 1)])));
    v.push(("adjacent".into(), extent_list(0xe47e, 3, 4, 0, &[(100, 10), (110, 2), (112, 1)])));
    v.push(("zero length".into(), extent_list(0xe47e, 3, 4, 0, &[(100, 10), (120, 0), (200, 1)])));
    v.push((
        "top of range".into(),
        extent_list(0xe47e, 2, 4, 0, &[(u32::MAX - 1, u32::MAX), (u32::MAX, 1)]),
    ));
    v
}

/// An ext4 extent tree block of `size` bytes: magic, entries, max, depth, then 12-byte entries
/// (a leaf's `(start, len)` or an index's child block).
fn ext4_node(
    size: usize,
    magic: u16,
    entries: u16,
    max: u16,
    depth: u16,
    e: &[(u64, u16)],
) -> Vec<u8> {
    let mut b = vec![0u8; size];
    put16(&mut b, 0, magic);
    put16(&mut b, 2, entries);
    put16(&mut b, 4, max);
    put16(&mut b, 6, depth);
    for (k, &(start, len)) in e.iter().enumerate().take((size - 12) / 12) {
        let at = 12 + 12 * k;
        if depth == 0 {
            put32(&mut b, at, 100 * k as u32);
            put16(&mut b, at + 4, len);
            put16(&mut b, at + 6, (start >> 32) as u16);
            put32(&mut b, at + 8, start as u32);
        } else {
            put32(&mut b, at, 100 * k as u32);
            put32(&mut b, at + 4, start as u32);
            put16(&mut b, at + 8, (start >> 32) as u16);
        }
    }
    b
}

fn ext4_nodes(size: usize) -> Vec<(String, Vec<u8>)> {
    let cap = ((size - 12) / 12) as u16;
    let full: Vec<(u64, u16)> =
        (0..cap as u64).map(|k| (5000 + 40 * k, 1 + k as u16 % 7)).collect();
    let mut v: Vec<(String, Vec<u8>)> = Vec::new();
    for n in [0, 1, 4, cap - 1, cap] {
        v.push((format!("leaf, {n} extents"), ext4_node(size, 0xf30a, n, cap, 0, &full)));
        v.push((format!("index, {n} children"), ext4_node(size, 0xf30a, n, cap, 1, &full)));
    }
    let odd = [(1u64 << 47 | 12, 32768), (0xffff_ffff_ffff, 32769), (77, 65535), (78, 1)];
    v.push(("leaf, 48-bit starts, unwritten".into(), ext4_node(size, 0xf30a, 4, cap, 0, &odd)));
    v.push(("index, 48-bit children".into(), ext4_node(size, 0xf30a, 4, cap, 3, &odd)));
    v.push(("empty extent".into(), ext4_node(size, 0xf30a, 3, cap, 0, &[(1, 1), (2, 0), (3, 1)])));
    v.push((
        "extent of 32768 blocks (the longest written one)".into(),
        ext4_node(size, 0xf30a, 1, cap, 0, &[(9, 32768)]),
    ));
    v.push(("entries over max".into(), ext4_node(size, 0xf30a, 5, 4, 0, &full)));
    v.push(("max over capacity".into(), ext4_node(size, 0xf30a, cap + 1, cap + 1, 0, &full)));
    v.push(("entries 65535".into(), ext4_node(size, 0xf30a, 65535, 65535, 0, &full)));
    v.push(("depth 5".into(), ext4_node(size, 0xf30a, 2, cap, 5, &full)));
    v.push(("depth 6".into(), ext4_node(size, 0xf30a, 2, cap, 6, &full)));
    v.push(("bad magic".into(), ext4_node(size, 0xe47e, 2, cap, 0, &full)));
    v
}

fn dirent(name: &[u8; 11], attr: u8, size: u32) -> Vec<u8> {
    let mut b = vec![0u8; 32];
    b[..11].copy_from_slice(name);
    b[11] = attr;
    put16(&mut b, 26, 3);
    put32(&mut b, 28, size);
    b
}

fn dirents() -> Vec<(String, Vec<u8>)> {
    vec![
        ("file".into(), dirent(b"README  TXT", 0x20, 1234)),
        ("big file".into(), dirent(b"BIG     BIN", 0x01, u32::MAX)),
        ("directory".into(), dirent(b"SUBDIR     ", 0x10, 99)),
        ("volume label".into(), dirent(b"MYVOLUME   ", 0x08, 5)),
        ("long name slot".into(), dirent(b"Aa\0b\0c\0d\0e\0", 0x0f, 0x0001_0000)),
        ("free".into(), dirent(b"\xe5ELETED TXT", 0x20, 777)),
        ("end".into(), dirent(b"\0          ", 0x20, 777)),
    ]
}

fn names64() -> Vec<(String, Vec<u8>)> {
    let mut a = vec![0u8; 64];
    a[..5].copy_from_slice(b"hello");
    vec![("name".into(), a), ("empty".into(), vec![0u8; 64])]
}

/// The request an `acl` program reads before the object.
fn request(principal: u64, op: u32) -> Vec<u8> {
    let mut r = principal.to_le_bytes().to_vec();
    r.extend_from_slice(&op.to_le_bytes());
    r.extend_from_slice(&0u32.to_le_bytes());
    r
}

/// Crafted objects of the fixture `stem` (its file name without `.c`), by the fixture's meaning,
/// for a context of `len` bytes (the request included for `acl`). A fixture without crafted
/// objects gets random ones only.
pub fn crafted_objects(stem: &str, len: usize) -> Vec<(String, Vec<u8>)> {
    match stem {
        "ext2_inode" | "ext2_size" => inodes(),
        "ext2_indirect" => indirect(len),
        "extent_list" | "unsafe_extent_count" => extent_lists(),
        "fat_dirent_size" => dirents(),
        "unsafe_strlen" => names64(),
        "ext4_extent_node" => ext4_nodes(len),
        "ext2_acl" => {
            let mut v = Vec::new();
            for (what, ino) in inodes() {
                for principal in [0u64, 1000, 70_000, 4_464, 1 << 32 | 1000, u64::MAX] {
                    for op in 0..5 {
                        let mut b = request(principal, op);
                        b.extend_from_slice(&ino);
                        v.push((format!("{what}, principal {principal}, op {op}"), b));
                    }
                }
            }
            v
        }
        _ => Vec::new(),
    }
}

/// Objects of exactly `len` bytes for the fixture `stem`: the crafted ones (an error if one is
/// not `len` bytes long), `mutants` mutations of them and `random` random ones.
pub fn objects(stem: &str, len: usize, mutants: usize, random: usize, rng: &mut Rng) -> Vec<Input> {
    let crafted = crafted_objects(stem, len);
    let mut out = Vec::new();
    for (what, b) in &crafted {
        assert_eq!(
            b.len(),
            len,
            "{stem}: crafted object `{what}` has {} bytes, the program's context {len}",
            b.len()
        );
        out.push(Input { bytes: b.clone(), wire: 0, what: what.clone() });
    }
    if !crafted.is_empty() {
        for k in 0..mutants {
            let (what, b) = &crafted[rng.below(crafted.len() as u64) as usize];
            let mut b = b.clone();
            mutate(&mut b, rng);
            out.push(Input { bytes: b, wire: 0, what: format!("mutant {k} of {what}") });
        }
    }
    for k in 0..random {
        // Random bytes, half of them with most bytes zero (nearer to real metadata).
        let mut b = rng.bytes(len);
        if k % 2 == 1 {
            for x in &mut b {
                if rng.below(4) != 0 {
                    *x = 0;
                }
            }
        }
        out.push(Input { bytes: b, wire: 0, what: format!("random {k}") });
    }
    out
}
