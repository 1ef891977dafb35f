//! Generated demultiplexing workloads (behind the `fuzzing` feature): pcap-filter expressions
//! with owners (connection 4-tuples, port, host and protocol filters, overlapping and duplicate
//! ones, a few that do not decompose) and Ethernet traffic that hits them (packets of the
//! connections, of other hosts and ports, IPv4 with options and fragments, IPv6, ARP, packets
//! cut short). The tests, the command line's tests and the benchmark share it. Expressions are
//! plain strings: compiling them is the caller's business (the kernel never compiles).

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use udf_bytecode::rng::Rng;

use super::Owner;

/// One transport connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conn {
    /// 6 (TCP) or 17 (UDP).
    pub proto: u8,
    /// Source address.
    pub src: [u8; 4],
    /// Destination address.
    pub dst: [u8; 4],
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
}

/// A generated set of filters and the connections they name.
#[derive(Clone, Debug)]
pub struct Workload {
    /// `(owner, expression)`, in insertion order.
    pub filters: Vec<(Owner, String)>,
    /// The connections the 4-tuple filters name (traffic is drawn from them).
    pub conns: Vec<Conn>,
}

/// Well-known ports the port filters and the traffic share.
const PORTS: [u16; 6] = [80, 443, 53, 22, 8080, 123];

fn addr(rng: &mut Rng, pool: u64) -> [u8; 4] {
    let i = rng.below(pool);
    [10, 1 + (i >> 8) as u8, i as u8, 1 + rng.below(2) as u8]
}

fn port(rng: &mut Rng) -> u16 {
    if rng.chance(30, 100) { rng.pick(&PORTS) } else { 1024 + rng.below(4000) as u16 }
}

fn ip(a: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
}

fn proto_name(p: u8) -> &'static str {
    if p == 6 { "tcp" } else { "udp" }
}

/// `n` filters from `seed`: mostly connection 4-tuples, with port, host and protocol filters,
/// duplicates (the same expression for another owner, a second filter for an owner) and a few
/// that do not decompose into atoms.
pub fn workload(seed: u64, n: usize) -> Workload {
    let mut rng = Rng::new(seed);
    let pool = (n as u64 / 4).clamp(4, 4096);
    let mut filters: Vec<(Owner, String)> = Vec::with_capacity(n);
    let mut conns = Vec::new();
    for i in 0..n {
        let mut owner = i as Owner;
        // The first is always a connection: a workload of one filter is a connection filter.
        // The second overlaps the first (its destination port), the third duplicates it.
        let kind = if i == 0 { 0 } else { rng.below(100) };
        if i == 1 || i == 2 {
            let c: Conn = conns[0];
            let e = if i == 1 {
                format!("{} dst port {}", proto_name(c.proto), c.dport)
            } else {
                filters[0].1.clone()
            };
            filters.push((owner, e));
            continue;
        }
        let expr = match kind {
            0..80 => {
                let c = Conn {
                    proto: if rng.chance(80, 100) { 6 } else { 17 },
                    src: addr(&mut rng, pool),
                    dst: addr(&mut rng, pool),
                    sport: port(&mut rng),
                    dport: port(&mut rng),
                };
                conns.push(c);
                format!(
                    "{} and src host {} and dst host {} and src port {} and dst port {}",
                    proto_name(c.proto),
                    ip(c.src),
                    ip(c.dst),
                    c.sport,
                    c.dport
                )
            }
            80..86 => {
                let p = rng.pick(&PORTS);
                match rng.below(4) {
                    0 => format!("tcp port {p}"),
                    1 => format!("udp dst port {p}"),
                    2 => format!("port {p}"),
                    _ => format!("tcp src port {p}"),
                }
            }
            86..90 => match rng.below(3) {
                0 => format!("host {}", ip(addr(&mut rng, pool))),
                1 => format!("src host {} and tcp", ip(addr(&mut rng, pool))),
                _ => format!("dst net 10.{}.0.0/16", 1 + rng.below(4)),
            },
            90..94 => String::from(rng.pick(&["tcp", "udp", "icmp", "ip6", "arp", "ip proto 47"])),
            94..98 if !filters.is_empty() => {
                // A duplicate: an earlier expression, for a new owner or for its own again.
                let (o, e) = filters[rng.index(filters.len())].clone();
                if rng.chance(1, 2) {
                    owner = o;
                }
                e
            }
            _ => String::from(rng.pick(&[
                "ip[2:2] - 20 > 500",
                "len > 200 and tcp",
                "tcp[tcpflags] & tcp-syn != 0",
                "ip[8] * 2 < 100",
            ])),
        };
        filters.push((owner, expr));
    }
    if conns.is_empty() {
        conns.push(Conn {
            proto: 6,
            src: [10, 1, 0, 1],
            dst: [10, 1, 0, 2],
            sport: 1234,
            dport: 80,
        });
    }
    Workload { filters, conns }
}

/// `n` connection filters only (DPF's case: one socket per TCP or UDP 4-tuple, one owner
/// each), from `seed`.
pub fn connections(seed: u64, n: usize) -> Workload {
    let mut rng = Rng::new(seed);
    let pool = (n as u64 / 4).clamp(4, 4096);
    let mut filters = Vec::with_capacity(n);
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let c = Conn {
            proto: if rng.chance(80, 100) { 6 } else { 17 },
            src: addr(&mut rng, pool),
            dst: addr(&mut rng, pool),
            sport: port(&mut rng),
            dport: port(&mut rng),
        };
        conns.push(c);
        filters.push((
            i as Owner,
            format!(
                "{} and src host {} and dst host {} and src port {} and dst port {}",
                proto_name(c.proto),
                ip(c.src),
                ip(c.dst),
                c.sport,
                c.dport
            ),
        ));
    }
    Workload { filters, conns }
}

fn checksum_free_ipv4(rng: &mut Rng, c: &Conn, opts: usize, frag: u16, body: &[u8]) -> Vec<u8> {
    let hlen = 20 + 4 * opts;
    let mut h = vec![0x40 | (5 + opts as u8), 0];
    h.extend(((hlen + body.len()) as u16).to_be_bytes());
    h.extend(rng.bytes(2));
    h.extend(frag.to_be_bytes());
    h.push(64);
    h.push(c.proto);
    h.extend([0, 0]);
    h.extend(c.src);
    h.extend(c.dst);
    h.extend(core::iter::repeat_n(1u8, 4 * opts));
    h.extend(body);
    h
}

/// One Ethernet frame: (captured bytes, length on the wire).
fn frame(rng: &mut Rng, w: &Workload, pool: u64) -> (Vec<u8>, u32) {
    let mut f = Vec::new();
    f.extend([0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2]);
    let (ethertype, body): (u16, Vec<u8>) = match rng.below(100) {
        0..85 => {
            let mut c = if rng.chance(60, 100) {
                w.conns[rng.index(w.conns.len())]
            } else {
                Conn {
                    proto: rng.pick(&[6, 6, 17, 1, 47]),
                    src: addr(rng, pool),
                    dst: addr(rng, pool),
                    sport: port(rng),
                    dport: port(rng),
                }
            };
            if rng.chance(10, 100) {
                core::mem::swap(&mut c.src, &mut c.dst);
                core::mem::swap(&mut c.sport, &mut c.dport);
            }
            let opts = if rng.chance(15, 100) { 1 + rng.below(3) as usize } else { 0 };
            let frag = match rng.below(12) {
                0 => 0x2000,
                1 => 1 + rng.below(0x1fff) as u16,
                2 => 0x4000,
                _ => 0,
            };
            let mut t = Vec::new();
            t.extend(c.sport.to_be_bytes());
            t.extend(c.dport.to_be_bytes());
            if c.proto == 6 {
                t.extend(rng.bytes(9));
                t.push(rng.pick(&[0x02u8, 0x10, 0x12, 0x18, 0x11]));
                t.extend(rng.bytes(6));
            } else {
                t.extend(rng.bytes(4));
            }
            let pay = rng.below(300) as usize;
            t.extend(rng.bytes(pay));
            (0x0800, checksum_free_ipv4(rng, &c, opts, frag, &t))
        }
        85..92 => {
            let mut b = vec![0x60, 0, 0, 0, 0, 20, 6, 64];
            b.extend(rng.bytes(32));
            b.extend(port(rng).to_be_bytes());
            b.extend(port(rng).to_be_bytes());
            b.extend(rng.bytes(16));
            (0x86dd, b)
        }
        92..97 => {
            let mut a = vec![0, 1, 8, 0, 6, 4, 0, 1];
            a.extend([2, 0, 0, 0, 0, 1]);
            a.extend(addr(rng, pool));
            a.extend([0; 6]);
            a.extend(addr(rng, pool));
            (0x0806, a)
        }
        _ => {
            let len = rng.below(64) as usize;
            (rng.below(0x10000) as u16, rng.bytes(len))
        }
    };
    f.extend(ethertype.to_be_bytes());
    f.extend(body);
    let wire = f.len() as u32;
    if rng.chance(8, 100) {
        let keep = rng.below(f.len() as u64 + 1) as usize;
        f.truncate(keep);
    }
    (f, wire)
}

/// `count` Ethernet frames for the workload `w`, from `seed`.
pub fn traffic(seed: u64, w: &Workload, count: usize) -> Vec<(Vec<u8>, u32)> {
    let mut rng = Rng::new(seed ^ 0x9e37_79b9_7f4a_7c15);
    let pool = (w.filters.len() as u64 / 4).clamp(4, 4096);
    (0..count).map(|_| frame(&mut rng, w, pool)).collect()
}
